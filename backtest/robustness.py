"""How much a backtest's result depends on luck and on its parameters.

- Monte Carlo (`monte_carlo`): N backtests whose latency and slippage are drawn at random
  (seeded: the same seed gives the same runs), and a bootstrap of the base run's trade
  sequence (its per-trade PnL resampled with replacement into N equity paths). Both give
  percentile bands (5/25/50/75/95) of total return and max drawdown.
- Parameter sweeps (`load_sweep`, `run_sweep`): a grid from a TOML file run in parallel with
  joblib (`jobs`) or on a Dask cluster (`dask_scheduler`), optionally over walk-forward windows
  (consecutive train/test spans; the best grid point in-sample is reported out-of-sample).

Every backtest here is `backtest.runner.run_backtest`, which is deterministic for its inputs,
so a parallel sweep equals a sequential one. Random streams: knobs from
`numpy.random.default_rng([seed, 0])`, the bootstrap from `default_rng([seed, 1])`.
"""

import csv
import difflib
import importlib
import itertools
import multiprocessing
import os
import threading
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from backtest import metrics, report
from backtest.data import Klines, MarketData, clip
from backtest.run_lines import quiet_run
from backtest.runner import (
    MINUTE_MS,
    WARM_HISTORY_BARS,
    BacktestConfig,
    BacktestResult,
    run_backtest,
)
from core.early_interrupt import workers_deaf_to_ctrl_c
from core.toml_text import toml_shown
from risk_manager.config import RiskConfig
from trading_engine.main_trading_strategy import make_strategy

PERCENTILES = (5, 25, 50, 75, 95)
# The bootstrap's drawdown: of the equity after each closed trade (`path_max_drawdowns`).
BOOTSTRAP_DRAWDOWN = metrics.TRADE_CLOSE_DRAWDOWN
DAY_MS = 86_400_000
DASK_CONNECT_TIMEOUT_S = 10
CURVE_POINTS = 400  # equity samples kept per Monte Carlo run, for the fan chart


class Better(StrEnum):
    """Which way a sweep metric improves when picking the best grid point."""

    HIGHER = "higher"
    LOWER = "lower"


# The metrics a sweep may rank by, each with its direction: one table, so a metric cannot be
# ranked one way and refused (or allowed and ranked the wrong way) by two lists drifting apart.
SWEEP_METRICS: Mapping[str, Better] = MappingProxyType(
    {
        "total_return": Better.HIGHER,
        "annualized_return": Better.HIGHER,
        "sharpe": Better.HIGHER,
        "sortino": Better.HIGHER,
        "sharpe_daily": Better.HIGHER,
        "sortino_daily": Better.HIGHER,
        "calmar": Better.HIGHER,
        "max_drawdown": Better.LOWER,
        "max_drawdown_duration_ms": Better.LOWER,
        "win_rate": Better.HIGHER,
        "profit_factor": Better.HIGHER,
        "expectancy": Better.HIGHER,
        "exposure": Better.HIGHER,
        "turnover": Better.LOWER,
        "fees": Better.LOWER,
        "fills": Better.HIGHER,
        "closed_trades": Better.HIGHER,
    }
)
# Each sweep row's (and walk-forward window's) market move over its own range, as summary.json's
# buy_and_hold_return measures a run's (`backtest.buy_and_hold`): not a metric to rank by (it is
# the same for every grid point of a window), the return a row's total_return should beat.
BUY_AND_HOLD = "buy_and_hold_return"
# What to rank by when the runs are too short for an annualized metric (a run under a day has
# none: metrics.MIN_ANNUALIZED_SPAN_MS); ranked by one, every point was None and none picked.
_RANK_INSTEAD = "rank by total_return (or another metric that is not annualized)"
# BacktestConfig fields a sweep file may not set (they are not assumptions of a run).
_NOT_SWEEPABLE = frozenset({"strategy_params", "risk", "progress", "journal_dir"})


class RobustnessError(ValueError):
    """A sweep file or a Monte Carlo / cluster setting that cannot be used (one sentence)."""


# --- data windows ---------------------------------------------------------------------------


def data_times(data: MarketData) -> list[int]:
    return data.open_time if isinstance(data, Klines) else data.time


def data_end_ms(data: MarketData) -> int:
    """Exclusive end of the data: the last bar's close (klines) or just after the last trade."""
    times = data_times(data)
    return times[-1] + (60_000 if isinstance(data, Klines) else 1)


def slice_data(data: MarketData, start_ms: int, end_ms: int) -> MarketData:
    """Rows with time in [start_ms, end_ms), every column cut alike."""
    return clip(data, start_ms, end_ms)


@dataclass(frozen=True, slots=True)
class Window:
    """One walk-forward step: train on [train_start, train_end), test on [test_start, test_end)."""

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


def walk_forward_windows(start_ms: int, end_ms: int, train_ms: int, test_ms: int) -> list[Window]:
    """Consecutive windows: each test span follows its train span; the next window starts one
    test span later (rolling train). Only whole windows inside [start_ms, end_ms)."""
    if train_ms <= 0 or test_ms <= 0:
        raise RobustnessError("walk_forward train_days and test_days must be > 0")
    out: list[Window] = []
    t = start_ms
    while t + train_ms + test_ms <= end_ms:
        out.append(Window(len(out), t, t + train_ms, t + train_ms, t + train_ms + test_ms))
        t += test_ms
    return out


