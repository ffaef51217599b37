"""Trades -> aggTrades exactly as Binance aggregates them."""

import numpy as np
import pytest

from exchange_sim.replay import loaders
from exchange_sim.replay.aggregate import DEFAULT_FIRST_AGG_ID, aggregate_trades
from exchange_sim.replay.grid import DATA_DIR, load_grids
from exchange_sim.replay.tapes import MARKET

GRIDS = load_grids()
TRADE_FILES = {
    "btc-2024": ("BTCUSDT", "trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"),
    "eth-2024": ("ETHUSDT", "trades/ETHUSDT-um-trades-2024-08-08T2354_2400.csv.gz"),
    "btc-2023": ("BTCUSDT", "trades/BTCUSDT-um-trades-2023-04-04T2358_2023-04-05T0007.csv.gz"),
}


@pytest.fixture(scope="module", params=sorted(TRADE_FILES))
def trades(request):
    symbol, rel = TRADE_FILES[request.param]
    return loaders.load_trades_csv(DATA_DIR / rel, GRIDS[symbol])


@pytest.fixture(scope="module")
def btc_2023():
    symbol, rel = TRADE_FILES["btc-2023"]
    return loaders.load_trades_csv(DATA_DIR / rel, GRIDS[symbol])


def test_agg_ids_are_contiguous_from_the_chosen_start(trades):
    aggs = aggregate_trades(trades, first_agg_id=1234)

    assert aggs.agg_id[0] == 1234
    assert (np.diff(aggs.agg_id) == 1).all()


def test_default_first_agg_id_is_documented_constant(trades):
    assert aggregate_trades(trades).agg_id[0] == DEFAULT_FIRST_AGG_ID


def test_totals_equal_the_market_trades(trades):
    market = trades.trade_type == MARKET

    aggs = aggregate_trades(trades)

    grid = GRIDS[trades.symbol]
    src_notional = sum(
        grid.quote_units(p, q)
        for p, q in zip(trades.price[market], trades.qty[market], strict=True)
    )
    agg_notional = sum(grid.quote_units(p, q) for p, q in zip(aggs.price, aggs.qty, strict=True))
    assert int(aggs.qty.sum()) == int(trades.qty[market].sum())
    assert int(aggs.trade_count.sum()) == int(market.sum())
    assert agg_notional == src_notional


def test_each_agg_covers_one_price_side_and_time(trades):
    aggs = aggregate_trades(trades)
    pos = {int(t): i for i, t in enumerate(trades.trade_id)}

    for a in range(0, len(aggs), 97):  # a spread-out sample keeps the test fast
        rows = range(pos[int(aggs.first_trade_id[a])], pos[int(aggs.last_trade_id[a])] + 1)
        assert {int(trades.price[r]) for r in rows} == {int(aggs.price[a])}
        assert {bool(trades.buyer_maker[r]) for r in rows} == {bool(aggs.buyer_maker[a])}
        assert {int(trades.time[r]) for r in rows} == {int(aggs.time[a])}


def test_neighbouring_aggs_differ_in_price_side_or_time(trades):
    aggs = aggregate_trades(trades)

    same = (
        (aggs.price[1:] == aggs.price[:-1])
        & (aggs.buyer_maker[1:] == aggs.buyer_maker[:-1])
        & (aggs.time[1:] == aggs.time[:-1])
        & (aggs.first_trade_id[1:] == aggs.last_trade_id[:-1] + 1)
    )
    assert not same.any()


def test_insurance_fund_trade_is_excluded(btc_2023):
    aggs = aggregate_trades(btc_2023)

    covered = (aggs.first_trade_id <= 3535191080) & (aggs.last_trade_id >= 3535191080)
    assert not covered.any()
    assert GRIDS["BTCUSDT"].price_str(aggs.price.max()) != "28722.50"


def test_hand_checked_first_aggs_of_btc_2023(btc_2023):
    # Source rows (id, price, qty, T, m):
    #   3535186032..35  28145.10  0.002 0.020 0.020 0.008  T=1680652700452  m=true  -> one agg
    #   3535186036..37  28145.20  0.002 0.008              T=1680652700462  m=false -> one agg
    #   3535186038..39  28145.20  0.001 0.003              T=1680652700949  m=false -> one agg
    grid = GRIDS["BTCUSDT"]

    aggs = aggregate_trades(btc_2023, first_agg_id=100)

    got = [
        (
            int(aggs.agg_id[i]),
            grid.price_str(aggs.price[i]),
            grid.qty_str(aggs.qty[i]),
            int(aggs.first_trade_id[i]),
            int(aggs.last_trade_id[i]),
            int(aggs.time[i]),
            bool(aggs.buyer_maker[i]),
        )
        for i in range(3)
    ]
    assert got == [
        (100, "28145.10", "0.050", 3535186032, 3535186035, 1680652700452, True),
        (101, "28145.20", "0.010", 3535186036, 3535186037, 1680652700462, False),
        (102, "28145.20", "0.004", 3535186038, 3535186039, 1680652700949, False),
    ]


def test_trade_after_excluded_one_starts_a_new_agg(btc_2023):
    # 3535191079 (28147.00, m=true, T=...874139), then 3535191080 INSURANCE_FUND,
    # then 3535191081 (28147.00, m=true, T=...874417): the excluded trade splits the run.
    aggs = aggregate_trades(btc_2023)

    i = int(np.flatnonzero(aggs.first_trade_id == 3535191081)[0])
    assert int(aggs.last_trade_id[i - 1]) == 3535191079
