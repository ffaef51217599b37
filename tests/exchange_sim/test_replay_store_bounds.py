"""The stores that grow with replayed time are bounded: a window of aggTrades, 30 days of 1m bars.

Issue 8 item 1: every published aggTrade was kept forever (RSS 394 MiB -> 2.1 GiB in three
minutes at --speed max). The AggTradeStore now keeps the last 6 hours of exchange time (at most
`max_trades` per symbol) in one int64 table; the KlineStore keeps 30 days of 1m bars.
"""

import tracemalloc
from decimal import Decimal

import numpy as np
import pytest

from exchange_sim.replay.agg_trade_store import DEFAULT_RETENTION_MS, AggTradeStore
from exchange_sim.replay.events import AggTradeEvent
from exchange_sim.replay.grid import load_grids
from exchange_sim.replay.kline_store import KlineStore
from exchange_sim.replay.messages import agg_trade_rest_row

GRIDS = load_grids()
T0 = 1_723_161_600_000  # 2024-08-09T00:00Z
MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000


def _agg(i: int, *, synthesized: bool = False) -> AggTradeEvent:
    return AggTradeEvent(
        symbol="BTCUSDT",
        data_time_ms=T0 + i,
        agg_id=1000 + i,
        price=GRIDS["BTCUSDT"].price(600_000 + i % 97),
        qty=GRIDS["BTCUSDT"].qty(1 + i % 13),
        first_trade_id=5000 + 2 * i,
        last_trade_id=5001 + 2 * i,
        trade_time_ms=T0 + i,
        buyer_is_maker=i % 3 == 0,
        synthesized=synthesized,
    )


def _fill(store: AggTradeStore, count: int, every_ms: int) -> None:
    for i in range(count):
        store.append(_agg(i), trade_time_ms=T0 + every_ms * i)


def _ids(rows) -> list[int]:
    return [ev.agg_id for ev, _ in rows]


def test_the_store_keeps_only_the_last_six_hours_of_exchange_time() -> None:
    store = AggTradeStore(["BTCUSDT"])

    _fill(store, 10 * 60 + 1, MINUTE)  # one trade a minute for ten hours

    assert DEFAULT_RETENTION_MS == 6 * HOUR
    assert store.count("BTCUSDT") == 6 * 60 + 1  # [newest - 6 h, newest], both ends included
    assert store.oldest("BTCUSDT") == (1000 + 4 * 60, T0 + 4 * HOUR)


def test_the_store_keeps_at_most_max_trades_however_dense_the_trades() -> None:
    store = AggTradeStore(["BTCUSDT"], max_trades=1000)

    _fill(store, 25_000, 1)

    assert store.count("BTCUSDT") == 1000
    assert store.oldest("BTCUSDT") == (1000 + 24_000, T0 + 24_000)
    assert len(store._tables["BTCUSDT"].data) <= 1000 + 1000 // 4


def test_from_id_inside_the_window_is_answered_exactly() -> None:
    store = AggTradeStore(["BTCUSDT"], max_trades=1000)
    _fill(store, 25_000, 1)

    rows = store.query("BTCUSDT", from_id=25_500, limit=3)

    assert _ids(rows) == [25_500, 25_501, 25_502]
    assert [ev for ev, _ in rows] == [_agg(i) for i in (24_500, 24_501, 24_502)]
    assert [t for _, t in rows] == [T0 + 24_500, T0 + 24_501, T0 + 24_502]


def test_from_id_older_than_the_window_gets_the_oldest_retained_trades() -> None:
    store = AggTradeStore(["BTCUSDT"], max_trades=1000)
    _fill(store, 25_000, 1)

    rows = store.query("BTCUSDT", from_id=1000, limit=2)

    assert _ids(rows) == [25_000, 25_001]


def test_from_id_beyond_the_newest_gets_nothing() -> None:
    store = AggTradeStore(["BTCUSDT"], max_trades=1000)
    _fill(store, 2000, 1)

    assert store.query("BTCUSDT", from_id=10**12) == []


def test_rest_rows_render_the_columns_exactly_like_the_events() -> None:
    store = AggTradeStore(["BTCUSDT"])
    events = [_agg(i) for i in range(50)]
    for i, ev in enumerate(events):
        store.append(ev, trade_time_ms=T0 + 7 * i)

    rows = store.rest_rows("BTCUSDT", from_id=1010, limit=20)

    assert (
        rows
        == [agg_trade_rest_row(ev, trade_time_ms=T0 + 7 * i) for i, ev in enumerate(events)][10:30]
    )


def test_the_last_trade_keeps_its_synthesized_flag() -> None:
    store = AggTradeStore(["BTCUSDT"])
    store.append(_agg(0, synthesized=True), trade_time_ms=T0)

    last = store.last("BTCUSDT")

    assert last is not None and last[0].synthesized and last[1] == T0
    assert store.query("BTCUSDT")[0][0].synthesized


