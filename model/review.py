"""Review a candidate model against the promoted one, and promote it only if it is better.

    python -m model.review --registry models/registry --candidate models/m.json \\
        --data PATH.csv.gz --symbol BTCUSDT [--start 2025-05-10] [--end 2025-05-11] \\
        [--metric total_return|sharpe] [--min-improvement 0.001]
    python -m model.review --registry models/registry --rollback

Both models are backtested on the same window through `backtest.runner.run_backtest`
(`strategy="logistic_regression"`, the backtester's fees: the metric is after fees). The
candidate is added to the registry (every version is kept) and promoted when nothing is
promoted yet, or when its metric exceeds the promoted model's by more than `--min-improvement`
(an absolute difference; a missing Sharpe counts as -inf). Exit 0 after printing the
comparison; bad inputs exit 2 with one line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backtest.data import DataError, MarketData, load
from backtest.runner import BacktestConfig, BacktestResult, run_backtest
from core.atomic_file import write_atomic
from model import registry
from model.live import ModelMismatchError, load_linear_model

METRICS = ("total_return", "sharpe")


class UsageError(Exception):
    pass


def _time_ms(text: str | None) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"bad time {text!r}: use epoch ms or an ISO date (UTC)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def metric_value(result: BacktestResult, metric: str) -> float:
    value = getattr(result.summary, metric)
    return -math.inf if value is None or not math.isfinite(value) else float(value)


def backtest_model(model_path: Path, data: MarketData, symbol: str) -> BacktestResult:
    config = BacktestConfig(
        symbol=symbol,
        strategy="logistic_regression",
        strategy_params={"model_path": str(model_path)},
    )
    return run_backtest(data, config)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model.review", description=__doc__.split("\n")[0])
    p.add_argument("--registry", required=True, help="model registry directory")
    p.add_argument("--candidate", default=None, help="candidate model JSON file")
    p.add_argument("--data", default=None, help="klines or trades file (backtest.data)")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--start", default=None, help="epoch ms or ISO date-time (UTC), inclusive")
    p.add_argument("--end", default=None, help="epoch ms or ISO date-time (UTC), exclusive")
    p.add_argument("--metric", default="total_return", choices=METRICS)
    p.add_argument("--min-improvement", default="0", help="absolute margin on the metric")
    p.add_argument("--rollback", action="store_true", help="re-promote the previous version")
    return p


def _fmt(metric: str, v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:+.4%}" if metric in ("total_return", "max_drawdown") else f"{v:+.4f}"


def _print_comparison(rows: dict[str, BacktestResult], metric: str) -> None:
    cols = list(rows)
    print(f"{'':16}" + "".join(f"{c:>18}" for c in cols))
    fields: list[tuple[str, Callable[[BacktestResult], Any]]] = [
        ("total_return", lambda r: _fmt("total_return", r.summary.total_return)),
        ("sharpe", lambda r: _fmt("sharpe", r.summary.sharpe)),
        ("max_drawdown", lambda r: _fmt("max_drawdown", r.summary.max_drawdown)),
        ("fees (USDT)", lambda r: f"{r.summary.fees:.2f}"),
        ("fills", lambda r: str(r.summary.fills)),
    ]
    for name, get in fields:
        mark = " *" if name == metric else ""
        print(f"{name + mark:16}" + "".join(f"{get(rows[c]):>18}" for c in cols))


def review(args: argparse.Namespace) -> int:
    reg = Path(args.registry)
    if reg.exists() and not reg.is_dir():
        raise UsageError(f"--registry {reg} is a file, not a directory")
    if args.rollback:
        previous = registry.promoted_id(reg)
        version = registry.rollback(reg, reason="model.review --rollback")
        print(f"rolled back {reg}: {previous} -> {version}")
        return 0
    if args.candidate is None or args.data is None:
        raise UsageError("--candidate and --data are required (or --rollback)")
    try:
        min_improvement = float(args.min_improvement)
    except ValueError:
        raise UsageError(f"bad --min-improvement {args.min_improvement!r}") from None
    if not math.isfinite(min_improvement) or min_improvement < 0:
        raise UsageError(f"bad --min-improvement {args.min_improvement!r}: expected >= 0")
    candidate = Path(args.candidate)
    if not candidate.is_file():
        raise UsageError(f"candidate model not found: {candidate}")
    load_linear_model(candidate)  # ModelMismatchError -> exit 2 before any backtest
    symbol = args.symbol.upper()
    data = load(args.data, start_ms=_time_ms(args.start), end_ms=_time_ms(args.end))
    current_id = registry.promoted_id(reg)
    current = registry.promoted(reg)
    results = {"candidate": backtest_model(candidate, data, symbol)}
    if current is not None:
        results["promoted"] = backtest_model(current, data, symbol)
    version = registry.add(reg, candidate)
    cand = metric_value(results["candidate"], args.metric)
    first = results["candidate"].summary
    rows = results["candidate"].units
    window = f"{symbol} {_iso(first.start_ms)} .. {_iso(first.end_ms)} ({rows} rows)"
    print(f"review on {window}, metric {args.metric} after fees; promoted: {current_id}")
    _print_comparison(results, args.metric)
    if current is None:
        decision, promote = "nothing promoted yet: promote the candidate", True
        cur = None
    else:
        cur = metric_value(results["promoted"], args.metric)
        if version == current_id:
            decision, promote = "the candidate is the promoted version: no change", False
        elif cand > cur + min_improvement:
            decision, promote = f"candidate beats {current_id} by more than {min_improvement}", True
        else:
            decision, promote = f"candidate does not beat {current_id} (+{min_improvement})", False
    record = {
        "window": window,
        "metric": args.metric,
        "min_improvement": min_improvement,
        "candidate": cand if math.isfinite(cand) else None,
        "promoted": current_id,
        "promoted_metric": cur if cur is not None and math.isfinite(cur) else None,
        "decision": decision,
        "promote": promote,
    }
    write_atomic(
        registry.version_dir(reg, version) / "review.json",
        (json.dumps(record, indent=1) + "\n").encode(),
    )
    if promote:
        registry.promote(reg, version, reason=f"model.review: {decision} ({args.metric})")
        print(f"{decision} -> promoted {version}")
    else:
        print(f"{decision} -> kept {current_id}; candidate stored as {version}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return review(args)
    except (UsageError, DataError, ModelMismatchError, registry.RegistryError, ValueError) as e:
        print(f"model.review: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
