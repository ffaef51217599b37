"""Columnar (numpy) containers of one symbol's replayable market data.

Every price column is in integer ticks and every quantity column in integer steps of the
symbol's `WireGrid`; times are int64 ms UTC (recv times ns). Rows are in recorded order.
`synthesized=True` marks data the replay generated (from 1m klines), not recorded trades.
"""

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

# trade "X" field of the @trade stream; only MARKET trades are aggregated or counted in klines.
TRADE_TYPES: tuple[str, ...] = ("MARKET", "INSURANCE_FUND", "ADL", "")
MARKET = 0


def trade_type_code(text: str) -> int:
    """Index of a trade type in TRADE_TYPES (unknown types map to the empty/other code)."""
    try:
        return TRADE_TYPES.index(text)
    except ValueError:
        return TRADE_TYPES.index("")


@dataclass(frozen=True, slots=True)
class TradeTape:
    """Individual trades (the `@trade` stream): ids contiguous in the recordings."""

    symbol: str
    trade_id: np.ndarray  # int64 `t`
    price: np.ndarray  # int64 ticks
    qty: np.ndarray  # int64 steps
    time: np.ndarray  # int64 trade time `T`, ms
    event_time: np.ndarray  # int64 `E`, ms
    buyer_maker: np.ndarray  # bool `m`
    trade_type: np.ndarray  # int8 index into TRADE_TYPES
    recv_time_ns: np.ndarray  # int64 capture clock (0 when synthesized)
    synthesized: bool = False

    def __len__(self) -> int:
        return len(self.trade_id)

    def take(self, rows: np.ndarray | slice) -> "TradeTape":
        return TradeTape(
            symbol=self.symbol,
            trade_id=self.trade_id[rows],
            price=self.price[rows],
            qty=self.qty[rows],
            time=self.time[rows],
            event_time=self.event_time[rows],
            buyer_maker=self.buyer_maker[rows],
            trade_type=self.trade_type[rows],
            recv_time_ns=self.recv_time_ns[rows],
            synthesized=self.synthesized,
        )


@dataclass(frozen=True, slots=True)
class AggTradeTape:
    """Aggregate trades (`aggTrade`): one row per run of same-price, same-side, same-time trades."""

    symbol: str
    agg_id: np.ndarray  # int64 `a`, contiguous
    price: np.ndarray  # int64 ticks
    qty: np.ndarray  # int64 steps (exact sum of the constituents)
    first_trade_id: np.ndarray  # int64 `f`
    last_trade_id: np.ndarray  # int64 `l`
    time: np.ndarray  # int64 `T`, ms
    event_time: np.ndarray  # int64 `E` of the last constituent, ms
    buyer_maker: np.ndarray  # bool `m`
    recv_time_ns: np.ndarray  # int64 capture clock of the last constituent (0 if synthesized)
    synthesized: bool = False

    def __len__(self) -> int:
        return len(self.agg_id)

    @property
    def trade_count(self) -> np.ndarray:
        return self.last_trade_id - self.first_trade_id + 1


@dataclass(frozen=True, slots=True)
class BookTickerTape:
    """Best bid/ask updates (`@bookTicker`)."""

    symbol: str
    update_id: np.ndarray  # int64 `u`
    bid_price: np.ndarray  # ticks
    bid_qty: np.ndarray  # steps
    ask_price: np.ndarray
    ask_qty: np.ndarray
    transaction_time: np.ndarray  # `T`, ms
    event_time: np.ndarray  # `E`, ms
    recv_time_ns: np.ndarray
    synthesized: bool = False

    def __len__(self) -> int:
        return len(self.update_id)


