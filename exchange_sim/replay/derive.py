"""Market data the recordings lack, derived from what they have (labelled derived/synthesized).

* Mark price every second (`derive_mark_prices`): the 2024 captures and the kline data set have
  no markPrice stream. Mark = mid of the last bookTicker at or before the second, else the last
  trade price; index and estimated settle price = the same value (the replay has no index).
* Funding rate (`funding_rate_at`): the bundled realised rate of the next settlement when the
  funding file covers it, else a configured default (0.0001 = 0.01 % per 8 h).
* Best bid/ask from synthesized trades (`book_ticker_from_trades`): a one-tick spread around
  each trade on the side the taker hit, seeded quantities.
"""

from decimal import Decimal

import numpy as np

from exchange_sim.replay.grid import WireGrid
from exchange_sim.replay.tapes import AggTradeTape, BookTickerTape, FundingRates, MarkPriceTape

DEFAULT_FUNDING_RATE = Decimal("0.0001")
FUNDING_INTERVAL_MS = 8 * 3_600_000
MARK_INTERVAL_MS = 1_000
_MARK_QUANT = Decimal("0.00000001")
_TOLERANCE_MS = 60_000


def next_funding_time(t_ms: int, interval_ms: int = FUNDING_INTERVAL_MS) -> int:
    """The next settlement strictly after `t_ms` (00:00, 08:00, 16:00 UTC by default)."""
    return (t_ms // interval_ms + 1) * interval_ms


def funding_rate_at(
    funding: FundingRates | None,
    t_ms: int,
    default: Decimal = DEFAULT_FUNDING_RATE,
    interval_ms: int = FUNDING_INTERVAL_MS,
) -> Decimal:
    """The realised rate of the settlement at `next_funding_time(t_ms)` if recorded, else
    `default`. Settlement times in the files carry a few ms of jitter (…00:00:00.001), so a
    record within one minute of the settlement boundary counts as that settlement.
    """
    if funding is None or len(funding) == 0:
        return default
    target = next_funding_time(t_ms, interval_ms)
    i = int(np.searchsorted(funding.funding_time, target - _TOLERANCE_MS, side="left"))
    if i < len(funding) and abs(int(funding.funding_time[i]) - target) < _TOLERANCE_MS:
        return funding.rate[i]
    return default


def derive_mark_prices(
    grid: WireGrid,
    *,
    start_ms: int,
    end_ms: int,
    trades: AggTradeTape,
    book: BookTickerTape | None = None,
    funding: FundingRates | None = None,
    default_rate: Decimal = DEFAULT_FUNDING_RATE,
    interval_ms: int = MARK_INTERVAL_MS,
) -> MarkPriceTape:
    """One derived mark price per whole `interval_ms` in [start_ms, end_ms] with a price known."""
    first = -(-start_ms // interval_ms) * interval_ms
    seconds = np.arange(first, end_ms + 1, interval_ms, dtype=np.int64)
    # twice the price in ticks: a mid can fall on a half tick
    twice = np.full(len(seconds), -1, dtype=np.int64)
    if len(trades):
        i = np.searchsorted(trades.event_time, seconds, side="right") - 1
        ok = i >= 0
        twice[ok] = 2 * trades.price[i[ok]]
    if book is not None and len(book):
        j = np.searchsorted(book.event_time, seconds, side="right") - 1
        ok = j >= 0
        twice[ok] = book.bid_price[j[ok]] + book.ask_price[j[ok]]
    keep = twice >= 0
    seconds = seconds[keep]
    twice = twice[keep]
    half_tick = grid.instrument.tick_size / 2
    marks = tuple((half_tick * int(x)).quantize(_MARK_QUANT) for x in twice)
    rates = tuple(funding_rate_at(funding, int(s), default_rate) for s in seconds)
    return MarkPriceTape(
        symbol=grid.symbol,
        event_time=seconds,
        mark_price=marks,
        index_price=marks,
        settle_price=marks,
        funding_rate=rates,
        next_funding_time=np.array([next_funding_time(int(s)) for s in seconds], dtype=np.int64),
        recv_time_ns=np.zeros(len(seconds), dtype=np.int64),
        derived=True,
    )


def book_ticker_from_trades(
    trades: AggTradeTape, *, first_update_id: int, seed: int, max_qty_steps: int = 5000
) -> BookTickerTape:
    """A best bid/ask update after each synthesized aggTrade, one tick wide.

    Taker buy at p (m = false): ask = p, bid = p - 1 tick; taker sell: bid = p, ask = p + 1 tick.
    Update ids step by 10 from `first_update_id` (strictly increasing, like real `u`).
    """
    n = len(trades)
    rng = np.random.default_rng([seed, n, int(trades.agg_id[0]) if n else 0])
    sell = trades.buyer_maker
    bid = np.where(sell, trades.price, trades.price - 1)
    ask = bid + 1
    return BookTickerTape(
        symbol=trades.symbol,
        update_id=first_update_id + 10 * np.arange(n, dtype=np.int64),
        bid_price=bid,
        bid_qty=rng.integers(1, max_qty_steps, n, dtype=np.int64),
        ask_price=ask,
        ask_qty=rng.integers(1, max_qty_steps, n, dtype=np.int64),
        transaction_time=trades.time.copy(),
        event_time=trades.event_time.copy(),
        recv_time_ns=np.zeros(n, dtype=np.int64),
        synthesized=True,
    )
