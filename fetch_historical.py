"""Download Binance USD-M klines or aggregate trades into the Parquet history store.

    python fetch_historical.py --symbol BTCUSDT --kind klines --interval 1m \\
        --start 2025-05-05 --end 2025-05-08 --out data_store

`--start`/`--end` are ISO dates or date-times in UTC; the range is [start, end). Neither may
be before 2019-09-01 (Binance USD-M futures opened in September 2019: BTCUSDT's first kline
is from 2019-09-08, so nothing older exists) nor after the exchange's current time (checked
against `/fapi/v1/time` before anything is downloaded; dates after 2100 are refused at once).
`--out` must be a directory this user can write (created if missing; removed again with any
parent it created when the run stored nothing); `--base-url` an
http(s) URL. Pages are requested at the maximum sizes, the request weight is kept under the
limit using the `X-MBX-USED-WEIGHT-1M` header, a 429 is waited out (`Retry-After`), a 418 (IP
ban) stops the run with a message. Every page is stored as it arrives, so a second run resumes
where the first stopped and downloads nothing twice. A time the exchange answers empty for is
stored as done only when that is proven (klines: before the symbol's listing, exchangeInfo's
`onboardDate`, or bars served on both sides; aggTrades: the trade after it directly follows one
before it); otherwise the report lists it as not served and the next run asks again. The
closing report lists gaps and duplicates.
A day file of the store that cannot be read (cut short, overwritten) is named and left as it
is: move it away and run again to fetch that day anew.
Exit codes: 0 done, 1 stopped by the exchange, the network, the disk or a damaged store file,
2 bad arguments (one line on stderr), 130 interrupted.
"""
# Ctrl+C's handler goes in before the imports, which take about a second

from core.early_interrupt import catch_while_importing, imports_done

# As a command only (tests import this module), and only where Ctrl+C would interrupt anyway.
if __name__ == "__main__":
    catch_while_importing()

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from argparse import SUPPRESS
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import pandas as pd
from tqdm import tqdm

from core.clock import LiveClock
from core.errors import RejectedError, RetryableError
from core.redaction import redact_userinfo
from gateway.market_rest import IpBanStop, MarketDataRest
from market_history.download import DownloadReport, download_agg_trades, download_klines
from market_history.history import utc_timestamp
from market_history.schema import KLINE_INTERVALS, Kind, normalize_symbol
from market_history.store import DamagedFile, HistoryStore
from runtime.flags import SecretSafeParser, error_line, exit_status, interrupted_line, path_text

imports_done()  # `main` takes Ctrl+C from here

DEFAULT_BASE_URL = "https://fapi.binance.com"
INVALID_SYMBOL = -1121
EARLIEST = pd.Timestamp("2019-09-01", tz="UTC")  # USD-M futures opened in September 2019
LATEST = pd.Timestamp("2100-01-01", tz="UTC")  # a sanity bound; "now" is the exchange's clock
CLOCK_TOLERANCE_MS = 60_000  # `--end` may pass the exchange's time by this much (clock drift)


class BadArguments(Exception):
    """One line for the user; exit status 2."""


class Unreachable(Exception):
    """The exchange did not answer the first requests: nothing was downloaded."""


PROG = "fetch_historical.py"  # its error lines start `PROG: error: `
FIRST_CONTACT_ATTEMPTS = 3  # a dead network or a wrong --base-url shows in seconds, not ~45 s


class _Parser(SecretSafeParser):
    def fail(self, message: str) -> NoReturn:
        raise BadArguments(message)


