"""An IP ban (HTTP 418) while trading, end to end on the local exchange: the daemon's parts
(LiveVenue over REST and the user stream, ExecManager, RiskManager, BookKeeper, SqliteJournal)
on a stepped exchange replaying `klines-week`, the ban injected with `faults.rest_ban`.

The daemon holds a long of 0.010 BTC. A ban of 1.5 s begins at its next request: a SELL of
0.004 the strategy proposes. That order and a second SELL proposed during the ban are refused
as not sent; a reconciliation asked for during the ban waits; the exchange sees no request of
the daemon's but the first until the ban ends (a request during a ban extends it on Binance).
After it the strategy's next order is placed and filled, the books equal the exchange's, and the
circuit breaker (2 errors a minute) has not tripped: nothing was sent, nothing went wrong.
"""

import logging
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from core.enums import OrderType, Side, TradingState
from core.events import OrderRejected
from core.orders import OrderProposal
from exchange_sim.server import LocalExchange
from tests.trading_engine.local_exchange_rig import LIMITS as RIG_LIMITS
from tests.trading_engine.local_exchange_rig import (
    SYMBOL,
    Daemon,
    exchange_position,
    start_daemon,
    stepped_exchange,
    until,
    usdt_wallet,
)
from trading_engine.exec_manager import ExecConfig

pytestmark = pytest.mark.asyncio

D = Decimal
BAN_S = 1.5
# two refusals would trip the circuit breaker: a ban must not count
LIMITS = replace(RIG_LIMITS, circuit_breaker_errors=2)


def sell(qty: str) -> OrderProposal:
    return OrderProposal(symbol=SYMBOL, side=Side.SELL, type=OrderType.MARKET, quantity=D(qty))


def rejections(d: Daemon) -> list[OrderRejected]:
    return [e for e in d.seen if isinstance(e, OrderRejected)]


async def long_position(ex: LocalExchange, journal_dir: Path) -> Daemon:
    """The daemon (no protective orders: requests of the test's alone) long 0.010 BTC."""
    d = await start_daemon(
        ex,
        journal_dir,
        limits=LIMITS,
        exec_config=ExecConfig(symbols=(SYMBOL,), protect_positions=False, stale_order_ms=10**9),
        prefix="ban",
    )
    await d.buy_at_market(D("0.010"))
    await until(lambda: d.book.position(SYMBOL).qty == D("0.010"), "the long booked")
    return d


async def test_a_ban_while_trading_sends_nothing_until_its_end_then_trading_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with stepped_exchange() as ex:
        d = await long_position(ex, tmp_path)
        try:
            mark = await d.mark()
            ex.faults.rest_ban(seconds=BAN_S)
            with caplog.at_level(logging.INFO):
                d.propose_at(mark, sell("0.004"))  # its request is the ban's first
                await until(lambda: len(rejections(d)) >= 1, "the first SELL refused")
                d.venue.reconcile_soon("a test's read")
                d.propose_at(mark, sell("0.003"))
                await until(lambda: len(rejections(d)) >= 2, "the second SELL refused")

                await d.propose(sell("0.005"))  # its mark read waits for the ban's end
                await until(lambda: d.book.position(SYMBOL).qty == D("0.005"), "SELL filled")

            assert ex.faults.rest_ban_hits == 1
            assert [(r.code, r.reason[:9]) for r in rejections(d)] == [(-1003, "not sent:")] * 2
            assert d.book.position(SYMBOL).qty == exchange_position(ex) == D("0.005")
            assert d.book.wallet() == usdt_wallet(ex)
            assert d.risk is not None and d.risk.state is TradingState.ACTIVE
            said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            # said once, with its end
            [ban] = [m for m in said if "418" in m or "banned" in m or "bans" in m]
            assert ban.startswith("HTTP 418: the exchange bans this IP until ")
        finally:
            await d.stop()
