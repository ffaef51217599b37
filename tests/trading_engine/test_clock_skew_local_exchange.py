"""An exchange clock 6 s ahead of ours is no stream lag, end to end on the local exchange: the
daemon's parts (LiveVenue over REST and the user stream, ExecManager, RiskManager,
BookKeeper, SqliteJournal) fed by the real DataStream through the daemon's ItemSink, against
a local exchange replaying the BTCUSDT day in real time with the clock-skew fault on.

The REST connection measures the exchange's clock 6 s ahead of this machine's, and the
daemon's clock (local + that offset) is what event times are compared with: the stream lag
is the network's, not the skew, and the strategy's entry on a live trade passes the risk's
data-lag check (`RiskConfig.max_data_lag_ms`, 5 s) and fills. A local exchange that stamped
its market data without the skew showed a 6 s lag and every entry was denied.
"""

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from book_keeper.journal_errors import JournalError
from core.enums import OrderType, Side
from core.market import MarkPrice, Trade
from core.orders import OrderProposal
from exchange_sim.server import LocalExchange
from gateway.data_stream import DataStream
from gateway.market_rest import MarketDataRest
from tests.gateway.venue_harness import GENEROUS
from tests.trading_engine.local_exchange_rig import (
    LIMITS,
    SYMBOL,
    exchange_position,
    start_daemon,
    until,
)
from trading_engine.exec_manager import ExecConfig
from trading_engine.item_sink import ItemSink

pytestmark = pytest.mark.asyncio

SKEW_MS = 6_000  # more than the 5 s of data lag the risk allows
QTY = Decimal("0.003")


@pytest.fixture
async def exchange() -> AsyncIterator[LocalExchange]:
    ex = LocalExchange(data="btcusdt-2024-08-08", symbols=[SYMBOL], speed=1.0, rate_limits=GENEROUS)
    ex.faults.clock_skew(SKEW_MS)
    async with ex:
        yield ex


def _journal_failed(error: JournalError) -> None:
    raise AssertionError(f"journal failed: {error}")


async def test_a_skewed_exchange_clock_is_no_stream_lag_and_entries_pass(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    d = await start_daemon(
        exchange,
        tmp_path,
        limits=LIMITS,
        exec_config=ExecConfig(symbols=(SYMBOL,), protect_positions=False, stale_order_ms=10**9),
        prefix="skw",
    )
    clock = d.venue.clock
    kinds: set[type] = set()

    def on_item(item: object, now_ms: int) -> None:
        kinds.add(type(item))
        d.em.on_item(item, now_ms)

    sink = ItemSink(
        on_item,
        clock=clock,
        tick=lambda _now: None,
        on_stream_state=lambda _change: None,
        on_journal_error=_journal_failed,
    )
    market_rest = MarketDataRest(exchange.rest_url, clock=clock)
    stream = DataStream(
        ws_url=exchange.ws_url, rest=market_rest, symbols=[SYMBOL], clock=clock, sink=sink
    )
    await stream.start()
    try:
        await until(lambda: {Trade, MarkPrice} <= kinds, "live trades and a mark price")
        d.strategy.on_trade_says.append(
            [OrderProposal(symbol=SYMBOL, side=Side.BUY, type=OrderType.MARKET, quantity=QTY)]
        )
        await until(
            lambda: d.em.counters.denied > 0 or exchange_position(exchange) == QTY,
            "the entry decided",
        )
        lag_ms = sink.stream_lag_ms
    finally:
        await stream.stop()
        await market_rest.close()
        await d.stop()

    assert abs(clock.offset_ms - SKEW_MS) < 500  # the skew is there, measured
    assert lag_ms is not None and abs(lag_ms) < 1_000
    assert d.em.counters.denied == 0
    assert exchange_position(exchange) == QTY
