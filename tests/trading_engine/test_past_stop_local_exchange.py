"""A stop-loss the exchange refuses as already triggered (-2021), end to end on the local
exchange: the daemon's parts (LiveVenue over REST and the user stream, ExecManager,
RiskManager, BookKeeper, SqliteJournal) on a stepped exchange replaying `klines-week`.

The strategy buys 0.010 BTC at the market. Before its stop-loss (2 % below the entry) reaches
the exchange, a trade 3 % below the entry prints there (put into the stepped exchange's
engine; the daemon has not seen it): the exchange's own trigger check refuses the stop
(-2021, "Order would immediately trigger."). The price is past the stop, so the position is
closed at once with a reduce-only market order, in one WARNING, and with a circuit breaker
set to trip at one error the trading stays ACTIVE: -2021 says where the market is.
"""

import asyncio
import logging
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest

from book_keeper.book_keeper import BookKeeper
from book_keeper.journal import SqliteJournal
from core.clock import LiveClock
from core.enums import OrderType, Side, TradingState
from core.events import Event, OrderFilled, OrderRejected
from core.market import MarkPrice
from core.orders import ClientOrderIds, OrderProposal
from exchange_sim.server import LocalExchange
from gateway.main_gateway import ExecutorConfig, LiveVenue
from rest_connect import create_rest_connection
from risk_manager.config import RiskConfig
from risk_manager.risk_manager import RiskManager
from tests.gateway.venue_harness import GENEROUS
from tests.trading_engine.support import ScriptedStrategy, make_bar
from trading_engine.exec_manager import ExecConfig, ExecManager

pytestmark = pytest.mark.asyncio

SYMBOL = "BTCUSDT"
QTY = Decimal("0.010")
TICK = Decimal("0.1")
LIMITS = RiskConfig(
    leverage=5,
    max_order_notional_usdt=Decimal(5_000),
    max_position_notional_usdt=Decimal(5_000),
    max_total_notional_usdt=Decimal(5_000),
    stop_loss_pct=Decimal(2),
    max_daily_loss_pct=Decimal(0),
    max_drawdown_pct=Decimal(0),
    max_trades_per_day=0,
    circuit_breaker_errors=1,  # one error counted would halt
)
VENUE = ExecutorConfig(
    reconcile_interval_s=0, deadman_countdown_ms=0, start_timeout_s=10.0, stop_timeout_s=3.0
)


@pytest.fixture
async def exchange():
    ex = await LocalExchange(
        data="klines-week", symbols=[SYMBOL], speed="step", rate_limits=GENEROUS
    ).start()
    await ex.step(60_000)  # the first synthesized trades and marks of 2025-05-06
    yield ex
    await ex.stop()


async def until(condition: Any, what: str, within_s: float = 10.0) -> None:
    for _ in range(int(within_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not {what} within {within_s} s")


async def test_a_stop_refused_as_past_closes_the_position_at_market(
    exchange, tmp_path: Path, caplog
):
    ex = exchange
    clock = LiveClock()
    rest = await create_rest_connection(
        rest_url=ex.rest_url, api_key=ex.api_key, api_secret=ex.api_secret, clock=clock
    )
    instruments = {SYMBOL: ex.instruments[SYMBOL]}
    journal = SqliteJournal(tmp_path)
    book = BookKeeper(starting_balances=None, instruments=instruments, clock=clock)
    risk = RiskManager(config=LIMITS, instruments=instruments, clock=clock, view=book)
    strategy = ScriptedStrategy()
    seen: list[Event] = []
    printed: list[Decimal] = []

    def listener(event: Event) -> None:
        seen.append(event)
        if isinstance(event, OrderFilled) and event.fill.side is Side.BUY and not printed:
            # The market falls 3 % on the exchange before our stop reaches it.
            low = (event.fill.price * Decimal("0.97") / TICK).to_integral_value(ROUND_FLOOR)
            printed.append(low * TICK)
            ex.engine.on_trade(SYMBOL, low * TICK, Decimal("0.5"), False, ex.now_ms())
        em.on_event(event)

    venue = LiveVenue(
        rest=rest,
        ws_url=ex.ws_url,
        symbols=[SYMBOL],
        instruments=instruments,
        clock=clock,
        journal=journal,
        listener=listener,
        config=VENUE,
    )
    em = ExecManager(
        venue=venue,
        book=book,
        risk=risk,
        strategy=strategy,
        journal=journal,
        clock=clock,
        instruments=instruments,
        ids=ClientOrderIds("pst", 1),
        config=ExecConfig(symbols=(SYMBOL,), stale_order_ms=10**9),
        gap_open=lambda _symbol: False,
        clock_offset_ms=lambda: 0,
    )
    try:
        with em.reconciling():
            await venue.start()
        mark = Decimal((await rest.call("futures_mark_price", symbol=SYMBOL))["markPrice"])
        now = clock.now_ms()
        em.on_item(MarkPrice(SYMBOL, mark, mark, Decimal(0), now + 3_600_000, now, now))
        strategy.on_bar_says.append(
            [OrderProposal(symbol=SYMBOL, side=Side.BUY, type=OrderType.MARKET, quantity=QTY)]
        )
        with caplog.at_level(logging.WARNING, logger="trading_engine.exec_manager"):
            em.on_item(make_bar(str(mark), open_ms=now - now % 60_000 - 60_000))
            await until(lambda: any(isinstance(e, OrderRejected) for e in seen), "-2021")
            await until(
                lambda: sum(isinstance(e, OrderFilled) for e in seen) == 2, "the close filled"
            )

        [refused] = [e for e in seen if isinstance(e, OrderRejected)]
        assert refused.code == -2021 and refused.reason.endswith("Order would immediately trigger.")
        [entry, close] = [e.fill for e in seen if isinstance(e, OrderFilled)]
        assert (close.side, close.qty) == (Side.SELL, QTY)
        assert printed[0] < entry.price  # the print was past the stop (98 % of the entry)
        rows = ex.engine.position_risk("demo", {"symbol": SYMBOL}, version=3)
        assert sum(Decimal(r["positionAmt"]) for r in rows) == 0 == book.position(SYMBOL).qty
        assert em.trading_state is TradingState.ACTIVE
        past = [r.getMessage() for r in caplog.records if "already triggered" in r.getMessage()]
        assert len(past) == 1 and past[0].endswith("closing the long 0.010 at market (reduce-only)")
    finally:
        await venue.stop(cancel_orders=False)
        await rest.close()
        journal.close()
