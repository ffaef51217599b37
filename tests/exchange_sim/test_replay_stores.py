"""AggTradeStore and KlineStore answer REST queries with Binance's semantics."""

from decimal import Decimal

import numpy as np
import pytest

from exchange_sim.errors import BinanceError
from exchange_sim.replay.agg_trade_store import AggTradeStore
from exchange_sim.replay.events import AggTradeEvent
from exchange_sim.replay.grid import load_grids
from exchange_sim.replay.kline_store import KlineStore, kline_rest_row
from exchange_sim.replay.tapes import KlineBars

GRIDS = load_grids()
T0 = 1_723_161_600_000  # 2024-08-09T00:00Z, a whole day
HOUR = 3_600_000


def _agg(i: int, price: str = "61800.30", qty: str = "0.010", maker: bool = False) -> AggTradeEvent:
    return AggTradeEvent(
        symbol="BTCUSDT",
        data_time_ms=T0 + i,
        agg_id=1000 + i,
        price=Decimal(price),
        qty=Decimal(qty),
        first_trade_id=5000 + 2 * i,
        last_trade_id=5001 + 2 * i,
        trade_time_ms=T0 + i,
        buyer_is_maker=maker,
    )


@pytest.fixture
def agg_store():
    """100 aggTrades, one every 60 s from T0 (ids 1000..1099)."""
    store = AggTradeStore(["BTCUSDT"])
    for i in range(100):
        store.append(_agg(i), trade_time_ms=T0 + 60_000 * i)
    return store


def _ids(rows):
    return [ev.agg_id for ev, _ in rows]


def test_agg_trades_without_params_return_the_latest_ascending(agg_store):
    assert _ids(agg_store.query("BTCUSDT", limit=3)) == [1097, 1098, 1099]


def test_agg_trades_from_id_is_inclusive(agg_store):
    assert _ids(agg_store.query("BTCUSDT", from_id=1010, limit=3)) == [1010, 1011, 1012]


def test_agg_trades_start_time_is_inclusive(agg_store):
    rows = agg_store.query("BTCUSDT", start_time=T0 + 60_000 * 5, limit=2)

    assert _ids(rows) == [1005, 1006]


def test_agg_trades_end_time_only_returns_the_last_before_it(agg_store):
    rows = agg_store.query("BTCUSDT", end_time=T0 + 60_000 * 5, limit=2)

    assert _ids(rows) == [1004, 1005]


def test_agg_trades_window_returns_the_first_limit_inside(agg_store):
    rows = agg_store.query("BTCUSDT", start_time=T0, end_time=T0 + 60_000 * 10, limit=500)

    assert _ids(rows) == list(range(1000, 1011))


def test_agg_trades_window_over_one_hour_is_rejected_with_1127(agg_store):
    with pytest.raises(BinanceError) as err:
        agg_store.query("BTCUSDT", start_time=T0, end_time=T0 + HOUR + 1)

    assert err.value.code == -1127


def test_agg_trades_window_of_exactly_one_hour_is_allowed(agg_store):
    assert len(agg_store.query("BTCUSDT", start_time=T0, end_time=T0 + HOUR)) == 61


def test_agg_trades_from_id_with_a_time_is_rejected_with_1128(agg_store):
    with pytest.raises(BinanceError) as err:
        agg_store.query("BTCUSDT", from_id=1000, start_time=T0)

    assert err.value.code == -1128


@pytest.mark.parametrize("limit", [0, 1001])
def test_agg_trades_limit_out_of_range_is_rejected(agg_store, limit):
    with pytest.raises(BinanceError) as err:
        agg_store.query("BTCUSDT", limit=limit)

    assert err.value.code == -1130


def test_agg_trades_rest_rows_carry_exchange_time(agg_store):
    rows = agg_store.rest_rows("BTCUSDT", from_id=1001, limit=1)

    assert rows == [
        {
            "a": 1001,
            "p": "61800.30",
            "q": "0.010",
            "f": 5002,
            "l": 5003,
            "T": T0 + 60_000,
            "m": False,
        }
    ]


def test_agg_store_refuses_out_of_order_ids(agg_store):
    with pytest.raises(ValueError):
        agg_store.append(_agg(5), trade_time_ms=T0 + 10 * HOUR)


# --- klines ---------------------------------------------------------------------------------


def _history(n: int, start: int = T0 - 10 * 60_000) -> KlineBars:
    """n detailed 1m bars: open = 600000+k ticks, high +5, low -5, close +1, volume 1.000."""
    k = np.arange(n, dtype=np.int64)
    return KlineBars(
        symbol="BTCUSDT",
        interval_ms=60_000,
        open_time=start + 60_000 * k,
        open=600_000 + k,
        high=600_005 + k,
        low=599_995 + k,
        close=600_001 + k,
        volume=np.full(n, 1000, dtype=np.int64),
        quote_volume=np.full(n, 6_000_000_000, dtype=np.int64),
        trade_count=np.full(n, 3, dtype=np.int64),
        taker_buy_volume=np.full(n, 400, dtype=np.int64),
        taker_buy_quote_volume=np.full(n, 2_400_000_000, dtype=np.int64),
    )


def _trade(store: KlineStore, t: int, price: str, qty: str, maker: bool, first_id: int) -> None:
    g = GRIDS["BTCUSDT"]
    store.add_trade(
        "BTCUSDT",
        time_ms=t,
        price_ticks=g.parse_price(price),
        qty_steps=g.parse_qty(qty),
        buyer_is_maker=maker,
        first_trade_id=first_id,
        last_trade_id=first_id,
    )


