"""Benchmark: the local exchange's resident memory at `--speed max` with one fast reader.

    python bench/bench_exchange_memory.py [--minutes 10] [--data btcusdt-2024-08-08]

Starts `python -m exchange_sim --speed max` as its own process, connects one websocket client
that reads every market stream of BTCUSDT as fast as it can, samples the exchange's VmRSS every
5 s, and at the end asks REST `aggTrades` how far back a `fromId` backfill still reaches.
Target (issue 8): RSS at the end within 50 MiB of RSS after the first minute, and backfills of
the last hours of replay answered. Loopback only; the run is bounded by `--minutes`.
"""

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import aiohttp
import websockets

ROOT = Path(__file__).resolve().parents[1]
STREAMS = "btcusdt@aggTrade/btcusdt@kline_1m/btcusdt@markPrice@1s"
TARGET_GROWTH_MIB = 50.0


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def read_fast(ws_url: str, counter: list[int]) -> None:
    async with websockets.connect(
        f"{ws_url}/market/stream?streams={STREAMS}", max_size=2**22
    ) as ws:
        async for _ in ws:
            counter[0] += 1


async def backfill_reach(rest_url: str) -> tuple[int, float]:
    """(retained aggTrades, hours between the oldest retained and the newest trade)."""
    async with aiohttp.ClientSession() as http:
        url = f"{rest_url}/fapi/v1/aggTrades"
        async with http.get(url, params={"symbol": "BTCUSDT", "limit": "1"}) as resp:
            newest = (await resp.json())[-1]
        async with http.get(url, params={"symbol": "BTCUSDT", "fromId": "0", "limit": "1"}) as r:
            oldest = (await r.json())[0]
    return newest["a"] - oldest["a"] + 1, (newest["T"] - oldest["T"]) / 3_600_000


async def run(minutes: float, data: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exchange_sim", "--speed", "max", "--data", data,
        "--symbols", "BTCUSDT", "--status-every", "0", "--ready-json",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    counter = [0]
    samples: list[tuple[float, float]] = []
    try:
        assert proc.stdout is not None
        ready = json.loads(await proc.stdout.readline())
        reader = asyncio.create_task(read_fast(ready["ws_url"], counter))
        started = time.monotonic()
        end = started + minutes * 60
        while (now := time.monotonic()) < end:
            samples.append((now - started, rss_mib(proc.pid)))
            await asyncio.sleep(min(5.0, max(0.1, end - now)))
        samples.append((time.monotonic() - started, rss_mib(proc.pid)))
        retained, hours = await backfill_reach(ready["rest_url"])
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    at_one_minute = next((mib for t, mib in samples if t >= 60), samples[-1][1])
    final = samples[-1][1]
    peak = max(mib for _, mib in samples)
    elapsed = samples[-1][0]
    growth = final - at_one_minute
    verdict = "MEETS" if growth <= TARGET_GROWTH_MIB else "MISSES"
    print(f"exchange --speed max, data {data}, one fast reader, {elapsed:.0f} s")
    print(f"  messages read: {counter[0]:,} ({counter[0] / max(elapsed, 1e-9):,.0f}/s)")
    print(
        f"  RSS after 1 min {at_one_minute:.0f} MiB, at the end {final:.0f} MiB, "
        f"peak {peak:.0f} MiB"
        f" -> growth {growth:+.0f} MiB [{verdict}: target <= {TARGET_GROWTH_MIB:.0f} MiB]"
    )
    print(f"  REST aggTrades fromId backfill: {retained:,} trades, {hours:.1f} h of replay back")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="run length (default 10)")
    parser.add_argument("--data", default="btcusdt-2024-08-08", help="bundled data set")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.minutes, args.data))


if __name__ == "__main__":
    sys.exit(main())
