"""The command line on the bundled week of real BTCUSDT 1m klines (2025-05-05..11, 10,080
bars): outputs, metrics recomputed here from the CSVs, determinism, bad inputs."""

import csv
import html
import json
import math
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from statistics import median

import pytest

import backtest_trading_strategy as cli
from book_keeper.journal import SqliteJournal
from core.account import AccountView
from core.market import Bar
from core.orders import CancelProposal, TargetPosition
from tests.backtest.test_real_data import daily_ratios, round_trips
from trading_engine.main_trading_strategy import Proposals, StrategyBase

ROOT = Path(__file__).resolve().parents[2]
KLINES = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
TRADES = ROOT / "exchange_sim/data/trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"
YEAR_MS = 365 * 86_400_000


def run(tmp: Path, *extra: str) -> Path:
    out = tmp / "out"
    assert cli.main(["--data", str(KLINES), "--symbol", "BTCUSDT", "--out", str(out), *extra]) == 0
    return out


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> Path:
    return run(tmp_path_factory.mktemp("week"))


def test_the_week_writes_every_output(week):
    assert {p.name for p in week.iterdir()} >= {
        "summary.json",
        "equity.csv",
        "trades.csv",
        "orders.csv",
    }
    summary = json.loads((week / "summary.json").read_text())
    assert summary["data"] == {"kind": "klines", "rows": 10_080, "warm_bars": 0}
    assert summary["counters"]["bars"] == 10_080 - 0  # every bar reached the strategy
    assert summary["counters"]["book_differences"] == 0  # books == engine after every fill
    assert summary["counters"]["denied"] == 0 and summary["counters"]["rejected_orders"] == 0
    m = summary["metrics"]
    assert m["fills"] > 50 and m["closed_trades"] > 50  # SMA 10/50 flips a few times a day
    assert len(rows(week / "equity.csv")) == 10_081  # the start, then one sample per bar
    orders = rows(week / "orders.csv")
    stops = [o for o in orders if o["type"] == "STOP_MARKET"]
    assert stops and all(o["close_position"] == "true" for o in stops)  # protective stops


def test_summary_metrics_equal_a_recomputation_from_the_csvs(week):
    m = json.loads((week / "summary.json").read_text())["metrics"]
    eq = rows(week / "equity.csv")
    t = [int(r["time_ms"]) for r in eq]
    e = [float(r["equity"]) for r in eq]
    pos = [float(r["position"]) for r in eq]
    fills = rows(week / "trades.csv")

    r = [e[i] / e[i - 1] - 1 for i in range(1, len(e))]
    per_year = YEAR_MS / median(t[i] - t[i - 1] for i in range(1, len(t)))
    mean = sum(r) / len(r)
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (len(r) - 1))
    down = math.sqrt(sum(min(x, 0) ** 2 for x in r) / len(r))
    peak, dd = e[0], []
    for ei in e:
        peak = max(peak, ei)
        dd.append(1 - ei / peak)
    worst = max(dd)
    # Underwater stretches: from the sample before the stretch (its peak) to the first sample
    # after it (back at the peak), or to the last sample when the curve never gets back.
    longest, i = 0, 0
    while i < len(e):
        if dd[i] > 0:
            j = i
            while j < len(e) and dd[j] > 0:
                j += 1
            longest = max(longest, t[min(j, len(e) - 1)] - t[i - 1])
            i = j
        else:
            i += 1
    ann = (e[-1] / e[0]) ** (YEAR_MS / (t[-1] - t[0])) - 1
    # Closed round trips, each its PnL less its fees (a reversal's fee split by quantity).
    results = [float(x) for x in round_trips(fills)[0]]
    sharpe_daily, sortino_daily = daily_ratios(t, e)
    wins = sum(x for x in results if x > 0)
    losses = -sum(x for x in results if x < 0)

    expected = {
        "starting_equity": 10_000.0,
        "final_equity": e[-1],
        "total_return": e[-1] / e[0] - 1,
        "annualized_return": ann,
        "sharpe": mean / sd * math.sqrt(per_year),
        "sortino": mean / down * math.sqrt(per_year),
        "sharpe_daily": sharpe_daily,
        "sortino_daily": sortino_daily,
        "max_drawdown": worst,
        "calmar": ann / worst,
        "max_drawdown_duration_ms": longest,
        "win_rate": sum(1 for x in results if x > 0) / len(results),
        "profit_factor": wins / losses,
        "expectancy": sum(results) / len(results),
        "exposure": sum(1 for p in pos if p) / len(pos),
        "turnover": sum(abs(float(f["price"]) * float(f["qty"])) for f in fills) / e[0],
        "fees": sum(float(f["commission"]) for f in fills),
        "funding": 0.0,
        "fills": len(fills),
        "closed_trades": len(results),
    }
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert [float(x["drawdown"]) for x in eq] == pytest.approx(dd, abs=1e-15)
    # The wallet identity: final equity = start + realized - fees when the run ends flat, and
    # in any case the fills' money adds up to the wallet the books report at the last sample.
    realized = sum(float(f["realized_pnl"]) for f in fills)
    if pos[-1] == 0:
        assert e[-1] == pytest.approx(10_000 + realized - expected["fees"], abs=1e-6)


def test_two_runs_are_identical(tmp_path):
    knobs = ("--latency-ms", "250", "--slippage-bps", "2", "--end", "2025-05-07")
    a = run(tmp_path / "a", *knobs)
    b = run(tmp_path / "b", *knobs)
    for name in ("summary.json", "equity.csv", "trades.csv", "orders.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_latency_and_slippage_cost_money_and_are_reported(tmp_path):
    base = json.loads((run(tmp_path / "0", "--end", "2025-05-07") / "summary.json").read_text())
    worse = json.loads(
        (
            run(tmp_path / "1", "--end", "2025-05-07", "--slippage-bps", "5") / "summary.json"
        ).read_text()
    )
    assert worse["settings"]["slippage_bps"] == "5"
    assert worse["metrics"]["final_equity"] < base["metrics"]["final_equity"]
    late = run(tmp_path / "2", "--end", "2025-05-07", "--latency-ms", "1500")
    fills = rows(late / "trades.csv")
    orders = {o["client_order_id"]: o for o in rows(late / "orders.csv")}
    first = fills[0]
    # Sent at a bar's close (…59_999), it reaches the engine 1.5 s later, in the next bar.
    assert int(orders[first["client_order_id"]]["submitted_ms"]) % 60_000 == 59_999
    assert int(first["time_ms"]) == int(orders[first["client_order_id"]]["submitted_ms"]) + 1500


def test_trades_data_run_tick_by_tick(tmp_path):
    out = tmp_path / "t"
    argv = ["--data", str(TRADES), "--fast", "2", "--slow", "3", "--out", str(out)]
    assert cli.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"] == {"kind": "trades", "rows": 21_313, "warm_bars": 0}
    # 1m bars built from the trades: 23:54 .. 23:58 are closed by a later trade; the last
    # minute (23:59) has none after it, so it never closes.
    assert summary["counters"]["bars"] == 5
    assert summary["counters"]["trades"] == 21_313


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--data", "/nonexistent/klines.csv"], "data file not found"),
        (["--data", str(KLINES), "--start", "2030-01-01"], "no rows"),
        (["--data", str(KLINES), "--strategy", "nope"], "unknown strategy 'nope'"),
        (["--data", str(KLINES), "--start", "yesterday"], "bad time"),
        (
            ["--data", str(KLINES), "--strategy", "rsi_macd", "--model", "models/btcusdt-1m"],
            "--model is for --strategy logistic_regression; rsi_macd takes no model",
        ),
    ],
)
def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys, argv, says):
    assert cli.main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
    assert not (tmp_path / "o").exists()


