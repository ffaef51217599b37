"""The lines the backtest command prints after a run, beside its one-line result: what the
RiskManager refused, the orders rejected, slow strategy calls, why no order was sent, the
robustness results."""

from collections import Counter
from datetime import UTC, datetime

from backtest import robustness
from backtest.instruments import backtest_instruments
from backtest.report import metric_text
from backtest.runner import WARM_HISTORY_BARS, BacktestResult
from core.errors import coded_refusal_line
from core.wording import counted


def _metric(metric: str, v: object) -> str:
    return metric_text(metric, v) if isinstance(v, float) else str(v)


# When a run has no value of a metric (summary.json's null), as `backtest.metrics` makes them:
# a walk-forward window of one day has no daily Sharpe, and "None" alone did not say why.
_NULL_WHEN = {
    "annualized_return": "a run under a day, a single sample, or a short steep run (past 1e300 "
    "% a year)",
    "sharpe": "a run under a day, a flat equity curve, or a single return",
    "sortino": "a run under a day, or no losing bar",
    "sharpe_daily": "fewer than two UTC days of returns",
    "sortino_daily": "fewer than two UTC days of returns, or no losing day",
    "calmar": "a run under a day, or no drawdown",
    "win_rate": "no closed trade",
    "profit_factor": "no losing closed trade",
    "expectancy": "no closed trade",
}


def null_because(metric: str) -> str:
    """When `metric` is null, said beside it."""
    return _NULL_WHEN.get(metric, "a run without a value of it")


def _value_or_why(value: object, metric: str) -> str:
    return (
        _metric(metric, value) if value is not None else f"n/a (null with {null_because(metric)})"
    )


def _held(value: object) -> str:
    """A sweep row's buy-and-hold aside, as the run's console line gives it:
    ` (buy and hold +2.4200%)`, nothing when the row has none (no rows traded)."""
    return f" (buy and hold {value:+.4%})" if isinstance(value, float) else ""


def print_not_annualized(result: BacktestResult) -> None:
    """Why the run has no annualized figures, when it has none (a run under a day): summary.json
    gives them as null, report.html as n/a; they were absurd (-1 % in 5 minutes: -100 % a
    year, a Sharpe of -333)."""
    reason = result.summary.not_annualized_reason
    if reason is not None:
        print(f"annualized return, sharpe, sortino and calmar: n/a ({reason})")


def utc_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def print_risk(result: BacktestResult) -> None:
    """What the RiskManager refused, when it refused anything: a run halted by a loss limit
    trades no more, and a size every check refuses trades not at all; both look like a
    strategy that chose not to trade unless said. The first denial's reason is said with
    them: it took a rerun with --journal and a look into its SQLite to learn any."""
    denied, decisions = result.counters.get("denied", 0), result.counters.get("decisions", 0)
    if result.trading_state != "ACTIVE":
        print(
            f"risk: trading {result.trading_state} at the end ({result.state_reason}); "
            f"{denied} of {counted(decisions, 'decision')} denied"
        )
    elif denied:
        first = result.journal.first_denial
        why = (
            ""
            if first is None
            else (
                f"; the first at {utc_text(first.event_time_ms)}: {first.request.side} "
                f"{first.request.type}: {first.reason}"
            )
        )
        print(
            f"risk: {denied} of {counted(decisions, 'decision')} denied{why} "
            "(--journal DIR keeps each reason: its RiskDenied events)"
        )


def print_rejected(result: BacktestResult) -> None:
    """The orders rejected (by the exchange, or by the order's own checks before it was sent),
    when any was, with the most common reason: a strategy whose every order is rejected (a
    LIMIT without a price, a post-only order that would take) looks like one that chose not
    to trade unless said."""
    orders = result.journal.orders.values()
    reasons = Counter(o.reason.removeprefix("0 ") for o in orders if o.status == "REJECTED")
    if reasons:
        (reason, n), rejected = reasons.most_common(1)[0], reasons.total()
        print(
            f"orders: {rejected} of {len(orders)} rejected, most often ({n}): "
            f"{coded_refusal_line(reason)} (orders.csv keeps each reason)"
        )


def print_slow_calls(result: BacktestResult) -> None:
    """Strategy calls over the budget: live, each would have held the daemon's event loop."""
    if result.slow_strategy_calls:
        print(
            f"strategy: {counted(result.slow_strategy_calls, 'call')} over strategy.max_call_ms "
            f"{result.config.max_strategy_call_ms:g} ms (slowest "
            f"{result.slowest_strategy_call_ms:,.0f} ms): live, each would hold the daemon's "
            "event loop (market data, user stream, protection) that long"
        )


def print_short_warm(result: BacktestResult) -> None:
    """A warm-up from the bars before --start shorter than the strategy's `warmup_bars`: it
    was told only as `data.warm_bars` in summary.json, and the strategy's first decisions
    came later than its author thought."""
    if result.warm_bars >= result.warm_asked:
        return
    # The cap is the reason only when it was reached: 10 bars got of 2,000 asked, the data
    # began 10 minutes before --start, and no cap was met.
    if result.warm_bars >= WARM_HISTORY_BARS:
        why = f"a warm-up reads at most {WARM_HISTORY_BARS:,} bars, as the daemon's one REST read"
    elif result.warm_asked > WARM_HISTORY_BARS:
        why = f"the data holds no more in the {WARM_HISTORY_BARS:,} minutes a warm-up reads"
    else:
        why = "the data holds no more before --start"
    print(
        f"strategy: warmed with {result.warm_bars} of the {result.warm_asked} bars it asks "
        f"(warmup_bars): {why}; it was not warm until the run's bars made up the rest"
    )


