"""Benchmark: aggTrade frames through the DataStream, in-process and from the local exchange.

1. In-process: real BTCUSDT aggTrade frames (built from the bundled trade capture, ids made
   contiguous) are parsed and delivered by `DataStream.handle_frame` and taken by the consumer
   (`get_nowait`), in batches of 1,000. Target: >= 200,000 messages/s.
2. End to end over loopback: the local exchange replays the bundled BTCUSDT data at max speed
   in this process; a DataStream in a separate process connects to the routed streams
   (aggTrade, kline_1m, markPrice@1s on /market; bookTicker on /public) and its consumer
   counts delivered domain objects (Trade, BookTicker, MarkPrice, Bar) from the first to the
   last. Target: >= 30,000 messages/s.

    python bench/bench_data_stream.py [--frames 500000] [--messages 200000]
"""

import argparse
import asyncio
import csv
import gzip
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.clock import LiveClock  # noqa: E402
from core.market import Trade  # noqa: E402
from gateway.data_stream import DataStream, StreamConfig  # noqa: E402
from gateway.market_rest import MarketDataRest  # noqa: E402

IN_PROCESS_TARGET = 200_000
LOOPBACK_TARGET = 30_000
TRADES = ROOT / "exchange_sim" / "data" / "trades" / "BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"


def agg_trade_frames(count: int) -> list[str]:
    """`count` combined-stream aggTrade frames from the real capture (one trade per frame)."""
    with gzip.open(TRADES, "rt") as fh:
        rows = list(csv.DictReader(fh))
    frames = []
    first_id = 3_000_000_000
    for i in range(count):
        r = rows[i % len(rows)]
        t = int(r["time"])
        data = {
            "e": "aggTrade",
            "E": t + 1,
            "s": "BTCUSDT",
            "a": first_id + i,
            "p": r["price"],
            "q": r["qty"],
            "nq": r["qty"],
            "f": int(r["id"]),
            "l": int(r["id"]),
            "T": t,
            "m": r["is_buyer_maker"] == "true",
        }
        frames.append(json.dumps({"stream": "btcusdt@aggTrade", "data": data}))
    return frames


async def in_process(count: int) -> float:
    frames = agg_trade_frames(count)
    clock = LiveClock()
    rest = MarketDataRest("http://127.0.0.1:9", clock=clock)  # never called: no gap
    stream = DataStream(ws_url="ws://127.0.0.1:9", rest=rest, symbols=["BTCUSDT"], clock=clock)
    handle, take = stream.handle_frame, stream.get_nowait
    batch = 1_000
    started = time.perf_counter()
    for i in range(0, count, batch):
        chunk = frames[i : i + batch]
        for frame in chunk:
            handle(frame)
        for _ in chunk:
            take()
    elapsed = time.perf_counter() - started
    await rest.close()
    assert stream.stats.trades == count and stream.stats.malformed == 0
    return count / elapsed


def _client(ws_url: str, rest_url: str, count: int, results: "mp.Queue") -> None:
    async def run() -> None:
        clock = LiveClock()
        rest = MarketDataRest(rest_url, clock=clock)
        config = StreamConfig(market_silence_s=30.0, probe_delay_s=5.0, trade_silence_s=0)
        stream = DataStream(
            ws_url=ws_url, rest=rest, symbols=["BTCUSDT"], clock=clock, config=config
        )
        await stream.start()
        kinds: dict[str, int] = {}
        connected = 0
        received = 0
        started = 0.0
        async for item in stream:
            name = type(item).__name__
            if name == "StreamStateChanged":
                connected += 1
                if connected == 2:
                    results.put(("ready", 0.0))
                continue
            if received == 0:
                started = time.perf_counter()
            received += 1
            kinds[name] = kinds.get(name, 0) + 1
            if received == count:
                break
        elapsed = time.perf_counter() - started
        gaps = stream.stats.gaps
        trades = kinds.get(Trade.__name__, 0)
        await stream.stop()
        await rest.close()
        results.put(("rate", ((count - 1) / elapsed, trades, gaps, kinds)))

    asyncio.run(run())


async def loopback(count: int, client=None) -> tuple[float, int, int, dict]:
    from exchange_sim.server import LocalExchange

    ex = LocalExchange(data="btcusdt-2024-08-08", symbols=["BTCUSDT"], speed="step")
    await ex.start()
    ctx = mp.get_context("spawn")
    results: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=client or _client, args=(ex.ws_url, ex.rest_url, count, results))
    proc.start()
    try:
        await asyncio.to_thread(results.get)  # both sockets connected
        await asyncio.sleep(0.2)
        ex.speed = "max"
        assert ex.driver is not None
        pump = asyncio.get_running_loop().create_task(ex.driver.run_max())
        _, (rate, trades, gaps, kinds) = await asyncio.to_thread(results.get)
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
    finally:
        proc.join(timeout=10)
        await ex.stop()
    return rate, trades, gaps, kinds


async def main(frames: int, messages: int) -> int:
    rate_in = await in_process(frames)
    ok_in = rate_in >= IN_PROCESS_TARGET
    print(
        f"bench_data_stream in-process: {rate_in:,.0f} aggTrade msgs/s parsed+delivered "
        f"({frames:,} frames; target {IN_PROCESS_TARGET:,}) {'PASS' if ok_in else 'FAIL'}"
    )
    rate_lo, _trades, gaps, kinds = await loopback(messages)
    ok_lo = rate_lo >= LOOPBACK_TARGET
    print(
        f"bench_data_stream loopback: {rate_lo:,.0f} msgs/s delivered end to end from the local "
        f"exchange ({messages:,} messages: {kinds}; {gaps} gaps; target {LOOPBACK_TARGET:,}) "
        f"{'PASS' if ok_lo else 'FAIL'}"
    )
    return 0 if ok_in and ok_lo else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500_000)
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.frames, args.messages)))