def test_data_given_twice_exits_2_naming_the_flag_before_any_run(tmp_path, capsys):
    """Two --data files once ran on the last one alone, in silence."""
    argv = ["--data", str(KLINES), "--data", "/elsewhere/klines.csv", "--out", str(tmp_path / "o")]

    with pytest.raises(SystemExit) as done:
        cli.main(argv)

    assert done.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "backtest_trading_strategy.py: error: --data given twice: it takes one value"
    )
    assert not (tmp_path / "o").exists()


def test_config_runs_the_backtest_under_the_daemons_risk_limits(tmp_path, capsys):
    """`--config` takes the [risk] section the daemon trades under: here a 1 % drawdown limit,
    which halts the run, and caps of 3,000 USDT; the summary shows the limits used."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "[risk]\nmax_drawdown_pct = 1\nmax_order_notional_usdt = 3000\n"
        "max_position_notional_usdt = 3000\nmax_total_notional_usdt = 3000\n"
        'kill_switch_file = "KILL"\n'
        '[strategy]\nname = "sma_crossover"\norder_notional_usdt = 1000\n'
    )
    out = run(tmp_path, "--config", str(cfg))

    summary = json.loads((out / "summary.json").read_text())
    risk = summary["settings"]["risk"]
    assert (risk["max_drawdown_pct"], risk["max_order_notional_usdt"]) == ("1", "3000")
    assert (risk["max_daily_loss_usdt"], risk["max_daily_loss_pct"]) == ("300", "5")  # defaults
    assert risk["kill_switch_file"] is None  # nobody touches a file during a backtest
    assert summary["trading_state"]["at_end"] == "HALTED"
    assert "max drawdown" in summary["trading_state"]["reason"]
    assert "risk: trading HALTED at the end" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (None, "--config {cfg}: config file {cfg} does not exist"),
        ('[risk]\nmax_drawdown_pct = "x"\n', 'risk.max_drawdown_pct = "x" is not allowed'),
        ("[risk]\nmax_drawdown = 5\n", "max_drawdown"),
    ],
)
def test_a_bad_config_exits_2_with_one_line(tmp_path, capsys, text, says):
    cfg = tmp_path / "config.toml"
    if text is not None:
        cfg.write_text(text)
    argv = ["--data", str(KLINES), "--config", str(cfg), "--out", str(tmp_path / "o")]

    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says.format(cfg=cfg) in err
    assert not (tmp_path / "o").exists()


def test_a_notional_above_the_configs_order_cap_exits_2_before_the_run(tmp_path, capsys):
    """--notional 1000 over the config's under a [risk] max_order_notional_usdt of 500 (the
    daemon's default, config.example.toml's): every entry would be denied, a run of 0 fills.
    The daemon refuses such a config; the backtest says so too, before reading the data."""
    cfg = tmp_path / "config.toml"
    cfg.write_text("[risk]\nmax_order_notional_usdt = 500\n")
    argv = ["--data", str(KLINES), "--config", str(cfg), "--notional", "1000"]
    argv += ["--out", str(tmp_path / "o")]

    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "backtest_trading_strategy.py: error: --notional 1000 is above "
        f"max_order_notional_usdt 500 of --config {cfg}: every entry would be denied (give "
        "--notional 500 or less)"
    ]
    assert not (tmp_path / "o").exists()


def test_a_param_notional_above_the_configs_order_cap_exits_2_naming_the_param(tmp_path, capsys):
    """The same size given as `--param order_notional_usdt=2000` (a TOML integer, not the
    Decimal --notional makes) ran 0 fills past the check."""
    cfg = tmp_path / "config.toml"
    cfg.write_text("[risk]\nmax_order_notional_usdt = 500\n")
    argv = ["--data", str(KLINES), "--config", str(cfg), "--param", "order_notional_usdt=2000"]

    assert cli.main([*argv, "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "backtest_trading_strategy.py: error: --param order_notional_usdt=2000 is above "
        f"max_order_notional_usdt 500 of --config {cfg}: every entry would be denied (give "
        "--param order_notional_usdt=500 or less)"
    ]
    assert not (tmp_path / "o").exists()


SOL_INFO = (
    ROOT
    / "tests/fixtures/binance_api/rest"
    / ("GET_fapi_v1_exchangeInfo__SOLUSDT_2021-07-22__cryptofeed.json")
)


def _sol_klines(path: Path, bars: int = 600) -> Path:
    """1m klines of a made-up SOLUSDT path on its 0.001 tick: a slow wave, so the SMAs cross."""
    lines = ["open_time,open,high,low,close,volume"]
    t0 = 1_746_000_000_000 - 1_746_000_000_000 % 60_000
    prev = 150_000  # in ticks of 0.001
    for i in range(bars):
        close = 150_000 + round(3_000 * math.sin(i / 40))
        hi, lo = max(prev, close) + 20, min(prev, close) - 20
        lines.append(
            f"{t0 + i * 60_000},{prev / 1000:.3f},{hi / 1000:.3f},{lo / 1000:.3f},"
            f"{close / 1000:.3f},1000"
        )
        prev = close
    path.write_text("\n".join(lines) + "\n")
    return path


def test_exchange_info_trades_a_symbol_the_bundled_one_lacks_on_its_own_filters(tmp_path):
    data = _sol_klines(tmp_path / "sol.csv")
    out = tmp_path / "out"
    argv = ["--data", str(data), "--symbol", "SOLUSDT", "--fast", "3", "--slow", "7"]

    assert cli.main([*argv, "--exchange-info", str(SOL_INFO), "--out", str(out)]) == 0

    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["exchange_info"] == str(SOL_INFO)
    entries = [r for r in rows(out / "orders.csv") if r["type"] == "MARKET"]
    assert len(entries) >= 4 and {r["symbol"] for r in entries} == {"SOLUSDT"}
    # SOLUSDT's lot step of 1 in that exchangeInfo: 1,000 USDT at ~150 is 6 SOL, a reversal 12
    assert {r["quantity"] for r in entries} <= {"6", "7", "12", "13", "14"}
    assert all(Decimal(r["quantity"]) == Decimal(r["quantity"]).to_integral() for r in entries)


@pytest.mark.parametrize(
    ("info", "says"),
    [
        (
            None,
            "unknown symbol 'SOLUSDT': the bundled exchangeInfo has BTCUSDT, ETHUSDT "
            "(--exchange-info: a saved GET /fapi/v1/exchangeInfo answer)",
        ),
        ("missing.json", "cannot read exchangeInfo file missing.json: No such file or directory"),
        ("README.md", "README.md is not a GET /fapi/v1/exchangeInfo answer (JSONDecodeError"),
        (str(SOL_INFO), "unknown symbol 'XRPUSDT': " + str(SOL_INFO) + " has SOLUSDT"),
    ],
)
def test_an_unknown_symbol_or_a_bad_exchange_info_exits_2_with_one_line(
    tmp_path, capsys, monkeypatch, info, says
):
    monkeypatch.chdir(ROOT)
    symbol = "XRPUSDT" if info == str(SOL_INFO) else "SOLUSDT"
    argv = ["--data", str(_sol_klines(tmp_path / "d.csv", 60)), "--symbol", symbol]
    if info is not None:
        argv += ["--exchange-info", info]

    assert cli.main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (
            ["--slow", "20000"],
            "no order: the strategy proposed nothing over 10080 klines (not warm within the "
            "data? e.g. a --slow longer than it)",
        ),
        (
            ["--notional", "50"],  # 0.0005 BTC at ~95,000: half of the 0.001 lot step
            "no order: every target of the strategy was less than one lot from the position "
            "(BTCUSDT: lot step 0.001, minimum notional 10 USDT); a larger --notional trades",
        ),
    ],
)
def test_a_run_without_a_single_order_says_why(tmp_path, capsys, extra, says):
    run(tmp_path, *extra)
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == says and ", 0 fills," in out[-2]


class OtherSymbol(StrategyBase):
    """Targets ETHUSDT on every bar, in a backtest of BTCUSDT."""

    name = "other_symbol"

    def on_bar(self, bar: Bar, view: AccountView) -> Proposals:
        return (TargetPosition(symbol="ETHUSDT", qty=Decimal("0.01")),)


def test_a_run_whose_targets_are_all_for_another_symbol_says_so(tmp_path, capsys):
    # It said "every target of the strategy was less than one lot from the position".
    run(tmp_path, "--strategy", f"{__name__}:OtherSymbol", "--end", "2025-05-05T01:00")
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        "no order: 60 of the strategy's 60 proposals were for another symbol than BTCUSDT, "
        "the one this backtest trades (--symbol), and were ignored"
    )


class CancelsOnly(StrategyBase):
    """Cancels an order it never placed, on every bar."""

    name = "cancels_only"

    def on_bar(self, bar: Bar, view: AccountView) -> Proposals:
        return (CancelProposal(symbol=bar.symbol, client_order_id="mine-1"),)


class Silent(StrategyBase):
    """Proposes nothing, ever."""


def test_a_silent_strategy_of_ones_own_is_not_pointed_at_the_sma_crossovers_flag(tmp_path, capsys):
    # It said "e.g. a --slow longer than it", a flag of sma_crossover's.
    run(tmp_path, "--strategy", f"{__name__}:Silent", "--end", "2025-05-05T01:00")
    assert capsys.readouterr().out.splitlines()[-1] == (
        "no order: the strategy proposed nothing over 60 klines (not warm within the data? "
        "e.g. a lookback longer than it)"
    )


def test_a_run_whose_proposals_are_all_refused_cancels_says_so(tmp_path, capsys):
    # It said "every target of the strategy was less than one lot from the position", of a
    # strategy that had set no target.
    run(tmp_path, "--strategy", f"{__name__}:CancelsOnly", "--end", "2025-05-05T01:00")
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        "no order: the strategy proposed only cancels (60), and no order of its own was open "
        "to cancel (--journal DIR keeps each CancelDenied's reason)"
    )


def test_a_warm_up_shorter_than_the_strategy_asks_is_said(tmp_path, capsys):
    # 10 bars before --start, 50 asked (--slow 50): only summary.json's data.warm_bars said it.
    out = run(tmp_path, "--start", "2025-05-05T00:10", "--end", "2025-05-05T02:00")
    lines = capsys.readouterr().out.splitlines()

    assert (
        "strategy: warmed with 10 of the 50 bars it asks (warmup_bars): the data holds no more "
        "before --start; it was not warm until the run's bars made up the rest"
    ) in lines
    assert json.loads((out / "summary.json").read_text())["data"]["warm_bars"] == 10


def test_a_short_warm_up_asking_past_the_cap_blames_the_data_when_the_data_ran_out(
    tmp_path, capsys
):
    # 10 bars before --start, 2,000 asked (--slow 2000): it said "a warm-up reads at most
    # 1,500 bars", of a warm-up that got 10, the data having no more.
    run(tmp_path, "--slow", "2000", "--start", "2025-05-05T00:10", "--end", "2025-05-05T02:00")
    lines = capsys.readouterr().out.splitlines()

    assert (
        "strategy: warmed with 10 of the 2000 bars it asks (warmup_bars): the data holds no more "
        "in the 1,500 minutes a warm-up reads; it was not warm until the run's bars made up the "
        "rest"
    ) in lines


def test_a_whole_warm_up_says_nothing(tmp_path, capsys):
    run(tmp_path, "--start", "2025-05-05T01:00", "--end", "2025-05-05T02:00")
    assert "warmed with" not in capsys.readouterr().out


def test_the_script_exits_2_in_a_real_process(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "backtest_trading_strategy.py"),
            "--data",
            "missing.csv",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "backtest_trading_strategy.py: error: data file not found: missing.csv"
    ]


def test_store_files_give_the_same_backtest_as_the_csv(tmp_path):
    """The week imported into a market_history store (one Parquet file per day) and read
    back from the store's folder: the same bars, so the same summary."""
    from market_history.importers import import_file
    from market_history.schema import Kind
    from market_history.store import HistoryStore

    store = HistoryStore(tmp_path / "store")
    kind = Kind.klines("1m")
    assert import_file(store, KLINES, symbol="BTCUSDT", kind=kind, layout="ohlcv") == 10_080
    folder = tmp_path / "store" / "BTCUSDT" / kind.key
    a = run(tmp_path / "csv", "--end", "2025-05-07")
    out = tmp_path / "parquet"
    argv = ["--data", str(folder), "--end", "2025-05-07", "--out", str(out)]
    assert cli.main(argv) == 0
    assert (a / "trades.csv").read_bytes() == (out / "trades.csv").read_bytes()
    assert (a / "equity.csv").read_bytes() == (out / "equity.csv").read_bytes()


