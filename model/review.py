"""Retrain, backtest the candidate against the promoted model, promote it only if it is better.

    python -m model.review --registry models/registry --init --data PATH.csv.gz --symbol BTCUSDT \\
        --train-days 30 --eval-days 7 [--end 2025-06-24] [--metric sharpe] \\
        [--min-improvement 0.1] [model.train's flags: --horizon --c --jobs --dask-scheduler ...]
    python -m model.review --registry models/registry --candidate models/m.json --data PATH \\
        [--eval-days 7 | --start 2025-05-10 --end 2025-05-11]
    python -m model.review --registry models/registry --rollback
    python -m model.review --registry models/registry --list
    python -m model.review --registry models/registry --promote 20250511T120000Z

`--init` starts a new registry (first use: a new or empty directory); without it --registry
must be a registry already (`PROMOTED` or `versions/` in it), so a mistyped path is refused
rather than started as a new registry whose first candidate is promoted untested.

Windows (UTC, 1m klines): the review ends at `--end` (default: after the file's last bar); the
evaluation window is the last `--eval-days` before it (or [--start, --end)); with
`--train-days N` a candidate is trained (`model.train.train`, walk-forward report included) on
the N days just before the evaluation window, so the evaluation is out of sample: no bar of it
is seen in training, labels included (they are computed inside the training window).

Both models, the candidate and the promoted one, are backtested on the same evaluation window
through `backtest.runner.run_backtest` (`strategy="logistic_regression"`, the backtester's
fees: every metric is after fees). The strategy is warmed as the backtester's `--start` warms
it (the last `warmup_bars` bars before the window, as the daemon from REST klines) and trades
from the window's first bar: 60 bars would make every feature exist, but the RSI/ATR/MACD
averages would still remember their seeds (RSI off by up to 1e-2 from the training features),
and the evaluation would not be what the daemon trades on those days. The candidate is
added to the registry (every version is kept) and its review (windows, both backtests'
metrics, the training report, the decision) is appended to its `review.json`. It is promoted
when nothing is promoted yet, when the promoted model cannot run with this code (trained with
other feature code, or damaged: said, and not compared), or when its metric beats the promoted
model's by more than
`--min-improvement` (an absolute margin in the metric's unit; for max_drawdown, lower is
better; total_return, annualized_return and max_drawdown are fractions, so a margin on them is
in percentage points: 0.01, or `1%`, is 1 point, not 1 % of the value; a plain margin of 0.1 or
more, 0.5 typed for half a point, is refused: write a margin that large `10%`; a plain floor
of 1 or more, `--min-metric 1` meant as 1 %, is refused too);
a metric the backtest cannot define (a Sharpe without trades) counts as the worst value. With
`--min-metric X` the candidate must also beat X on its own, strictly (e.g. `--metric
total_return --min-metric 0`: never promote a model that does not make money after fees, even
over a worse one or an empty registry; one that never trades, at exactly 0, is not promoted).
A candidate whose recorded training window overlaps the evaluation window
(a `--candidate` evaluated where it learned) has an in-sample result: it is said, and such a
candidate is never promoted over another model on it, nor does it clear `--min-metric`; a
promoted model evaluated inside its own training window is said likewise (its result is
flattered). Exit 0 after printing the comparison; bad inputs exit 2 with one line.
"""

# Ctrl+C's handler goes in before the imports: the backtester, ~0.3 s
from __future__ import annotations

from core.early_interrupt import catch_while_importing, imports_done

# As a command only (tests import this module), and only where Ctrl+C
# would interrupt anyway.
if __name__ == "__main__":
    catch_while_importing()

import argparse
import math
import re
import sys
import tempfile
from bisect import bisect_left
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from backtest.data import DataError, Klines, MarketData, check_symbol, load
from backtest.metrics import ANNUALIZED_METRICS, not_annualized_reason, span_text
from backtest.run_lines import named_run
from backtest.runner import WARM_HISTORY_BARS, BacktestConfig, BacktestResult, run_backtest
from core.clock import parse_utc_ms
from model import registry

# Here, not in `main`: a Ctrl+C while it loads is then the handler's one line above.
from model.input_error import InputError
from model.inputs import symbol_of, write_problem
from model.live import ModelMismatchError, load_linear_model
from model.train import add_train_arguments
from runtime.flags import (
    OneLineParser,
    StoreOnce,
    error_line,
    exit_status,
    path_text,
    print_lines,
)