def test_time_queries_see_only_the_window() -> None:
    store = AggTradeStore(["BTCUSDT"])
    _fill(store, 10 * 60 + 1, MINUTE)

    assert store.query("BTCUSDT", start_time=T0, limit=1)[0][1] == T0 + 4 * HOUR
    assert store.query("BTCUSDT", end_time=T0 + HOUR) == []


def test_an_out_of_order_trade_is_refused_and_leaves_the_window_unchanged() -> None:
    store = AggTradeStore(["BTCUSDT"])
    _fill(store, 100, MINUTE)

    with pytest.raises(ValueError):
        store.append(_agg(5), trade_time_ms=T0 + 10 * HOUR)

    assert store.count("BTCUSDT") == 100


def _allocated_after(appends: int, max_trades: int) -> int:
    """Bytes still allocated after `appends` trades went into a fresh store (tracemalloc)."""
    events = [_agg(i) for i in range(appends)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        store = AggTradeStore(["BTCUSDT"], max_trades=max_trades)
        for i, ev in enumerate(events):
            store.append(ev, trade_time_ms=T0 + i)
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_memory_after_many_trades_is_the_window_not_the_history() -> None:
    small = _allocated_after(4_000, max_trades=1_000)
    large = _allocated_after(20_000, max_trades=1_000)

    window_bytes = (1_000 + 1_000 // 4) * 9 * 8
    assert small <= window_bytes + 100_000  # the table, the grids, one event
    assert large <= small + 10_000  # five times the trades, the same memory


def _rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@pytest.mark.slow
def test_resident_memory_stays_flat_over_three_million_trades() -> None:
    # 1 ms apart: the count cap (250,000 a symbol) binds before the 6 hours do
    store = AggTradeStore(["BTCUSDT"])
    for i in range(500_000):
        store.append(_agg(i), trade_time_ms=T0 + i)
    after_warm_up = _rss_bytes()

    for i in range(500_000, 3_000_000):
        store.append(_agg(i), trade_time_ms=T0 + i)

    assert store.count("BTCUSDT") == 250_000
    assert _rss_bytes() - after_warm_up <= 8 * 2**20
    assert store._tables["BTCUSDT"].data.nbytes <= (250_000 + 250_000 // 4) * 9 * 8


# --- klines ---------------------------------------------------------------------------------


def _add_minutes(store: KlineStore, first: int, minutes: int) -> None:
    for k in range(first, first + minutes):
        store.add_trade(
            "BTCUSDT",
            time_ms=T0 + k * MINUTE + 1,
            price_ticks=600_000 + k % 50,
            qty_steps=1,
            buyer_is_maker=False,
            first_trade_id=k,
            last_trade_id=k,
        )


def test_kline_store_keeps_the_last_days_dropping_whole_utc_days() -> None:
    store = KlineStore(GRIDS, retention_minutes=2 * 1440)

    _add_minutes(store, 0, 5 * 1440 + 30)

    now = T0 + (5 * 1440 + 30) * MINUTE
    first = store.klines("BTCUSDT", "1m", now_ms=now, start_time=0, limit=1)[0]
    days = store.klines("BTCUSDT", "1d", now_ms=now, limit=10)
    bars = store._bars["BTCUSDT"]
    assert first.open_time % DAY == 0 and first.open_time >= T0 + 3 * DAY
    assert bars.n <= 2 * 1440 + 1440
    assert len(bars.data) <= 2 * 1440 + 1440
    assert all(d.trade_count == 1440 for d in days[:-1])  # every served day complete


def test_kline_store_after_trimming_still_serves_the_recent_bars_exactly() -> None:
    store = KlineStore(GRIDS, retention_minutes=1440)
    _add_minutes(store, 0, 4 * 1440)

    rows = store.klines("BTCUSDT", "1m", now_ms=T0 + 4 * 1440 * MINUTE - 1, limit=3)

    assert [r.open_time for r in rows] == [T0 + (4 * 1440 - i) * MINUTE for i in (3, 2, 1)]
    assert [r.open for r in rows] == [
        GRIDS["BTCUSDT"].price_str(600_000 + k % 50) for k in range(4 * 1440 - 3, 4 * 1440)
    ]
    assert np.all(np.diff(store._bars["BTCUSDT"].open_times) == MINUTE)


def test_kline_store_refuses_less_than_a_day_of_retention() -> None:
    with pytest.raises(ValueError):
        KlineStore(GRIDS, retention_minutes=60)


def test_decimal_prices_round_trip_through_the_columns() -> None:
    store = AggTradeStore(["BTCUSDT"])
    ev = _agg(3)

    store.append(ev, trade_time_ms=T0)

    ((back, _),) = store.query("BTCUSDT")
    assert back.price == ev.price and str(back.price) == str(ev.price)
    assert back.qty == Decimal("0.004")