def test_a_history_stores_root_gives_the_same_backtest_as_its_symbols_folder(tmp_path):
    """`--data data_store`, the folder `fetch_historical.py --out data_store` writes: the
    --symbol's 1m klines in it are read, the same bars as given their folder."""
    from market_history.importers import import_file
    from market_history.schema import Kind
    from market_history.store import HistoryStore

    root = tmp_path / "data_store"
    import_file(
        HistoryStore(root), KLINES, symbol="BTCUSDT", kind=Kind.klines("1m"), layout="ohlcv"
    )
    outs = {}
    for name, data in (("root", root), ("folder", root / "BTCUSDT" / "klines-1m")):
        outs[name] = tmp_path / name
        argv = ["--data", str(data), "--symbol", "BTCUSDT", "--end", "2025-05-06",
                "--out", str(outs[name])]  # fmt: skip
        assert cli.main(argv) == 0
    summaries = [json.loads((out / "summary.json").read_text()) for out in outs.values()]
    assert (
        summaries[0]["data"]
        == summaries[1]["data"]
        == {
            "kind": "klines",
            "rows": 1_440,
            "warm_bars": 0,
        }
    )
    for name in ("trades.csv", "equity.csv"):
        assert (outs["root"] / name).read_bytes() == (outs["folder"] / name).read_bytes()