imports_done()  # `main` takes Ctrl+C from here

# name -> +1 when higher is better, -1 when lower is better (backtest.metrics.Summary fields)
METRICS: dict[str, int] = {
    "total_return": 1,
    "annualized_return": 1,
    "sharpe": 1,
    "sortino": 1,
    "calmar": 1,
    "profit_factor": 1,
    "expectancy": 1,
    "max_drawdown": -1,
}
# The metrics that are fractions (0.01 = 1 %): a margin or a floor on them typed as 1, meaning
# 1 %, asked for 100 percentage points, and nothing was ever promoted.
FRACTION_METRICS = ("total_return", "annualized_return", "max_drawdown")
DAY_MS = 86_400_000
MINUTE_MS = 60_000
# The bars the backtester replays from klines: 1m, without taker volume or trade counts; the
# strategy refuses a model trained on other bars (interval, flow features).
BACKTEST_BARS = {"bar_interval": "1m", "taker_flow": False}
PROG = "python -m model.review"  # its error lines start `model.review: error: `


class UsageError(Exception):
    """A bad flag or input: one line `model.review: error: ...`, exit status 2."""


class _Parser(OneLineParser):
    """A flag mistake is a UsageError, told in the same form as the review's own errors
    (`model.review: error: ...`, as `model.train` says both): it said
    `python -m model.review: error:` for a flag and `model.review:` for the rest."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A value below zero as --min-metric takes it (`-0.5%`, `-5e-1`) is that value, not a
        # flag: argparse knows only `-1` and `-.5` as negative numbers, and said "argument
        # --min-metric: expected one argument" (only `--min-metric=-0.5%` passed).
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*%?$", re.I)

    def fail(self, message: str) -> NoReturn:
        raise UsageError(message)


def _time_ms(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_utc_ms(text)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


# A plain --min-improvement on a fraction metric from here on is refused: 0.5 read as 50
# percentage points, where 0.5 typed for half a point (0.5 %) asked for a hundred times the
# margin, and nothing was promoted. A margin that large is written unambiguously: `50%`.
PLAIN_MARGIN_LIMIT = 0.1


def metric_amount(
    flag: str, text: str, metric: str, *, at_least: float | None = None, margin: bool = False
) -> float:
    """A --min-improvement (`margin`) or --min-metric value in --metric's unit. On a fraction
    metric (FRACTION_METRICS) `N%` is N percentage points (1% = 0.01) and a plain value is a
    fraction; a plain floor of 1 or more, and a plain margin of PLAIN_MARGIN_LIMIT (10 points)
    or more, is refused, saying the unit and what was probably meant (the same amount written
    with `%` is taken); on any other metric a `%` is refused."""
    typed = text.strip()
    percent = typed.endswith("%")
    try:
        value = float(typed.removesuffix("%"))
    except ValueError:
        raise UsageError(f"bad {flag} {text!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"bad {flag} {text!r}: expected a number")
    if at_least is not None and value < at_least:
        raise UsageError(f"bad {flag} {text!r}: expected >= {at_least:g}")
    if metric not in FRACTION_METRICS:
        if percent:
            raise UsageError(
                f"bad {flag} {text!r}: --metric {metric} is not a percentage; give a plain number"
            )
        return value
    if percent:
        return value / 100
    if margin and abs(value) >= PLAIN_MARGIN_LIMIT:
        raise UsageError(
            f"bad {flag} {text!r}: --metric {metric} is a fraction (0.01 = 1 percentage "
            f"point), so {value:g} would ask for {_points(value * 100)} more; for "
            f"{_points(value)} give {value / 100:g} or {value:g}%, for {_points(value * 100)} "
            f"{value * 100:g}%"
        )
    if abs(value) >= 1:
        raise UsageError(
            f"bad {flag} {text!r}: --metric {metric} is a fraction (0.01 = 1 %), so {value:g} "
            f"would be {value * 100:g} %; for {value:g} % give {value / 100:g} or {value:g}%"
        )
    return value


def _points(n: float) -> str:
    return f"{n:g} point{'' if n == 1 else 's'}"


def amount_text(metric: str, value: float, *, margin: bool = False) -> str:
    """A margin or floor as given to the review: on a fraction metric `0.01 (1 %)` for a
    floor, `0.01 (1 percentage point)` for a margin (an absolute one, not 1 % of the value)."""
    if metric not in FRACTION_METRICS or value == 0:
        return f"{value:g}"
    if margin:
        return f"{value:g} ({_points(value * 100).replace(' ', ' percentage ')})"
    return f"{value:g} ({value * 100:g} %)"


def metric_value(result: BacktestResult, metric: str) -> float:
    """The metric as a score where higher is better (-inf when undefined)."""
    value = getattr(result.summary, metric)
    if value is None or not math.isfinite(value):
        return -math.inf
    return float(value) * METRICS[metric]


def summary_value(result: BacktestResult, metric: str) -> float | None:
    """The metric as summary.json gives it (max_drawdown a depth >= 0, lower better), None
    when the backtest cannot define it: review.json's `candidate_value`/`promoted_value`."""
    value = getattr(result.summary, metric)
    return float(value) if value is not None and math.isfinite(value) else None


