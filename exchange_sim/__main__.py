"""Run the local Binance USD-M Futures exchange until Ctrl+C.

    python -m exchange_sim --data btcusdt-2024-08-08 --symbols BTCUSDT --speed 10 --port 0 [--admin]

Prints the REST and WebSocket base URLs and the demo account's API key and secret. Bad
arguments exit with status 2 and one line on stderr. Listens on 127.0.0.1 only.
"""

import argparse
import asyncio
import contextlib
import signal
import sys

from exchange_sim.replay.catalog import DEFAULT_DATASET
from exchange_sim.server import LocalExchange
from exchange_sim.server.exchange import parse_speed


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _speed(text: str) -> float | str:
    try:
        return parse_speed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m exchange_sim", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=DEFAULT_DATASET, help="bundled data-set name or a data directory"
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
    return parser


async def serve(ex: LocalExchange) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await ex.start()
    try:
        print(f"REST      {ex.rest_url}", flush=True)
        print(f"WebSocket {ex.ws_url}", flush=True)
        print(f"API key    {ex.api_key}", flush=True)
        print(f"API secret {ex.api_secret}", flush=True)
        if ex.admin:
            print(f"Admin     POST {ex.rest_url}/_sim/faults", flush=True)
        print("Ctrl+C to stop.", flush=True)
        await stop.wait()
    finally:
        await ex.stop()
        print("stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    if args.speed == "step":
        parser.error("speed 'step' is for tests (LocalExchange.step); use a number or 'max'")
    try:
        ex = LocalExchange(
            data=args.data, symbols=symbols, speed=args.speed, port=args.port, admin=args.admin
        )
    except (ValueError, KeyError, FileNotFoundError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        parser.error(str(message).splitlines()[0])
    try:
        asyncio.run(serve(ex))
    except OSError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
