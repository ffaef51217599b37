"""Backtest a strategy on recorded data through the daemon's own trading code.

    python backtest_trading_strategy.py --data PATH --symbol BTCUSDT --strategy sma_crossover \\
        [--start 2025-05-06] [--end 2025-05-08] [--fees 0.0002,0.0005] [--latency-ms 50] \\
        [--slippage-bps 1] [--fast 10 --slow 50 --notional 1000] [--journal DIR] --out DIR

`--data`: 1m klines (plain OHLCV CSV with `open_time` in ms, optionally gzipped; Binance's
12-column files) or trades / aggTrades CSV, or a market_history store Parquet file or folder,
or the store's root (the symbol's 1m klines).
Writes summary.json, equity.csv, trades.csv, orders.csv, PNG plots (equity, price, monthly
returns) and report.html (one self-contained page; `--no-html` skips it) into `--out`.

Robustness (backtest/robustness.py):
    --monte-carlo N [--seed S]     N runs with random latency/slippage + a trade bootstrap:
                                   percentile bands in summary.json ("monte_carlo"), fan chart
    --sweep FILE [--jobs N]        a TOML grid (optionally walk-forward) -> sweep.csv, heatmap
    --dask-scheduler ADDRESS       run those on a Dask cluster instead of local processes
Parity audit (backtest/parity.py):
    --replay-journal PATH          replay a local session the daemon recorded (PATH: its
        [--out DIR]                journal_dir, or a session file in journal_dir/market) and
                                   diff decisions and fills: exit 0 identical,
                                   1 at the first divergence (named), 2 bad input (any other
                                   flag: the session's recorded settings are replayed); --out
                                   writes the report (parity.txt, parity.json, the decisions
                                   and fills side by side as CSV) into DIR
Bad inputs exit 2 with one line on stderr, `backtest_trading_strategy.py: error: ...` (a flag
argparse refuses or an input the backtester does); Ctrl+C exits 130 with one line
(`backtest_trading_strategy.py: interrupted: ...`), and leaves no file of the run in --out.

Here: the flags and the command. The flag values are checked by `backtest.cli_values`, turned
into what runs by `backtest.cli_settings`; the --out folder is `backtest.report_folder`'s and
the lines printed after a run `backtest.result_lines`'.
"""
# Ctrl+C's handler goes in before the imports, which take about a second

from core.early_interrupt import catch_while_importing, imports_done

# As a command only (tests import this module), and only where Ctrl+C would interrupt anyway.
if __name__ == "__main__":
    catch_while_importing()

import argparse
import contextlib
import sys
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from backtest import realism, robustness
from backtest.buy_and_hold import buy_and_hold_text
from backtest.cli_settings import (
    DEFAULT_STRATEGY,
    balance_usdt,
    bars_of,
    check_data_symbol,
    check_fixed_flags,
    check_order_cap,
    config_risk,
    config_settings,
    strategy_kwargs,
    traded_symbol,
    unused_latency_flag,
    unused_seed,
)
from backtest.cli_values import (
    MAX_SLIPPAGE_BPS,
    UsageError,
    check_journal_folder,
    check_out_folder,
    maker_taker_fees,
    non_negative,
    time_window,
)
from backtest.data import (
    DataError,
    Klines,
    MarketData,
    kline_gaps,
    load,
)
from backtest.instruments import backtest_instruments, instrument_of
from backtest.outputs import write_outputs
from backtest.report import funding_unrecorded_text
from backtest.report_folder import (
    add_sections,
    check_not_foreign,
    funding_section,
    gaps_section,
    remove_earlier_outputs,
    write_report,
    write_robustness,
)
from backtest.result_lines import (
    print_no_orders,
    print_not_annualized,
    print_rejected,
    print_risk,
    print_robustness,
    print_short_warm,
    print_slow_calls,
    utc_text,
)
from backtest.runner import (
    MINUTE_MS,
    WARM_HISTORY_BARS,
    BacktestConfig,
    BacktestResult,
    run_backtest,
)
from core.wording import counted
from runtime.flags import (
    OneLineParser,
    SecretSafeParser,
    StoreOnce,
    error_line,
    exit_status,
    interrupted_line,
    path_text,
    tool_name,
)
from trading_engine.main_trading_strategy import StrategyError, strategy_factory
from trading_engine.strategy_determinism import nondeterminism_notes

