"""Synthesized intra-minute trades reproduce the source 1m bars exactly and deterministically."""

import numpy as np
import pytest

from exchange_sim.replay import loaders
from exchange_sim.replay.grid import DATA_DIR, load_grids
from exchange_sim.replay.synth import SynthConfig, rebuild_bars, synthesize_trades, with_details
from exchange_sim.replay.tapes import KlineBars

GRIDS = load_grids()
OHLCV = ("open_time", "open", "high", "low", "close", "volume")


@pytest.fixture(scope="module", params=["BTCUSDT", "ETHUSDT"])
def two_days(request):
    """The first two days (2880 real 1m bars) of the bundled kline week of one symbol."""
    sym = request.param
    bars = loaders.load_klines_csv(
        DATA_DIR / f"klines/{sym}-um-1m-2025-05-05_2025-05-11.csv.gz", GRIDS[sym]
    )
    return bars.take(slice(0, 2880))


def _bars(rows: list[tuple[int, int, int, int, int, int]], symbol: str = "BTCUSDT") -> KlineBars:
    cols = list(zip(*rows, strict=True))
    minus = np.full(len(rows), -1, dtype=np.int64)
    return KlineBars(
        symbol=symbol,
        interval_ms=60_000,
        **{k: np.array(c, dtype=np.int64) for k, c in zip(OHLCV, cols, strict=True)},
        quote_volume=minus,
        trade_count=minus,
        taker_buy_volume=minus,
        taker_buy_quote_volume=minus,
    )


@pytest.mark.parametrize("sym", ["BTCUSDT", "ETHUSDT"])
def test_rebuilt_bars_equal_the_whole_source_week_exactly(sym):
    week = loaders.load_klines_csv(
        DATA_DIR / f"klines/{sym}-um-1m-2025-05-05_2025-05-11.csv.gz", GRIDS[sym]
    )
    trades = synthesize_trades(week, first_trade_id=1)

    rebuilt = rebuild_bars(trades, GRIDS[sym], open_times=week.open_time)

    assert len(week) == 10080
    for col in OHLCV:
        np.testing.assert_array_equal(getattr(rebuilt, col), getattr(week, col), err_msg=col)


def test_same_seed_gives_the_same_trades(two_days):
    bars = two_days.take(slice(0, 120))

    a = synthesize_trades(bars, first_trade_id=1, config=SynthConfig(seed=7))
    b = synthesize_trades(bars, first_trade_id=1, config=SynthConfig(seed=7))

    for col in ("trade_id", "price", "qty", "time", "buyer_maker"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col))


def test_other_seed_gives_other_trades(two_days):
    bars = two_days.take(slice(0, 120))

    a = synthesize_trades(bars, first_trade_id=1, config=SynthConfig(seed=7))
    b = synthesize_trades(bars, first_trade_id=1, config=SynthConfig(seed=8))

    assert len(a) != len(b) or not np.array_equal(a.price, b.price)


def test_synthesized_tape_is_labelled(two_days):
    assert synthesize_trades(two_days.take(slice(0, 3)), first_trade_id=1).synthesized


def test_trades_stay_inside_their_bar(two_days):
    bars = two_days.take(slice(0, 600))

    trades = synthesize_trades(bars, first_trade_id=1)

    k = (trades.time - bars.open_time[0]) // 60_000
    assert (trades.price >= bars.low[k]).all() and (trades.price <= bars.high[k]).all()
    assert (np.diff(trades.time) >= 0).all()
    assert (trades.qty > 0).all()


def test_trade_ids_are_contiguous_from_the_first(two_days):
    trades = synthesize_trades(two_days.take(slice(0, 60)), first_trade_id=5_000)

    assert trades.trade_id[0] == 5_000
    assert (np.diff(trades.trade_id) == 1).all()


def test_taker_side_follows_the_price_move(two_days):
    trades = synthesize_trades(two_days.take(slice(0, 300)), first_trade_id=1)

    up = np.diff(trades.price) > 0
    down = np.diff(trades.price) < 0
    assert not trades.buyer_maker[1:][up].any()  # an up-tick is a taker buy
    assert trades.buyer_maker[1:][down].all()  # a down-tick is a taker sell


def test_chunking_does_not_change_the_trades(two_days):
    bars = two_days.take(slice(0, 100))

    whole = synthesize_trades(bars, first_trade_id=1)
    head = synthesize_trades(bars.take(slice(0, 40)), first_trade_id=1)
    tail = synthesize_trades(bars.take(slice(40, 100)), first_trade_id=int(head.trade_id[-1]) + 1)

    np.testing.assert_array_equal(whole.price, np.concatenate([head.price, tail.price]))
    np.testing.assert_array_equal(whole.trade_id, np.concatenate([head.trade_id, tail.trade_id]))


def test_zero_volume_bar_gets_no_trades_and_rebuilds_at_the_previous_close():
    bars = _bars([(0, 100, 105, 95, 102, 10), (60_000, 102, 102, 102, 102, 0)])

    trades = synthesize_trades(bars, first_trade_id=1)
    rebuilt = rebuild_bars(trades, GRIDS["BTCUSDT"], open_times=bars.open_time)

    assert (trades.time < 60_000).all()
    for col in OHLCV:
        np.testing.assert_array_equal(getattr(rebuilt, col), getattr(bars, col))


def test_single_step_bar_is_one_trade():
    bars = _bars([(0, 100, 100, 100, 100, 1)])

    trades = synthesize_trades(bars, first_trade_id=1)

    assert (len(trades), int(trades.price[0]), int(trades.qty[0])) == (1, 100, 1)


def test_invalid_bar_is_rejected():
    bars = _bars([(0, 100, 99, 95, 98, 10)])  # open above high

    with pytest.raises(ValueError):
        synthesize_trades(bars, first_trade_id=1)


def test_volume_too_small_for_the_price_range_is_rejected():
    bars = _bars([(0, 100, 105, 95, 102, 2)])  # needs 4 distinct prices

    with pytest.raises(ValueError):
        synthesize_trades(bars, first_trade_id=1)


def test_with_details_fills_quote_count_and_taker_columns(two_days):
    bars = two_days.take(slice(0, 60))

    detailed = with_details(bars, GRIDS[bars.symbol])

    assert detailed.has_details
    np.testing.assert_array_equal(detailed.volume, bars.volume)
    assert (detailed.taker_buy_volume <= detailed.volume).all()
    low_q = (
        detailed.volume
        * detailed.low
        * GRIDS[bars.symbol].tick_units
        * GRIDS[bars.symbol].step_units
    )
    assert (detailed.quote_volume >= low_q).all()