def test_a_history_store_without_the_symbols_1m_klines_says_what_it_holds(tmp_path, capsys):
    from market_history.download import agg_trades_table
    from market_history.importers import import_file
    from market_history.schema import Kind
    from market_history.store import HistoryStore
    from tests.gateway.fake_exchange import load_agg_trades

    store = HistoryStore(tmp_path / "data_store")
    store.write("BTCUSDT", Kind.agg_trades(), agg_trades_table(load_agg_trades()[:50]))
    import_file(store, KLINES, symbol="ETHUSDT", kind=Kind.klines("1m"), layout="ohlcv")
    argv = ["--data", str(store.root), "--symbol", "BTCUSDT", "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"backtest_trading_strategy.py: error: --data {store.root}: this history store has no "
        "BTCUSDT/klines-1m (it holds BTCUSDT/aggTrades, ETHUSDT/klines-1m)"
    ]
    assert not (tmp_path / "out").exists()


def test_a_folder_of_downloaded_csv_files_names_one_to_pass(tmp_path, capsys):
    """A folder of downloads (Binance's monthly files) is no history store: which file is
    meant is the user's to say; the line names one for the symbol and interval."""
    folder = tmp_path / "klines"
    folder.mkdir()
    for name in (
        "BTCUSDT-spot-1h-2017-08-17_2023-06-30.csv.gz",
        "BTCUSDT-um-1m-2025-01-27_2025-02-26.csv.gz",
        "ETHUSDT-spot-1m-2024-07-26_2024-08-25.csv.gz",
    ):
        (folder / name).write_bytes(b"")
    argv = ["--data", str(folder), "--symbol", "BTCUSDT", "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"backtest_trading_strategy.py: error: --data {folder}: a folder of 3 CSV file(s), not a "
        f"history store: --data takes one of them, e.g. --data "
        f"{folder / 'BTCUSDT-um-1m-2025-01-27_2025-02-26.csv.gz'}"
    ]
    for btc in folder.glob("BTCUSDT-*"):
        btc.unlink()
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"backtest_trading_strategy.py: error: --data {folder}: a folder of 1 CSV file(s), not a "
        "history store: --data takes one of them (none is named for BTCUSDT)"
    ]
    assert not (tmp_path / "out").exists()


def test_the_daemons_journal_can_be_written_too(tmp_path):
    """--journal: the same SQLite journal a live session writes, one row per order."""
    from book_keeper.journal import SqliteJournal

    out = run(tmp_path / "j", "--end", "2025-05-06", "--journal", str(tmp_path / "journal"))
    orders = rows(out / "orders.csv")
    with SqliteJournal(tmp_path / "journal") as journal:
        journaled = {o.client_order_id: o for o in journal.load_orders()}
        fills = journal.load_fills()
    assert set(journaled) == {o["client_order_id"] for o in orders}
    assert all(journaled[o["client_order_id"]].status == o["status"] for o in orders)
    assert len(fills) == len(rows(out / "trades.csv"))
    # why each order was sent / cancelled: the journal's export says what orders.csv says
    with SqliteJournal(tmp_path / "journal", readonly=True) as journal:
        [exported, _] = journal.export_csv(tmp_path / "audit")
    why = ("client_order_id", "why_sent", "why_cancelled")
    assert [tuple(o[k] for k in why) for o in rows(exported)] == [
        tuple(o[k] for k in why) for o in orders
    ]
    assert all(o["why_sent"] for o in orders) and any(o["why_cancelled"] for o in orders)


def _journal_rows(folder: Path) -> dict[str, list[tuple]]:
    with closing(sqlite3.connect(folder / "journal.sqlite3")) as db:
        return {
            table: db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("orders", "fills")
        }


def test_a_rerun_into_a_backtests_journal_replaces_it(tmp_path, capsys):
    """The README's command run twice: the second run's journal is that run's alone (not
    mixed into the first's, whose orders and fills would be kept where ids repeat)."""
    journal = tmp_path / "journal"
    run(tmp_path / "a", "--end", "2025-05-05T06:00", "--journal", str(journal))
    first = _journal_rows(journal)
    argv = ["--end", "2025-05-05T12:00", "--fast", "3", "--slow", "7"]
    run(tmp_path / "b", *argv, "--journal", str(journal))
    run(tmp_path / "c", *argv, "--journal", str(tmp_path / "fresh"))

    again = _journal_rows(journal)
    assert again == _journal_rows(tmp_path / "fresh")
    assert again != first and again["fills"]


def test_a_rerun_with_its_journal_in_its_out_folder_replaces_both(tmp_path, capsys):
    """`--out X --journal X`: the first run was taken and the same command again refused
    ("--journal X holds equity.csv, which is not a backtest journal's"), its own report."""
    out = tmp_path / "out"
    run(tmp_path, "--end", "2025-05-05T06:00", "--journal", str(out))
    first = _journal_rows(out)
    argv = ["--end", "2025-05-05T12:00", "--fast", "3", "--slow", "7"]
    run(tmp_path, *argv, "--journal", str(out))
    run(tmp_path / "c", *argv, "--journal", str(tmp_path / "fresh"))

    again = _journal_rows(out)
    assert again == _journal_rows(tmp_path / "fresh")
    assert again != first and again["fills"]
    assert rows(out / "orders.csv") == rows(tmp_path / "c" / "out" / "orders.csv")


