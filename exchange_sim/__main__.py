"""Run the local Binance USD-M Futures exchange until Ctrl+C or SIGTERM (exit status 0).

    python -m exchange_sim --data btcusdt-2024-08-08 --symbols BTCUSDT --speed 10 --port 0 [--admin]

Prints the REST and WebSocket base URLs and the demo account's API key and secret (a pair
given, below, by its key's last 4 characters only: the user has it already), then one
status line every `--status-every` seconds (exchange time, last trade per symbol, connected
websocket clients) so a glance at the terminal or its log shows it is alive. Bad arguments exit
with status 2 and one line on stderr; a port that cannot be bound exits 1. Listens on 127.0.0.1
only.

Under a parent process (the daemon starts it as a child):

* `--api-key` / `--api-secret`, or the environment variables EXCHANGE_SIM_API_KEY and
  EXCHANGE_SIM_API_SECRET (preferred: command lines are visible to every local user), give the
  demo account a fixed key (64 letters and digits) that a user keeps in `.env`; without them a
  random pair is made at every start.
* `--ready-json`: once listening, the first and only line on stdout is one JSON object
  `{"rest_url": ..., "ws_url": ..., "api_key": ..., "api_secret": ...}` (flushed); everything
  else (the header, status lines, "stopped") goes to stderr, so a parent may read that one line
  and then stop reading stdout.
* `--balance`: USDT of the demo account (and of every account created later).
* `--exit-with-parent`: stop when the parent process dies (the daemon's child exchange must not
  outlive a `kill -9` of the daemon).
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import sys
import time
from decimal import Decimal
from typing import TextIO

from exchange_sim.replay.catalog import DEFAULT_DATASET
from exchange_sim.server import LocalExchange
from exchange_sim.server.exchange import DEFAULT_BALANCE, check_demo_key
from exchange_sim.speed import parse_speed
from runtime.flags import StoreOnce, ToolParser, error_line

PARENT_POLL_S = 1.0


def _speed(text: str) -> float | str:
    try:
        return parse_speed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {text!r}")
    return int(text)


def _balance(text: str) -> Decimal:
    if not re.fullmatch(r"[0-9]{1,15}(\.[0-9]{1,8})?", text) or not Decimal(text) > 0:
        raise argparse.ArgumentTypeError(
            f"balance must be a positive USDT amount like 10000 or 2500.5, got {text!r}"
        )
    return Decimal(text)


def build_parser() -> argparse.ArgumentParser:
    parser = ToolParser(prog="python -m exchange_sim", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        action=StoreOnce,
        default=DEFAULT_DATASET,
        help="bundled data-set name or a data directory",
    )
    parser.add_argument(
        "--symbols", default="BTCUSDT", help="comma-separated, e.g. BTCUSDT,ETHUSDT"
    )
    parser.add_argument(
        "--speed", type=_speed, default=1.0, help="1 = real time, N = N x faster, or 'max'"
    )
    parser.add_argument("--port", type=_port, default=0, help="TCP port on 127.0.0.1 (0 = any)")
    parser.add_argument(
        "--admin", action="store_true", help="enable POST /_sim/faults (fault injection)"
    )
    parser.add_argument(
        "--status-every",
        type=_interval,
        default=10.0,
        metavar="SECONDS",
        help="print a status line this often (0 = never; default 10)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("EXCHANGE_SIM_API_KEY") or None,
        help="fixed demo API key, 64 letters/digits (default: $EXCHANGE_SIM_API_KEY, else random)",
    )
    parser.add_argument(
        "--api-secret",
        default=os.environ.get("EXCHANGE_SIM_API_SECRET") or None,
        help="its secret (default: $EXCHANGE_SIM_API_SECRET, else random); a command line is "
        "visible to every local user (ps): prefer the environment variables",
    )
    parser.add_argument(
        "--balance",
        type=_balance,
        default=DEFAULT_BALANCE,
        metavar="USDT",
        help=f"USDT wallet balance of the demo account (default {DEFAULT_BALANCE})",
    )
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started this one dies (a daemon's child exchange)",
    )
    parser.add_argument(
        "--ready-json",
        action="store_true",
        help="print one JSON line with the URLs and the key on stdout once listening; "
        "all other output goes to stderr",
    )
    return parser


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):  # nan printed ~40 status lines a second
        raise argparse.ArgumentTypeError(f"must be >= 0 (0 = never), got {text!r}")
    return value


def status_line(ex: LocalExchange) -> str:
    """Exchange time, last published trade per symbol and client count, on one line."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ex.now_ms() / 1000))
    parts = [now]
    for symbol in ex.symbols:
        last = ex.agg_store.last(symbol)
        if last is None:
            parts.append(f"{symbol} no trades yet")
            continue
        trade = last[0]
        origin = "synthesized" if trade.synthesized else "recorded"
        parts.append(f"{symbol} {trade.price} (aggTrade {trade.agg_id}, {origin})")
    parts.append(f"ws clients {ex.hub.connection_count()}")
    return "  ".join(parts)