@dataclass(frozen=True, slots=True)
class MarkPriceTape:
    """Mark-price updates. Prices are Decimal strings with 8 decimals as on the wire.

    `derived=True` means computed by the replay (mid price / last trade), not recorded.
    """

    symbol: str
    event_time: np.ndarray  # `E`, ms
    mark_price: tuple[Decimal, ...]
    index_price: tuple[Decimal, ...]
    settle_price: tuple[Decimal, ...]
    funding_rate: tuple[Decimal, ...]
    next_funding_time: np.ndarray  # `T`, ms (data time)
    recv_time_ns: np.ndarray
    derived: bool = False

    def __len__(self) -> int:
        return len(self.event_time)


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A REST `GET /fapi/v1/depth` body as recorded: levels best first, wire strings."""

    symbol: str
    last_update_id: int
    event_time: int
    transaction_time: int
    bids: tuple[tuple[str, str], ...]
    asks: tuple[tuple[str, str], ...]
    recv_time_ns: int


@dataclass(frozen=True, slots=True)
class DepthUpdate:
    """One recorded `depthUpdate` diff: absolute quantities as wire strings; qty 0 removes."""

    symbol: str
    event_time: int
    transaction_time: int
    first_update_id: int  # `U`
    final_update_id: int  # `u`
    prev_final_update_id: int  # `pu`
    bids: tuple[tuple[str, str], ...]
    asks: tuple[tuple[str, str], ...]
    recv_time_ns: int


@dataclass(frozen=True, slots=True)
class KlineBars:
    """1m (or other interval) bars. Columns absent from 6-column OHLCV sources are -1.

    quote / taker_buy_quote are in units of 10**-(price_decimals + qty_decimals).
    """

    symbol: str
    interval_ms: int
    open_time: np.ndarray  # int64 ms
    open: np.ndarray  # ticks
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # steps
    quote_volume: np.ndarray  # quote units or -1
    trade_count: np.ndarray  # or -1
    taker_buy_volume: np.ndarray  # steps or -1
    taker_buy_quote_volume: np.ndarray  # quote units or -1

    def __len__(self) -> int:
        return len(self.open_time)

    @property
    def has_details(self) -> bool:
        """True when quote volume, trade count and taker-buy columns were recorded."""
        return bool(len(self)) and bool((self.trade_count >= 0).all())

    def take(self, rows: np.ndarray | slice) -> "KlineBars":
        return KlineBars(
            symbol=self.symbol,
            interval_ms=self.interval_ms,
            open_time=self.open_time[rows],
            open=self.open[rows],
            high=self.high[rows],
            low=self.low[rows],
            close=self.close[rows],
            volume=self.volume[rows],
            quote_volume=self.quote_volume[rows],
            trade_count=self.trade_count[rows],
            taker_buy_volume=self.taker_buy_volume[rows],
            taker_buy_quote_volume=self.taker_buy_quote_volume[rows],
        )

    def shifted(self, *, time_ms: int = 0, price_ticks: int = 0) -> "KlineBars":
        """Same bars moved in time and/or by a whole number of ticks in price."""
        return KlineBars(
            symbol=self.symbol,
            interval_ms=self.interval_ms,
            open_time=self.open_time + time_ms,
            open=self.open + price_ticks,
            high=self.high + price_ticks,
            low=self.low + price_ticks,
            close=self.close + price_ticks,
            volume=self.volume,
            quote_volume=np.full_like(self.quote_volume, -1) if price_ticks else self.quote_volume,
            trade_count=self.trade_count,
            taker_buy_volume=self.taker_buy_volume,
            taker_buy_quote_volume=(
                np.full_like(self.taker_buy_quote_volume, -1)
                if price_ticks
                else self.taker_buy_quote_volume
            ),
        )


@dataclass(frozen=True, slots=True)
class FundingRates:
    """Realised funding rates: settlement time (ms) and rate (Decimal)."""

    symbol: str
    funding_time: np.ndarray  # int64 ms, ascending
    rate: tuple[Decimal, ...]
    mark_price: tuple[Decimal | None, ...]  # mark at settlement if known (8h mark file open)

    def __len__(self) -> int:
        return len(self.funding_time)