# --- running many backtests ---------------------------------------------------------------


def parallel_map(
    fn: Callable[[Any, Any], Any],
    shared: Any,
    items: Sequence[Any],
    *,
    jobs: int = 1,
    dask_scheduler: str | None = None,
    progress: str = "",
) -> list[Any]:
    """[fn(shared, item) for item in items], in order: in this process (jobs 1), in joblib
    workers (jobs > 1 or -1 for every core), or on the Dask cluster at `dask_scheduler`
    (`shared` is scattered once to the workers; they must be able to import this project).
    `progress`: a label for a progress bar on stderr counting finished runs, wherever they
    run."""
    from tqdm import tqdm  # type: ignore[import-untyped]

    with tqdm(
        total=len(items), desc=progress, disable=not progress, unit="run", leave=False
    ) as bar:
        if dask_scheduler:
            return _dask_map(fn, shared, items, dask_scheduler, bar)
        if jobs == 1 or len(items) <= 1:
            out = []
            for item in items:
                out.append(fn(shared, item))
                bar.update(1)
            return out
        k = min((os.cpu_count() or 1) if jobs == -1 else jobs, len(items))
        return _joblib_map(fn, shared, items, k, bar if progress else None)


def _joblib_map(
    fn: Callable[[Any, Any], Any], shared: Any, items: Sequence[Any], k: int, bar: Any
) -> list[Any]:
    """One call per worker with a stripe of the items: `shared` (the data) is pickled once per
    worker, not once per item. With a `bar`, the workers count each finished run on a
    multiprocessing manager's queue, which a thread here turns into bar updates."""
    from joblib import Parallel, delayed  # type: ignore[import-untyped]

    def run(done: Any) -> list[list[Any]]:
        calls = (delayed(_stripe)(fn, shared, items[i::k], done) for i in range(k))
        with workers_deaf_to_ctrl_c():  # the call starts the workers, list() waits on them
            stripes = Parallel(n_jobs=k, return_as="generator")(calls)
        return list(stripes)

    if bar is None:
        stripes = run(None)
    else:
        with multiprocessing.Manager() as manager:
            done = manager.Queue()
            counter = threading.Thread(target=_count_into, args=(done, bar), daemon=True)
            counter.start()
            try:
                stripes = run(done)
            finally:
                done.put(None)
                counter.join(timeout=5)
    out: list[Any] = [None] * len(items)
    for i, part in enumerate(stripes):
        out[i::k] = part
    return out


def _count_into(done: Any, bar: Any) -> None:
    while done.get() is not None:
        bar.update(1)


def _stripe(
    fn: Callable[[Any, Any], Any], shared: Any, items: Sequence[Any], done: Any = None
) -> list[Any]:
    out = []
    for item in items:
        out.append(fn(shared, item))
        if done is not None:
            done.put(1)
    return out


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def dask_workers_problem(client: Any, module: str) -> str | None:
    """Why the Dask cluster cannot run this project's tasks, or None. Its scheduler (which
    unpickles the task graph) and each worker must import the project (`module`, one of its
    packages): a `dask scheduler` or `dask worker` started outside the project directory
    without it on PYTHONPATH cannot, and the first task then failed deep in Dask's
    deserialization, a traceback that said neither where nor what to do."""
    for where, run in (("scheduler", client.run_on_scheduler), ("workers", client.run)):
        try:
            run(importlib.import_module, module)
        except ImportError as e:
            return (
                f"its {where} cannot import this project ({e}): start the scheduler and each "
                f"worker with the project on PYTHONPATH, e.g. PYTHONPATH={PROJECT_ROOT} dask "
                "worker ADDRESS"
            )
    return None


def _dask_map(
    fn: Callable[[Any, Any], Any], shared: Any, items: Sequence[Any], address: str, bar: Any
) -> Any:
    from distributed import Client, as_completed

    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as e:
        raise RobustnessError(f"cannot reach the Dask scheduler at {address}: {e}") from None
    with client:
        if problem := dask_workers_problem(client, "backtest"):
            raise RobustnessError(f"the Dask cluster at {address}: {problem}")
        shared_future = client.scatter(shared, broadcast=True)
        futures = client.map(fn, [shared_future] * len(items), list(items), pure=False)
        for _ in as_completed(futures):
            bar.update(1)
        return client.gather(futures)


# --- Monte Carlo ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MonteCarloSpec:
    """N runs; each gets its own seed (BacktestConfig.seed: the venue's latency draws) and
    draws latency uniformly from the integers [base, base + latency_jitter_ms]
    and slippage from [base, base + slippage_jitter_bps] in steps of 0.1 bps (costs only go up
    from the base run's: a stress test, not a symmetric error bar). With a latency
    distribution (entry_latency) the latency comes from its draws under each run's seed."""

    runs: int
    seed: int = 0
    latency_jitter_ms: int = 1000
    slippage_jitter_bps: Decimal = Decimal(5)