def backtest_model(
    model_path: Path,
    data: MarketData,
    symbol: str,
    *,
    notional: Decimal = Decimal(1000),
    progress: bool = False,
    trade_from_ms: int | None = None,
) -> BacktestResult:
    """Backtest the model on `data`; with `trade_from_ms` the bars before it only warm it."""
    config = BacktestConfig(
        symbol=symbol,
        strategy="logistic_regression",
        strategy_params={
            "model_path": str(model_path),
            "order_notional_usdt": notional,
            **BACKTEST_BARS,
        },
        progress=progress,
        trade_from_ms=trade_from_ms,
    )
    return run_backtest(data, config)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--registry", required=True, type=path_text, help="model registry directory")
    p.add_argument(
        "--candidate",
        default=None,
        type=path_text,
        help="candidate model JSON file, or a registry directory (its promoted model), "
        "instead of training one (--train-days)",
    )
    p.add_argument(
        "--data",
        action=StoreOnce,
        default=None,
        type=path_text,
        help="1m klines the candidate is trained and both models are backtested on (the "
        "backtester's --data formats, a history store's root too)",
    )
    p.add_argument(
        "--symbol",
        default="BTCUSDT",
        help="the symbol of --data, e.g. BTCUSDT (BTC/USDT too; default: %(default)s)",
    )
    p.add_argument(
        "--train-days",
        type=float,
        default=None,
        help="train a candidate on the N days before the evaluation window (needs --eval-days "
        "or --start)",
    )
    p.add_argument(
        "--eval-days",
        type=float,
        default=None,
        help="evaluate (backtest) both models on the last M days (default: the whole --data, "
        "or from --start)",
    )
    p.add_argument(
        "--start",
        default=None,
        help="evaluation start, UTC date/datetime or epoch ms (instead of --eval-days)",
    )
    p.add_argument(
        "--end",
        default=None,
        help="evaluation end, exclusive, same forms (default: the data's end)",
    )
    p.add_argument(
        "--metric",
        default="total_return",
        choices=sorted(METRICS),
        help="what the candidate must beat the promoted model on (max_drawdown: lower is "
        "better; default: %(default)s)",
    )
    p.add_argument(
        "--min-improvement",
        default="0",
        help="by more than this absolute margin on --metric, in its unit: total_return, "
        "annualized_return and max_drawdown are fractions, so the margin is in percentage "
        "points, not relative (0.005, or 0.5%%, = half a point: a 2.0%% return must be "
        "beaten by more than 2.5%%; a plain 0.1 or more is refused: write 10%%), the others "
        "plain numbers (default: %(default)s)",
    )
    p.add_argument(
        "--min-metric",
        default=None,
        help="the candidate's --metric must also beat this value to be promoted (strictly: at "
        "it, not promoted), in the metric's unit as --min-improvement (default: no floor)",
    )
    p.add_argument(
        "--notional",
        default="1000",
        help="position size in the backtests, USDT (default: %(default)s)",
    )
    p.add_argument("--rollback", action="store_true", help="re-promote the previous version")
    p.add_argument(
        "--list",
        action="store_true",
        help="list the versions (training window, last review) and the promotion history",
    )
    p.add_argument(
        "--promote",
        default=None,
        metavar="VERSION",
        help="promote this version (its id, or a unique start of it), e.g. back to a newer one "
        "after a --rollback",
    )
    p.add_argument(
        "--init",
        action="store_true",
        help="start a new registry at --registry (first use; without it the directory must "
        "be a registry already, so a mistyped path is refused)",
    )
    group = p.add_argument_group(TRAINING_GROUP)
    add_train_arguments(group)
    return p