def test_a_users_file_beside_a_backtests_report_and_journal_is_still_refused(tmp_path, capsys):
    out = tmp_path / "out"
    run(tmp_path, "--end", "2025-05-05T06:00", "--journal", str(out))
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()

    argv = ["--data", str(KLINES), "--end", "2025-05-05T12:00", "--journal", str(out)]
    assert cli.main([*argv, "--out", str(out)]) == 2

    assert capsys.readouterr().err == (
        f"backtest_trading_strategy.py: error: --journal {out} holds notes.txt, which is "
        "not a backtest journal's: give a new or empty folder, or one an earlier backtest "
        "wrote its journal into\n"
    )


def test_a_journal_no_backtest_wrote_is_refused_and_left_as_it_was(tmp_path, capsys):
    journal = tmp_path / "journal"
    with SqliteJournal(journal):  # as a daemon leaves it
        pass
    before = {p.name: p.read_bytes() for p in journal.iterdir()}

    argv = ["--data", str(KLINES), "--end", "2025-05-05T12:00", "--fast", "3", "--slow", "7"]
    status = cli.main([*argv, "--journal", str(journal), "--out", str(tmp_path / "b")])

    assert status == 2
    err = capsys.readouterr().err
    assert err == (
        f"backtest_trading_strategy.py: error: --journal {journal} holds a journal that no "
        "backtest "
        "wrote (a daemon's?): give a new folder (a backtest neither writes into nor removes "
        "such a journal)\n"
    )
    assert {p.name: p.read_bytes() for p in journal.iterdir()} == before
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("marked", [False, True])
def test_a_journal_folder_of_other_files_is_refused_and_left_as_it_was(tmp_path, capsys, marked):
    """The README's --journal: a new or empty folder, or an earlier backtest's. A folder of the
    user's files was taken, the journal written among them (and, marked as a backtest's,
    replaced at the next run)."""
    journal = tmp_path / "journal"
    if marked:  # an earlier backtest's folder the user then put a file into
        run(tmp_path / "a", "--end", "2025-05-05T06:00", "--journal", str(journal))
    journal.mkdir(exist_ok=True)
    (journal / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in journal.iterdir()}

    argv = ["--data", str(KLINES), "--end", "2025-05-05T12:00", "--journal", str(journal)]
    status = cli.main([*argv, "--out", str(tmp_path / "b")])

    assert status == 2
    assert capsys.readouterr().err == (
        f"backtest_trading_strategy.py: error: --journal {journal} holds notes.txt, which is "
        "not a backtest journal's: give a new or empty folder, or one an earlier backtest "
        "wrote its journal into\n"
    )
    assert {p.name: p.read_bytes() for p in journal.iterdir()} == before
    assert not (tmp_path / "b").exists()


def test_a_journal_path_that_is_a_file_is_refused_in_one_line(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")

    status = cli.main(
        ["--data", str(KLINES), "--journal", str(afile), "--out", str(tmp_path / "o")]
    )

    assert status == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"backtest_trading_strategy.py: error: --journal {afile} exists and is not a folder\n"
    )


SWEEP_TOML = """
metric = "total_return"
[grid]
fast = [5, 10]
slow = [20, 40]
"""


def test_a_sweep_from_the_command_line(tmp_path, capsys):
    """--sweep: sweep.csv (one row per grid point), a heatmap for the 2-D grid, the sweep in
    summary.json and report.html, the best point printed."""
    sweep = tmp_path / "grid.toml"
    sweep.write_text(SWEEP_TOML)
    out = run(tmp_path, "--end", "2025-05-06", "--sweep", str(sweep), "--jobs", "2")
    table = rows(out / "sweep.csv")
    assert [(r["fast"], r["slow"], r["phase"]) for r in table] == [
        ("5", "20", "full"),
        ("5", "40", "full"),
        ("10", "20", "full"),
        ("10", "40", "full"),
    ]
    best = max(table, key=lambda r: float(r["total_return"]))
    assert [r["selected"] for r in table].count("true") == 1 and best["selected"] == "true"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sweep"]["best"]["settings"] == {
        "fast": int(best["fast"]),
        "slow": int(best["slow"]),
    }
    assert (out / "sweep_heatmap.png").read_bytes().startswith(b"\x89PNG")
    assert "Parameter sweep" in (out / "report.html").read_text()
    printed = capsys.readouterr().out
    # The metric in percent, as every other return of the run (it printed 0.0004365).
    shown = f"{float(best['total_return']):+.4%}"
    assert (
        f"sweep best by total_return: fast={best['fast']} slow={best['slow']} -> total_return "
        f"{shown}, return {shown}"
    ) in printed


def test_a_sweep_says_which_grid_points_the_strategy_refused(tmp_path, capsys):
    """fast >= slow is no SMA crossover: the point is skipped, and the console says so."""
    sweep = tmp_path / "grid.toml"
    sweep.write_text('metric = "total_return"\n[grid]\nfast = [5, 30]\nslow = [20]\n')
    out = run(tmp_path, "--end", "2025-05-06", "--sweep", str(sweep))
    assert [(r["fast"], r["slow"]) for r in rows(out / "sweep.csv")] == [("5", "20")]
    printed = capsys.readouterr().out
    assert (
        "sweep: 1 of 2 grid points skipped, the strategy or the risk limits refuse it (first: "
        "fast=30 slow=20: " in printed
    )


def test_a_sweep_whose_metric_no_run_has_says_so(tmp_path, capsys):
    """win_rate is null without a closed trade: no best point, and the console says why."""
    sweep = tmp_path / "grid.toml"
    sweep.write_text(
        'metric = "win_rate"\n[grid]\nfast = [5, 10]\n'
        "[walk_forward]\ntrain_days = 0.125\ntest_days = 0.125\n"
    )
    # 1e9 USDT positions: every order is denied, no trade closes
    run(tmp_path, "--end", "2025-05-05T12:00", "--notional", "1e9", "--sweep", str(sweep))

    printed = capsys.readouterr().out
    assert (
        "walk-forward window 0: no in-sample run has a win_rate (null with no closed trade); "
        "the window is left out of the out-of-sample return" in printed
    )
    assert "walk-forward out-of-sample return: n/a" in printed


