"""Download Binance USD-M klines or aggregate trades into the Parquet history store.

    python fetch_historical.py --symbol BTCUSDT --kind klines --interval 1m \\
        --start 2025-05-05 --end 2025-05-08 --out data_store

`--start`/`--end` are ISO dates or date-times in UTC; the range is [start, end). Pages are
requested at the maximum sizes, the request weight is kept under the limit using the
`X-MBX-USED-WEIGHT-1M` header, a 429 is waited out (`Retry-After`), a 418 (IP ban) stops the
run with a message. Every page is stored as it arrives, so a second run resumes where the first
stopped and downloads nothing twice. The closing report lists gaps and duplicates.
Exit codes: 0 done, 1 stopped by the exchange or the network, 2 bad arguments, 130 interrupted.
"""

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

import pandas as pd
from tqdm import tqdm

from core.clock import LiveClock
from core.errors import RejectedError, RetryableError
from gateway.market_rest import IpBanned, MarketDataRest
from market_history.download import DownloadReport, download_agg_trades, download_klines
from market_history.schema import KLINE_INTERVALS, Kind, normalize_symbol
from market_history.store import HistoryStore

DEFAULT_BASE_URL = "https://fapi.binance.com"
INVALID_SYMBOL = -1121


class BadArguments(Exception):
    """One line for the user; exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadArguments(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fetch_historical.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
    p.add_argument("--kind", required=True, choices=["klines", "aggTrades"])
    p.add_argument("--interval", default="1m", help=f"klines only: {', '.join(KLINE_INTERVALS)}")
    p.add_argument("--start", required=True, help="ISO date/date-time, UTC (inclusive)")
    p.add_argument("--end", required=True, help="ISO date/date-time, UTC (exclusive)")
    p.add_argument("--base-url", default=DEFAULT_BASE_URL, help="REST base URL")
    p.add_argument("--out", default="data_store", help="history store directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _utc_ms(text: str, name: str) -> int:
    try:
        ts = pd.Timestamp(text)
    except ValueError:
        raise BadArguments(f"--{name}: not an ISO date: {text!r}") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    try:
        args.symbol = normalize_symbol(args.symbol)
    except ValueError as exc:
        raise BadArguments(f"--symbol: {exc}") from None
    if args.kind == "klines" and args.interval not in KLINE_INTERVALS:
        raise BadArguments(
            f"--interval: unknown interval {args.interval!r} (one of {', '.join(KLINE_INTERVALS)})"
        )
    args.start_ms = _utc_ms(args.start, "start")
    args.end_ms = _utc_ms(args.end, "end")
    if args.end_ms <= args.start_ms:
        raise BadArguments(f"--end {args.end} is not after --start {args.start}")
    return args


async def _check_symbol(rest: MarketDataRest, symbol: str) -> None:
    try:
        info = await rest.exchange_info()
    except RejectedError:
        return  # no exchangeInfo: the first data request will tell
    listed = {s.get("symbol") for s in info.get("symbols", [])}
    if listed and symbol not in listed:
        raise BadArguments(f"--symbol: unknown symbol {symbol} on {rest.base_url}")


async def run(
    args: argparse.Namespace, on_page: Callable[[int], object] | None = None
) -> DownloadReport:
    """Download as `args` say; `on_page(rows)` is called after every stored page."""
    rest = MarketDataRest(args.base_url, clock=LiveClock())
    store = HistoryStore(args.out)
    try:
        await _check_symbol(rest, args.symbol)
        now = await rest.server_time_ms()
        span = args.end_ms - args.start_ms
        if args.kind == "klines":
            step = Kind.klines(args.interval).step_ms
            bar = tqdm(total=span // step, unit="bar", disable=args.quiet, desc=args.symbol)
        else:
            step = 1_000
            bar = tqdm(total=span // step, unit="s", disable=args.quiet, desc=args.symbol)
        rows = 0

        def progress(new_rows: int, done_ms: int) -> None:
            nonlocal rows
            rows += new_rows
            bar.update(done_ms // step)
            bar.set_postfix(rows=rows, refresh=False)
            if on_page is not None:
                on_page(new_rows)

        try:
            if args.kind == "klines":
                return await download_klines(
                    rest,
                    store,
                    args.symbol,
                    args.interval,
                    args.start_ms,
                    args.end_ms,
                    server_now_ms=now,
                    progress=progress,
                )
            return await download_agg_trades(
                rest,
                store,
                args.symbol,
                args.start_ms,
                args.end_ms,
                server_now_ms=now,
                progress=progress,
            )
        finally:
            bar.close()
    finally:
        await rest.close()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        report = asyncio.run(run(args))
    except BadArguments as exc:
        print(f"fetch_historical.py: error: {exc}", file=sys.stderr)
        return 2
    except RejectedError as exc:
        if exc.code == INVALID_SYMBOL:
            print(f"fetch_historical.py: error: --symbol: {exc.reason}", file=sys.stderr)
            return 2
        print(f"fetch_historical.py: rejected by the exchange: {exc}", file=sys.stderr)
        return 1
    except IpBanned as exc:
        print(f"fetch_historical.py: stopped: {exc}", file=sys.stderr)
        return 1
    except RetryableError as exc:
        print(f"fetch_historical.py: gave up after retries ({exc}); run again to resume",
              file=sys.stderr)  # fmt: skip
        return 1
    except KeyboardInterrupt:
        print("fetch_historical.py: interrupted; run again to resume", file=sys.stderr)
        return 130
    for line in report.lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
