"""The engine's per-instrument report grid (`exchange_sim.engine.reports._grid`) is kept by
the instrument's id: a freed instrument's id can be given to a new one, and a backtest of
BTCUSDT then printed its fills with SOLUSDT's decimals (quantity 0.010 as "0": the fills were
charged at the exchange and never booked). Seen once in CI, after a SOLUSDT backtest ran in the
same test process; here the reuse of the id is made certain."""

from pathlib import Path

from backtest.data import load
from backtest.runner import BacktestConfig, run_backtest
from exchange_sim.engine import reports
from exchange_sim.replay.grid import load_instruments

ROOT = Path(__file__).resolve().parents[2]
KLINES = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
SOL_INFO = (
    ROOT
    / "tests/fixtures/binance_api/rest"
    / ("GET_fapi_v1_exchangeInfo__SOLUSDT_2021-07-22__cryptofeed.json")
)


def test_a_grid_left_under_a_reused_id_is_not_taken_for_another_instrument():
    btc = load_instruments()["BTCUSDT"]
    sol = load_instruments(SOL_INFO)["SOLUSDT"]
    reports._GRIDS[id(btc)] = (sol, reports._Grid(sol))  # as if sol had lived at btc's address

    grid = reports._grid(btc)

    assert (grid.price, grid.qty) == (reports._Grid(btc).price, reports._Grid(btc).qty)
    assert str(grid.qty) == "0.001" and str(reports._Grid(sol).qty) == "1"


def test_a_backtest_books_its_fills_whatever_the_cache_held_under_its_instruments_id():
    data = load(KLINES, end_ms=1_746_576_000_000)  # 2025-05-07
    config = BacktestConfig(strategy_params={"order_notional_usdt": 1000})
    expected = run_backtest(data, config).summary
    instruments = load_instruments()
    sol = load_instruments(SOL_INFO)["SOLUSDT"]
    reports._GRIDS[id(instruments["BTCUSDT"])] = (sol, reports._Grid(sol))

    got = run_backtest(data, config, instruments=instruments).summary

    assert got.fills == expected.fills > 0
    assert (got.total_return, got.fees) == (expected.total_return, expected.fees)
