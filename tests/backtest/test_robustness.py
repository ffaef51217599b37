"""Monte Carlo, sweeps and walk-forward windows on the bundled real BTCUSDT week: bootstrap
bands recomputed here from trades.csv with numpy and the same seed, randomized runs equal to
plain run_backtest calls with the drawn knobs, sweeps (joblib, a local Dask cluster on
127.0.0.1) equal to sequential backtests."""

import csv
import json
import os
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import backtest_trading_strategy as cli
from backtest import report
from backtest import robustness as rb
from backtest.data import Klines, load
from backtest.runner import BacktestConfig, backtest_risk, run_backtest
from tests.backtest.test_real_data import round_trips
from tests.parallel_support import loopback_dask_cluster, record_closed_bars

ROOT = Path(__file__).resolve().parents[2]
KLINES = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
DAY = 86_400_000
MAY5 = 1_746_403_200_000  # 2025-05-05 00:00 UTC, the week's first bar
HALF_DAY = "2025-05-05T12:00"
KLINE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume")
BAND_KEYS = ("p5", "p25", "p50", "p75", "p95")
TOTAL = "metric = 'total_return'\n"  # ranked without annualizing: the data is under a day


@pytest.fixture(scope="module")
def day_data() -> Klines:
    data = load(KLINES, end_ms=MAY5 + DAY)
    assert isinstance(data, Klines) and len(data) == 1440
    return data


@pytest.fixture(scope="module")
def mc_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mc") / "out"
    argv = ["--data", str(KLINES), "--end", HALF_DAY, "--out", str(out), "--no-html"]
    assert cli.main([*argv, "--monte-carlo", "6", "--seed", "3", "--latency-ms", "100"]) == 0
    return out


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_bootstrap_bands_equal_a_recomputation_from_trades_csv(mc_run):
    mc = json.loads((mc_run / "summary.json").read_text())["monte_carlo"]
    # Per closed round trip: its realized PnL net of its fees (a reversal's fee split).
    pnls = [float(x) for x in round_trips(rows(mc_run / "trades.csv"))[0]]
    assert mc["bootstrap"]["trades"] == len(pnls) > 10
    draws = np.random.default_rng([3, 1]).integers(0, len(pnls), size=(6, len(pnls)))
    totals, drawdowns = [], []
    for path_idx in draws:
        equity, peak, worst = 10_000.0, 10_000.0, 0.0
        for i in path_idx:
            equity += pnls[i]
            peak = max(peak, equity)
            worst = max(worst, 1 - equity / peak)
        totals.append(equity / 10_000 - 1)
        drawdowns.append(worst)
    for name, values in (("total_return", totals), ("max_drawdown_at_trade_closes", drawdowns)):
        expected = np.percentile(values, [5, 25, 50, 75, 95])
        got = [mc["bootstrap"][name][f"p{p}"] for p in (5, 25, 50, 75, 95)]
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), name


def test_the_bootstrap_names_its_drawdown_at_trade_closes_and_gives_the_base_run_s(mc_run):
    """The bootstrap knows the equity only after each closed trade: its drawdown is not the
    per-bar `max_drawdown` of summary.json and the random runs, and is not called so. The
    base run's own trades, in the order they closed, on the same footing: by hand from
    trades.csv; never deeper than its per-bar max drawdown."""
    summary = json.loads((mc_run / "summary.json").read_text())
    boot = summary["monte_carlo"]["bootstrap"]
    assert "max_drawdown" not in boot
    pnls = [float(x) for x in round_trips(rows(mc_run / "trades.csv"))[0]]
    equity, peak, worst = 10_000.0, 10_000.0, 0.0
    for pnl in pnls:
        equity += pnl
        peak = max(peak, equity)
        worst = max(worst, 1 - equity / peak)
    assert boot["base_max_drawdown_at_trade_closes"] == pytest.approx(worst, rel=1e-12)
    assert 0 < worst <= summary["metrics"]["max_drawdown"]


