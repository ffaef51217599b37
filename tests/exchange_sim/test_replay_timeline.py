"""MarketReplay: one ordered event stream, strictly increasing ids, continuation, time maps."""

from decimal import Decimal
from itertools import pairwise

import numpy as np
import pytest

from exchange_sim.replay.aggregate import aggregate_trades
from exchange_sim.replay.catalog import Dataset, DatasetSpec, bundled
from exchange_sim.replay.derive import DEFAULT_FUNDING_RATE, funding_rate_at, next_funding_time
from exchange_sim.replay.events import (
    AggTradeEvent,
    BookTickerEvent,
    DepthUpdateEvent,
    EventKind,
    MarkPriceEvent,
)
from exchange_sim.replay.grid import DATA_DIR, load_grids
from exchange_sim.replay.kline_store import KlineStore
from exchange_sim.replay.tapes import KlineBars
from exchange_sim.replay.timeline import MINUTE_MS, MarketReplay, TimeMap, applicable_depth

GRIDS = load_grids()
CAPTURE_END = 1723161660000  # 2024-08-09T00:01Z: first whole minute after the 2024 capture


@pytest.fixture(scope="module")
def ds2024():
    return bundled("btcusdt-2024-08-08")


@pytest.fixture(scope="module")
def events2024(ds2024):
    """The recorded part plus 30 synthesized minutes of the default data set."""
    replay = MarketReplay(ds2024, chunk_minutes=30)
    return replay.events_until(CAPTURE_END + 30 * MINUTE_MS - 1)


def _of(events, kind, symbol=None):
    return [e for e in events if e.kind is kind and (symbol is None or e.symbol == symbol)]


def test_events_come_in_data_time_order(events2024):
    times = np.array([e.data_time_ms for e in events2024])

    assert (np.diff(times) >= 0).all()


def test_recorded_aggtrades_are_the_aggregated_capture(ds2024, events2024):
    replay_start = MarketReplay(ds2024).start_ms
    aggs = aggregate_trades(ds2024.trades["BTCUSDT"])
    expected = aggs.agg_id[aggs.event_time >= replay_start]

    recorded = [
        e.agg_id for e in _of(events2024, EventKind.AGG_TRADE, "BTCUSDT") if not e.synthesized
    ]

    assert recorded == expected.tolist()


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_agg_and_trade_ids_strictly_increase_across_the_continuation(events2024, symbol):
    trades = _of(events2024, EventKind.AGG_TRADE, symbol)

    ids = np.array([e.agg_id for e in trades])
    firsts = np.array([e.first_trade_id for e in trades])
    lasts = np.array([e.last_trade_id for e in trades])

    assert any(e.synthesized for e in trades) and not all(e.synthesized for e in trades)
    assert (np.diff(ids) == 1).all()
    assert (firsts[1:] == lasts[:-1] + 1).all()


def test_book_ticker_update_ids_strictly_increase(events2024):
    ids = np.array([e.update_id for e in _of(events2024, EventKind.BOOK_TICKER, "BTCUSDT")])

    assert (np.diff(ids) > 0).all()


def test_continuation_starts_at_the_next_minute_at_the_last_recorded_price(events2024):
    trades = _of(events2024, EventKind.AGG_TRADE, "BTCUSDT")
    k = next(i for i, e in enumerate(trades) if e.synthesized)

    assert trades[k].trade_time_ms >= CAPTURE_END
    assert trades[k].trade_time_ms < CAPTURE_END + MINUTE_MS
    assert trades[k].price == trades[k - 1].price


def test_depth_diffs_chain_from_the_snapshot(ds2024, events2024):
    depth = _of(events2024, EventKind.DEPTH_UPDATE, "BTCUSDT")
    snap = MarketReplay(ds2024).initial_depth("BTCUSDT")

    assert depth[0].first_update_id <= snap.last_update_id <= depth[0].final_update_id
    assert all(b.prev_final_update_id == a.final_update_id for a, b in pairwise(depth))


def test_mark_price_is_derived_every_second_between_bid_and_ask(events2024):
    marks = _of(events2024, EventKind.MARK_PRICE, "BTCUSDT")
    books = _of(events2024, EventKind.BOOK_TICKER, "BTCUSDT")
    book_times = np.array([b.data_time_ms for b in books])

    assert all(m.derived for m in marks)
    assert all(m.data_time_ms % 1000 == 0 for m in marks)
    for m in marks[::50]:
        b = books[int(np.searchsorted(book_times, m.data_time_ms, side="right")) - 1]
        assert b.bid_price <= m.mark_price <= b.ask_price