def draw_knobs(spec: MonteCarloSpec, base: BacktestConfig) -> list[tuple[int, Decimal, int]]:
    """(latency_ms, slippage_bps, seed) of each run, from default_rng([seed, 0]): latencies,
    then slippages, then the runs' own seeds (for the venue's latency distributions)."""
    rng = np.random.default_rng([spec.seed, 0])
    lat = rng.integers(0, spec.latency_jitter_ms + 1, size=spec.runs)
    tenths = rng.integers(0, int(spec.slippage_jitter_bps * 10) + 1, size=spec.runs)
    seeds = rng.integers(0, 2**31, size=spec.runs)
    return [
        (base.latency_ms + int(a), base.slippage_bps + Decimal(int(b)) / 10, int(c))
        for a, b, c in zip(lat, tenths, seeds, strict=True)
    ]


def bootstrap_paths(
    trade_pnls: Sequence[float],
    starting_equity: float,
    runs: int,
    seed: int,
    *,
    halt_drawdown: float = 0.0,
) -> np.ndarray:
    """`runs` equity paths of len(trade_pnls) + 1 points: the start, then the cumulative sum
    of the trade PnLs drawn with replacement (indices from default_rng([seed, 1])), each path
    held flat from the trade close where its drawdown reaches `halt_drawdown` (a fraction;
    0: no halt), as `halt_at_drawdown`."""
    pnl = np.asarray(trade_pnls, dtype=float)
    rng = np.random.default_rng([seed, 1])
    idx = rng.integers(0, len(pnl), size=(runs, len(pnl)))
    steps = np.concatenate([np.zeros((runs, 1)), np.cumsum(pnl[idx], axis=1)], axis=1)
    return halt_at_drawdown(starting_equity + steps, halt_drawdown)


def halt_at_drawdown(paths: np.ndarray, limit: float) -> np.ndarray:
    """Each path held at its equity from the first point whose drawdown from the running peak
    reaches `limit` (a fraction; 0: `paths` as they are). The backtest's RiskManager halts on
    `max_drawdown_pct` and trades no more until an operator resets it; a resampled path that
    went on trading past that point drew a recovery, or a loss, the daemon would never make.
    The point is a trade close (the RiskManager sees every bar, so it halts no later)."""
    if limit <= 0:
        return paths
    peaks = np.maximum.accumulate(paths, axis=1)
    hit = peaks - paths >= limit * peaks  # as the RiskManager: (peak - equity) >= pct * peak
    first = np.where(hit.any(axis=1), hit.argmax(axis=1), paths.shape[1] - 1)
    held = np.minimum(np.arange(paths.shape[1])[np.newaxis, :], first[:, np.newaxis])
    return np.take_along_axis(paths, held, axis=1)


def halted_paths(paths: np.ndarray, limit: float) -> int:
    """How many of `halt_at_drawdown`'s paths halted: those whose drawdown reached `limit`."""
    if limit <= 0 or paths.shape[1] < 2:
        return 0
    return int(np.count_nonzero(path_max_drawdowns(paths) >= limit))


def closed_trade_drawdown(trade_pnls: Sequence[float], starting_equity: float) -> float:
    """The max drawdown of the equity after each closed trade, in the order they closed: the
    base run's figure on the bootstrap's footing (its per-bar max drawdown is deeper)."""
    steps = np.concatenate([[0.0], np.cumsum(np.asarray(trade_pnls, dtype=float))])
    return float(path_max_drawdowns((starting_equity + steps)[np.newaxis, :])[0])


def path_total_returns(paths: np.ndarray) -> np.ndarray:
    return paths[:, -1] / paths[:, 0] - 1.0


def path_max_drawdowns(paths: np.ndarray) -> np.ndarray:
    """Per path: max of 1 - equity / running peak (as metrics.max_drawdown). On bootstrap
    paths, whose points are the equity after each closed trade, this is the drawdown at trade
    closes: what a trade lost while open and won back before it closed is not in it, so it is
    never deeper, and usually shallower, than the per-bar `max_drawdown` of a run."""
    peaks = np.maximum.accumulate(paths, axis=1)
    return np.max(1.0 - paths / peaks, axis=1)