def test_randomized_runs_are_plain_backtests_with_the_drawn_knobs(mc_run, day_data):
    mc = json.loads((mc_run / "summary.json").read_text())["monte_carlo"]
    rng = np.random.default_rng([3, 0])
    latency = 100 + rng.integers(0, 1001, size=6)
    slippage_tenths = rng.integers(0, 51, size=6)
    seeds = rng.integers(0, 2**31, size=6)
    runs = mc["randomized"]["runs"]
    assert [r["latency_ms"] for r in runs] == latency.tolist()
    assert [r["seed"] for r in runs] == seeds.tolist()
    assert [Decimal(r["slippage_bps"]) for r in runs] == [
        Decimal(int(x)) / 10 for x in slippage_tenths
    ]
    base = BacktestConfig(
        strategy_params={"fast": 10, "slow": 50, "order_notional_usdt": Decimal(1000)}
    )
    for r in runs[:2]:  # two independent re-runs are enough to pin the plumbing
        config = replace(
            base,
            latency_ms=r["latency_ms"],
            slippage_bps=Decimal(r["slippage_bps"]),
            seed=r["seed"],
        )
        s = run_backtest(rb.slice_data(day_data, MAY5, MAY5 + DAY // 2), config).summary
        assert (r["total_return"], r["max_drawdown"], r["fills"]) == (
            s.total_return,
            s.max_drawdown,
            s.fills,
        )
    for name in ("total_return", "max_drawdown"):
        expected = np.percentile([r[name] for r in runs], [5, 25, 50, 75, 95])
        got = [mc["randomized"][name][f"p{p}"] for p in (5, 25, 50, 75, 95)]
        assert got == pytest.approx(expected, rel=1e-12)
    assert mc["latency_ms_range"] == [min(latency.tolist()), max(latency.tolist())]


def test_the_same_seed_gives_the_same_monte_carlo(mc_run, tmp_path):
    argv = ["--data", str(KLINES), "--end", HALF_DAY, "--no-html", "--latency-ms", "100"]
    assert cli.main([*argv, "--out", str(tmp_path / "a"), "--monte-carlo", "6", "--seed", "3"]) == 0
    assert cli.main([*argv, "--out", str(tmp_path / "b"), "--monte-carlo", "6", "--seed", "4"]) == 0
    same = json.loads((tmp_path / "a/summary.json").read_text())["monte_carlo"]
    other = json.loads((tmp_path / "b/summary.json").read_text())["monte_carlo"]
    assert same == json.loads((mc_run / "summary.json").read_text())["monte_carlo"]
    assert other["randomized"]["runs"] != same["randomized"]["runs"]
    assert other["bootstrap"] != same["bootstrap"]


def test_walk_forward_windows_by_hand():
    ws = rb.walk_forward_windows(0, 10 * DAY, 3 * DAY, 2 * DAY)
    assert [(w.train_start, w.train_end, w.test_start, w.test_end) for w in ws] == [
        (0, 3 * DAY, 3 * DAY, 5 * DAY),
        (2 * DAY, 5 * DAY, 5 * DAY, 7 * DAY),
        (4 * DAY, 7 * DAY, 7 * DAY, 9 * DAY),
    ]  # a fourth would test 9..11 days: past the data
    assert rb.walk_forward_windows(0, 4 * DAY, 3 * DAY, 2 * DAY) == []


def test_slice_data_keeps_rows_in_the_span(day_data):
    part = rb.slice_data(day_data, MAY5 + 60_000, MAY5 + 3 * 60_000)
    assert part.open_time == [MAY5 + 60_000, MAY5 + 120_000]
    assert part.close == day_data.close[1:3] and part.volume == day_data.volume[1:3]


def write(tmp: Path, text: str) -> Path:
    p = tmp / "sweep.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[grid\nfast = [1]", "bad sweep file"),
        ("metric = 'sharpe'", "needs a [grid]"),
        ("[grid]\nfast = []", "grid.fast must be a non-empty list"),
        ("[grid]\nfast = 5", "grid.fast must be a non-empty list"),
        ("metric = 'luck'\n[grid]\nfast = [5]", "metric 'luck'"),
        ("[grid]\nfast = [5]\n[walk_forward]\ntrain_days = 1", "train_days and test_days"),
        ("[grid]\nfast = [5]\n[walk_forward]\ntrain_days = 1\ntest_days = 0", "test_days"),
        ("[grids]\nfast = [5]", "unknown key(s) grids"),
        ("[fixed]\nslow = 40\n[grid]\nslow = [30, 50]", ": slow is in both [fixed] and [grid]"),
    ],
)
def test_bad_sweep_files_are_refused_with_a_reason(tmp_path, text, says):
    with pytest.raises(rb.RobustnessError) as e:
        rb.load_sweep(write(tmp_path, text))
    assert says in str(e.value)


def test_a_grid_of_latency_ms_beside_no_distribution_and_a_distribution_is_swept(tmp_path):
    # The "" points run latency_ms: it was refused as going unused "in every run".
    text = '[grid]\nentry_latency = ["", "empirical:5,10"]\nlatency_ms = [0, 50]\n'
    base = BacktestConfig(strategy_params={"fast": 10, "slow": 50})
    _, _, configs = rb.accepted_points(base, rb.load_sweep(write(tmp_path, text)))

    assert [(c.entry_latency, c.latency_ms) for c in configs] == [
        ("", 0),
        ("", 50),
        ("empirical:5,10", 0),
        ("empirical:5,10", 50),
    ]


@pytest.mark.parametrize("metric", ["max_drawdown_duration_ms", "turnover"])
def test_a_lower_is_better_metric_is_a_sweep_metric_and_ranks_lowest_first(tmp_path, metric):
    """The two metrics once ranked lower-is-better but refused by load_sweep: a sweep file
    may name them, and the best of three hand-made rows is the lowest value (a None last)."""
    spec = rb.load_sweep(write(tmp_path, f"metric = '{metric}'\n[grid]\nfast = [5]"))
    rows = [{"fast": 5, metric: 3}, {"fast": 10, metric: None}, {"fast": 20, metric: 1}]

    assert spec.metric == metric
    assert rb.best_row(rows, metric) == {"fast": 20, metric: 1}