TRAINING_GROUP = "training (with --train-days)"


def typed_training_flags(argv: Sequence[str]) -> list[str]:
    """The training flags typed in `argv` (`--folds`, `--horizon`, ...; not `--progress`, which
    the backtests show too), by option name: a `--candidate FILE` is reviewed as it was
    trained, so beside it they changed nothing, and nothing said so."""
    p = parser()
    group = next(g for g in p._action_groups if g.title == TRAINING_GROUP)
    actions = [a for a in group._group_actions if a.dest != "progress"]
    for action in actions:
        action.default = argparse.SUPPRESS
    typed = p.parse_args(argv)
    return [a.option_strings[0] for a in actions if hasattr(typed, a.dest)]


def _fmt(metric: str, v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    if metric == "max_drawdown":  # a depth, as the backtester prints it: "+0.62%" read as a gain
        return f"{v:.4%}"
    pct = ("total_return", "annualized_return")
    return f"{v:+.4%}" if metric in pct else f"{v:+.4f}"


def _print_comparison(rows: dict[str, BacktestResult], metric: str) -> None:
    cols = list(rows)
    print(f"{'':18}" + "".join(f"{c:>18}" for c in cols))
    names = ["total_return", "sharpe", "max_drawdown"]
    if metric not in names:
        names.append(metric)

    def metric_cell(name: str) -> Callable[[BacktestResult], str]:
        return lambda r: _fmt(name, getattr(r.summary, name))

    fields: list[tuple[str, Callable[[BacktestResult], Any]]] = [(n, metric_cell(n)) for n in names]
    fields += [
        ("fees (USDT)", lambda r: f"{r.summary.fees:.2f}"),
        ("fills", lambda r: str(r.summary.fills)),
    ]
    for name, get in fields:
        mark = " *" if name == metric else ""
        print(f"{name + mark:18}" + "".join(f"{get(rows[c]):>18}" for c in cols))


def _ceil_minute(ms: int) -> int:
    return ms + (-ms) % MINUTE_MS


def _windows(args: argparse.Namespace, data_start: int, data_end: int) -> tuple[int, int]:
    """The evaluation window [start, end) in ms."""
    end = _time_ms(args.end)
    end = data_end if end is None else min(end, data_end)
    if args.eval_days is not None:
        if args.start is not None:
            raise UsageError("give --eval-days or --start, not both")
        if not (args.eval_days > 0 and math.isfinite(args.eval_days)):
            raise UsageError(f"bad --eval-days {args.eval_days}: expected > 0")
        start = end - int(args.eval_days * DAY_MS)
    else:
        given = _time_ms(args.start)
        start = data_start if given is None else given
    # On the 1m grid: a window starting inside a minute (--eval-days 0.01, --start 12:00:30)
    # would start at the next bar while the training, which ends at the window's start, kept
    # the bar it began in, and its recorded window would overlap the evaluation's.
    start, end = _ceil_minute(start), _ceil_minute(end)
    if end <= start:
        raise UsageError(f"empty evaluation window {_iso(start)} .. {_iso(end)}")
    if args.metric in ANNUALIZED_METRICS and not_annualized_reason(end - start) is not None:
        raise UsageError(  # both models would score None: the candidate never "beat" it
            f"--metric {args.metric} is annualized, and the evaluation window {_iso(start)} .. "
            f"{_iso(end)} spans {span_text(end - start)} (under a day): neither model has "
            "one; evaluate on a day or more, or give --metric total_return"
        )
    return start, end


def _train_candidate(
    args: argparse.Namespace, eval_start: int, out_dir: Path
) -> tuple[Path, dict[str, Any]]:
    """Train on the --train-days before `eval_start`; the saved file and a report."""
    from model import train as tr
    from model.train_data import load_bars

    if not (args.train_days > 0 and math.isfinite(args.train_days)):
        raise UsageError(f"bad --train-days {args.train_days}: expected > 0")
    try:
        config = tr.for_backtest(tr.train_config(args))
        start = eval_start - int(args.train_days * DAY_MS)
        df = load_bars(
            Path(args.data), symbol=args.symbol, interval="1m", start_ms=start, end_ms=eval_start
        )
        res = tr.train(
            df, config, symbol=args.symbol, interval="1m", data_name=Path(args.data).name
        )
    except InputError as e:
        raise UsageError(f"training: {e}") from None
    path = res.model.save(out_dir / tr.default_model_name(args.symbol, "1m", df))
    first = int(df["open_time"].iloc[0])
    if first - start >= 60_000:  # the data begins inside the asked window: fewer days
        days = (eval_start - first) / DAY_MS
        print(
            f"--train-days {args.train_days:.15g}: --data begins {_iso(first)}, so the "
            f"candidate trains on {days:.3g} day{'' if days == 1 else 's'}"
        )
    tr.print_report(res, args.symbol, "1m", config.grid)
    report = {
        "training_window": res.model.metadata["training_window"],
        "best_C": res.best_c,
        "C_by_fold": res.c_by_fold,  # each fold's C, chosen on its own training rows
        "out_of_sample": res.pooled,
        "seconds": res.seconds,
    }
    return path, report


def _slice(k: Klines, start_ms: int, end_ms: int) -> Klines:
    """The bars with open time in [start_ms, end_ms)."""
    a, b = bisect_left(k.open_time, start_ms), bisect_left(k.open_time, end_ms)
    if a >= b:
        raise UsageError(f"no bars in {_iso(start_ms)} .. {_iso(end_ms)}")
    return Klines(
        open_time=k.open_time[a:b],
        open=k.open[a:b],
        high=k.high[a:b],
        low=k.low[a:b],
        close=k.close[a:b],
        volume=k.volume[a:b],
    )


def _training_window(model_path: Path) -> tuple[int, int] | None:
    """The model's recorded training window [start, end) in ms, None when it has none."""
    tw = load_linear_model(model_path).metadata.get("training_window")
    if not isinstance(tw, dict):
        return None
    try:
        a = _time_ms(str(tw["start"]).replace("Z", "+00:00"))
        b = _time_ms(str(tw["end_exclusive"]).replace("Z", "+00:00"))
    except (KeyError, UsageError):
        return None
    return None if a is None or b is None else (a, b)


def _in_sample(model_path: Path, eval_start: int, eval_end: int) -> bool:
    """The model's recorded training window overlaps the evaluation window."""
    tw = _training_window(model_path)
    return tw is not None and tw[0] < eval_end and eval_start < tw[1]


def _trained_on(model_path: Path) -> str:
    tw = _training_window(model_path)
    return "an unrecorded window" if tw is None else f"{_iso(tw[0])} .. {_iso(tw[1])}"


def _unusable(model_path: Path) -> str | None:
    """Why the promoted model cannot be loaded by this code (its features changed since it was
    trained, or the file is damaged), or None: such a model cannot be backtested, so it is not
    compared against, and must not block the candidate that replaces it."""
    try:
        load_linear_model(model_path)
    except ModelMismatchError as e:
        return str(e)
    return None


def check_registry(reg: Path, init: bool) -> None:
    """UsageError unless `reg` is a registry (or an empty directory), or may become one with
    --init: a mistyped path would otherwise start a new registry and promote an untested
    candidate, and an unrelated directory would get PROMOTED and versions/ written into it."""
    state = registry.state_of(reg)
    if state == "file":
        raise UsageError(f"--registry {reg} is a file, not a directory")
    if state == "missing" and not init:
        raise UsageError(
            f"--registry {reg}: no such registry (to start a new one there, add --init)"
        )
    if state == "other":
        raise UsageError(
            f"--registry {reg}: not a model registry (no {registry.PROMOTED_FILE} or "
            f"{registry.VERSIONS_DIR}/ in it); to start a new one, give a new or empty "
            "directory with --init"
        )
    problem = write_problem(reg)
    if problem is not None:
        raise UsageError(f"--registry {reg}: {problem}")


def check_promoted_symbol(reg: Path, symbol: str) -> None:
    """UsageError when the registry's promoted model trades another symbol than --symbol: its
    backtest would be refused, after the candidate's training, by the strategy's check."""
    current = registry.promoted(reg)
    if current is None or _unusable(current) is not None:
        return
    trained = load_linear_model(current).metadata.get("symbol")
    if isinstance(trained, str) and trained.upper() != symbol:
        raise UsageError(
            f"--registry {reg}: its promoted model {registry.promoted_id(reg)} trades {trained}, "
            f"not --symbol {symbol}; review {symbol} models in a registry of their own"
        )


def _last_review(meta: dict[str, Any]) -> str:
    reviews = meta.get("reviews") or []
    if not reviews:
        return "not reviewed"
    r = reviews[-1]
    metric = str(r.get("metric", "?"))
    value = r.get("candidate_value")  # as summary.json gives the metric
    if "candidate_value" not in r:  # a review of before 2026-12-04: a max_drawdown's negated
        score = r.get("candidate_score")
        value = score * METRICS.get(metric, 1) if isinstance(score, int | float) else None
    if not isinstance(value, int | float):
        value = None
    score_text = _fmt(metric, value)
    window = str(r.get("window", "")).removeprefix(f"{r.get('symbol', '')} ")
    if r.get("promote"):
        verdict = "promoted"
    elif r.get("promoted") == meta.get("version_id"):
        verdict = "already the promoted version"  # reviewed again against itself
    else:
        verdict = "not promoted"
    day = str(r.get("reviewed_at", "?"))[:10]
    return f"reviewed {day}: {metric} {score_text} on {window}, {verdict}"


def print_registry(reg: Path) -> None:
    """What is in the registry, at a glance: each version (the promoted one starred) with what
    it was trained on and its last review, then the promotion history (into a reader that
    may stop early: `--list | head -3`)."""
    print_lines(registry_lines(reg))


def registry_lines(reg: Path) -> list[str]:
    """`print_registry`'s lines."""
    current = registry.promoted_id(reg)
    metas = registry.versions(reg)
    events = registry.history(reg)  # a damaged history refused before anything is printed
    lines = [f"{reg}: {len(metas)} version(s), promoted: {current or 'none'}"]
    for meta in metas:
        model = meta.get("model") or {}
        window = model.get("training_window") or {}
        trained = (
            f"trained on {model.get('symbol', '?')} {str(window.get('start', '?'))[:16]} .. "
            f"{str(window.get('end_exclusive', '?'))[:16]}"
            if window
            else f"trained on {model.get('symbol', '?')}"
        )
        star = "*" if meta["version_id"] == current else " "
        lines.append(f"{star} {meta['version_id']}  {trained}; {_last_review(meta)}")
    if events:
        lines.append("history:")
    for e in events:
        lines.append(
            f"  {str(e.get('at', '?'))[:19]}  {e.get('action', '?'):8} {e.get('version_id', '?')}"
            f"  ({e.get('reason', '')})"
        )
    return lines


_REVIEW_INPUTS = (
    ("--candidate", "candidate"),
    ("--data", "data"),
    ("--train-days", "train_days"),
    ("--eval-days", "eval_days"),
    ("--start", "start"),
    ("--end", "end"),
    ("--min-metric", "min_metric"),
)


def check_one_action(args: argparse.Namespace) -> None:
    """`--list`, `--promote` and `--rollback` each do one thing, and none reviews: two of them,
    or one with a review's inputs, are refused rather than all but one silently ignored
    (`--promote X --rollback` promoted X and said nothing of the rollback)."""
    actions = [
        flag
        for flag, given in (
            ("--list", args.list),
            ("--promote", args.promote is not None),
            ("--rollback", args.rollback),
        )
        if given
    ]
    if len(actions) > 1:
        raise UsageError(f"{' and '.join(actions)} are different actions: give one of them")
    if actions:
        inputs = [flag for flag, name in _REVIEW_INPUTS if getattr(args, name) is not None]
        if inputs:
            raise UsageError(
                f"{actions[0]} does not review: {', '.join(inputs)} would be ignored "
                "(a review is --data with --candidate FILE or --train-days N)"
            )


def review(args: argparse.Namespace) -> int:
    reg = Path(args.registry)
    check_one_action(args)
    check_registry(reg, args.init)
    if args.list:
        print_registry(reg)
        return 0
    if args.promote is not None:
        version = registry.find_version(reg, args.promote)
        previous = registry.promoted_id(reg)
        registry.promote_checked(reg, version, reason="model.review --promote (operator)")
        print(f"promoted {reg}: {previous} -> {version}")
        return 0
    if args.rollback:
        previous = registry.promoted_id(reg)
        version = registry.rollback(reg, reason="model.review --rollback")
        print(f"rolled back {reg}: {previous} -> {version}")
        return 0
    if args.data is None or (args.candidate is None) == (args.train_days is None):
        raise UsageError("give --data and one of --candidate FILE, --train-days N (or --rollback)")
    if args.train_days is not None and args.eval_days is None and args.start is None:
        # Else the evaluation window is the whole file and the training, the days before it,
        # fails with "no bars in the requested window", naming neither flag.
        raise UsageError(
            "--train-days trains on the days before the evaluation window: give --eval-days M "
            "or --start too (without them the window is the whole file, with no day before it)"
        )
    if not Path(args.data).exists():  # before load() guesses the format from the name
        raise UsageError(f"data not found: {args.data}")
    if (normalized := symbol_of(args.symbol)) is None:
        raise UsageError(f"--symbol {args.symbol!r}: expected a symbol such as BTCUSDT")
    args.symbol = normalized
    check_symbol(args.data, args.symbol)
    min_improvement = metric_amount(
        "--min-improvement", args.min_improvement, args.metric, at_least=0, margin=True
    )
    floor: float | None = None
    if args.min_metric is not None:
        floor = metric_amount("--min-metric", args.min_metric, args.metric)
    try:
        notional = Decimal(args.notional)
    except InvalidOperation:
        notional = Decimal(-1)
    if not notional.is_finite() or notional <= 0:
        raise UsageError(f"bad --notional {args.notional!r}: expected a number > 0")
    args.symbol = args.symbol.upper()
    symbol = args.symbol
    if args.candidate is not None:
        candidate = Path(args.candidate)
        if candidate.is_dir():  # another registry (e.g. a staging one): its promoted model
            candidate = registry.resolve_model_path(candidate)
        elif not candidate.is_file():
            raise UsageError(f"candidate model not found: {candidate}")
        load_linear_model(candidate)  # ModelMismatchError -> exit 2 before any backtest
    check_promoted_symbol(reg, symbol)  # before minutes of training, not after them
    whole = load(args.data, symbol=symbol, end_ms=_time_ms(args.end))
    if not isinstance(whole, Klines):
        raise UsageError(f"--data {args.data}: model.review needs 1m klines, not trades")
    data_end = whole.open_time[-1] + MINUTE_MS
    eval_start, eval_end = _windows(args, whole.open_time[0], data_end)
    warm_start = eval_start - WARM_HISTORY_BARS * MINUTE_MS  # as the backtester's --start
    if args.eval_days is None and args.start is None:
        warm_start = eval_start  # the whole file, as given
    data = _slice(whole, warm_start, eval_end)
    progress = sys.stderr.isatty() if args.progress is None else bool(args.progress)

    with tempfile.TemporaryDirectory(prefix="model-review-") as tmp:
        train_report = None
        if args.candidate is None:
            candidate, train_report = _train_candidate(args, eval_start, Path(tmp))
        in_sample = _in_sample(candidate, eval_start, eval_end)
        trained_on = _trained_on(candidate)
        current_id = registry.promoted_id(reg)
        current = registry.promoted(reg)
        unusable = None if current is None else _unusable(current)
        promoted_in_sample = (
            current is not None and unusable is None and _in_sample(current, eval_start, eval_end)
        )
        bt = partial(
            backtest_model,
            data=data,
            symbol=symbol,
            notional=notional,
            progress=progress,
            trade_from_ms=eval_start,
        )
        # Each run's warnings (`trading state ...`, `its stop-loss closed the long; ...`)
        # name it: the two runs' lines looked alike.
        with named_run("candidate backtest"):
            results = {"candidate": bt(candidate)}
        if current is not None and unusable is None:
            with named_run("promoted backtest"):
                results["promoted"] = bt(current)
        version = registry.add(reg, candidate)
    cand = metric_value(results["candidate"], args.metric)
    warm = results["candidate"].warm_bars
    window = f"{symbol} {_iso(eval_start)} .. {_iso(eval_end)} (+{warm} warm-up bars)"
    if warm_start == eval_start:
        window = f"{symbol} {_iso(eval_start)} .. {_iso(eval_end)} ({len(data)} bars)"
    # "none", as --list says it: not Python's None
    promoted_now = current_id or "none"
    print(f"review on {window}, metric {args.metric} after fees; promoted: {promoted_now}")
    print(f"candidate trained on {trained_on}")
    if in_sample:
        print(
            "warning: the candidate's training window overlaps the evaluation window: its "
            "result there is in-sample and cannot earn it a promotion"
        )
    if promoted_in_sample and current is not None:
        print(
            f"warning: the promoted model's training window ({_trained_on(current)}) overlaps "
            "the evaluation window: its result there is in-sample (evaluate after it, or "
            "use --end/--start)"
        )
    if unusable is not None:
        print(f"promoted model {current_id} cannot run with this code, not comparable: {unusable}")
    _print_comparison(results, args.metric)
    cur: float | None = None
    if current is None:
        decision, promote = "nothing promoted yet: promote the candidate", True
    elif unusable is not None:
        decision = f"promoted {current_id} cannot run with this code: promote the candidate"
        promote = True
    else:
        cur = metric_value(results["promoted"], args.metric)
        if version == current_id:
            decision, promote = "the candidate is the promoted version: no change", False
        elif in_sample:
            decision = f"the candidate's result is in-sample: not compared with {current_id}"
            promote = False
        elif cand > cur + min_improvement:
            margin = amount_text(args.metric, min_improvement, margin=True)
            decision, promote = f"candidate beats {current_id} by more than {margin}", True
        else:
            margin = amount_text(args.metric, min_improvement, margin=True)
            decision, promote = f"candidate does not beat {current_id} (+{margin})", False
    floor_text = None if floor is None else amount_text(args.metric, floor)
    if promote and floor is not None and in_sample:
        decision = f"the candidate's in-sample {args.metric} cannot clear --min-metric {floor_text}"
        promote = False
    elif promote and floor is not None and not cand > floor * METRICS[args.metric]:
        decision = f"candidate {args.metric} does not clear --min-metric {floor_text} ({decision})"
        promote = False
    record = {
        "reviewed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "symbol": symbol,
        "data": Path(args.data).name,
        "window": window,
        "eval_window_ms": [eval_start, eval_end],
        "backtest_from_ms": data.open_time[bisect_left(data.open_time, eval_start) - warm],
        "metric": args.metric,
        "min_improvement": min_improvement,
        "min_metric": floor,
        "notional_usdt": str(notional),
        "candidate_in_sample": in_sample,
        "promoted_in_sample": promoted_in_sample,
        # The metric as summary.json and `backtests` give it: a max_drawdown is a depth >= 0,
        # `better` says which way wins. Reviews before 2026-12-04 recorded `candidate_score`
        # and `promoted_score`, higher-is-better scores (a max_drawdown's negated).
        "better": "higher" if METRICS[args.metric] > 0 else "lower",
        "candidate_value": summary_value(results["candidate"], args.metric),
        "promoted": current_id,
        "promoted_unusable": unusable,
        "promoted_value": (
            summary_value(results["promoted"], args.metric) if "promoted" in results else None
        ),
        "backtests": {name: r.metrics() for name, r in results.items()},
        "training": train_report,
        "decision": decision,
        "promote": promote,
    }
    registry.record_review(reg, version, record)
    if promote:
        registry.promote(reg, version, reason=f"model.review: {decision} ({args.metric})")
        print(f"{decision} -> promoted {version}")
    else:
        print(f"{decision} -> kept {promoted_now}; candidate stored as {version}")
    return 0


def _refused(e: Exception) -> int:
    """The one error line of a bad flag or input; exit status 2."""
    print(error_line(PROG, " ".join(str(e).split())), file=sys.stderr)
    return 2


def argv_of(argv: list[str] | None) -> list[str]:
    return sys.argv[1:] if argv is None else argv


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except UsageError as e:
        return _refused(e)
    try:
        if args.candidate is not None and (training := typed_training_flags(argv_of(argv))):
            one = len(training) == 1
            raise UsageError(
                f"{' and '.join(training)} {'is a training flag' if one else 'are training flags'}"
                " (for --train-days N): --candidate FILE is reviewed as it was trained, and "
                f"{'it' if one else 'they'} would be ignored"
            )
        return review(args)
    except (
        UsageError,
        InputError,
        DataError,
        ModelMismatchError,
        registry.RegistryError,
        ValueError,
    ) as e:
        return _refused(e)
    except KeyboardInterrupt:  # Ctrl+C, most likely while the candidate trains or backtests
        print(
            "model.review: interrupted: each registry change is whole or not made; "
            f"python -m model.review --registry {args.registry} --list shows what is promoted",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(exit_status(main))
