"""A fill of an earlier journal's order, taken over at a restart, made between the start-up's
open-orders read and its trades read counts on the order: it reaches FILLED in the tracker and
the books when the exchange fills it, with the books' money equal to the exchange's. End to end
on the local exchange, the daemon's parts restored from their journal as
`trading_engine.daemon` restores them (`local_exchange_rig`).

The first session buys 0.010 BTC at the market and stops. While it is down, a LIMIT SELL 0.010
of this daemon's prefix under another journal's tag (`e2e-q0q0q0-3`) rests about 3 % above the
entry and fills 0.004. The restart reads the open orders (the SELL, 0.004 filled); right then
0.003 more fills (its stream reports lost); the trades read holds both fills, booked once each
under `outside:e2e-q0q0q0-3` (the books do not know the order before the snapshot). The last
0.003 then fills with the daemon running, reported on the stream.

Before, the 0.003 filled after the open-orders read was only marked seen on the order: the
order held 0.004, then 0.007 after the last fill, asked for the "missing" 0.003 at every read
(a duplicate each time) and its FILLED never came; the books kept it open too.

Expected values are computed here by hand from what the exchange published (the fills' prices
and quantities, the fee rates of `/fapi/v1/commissionRate`), never by the books' arithmetic.
"""

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from core.enums import OrderStatus
from core.events import OrderFilled, OrderPartiallyFilled
from exchange_sim.server import LocalExchange
from tests.trading_engine.local_exchange_rig import (
    ACCOUNT,
    SYMBOL,
    Daemon,
    exchange_position,
    start_daemon,
    stepped_exchange,
    until,
)
from tests.trading_engine.test_restart_adopted_order_local_exchange import (
    E8,
    EARLIER,
    LIMITS,
    PREFIX,
    QTY,
    TICK,
    fills_of,
    start,
    usdt_wallet,
)
from trading_engine.exec_manager import ExecConfig

pytestmark = pytest.mark.asyncio

WHILE_DOWN = Decimal("0.004")  # filled before the restart's open-orders read
LATE = Decimal("0.003")  # filled right after it, before the trades read
REST = QTY - WHILE_DOWN - LATE  # filled with the daemon running


@pytest.fixture
async def exchange():
    async with stepped_exchange() as ex:
        yield ex


class FillAfterOpenOrdersRead:
    """The venue's REST connection, but right after the start-up's open-orders read answers,
    a trade a tick through the SELL fills `LATE` of it; its user-stream reports are lost."""

    def __init__(self, rest: Any, ex: LocalExchange, price: Decimal) -> None:
        self._rest = rest
        self._ex = ex
        self._price = price
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rest, name)

    async def call(self, method: str, /, **kw: Any) -> Any:
        answer = await self._rest.call(method, **kw)
        if method == "futures_get_open_orders" and not self.fired:
            self.fired = True
            ex = self._ex
            ex.engine.on_trade(SYMBOL, self._price + TICK, LATE, False, ex.now_ms())
            ex.engine.drain_user_events()
        return answer


def booked(d: Daemon) -> list[tuple[int, str]]:
    """(trade id, client id) of each fill the venue emitted, in order."""
    return [
        (e.fill.trade_id, e.fill.client_order_id)
        for e in d.seen
        if isinstance(e, OrderPartiallyFilled | OrderFilled)
    ]