def test_every_sweep_metric_is_a_summary_field_with_a_direction():
    """One table lists what a sweep may rank by and which way: each name is a summary.json
    metric, the drawdowns, fees and turnover rank lowest first, returns and ratios highest."""
    summary_fields = set(rb.metrics.Summary.__dataclass_fields__)
    lower = {k for k, d in rb.SWEEP_METRICS.items() if d is rb.Better.LOWER}

    assert set(rb.SWEEP_METRICS) <= summary_fields
    assert lower == {"max_drawdown", "max_drawdown_duration_ms", "fees", "turnover"}
    assert rb.best_row([{"sharpe": 0.5}, {"sharpe": 2.0}], "sharpe") == {"sharpe": 2.0}


def test_unknown_parameters_and_refused_points(tmp_path, day_data):
    base = BacktestConfig(strategy_params={"order_notional_usdt": Decimal(1000)})
    spec = rb.load_sweep(write(tmp_path, "[grid]\nfastest = [5]"))
    with pytest.raises(rb.RobustnessError, match="fastest"):
        rb.sweep_tasks(day_data, base, spec)
    spec = rb.load_sweep(write(tmp_path, "[grid]\nfast = [5, 50]\nslow = [30, 50]"))
    points, skipped, _, tasks = rb.sweep_tasks(day_data, base, spec)
    assert points == [{"fast": 5, "slow": 30}, {"fast": 5, "slow": 50}]
    assert [s for s, _ in skipped] == [{"fast": 50, "slow": 30}, {"fast": 50, "slow": 50}]
    assert len(tasks) == 2


def test_point_config_types_the_settings():
    base = BacktestConfig(strategy_params={"order_notional_usdt": Decimal(1000)})
    c = rb.point_config(base, {"fast": 5, "slippage_bps": 1.5, "order_notional_usdt": 500.0})
    assert c.slippage_bps == Decimal("1.5") and c.strategy_params["fast"] == 5
    assert c.strategy_params["order_notional_usdt"] == Decimal("500.0")
    assert not c.progress and c.journal_dir is None
    for bad in ({"taker_fee": -1}, {"latency_ms": -5}, {"slippage_bps": "x"}):
        with pytest.raises(rb.RobustnessError, match=next(iter(bad))):
            rb.point_config(base, bad)


SWEEP = """
metric = "total_return"
[fixed]
order_notional_usdt = 1000
[grid]
fast = [5, 10]
slow = [20, 40]
"""
BASE = BacktestConfig(strategy_params={"order_notional_usdt": Decimal(1000)})


def sequential_rows(data, spec: rb.SweepSpec) -> dict[tuple, dict]:
    """Each task as a plain run_backtest on its slice, keyed by (window, phase, point)."""
    _, _, _, tasks = rb.sweep_tasks(data, BASE, spec)
    out = {}
    for t in tasks:
        # Each task trades its own span, warmed from the bars before it (as many as there are).
        history = rb.slice_data(data, data.open_time[0], t.start_ms)
        rows = rb.slice_data(data, t.start_ms, t.end_ms)
        joined = Klines(*(getattr(history, n) + getattr(rows, n) for n in KLINE_COLUMNS))
        assert t.config.trade_from_ms == t.start_ms
        s = run_backtest(joined, t.config).summary
        out[(t.window, t.phase, t.point)] = {k: getattr(s, k) for k in rb.SWEEP_METRICS}
    return out


def assert_rows_equal(result: rb.SweepResult, expected: dict[tuple, dict]) -> None:
    assert len(result.rows) == len(expected)
    for r in result.rows:
        want = expected[(r["window"], r["phase"], r["point"])]
        assert {k: r[k] for k in rb.SWEEP_METRICS} == want


def test_a_joblib_sweep_equals_sequential_backtests(tmp_path, day_data):
    spec = rb.load_sweep(write(tmp_path, SWEEP))
    result = rb.run_sweep(day_data, BASE, spec, jobs=2)
    expected = sequential_rows(day_data, spec)
    assert_rows_equal(result, expected)
    best = max(expected.items(), key=lambda kv: kv[1]["total_return"])
    assert result.choices[0]["total_return"] == best[1]["total_return"]
    assert result.choices[0]["settings"] == rb.grid_points(spec)[best[0][2]]
    assert [r["selected"] for r in result.rows].count(True) == 1