@pytest.fixture
def kline_store():
    """10 history minutes before T0, then three trades in the minute at T0."""
    store = KlineStore(GRIDS)
    store.load_history(_history(10))
    _trade(store, T0 + 1_000, "61000.00", "0.100", False, 1)
    _trade(store, T0 + 2_000, "61010.00", "0.200", True, 2)
    _trade(store, T0 + 3_000, "60990.00", "0.300", False, 3)
    return store


def test_live_minute_is_built_exactly_from_trades(kline_store):
    row = kline_store.current("BTCUSDT", "1m", now_ms=T0 + 30_000)

    # quote: 61000 x 0.1 + 61010 x 0.2 + 60990 x 0.3 = 6100 + 12202 + 18297; taker buys: 1st, 3rd
    assert kline_rest_row(row) == [
        T0,
        "61000.00",
        "61010.00",
        "60990.00",
        "60990.00",
        "0.600",
        T0 + 59_999,
        "36599.00000",
        3,
        "0.400",
        "24397.00000",
        "0",
    ]
    assert (row.first_trade_id, row.last_trade_id, row.closed) == (1, 3, False)


def test_klines_without_times_end_with_the_open_kline(kline_store):
    rows = kline_store.klines("BTCUSDT", "1m", now_ms=T0 + 30_000, limit=3)

    assert [r.open_time for r in rows] == [T0 - 120_000, T0 - 60_000, T0]
    assert [r.closed for r in rows] == [True, True, False]


def test_klines_start_time_selects_open_times_at_or_after(kline_store):
    rows = kline_store.klines("BTCUSDT", "1m", now_ms=T0 + 30_000, start_time=T0 - 90_000, limit=5)

    assert [r.open_time for r in rows] == [T0 - 60_000, T0]


def test_klines_end_time_only_returns_the_limit_ending_at_its_kline(kline_store):
    rows = kline_store.klines("BTCUSDT", "1m", now_ms=T0 + 30_000, end_time=T0 - 60_001, limit=2)

    assert [r.open_time for r in rows] == [T0 - 180_000, T0 - 120_000]


def test_klines_both_times_select_the_first_limit_inside(kline_store):
    rows = kline_store.klines(
        "BTCUSDT", "1m", now_ms=T0 + 30_000, start_time=T0 - 600_000, end_time=T0, limit=3
    )

    assert [r.open_time for r in rows] == [T0 - 600_000, T0 - 540_000, T0 - 480_000]


def test_five_minute_klines_aggregate_the_minutes_exactly(kline_store):
    rows = kline_store.klines("BTCUSDT", "5m", now_ms=T0 + 30_000, start_time=T0 - 600_000, limit=1)

    # minutes k=0..4: open 600000 ticks, high 600009, low 599995, close 600005, volume 5 x 1.000
    assert kline_rest_row(rows[0]) == [
        T0 - 600_000,
        "60000.00",
        "60000.90",
        "59999.50",
        "60000.50",
        "5.000",
        T0 - 300_001,
        "300000.00000",
        15,
        "2.000",
        "120000.00000",
        "0",
    ]


def test_minute_without_trades_is_an_empty_kline_at_the_last_close(kline_store):
    rows = kline_store.klines("BTCUSDT", "1m", now_ms=T0 + 150_000, start_time=T0 + 60_000)

    assert [(r.open, r.high, r.low, r.close, r.volume, r.trade_count) for r in rows] == [
        ("60990.00", "60990.00", "60990.00", "60990.00", "0.000", 0),
        ("60990.00", "60990.00", "60990.00", "60990.00", "0.000", 0),
    ]


def test_first_trade_after_a_quiet_minute_sets_the_open(kline_store):
    kline_store.klines("BTCUSDT", "1m", now_ms=T0 + 61_000)  # materialises the empty minute

    _trade(kline_store, T0 + 62_000, "61100.00", "0.001", False, 4)

    row = kline_store.current("BTCUSDT", "1m", now_ms=T0 + 63_000)
    assert (row.open, row.low, row.first_trade_id) == ("61100.00", "61100.00", 4)


def test_klines_never_include_the_future(kline_store):
    rows = kline_store.klines("BTCUSDT", "1h", now_ms=T0 + 30_000, start_time=T0)

    assert [r.open_time for r in rows] == [T0]


def test_daily_kline_spans_history_and_live_minutes(kline_store):
    rows = kline_store.klines("BTCUSDT", "1d", now_ms=T0 + 30_000, limit=2)

    assert [r.open_time for r in rows] == [T0 - 86_400_000, T0]
    assert (rows[0].volume, rows[1].volume) == ("10.000", "0.600")


def test_bad_interval_is_rejected_with_1120(kline_store):
    with pytest.raises(BinanceError) as err:
        kline_store.klines("BTCUSDT", "7m", now_ms=T0)

    assert err.value.code == -1120


def test_limit_over_1500_is_rejected(kline_store):
    with pytest.raises(BinanceError) as err:
        kline_store.klines("BTCUSDT", "1m", now_ms=T0, limit=1501)

    assert err.value.code == -1130


def test_unknown_symbol_is_rejected_with_1121(kline_store):
    with pytest.raises(BinanceError) as err:
        kline_store.klines("DOGEUSDT", "1m", now_ms=T0)

    assert err.value.code == -1121


def test_history_without_details_is_refused():
    bars = _history(3)
    bare = bars.take(slice(None))
    bare.trade_count[:] = -1

    with pytest.raises(ValueError):
        KlineStore(GRIDS).load_history(bare)