def print_no_orders(result: BacktestResult) -> None:
    """Why a run sent no order at all, when nothing refused one: a strategy that never spoke
    (not warm within the data), one that only cancelled (orders it never had), or one whose
    targets were all smaller than the symbol's lot."""
    c = result.counters
    if c.get("submitted", 0) or c.get("denied", 0) or result.trading_state != "ACTIVE":
        return
    if not c.get("proposals", 0):
        units = counted(result.units, result.kind.removesuffix("s"))  # kline(s), trade(s)
        # --slow is sma_crossover's: another strategy's author looks for no such flag
        longer = "a --slow" if result.config.strategy == "sma_crossover" else "a lookback"
        print(
            f"no order: the strategy proposed nothing over {units} "
            f"(not warm within the data? e.g. {longer} longer than it)"
        )
        return
    config = result.config
    if c.get("untraded_proposals", 0):
        were = "was" if c["untraded_proposals"] == 1 else "were"
        print(
            f"no order: {c['untraded_proposals']} of the strategy's "
            f"{counted(c['proposals'], 'proposal')} {were} for another symbol than "
            f"{config.symbol}, the one this backtest trades (--symbol), and {were} ignored"
        )
        return
    # With nothing denied and nothing sent, every repeated refusal is a cancel's.
    cancels = c.get("cancels_denied", 0) + c.get("denied_repeats", 0)
    if cancels >= c["proposals"]:
        print(
            f"no order: the strategy proposed only cancels ({c['proposals']}), and no order "
            "of its own was open to cancel (--journal DIR keeps each CancelDenied's reason)"
        )
        return
    inst = backtest_instruments(config.exchange_info).get(config.symbol)
    lot = "" if inst is None else f" ({config.symbol}: lot step {inst.lot.step_size}, "
    lot += "" if inst is None else f"minimum notional {inst.min_notional} USDT)"
    print(
        "no order: every target of the strategy was less than one lot from the position"
        f"{lot}; a larger --notional trades"
    )


def print_robustness(
    mc: robustness.MonteCarloResult | None, sweep: robustness.SweepResult | None
) -> None:
    if mc is not None:
        d = mc.to_dict()
        r, b = d["randomized"], d["bootstrap"]
        line = (
            f"monte carlo ({counted(mc.spec.runs, 'run')}, seed {mc.spec.seed}): total return p5 "
            f"{r['total_return']['p5']:+.4%} p50 {r['total_return']['p50']:+.4%} p95 "
            f"{r['total_return']['p95']:+.4%}"
        )
        if "total_return" in b:
            line += (
                f"; bootstrap of {counted(b['trades'], 'trade')}: p5 "
                f"{b['total_return']['p5']:+.4%} p95 {b['total_return']['p95']:+.4%} "
                f"({mc.halt_note()})"
            )
        print(line)
    if sweep is None:
        return
    if sweep.skipped:
        first, why = sweep.skipped[0]
        settings = " ".join(f"{k}={v}" for k, v in first.items())
        total = counted(len(sweep.skipped) + len(sweep.points), "grid point")
        them = "it" if len(sweep.skipped) == 1 else "them"
        print(
            f"sweep: {len(sweep.skipped)} of {total} skipped, the strategy or the risk limits "
            f"refuse {them} (first: {settings}: {why})"
        )
    metric = sweep.spec.metric
    chosen = {c.get("window") for c in sweep.choices}
    if sweep.points and not sweep.spec.walk_forward and not sweep.choices:
        print(f"sweep: no run has a {metric} (null in every run: {null_because(metric)})")
    for w in sweep.windows if sweep.spec.walk_forward and sweep.points else ():
        if w.index not in chosen:
            print(
                f"walk-forward window {w.index}: no in-sample run has a {metric} "
                f"(null with {null_because(metric)}); the window is left out of the "
                "out-of-sample return"
            )
    for c in sweep.choices:
        settings = " ".join(f"{k}={v}" for k, v in c["settings"].items())
        if "window" in c:
            print(
                f"walk-forward window {c['window']}: best in-sample by {metric}: {settings}; "
                f"out-of-sample {metric} {_value_or_why(c[f'test_{metric}'], metric)}, "
                f"return {c['test_total_return']:+.4%}{_held(c['test_buy_and_hold_return'])}"
            )
        else:
            print(
                f"sweep best by {metric}: {settings} -> {metric} {_metric(metric, c[metric])}, "
                f"return {c['total_return']:+.4%}{_held(c['buy_and_hold_return'])}"
            )
    if sweep.spec.walk_forward:
        oos = robustness.oos_total_return(sweep.choices)
        print(f"walk-forward out-of-sample return: {'n/a' if oos is None else f'{oos:+.4%}'}")