def test_a_walk_forward_window_of_one_day_says_why_it_has_no_daily_sharpe(tmp_path, capsys):
    """sharpe_daily is made of daily returns: a test window of one UTC day has one, and the
    out-of-sample value read "None" without a word."""
    sweep = tmp_path / "grid.toml"
    sweep.write_text(
        'metric = "sharpe_daily"\n[grid]\nfast = [10]\n'
        "[walk_forward]\ntrain_days = 2\ntest_days = 1\n"
    )
    run(tmp_path, "--end", "2025-05-08", "--sweep", str(sweep))

    printed = capsys.readouterr().out
    assert (
        "out-of-sample sharpe_daily n/a (null with fewer than two UTC days of returns), return "
        in printed
    )
    assert "out-of-sample sharpe_daily None" not in printed


def test_a_walk_forward_window_gives_the_buy_and_hold_of_its_test_range(tmp_path, capsys):
    # Each window's out-of-sample return came without the market's move over those hours, in
    # the console, summary.json and report.html alike.
    sweep = tmp_path / "grid.toml"
    sweep.write_text(
        'metric = "total_return"\n[grid]\nfast = [10]\n'
        "[walk_forward]\ntrain_days = 0.25\ntest_days = 0.25\n"
    )
    out = run(tmp_path, "--end", "2025-05-05T12:00", "--sweep", str(sweep))

    (window,) = json.loads((out / "summary.json").read_text())["sweep"]["walk_forward"]["windows"]
    held = window["test_buy_and_hold_return"]
    test_rows = [r for r in rows(out / "sweep.csv") if r["phase"] == "test"]
    assert [float(r["buy_and_hold_return"]) for r in test_rows] == [held]
    assert f"return {window['test_total_return']:+.4%} (buy and hold {held:+.4%})\n" in (
        capsys.readouterr().out
    )
    page = (out / "report.html").read_text()
    assert "<th>buy and hold</th>" in page and f"{held:+.3%}" in page


def test_a_sweep_ranked_by_sharpe_on_data_under_a_day_is_refused_before_the_run(
    tmp_path, capsys, monkeypatch
):
    """The sweep's default metric is the per-bar Sharpe, which a run under a day does not have
    (metrics.MIN_ANNUALIZED_SPAN_MS): every point was None and none picked, after the main
    run and every point had run. Exit 2, one line, before the main run."""
    sweep = tmp_path / "grid.toml"
    sweep.write_text("[grid]\nfast = [5, 10]\n")  # metric: sharpe by default
    monkeypatch.setattr(cli, "run_backtest", lambda *a, **k: pytest.fail("the main run ran"))
    argv = ["--data", str(KLINES), "--end", "2025-05-05T06:00", "--sweep", str(sweep)]

    assert cli.main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "backtest_trading_strategy.py: error: the sweep's metric 'sharpe' is annualized, and "
        "the data to trade spans 6 h (under a day): no run has annualized figures; rank by "
        "total_return (or another metric that is not annualized) in the sweep file"
    )
    assert not (tmp_path / "out").exists()


def test_a_sweep_without_a_best_point_says_so(tmp_path, capsys):
    sweep = tmp_path / "grid.toml"
    sweep.write_text('metric = "win_rate"\n[grid]\nfast = [5, 10]\n')

    run(tmp_path, "--end", "2025-05-05T06:00", "--notional", "1e9", "--sweep", str(sweep))

    printed = capsys.readouterr().out
    assert "sweep: no run has a win_rate (null in every run: no closed trade)" in printed


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--sweep", "/nonexistent/grid.toml"], "sweep file /nonexistent/grid.toml not found"),
        (["--sweep", "BAD"], "bad sweep file"),
        (["--monte-carlo", "-1"], "--monte-carlo must be >= 0"),
        (["--jobs", "0"], "--jobs must be >= 1"),
        (["--mc-slippage-bps", "x"], "bad --mc-slippage-bps"),
        # Each went unused without a word.
        (["--mc-latency-ms", "50"], "--mc-latency-ms is for --monte-carlo N (N > 0)"),
        (["--monte-carlo", "0", "--mc-slippage-bps", "3"], "--mc-slippage-bps is for --monte"),
        (["--jobs", "2"], "--jobs is for --monte-carlo or --sweep: one run is not spread"),
        (["--dask-scheduler", "tcp://127.0.0.1:1"], "--dask-scheduler is for --monte-carlo or"),
    ],
)
def test_bad_robustness_inputs_exit_2_with_one_line(tmp_path, capsys, extra, says):
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid]\nfast = 5\n")
    extra = [str(bad) if x == "BAD" else x for x in extra]
    argv = ["--data", str(KLINES), "--out", str(tmp_path / "o"), *extra]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert not (tmp_path / "o").exists()


def test_an_unreachable_dask_scheduler_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    import socket

    from backtest import robustness

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(robustness, "DASK_CONNECT_TIMEOUT_S", 1)
    sweep = tmp_path / "grid.toml"
    sweep.write_text(SWEEP_TOML)
    argv = ["--data", str(KLINES), "--end", "2025-05-05T02:00", "--out", str(tmp_path / "o")]
    address = f"tcp://127.0.0.1:{port}"
    assert cli.main([*argv, "--sweep", str(sweep), "--dask-scheduler", address]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot reach the Dask scheduler at {address}" in err
    assert not (tmp_path / "o").exists()


ETH_KLINES = ROOT / "exchange_sim/data/klines/ETHUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
SHIPPED_MODEL = ROOT / "models/btcusdt-1m"  # a BTCUSDT 1m model without the flow features


def _model(tmp_path: Path, **changes: object) -> Path:
    from model.registry import resolve_model_path

    doc = json.loads(resolve_model_path(SHIPPED_MODEL).read_text())
    doc.update(changes)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("data", "symbol", "changes", "says"),
    [
        (
            ETH_KLINES,
            "ETHUSDT",
            {},
            "the model was trained on BTCUSDT, the strategy trades ETHUSDT; "
            "use a model trained on ETHUSDT",
        ),
        (
            KLINES,
            "BTCUSDT",
            {"interval": "5m"},
            # It ended '(strategy.bar_interval)', a setting the backtester has not.
            "the model was trained on 5m bars, the strategy gets 1m bars (strategy.bar_interval "
            "in the daemon's config; the backtester and model.review replay 1m bars: train it "
            "with --interval 1m for them)",
        ),
        (
            KLINES,
            "BTCUSDT",
            {"feature_config": {"flow": True, "warmup_bars": 61}},
            "the model was trained with the taker-flow features (flow on), and these bars carry "
            "no taker buy volume or trade count",
        ),
    ],
)
def test_a_model_trained_on_other_bars_exits_2_with_one_line(
    tmp_path, capsys, data, symbol, changes, says
):
    # The backtest replays 1m klines of --symbol without taker volume: a model trained for
    # another symbol, interval or with the flow features was run on them anyway.
    argv = ["--data", str(data), "--symbol", symbol, "--strategy", "logistic_regression",
            "--model", str(_model(tmp_path, **changes)), "--start", "2025-05-11",
            "--out", str(tmp_path / "o")]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"backtest_trading_strategy.py: error: {says}") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_a_run_halted_by_the_daily_loss_limit_says_so(tmp_path, capsys):
    # 5,000 USDT positions lose more than the daemon's default 300 USDT in a UTC day: the
    # RiskManager halts trading and denies the strategy's later orders.
    out = run(tmp_path, "--notional", "5000")

    printed = capsys.readouterr().out
    state = json.loads((out / "summary.json").read_text())["trading_state"]
    assert state["at_end"] == "HALTED" and state["reason"].startswith("max daily loss: lost")
    assert state["reason"].endswith("(max 300 USDT)")
    assert "risk: trading HALTED at the end (max daily loss" in printed
    page = (out / "report.html").read_text()
    assert re.search(
        r"Trading HALTED at the end since 2025-05-\d\d \d\d:\d\d:59\.999 UTC: max daily loss", page
    )


