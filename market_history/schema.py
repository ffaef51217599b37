"""The normalized columns of stored history: klines and aggregate trades.

Times are integer ms UTC. Prices and quantities are kept as the exchange's decimal strings
(exact; `Decimal(s)` recovers them, floats are made only when a caller asks). Fields a source
does not carry (plain OHLCV files have no trade count) are null, never invented.
"""

import re
from dataclasses import dataclass

import pyarrow as pa

from core.intervals import FIXED_KLINE_INTERVALS, interval_ms

KLINES_SCHEMA = pa.schema(
    [
        ("open_time", pa.int64()),
        ("open", pa.string()),
        ("high", pa.string()),
        ("low", pa.string()),
        ("close", pa.string()),
        ("volume", pa.string()),
        ("close_time", pa.int64()),
        ("quote_volume", pa.string()),
        ("trade_count", pa.int64()),
        ("taker_buy_volume", pa.string()),
        ("taker_buy_quote_volume", pa.string()),
    ]
)

AGG_TRADES_SCHEMA = pa.schema(
    [
        ("agg_id", pa.int64()),
        ("price", pa.string()),
        ("qty", pa.string()),
        ("first_trade_id", pa.int64()),
        ("last_trade_id", pa.int64()),
        ("trade_time", pa.int64()),
        ("buyer_is_maker", pa.bool_()),
    ]
)

KLINE_DECIMALS = [
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "taker_buy_volume",
    "taker_buy_quote_volume",
]

# Binance USD-M kline intervals with a fixed length (1M is calendar-based and not stored).
KLINE_INTERVALS = FIXED_KLINE_INTERVALS

# Monday 1970-01-05 00:00 UTC: Binance's weekly klines open on Mondays.
WEEK_ORIGIN_MS = 4 * 86_400_000

_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}$")


@dataclass(frozen=True, slots=True)
class Kind:
    """What a dataset holds: `aggTrades`, or klines of one interval."""

    name: str  # "aggTrades" or "klines"
    interval: str | None = None

    @property
    def key(self) -> str:
        """Directory name in the store: `aggTrades`, `klines-1m`."""
        return self.name if self.interval is None else f"{self.name}-{self.interval}"

    @property
    def schema(self) -> pa.Schema:
        return AGG_TRADES_SCHEMA if self.name == "aggTrades" else KLINES_SCHEMA

    @property
    def key_column(self) -> str:
        return "agg_id" if self.name == "aggTrades" else "open_time"

    @property
    def time_column(self) -> str:
        return "trade_time" if self.name == "aggTrades" else "open_time"

    @property
    def step_ms(self) -> int:
        assert self.interval is not None
        return interval_ms(self.interval)

    @property
    def origin_ms(self) -> int:
        """An open time of the bar grid: 0 (the epoch) but for weekly bars, which Binance
        opens on Mondays 00:00 UTC (the epoch was a Thursday)."""
        return WEEK_ORIGIN_MS if self.interval == "1w" else 0

    def floor(self, t: int) -> int:
        """The open time of the bar holding `t`."""
        return t - (t - self.origin_ms) % self.step_ms

    def ceil(self, t: int) -> int:
        """The first open time at or after `t`."""
        return t + (self.origin_ms - t) % self.step_ms

    @staticmethod
    def klines(interval: str) -> "Kind":
        if interval not in KLINE_INTERVALS:
            raise ValueError(f"unknown interval {interval!r}; one of {', '.join(KLINE_INTERVALS)}")
        return Kind("klines", interval)

    @staticmethod
    def agg_trades() -> "Kind":
        return Kind("aggTrades")


def normalize_symbol(raw: str) -> str:
    """ "BTC/USDT", "BTC/USDT:USDT", "btc_usdt", "btcusdt" -> "BTCUSDT"."""
    base = raw.strip().upper().split(":")[0]
    symbol = base.replace("/", "").replace("_", "").replace("-", "")
    if not _SYMBOL_RE.match(symbol):
        raise ValueError(f"not a symbol: {raw!r}")
    return symbol


def to_ms(value: int) -> int:
    """Normalize an epoch timestamp in s, ms, us or ns to ms (Binance moved spot files to us)."""
    v = int(value)
    if v >= 10**17:
        return v // 1_000_000
    if v >= 10**14:
        return v // 1_000
    if v < 10**11:
        return v * 1_000
    return v