def test_funding_defaults_where_the_files_do_not_cover_the_period(events2024):
    marks = _of(events2024, EventKind.MARK_PRICE, "ETHUSDT")

    assert {m.funding_rate for m in marks} == {DEFAULT_FUNDING_RATE}
    assert {m.next_funding_time_ms for m in marks} >= {1723190400000}  # 2024-08-09T08:00Z


def test_stepping_in_small_increments_yields_the_same_events(ds2024):
    one = MarketReplay(ds2024)
    many = MarketReplay(ds2024)
    horizon = one.start_ms + 20_000

    whole = one.events_until(horizon)
    pieces = []
    t = many.start_ms
    while t <= horizon:
        pieces += many.events_until(t)
        t += 137
    pieces += many.events_until(horizon)

    assert pieces == whole


def test_step_returns_exactly_the_next_instant(ds2024):
    replay = MarketReplay(ds2024)
    t = replay.next_event_time()

    batch = replay.step()

    assert batch and {e.data_time_ms for e in batch} == {t}
    assert replay.next_event_time() > t


def test_events_until_never_returns_an_event_twice(ds2024):
    replay = MarketReplay(ds2024)
    first = replay.events_until(replay.start_ms + 5_000)

    again = replay.events_until(replay.start_ms + 5_000)

    assert first and again == []


def test_without_continuation_the_replay_ends_with_the_capture(ds2024):
    replay = MarketReplay(ds2024, symbols=("ETHUSDT",), continue_with_klines=False)

    events = replay.events_until(CAPTURE_END + 3_600_000)

    assert replay.exhausted and replay.next_event_time() is None
    assert not any(getattr(e, "synthesized", False) for e in events)


def test_recorded_mark_prices_are_replayed_not_derived():
    replay = MarketReplay(bundled("btcusdt-2023-04-04"), continue_with_klines=False)

    marks = _of(replay.events_until(1680652800000), EventKind.MARK_PRICE)

    assert len(marks) == 99 and not any(m.derived for m in marks)
    assert marks[0].mark_price == Decimal("28147.27373413")


def test_history_ends_just_before_the_first_minute_at_the_first_price(ds2024):
    replay = MarketReplay(ds2024, history_minutes=120)
    first = next(
        e
        for e in replay.events_until(replay.start_ms + 10_000)
        if isinstance(e, AggTradeEvent) and e.symbol == "BTCUSDT"
    )

    hist = replay.history("BTCUSDT")

    assert len(hist) == 120 and hist.has_details
    assert int(hist.open_time[-1]) + MINUTE_MS == replay.start_ms - replay.start_ms % MINUTE_MS
    assert GRIDS["BTCUSDT"].price(hist.close[-1]) == first.price


def test_kline_store_fed_with_the_replay_reproduces_the_source_bars():
    ds = bundled("klines-week")
    replay = MarketReplay(ds, chunk_minutes=60)
    store = KlineStore(GRIDS)
    for e in replay.events_until(replay.start_ms + 120 * MINUTE_MS - 1):
        if isinstance(e, AggTradeEvent) and e.symbol == "ETHUSDT":
            g = GRIDS["ETHUSDT"]
            store.add_trade(
                "ETHUSDT",
                time_ms=e.trade_time_ms,
                price_ticks=g.ticks_of(e.price),
                qty_steps=g.steps_of(e.qty),
                buyer_is_maker=e.buyer_is_maker,
                first_trade_id=e.first_trade_id,
                last_trade_id=e.last_trade_id,
            )
    src = ds.klines["ETHUSDT"].take(slice(1440, 1560))  # the two hours after the 1-day history

    rows = store.klines("ETHUSDT", "1m", now_ms=replay.start_ms + 120 * MINUTE_MS - 1, limit=120)

    g = GRIDS["ETHUSDT"]
    got = [(r.open_time, r.open, r.high, r.low, r.close, r.volume) for r in rows]
    want = [
        (
            int(src.open_time[i]),
            g.price_str(src.open[i]),
            g.price_str(src.high[i]),
            g.price_str(src.low[i]),
            g.price_str(src.close[i]),
            g.qty_str(src.volume[i]),
        )
        for i in range(len(src))
    ]
    assert got == want


def test_kline_data_set_uses_recorded_funding_rates():
    ds = bundled("klines-week")
    replay = MarketReplay(ds)
    marks = [
        e for e in replay.events_until(replay.start_ms + 2_000) if isinstance(e, MarkPriceEvent)
    ]

    expected = funding_rate_at(ds.funding["BTCUSDT"], replay.start_ms)

    assert replay.start_ms == 1746489600000  # 2025-05-06T00:00Z, after one day of history
    assert {m.funding_rate for m in marks if m.symbol == "BTCUSDT"} == {expected}
    assert expected != DEFAULT_FUNDING_RATE