def bands(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """The PERCENTILES of `values` (numpy's linear interpolation), as {"p5": ..., ...}."""
    qs = np.percentile(np.asarray(values, dtype=float), PERCENTILES)
    return {f"p{p}": float(q) for p, q in zip(PERCENTILES, qs, strict=True)}


@dataclass(frozen=True, slots=True, kw_only=True)
class McRun:
    latency_ms: int
    slippage_bps: Decimal
    seed: int
    total_return: float
    max_drawdown: float
    final_equity: float
    fills: int
    curve: list[float]  # equity on the shared time grid (CURVE_POINTS samples)
    # (smallest, largest) order-entry latency the run's venue drew, ms; None: no draw (no
    # order sent, or no latency)
    latency_drawn_ms: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MonteCarloResult:
    spec: MonteCarloSpec
    runs: list[McRun]
    grid_ms: list[int]
    trade_pnls: list[float]
    paths: np.ndarray  # bootstrap equity paths, runs x (trades + 1)
    entry_latency: str = ""  # the base run's latency distribution, if any
    # The run's risk max_drawdown_pct as a fraction: where a bootstrap path halts (0: never).
    halt_drawdown: float = 0.0

    def halt_note(self) -> str:
        halted = halted_paths(self.paths, self.halt_drawdown)
        return report.halt_note(self.halt_drawdown, halted, len(self.paths))

    def latency_ms_range(self) -> list[int] | None:
        """[lowest, highest] order-entry latency of the runs, ms: the runs' latencies, or with
        a distribution the smallest and largest draw of any run (None: nothing was drawn, no
        run sent an order)."""
        if not self.entry_latency:
            return [min(r.latency_ms for r in self.runs), max(r.latency_ms for r in self.runs)]
        drawn = [r.latency_drawn_ms for r in self.runs if r.latency_drawn_ms is not None]
        if not drawn:
            return None
        return [min(lo for lo, _ in drawn), max(hi for _, hi in drawn)]

    def _run_latency(self, r: McRun) -> dict[str, Any]:
        if not self.entry_latency:
            return {"latency_ms": r.latency_ms}
        # The distribution replaces the run's latency_ms: what it drew instead.
        drawn = None if r.latency_drawn_ms is None else list(r.latency_drawn_ms)
        return {"latency_ms": None, "latency_ms_drawn": drawn}

    def to_dict(self) -> dict[str, Any]:
        boot: dict[str, Any] = {"trades": len(self.trade_pnls), "paths": len(self.paths)}
        if self.trade_pnls:
            boot["total_return"] = bands(path_total_returns(self.paths))
            # Not `max_drawdown`: that name is the per-bar one of the runs and summary.json.
            boot[BOOTSTRAP_DRAWDOWN] = bands(path_max_drawdowns(self.paths))
            boot[f"base_{BOOTSTRAP_DRAWDOWN}"] = closed_trade_drawdown(
                self.trade_pnls, float(self.paths[0, 0])
            )
            boot["halt_at_drawdown"] = self.halt_drawdown or None
            boot["halted_paths"] = halted_paths(self.paths, self.halt_drawdown)
        return {
            "runs": self.spec.runs,
            "seed": self.spec.seed,
            "entry_latency": self.entry_latency,
            "percentiles": list(PERCENTILES),
            "latency_ms_range": self.latency_ms_range(),
            "slippage_bps_range": [
                f"{min(r.slippage_bps for r in self.runs):f}",
                f"{max(r.slippage_bps for r in self.runs):f}",
            ],
            "randomized": {
                "total_return": bands([r.total_return for r in self.runs]),
                "max_drawdown": bands([r.max_drawdown for r in self.runs]),
                "runs": [
                    {
                        **self._run_latency(r),
                        "slippage_bps": f"{r.slippage_bps:f}",
                        "seed": r.seed,
                        "total_return": r.total_return,
                        "max_drawdown": r.max_drawdown,
                        "fills": r.fills,
                    }
                    for r in self.runs
                ],
            },
            "bootstrap": boot,
        }


def time_grid(times_ms: Sequence[int], points: int = CURVE_POINTS) -> list[int]:
    n = min(points, len(times_ms))
    return [int(t) for t in np.linspace(times_ms[0], times_ms[-1], n)]


def _mc_task(data: MarketData, item: tuple[BacktestConfig, list[int]]) -> McRun:
    config, grid = item
    with quiet_run():
        r = run_backtest(data, config)
    curve = np.interp(grid, np.asarray(r.times_ms, dtype=float), np.asarray(r.equity))
    return McRun(
        latency_ms=config.latency_ms,
        slippage_bps=config.slippage_bps,
        seed=config.seed,
        total_return=r.summary.total_return,
        max_drawdown=r.summary.max_drawdown,
        final_equity=r.summary.final_equity,
        fills=r.summary.fills,
        curve=[float(x) for x in curve],
        latency_drawn_ms=(
            (r.counters["venue_entry_latency_ms_min"], r.counters["venue_entry_latency_ms_max"])
            if r.counters["venue_entry_latency_draws"]
            else None
        ),
    )


def monte_carlo(
    data: MarketData,
    base: BacktestResult,
    spec: MonteCarloSpec,
    *,
    jobs: int = 1,
    dask_scheduler: str | None = None,
    progress: bool = False,
) -> MonteCarloResult:
    """The randomized runs of `base.config` on `data` and the bootstrap of `base`'s trades."""
    if spec.runs < 1:
        raise RobustnessError("--monte-carlo needs at least 1 run")
    grid = time_grid(base.times_ms)
    # A latency distribution (BacktestConfig.entry_latency) replaces latency_ms: its draws vary
    # with each run's seed, and latency_ms is left as it is.
    dist = getattr(base.config, "entry_latency", "")
    quiet = replace(base.config, progress=False, journal_dir=None)
    items = [
        (
            replace(
                quiet,
                latency_ms=base.config.latency_ms if dist else lat,
                slippage_bps=slip,
                seed=seed,
            ),
            grid,
        )
        for lat, slip, seed in draw_knobs(spec, base.config)
    ]
    label = "monte carlo" if progress else ""
    runs = parallel_map(
        _mc_task, data, items, jobs=jobs, dask_scheduler=dask_scheduler, progress=label
    )
    pnls = metrics.trade_pnls([f.metric_row() for f in base.journal.fills])
    start = float(base.config.starting_balance)
    halt = run_halt_drawdown(base.config)
    paths = (
        bootstrap_paths(pnls, start, spec.runs, spec.seed, halt_drawdown=halt)
        if pnls
        else np.full((spec.runs, 1), start)
    )
    return MonteCarloResult(
        spec=spec,
        runs=runs,
        grid_ms=grid,
        trade_pnls=pnls,
        paths=paths,
        entry_latency=dist,
        halt_drawdown=halt,
    )


def run_halt_drawdown(config: BacktestConfig) -> float:
    """The drawdown (a fraction; 0: off) at which the run's RiskManager halts: the bootstrap
    halts its paths there too (`halt_at_drawdown`). A run's config holds the risk limits it
    ran with (`run_backtest` fills them in)."""
    risk = config.risk
    return 0.0 if risk is None else float(risk.max_drawdown_pct) / 100


# --- sweeps and walk-forward ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepSpec:
    """A sweep file:

        metric = "sharpe"            # optional: what "best" means (default sharpe)
        [fixed]                      # optional: settings every run shares
        latency_ms = 50
        [grid]                       # every combination is one run
        fast = [5, 10, 20]
        slow = [30, 50]
        [walk_forward]               # optional
        train_days = 2
        test_days = 1

    Keys are BacktestConfig fields (latency_ms, slippage_bps, taker_fee, ...) or the
    strategy's keyword parameters (fast, slow, order_notional_usdt, ...)."""

    grid: dict[str, list[Any]]
    fixed: dict[str, Any] = field(default_factory=dict)
    metric: str = "sharpe"
    train_days: float | None = None
    test_days: float | None = None
    source: str = ""

    @property
    def walk_forward(self) -> bool:
        return self.train_days is not None


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file; RobustnessError with one sentence when it is unusable."""
    p = Path(path)
    where = f"sweep file {p}"
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RobustnessError(f"{where} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RobustnessError(f"cannot read {where}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise RobustnessError(f"bad {where}: {e}") from None
    unknown = set(doc) - {"metric", "fixed", "grid", "walk_forward"}
    if unknown:
        raise RobustnessError(f"bad {where}: unknown key(s) {', '.join(sorted(unknown))}")
    grid = doc.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise RobustnessError(f"bad {where}: needs a [grid] table of lists, e.g. fast = [5, 10]")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise RobustnessError(f"bad {where}: grid.{key} must be a non-empty list")
        if any(isinstance(v, dict | list) for v in values):
            raise RobustnessError(f"bad {where}: grid.{key} must hold plain values")
    fixed = doc.get("fixed", {})
    if not isinstance(fixed, dict):
        raise RobustnessError(f"bad {where}: [fixed] must be a table")
    # The grid's value would replace the fixed one in every point, the main run keep it.
    both = sorted(set(fixed) & set(grid))
    if both:
        verb = "is" if len(both) == 1 else "are"
        raise RobustnessError(
            f"bad {where}: {', '.join(both)} {verb} in both [fixed] and [grid] (a run takes one "
            "value: keep one)"
        )
    metric = doc.get("metric", "sharpe")
    if metric not in SWEEP_METRICS:
        raise RobustnessError(
            f"bad {where}: metric {metric!r} is not one of {', '.join(SWEEP_METRICS)}"
        )
    wf = doc.get("walk_forward")
    train = test = None
    if wf is not None:
        if not isinstance(wf, dict) or set(wf) != {"train_days", "test_days"}:
            raise RobustnessError(f"bad {where}: [walk_forward] needs train_days and test_days")
        train, test = wf["train_days"], wf["test_days"]
        for name, v in (("train_days", train), ("test_days", test)):
            if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
                raise RobustnessError(f"bad {where}: walk_forward.{name} must be a number > 0")
    short_train = train is not None and train * DAY_MS < metrics.MIN_ANNUALIZED_SPAN_MS
    if short_train and metric in metrics.ANNUALIZED_METRICS:
        raise RobustnessError(
            f"bad {where}: metric {metric!r} is annualized, and a train window of {train} "
            f"days (under a day) has no annualized figures: {_RANK_INSTEAD}, or train on a "
            "day or more"
        )
    return SweepSpec(
        grid=dict(grid),
        fixed=dict(fixed),
        metric=metric,
        train_days=train,
        test_days=test,
        source=str(p),
    )


def grid_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every combination of the grid, in file order (the last key varies fastest)."""
    keys = list(spec.grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*spec.grid.values())]


