"""Binance kline intervals and their lengths in milliseconds.

One table for the daemon (bars, history downloads) and the local exchange (kline streams and
REST), so both sides accept the same names.
"""

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}

# Every interval USD-M Futures klines accept, in Binance's order. 1M is a calendar month.
KLINE_INTERVALS: tuple[str, ...] = (
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
)  # fmt: skip

# The fixed-length ones (all but the calendar month).
FIXED_KLINE_INTERVALS: tuple[str, ...] = tuple(i for i in KLINE_INTERVALS if i != "1M")


def interval_ms(interval: str) -> int:
    """Length of a fixed-size interval such as "1s", "15m", "4h", "1w" in ms.

    Any positive multiple of s, m, h, d or w is accepted (bars are not limited to Binance's
    list); "1M" and anything malformed raise ValueError.
    """
    unit = interval[-1:]
    count = interval[:-1]
    if unit not in _UNIT_MS or not count.isdigit() or int(count) <= 0:
        raise ValueError(f"unknown or variable-length interval {interval!r}")
    return int(count) * _UNIT_MS[unit]