def test_a_run_halted_by_the_drawdown_limit_says_so(tmp_path, capsys):
    # With the daily limits out of the way (a config file), the same positions lose 10 % of
    # the 10,000 USDT wallet by 2025-05-10: the default drawdown limit halts.
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "[risk]\nmax_daily_loss_usdt = 100000\nmax_daily_loss_pct = 0\n"
        "max_order_notional_usdt = 15000\nmax_position_notional_usdt = 15000\n"
        "max_total_notional_usdt = 15000\n"
        '[strategy]\nname = "sma_crossover"\norder_notional_usdt = 5000\n'
    )
    out = run(tmp_path, "--config", str(cfg))

    printed = capsys.readouterr().out
    state = json.loads((out / "summary.json").read_text())["trading_state"]
    assert state["at_end"] == "HALTED" and state["reason"].startswith("max drawdown")
    assert "risk: trading HALTED at the end (max drawdown" in printed
    # When: the drawdown's change, then HALTED once flat, at a bar of the run (equity.csv's).
    changes = state["changes"]
    steps = [(c["from"], c["to"]) for c in changes]
    assert steps == [("ACTIVE", "REDUCING"), ("REDUCING", "HALTED")]
    assert changes[0]["reason"] == state["reason"]
    assert changes[1]["reason"] == f"flat and no open orders; halted after: {state['reason']}"
    with open(out / "equity.csv") as f:
        bars = {int(row["time_ms"]): row for row in csv.DictReader(f)}
    assert changes[0]["time_ms"] <= changes[1]["time_ms"] and changes[1]["time_ms"] in bars
    assert bars[changes[1]["time_ms"]]["position"] == "0.0"  # flat when halted
    when = datetime.fromtimestamp(changes[1]["time_ms"] // 1000, UTC)
    exact = f"{when:%Y-%m-%d %H:%M:%S}.{changes[1]['time_ms'] % 1000:03d}"
    assert exact.endswith(":59.999")  # a bar's close
    assert (
        f"Trading HALTED at the end since {exact} UTC: max drawdown"
        in (out / "report.html").read_text()
    )


def test_a_run_whose_orders_risk_denies_says_how_many(tmp_path, capsys):
    out = run(tmp_path, "--notional", "1e9", "--end", "2025-05-05T06:00", "--no-html")

    summary = json.loads((out / "summary.json").read_text())
    denied = summary["counters"]["denied"]
    assert summary["metrics"]["fills"] == 0 and denied == summary["counters"]["decisions"] > 0
    assert f"risk: {denied} of {denied} decisions denied" in capsys.readouterr().out


def test_a_run_without_fills_gives_its_fees_as_a_decimal_number_as_any_run(tmp_path, capsys):
    out = run(tmp_path, "--notional", "1e9", "--end", "2025-05-05T06:00", "--no-html")

    text = (out / "summary.json").read_text()
    m = json.loads(text)["metrics"]
    assert m["fills"] == 0 and type(m["fees"]) is float and m["fees"] == 0.0
    assert '"fees": 0.0,' in text  # as "funding": 0.0 beside it; it read "fees": 0


def test_a_run_whose_orders_risk_denies_says_the_first_reason(tmp_path, capsys):
    # It said only how many, and sent the user to rerun with --journal and read its SQLite.
    run(tmp_path, "--notional", "1e9", "--end", "2025-05-05T06:00", "--no-html")

    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("risk: "))
    assert line.startswith("risk: 307 of 307 decisions denied; the first at 2025-05-05 00:49 UTC")
    assert ": BUY MARKET: leverage 9466.78x (total notional " in line


NO_PRICE_STRATEGY = """
from core.enums import OrderType, Side
from core.orders import OrderProposal
from trading_engine.main_trading_strategy import StrategyBase


class NoPrice(StrategyBase):
    name = "no_price"

    def on_bar(self, bar, view):
        qty = self.order_notional_usdt / bar.close
        return (OrderProposal(symbol=bar.symbol, side=Side.BUY, type=OrderType.LIMIT,
                              quantity=qty, reason="a limit without a price"),)
"""


def test_a_run_under_a_day_gives_no_annualized_figures_and_says_why(tmp_path, capsys):
    # 30 minutes of the week: the annualized return of its per-minute curve was a number of
    # thousands of percent either way, and the Sharpe and Sortino x sqrt(525,600) alike.
    out = run(tmp_path, "--end", "2025-05-05T00:30", "--fast", "3", "--slow", "5")

    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    why = (
        "the run spans 30 min, under the 1 day below which a yearly figure is an extrapolation "
        "that says nothing"
    )
    assert [metrics[k] for k in ("annualized_return", "sharpe", "sortino", "calmar")] == [None] * 4
    assert metrics["not_annualized_reason"] == why
    assert metrics["total_return"] != 0  # it traded: the figures were there to be absurd
    printed = capsys.readouterr().out.splitlines()
    assert printed[1] == f"annualized return, sharpe, sortino and calmar: n/a ({why})"
    page = (out / "report.html").read_text()
    assert "<th>annualized_return</th><td>n/a</td>" in page
    assert f"<th>not_annualized_reason</th><td>{why}</td>" in page


def test_a_run_whose_orders_are_all_rejected_says_how_many_and_why(tmp_path, capsys):
    # It printed `return +0.0000%, 0 fills` only, as a strategy that chose not to trade.
    strategy = tmp_path / "no_price.py"
    strategy.write_text(NO_PRICE_STRATEGY)
    run(tmp_path, "--strategy", f"{strategy}:NoPrice", "--end", "2025-05-05T06:00", "--no-html")

    lines = capsys.readouterr().out.splitlines()

    assert lines[1].startswith("annualized return, sharpe, sortino and calmar: n/a")  # hours
    assert lines[2:] == [
        "orders: 360 of 360 rejected, most often (360): LIMIT needs a price "
        "(orders.csv keeps each reason)"
    ]