_CONFIG_FIELDS = {f.name for f in fields(BacktestConfig)} - _NOT_SWEEPABLE
# The same, in BacktestConfig's order: what a sweep file's error lists besides the strategy's.
_SETTINGS_SHOWN = ", ".join(f.name for f in fields(BacktestConfig) if f.name in _CONFIG_FIELDS)
# The risk limits: --config's [risk], one for every run of a sweep (a sweep sets none).
_RISK_KEYS = frozenset(f.name for f in fields(RiskConfig)) - _CONFIG_FIELDS


def _as_type_of(like: Any, value: Any, key: str) -> Any:
    if isinstance(like, Decimal) or (isinstance(value, float) and not isinstance(like, int)):
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            raise RobustnessError(f"bad sweep setting {key} = {value!r}: not a number") from None
        if not d.is_finite():
            raise RobustnessError(f"bad sweep setting {key} = {value!r}: not a finite number")
        return d
    if isinstance(like, bool) or isinstance(value, bool):
        return value
    if isinstance(like, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def point_config(base: BacktestConfig, settings: Mapping[str, Any]) -> BacktestConfig:
    """`base` with `settings` applied: config fields replaced, anything else a strategy
    parameter (numbers typed like the base's value; TOML floats become Decimals)."""
    changes: dict[str, Any] = {}
    params = dict(base.strategy_params)
    for key, value in settings.items():
        if key in _CONFIG_FIELDS:
            typed = _as_type_of(getattr(base, key), value, key)
            if isinstance(typed, int | Decimal) and not isinstance(typed, bool) and typed < 0:
                raise RobustnessError(
                    f"bad sweep setting {key} = {value!r}: expected a number >= 0"
                )
            changes[key] = typed
        else:
            params[key] = _as_type_of(params.get(key), value, key)
    return replace(base, strategy_params=params, progress=False, journal_dir=None, **changes)


def with_fixed(base: BacktestConfig, spec: SweepSpec) -> BacktestConfig:
    """The main run's config under the sweep file's `[fixed]`: settings every run shares,
    the main run too (its report would otherwise describe another trading than the grid's);
    its progress bar and journal stay the command line's."""
    if not spec.fixed:
        return base
    fixed = point_config(base, spec.fixed)
    return replace(fixed, progress=base.progress, journal_dir=base.journal_dir)


def order_cap_refusal(config: BacktestConfig) -> str | None:
    """Why the run's risk limits would deny its every entry, else None: an order_notional_usdt
    above their max_order_notional_usdt (as `--notional` over --config's cap is refused), a
    run of 0 fills that ranks as a result. Without limits (risk None) the run gets
    `backtest_risk`'s, whose caps follow its notional: never below it."""
    order = config.strategy_params.get("order_notional_usdt")
    if config.risk is None or order is None or isinstance(order, bool):
        return None
    try:
        size = Decimal(str(order))
    except InvalidOperation:
        return None  # not a number: the strategy's to refuse
    cap = config.risk.max_order_notional_usdt
    if not size.is_finite() or size <= cap:
        return None
    return (
        f"order_notional_usdt {toml_shown(order)} is above max_order_notional_usdt "
        f"{cap.normalize():f} of the risk limits: every entry would be denied"
    )


def check_point(config: BacktestConfig, source: str) -> str | None:
    """None when the strategy accepts these parameters, else why it refuses (ValueError);
    an unknown parameter name or a value of another type (TypeError) is an error of the
    sweep file `source`."""
    try:
        make_strategy(config.strategy, **dict(config.strategy_params))
    except TypeError as e:  # "strategy sma_crossover: no parameter ...": it names the strategy
        raise RobustnessError(f"bad sweep file {source}: {e}") from None
    except ValueError as e:
        return str(e)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepTask:
    window: int  # -1: the whole data
    phase: str  # "full" | "train" | "test"
    point: int  # index into the grid points
    start_ms: int
    end_ms: int
    config: BacktestConfig


def task_data(data: MarketData, task: SweepTask) -> MarketData:
    """The task's rows, and before them the history its strategy warms from (each window
    starts warm, as a daemon started then would)."""
    return slice_data(data, task.start_ms - WARM_HISTORY_BARS * MINUTE_MS, task.end_ms)


def _sweep_task(data: MarketData, task: SweepTask) -> dict[str, Any]:
    part = task_data(data, task)
    times = data_times(part)
    if not len(times) or times[-1] < task.start_ms:
        return {"rows": 0}
    with quiet_run():
        r = run_backtest(part, task.config)
    out: dict[str, Any] = {"rows": r.units}
    out.update({k: getattr(r.summary, k) for k in SWEEP_METRICS})
    held = r.buy_and_hold
    out[BUY_AND_HOLD] = None if held is None else float(held.total_return)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepResult:
    spec: SweepSpec
    points: list[dict[str, Any]]  # the runnable grid points
    skipped: list[tuple[dict[str, Any], str]]  # grid points refused (accepted_points), why
    windows: list[Window]
    rows: list[dict[str, Any]]  # one per (window, phase, point): settings + metrics
    choices: list[dict[str, Any]]  # full: [best]; walk-forward: one per window

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.spec.source,
            "metric": self.spec.metric,
            "grid": self.spec.grid,
            "fixed": self.spec.fixed,
            "points": len(self.points),
            "skipped": [{"settings": p, "reason": why} for p, why in self.skipped],
            "runs": len(self.rows),
        }
        if self.spec.walk_forward:
            out["walk_forward"] = {
                "train_days": self.spec.train_days,
                "test_days": self.spec.test_days,
                "windows": self.choices,
                "out_of_sample_total_return": oos_total_return(self.choices),
            }
        else:
            out["best"] = self.choices[0] if self.choices else None
        return out


