"""Property: whatever order, duplication or loss the frames suffer, the consumer sees every id
from the checkpoint on exactly once, in order.

The DataStream is fed in-process (`handle_frame`); its REST backfill talks to an in-memory fake
exchange history with the same `agg_trades` method as `MarketDataRest`.
"""

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.clock import LiveClock
from core.events import GapDetected, GapHealed
from core.market import Trade
from gateway.checkpoint import MemoryCheckpoint
from gateway.data_stream import DataStream, StreamConfig
from gateway.wire import parse_rest_agg_trade
from tests.gateway.fake_exchange import load_agg_trades

ROWS = load_agg_trades()[:80]
BASE = ROWS[0]["a"]


class InMemoryHistory:
    """The exchange's aggTrades history, answering like `GET /fapi/v1/aggTrades?fromId=`."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows
        self.calls = 0

    async def agg_trades(self, symbol: str, *, from_id: int, limit: int) -> list[Trade]:
        self.calls += 1
        await asyncio.sleep(0)
        return [parse_rest_agg_trade(symbol, r, 0) for r in self.rows if r["a"] >= from_id][:limit]


def frame(row: dict) -> str:
    data = {"e": "aggTrade", "E": row["T"], "s": "BTCUSDT", **row}
    return json.dumps({"stream": "btcusdt@aggTrade", "data": data})


async def deliver(order: list[int]) -> tuple[list[int], list]:
    history = InMemoryHistory(ROWS)
    checkpoint = MemoryCheckpoint()
    checkpoint.save("BTCUSDT", BASE - 1)
    clock = LiveClock()
    stream = DataStream(
        ws_url="ws://127.0.0.1:9",
        rest=history,  # type: ignore[arg-type]
        symbols=["BTCUSDT"],
        clock=clock,
        checkpoint=checkpoint,
        config=StreamConfig(reorder_grace_s=0.001, backfill_page=7, klines=False),
    )
    for k in order:
        stream.handle_frame(frame(ROWS[k]))
        await asyncio.sleep(0)
    for _ in range(5_000):  # the backfill runs on this loop: give it turns
        if not stream.gap_open("BTCUSDT"):
            break
        await asyncio.sleep(0.001)
    assert not stream.gap_open("BTCUSDT"), "the gap was never healed"
    items = []
    while stream.pending_items():
        items.append(stream.get_nowait())
    await stream.stop()
    return [i.agg_id for i in items if isinstance(i, Trade)], items


frames_received = st.lists(st.integers(0, len(ROWS) - 1), min_size=1, max_size=200)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames_received)
def test_any_arrival_order_is_delivered_gap_free_in_id_order_exactly_once(order):
    ids, items = asyncio.run(deliver(order))

    # Contiguous from the checkpoint, each once, in order, up to at least the newest frame seen
    # (a backfill page may also bring trades that had happened but not yet arrived live).
    assert ids == list(range(BASE, BASE + len(ids)))
    assert ids[-1] >= BASE + max(order)
    assert len([i for i in items if isinstance(i, GapDetected)]) == len(
        [i for i in items if isinstance(i, GapHealed)]
    )
