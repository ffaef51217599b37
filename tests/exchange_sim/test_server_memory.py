"""A long replay keeps the exchange's memory bounded while REST still backfills the last hours.

Short version: seven stepped hours of the default daemon data set in-process. Slow version:
`python -m exchange_sim --speed max` for two and a half minutes, resident memory measured.
"""

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import pytest

from exchange_sim.server import connected_client
from tests.bench.support import load_bench

ROOT = Path(__file__).resolve().parents[2]
HOUR_MS = 3_600_000
# resident memory (MiB) read as bench/bench_exchange_memory.py reads it
rss_mib = load_bench("bench_exchange_memory").rss_mib


async def test_seven_replayed_hours_keep_six_and_backfill_them_exactly(exchange_factory) -> None:
    ex = await exchange_factory(data="klines-week", symbols=["BTCUSDT"])
    for _ in range(7 * 60):
        await ex.step(60_000)

    oldest = ex.agg_store.oldest("BTCUSDT")
    last = ex.agg_store.last("BTCUSDT")
    assert oldest is not None and last is not None
    async with connected_client(ex) as client:
        page = await client.futures_aggregate_trades(symbol="BTCUSDT", fromId=oldest[0] + 1)
        too_old = await client.futures_aggregate_trades(symbol="BTCUSDT", fromId=1, limit=1)

    newest_time = last[1]
    assert newest_time - HOUR_MS * 6 <= oldest[1] <= newest_time - HOUR_MS * 6 + 60_000
    assert ex.agg_store.count("BTCUSDT") < 10_000  # about 20 a minute for six hours
    assert [row["a"] for row in page] == list(range(oldest[0] + 1, oldest[0] + 501))
    assert too_old[0]["a"] == oldest[0]  # an id before the window: the oldest retained


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_max_speed_keeps_resident_memory_flat() -> None:
    # no reader: what grows is the exchange's own state (before: every aggTrade, forever)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exchange_sim", "--speed", "max", "--ready-json",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        json.loads(await proc.stdout.readline())
        await asyncio.sleep(30)
        early = rss_mib(proc.pid)
        t = time.monotonic()
        await asyncio.sleep(120)
        late = rss_mib(proc.pid)
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert late - early <= 10, f"RSS {early:.0f} -> {late:.0f} MiB in {time.monotonic() - t:.0f} s"
    assert proc.returncode == 0