class _DefaultsShown(argparse.HelpFormatter):
    """Each option's default after its help, unless it has none (a required option, a
    switch): argparse's own formatter printed `(default: None)` for those."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.required or action.default in (None, False, SUPPRESS):
            return text
        return text + " (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        formatter_class=_DefaultsShown,
    )
    p.add_argument(
        "--symbol", required=True, help="the USD-M symbol, e.g. BTCUSDT (btcusdt, BTC/USDT too)"
    )
    p.add_argument(
        "--kind",
        required=True,
        choices=["klines", "aggTrades"],
        help="klines: the bars of --interval; aggTrades: every aggregate trade (by id)",
    )
    p.add_argument(
        "--interval",
        help=f"klines only: the bar length, one of {', '.join(KLINE_INTERVALS)} (default: 1m)",
    )
    p.add_argument(
        "--start",
        required=True,
        help="the range's start, inclusive: an ISO date or date-time, UTC unless it gives an "
        "offset (2025-05-05, 2025-05-05T12:00), or now / today; not before 2019-09-01",
    )
    p.add_argument(
        "--end",
        required=True,
        help="the range's end, exclusive, in the same forms; not after the exchange's current "
        "time (by more than a minute)",
    )
    p.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help="the exchange's REST base URL, http(s) (the local exchange: http://127.0.0.1:PORT)",
    )
    p.add_argument(
        "--out",
        default="data_store",
        type=path_text,
        help="history store directory, created if missing: one Parquet file per UTC day, "
        "<out>/BTCUSDT/klines-1m/2025-05-05.parquet, <out>/BTCUSDT/aggTrades/...",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (shown on stderr when it is a terminal)",
    )
    return p


def _utc_ms(text: str, name: str) -> int:
    """An ISO date/date-time (UTC unless it says otherwise) as epoch ms inside
    [EARLIEST, LATEST]; BadArguments otherwise ("" and "NaT" are not dates)."""
    try:
        ts = utc_timestamp(text)
        if pd.isna(ts):
            raise ValueError(text)
    except (ValueError, TypeError, OverflowError):
        raise BadArguments(f"--{name}: not an ISO date: {text!r}") from None
    if ts < EARLIEST:
        raise BadArguments(
            f"--{name} {text} is before {EARLIEST:%Y-%m-%d}: Binance USD-M futures have no "
            "data before then"
        )
    if ts > LATEST:
        raise BadArguments(f"--{name} {text} is after {LATEST:%Y-%m-%d}; give a date up to now")
    return int(ts.value // 1_000_000)


def _check_base_url(text: str) -> str:
    """An http(s) URL with a host: anything else would only fail later, retried as if the
    network were down."""
    try:
        parts = urlsplit(text)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # e.g. a port that is not a number
        valid = False
    if not valid:
        raise BadArguments(f"--base-url: not an http(s) URL: {text!r}")
    if parts.query or parts.fragment:
        raise BadArguments(f"--base-url: a base URL has no query or fragment: {text!r}")
    return text


def _check_out_dir(text: str) -> list[Path]:
    """A directory this user can write (created if missing); BadArguments otherwise. Returns
    the directories it made, deepest first: a run that stores nothing removes them again."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise BadArguments(f"--out {text}: exists and is not a directory")
    try:
        made = [folder for folder in (path, *path.parents) if not folder.exists()]
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".fetch-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BadArguments(f"--out {text}: cannot write there ({exc.strerror or exc})") from None
    return made