def rank_key(metric: str) -> Callable[[dict[str, Any]], tuple[int, float]]:
    """Sort key putting the best row first; rows without the metric (None) last. `metric`
    is one of SWEEP_METRICS (load_sweep refuses any other), whose table gives its direction."""
    sign = 1.0 if SWEEP_METRICS[metric] is Better.LOWER else -1.0

    def key(row: dict[str, Any]) -> tuple[int, float]:
        v = row.get(metric)
        return (1, 0.0) if v is None else (0, sign * float(v))

    return key


def best_row(rows: Sequence[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """The best row by `metric` (the first in grid order on a tie), None if none has it."""
    ranked = sorted(rows, key=rank_key(metric))  # stable: ties keep grid order
    return ranked[0] if ranked and ranked[0].get(metric) is not None else None


def oos_total_return(choices: Sequence[dict[str, Any]]) -> float | None:
    """The chosen points' test-window returns compounded, window after window."""
    rets = [c.get("test_total_return") for c in choices]
    if not rets or any(r is None for r in rets):
        return None
    growth = 1.0
    for r in rets:
        growth *= 1.0 + float(r)  # type: ignore[arg-type]
    return growth - 1.0


def accepted_points(
    base: BacktestConfig, spec: SweepSpec
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]], list[BacktestConfig]]:
    """The grid's points the strategy and the risk limits accept with their configs, and those
    refused with why (`check_point`, `order_cap_refusal`); a parameter the strategy does not
    take, a value of another type, or a grid whose every point is refused, is the sweep file's
    error (RobustnessError). The command line asks before it reads the data and runs the main
    backtest: a misspelt key was said only after that run."""
    if (unused := unused_latency_ms(base, spec)) is not None:
        raise RobustnessError(f"bad sweep file {spec.source}: {unused}")
    points, skipped, configs = [], [], []
    for settings in grid_points(spec):
        config = point_config(base, {**spec.fixed, **settings})
        try:
            why = check_point(config, spec.source)
        except RobustnessError as e:  # a misspelt setting, or a risk limit, reads as a parameter
            note = _sweep_keys_note(str(e), {**spec.fixed, **settings})
            raise RobustnessError(f"{e}{note}") from None
        why = why or order_cap_refusal(config)
        if why is None:
            points.append(settings)
            configs.append(config)
        else:
            skipped.append((settings, why))
    if not points:  # said before the main run, which would be for nothing
        first, why = skipped[0]
        shown = " ".join(f"{k}={v}" for k, v in first.items())
        raise RobustnessError(
            f"no grid point of {spec.source} can run, each is refused (first: {shown}: {why})"
        )
    return points, skipped, configs