async def test_a_fill_between_the_start_ups_reads_counts_on_the_taken_over_order(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    start_wallet = usdt_wallet(ex)
    first = await start(ex, tmp_path)
    try:
        await first.buy_at_market(QTY)
        await until(lambda: first.book.position(SYMBOL).qty == QTY, "the long is open")
        rates = await first.rest.call("futures_commission_rate", symbol=SYMBOL)
    finally:
        await first.stop()
    [entry] = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})
    entry_price = Decimal(entry["price"])

    # While it is down: the earlier journal's SELL, 0.004 of it filled.
    await ex.step(60_000)
    price = (entry_price * Decimal("1.03") / TICK).to_integral_value() * TICK
    ex.engine.new_order(
        ACCOUNT,
        {"symbol": SYMBOL, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": str(QTY), "price": str(price), "newClientOrderId": EARLIER},
    )  # fmt: skip
    ex.engine.on_trade(SYMBOL, price + TICK, WHILE_DOWN, False, ex.now_ms())
    ex.flush_user_events()  # published while nobody listens

    # By hand: the entry's taker fee; each SELL fill's realized PnL and maker fee.
    maker = Decimal(rates["makerCommissionRate"])
    entry_fee = (QTY * entry_price * Decimal(rates["takerCommissionRate"])).quantize(
        E8, rounding=ROUND_HALF_UP
    )

    def realized(qty: Decimal) -> Decimal:
        return qty * (price - entry_price)

    def fee(qty: Decimal) -> Decimal:
        return (qty * price * maker).quantize(E8, rounding=ROUND_HALF_UP)

    racing: list[FillAfterOpenOrdersRead] = []

    def wrap(rest: Any) -> FillAfterOpenOrdersRead:
        racing.append(FillAfterOpenOrdersRead(rest, ex, price))
        return racing[0]

    d = await start_daemon(
        ex,
        tmp_path,
        limits=LIMITS,
        exec_config=ExecConfig(symbols=(SYMBOL,), protect_positions=False, stale_order_ms=10**9),
        prefix=PREFIX,
        wrap_rest=wrap,
    )
    try:
        assert racing[0].fired
        _, down_row, late_row = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})
        assert (Decimal(down_row["qty"]), Decimal(late_row["qty"])) == (WHILE_DOWN, LATE)
        down_id, late_id = int(down_row["id"]), int(late_row["id"])
        assert booked(d) == [(down_id, f"outside:{EARLIER}"), (late_id, f"outside:{EARLIER}")]

        # The order holds both fills: in the tracker and in the books, once.
        tracked = d.venue.tracker.get(EARLIER)
        assert tracked is not None
        filled = WHILE_DOWN + LATE
        assert (tracked.fill_qty, tracked.taken_over_qty, tracked.needs_fills) == (
            filled, filled, False,
        )  # fmt: skip
        ours = d.book.orders[EARLIER]
        assert (ours.status, ours.filled_qty) == (OrderStatus.PARTIALLY_FILLED, filled)
        wallet = start_wallet - entry_fee + realized(filled) - fee(WHILE_DOWN) - fee(LATE)
        assert d.book.position(SYMBOL).qty == QTY - filled == exchange_position(ex)
        assert d.book.realized_pnl == realized(WHILE_DOWN) + realized(LATE)
        assert d.book.fees == {"USDT": entry_fee + fee(WHILE_DOWN) + fee(LATE)}
        assert d.book.wallet() == wallet == usdt_wallet(ex)

        # A query of it (a follow-up, a reconciliation's sweep): nothing missing, nothing new.
        await d.venue.sync.refresh(tracked)
        assert len(booked(d)) == 2 and not tracked.needs_fills

        # The rest fills with the daemon running: the order's own, and FILLED everywhere.
        ex.engine.on_trade(SYMBOL, price + TICK, REST, False, ex.now_ms())
        ex.flush_user_events()  # on the user stream
        await until(lambda: d.book.position(SYMBOL).qty == 0, "the rest filled")
        *_, last = (e for e in d.seen if isinstance(e, OrderPartiallyFilled | OrderFilled))
        assert isinstance(last, OrderFilled)
        assert (last.fill.client_order_id, last.fill.qty, last.cumulative_qty) == (
            EARLIER, REST, QTY,
        )  # fmt: skip
        assert tracked.status is OrderStatus.FILLED and d.venue.tracker.open_orders() == []
        assert EARLIER not in d.book.orders
        assert d.book.orders_by_status.get("FILLED", 0) >= 1
        assert exchange_position(ex) == 0
        assert d.book.realized_pnl == realized(QTY)
        assert d.book.fees == {"USDT": entry_fee + fee(WHILE_DOWN) + fee(LATE) + fee(REST)}
        assert d.book.wallet() == wallet + realized(REST) - fee(REST) == usdt_wallet(ex)
        assert d.book.differences == 1  # the order taken over: "open ... not in our books"
        d.journal.flush()
        assert fills_of(d, down_id) == fills_of(d, late_id) == [f"outside:{EARLIER}"]
        assert EARLIER not in d.journal.taken_over_qtys()  # its row no longer open
        assert [o.client_order_id for o in d.journal.open_orders()] == []
    finally:
        await d.stop()
