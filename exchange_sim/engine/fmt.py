"""Decimal -> Binance wire strings: fixed point, never exponent notation.

Balances, fees, PnL and mark-derived values use 8 decimals (as Binance); prices and quantities use
the instrument's tick and step decimals; averages keep up to 8 decimals but at least the tick's.
Amounts derived from the mark price (unrealized PnL, notional, margins, available balance,
liquidation price) are cut to 8 decimals, not rounded (`t8`), as Binance prints them.
"""

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

E8 = Decimal("0.00000001")
ZERO = Decimal(0)


def q8(value: Decimal) -> Decimal:
    """Round to 8 decimals (half up), the precision of balances and fees."""
    return value.quantize(E8, rounding=ROUND_HALF_UP)


def f8(value: Decimal) -> str:
    return f"{q8(value):.8f}"


def t8(value: Decimal) -> str:
    """8 decimals cut toward zero: how Binance prints amounts it derives from the mark price.

    The real positionRisk of 2024-07-28 (shared/data, ccxt) shows 0.009 BTC at entry 67445.9,
    mark 67502.68519858: unRealizedProfit 0.51106678 (exactly 0.51106678722), notional
    607.52416678 (607.52416678722), maintMargin 2.43009666 (2.43009666714888); the reference's
    liquidation price example (section 7.4) 27142.10845381 (27142.108453815...). A negative
    amount is cut toward zero too (assumed: no capture shows one)."""
    return f"{value.quantize(E8, rounding=ROUND_DOWN):.8f}"


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
