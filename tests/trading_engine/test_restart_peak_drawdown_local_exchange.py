"""A restart shows the peak equity and max drawdown the run before ended with, end to end on
the local exchange (the daemon's parts as `local_exchange_rig` wires them, as
`trading_engine.daemon._start` does: the books restored, then journaling their extremes).

The first session buys 0.010 at the market; mark prices then take equity up 0.50 USDT and
down 0.80 below that peak, within a second: no heartbeat, no equity check journaled either.
It stops with the long still open. The second session's books, restored from the journal,
have the same peak and max drawdown, though the long has no price yet (its unrealized PnL is
not taken for 0). Before, the restart showed the peak and drawdown of the heartbeats and of
the fills' wallet only."""

from decimal import Decimal
from pathlib import Path

import pytest

from core.market import MarkPrice
from exchange_sim.server import LocalExchange
from tests.trading_engine.local_exchange_rig import (
    LIMITS,
    PREFIX,
    QTY,
    SYMBOL,
    Daemon,
    start_daemon,
    stepped_exchange,
    until,
)
from trading_engine.exec_manager import ExecConfig

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def exchange():
    async with stepped_exchange() as ex:
        yield ex


async def start(ex: LocalExchange, journal_dir: Path) -> Daemon:
    return await start_daemon(
        ex,
        journal_dir,
        limits=LIMITS,
        exec_config=ExecConfig(symbols=(SYMBOL,), protect_positions=False, stale_order_ms=10**9),
        prefix=PREFIX,
        restore_limits=True,
    )


def mark(d: Daemon, price: Decimal) -> None:
    now = d.venue.clock.now_ms()
    d.em.on_item(MarkPrice(SYMBOL, price, price, Decimal(0), now + 3_600_000, now, now))


async def test_a_restart_shows_the_peak_and_max_drawdown_the_run_ended_with(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    first = await start(exchange, tmp_path)
    try:
        await first.buy_at_market(QTY)
        await until(lambda: first.book.position(SYMBOL).qty == QTY, "the long is open")
        entry = first.book.position(SYMBOL).entry_price
        for move in ("50", "20", "-30", "10"):  # USDT per BTC: x 0.010 = equity's move
            mark(first, entry + Decimal(move))
        peak, drawdown = first.book.peak_equity, first.book.max_drawdown
        assert peak is not None and drawdown >= Decimal("0.80")
    finally:
        await first.stop()

    second = await start(exchange, tmp_path)
    try:
        restored = (second.book.peak_equity, second.book.max_drawdown)
    finally:
        await second.stop()

    assert restored == (peak, drawdown)