imports_done()  # `main` takes Ctrl+C from here


PROG = "backtest_trading_strategy.py"  # its error lines start `PROG: error: `


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog=PROG,
        description="Backtest a strategy through the daemon's ExecManager, RiskManager and "
        "BookKeeper against the in-process matching engine.",
    )
    p.add_argument(
        "--data",
        action=StoreOnce,
        required=True,
        type=path_text,
        help="the market data replayed: 1m klines or trades / aggTrades CSV[.gz] (Binance's "
        "files, or OHLCV with open_time in ms), or market_history store Parquet "
        "(fetch_historical.py --out: a day file, a folder of them, or the store's root: "
        "the --symbol's 1m klines)",
    )
    p.add_argument(
        "--symbol", default=None, help="the one symbol to trade (default: --config's, else BTCUSDT)"
    )
    p.add_argument(
        "--strategy",
        default=None,
        help="sma_crossover, rsi_macd, logistic_regression, or one of your own: "
        "path/to/file.py:Class, or module:Class (on PYTHONPATH, in the project directory or in "
        "the working directory); default: --config's, else sma_crossover",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a keyword argument of the strategy (repeat; VALUE read as TOML: 20, 0.5, true, "
        "else text), e.g. --param lookback=20",
    )
    p.add_argument(
        "--model",
        default=None,
        type=path_text,
        help="logistic_regression's model file or registry directory (its promoted version); "
        "default: --config's model_path (needed without --config)",
    )
    p.add_argument(
        "--start",
        default=None,
        help="first traded bar, inclusive: epoch ms or ISO date-time, UTC (default: the data's "
        "first bar)",
    )
    p.add_argument(
        "--no-warm",
        action="store_true",
        help="start the strategy cold at --start (default: it warms from the bars before it)",
    )
    p.add_argument(
        "--end",
        default=None,
        help="end, exclusive: epoch ms or ISO date-time, UTC (default: the data's end)",
    )
    p.add_argument(
        "--fees",
        default="0.0002,0.0005",
        help="MAKER,TAKER fee fractions of the notional (0.0002 = 0.02 %%), or one FEE for "
        "both (--fees 0.0002 charges takers 0.0002 too); a negative maker fee is a rebate: "
        "--fees -0.0001,0.0005 (default: %(default)s, Binance's VIP 0)",
    )
    p.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="order-entry latency, ms, 0 to 86400000 (default: %(default)s)",
    )
    p.add_argument(
        "--slippage-bps",
        default="0",
        help="taker slippage on bar data, bps of the price, 0 to 10000 (default: %(default)s)",
    )
    p.add_argument(
        "--balance",
        default=None,
        help="starting USDT wallet (> 0; default: --config's [local] starting_balance_usdt, "
        "else 10000)",
    )
    p.add_argument(
        "--fast",
        type=int,
        default=None,
        help="sma_crossover fast SMA, bars (default: --config's fast_period, else 10)",
    )
    p.add_argument(
        "--slow",
        type=int,
        default=None,
        help="sma_crossover slow SMA, bars (default: --config's slow_period, else 50)",
    )
    p.add_argument(
        "--notional",
        default=None,
        help="position size, USDT (> 0; default: --config's order_notional_usdt, else 1000)",
    )
    p.add_argument(
        "--no-stops",
        action="store_true",
        help="no exchange-side stop-loss / take-profit (default: the risk limits' "
        "stop_loss_pct, 2 %% without --config)",
    )
    p.add_argument(
        "--exchange-info",
        default="",
        metavar="PATH",
        help="a saved GET /fapi/v1/exchangeInfo answer: the symbol's filters (tick, lot, "
        "min notional) for symbols the bundled one lacks (default: the bundled one, with "
        "BTCUSDT and ETHUSDT)",
    )
    p.add_argument(
        "--config",
        default=None,
        metavar="PATH",
        type=path_text,
        help="run what python app.py --config PATH trades: its symbol, [strategy] (name, "
        "parameters, [strategy.params]), [risk] limits and [local] starting balance; the "
        "flags override it (--strategy, --symbol, --fast, --slow, --notional, --model, "
        "--param, --balance, --leverage); default: sma_crossover 10/50 on BTCUSDT under the "
        "daemon's limits with the order and position caps fitted to --notional",
    )
    p.add_argument(
        "--no-fast-path",
        action="store_true",
        help="every bar through the pipeline (the reference loop; same results, slower)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: on when stderr is a terminal)",
    )
    p.add_argument(
        "--journal",
        default=None,
        metavar="DIR",
        type=path_text,
        help="also write the daemon's SQLite journal into this folder (new, empty, or an "
        "earlier backtest's)",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        type=path_text,
        help="output folder: summary.json, equity.csv, trades.csv, orders.csv, the charts and "
        "report.html (files of an earlier run there are replaced)",
    )
    _robustness_flags(p)
    _report_flags(p)
    realism.add_cli_flags(p)
    p.add_argument(
        "--replay-journal",
        action=StoreOnce,
        default=None,
        metavar="PATH",
        help="parity audit of a recorded local session, PATH = the daemon's journal_dir (its "
        "newest session) or one of its files journal_dir/market/session-*.jsonl.gz; "
        "takes no other flag but --out DIR (the report: parity.txt, parity.json and the "
        "decisions and fills side by side)",
    )
    return p