def _remove_unused(made: Sequence[Path]) -> None:
    """Of the directories `--out` made (deepest first), those that hold nothing: a run that
    stored nothing (the exchange unreachable, a range it refused) leaves no empty store
    behind. The store's own subfolders of a write that failed go first; a folder with a
    file in it stays (rmdir refuses it), as does one that existed before the run."""
    if not made:
        return
    for walked, _subfolders, _files in os.walk(made[0], topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(walked)
    for folder in made[1:]:
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    try:
        args.symbol = normalize_symbol(args.symbol)
    except ValueError as exc:
        raise BadArguments(f"--symbol: {exc}") from None
    if args.kind == "aggTrades" and args.interval is not None:  # it went unused, unsaid
        raise BadArguments(f"--interval {args.interval} is for --kind klines: aggTrades have none")
    if args.interval is None:
        args.interval = "1m"
    if args.kind == "klines" and args.interval not in KLINE_INTERVALS:
        raise BadArguments(
            f"--interval: unknown interval {args.interval!r} (one of {', '.join(KLINE_INTERVALS)})"
        )
    args.start_ms = _utc_ms(args.start, "start")
    args.end_ms = _utc_ms(args.end, "end")
    if args.end_ms <= args.start_ms:
        raise BadArguments(f"--end {args.end} is not after --start {args.start}")
    args.base_url = _check_base_url(args.base_url)
    args.made_dirs = _check_out_dir(args.out)
    return args


def _check_range_against(args: argparse.Namespace, server_now_ms: int) -> None:
    """Neither end of the range may lie after the exchange's current time."""
    now = pd.Timestamp(server_now_ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    if args.start_ms >= server_now_ms:
        raise BadArguments(f"--start {args.start} is not before the exchange's current time {now}")
    if args.end_ms > server_now_ms + CLOCK_TOLERANCE_MS:
        raise BadArguments(f"--end {args.end} is after the exchange's current time {now}")


async def _check_symbol(rest: MarketDataRest, symbol: str) -> int | None:
    """BadArguments for a symbol the exchange does not list; its listing time (exchangeInfo
    `onboardDate`, epoch ms) when the exchange says it: no kline can open long before it."""
    try:
        info = await rest.exchange_info()
    except RejectedError:
        return None  # no exchangeInfo: the first data request will tell
    entries = {s.get("symbol"): s for s in info.get("symbols", []) if isinstance(s, dict)}
    if entries and symbol not in entries:
        raise BadArguments(f"--symbol: unknown symbol {symbol} on {rest.base_url}")
    onboard = entries.get(symbol, {}).get("onboardDate")
    return onboard if isinstance(onboard, int) and onboard > 0 else None


async def run(
    args: argparse.Namespace, on_page: Callable[[int], object] | None = None
) -> DownloadReport:
    """Download as `args` say; `on_page(rows)` is called after every stored page."""
    rest = MarketDataRest(args.base_url, clock=LiveClock())
    attempts = rest.max_attempts  # once the exchange has answered: ride out its hiccups
    store = HistoryStore(args.out)
    try:
        rest.max_attempts = FIRST_CONTACT_ATTEMPTS
        try:
            listed_ms = await _check_symbol(rest, args.symbol)
            now = await rest.server_time_ms()
        except RetryableError as exc:
            raise Unreachable(f"cannot reach {rest.base_url}: {exc}") from None
        rest.max_attempts = attempts
        _check_range_against(args, now)
        span = args.end_ms - args.start_ms
        # On a terminal only, as the backtester's: into a pipe or a cron job's log its
        # redraws were a line of carriage returns before the report.
        hidden = args.quiet or not sys.stderr.isatty()
        if args.kind == "klines":
            step = Kind.klines(args.interval).step_ms
            bar = tqdm(total=span // step, unit="bar", disable=hidden, desc=args.symbol)
        else:
            step = 1_000
            bar = tqdm(total=span // step, unit="s", disable=hidden, desc=args.symbol)
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
                    listed_ms=listed_ms,
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


def _error(line: str) -> None:
    """A line on stderr, without the `user:password@` a --base-url may carry."""
    print(redact_userinfo(line), file=sys.stderr)


class _NoUserinfo(logging.Filter):
    """Log lines (a retried request's error quoting its URL) without a URL's userinfo."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact_userinfo(record.getMessage()), None
        return True


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _NoUserinfo) for f in handler.filters):
            handler.addFilter(_NoUserinfo())
    args: argparse.Namespace | None = None
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        report = asyncio.run(run(args))
    except BadArguments as exc:
        _error(error_line(PROG, str(exc)))
        return 2
    except RejectedError as exc:
        if exc.code == INVALID_SYMBOL:
            _error(error_line(PROG, f"--symbol: {exc.reason}"))
            return 2
        _error(error_line(PROG, f"rejected by the exchange: {exc}"))
        return 1
    except IpBanStop as exc:
        _error(error_line(PROG, f"stopped: {exc}"))
        return 1
    except Unreachable as exc:
        _error(error_line(PROG, f"{exc}; nothing downloaded (check the network or --base-url)"))
        return 1
    except RetryableError as exc:
        _error(error_line(PROG, f"gave up after retries ({exc}); run again to resume"))
        return 1
    except DamagedFile as exc:
        _error(
            error_line(
                PROG,
                f"damaged history file {exc.path} ({exc.reason}); move it away and run again "
                "to fetch its day anew",
            )
        )
        return 1
    except OSError as exc:  # the store's disk: network errors arrive as RetryableError
        _error(error_line(PROG, f"cannot write the history store: {exc}"))
        return 1
    except KeyboardInterrupt:
        _error(interrupted_line(PROG, "run again to resume"))
        return 130
    finally:
        if args is not None:
            _remove_unused(args.made_dirs)
    for line in report.lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
