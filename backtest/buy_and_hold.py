"""Buy-and-hold: the market's own move over a run, beside the strategy's return.

backtesting.py reports it as "Buy & Hold Return [%]" and freqtrade as "Market change": a
strategy that made +2 % while the market rose 10 % did worse than holding. It is measured on
the rows the run traded (after --start/--end; the warm-up bars before --start are not part of
it), from the first price the run could have bought at to the last price it marked to:

- klines: the first bar's open to the last bar's close;
- trades: the first trade's price to the last trade's price.

The backtester trades one symbol, so there is one buy-and-hold per run. It is computed from the
loaded data after the run, never in the per-bar loop.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from backtest.data import Klines, MarketData

MINUTE_MS = 60_000


class MeasuredOn(StrEnum):
    """Which prices of the data a buy-and-hold runs between (summary.json `measured_on`)."""

    KLINES = "the first bar's open to the last bar's close"
    TRADES = "the first trade's price to the last trade's price"


def buy_and_hold_return(first_price: Decimal, last_price: Decimal) -> Decimal:
    """The return of holding the symbol from `first_price` to `last_price` (USDT), as a
    fraction: last / first - 1, exact. No fees, no funding, no slippage, leverage 1: the
    market's move alone, so that it compares with any strategy's costs on the same footing
    as backtesting.py's "Buy & Hold Return" and freqtrade's "Market change"."""
    if first_price <= 0:
        raise ValueError(f"a buy-and-hold needs a positive first price, not {first_price}")
    return last_price / first_price - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class BuyAndHold:
    """The prices a buy-and-hold is measured between (USDT) and when (epoch ms)."""

    symbol: str
    measured_on: MeasuredOn
    from_ms: int
    from_price: Decimal
    to_ms: int
    to_price: Decimal

    @property
    def total_return(self) -> Decimal:
        return buy_and_hold_return(self.from_price, self.to_price)

    def equity_line(
        self, capital: float, times_ms: Sequence[int], prices: Sequence[float]
    ) -> tuple[list[int], list[float]]:
        """The equity chart's buy-and-hold line: `capital` (USDT) put into the symbol at the
        first price, marked to each of the run's `prices` (the price chart's: each bar's close,
        or the last trade each second), from the first price's time to the last one's."""
        first = float(self.from_price)
        times = [self.from_ms, *times_ms]
        values = [capital, *(capital * p / first for p in prices)]
        if times[-1] < self.to_ms:  # trades: the last trade came after the last mark
            times.append(self.to_ms)
            values.append(capital * float(self.to_price) / first)
        return times, values

    def label(self, capital: float) -> str:
        """The line's legend: what was held, from which price, and its return."""
        return (
            f"buy and hold: {capital:,.0f} USDT of {self.symbol} at {self.from_price:f}, "
            f"{float(self.total_return):+.4%} (no fees, no funding)"
        )

    def to_dict(self) -> dict[str, object]:
        """summary.json's `buy_and_hold` (its prices as exact text after `jsonable`)."""
        return {
            "symbol": self.symbol,
            "return": float(self.total_return),
            "measured_on": str(self.measured_on),
            "from_ms": self.from_ms,
            "from_price": self.from_price,
            "to_ms": self.to_ms,
            "to_price": self.to_price,
            "costs": "none: no fees, no funding, no slippage, leverage 1",
        }


def buy_and_hold(data: MarketData, symbol: str) -> BuyAndHold:
    """The buy-and-hold of the rows `data` holds (the rows a run traded): klines from the
    first bar's open (at its open time) to the last bar's close (at its open + 1m, the run's
    end as summary.json's `end_ms` gives it); trades from the first trade to the last."""
    if not len(data):
        raise ValueError("no rows: nothing to buy and hold")
    if isinstance(data, Klines):
        return BuyAndHold(
            symbol=symbol,
            measured_on=MeasuredOn.KLINES,
            from_ms=data.open_time[0],
            from_price=Decimal(data.open[0]),
            to_ms=data.open_time[-1] + MINUTE_MS,
            to_price=Decimal(data.close[-1]),
        )
    return BuyAndHold(
        symbol=symbol,
        measured_on=MeasuredOn.TRADES,
        from_ms=data.time[0],
        from_price=Decimal(data.price[0]),
        to_ms=data.time[-1],
        to_price=Decimal(data.price[-1]),
    )


def buy_and_hold_text(held: BuyAndHold) -> str:
    """The console's aside after the strategy's return: ` (buy and hold +2.4200%)`."""
    return f" (buy and hold {float(held.total_return):+.4%})"