# What --replay-journal takes with it: the audit replays the session with the settings it
# recorded (strategy, symbol, data, risk, costs), so every other flag would set nothing.
REPLAY_FLAGS = ("replay_journal", "out")


class _Unset:
    """The default of every flag while finding the ones given (any value may be given)."""


def _given_flags(argv: list[str]) -> tuple[argparse.Namespace, dict[str, str]]:
    """(the parsed flags, {dest: option name} of those given) on the full command line."""
    p = parser()
    unset = _Unset()
    for action in p._actions:
        action.required = False
        # An appending flag's default must be a list or None (argparse copies and extends it).
        action.default = None if isinstance(action, argparse._AppendAction) else unset
    args = p.parse_args(argv)
    given = {}
    for a in p._actions:
        value = getattr(args, a.dest, None)
        if a.option_strings and value is not None and value is not unset:
            no = isinstance(a, argparse.BooleanOptionalAction) and value is False
            given[a.dest] = a.option_strings[1 if no else 0]  # --no-html: its second name
    return args, given


def _replay_journal(argv: list[str] | None) -> int | None:
    """`--replay-journal PATH [--out DIR]`: the parity audit's exit status (None without the
    flag). Any other flag is refused in one line (exit 2): it would be ignored."""
    p = SecretSafeParser(add_help=False)
    p.add_argument("--replay-journal", default=None)
    known, _ = p.parse_known_args(argv)
    if known.replay_journal is None:
        return None
    args, given = _given_flags(_glue_negative_fees(sys.argv[1:] if argv is None else argv))
    other = [flag for dest, flag in given.items() if dest not in REPLAY_FLAGS]
    try:
        if other:
            raise UsageError(
                f"{', '.join(other)} cannot be used with --replay-journal: the audit replays "
                "the session with the settings it recorded (only --out DIR is taken)"
            )
        if isinstance(args.out, str):
            check_out_folder(args.out)
    except UsageError as e:
        print(error_line(PROG, str(e)), file=sys.stderr)
        return 2
    from backtest import parity

    out = Path(args.out) if isinstance(args.out, str) else None
    # Its errors in this command's form, as the flags refused above: not the module's name.
    return parity.run(known.replay_journal, out_dir=out, prog=PROG)


def _robustness_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("robustness")
    g.add_argument(
        "--monte-carlo",
        type=int,
        default=0,
        metavar="N",
        help="N more runs with latency and slippage drawn at random, and a bootstrap of the "
        "trades: percentiles of return and drawdown (default: 0, none)",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of every random draw (latency distributions, Monte Carlo; nothing else "
        "draws, so a run without either refuses it) (default: %(default)s)",
    )
    g.add_argument(
        "--mc-latency-ms",
        type=int,
        default=1000,
        metavar="MS",
        help="Monte Carlo: latency drawn from [--latency-ms, --latency-ms + MS], ms (default: "
        "%(default)s)",
    )
    g.add_argument(
        "--mc-slippage-bps",
        default="5",
        metavar="BPS",
        help="Monte Carlo: slippage drawn from [--slippage-bps, --slippage-bps + BPS], bps "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--sweep",
        default=None,
        metavar="FILE",
        help="run a TOML parameter grid ([grid], [fixed], metric, optional [walk_forward]; "
        "see backtest/sweep_example.toml)",
    )
    g.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="parallel worker processes of a sweep or Monte Carlo (-1: every core; default: "
        "%(default)s)",
    )
    g.add_argument(
        "--dask-scheduler",
        default=None,
        metavar="ADDRESS",
        help="run a sweep's or Monte Carlo's runs on this Dask cluster, e.g. "
        "tcp://10.0.0.5:8786 (the workers need this project importable)",
    )


