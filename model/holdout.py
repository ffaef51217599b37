"""The out-of-sample backtest of a model just trained, on the days held out of its training,
next to baselines on the same bars (SMA crossover 10/50, buy and hold, flat)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from model.input_error import InputError
from model.train_data import utc_iso


def check_backtest_symbol(symbol: str) -> None:
    """InputError when the backtester has no exchange rules (tick, lot) for `symbol`: said
    before the training, not by the holdout backtest after the model was saved."""
    from exchange_sim.replay.grid import load_instruments

    known = load_instruments()
    if symbol not in known:
        raise InputError(
            f"--holdout-days: the backtester has no exchange rules for {symbol} "
            f"(it knows {', '.join(sorted(known))})"
        )


def check_backtest_out(out: Path) -> None:
    """InputError when --backtest-out holds files of a backtest's names that no backtest wrote
    (the user's own trades.csv): the holdout would replace them, as the backtester refuses to."""
    from backtest.cli_values import UsageError
    from backtest.report_folder import check_not_foreign

    try:
        check_not_foreign(out, "--backtest-out")
    except UsageError as e:
        raise InputError(str(e)) from None


def holdout_backtest(
    data: Path,
    symbol: str,
    model_path: Path,
    window: tuple[int, int],
    *,
    notional: Decimal,
    out_dir: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Backtest the saved model on [start, end) through `backtest.runner.run_backtest` (fees
    on; the bars before `start` warm the strategy as the backtester's `--start` does, so the
    first decision falls on the first holdout bar, on the features a long history gives rather
    than on RSI/ATR/MACD averages still near their seeds), next to baselines on the same bars:
    SMA crossover 10/50 through the same backtester, buy and hold (long the same notional from
    the first bar's open to the last bar's close, no fees, as a return on the same starting
    wallet: its `price_return` is the model's `buy_and_hold_return`, summary.json's) and flat."""
    from backtest.data import DataError, Klines, load
    from backtest.outputs import write_outputs
    from backtest.report_folder import remove_earlier_outputs
    from backtest.run_lines import named_run, quiet_run
    from backtest.runner import WARM_HISTORY_BARS, BacktestConfig, run_backtest

    start, end = window
    try:
        bars = load(data, symbol=symbol, start_ms=start - WARM_HISTORY_BARS * 60_000, end_ms=end)
    except DataError as e:
        raise InputError(f"holdout backtest: {e}") from None
    if not isinstance(bars, Klines):
        raise InputError(f"--data {data}: the holdout backtest needs klines")
    lr = BacktestConfig(
        symbol=symbol,
        strategy="logistic_regression",
        strategy_params={
            "model_path": str(model_path),
            "order_notional_usdt": notional,
            "bar_interval": "1m",
            "taker_flow": False,
        },
        progress=progress,
        trade_from_ms=start,
    )
    sma = BacktestConfig(
        symbol=symbol,
        strategy="sma_crossover",
        strategy_params={"fast": 10, "slow": 50, "order_notional_usdt": notional},
        progress=progress,
        trade_from_ms=start,
    )
    try:
        # The model's warnings name its run; the baseline's are not printed (its result is in
        # the table), as a Monte Carlo's runs beside the backtester's base run.
        with named_run("holdout backtest"):
            model_run = run_backtest(bars, lr)
        with named_run("holdout baseline sma 10/50"), quiet_run():
            sma_run = run_backtest(bars, sma)
    except ValueError as e:
        raise InputError(f"holdout backtest: {e}") from None
    if out_dir is not None:
        # An earlier backtest's report.html or sweep must not stay beside this run's files.
        remove_earlier_outputs(out_dir)
        write_outputs(model_run, out_dir)
    first = next(i for i, t in enumerate(bars.open_time) if t >= start)
    # The market's move as summary.json's buy_and_hold_return measures it over the rows traded
    # (the first bar's open to the last bar's close); it was close-to-close here, one bar's
    # move less, and the holdout's figure differed from its own backtest's summary.
    held = model_run.buy_and_hold
    assert held is not None  # run_backtest always measures it
    hold = float(held.total_return)
    return {
        "window": {"start": utc_iso(start), "end_exclusive": utc_iso(end)},
        "replay_from": utc_iso(bars.open_time[first - model_run.warm_bars]),
        "bars": len(bars) - first,
        "fees": {"maker": str(lr.maker_fee), "taker": str(lr.taker_fee)},
        "notional_usdt": str(notional),
        "balance_usdt": str(lr.starting_balance),
        "model": model_run.metrics(),
        "baselines": {
            "sma_crossover_10_50": sma_run.metrics(),
            # Long `notional` USDT for the whole window, as a return on the same wallet.
            "buy_and_hold_no_fees": {
                "total_return": hold * float(notional / lr.starting_balance),
                "price_return": hold,
                "measured_on": str(held.measured_on),
            },
            "flat": {"total_return": 0.0},
        },
        "out_dir": None if out_dir is None else str(out_dir),
    }


def print_holdout(report: dict[str, Any]) -> None:
    w = report["window"]
    fees = report["fees"]
    print(
        f"holdout backtest, out of sample: {w['start']} .. {w['end_exclusive']} "
        f"({report['bars']} bars), fees {fees['maker']}/{fees['taker']} maker/taker, "
        f"{report['notional_usdt']} USDT positions on a {report['balance_usdt']} USDT wallet:"
    )
    rows = {"model": report["model"], **report["baselines"]}
    for name, m in rows.items():
        parts = [f"return {m['total_return']:+.4%}"]
        if "sharpe" in m:
            sharpe = "n/a" if m["sharpe"] is None else f"{m['sharpe']:+.2f}"
            parts += [
                f"sharpe {sharpe}",
                f"max dd {m['max_drawdown']:.4%}",
                f"fills {m['fills']}",
                f"fees {m['fees']:.2f} USDT",
            ]
        print(f"  {name:22s} " + "  ".join(parts))
    if report["out_dir"]:
        print(f"  backtest files: {report['out_dir']}")