def unused_latency_ms(base: BacktestConfig, spec: SweepSpec) -> str | None:
    """Why the sweep file's `latency_ms` would go unused, else None: a latency distribution
    (`entry_latency`, from --latency or the file) replaces it in the runs, so a grid of
    latencies ran alike to the last digit and its 'best' latency was a pick among equals."""
    table = spec.grid if "latency_ms" in spec.grid else spec.fixed
    if "latency_ms" not in table:
        return None
    in_file = "entry_latency" in spec.grid or "entry_latency" in spec.fixed
    dists = spec.grid.get("entry_latency", [spec.fixed.get("entry_latency", base.entry_latency)])
    if not all(dists):  # a grid with "" among its distributions: those points run latency_ms
        return None
    dist = dists[0]
    where = "the sweep file's" if in_file else "--latency"
    return (
        f"latency_ms = {toml_shown(table['latency_ms'])} would go unused: the latency "
        f"distribution entry_latency = {toml_shown(dist)} ({where}) replaces it in every run: "
        "keep one"
    )


def _sweep_keys_note(error: str, settings: Mapping[str, Any]) -> str:
    """What a sweep file can set, said after the key `error` names (`no parameter "x"`), else
    "": the strategy's parameters (listed by `error`) and the backtest settings, a close one
    suggested (`latency` for latency_ms); a risk limit (stop_loss_pct) is said to be one,
    which comes from --config (the error listed only the strategy's parameters)."""
    key = next((k for k in settings if f'no parameter "{k}"' in error), None)
    if key is None:
        return ""
    near = difflib.get_close_matches(key, sorted(_CONFIG_FIELDS), n=1, cutoff=0.75)
    meant = f" (or the backtest setting {near[0]}?)" if near else ""
    risk = f"{key} is one of the risk limits, which" if key in _RISK_KEYS else "the risk limits"
    return (
        f"{meant}; a sweep sets only those and the backtest settings ({_SETTINGS_SHOWN}); "
        f"{risk} come from --config"
    )


