"""Backtest a strategy on recorded data through the daemon's own trading code.

    python backtest_trading_strategy.py --data PATH --symbol BTCUSDT --strategy sma_crossover \\
        [--start 2025-05-06] [--end 2025-05-08] [--fees 0.0002,0.0005] [--latency-ms 50] \\
        [--slippage-bps 1] [--fast 10 --slow 50 --notional 1000] [--journal DIR] --out DIR

`--data`: 1m klines (plain OHLCV CSV with `open_time` in ms, optionally gzipped; Binance's
12-column files) or trades / aggTrades CSV, or a market_history store Parquet file or folder.
Writes summary.json, equity.csv, trades.csv, orders.csv (and PNG plots when matplotlib is
installed) into `--out`. Bad inputs exit 2 with one line on stderr.
"""

import argparse
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from backtest.data import DataError, load
from backtest.runner import BacktestConfig, run_backtest, write_outputs
from trading_engine.main_trading_strategy import STRATEGIES


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


def _dec(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"bad {what} {text!r}: expected a number") from None
    if not value.is_finite() or value < 0:
        raise UsageError(f"bad {what} {text!r}: expected a number >= 0")
    return value


def _fees(text: str) -> tuple[Decimal, Decimal]:
    """ "0.0004" (both) or "maker,taker" as fractions (0.0002 = 0.02 %)."""
    parts = text.split(",")
    if len(parts) not in (1, 2):
        raise UsageError(f"bad --fees {text!r}: expected FEE or MAKER,TAKER")
    values = [_dec(p.strip(), "--fees") for p in parts]
    return values[0], values[-1]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="backtest_trading_strategy.py",
        description="Backtest a strategy through the daemon's ExecManager, RiskManager and "
        "BookKeeper against the in-process matching engine.",
    )
    p.add_argument("--data", required=True, help="klines / trades CSV[.gz] or store Parquet")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--strategy", default="sma_crossover")
    p.add_argument(
        "--model",
        default=None,
        help="model file or registry directory (its promoted version), for model strategies",
    )
    p.add_argument("--start", default=None, help="epoch ms or ISO date-time (UTC), inclusive")
    p.add_argument("--end", default=None, help="epoch ms or ISO date-time (UTC), exclusive")
    p.add_argument("--fees", default="0.0002,0.0005", help="MAKER,TAKER fractions (VIP 0)")
    p.add_argument("--latency-ms", type=int, default=0, help="order-entry latency, ms")
    p.add_argument("--slippage-bps", default="0", help="taker slippage on bar data, bps")
    p.add_argument("--balance", default="10000", help="starting USDT wallet")
    p.add_argument("--fast", type=int, default=10, help="sma_crossover fast SMA (bars)")
    p.add_argument("--slow", type=int, default=50, help="sma_crossover slow SMA (bars)")
    p.add_argument("--notional", default="1000", help="sma_crossover position size, USDT")
    p.add_argument("--no-stops", action="store_true", help="no exchange-side stop-loss")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: on when stderr is a terminal)",
    )
    p.add_argument("--journal", default=None, help="also write the daemon's SQLite journal here")
    p.add_argument("--out", required=True, help="output folder")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.strategy not in STRATEGIES:
            known = ", ".join(sorted(STRATEGIES))
            raise UsageError(f"unknown strategy {args.strategy!r}; known: {known}")
        if args.latency_ms < 0:
            raise UsageError("--latency-ms must be >= 0")
        if args.model is not None and not Path(args.model).exists():
            raise UsageError(f"model file not found: {args.model}")
        maker, taker = _fees(args.fees)
        params: dict[str, object] = {}
        if args.strategy == "sma_crossover":
            params = {
                "fast": args.fast,
                "slow": args.slow,
                "order_notional_usdt": _dec(args.notional, "--notional"),
            }
        if args.model is not None:
            params["model_path"] = args.model
            params["order_notional_usdt"] = _dec(args.notional, "--notional")
        elif args.strategy == "logistic_regression":
            raise UsageError("--strategy logistic_regression needs --model PATH")
        config = BacktestConfig(
            symbol=args.symbol.upper(),
            strategy=args.strategy,
            strategy_params=params,
            starting_balance=_dec(args.balance, "--balance"),
            maker_fee=maker,
            taker_fee=taker,
            latency_ms=args.latency_ms,
            slippage_bps=_dec(args.slippage_bps, "--slippage-bps"),
            protect_positions=not args.no_stops,
            progress=sys.stderr.isatty() if args.progress is None else args.progress,
            journal_dir=None if args.journal is None else Path(args.journal),
        )
        data = load(args.data, start_ms=_time_ms(args.start), end_ms=_time_ms(args.end))
        result = run_backtest(data, config)
    except (UsageError, DataError, ValueError) as e:
        print(f"backtest_trading_strategy.py: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    write_outputs(result, out)
    m = result.summary
    print(
        f"{result.units} {result.kind} in {result.wall_s:.2f} s: return {m.total_return:+.4%}, "
        f"max drawdown {m.max_drawdown:.4%}, {m.fills} fills, fees {m.fees:.2f} USDT -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