POST_ONLY_STRATEGY = """
from decimal import Decimal
from core.enums import OrderType, Side, TimeInForce
from core.orders import OrderProposal
from trading_engine.main_trading_strategy import StrategyBase


class Crossing(StrategyBase):
    name = "crossing"

    def on_bar(self, bar, view):
        return (OrderProposal(symbol=bar.symbol, side=Side.BUY, type=OrderType.LIMIT,
                              quantity=Decimal("0.001"), price=bar.close + 100,
                              time_in_force=TimeInForce.GTX, reason="post-only above the market"),)
"""


def test_post_only_refusals_are_said_short_and_kept_whole_in_orders_csv(tmp_path, capsys):
    """-5022's own words are two sentences ("Due to the order could not be executed as maker,
    the Post Only order will be rejected. The order will not ...") on the console's line."""
    strategy = tmp_path / "crossing.py"
    strategy.write_text(POST_ONLY_STRATEGY)
    out = run(tmp_path, "--strategy", f"{strategy}:Crossing", "--end", "2025-05-05T01:00",
              "--no-html")  # fmt: skip

    lines = capsys.readouterr().out.splitlines()

    assert lines[1].startswith("annualized return, sharpe, sortino and calmar: n/a")  # hours
    assert lines[2:] == [
        "orders: 60 of 60 rejected, most often (60): -5022 post-only, it would have matched at "
        "once as taker (orders.csv keeps each reason)"
    ]
    reasons = {row["reason"] for row in rows(out / "orders.csv")}
    assert reasons == {
        "-5022 Due to the order could not be executed as maker, the Post Only order will be "
        "rejected. The order will not be recorded in the order history"
    }


def test_funding_auto_without_bundled_rates_for_the_data_says_none_were_settled(tmp_path, capsys):
    # The bundled BTCUSDT funding rates run from 2025-03-06 to 2025-06-03; a file of the same
    # week moved a year back (2024-05) has none.
    import gzip

    year_ms = 366 * 86_400_000
    with gzip.open(KLINES, "rt") as fh:
        lines = fh.read().splitlines()[:361]
    moved = [lines[0]] + [",".join([str(int(r.split(",")[0]) - year_ms), *r.split(",")[1:]])
                          for r in lines[1:]]  # fmt: skip
    data = tmp_path / "BTCUSDT-2024.csv"
    data.write_text("\n".join(moved) + "\n")

    argv = ["--data", str(data), "--funding", "auto", "--out", str(tmp_path / "o"), "--no-html"]
    assert cli.main(argv) == 0

    printed = capsys.readouterr().out
    assert "funding: no bundled funding rates of BTCUSDT overlap the data: none settled" in printed
    assert (
        json.loads((tmp_path / "o" / "summary.json").read_text())["settings"]["funding"] == "none"
    )


def test_funding_rates_that_end_before_the_data_say_how_many_settlements_were_left_out(
    tmp_path, capsys
):
    # The rates stop at 2025-05-05 00:00; the run 00:00 .. 17:00 settles at 00:00, 08:00 and
    # 16:00: the last two at rate 0, which the console, summary.json and the report say.
    funding = tmp_path / "f.csv"
    funding.write_text("time,funding_rate\n1746403200000,0.0001\n")

    out = run(tmp_path, "--end", "2025-05-05T17:00", "--funding", str(funding))

    said = (
        f"{funding} records rates from 2025-05-05 00:00 UTC to 2025-05-05 00:00 UTC; 2 of the "
        "run's 3 settlements fall outside it and were settled at rate 0"
    )
    assert f"funding: {said}\n" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["funding_unrecorded"] == {
        "file": str(funding),
        "settlements": 3,
        "unrecorded": 2,
        "recorded_from_ms": 1746403200000,
        "recorded_to_ms": 1746403200000,
    }
    assert html.escape(f"Funding: {said}.") in (out / "report.html").read_text()


def test_funding_rates_covering_the_data_add_no_line(tmp_path, capsys):
    out = run(tmp_path, "--end", "2025-05-05T17:00", "--funding", "auto", "--no-html")

    assert "funding:" not in capsys.readouterr().out
    assert "funding_unrecorded" not in json.loads((out / "summary.json").read_text())


def test_a_model_backtest_names_the_model_file_and_its_sha256(tmp_path, capsys):
    # `--model models/btcusdt-1m` names a registry: any of its versions. The report named only
    # that directory, so which model made the figures could not be told afterwards.
    import hashlib

    promoted = json.loads((SHIPPED_MODEL / "PROMOTED").read_text())["promoted"]
    model_file = SHIPPED_MODEL / "versions" / promoted / "model.json"
    sha = hashlib.sha256(model_file.read_bytes()).hexdigest()
    out = tmp_path / "o"
    argv = ["--data", str(KLINES), "--symbol", "BTCUSDT", "--strategy", "logistic_regression",
            "--model", str(SHIPPED_MODEL), "--start", "2025-05-11T20:00", "--out", str(out),
            "--no-progress"]  # fmt: skip

    assert cli.main(argv) == 0

    model = json.loads((out / "summary.json").read_text())["model"]
    assert model == {"path": str(model_file), "sha256": sha, "version": promoted}
    printed = capsys.readouterr().out
    assert f"model: {model_file} (sha256 {sha}, registry version {promoted})" in printed
    assert sha in (out / "report.html").read_text()


def test_a_rule_based_backtest_has_no_model_section(tmp_path):
    out = run(tmp_path, "--end", "2025-05-05T06:00", "--no-html")
    assert "model" not in json.loads((out / "summary.json").read_text())


def test_the_trading_state_lines_start_their_own_line_under_the_progress_bar(tmp_path):
    """A run a loss limit halts logs `trading state ... -> HALTED`; with the progress bar on
    screen the line was glued to the bar's (`0/10080 [00:00<?, ?bar/s]trading state ...`).
    A real process: under pytest the log lines go to its capture, not to stderr."""
    config = tmp_path / "halting.toml"
    config.write_text('[strategy]\nname = "sma_crossover"\n[risk]\nmax_drawdown_pct = 0.1\n')
    argv = ["--data", str(KLINES), "--config", str(config), "--out", str(tmp_path), "--no-html"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "backtest_trading_strategy.py"), *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    proc_bar = subprocess.run(
        [sys.executable, str(ROOT / "backtest_trading_strategy.py"), *argv, "--progress"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )

    assert proc.returncode == proc_bar.returncode == 0
    said = [line for line in proc.stderr.splitlines() if line.startswith("trading state ")]
    assert len(said) == 2 and said[-1].startswith("trading state REDUCING -> HALTED")
    screen = proc_bar.stderr.replace("\r", "\n").splitlines()  # as a terminal shows it
    assert [line for line in screen if "trading state " in line] == said
