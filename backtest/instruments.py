"""The instruments a backtest can trade: from a saved exchangeInfo answer or the bundled one."""

from collections.abc import Mapping
from pathlib import Path

from core.instrument import Instrument
from exchange_sim.replay.grid import load_instruments


def backtest_instruments(exchange_info: str = "") -> dict[str, Instrument]:
    """The symbols a backtest can trade and their filters (tick, lot, notional, precision):
    from a saved GET /fapi/v1/exchangeInfo answer, or the bundled one (BTCUSDT, ETHUSDT).
    ValueError in one line when the file cannot be read or is not such an answer."""
    if not exchange_info:
        return load_instruments()
    try:
        return load_instruments(Path(exchange_info))
    except OSError as e:
        raise ValueError(f"cannot read exchangeInfo file {exchange_info}: {e.strerror}") from None
    except (ValueError, KeyError, TypeError, ArithmeticError) as e:
        what = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise ValueError(
            f"{exchange_info} is not a GET /fapi/v1/exchangeInfo answer ({what})"
        ) from None


def instrument_of(
    symbol: str, instruments: Mapping[str, Instrument], exchange_info: str = ""
) -> Instrument:
    """`symbol`'s instrument; ValueError naming the symbols known and where others come from."""
    inst = instruments.get(symbol)
    if inst is not None:
        return inst
    known = sorted(instruments)
    shown = ", ".join(known[:8]) + (f" and {len(known) - 8} more" if len(known) > 8 else "")
    source = exchange_info or "the bundled exchangeInfo"
    hint = "" if exchange_info else " (--exchange-info: a saved GET /fapi/v1/exchangeInfo answer)"
    raise ValueError(f"unknown symbol {symbol!r}: {source} has {shown or 'none'}{hint}")