def _tiny_dataset(n_bars: int) -> Dataset:
    """A kline-only data set of n real BTCUSDT bars (the first of the bundled week)."""
    week = bundled("klines-week").klines["BTCUSDT"]
    spec = DatasetSpec(name="tiny", root=DATA_DIR, symbols=("BTCUSDT",), kline_history_minutes=0)
    return Dataset(spec=spec, grids=GRIDS, klines={"BTCUSDT": week.take(slice(0, n_bars))})


def test_kline_source_loops_with_increasing_ids_and_continuous_prices():
    replay = MarketReplay(_tiny_dataset(3), chunk_minutes=2)

    events = replay.events_until(replay.start_ms + 10 * MINUTE_MS - 1)

    trades = [e for e in events if isinstance(e, AggTradeEvent)]
    minutes = {e.trade_time_ms // MINUTE_MS for e in trades}
    assert len(minutes) == 10  # 3 source bars replayed 3+ times
    assert all(b.agg_id == a.agg_id + 1 for a, b in pairwise(trades))
    assert all(b.first_trade_id == a.last_trade_id + 1 for a, b in pairwise(trades))
    assert all(e.synthesized for e in trades)
    # at each loop the first bar is re-anchored: its open equals the previous close
    loop_starts = [
        i
        for i, e in enumerate(trades)
        if i
        and (e.trade_time_ms - replay.start_ms) // MINUTE_MS % 3 == 0
        and (trades[i - 1].trade_time_ms - replay.start_ms) // MINUTE_MS % 3 == 2
    ]
    assert loop_starts and all(trades[i].price == trades[i - 1].price for i in loop_starts)


def test_synthesized_book_ticker_brackets_its_trade():
    replay = MarketReplay(_tiny_dataset(5), chunk_minutes=5)

    events = replay.events_until(replay.start_ms + 5 * MINUTE_MS - 1)

    pairs = [
        (a, b)
        for a, b in pairwise(events)
        if isinstance(a, AggTradeEvent) and isinstance(b, BookTickerEvent)
    ]
    assert pairs
    assert all(b.bid_price <= a.price <= b.ask_price for a, b in pairs)
    assert all(b.synthesized for _, b in pairs)


def test_unknown_symbol_is_rejected(ds2024):
    with pytest.raises(ValueError):
        MarketReplay(ds2024, symbols=("SOLUSDT",))


def test_applicable_depth_rejects_a_snapshot_older_than_the_diffs(ds2024):
    snap = ds2024.snapshots["BTCUSDT"]
    later = [u for u in ds2024.depth_updates["BTCUSDT"] if u.first_update_id > snap.last_update_id]

    with pytest.raises(ValueError):
        applicable_depth(snap, later)


def test_depth_events_are_typed(events2024):
    assert isinstance(_of(events2024, EventKind.DEPTH_UPDATE)[0], DepthUpdateEvent)


# --- time maps --------------------------------------------------------------------------------


def test_aligned_time_map_shifts_by_whole_minutes():
    tm = TimeMap.aligned(data_start_ms=1723161256509, now_ms=1_900_000_000_123)

    assert tm.exchange_start_ms >= 1_900_000_000_123
    assert tm.shift_ms % MINUTE_MS == 0
    assert tm.to_exchange(1723161300000) % MINUTE_MS == 0  # a data minute boundary stays one


def test_time_map_round_trips_at_speed_one():
    tm = TimeMap(data_start_ms=1_000, exchange_start_ms=61_000)

    assert tm.to_data(tm.to_exchange(123_456)) == 123_456


def test_time_map_compresses_time_at_higher_speed():
    tm = TimeMap(data_start_ms=0, exchange_start_ms=1_000_000, speed=10.0)

    assert tm.to_exchange(60_000) == 1_006_000
    assert tm.to_data(1_006_000) == 60_000


def test_time_map_rejects_non_positive_speed():
    with pytest.raises(ValueError):
        TimeMap(0, 0, speed=0)


def test_shifted_history_bars_land_on_exchange_minutes():
    tm = TimeMap.aligned(data_start_ms=1723161256509, now_ms=1_900_000_000_123)
    bars = bundled("klines-week").klines["BTCUSDT"].take(slice(0, 3))

    moved: KlineBars = tm.shift_bars(bars)

    assert (moved.open_time % MINUTE_MS == 0).all()
    assert (moved.open_time - bars.open_time == tm.shift_ms).all()


def test_next_funding_time_is_the_next_8h_boundary():
    assert next_funding_time(1723161600000) == 1723190400000  # 00:00 -> 08:00
    assert next_funding_time(1723161599999) == 1723161600000
