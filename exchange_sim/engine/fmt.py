"""Decimal -> Binance wire strings: fixed point, never exponent notation.

Balances, fees, PnL and mark-derived values use 8 decimals (as Binance); prices and quantities use
the instrument's tick and step decimals; averages keep up to 8 decimals but at least the tick's.
"""

from decimal import ROUND_HALF_UP, Decimal

E8 = Decimal("0.00000001")
ZERO = Decimal(0)


def q8(value: Decimal) -> Decimal:
    """Round to 8 decimals (half up), the precision of balances and fees."""
    return value.quantize(E8, rounding=ROUND_HALF_UP)


def f8(value: Decimal) -> str:
    return f"{q8(value):.8f}"


def plain(value: Decimal) -> str:
    """Shortest fixed-point form ("660", "0.0528"), for notionals shown without fixed decimals."""
    if value == 0:
        return "0"
    text = f"{value.normalize():f}"
    return text


def flex(value: Decimal, min_decimals: int) -> str:
    """Up to 8 decimals, trailing zeros stripped, but at least `min_decimals` (avg/entry prices)."""
    text = f"{q8(value):.8f}".rstrip("0")
    whole, _, frac = text.partition(".")
    frac = frac.ljust(min_decimals, "0")
    return f"{whole}.{frac}" if frac else whole
