"""The replay speed of the local exchange, as `python -m exchange_sim --speed` and the daemon's
`[local] speed` take it: a light module (no server imports), so the settings check the same
bound the exchange enforces."""

# The largest speed: at 1e12 everything recorded is due at once (tested); beyond, the data
# time of a moment (its elapsed ms x speed) overflows a float (1e308 after a second), and the
# replay task died on an OverflowError while the exchange went on serving no market data.
MAX_SPEED = 1e12


def parse_speed(speed: float | str) -> float | str:
    """A positive float up to MAX_SPEED, "max" or "step"; ValueError otherwise."""
    if isinstance(speed, str):
        if speed in ("max", "step"):
            return speed
        try:
            speed = float(speed)
        except ValueError:
            msg = f"speed must be a positive number, 'max' or 'step', got {speed!r}"
            raise ValueError(msg) from None
    if not speed > 0:
        raise ValueError(f"speed must be positive, got {speed!r}")
    if not speed <= MAX_SPEED:
        raise ValueError(f"speed must be at most {MAX_SPEED:g} (or 'max'), got {speed!r}")
    return float(speed)