def sweep_tasks(
    data: MarketData, base: BacktestConfig, spec: SweepSpec
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]], list[Window], list[SweepTask]]:
    points, skipped, configs = accepted_points(base, spec)
    start, end = data_times(data)[0], data_end_ms(data)
    if base.trade_from_ms is not None:
        start = max(start, base.trade_from_ms)  # the rows before it only warm the strategy
    if (
        not spec.walk_forward
        and spec.metric in metrics.ANNUALIZED_METRICS
        and metrics.not_annualized_reason(end - start) is not None
    ):
        raise RobustnessError(
            f"the sweep's metric {spec.metric!r} is annualized, and the data to trade spans "
            f"{metrics.span_text(end - start)} (under a day): no run has annualized figures; "
            f"{_RANK_INSTEAD} in the sweep file"
        )
    windows: list[Window] = []
    tasks: list[SweepTask] = []
    if spec.walk_forward:
        train_ms = round(float(spec.train_days) * DAY_MS)  # type: ignore[arg-type]
        test_ms = round(float(spec.test_days) * DAY_MS)  # type: ignore[arg-type]
        windows = walk_forward_windows(start, end, train_ms, test_ms)
        if not windows:
            raise RobustnessError(
                f"the data ({(end - start) / DAY_MS:.2f} days) is shorter than one "
                f"walk-forward window ({spec.train_days} + {spec.test_days} days)"
            )
        for w in windows:
            for phase, a, b in (
                ("train", w.train_start, w.train_end),
                ("test", w.test_start, w.test_end),
            ):
                for i, config in enumerate(configs):
                    tasks.append(
                        SweepTask(
                            window=w.index,
                            phase=phase,
                            point=i,
                            start_ms=a,
                            end_ms=b,
                            config=replace(config, trade_from_ms=a),
                        )
                    )
    else:
        for i, config in enumerate(configs):
            tasks.append(
                SweepTask(
                    window=-1,
                    phase="full",
                    point=i,
                    start_ms=start,
                    end_ms=end,
                    config=replace(config, trade_from_ms=start),
                )
            )
    return points, skipped, windows, tasks


def run_sweep(
    data: MarketData,
    base: BacktestConfig,
    spec: SweepSpec,
    *,
    jobs: int = 1,
    dask_scheduler: str | None = None,
    progress: bool = False,
) -> SweepResult:
    """Every (window, phase, grid point) backtest, in parallel; the best point per window."""
    points, skipped, windows, tasks = sweep_tasks(data, base, spec)
    label = "sweep" if progress else ""
    outputs = parallel_map(
        _sweep_task, data, tasks, jobs=jobs, dask_scheduler=dask_scheduler, progress=label
    )
    rows = []
    for task, result in zip(tasks, outputs, strict=True):
        row: dict[str, Any] = {
            "window": task.window,
            "phase": task.phase,
            "start_ms": task.start_ms,
            "end_ms": task.end_ms,
            "point": task.point,
            **points[task.point],
        }
        row.update({k: result.get(k) for k in ("rows", *SWEEP_METRICS, BUY_AND_HOLD)})
        row["selected"] = False
        rows.append(row)
    choices = []
    metric = spec.metric
    if spec.walk_forward:
        for w in windows:
            train = [r for r in rows if r["window"] == w.index and r["phase"] == "train"]
            pick = best_row(train, metric)
            if pick is None:
                continue
            pick["selected"] = True
            test = next(
                r
                for r in rows
                if r["window"] == w.index and r["phase"] == "test" and r["point"] == pick["point"]
            )
            test["selected"] = True
            choices.append(
                {
                    "window": w.index,
                    "train_start_ms": w.train_start,
                    "train_end_ms": w.train_end,
                    "test_start_ms": w.test_start,
                    "test_end_ms": w.test_end,
                    "settings": points[pick["point"]],
                    f"train_{metric}": pick[metric],
                    f"test_{metric}": test[metric],
                    "test_total_return": test["total_return"],
                    "test_max_drawdown": test["max_drawdown"],
                    f"train_{BUY_AND_HOLD}": pick[BUY_AND_HOLD],
                    f"test_{BUY_AND_HOLD}": test[BUY_AND_HOLD],
                }
            )
    else:
        pick = best_row(rows, metric)
        if pick is not None:
            pick["selected"] = True
            choices.append(
                {
                    "settings": points[pick["point"]],
                    metric: pick[metric],
                    "total_return": pick["total_return"],
                    "max_drawdown": pick["max_drawdown"],
                    BUY_AND_HOLD: pick[BUY_AND_HOLD],
                }
            )
    return SweepResult(
        spec=spec, points=points, skipped=skipped, windows=windows, rows=rows, choices=choices
    )


def sweep_columns(result: SweepResult) -> list[str]:
    return [
        "window",
        "phase",
        "start_ms",
        "end_ms",
        *result.spec.grid,
        "rows",
        *SWEEP_METRICS,
        BUY_AND_HOLD,
        "selected",
    ]


def write_sweep_csv(result: SweepResult, path: Path) -> Path:
    """sweep.csv: one row per grid point and window/phase, with the key metrics."""
    cols = sweep_columns(result)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for row in result.rows:
            w.writerow(["" if row.get(c) is None else _cell(row.get(c)) for c in cols])
    return path


def _cell(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return repr(v)
    return str(v)


def heatmap_table(result: SweepResult) -> tuple[str, str, list[Any], list[Any], np.ndarray] | None:
    """For a 2-D grid: (row key, column key, row values, column values, metric matrix), the
    metric from the full run, or its mean over the out-of-sample windows; None otherwise."""
    keys = list(result.spec.grid)
    if len(keys) != 2:
        return None
    ky, kx = keys
    ys, xs = result.spec.grid[ky], result.spec.grid[kx]
    phase = "test" if result.spec.walk_forward else "full"
    m = np.full((len(ys), len(xs)), np.nan)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            vals = [
                r[result.spec.metric]
                for r in result.rows
                if r["phase"] == phase
                and r[ky] == y
                and r[kx] == x
                and r[result.spec.metric] is not None
            ]
            if vals:
                m[i, j] = float(np.mean(vals))
    return ky, kx, ys, xs, m