def _report_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--html",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write report.html (default: on)",
    )


def _check_robustness_args(
    args: argparse.Namespace, given: Mapping[str, str]
) -> robustness.SweepSpec | None:
    """Flags checked and the sweep file read before anything runs; `given`: {dest: option}
    of the flags typed."""
    if args.monte_carlo < 0:
        raise UsageError("--monte-carlo must be >= 0")
    if not 0 <= args.mc_latency_ms <= realism.MAX_LATENCY_MS:
        raise UsageError(f"--mc-latency-ms must be 0 to {realism.MAX_LATENCY_MS} (a day)")
    non_negative(args.mc_slippage_bps, "--mc-slippage-bps", most=MAX_SLIPPAGE_BPS)
    if args.jobs == 0 or args.jobs < -1:
        raise UsageError("--jobs must be >= 1, or -1 for every core")
    if unused := unused_robustness_flag(given, args.monte_carlo > 0, args.sweep is not None):
        raise UsageError(unused)
    return None if args.sweep is None else robustness.load_sweep(args.sweep)


# The flags that shape only the Monte Carlo runs, and those that spread the robustness runs
# over processes: without those runs they went unused without a word.
_MONTE_CARLO_FLAGS = ("mc_latency_ms", "mc_slippage_bps")
_PARALLEL_FLAGS = ("jobs", "dask_scheduler")


def unused_robustness_flag(given: Mapping[str, str], monte_carlo: bool, sweep: bool) -> str | None:
    """Why a robustness flag typed (`given`: {dest: option}) would change nothing, else None."""
    for dest in _MONTE_CARLO_FLAGS:
        if dest in given and not monte_carlo:
            return f"{given[dest]} is for --monte-carlo N (N > 0): there is no random run"
    for dest in _PARALLEL_FLAGS:
        if dest in given and not (monte_carlo or sweep):
            return f"{given[dest]} is for --monte-carlo or --sweep: one run is not spread"
    return None


def _run_monte_carlo(
    args: argparse.Namespace, data: MarketData, result: BacktestResult
) -> robustness.MonteCarloResult | None:
    if not args.monte_carlo:
        return None
    spec = robustness.MonteCarloSpec(
        runs=args.monte_carlo,
        seed=args.seed,
        latency_jitter_ms=args.mc_latency_ms,
        slippage_jitter_bps=non_negative(
            args.mc_slippage_bps, "--mc-slippage-bps", most=MAX_SLIPPAGE_BPS
        ),
    )
    return robustness.monte_carlo(
        data,
        result,
        spec,
        jobs=args.jobs,
        dask_scheduler=args.dask_scheduler,
        progress=result.config.progress,
    )


def _run_sweep(
    args: argparse.Namespace,
    spec: robustness.SweepSpec | None,
    data: MarketData,
    config: BacktestConfig,
) -> robustness.SweepResult | None:
    if spec is None:
        return None
    return robustness.run_sweep(
        data,
        config,
        spec,
        jobs=args.jobs,
        dask_scheduler=args.dask_scheduler,
        progress=config.progress,
    )


def _glue_negative_fees(argv: list[str]) -> list[str]:
    """`--fees -0.0001,0.0005` -> `--fees=-0.0001,0.0005`: argparse takes a value that starts
    with '-' and is not a plain number for a flag, and would print its usage instead."""
    out: list[str] = []
    rest = iter(argv)
    for arg in rest:
        if arg == "--fees":
            value = next(rest, None)
            if value is not None and value.startswith("-") and value[1:2].isdigit():
                out.append(f"--fees={value}")
                continue
            out.append(arg)
            if value is not None:
                out.append(value)
            continue
        out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    """The command; Ctrl+C (KeyboardInterrupt) anywhere in it: one line and 130."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # reading the flags, or the parity audit
        print(interrupted_line(PROG, "stopped before the end"), file=sys.stderr)
        return 130


def _interrupted(args: argparse.Namespace) -> int:
    """Ctrl+C during the run or while its files are written: said in one line; the journal
    (`--journal`) keeps what was journaled, as a daemon's would."""
    kept = "" if args.journal is None else f" (--journal {args.journal} holds the part run)"
    print(
        interrupted_line(
            PROG, f"the backtest did not finish; nothing was written to {args.out}{kept}"
        ),
        file=sys.stderr,
    )
    return 130


