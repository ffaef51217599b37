"""A restart counts today's trades as the running daemon counted them, end to end on the local
exchange (the daemon's parts as `local_exchange_rig` wires them, the limits' counts restored
from the journal as `trading_engine.daemon._start` restores them).

The day: the first session buys 0.010 at the market (one trade) and stops. While it is down,
an earlier journal's LIMIT SELL 0.010 (`e2e-q0q0q0-3`) fills 0.004 and a hand MARKET BUY
0.002 (`web_Hand1`) fills. The second session takes the SELL over and books both fills as
outside (`outside:e2e-q0q0q0-3`, `outside:web_Hand1`); the rest of the SELL fills under its
own id and ends it: the running daemon counts two trades (the BUY, and the SELL at its end;
a hand order is no trade of ours). A third start restores two, and `max_trades_per_day` 3
trips at the third trade, as it would have without the restart.

Before, the restart counted the distinct client ids of today's fills: four (the SELL under
two ids, the hand order as one), over the limit of 3, and REDUCING came before any entry.
"""

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from core.enums import OrderType, Side, TimeInForce, TradingState
from core.events import OrderFilled
from core.orders import OrderProposal
from exchange_sim.server import LocalExchange
from risk_manager.risk_manager import DAY_MS
from tests.trading_engine.local_exchange_rig import (
    ACCOUNT,
    EARLIER,
    LIMITS,
    PREFIX,
    QTY,
    SYMBOL,
    TICK,
    WHILE_DOWN,
    Daemon,
    booked,
    exchange_position,
    start_daemon,
    stepped_exchange,
    until,
)
from trading_engine.exec_manager import ExecConfig

pytestmark = pytest.mark.asyncio

ACTIVE = TradingState.ACTIVE
HAND = "web_Hand1"
HAND_QTY = Decimal("0.002")


@pytest.fixture
async def exchange():
    async with stepped_exchange() as ex:
        yield ex


async def start(ex: LocalExchange, journal_dir: Path) -> Daemon:
    """The daemon with 3 trades a day, its counts restored from the journal at each start."""
    return await start_daemon(
        ex,
        journal_dir,
        limits=replace(LIMITS, max_trades_per_day=3),
        exec_config=ExecConfig(symbols=(SYMBOL,), protect_positions=False, stale_order_ms=10**9),
        prefix=PREFIX,
        restore_limits=True,
    )


def while_down(ex: LocalExchange, price: Decimal) -> None:
    """The earlier journal's SELL rests at `price` and fills 0.004; a hand MARKET BUY fills;
    their reports published while nobody listens."""
    ex.engine.new_order(
        ACCOUNT,
        {"symbol": SYMBOL, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": str(QTY), "price": str(price), "newClientOrderId": EARLIER},
    )  # fmt: skip
    ex.engine.on_trade(SYMBOL, price + TICK, WHILE_DOWN, False, ex.now_ms())  # a tick through
    ex.engine.new_order(
        ACCOUNT,
        {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": str(HAND_QTY),
         "newClientOrderId": HAND},
    )  # fmt: skip
    ex.flush_user_events()


async def test_a_restart_counts_todays_trades_as_the_running_daemon_did(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    first = await start(ex, tmp_path)
    try:
        await first.buy_at_market(QTY)
        await until(lambda: first.book.position(SYMBOL).qty == QTY, "the long is open")
        [entry] = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})
    finally:
        await first.stop()
    await ex.step(60_000)
    price = (Decimal(entry["price"]) * Decimal("1.03") / TICK).to_integral_value() * TICK
    while_down(ex, price)

    second = await start(ex, tmp_path)
    try:
        assert sorted(cid for _, cid in booked(second)) == [f"outside:{EARLIER}", f"outside:{HAND}"]
        ex.engine.on_trade(SYMBOL, price + TICK, QTY - WHILE_DOWN, False, ex.now_ms())
        ex.flush_user_events()  # on the user stream: the SELL's own fill ends it
        await until(lambda: EARLIER not in second.book.orders, "the SELL filled")
        assert second.risk is not None
        counted = second.risk.trades_today
        assert counted == 2  # the BUY, the SELL at its end
    finally:
        await second.stop()
    assert exchange_position(ex) == HAND_QTY

    third = await start(ex, tmp_path)
    try:
        assert third.risk is not None
        assert third.risk.trades_today == counted
        # What the count used to take for trades: four client ids filled today.
        ids = {f.client_order_id for f in third.journal.load_fills()}
        assert len(ids) == 4 and {f"outside:{EARLIER}", EARLIER, f"outside:{HAND}"} < ids

        # One more entry goes out; the limit trips at it, the third trade of the day (then
        # REDUCING flattens the position).
        await third.buy_at_market(QTY)
        await until(lambda: third.em.trading_state is not ACTIVE, "the limit tripped")
        third.journal.flush()
        [tripped, *_] = [e for _, e in third.journal.load_events(["TradingStateChanged"])]
        assert (tripped.previous, tripped.current, tripped.reason) == (
            ACTIVE, TradingState.REDUCING, "max trades per day: 3 trades today (max 3)"
        )  # fmt: skip
    finally:
        await third.stop()


