"""Benchmark: messages per second the local exchange streams to ONE websocket client.

The server replays the bundled BTCUSDT data at max speed (`speed="max"`) in this process; a
separate client process (the `websockets` library, as the daemon uses) subscribes to the
streams a trading bot reads and counts frames. The rate is measured on the client side, from
its first to its last received frame. Pass: >= 50,000 messages/s.

    python bench/bench_server_ws.py [--messages 300000] [--data btcusdt-2024-08-08]
"""

import argparse
import asyncio
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exchange_sim.server import LocalExchange

TARGET_MSGS_PER_S = 50_000
STREAMS = (
    "btcusdt@aggTrade",
    "btcusdt@bookTicker",
    "btcusdt@depth@100ms",
    "btcusdt@markPrice@1s",
    "btcusdt@kline_1m",
)


def _client(url: str, count: int, results: "mp.Queue") -> None:
    import websockets

    async def run() -> None:
        async with websockets.connect(url, max_queue=None, max_size=None) as ws:
            results.put(("ready", 0.0))
            await ws.recv()
            started = time.perf_counter()
            for _ in range(count - 1):
                await ws.recv()
            results.put(("rate", (count - 1) / (time.perf_counter() - started)))

    asyncio.run(run())


async def main(count: int, data: str) -> int:
    ex = LocalExchange(data=data, symbols=["BTCUSDT"], speed="step")
    await ex.start()
    ctx = mp.get_context("spawn")
    results: mp.Queue = ctx.Queue()
    url = f"{ex.ws_url}/stream?streams={'/'.join(STREAMS)}"
    proc = ctx.Process(target=_client, args=(url, count, results))
    proc.start()
    try:
        await asyncio.to_thread(results.get)  # the client is connected
        await asyncio.sleep(0.2)  # the subscription is registered by now
        pump = ex.release_max_speed()
        _, rate = await asyncio.to_thread(results.get)
        pump.cancel()
    finally:
        proc.join(timeout=10)
        await ex.stop()
    verdict = "PASS" if rate >= TARGET_MSGS_PER_S else "FAIL"
    print(
        f"bench_server_ws: {rate:,.0f} msgs/s to one client ({count:,} messages; "
        f"target {TARGET_MSGS_PER_S:,}) {verdict}"
    )
    return 0 if rate >= TARGET_MSGS_PER_S else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--data", default="btcusdt-2024-08-08")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.messages, args.data)))