@pytest.mark.parametrize("metric", ["sharpe", "sharpe_daily"])
def test_the_sweep_ranks_by_the_sharpe_summary_json_reports_under_that_name(tmp_path, metric):
    """`metric = "sharpe"` is the per-bar Sharpe and `"sharpe_daily"` the daily one: the
    best point's value is what summary.json's `metrics` of a plain run with its settings
    reports under that name (one function, metrics.summarize), and no other point of the grid
    beats it there. Two days, so that the daily Sharpe exists."""
    argv = ["--data", str(KLINES), "--end", "2025-05-07", "--no-html", "--no-progress"]
    text = SWEEP.replace('"total_return"', f'"{metric}"').replace("[20, 40]", "[20]")
    sweep = write(tmp_path, text)
    assert cli.main([*argv, "--out", str(tmp_path / "sweep"), "--sweep", str(sweep)]) == 0
    best = json.loads((tmp_path / "sweep/summary.json").read_text())["sweep"]["best"]
    reported = {}
    for fast in (5, 10):
        out = tmp_path / f"run-{fast}"
        flags = ["--fast", str(fast), "--slow", "20", "--notional", "1000"]
        assert cli.main([*argv, *flags, "--out", str(out)]) == 0
        reported[fast] = json.loads((out / "summary.json").read_text())["metrics"]
    chosen = reported[best["settings"]["fast"]]
    assert best[metric] == chosen[metric] is not None
    assert best[metric] == max(m[metric] for m in reported.values())
    assert best["total_return"] == chosen["total_return"]