async def test_an_order_filled_before_midnight_while_down_is_that_days_trade_running_or_restarted(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    """The first session buys 0.010 (a trade of day D) and leaves a LIMIT SELL 0.010 of its
    own resting 3 % above. While it is down the SELL fills at 23:59:30 (the exchange's time);
    the second session starts at 00:00:30 and learns of it from the start-up reconciliation.
    It is D's trade, not D+1's: the running daemon counts none today, and a third start
    (which counts the journal's orders by the exchange's time of their end) restores none.
    Before, the running daemon counted it by its own clock at the moment it learnt of it (1
    trade today) while a restart counted 0. Then a trade of D+1 counts as one."""
    ex = exchange
    first = await start(ex, tmp_path)
    try:
        mark = Decimal((await first.rest.call("futures_mark_price", symbol=SYMBOL))["markPrice"])
        price = (mark * Decimal("1.03") / TICK).to_integral_value() * TICK
        await first.propose(
            OrderProposal(symbol=SYMBOL, side=Side.BUY, type=OrderType.MARKET, quantity=QTY),
            OrderProposal(symbol=SYMBOL, side=Side.SELL, type=OrderType.LIMIT, quantity=QTY,
                          price=price, time_in_force=TimeInForce.GTC),
        )  # fmt: skip
        await until(lambda: first.book.position(SYMBOL).qty == QTY, "the long is open")
        await until(lambda: len(first.book.orders) == 1, "the SELL rests")
        [sell] = first.book.orders
        assert first.risk is not None and first.risk.trades_today == 1
    finally:
        await first.stop()
    midnight = ex.now_ms() - ex.now_ms() % DAY_MS + DAY_MS
    await ex.step(midnight - 30_000 - ex.now_ms())
    ex.engine.on_trade(SYMBOL, price + TICK, QTY, False, ex.now_ms())  # 23:59:30: it fills
    ex.flush_user_events()  # nobody listens
    assert exchange_position(ex) == 0
    await ex.step(60_000)  # 00:00:30

    second = await start(ex, tmp_path)
    try:
        assert second.venue.clock.now_ms() >= midnight
        [ended] = [e for e in second.seen if isinstance(e, OrderFilled)]
        assert ended.fill.client_order_id == sell and ended.event_time_ms < midnight
        assert sell not in second.book.orders
        assert second.risk is not None
        counted = second.risk.trades_today
        assert counted == 0
    finally:
        await second.stop()

    third = await start(ex, tmp_path)
    try:
        assert third.risk is not None
        assert third.risk.trades_today == counted
        await third.buy_at_market(QTY)  # a trade of D+1
        await until(lambda: third.book.position(SYMBOL).qty == QTY, "the long is open")
        assert third.risk.trades_today == 1
    finally:
        await third.stop()
