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

import logging
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pytest

from core.enums import Side, TradingState
from core.events import Event, OrderFilled, OrderRejected
from risk_manager.config import RiskConfig
from tests.trading_engine.local_exchange_rig import (
    SYMBOL,
    exchange_position,
    start_daemon,
    stepped_exchange,
    until,
)
from trading_engine.exec_manager import ExecConfig

pytestmark = pytest.mark.asyncio

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


@pytest.fixture
async def exchange():
    async with stepped_exchange() as ex:
        yield ex


async def test_a_stop_refused_as_past_closes_the_position_at_market(
    exchange, tmp_path: Path, caplog
):
    ex = exchange
    printed: list[Decimal] = []

    def print_below_the_stop(event: Event) -> None:
        if isinstance(event, OrderFilled) and event.fill.side is Side.BUY and not printed:
            # The market falls 3 % on the exchange before our stop reaches it.
            low = (event.fill.price * Decimal("0.97") / TICK).to_integral_value(ROUND_FLOOR)
            printed.append(low * TICK)
            ex.engine.on_trade(SYMBOL, low * TICK, Decimal("0.5"), False, ex.now_ms())

    d = await start_daemon(
        ex,
        tmp_path,
        limits=LIMITS,
        exec_config=ExecConfig(symbols=(SYMBOL,), stale_order_ms=10**9),
        prefix="pst",
        on_event=print_below_the_stop,
    )
    seen = d.seen
    try:
        with caplog.at_level(logging.WARNING, logger="trading_engine.exec_manager"):
            await d.buy_at_market(QTY)
            await until(lambda: any(isinstance(e, OrderRejected) for e in seen), "-2021")
            await until(
                lambda: sum(isinstance(e, OrderFilled) for e in seen) == 2, "the close filled"
            )

        [refused] = [e for e in seen if isinstance(e, OrderRejected)]
        assert refused.code == -2021 and refused.reason.endswith("Order would immediately trigger.")
        [entry, close] = [e.fill for e in seen if isinstance(e, OrderFilled)]
        assert (close.side, close.qty) == (Side.SELL, QTY)
        assert printed[0] < entry.price  # the print was past the stop (98 % of the entry)
        assert exchange_position(ex) == 0 == d.book.position(SYMBOL).qty
        assert d.em.trading_state is TradingState.ACTIVE
        past = [r.getMessage() for r in caplog.records if "already triggered" in r.getMessage()]
        assert len(past) == 1 and past[0].endswith("closing the long 0.010 at market (reduce-only)")
    finally:
        await d.stop()