async def _report(ex: LocalExchange, every_s: float, out: TextIO) -> None:
    while True:
        await asyncio.sleep(every_s)
        print(status_line(ex), file=out, flush=True)


def ready_line(ex: LocalExchange) -> str:
    """The `--ready-json` line: where to connect and with which key."""
    return json.dumps(
        {
            "rest_url": ex.rest_url,
            "ws_url": ex.ws_url,
            "api_key": ex.api_key,
            "api_secret": ex.api_secret,
        }
    )


async def _watch_parent(stop: asyncio.Event, parent_pid: int) -> None:
    """Stop when the process that started us is gone (it was killed: we were re-parented)."""
    while True:
        await asyncio.sleep(PARENT_POLL_S)
        if os.getppid() != parent_pid:
            break
    stop.set()  # first: the parent read our stderr, and that pipe may be closed with it
    with contextlib.suppress(OSError):
        print("parent process gone: stopping", file=sys.stderr, flush=True)


def banner_credentials(key: str, secret: str, *, ready_json: bool, given: bool) -> tuple[str, str]:
    """(key, secret) as the banner shows them. In full only when drawn at random at this start
    and shown on the terminal: the user has no other way to learn them. A pair the user gave
    (`EXCHANGE_SIM_API_KEY` / `_SECRET`, under systemd or tmux whose logs keep what is printed)
    is named by the key's last 4 characters; with --ready-json the banner goes to stderr, which
    a parent process logs, and the pair is in the ready line (stdout) only."""
    if ready_json:
        return f"****{key[-4:]} (in the --ready-json line)", "(in the --ready-json line)"
    if given:
        return f"****{key[-4:]} (the one given)", "**** (the one given)"
    return key, secret


async def serve(
    ex: LocalExchange,
    status_every_s: float = 0.0,
    ready_json: bool = False,
    exit_with_parent: bool = False,
    keys_given: bool = False,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_watch_parent(stop, os.getppid())) if exit_with_parent else None
    await ex.start()
    out = sys.stderr if ready_json else sys.stdout
    reporter: asyncio.Task | None = None
    try:
        if ready_json:
            print(ready_line(ex), flush=True)
        print(f"REST      {ex.rest_url}", file=out, flush=True)
        print(f"WebSocket {ex.ws_url}", file=out, flush=True)
        key, secret = banner_credentials(
            ex.api_key, ex.api_secret, ready_json=ready_json, given=keys_given
        )
        print(f"API key    {key}", file=out, flush=True)
        print(f"API secret {secret}", file=out, flush=True)
        if ex.admin:
            print(f"Admin     POST {ex.rest_url}/_sim/faults", file=out, flush=True)
        print("Ctrl+C to stop.", file=out, flush=True)
        if status_every_s:
            reporter = asyncio.create_task(_report(ex, status_every_s, out))
        await stop.wait()
    finally:
        for task in (reporter, watcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await ex.stop()
        with contextlib.suppress(OSError):  # a parent that read it may be gone
            print("stopped", file=out, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    if not symbols:  # else the data load's KeyError said "error: BTCUSDT"
        parser.error(f"--symbols {args.symbols!r}: no symbol given (e.g. BTCUSDT,ETHUSDT)")
    twice = sorted({s for s in symbols if symbols.count(s) > 1})
    if twice:  # else the data load says "BTCUSDT: history overlaps bars already in the store"
        parser.error(f"--symbols {args.symbols}: {', '.join(twice)} given twice")
    if args.speed == "step":
        parser.error("speed 'step' is for tests (LocalExchange.step); use a number or 'max'")
    try:
        check_demo_key(args.api_key, args.api_secret)
    except ValueError as exc:
        parser.error(str(exc))
    # a SIGTERM while the data loads (before the event loop handles it) is a clean stop too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        ex = LocalExchange(
            data=args.data,
            symbols=symbols,
            speed=args.speed,
            port=args.port,
            admin=args.admin,
            balance=args.balance,
            api_key=args.api_key,
            api_secret=args.api_secret,
        )
    except (ValueError, KeyError, FileNotFoundError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        parser.error(str(message).splitlines()[0])
    try:
        keys_given = args.api_key is not None
        asyncio.run(
            serve(ex, args.status_every, args.ready_json, args.exit_with_parent, keys_given)
        )
    except OSError as exc:
        print(error_line(parser.prog, str(exc)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