def test_a_sweep_with_random_latency_repeats_for_a_seed_and_changes_with_it(tmp_path, day_data):
    """Each grid point's run draws its latency from the base config's distribution under the
    base seed: the same seed gives the same rows, another seed other fills (a median of 20 s
    lands an order before or after a bar's +20 s and +40 s path prices by the draw)."""
    spec = rb.load_sweep(write(tmp_path, SWEEP.replace("slow = [20, 40]", "slow = [20]")))
    quarter = rb.slice_data(day_data, MAY5, MAY5 + DAY // 4)
    noisy = replace(BASE, entry_latency="lognormal:median=20000,sigma=1.0", seed=7)

    first = rb.run_sweep(quarter, noisy, spec).rows
    again = rb.run_sweep(quarter, noisy, spec).rows
    other = rb.run_sweep(quarter, replace(noisy, seed=8), spec).rows

    assert first == again
    metrics = [{k: r[k] for k in ("total_return", "fees")} for r in first]
    assert metrics != [{k: r[k] for k in ("total_return", "fees")} for r in other]
    assert [r["fills"] for r in first] == [r["fills"] for r in other]  # the same decisions


def test_walk_forward_picks_in_sample_and_reports_out_of_sample(tmp_path, day_data):
    data = day_data
    text = SWEEP + "[walk_forward]\ntrain_days = 0.5\ntest_days = 0.25\n"
    spec = rb.load_sweep(write(tmp_path, text))
    result = rb.run_sweep(data, BASE, spec, jobs=1)
    expected = sequential_rows(data, spec)
    assert_rows_equal(result, expected)
    # Train 00:00-12:00, test 12:00-18:00; then train 06:00-18:00, test 18:00-24:00.
    assert [(w.train_start, w.test_start, w.test_end) for w in result.windows] == [
        (MAY5, MAY5 + DAY // 2, MAY5 + 3 * DAY // 4),
        (MAY5 + DAY // 4, MAY5 + 3 * DAY // 4, MAY5 + DAY),
    ]
    for w, choice in zip(result.windows, result.choices, strict=True):
        train = {p: m for (win, ph, p), m in expected.items() if win == w.index and ph == "train"}
        pick = max(train, key=lambda p: (train[p]["total_return"], -p))
        test = expected[(w.index, "test", pick)]
        assert choice["settings"] == rb.grid_points(spec)[pick]
        assert choice["test_total_return"] == test["total_return"]
        assert (choice["test_start_ms"], choice["test_end_ms"]) == (w.test_start, w.test_end)
    compounded = (1 + result.choices[0]["test_total_return"]) * (
        1 + result.choices[1]["test_total_return"]
    ) - 1
    assert result.to_dict()["walk_forward"]["out_of_sample_total_return"] == pytest.approx(
        compounded
    )


def test_a_sweep_on_a_local_dask_cluster_equals_sequential_backtests(tmp_path, day_data):
    spec = rb.load_sweep(write(tmp_path, SWEEP))
    with loopback_dask_cluster() as address:
        result = rb.run_sweep(day_data, BASE, spec, dask_scheduler=address)
        half = rb.slice_data(day_data, MAY5, MAY5 + DAY // 2)
        base = run_backtest(half, BASE)
        mc_spec = rb.MonteCarloSpec(runs=3, seed=11)
        on_dask = rb.monte_carlo(half, base, mc_spec, dask_scheduler=address)
        argv = ["--data", str(KLINES), "--end", "2025-05-05T03:00", "--sweep", str(spec.source)]
        argv += ["--monte-carlo", "2", "--no-html"]
        dask_out, local_out = tmp_path / "dask", tmp_path / "local"
        assert cli.main([*argv, "--out", str(dask_out), "--dask-scheduler", address]) == 0
    assert_rows_equal(result, sequential_rows(day_data, spec))
    assert on_dask.to_dict() == rb.monte_carlo(half, base, mc_spec).to_dict()
    assert cli.main([*argv, "--out", str(local_out)]) == 0  # the command line, sequential
    for name in ("sweep.csv", "summary.json"):
        assert (dask_out / name).read_bytes() == (local_out / name).read_bytes(), name


def test_bands_are_numpy_percentiles_by_hand():
    # Linear interpolation over 4 sorted values: position q/100 * 3.
    assert rb.bands([4.0, 1.0, 3.0, 2.0]) == pytest.approx(
        {"p5": 1.15, "p25": 1.75, "p50": 2.5, "p75": 3.25, "p95": 3.85}
    )


def test_a_bootstrap_of_one_repeated_result_has_no_spread():
    """Every path draws the same +5 USDT twice: 10,000 -> 10,010, +0.1 %, no drawdown, in
    every percentile; a single loss of 5 gives -0.1 % and a drawdown of 10 / 10,000."""
    win = rb.bootstrap_paths([5.0, 5.0], 10_000.0, runs=7, seed=1)
    assert win.tolist() == [[10_000.0, 10_005.0, 10_010.0]] * 7
    assert rb.bands(rb.path_total_returns(win)) == pytest.approx(dict.fromkeys(BAND_KEYS, 0.001))
    assert rb.bands(rb.path_max_drawdowns(win)) == dict.fromkeys(BAND_KEYS, 0.0)
    loss = rb.bootstrap_paths([-5.0, -5.0], 10_000.0, runs=3, seed=1)
    assert rb.bands(rb.path_max_drawdowns(loss)) == pytest.approx(
        dict.fromkeys(BAND_KEYS, 10 / 10_000)
    )


def test_a_bootstrap_path_halts_where_its_drawdown_reaches_the_limit():
    """The RiskManager halts at max_drawdown_pct and trades no more: a resampled path stays at
    its equity from the trade close whose drawdown from the peak reaches the limit; by hand,
    on the same draws (before, every path traded its whole length)."""
    pnls = [-30.0, -30.0, 50.0, 20.0]
    paths = rb.bootstrap_paths(pnls, 1_000.0, runs=50, seed=2, halt_drawdown=0.05)
    draws = np.random.default_rng([2, 1]).integers(0, 4, size=(50, 4))
    halted = 0
    for path, idx in zip(paths, draws, strict=True):
        equity, peak, expected, stopped = 1_000.0, 1_000.0, [1_000.0], False
        for i in idx:
            if not stopped:
                equity += pnls[i]
                peak = max(peak, equity)
                stopped = peak - equity >= 0.05 * peak
            expected.append(equity)
        halted += stopped
        assert path.tolist() == pytest.approx(expected)
    assert 0 < halted < 50 and rb.halted_paths(paths, 0.05) == halted


def test_the_monte_carlo_bootstrap_halts_at_the_run_s_drawdown_limit(day_data):
    """A run whose RiskManager halts at a 0.2 % drawdown: its bootstrap's paths halt there too
    (flat from the first trade close that reaches it), summary.json and the chart say so."""
    risk = replace(backtest_risk(Decimal(1000)), max_drawdown_pct=Decimal("0.2"))
    config = BacktestConfig(
        strategy_params={"fast": 10, "slow": 50, "order_notional_usdt": Decimal(1000)},
        risk=risk,
    )
    base = run_backtest(day_data, config)
    assert base.trading_state == "HALTED"
    spec = rb.MonteCarloSpec(runs=20, seed=1, latency_jitter_ms=0, slippage_jitter_bps=Decimal(0))

    mc = rb.monte_carlo(day_data, base, spec)

    boot = mc.to_dict()["bootstrap"]
    assert boot["halt_at_drawdown"] == pytest.approx(0.002) and 0 < boot["halted_paths"] < 20
    trading_on = rb.bootstrap_paths(mc.trade_pnls, 10_000.0, runs=20, seed=1)
    assert (rb.path_max_drawdowns(trading_on) > 0.0021).any()  # past the limit, unhalted
    for path in mc.paths:
        hits = np.flatnonzero(1 - path / np.maximum.accumulate(path) >= 0.002)
        if hits.size:
            assert (path[hits[0] :] == path[hits[0]]).all()
    assert "halts at 0.20% drawdown" in mc.halt_note()


def test_bootstrap_draws_repeat_for_a_seed_and_change_with_it():
    pnls = [3.0, -1.0, 2.0, -4.0, 1.0]
    same = rb.bootstrap_paths(pnls, 100.0, runs=20, seed=5)
    assert (same == rb.bootstrap_paths(pnls, 100.0, runs=20, seed=5)).all()
    assert (same != rb.bootstrap_paths(pnls, 100.0, runs=20, seed=6)).any()
    # Each path is the start then the running sum of drawn results: every step is one of them.
    assert set(np.round(np.diff(same, axis=1), 12).ravel()) <= set(pnls)


def test_monte_carlo_knob_draws_repeat_for_a_seed_and_change_with_it():
    base = BacktestConfig(latency_ms=50, slippage_bps=Decimal(1))
    spec = rb.MonteCarloSpec(runs=8, seed=2, latency_jitter_ms=100, slippage_jitter_bps=Decimal(3))
    draws = rb.draw_knobs(spec, base)
    assert draws == rb.draw_knobs(spec, base)
    assert draws != rb.draw_knobs(replace(spec, seed=3), base)
    for latency, slippage, _ in draws:  # costs only go up from the base run's
        assert 50 <= latency <= 150 and Decimal(1) <= slippage <= Decimal(4)
        assert slippage * 10 == int(slippage * 10)  # in steps of 0.1 bps


def _held_over(data: Klines, start_ms: int, end_ms: int) -> float:
    """The market's move over the bars opening in [start_ms, end_ms), as summary.json's
    buy_and_hold_return measures a run's: the first bar's open to the last bar's close."""
    opens = [i for i, t in enumerate(data.open_time) if start_ms <= t < end_ms]
    return float(data.close[opens[-1]]) / float(data.open[opens[0]]) - 1


def test_each_sweep_row_and_window_has_the_buy_and_hold_of_its_own_range(tmp_path, day_data):
    # sweep.csv and the walk-forward windows gave each row's return without the market's
    # move over its range: only summary.json had one, over the main run's whole range.
    text = SWEEP + "[walk_forward]\ntrain_days = 0.5\ntest_days = 0.25\n"
    spec = rb.load_sweep(write(tmp_path, text))

    result = rb.run_sweep(day_data, BASE, spec, jobs=1)

    for row in result.rows:
        held = _held_over(day_data, row["start_ms"], row["end_ms"])
        assert row["buy_and_hold_return"] == pytest.approx(held, rel=1e-12, abs=1e-15)
    first_test = _held_over(day_data, MAY5 + DAY // 2, MAY5 + 3 * DAY // 4)
    assert first_test != _held_over(day_data, MAY5, MAY5 + DAY)  # its own range, not the day's
    for w, choice in zip(result.windows, result.choices, strict=True):
        test = _held_over(day_data, w.test_start, w.test_end)
        train = _held_over(day_data, w.train_start, w.train_end)
        assert choice["test_buy_and_hold_return"] == pytest.approx(test, rel=1e-12, abs=1e-15)
        assert choice["train_buy_and_hold_return"] == pytest.approx(train, rel=1e-12, abs=1e-15)
    with (rb.write_sweep_csv(result, tmp_path / "sweep.csv")).open() as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["buy_and_hold_return"]) for r in rows] == [
        r["buy_and_hold_return"] for r in result.rows
    ]


def test_a_full_sweeps_best_point_has_the_buy_and_hold_of_the_traded_range(tmp_path, day_data):
    spec = rb.load_sweep(write(tmp_path, SWEEP.replace("[20, 40]", "[20]")))

    result = rb.run_sweep(day_data, BASE, spec, jobs=1)

    held = _held_over(day_data, MAY5, MAY5 + DAY)
    assert result.choices[0]["buy_and_hold_return"] == pytest.approx(held, rel=1e-12)


def test_the_shipped_example_sweep_file_loads():
    spec = rb.load_sweep(ROOT / "backtest/sweep_example.toml")
    assert spec.grid == {"fast": [5, 10, 20], "slow": [30, 50]} and spec.walk_forward
    assert len(rb.grid_points(spec)) == 6 and spec.metric == "sharpe"


def test_with_a_latency_distribution_each_run_draws_it_with_its_own_seed(day_data):
    part = rb.slice_data(day_data, MAY5, MAY5 + DAY // 4)
    config = replace(BASE, entry_latency="lognormal:median=20000,sigma=1")
    base = run_backtest(part, config)
    spec = rb.MonteCarloSpec(runs=3, seed=2, slippage_jitter_bps=Decimal(0))
    mc = rb.monte_carlo(part, base, spec)
    assert mc.to_dict()["entry_latency"] == "lognormal:median=20000,sigma=1"
    assert [r.latency_ms for r in mc.runs] == [0, 0, 0]  # the distribution replaces it
    assert len({r.seed for r in mc.runs}) == 3
    for r in mc.runs[:2]:
        again = run_backtest(part, replace(config, seed=r.seed))
        assert [float(x) for x in again.equity][-1] == r.final_equity
    # Bars are replayed as trades at +0, +20 and +40 s: latencies around 20 s land on either side.
    assert len({r.final_equity for r in mc.runs}) > 1  # different draws, different fills


def test_with_a_latency_distribution_the_range_reported_is_the_one_drawn(day_data):
    """Every draw of `empirical:250` is 250 ms while the runs' latency_ms stays 0: the range
    is the draws', not the unused base latency's ([0, 0])."""
    part = rb.slice_data(day_data, MAY5, MAY5 + DAY // 4)
    base = run_backtest(part, replace(BASE, entry_latency="empirical:250"))
    spec = rb.MonteCarloSpec(runs=2, seed=2, slippage_jitter_bps=Decimal(0))

    d = rb.monte_carlo(part, base, spec).to_dict()

    assert d["latency_ms_range"] == [250, 250]
    assert [(r["latency_ms"], r["latency_ms_drawn"]) for r in d["randomized"]["runs"]] == [
        (None, [250, 250]),
        (None, [250, 250]),
    ]
    page = report.render_html({"monte_carlo": d}, [])
    assert "latency 250-250 ms drawn from empirical:250" in page


def test_with_a_latency_distribution_and_no_order_nothing_is_drawn():
    run = rb.McRun(latency_ms=0, slippage_bps=Decimal(0), seed=1, total_return=0.0,
                   max_drawdown=0.0, final_equity=1.0, fills=0, curve=[1.0])  # fmt: skip
    mc = rb.MonteCarloResult(
        spec=rb.MonteCarloSpec(runs=1),
        runs=[run],
        grid_ms=[0],
        trade_pnls=[],
        paths=np.ones((1, 1)),
        entry_latency="empirical:9",
    )

    d = mc.to_dict()

    assert d["latency_ms_range"] is None
    assert d["randomized"]["runs"][0]["latency_ms_drawn"] is None
    assert "latency from empirical:9: no order, nothing drawn" in report.render_html(
        {"monte_carlo": d}, []
    )


def _add(shared: int, item: int) -> int:
    return shared + item


@pytest.fixture
def closed_bars(monkeypatch) -> list[tuple[str, int, int]]:
    return record_closed_bars(monkeypatch)


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_progress_bar_counts_runs_finished_in_joblib_workers(jobs, closed_bars):
    out = rb.parallel_map(_add, 100, list(range(7)), jobs=jobs, progress="sweep")
    assert out == [100 + i for i in range(7)]  # in item order, whoever finished first
    assert closed_bars == [("sweep", 7, 7)]
    rb.parallel_map(_add, 100, list(range(3)), jobs=jobs)  # no label: no bar
    assert closed_bars == [("sweep", 7, 7)]


def test_the_progress_bar_counts_runs_finished_on_a_dask_cluster(closed_bars):
    with loopback_dask_cluster() as address:
        out = rb.parallel_map(_add, 1, [3, 1, 2], dask_scheduler=address, progress="monte carlo")
    assert out == [4, 2, 3]
    assert closed_bars == [("monte carlo", 3, 3)]


def test_dask_workers_that_cannot_import_the_project_are_one_error_not_a_traceback(tmp_path):
    """A `dask worker` started outside the project without it on PYTHONPATH: the first task
    died in Dask's deserialization (`Exception: ModuleNotFoundError(...)`, a traceback)."""
    distributed = pytest.importorskip("distributed")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with distributed.LocalCluster(
        n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--no-dashboard"],
            cwd=tmp_path,  # not the project: as `dask worker` started in a home directory
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with distributed.Client(address) as client:
                client.wait_for_workers(1, timeout=60)
            with pytest.raises(rb.RobustnessError) as refused:
                rb.parallel_map(_add, 100, [1, 2], dask_scheduler=address)
        finally:
            worker.terminate()
            worker.wait(timeout=30)

    assert str(refused.value) == (
        f"the Dask cluster at {address}: its workers cannot import this project (No module "
        "named 'backtest'): start the scheduler and each worker with the project on PYTHONPATH, "
        f"e.g. PYTHONPATH={Path(rb.__file__).resolve().parents[1]} dask worker ADDRESS"
    )


def test_the_runs_of_a_monte_carlo_and_a_sweep_print_no_warnings(day_data, caplog):
    """Each of N runs a loss limit halts printed `trading state ACTIVE -> REDUCING` and
    `... -> HALTED`, each stop-loss fill `its stop-loss closed the long; ...`: lines naming
    neither the run nor its knobs, hundreds for 100 runs; the base run's stay, as its own."""
    from backtest.runner import backtest_risk

    tight = replace(
        backtest_risk(Decimal(1000)), stop_loss_pct=Decimal("0.2"), max_drawdown_pct=Decimal("0.15")
    )
    config = replace(BASE, risk=tight)
    data = rb.slice_data(day_data, MAY5, MAY5 + DAY // 2)
    with caplog.at_level("WARNING"):
        base = run_backtest(data, config)
    base_lines = [r.getMessage() for r in caplog.records]
    caplog.clear()

    with caplog.at_level("WARNING"):
        mc = rb.monte_carlo(data, base, rb.MonteCarloSpec(runs=2, seed=1))
        rb.run_sweep(data, config, rb.SweepSpec(grid={"fast": [5, 10]}, metric="total_return"))

    assert any(line.startswith("trading state REDUCING -> HALTED") for line in base_lines)
    assert any("its stop-loss closed the" in line for line in base_lines)
    assert len(mc.runs) == 2
    assert [r.getMessage() for r in caplog.records] == []


def test_the_sweep_files_fixed_settings_apply_to_the_main_run_too(tmp_path):
    """`[fixed]` is "settings every run shares": the main run's report described trading at the
    default notional (1000) while every grid point traded the file's. With a one-point grid
    the main run and the point are the same backtest: equal metrics, the file's notional."""
    sweep = write(
        tmp_path, TOTAL + "[fixed]\norder_notional_usdt = 500\n[grid]\nfast = [5]\nslow = [20]"
    )
    out = tmp_path / "out"
    argv = ["--data", str(KLINES), "--end", HALF_DAY, "--no-html", "--no-progress"]
    flags = ["--fast", "5", "--slow", "20", "--sweep", str(sweep)]
    assert cli.main([*argv, *flags, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["strategy_params"]["order_notional_usdt"] == "500"
    with (out / "sweep.csv").open() as f:
        (row,) = csv.DictReader(f)
    metrics = summary["metrics"]
    assert metrics["fills"] > 0 and int(row["fills"]) == metrics["fills"]
    for key in ("total_return", "max_drawdown", "fees", "turnover"):
        assert float(row[key]) == metrics[key], key


def test_a_key_in_both_fixed_and_grid_is_refused_naming_it(tmp_path):
    """`[fixed] slow = 40` with `[grid] slow = [30, 50]`: the grid's value replaced the fixed
    one in every point, and the main run (which takes [fixed]) traded slow 40, a point the grid
    does not have. Which one the user meant cannot be guessed."""
    path = write(tmp_path, "[fixed]\nslow = 40\nfast = 5\n[grid]\nslow = [30, 50]\nfast = [5]")

    with pytest.raises(rb.RobustnessError) as e:
        rb.load_sweep(path)
    assert str(e.value) == (
        f"bad sweep file {path}: fast, slow are in both [fixed] and [grid] (a run takes one "
        "value: keep one)"
    )


def test_grid_notionals_above_the_order_cap_of_the_risk_limits_are_refused_points(tmp_path):
    """Under limits capping an order at 500 USDT, 400 and 500 run and 501 and 2000 are refused
    (every entry would be denied). Without limits (risk None) a run gets backtest_risk's, whose
    cap follows its notional (3 x 2000 = 6000): every point runs."""
    spec = rb.load_sweep(write(tmp_path, "[grid]\norder_notional_usdt = [400, 500, 501, 2000]"))
    capped = replace(BASE, risk=backtest_risk(Decimal(100)))
    assert capped.risk is not None and capped.risk.max_order_notional_usdt == 500

    points, skipped, _ = rb.accepted_points(capped, spec)
    assert points == [{"order_notional_usdt": 400}, {"order_notional_usdt": 500}]
    assert skipped == [
        (
            {"order_notional_usdt": n},
            f"order_notional_usdt {n} is above max_order_notional_usdt 500 of the risk limits: "
            "every entry would be denied",
        )
        for n in (501, 2000)
    ]
    points, skipped, _ = rb.accepted_points(BASE, spec)
    assert len(points) == 4 and skipped == []
    assert backtest_risk(Decimal(2000)).max_order_notional_usdt == 6000


@pytest.mark.parametrize("metric", ["sharpe", "sortino", "calmar", "annualized_return"])
def test_ranking_by_an_annualized_metric_on_windows_under_a_day_is_refused(tmp_path, metric):
    """A run under a day has no annualized figures (metrics.MIN_ANNUALIZED_SPAN_MS): ranked by
    one, every point of such a window was None and the sweep picked nothing, after running
    them all. Said at once, with what to rank by instead."""
    windows = "[walk_forward]\ntrain_days = 0.5\ntest_days = 0.5"
    text = f"metric = '{metric}'\n[grid]\nfast = [5]\n{windows}"
    with pytest.raises(rb.RobustnessError) as e:
        rb.load_sweep(write(tmp_path, text))
    assert str(e.value).endswith(
        f"metric {metric!r} is annualized, and a train window of 0.5 days (under a day) has "
        "no annualized figures: rank by total_return (or another metric that is not "
        "annualized), or train on a day or more"
    )

    half_day = load(KLINES, end_ms=MAY5 + DAY // 2)
    plain = rb.load_sweep(write(tmp_path, f"metric = '{metric}'\n[grid]\nfast = [5]"))
    with pytest.raises(rb.RobustnessError) as e:
        rb.sweep_tasks(half_day, BASE, plain)
    assert str(e.value) == (
        f"the sweep's metric {metric!r} is annualized, and the data to trade spans 12 h "
        "(under a day): no run has annualized figures; rank by total_return (or another "
        "metric that is not annualized) in the sweep file"
    )


def test_ranking_by_an_annualized_metric_on_windows_of_a_day_is_taken(tmp_path, day_data):
    windows = "[walk_forward]\ntrain_days = 1\ntest_days = 0.5"
    text = f"metric = 'sharpe'\n[grid]\nfast = [5]\n{windows}"
    assert rb.load_sweep(write(tmp_path, text)).metric == "sharpe"
    plain = rb.load_sweep(write(tmp_path, "metric = 'sharpe'\n[grid]\nfast = [5]"))
    assert len(rb.sweep_tasks(day_data, BASE, plain)[3]) == 1