def _not_written(out: Path, e: OSError) -> int:
    """A file of the report the system would not write (a folder in its place, a full disk):
    said in one line, exit 2, where it was a traceback; none of the run's files is left, as
    after a Ctrl+C: a summary.json without the rest would pass for a whole run."""
    with contextlib.suppress(OSError):
        remove_earlier_outputs(out)
    name = Path(e.filename).name if e.filename else "its files"
    reason = f"cannot write {name} ({e.strerror or e})"
    print(error_line(PROG, f"--out {out}: {reason}; none of this run's files were left there"),
          file=sys.stderr)  # fmt: skip
    return 2


def _main(argv: list[str] | None) -> int:
    if (status := _replay_journal(argv)) is not None:
        return status
    flags = _glue_negative_fees(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(flags)
    try:
        settings = None if args.config is None else config_settings(args.config)
        strategy = args.strategy or (
            settings.strategy.name if settings is not None else DEFAULT_STRATEGY
        )
        factory = strategy_factory(strategy)  # an unknown strategy: one line, before anything
        for note in nondeterminism_notes(strategy, factory):  # said once, not per sweep run
            print(f"{tool_name(PROG)}: warning: {note}", file=sys.stderr)
        if not 0 <= args.latency_ms <= realism.MAX_LATENCY_MS:
            raise UsageError(f"--latency-ms must be 0 to {realism.MAX_LATENCY_MS} (a day)")
        if args.model is not None and strategy != "logistic_regression":
            raise UsageError(
                f"--model is for --strategy logistic_regression; {strategy} takes no model"
            )
        if args.model is not None and not Path(args.model).exists():
            raise UsageError(f"model file not found: {args.model}")
        maker, taker = maker_taker_fees(args.fees)
        given = _given_flags(flags)[1]
        sweep_spec = _check_robustness_args(args, given)
        sweep_configs: list[BacktestConfig] = []
        if "no_warm" in given and args.start is None:  # it changed nothing, unsaid
            raise UsageError(
                "--no-warm is for --start: without it the run starts at the data's first bar, "
                "with nothing before it to warm the strategy"
            )
        if sweep_spec is not None:
            check_fixed_flags(sweep_spec.fixed, args, given)
        params = strategy_kwargs(args, settings, strategy)
        config = BacktestConfig(
            symbol=traded_symbol(args, settings),
            strategy=strategy,
            strategy_params=params,
            starting_balance=balance_usdt(args, settings),
            maker_fee=maker,
            taker_fee=taker,
            latency_ms=args.latency_ms,
            slippage_bps=non_negative(args.slippage_bps, "--slippage-bps", most=MAX_SLIPPAGE_BPS),
            seed=args.seed,
            protect_positions=not args.no_stops,
            fast_path=not args.no_fast_path,
            progress=sys.stderr.isatty() if args.progress is None else args.progress,
            journal_dir=None if args.journal is None else Path(args.journal),
            exchange_info=args.exchange_info,
            **realism.cli_config(args),
        )
        instrument_of(
            config.symbol, backtest_instruments(config.exchange_info), config.exchange_info
        )  # an unknown symbol is refused before the data is read
        if settings is not None:
            assert args.config is not None
            risk = config_risk(settings)
            by_param = any(p.partition("=")[0].strip() == "order_notional_usdt" for p in args.param)
            check_order_cap(params.get("order_notional_usdt"), risk, args.config, by_param=by_param)
            config = replace(
                config,
                risk=risk,
                stale_order_ms=settings.risk.stale_order_ms,
                reentry_hold=settings.risk.reentry_hold,
                max_strategy_call_ms=Decimal(settings.strategy.max_call_ms),
            )
        if sweep_spec is not None:
            config = robustness.with_fixed(config, sweep_spec)
            fixed = sweep_spec.fixed.get("order_notional_usdt")
            if fixed is not None and config.risk is not None and args.config is not None:
                # --config's cap, as for --notional (without it the caps follow the notional)
                order = config.strategy_params.get("order_notional_usdt")
                check_order_cap(order, config.risk, args.config, fixed=fixed)
            # its file's errors, before the run
            _, _, sweep_configs = robustness.accepted_points(config, sweep_spec)
        if (unused := unused_latency_flag(config.entry_latency, args, given)) is not None:
            raise UsageError(unused)
        runs = [(c.entry_latency, c.ack_latency) for c in (config, *sweep_configs)]
        if unused := unused_seed(runs, args, given):
            raise UsageError(unused)
        start_ms, end_ms = time_window(args.start, args.end)
        check_out_folder(args.out)
        check_not_foreign(Path(args.out))
        if args.journal is not None:
            check_journal_folder(args.journal)
        check_data_symbol(args, settings, config.symbol)
        if start_ms is not None and not args.no_warm:
            # The bars before --start warm the strategy (as a daemon started then would).
            config = replace(config, trade_from_ms=start_ms)
            start_ms -= WARM_HISTORY_BARS * MINUTE_MS
        data = load(args.data, symbol=config.symbol, start_ms=start_ms, end_ms=end_ms)
        if strategy == "logistic_regression":
            config = replace(config, strategy_params={**params, **bars_of(data)})
        if sweep_spec is not None:  # the errors of its windows on this data, before the run
            robustness.sweep_tasks(data, config, sweep_spec)
        result = run_backtest(data, config)
        mc = _run_monte_carlo(args, data, result)
        sweep = _run_sweep(args, sweep_spec, data, config)
    except (UsageError, DataError, ValueError) as e:
        # A value it quotes may be a key pasted into the wrong flag (`--fill-mode <key>`).
        print(error_line(PROG, str(e)), file=sys.stderr)
        return 2
    except StrategyError as e:  # the strategy's own bug: where, and nothing written
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted(args)
    gaps = kline_gaps(data) if isinstance(data, Klines) else []
    out = Path(args.out)
    try:
        remove_earlier_outputs(out)
        write_outputs(result, out)
        unrecorded = funding_section(result)
        summary = add_sections(
            out,
            {
                "monte_carlo": None if mc is None else mc.to_dict(),
                "sweep": None if sweep is None else sweep.to_dict(),
                "data_gaps": gaps_section(gaps),
                "funding_unrecorded": unrecorded,
            },
        )
        write_report(args, out, result, summary, write_robustness(out, mc, sweep))
    except KeyboardInterrupt:  # a summary.json without its report would pass for a whole run
        remove_earlier_outputs(out)
        return _interrupted(args)
    except OSError as e:  # the folder took the check before the run, not the files (/proc, root)
        return _not_written(out, e)
    m = result.summary
    units = counted(result.units, result.kind.removesuffix("s"))  # kline(s), trade(s)
    held = "" if result.buy_and_hold is None else buy_and_hold_text(result.buy_and_hold)
    print(
        f"{units} in {result.wall_s:.2f} s: return {m.total_return:+.4%}{held}, max drawdown "
        f"{m.max_drawdown:.4%}, {counted(m.fills, 'fill')}, fees {m.fees:.2f} USDT -> {out}"
    )
    print_not_annualized(result)
    if result.model is not None:
        model = result.model
        version = f", registry version {model['version']}" if model["version"] else ""
        print(f"model: {model['path']} (sha256 {model['sha256']}{version})")
    if args.funding == "auto" and result.config.funding == "none":
        print(
            f"funding: no bundled funding rates of {config.symbol} overlap the data: none settled"
        )
    if unrecorded is not None:
        print(f"funding: {funding_unrecorded_text(unrecorded)}")
    if gaps:
        start, bars = max(gaps, key=lambda g: g[1])
        print(
            f"data: {counted(len(gaps), 'gap')} in the 1m bars, "
            f"{counted(sum(n for _, n in gaps), 'bar')} missing "
            f"(the longest {bars} from {utc_text(start)}); the bars on either side are "
            "replayed as consecutive"
        )
    print_risk(result)
    print_rejected(result)
    print_slow_calls(result)
    print_short_warm(result)
    print_no_orders(result)
    print_robustness(mc, sweep)
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
