"""A fill of an earlier journal's order, taken over at a restart, made between the start-up's
open-orders read and its trades read counts on the order: it reaches FILLED in the tracker and
the books when the exchange fills it, with the books' money equal to the exchange's. End to end
on the local exchange, the daemon's parts restored from their journal as
`trading_engine.daemon` restores them (`local_exchange_rig`).

The first session buys 0.010 BTC at the market and stops. While it is down, a LIMIT SELL 0.010
of this daemon's prefix under another journal's tag (`e2e-q0q0q0-3`) rests about 3 % above the
entry and fills 0.004. The restart reads the open orders (the SELL, 0.004 filled); right then
0.003 more fills (its stream reports lost); the trades read holds both fills, booked once each
under `outside:e2e-q0q0q0-3` (the books do not know the order before the snapshot). After
another restart (the journal's order row holds the 0.007) the last 0.003 fills with the daemon
running, reported on the stream. In the second test the fill after the open-orders read is the
whole 0.006 left: the order is FILLED at the start-up.

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
    E8,
    EARLIER,
    LIMITS,
    PREFIX,
    QTY,
    SYMBOL,
    TICK,
    Daemon,
    OnceAfter,
    booked,
    earlier_sell_filled_while_down,
    exchange_position,
    fills_of,
    start_daemon,
    start_unguarded,
    stepped_exchange,
    until,
    usdt_wallet,
)
from trading_engine.exec_manager import ExecConfig

pytestmark = pytest.mark.asyncio

WHILE_DOWN = Decimal("0.004")  # filled before the restart's open-orders read
LATE = Decimal("0.003")  # filled right after it, before the trades read
REST = QTY - WHILE_DOWN - LATE  # filled with the daemon running
MAKER = Decimal("0.0002")  # the local exchange's maker fee rate (checked against its rows)


@pytest.fixture
async def exchange():
    async with stepped_exchange() as ex:
        yield ex


def fill_after_open_orders_read(
    rest: Any, ex: LocalExchange, price: Decimal, qty: Decimal
) -> OnceAfter:
    """The venue's REST connection, but right after the start-up's open-orders read answers,
    a trade a tick through the SELL fills `qty` of it; its user-stream reports are lost."""

    def fill() -> None:
        ex.engine.on_trade(SYMBOL, price + TICK, qty, False, ex.now_ms())
        ex.engine.drain_user_events()

    return OnceAfter(rest, "futures_get_open_orders", fill)


class Money:
    """What the exchange published, and each fill's money computed from it by hand."""

    def __init__(self, ex: LocalExchange, start_wallet: Decimal, price: Decimal) -> None:
        [entry] = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})[:1]
        self.entry_price = Decimal(entry["price"])
        self.entry_fee = Decimal(entry["commission"])
        assert self.entry_fee == (QTY * self.entry_price * Decimal("0.0005")).quantize(
            E8, rounding=ROUND_HALF_UP
        )  # the taker rate
        self.start_wallet = start_wallet
        self.price = price

    def realized(self, qty: Decimal) -> Decimal:
        return qty * (self.price - self.entry_price)

    def fee(self, qty: Decimal) -> Decimal:
        return (qty * self.price * MAKER).quantize(E8, rounding=ROUND_HALF_UP)

    def wallet(self, *sold: Decimal) -> Decimal:
        """The wallet after the entry and the SELL fills `sold`."""
        fees = sum((self.fee(q) for q in sold), Decimal(0))
        return self.start_wallet - self.entry_fee + self.realized(sum(sold, Decimal(0))) - fees


async def earlier_order_then_restart(
    ex: LocalExchange, journal_dir: Path, late: Decimal
) -> tuple[Daemon, Money]:
    """The first session's long; the earlier journal's SELL filled 0.004 while it is down;
    the restart, `late` of the SELL filled right after its open-orders read."""
    start_wallet = usdt_wallet(ex)
    first = await start_unguarded(ex, journal_dir)
    try:
        await first.buy_at_market(QTY)
        await until(lambda: first.book.position(SYMBOL).qty == QTY, "the long is open")
        rates = await first.rest.call("futures_commission_rate", symbol=SYMBOL)
    finally:
        await first.stop()
    assert (rates["makerCommissionRate"], rates["takerCommissionRate"]) == ("0.0002", "0.0005")
    [entry] = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})
    price = await earlier_sell_filled_while_down(ex, Decimal(entry["price"]))
    money = Money(ex, start_wallet, price)
    racing: list[OnceAfter] = []

    def wrap(rest: Any) -> OnceAfter:
        racing.append(fill_after_open_orders_read(rest, ex, price, late))
        return racing[0]

    d = await start_daemon(
        ex,
        journal_dir,
        limits=LIMITS,
        exec_config=ExecConfig(symbols=(SYMBOL,), protect_positions=False, stale_order_ms=10**9),
        prefix=PREFIX,
        wrap_rest=wrap,
    )
    assert racing[0].fired
    return d, money


def sell_fills(ex: LocalExchange) -> list[tuple[int, Decimal]]:
    """(trade id, qty) of the SELL's fills on the exchange, in order."""
    rows = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})[1:]
    return [(int(r["id"]), Decimal(r["qty"])) for r in rows]


async def test_a_fill_between_the_start_ups_reads_counts_on_the_taken_over_order(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    d, m = await earlier_order_then_restart(ex, tmp_path, LATE)
    filled = WHILE_DOWN + LATE
    try:
        [(down_id, down), (late_id, late)] = sell_fills(ex)
        assert (down, late) == (WHILE_DOWN, LATE)
        assert booked(d) == [(down_id, f"outside:{EARLIER}"), (late_id, f"outside:{EARLIER}")]

        # The order holds both fills: in the tracker and in the books, once.
        tracked = d.venue.tracker.get(EARLIER)
        assert tracked is not None
        assert (tracked.fill_qty, tracked.taken_over_qty, tracked.needs_fills) == (
            filled, filled, False,
        )  # fmt: skip
        ours = d.book.orders[EARLIER]
        assert (ours.status, ours.filled_qty) == (OrderStatus.PARTIALLY_FILLED, filled)
        assert d.book.position(SYMBOL).qty == QTY - filled == exchange_position(ex)
        assert d.book.realized_pnl == m.realized(WHILE_DOWN) + m.realized(LATE)
        assert d.book.fees == {"USDT": m.entry_fee + m.fee(WHILE_DOWN) + m.fee(LATE)}
        assert d.book.wallet() == m.wallet(WHILE_DOWN, LATE) == usdt_wallet(ex)
        assert d.book.differences == 1  # the order taken over: "open ... not in our books"

        # A query of it (a follow-up, a reconciliation's sweep): nothing missing, nothing new.
        await d.venue.sync.refresh(tracked)
        assert len(booked(d)) == 2 and not tracked.needs_fills
        d.journal.flush()
        assert d.journal.taken_over_qtys() == {EARLIER: filled}
        assert fills_of(d, down_id) == fills_of(d, late_id) == [f"outside:{EARLIER}"]
    finally:
        await d.stop()

    # Another restart: the order comes back from the journal with the 0.007; nothing booked.
    again = await start_unguarded(ex, tmp_path)
    try:
        assert booked(again) == []
        tracked = again.venue.tracker.get(EARLIER)
        assert tracked is not None
        assert (tracked.fill_qty, tracked.taken_over_qty, tracked.needs_fills) == (
            filled, filled, False,
        )  # fmt: skip
        assert again.book.orders[EARLIER].filled_qty == filled
        assert again.book.differences == 0

        # The rest fills with the daemon running: the order's own, and FILLED everywhere.
        ex.engine.on_trade(SYMBOL, m.price + TICK, REST, False, ex.now_ms())
        ex.flush_user_events()  # on the user stream
        await until(lambda: again.book.position(SYMBOL).qty == 0, "the rest filled")
        [(rest_id, cid)] = booked(again)
        assert cid == EARLIER
        *_, last = (e for e in again.seen if isinstance(e, OrderPartiallyFilled | OrderFilled))
        assert isinstance(last, OrderFilled)
        assert (last.fill.trade_id, last.fill.qty, last.cumulative_qty) == (rest_id, REST, QTY)
        assert tracked.status is OrderStatus.FILLED and again.venue.tracker.open_orders() == []
        assert EARLIER not in again.book.orders
        assert again.book.orders_by_status.get("FILLED", 0) >= 1
        assert exchange_position(ex) == 0
        assert again.book.realized_pnl == m.realized(QTY)
        assert again.book.fees == {
            "USDT": m.entry_fee + m.fee(WHILE_DOWN) + m.fee(LATE) + m.fee(REST)
        }
        assert again.book.wallet() == m.wallet(WHILE_DOWN, LATE, REST) == usdt_wallet(ex)
        again.journal.flush()
        assert fills_of(again, rest_id) == [EARLIER]
        assert [o.client_order_id for o in again.journal.open_orders()] == []
    finally:
        await again.stop()


async def test_a_fill_between_the_start_ups_reads_that_completes_the_order_ends_it(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    rest = QTY - WHILE_DOWN
    d, m = await earlier_order_then_restart(ex, tmp_path, rest)
    try:
        [(down_id, _), (late_id, late)] = sell_fills(ex)
        assert late == rest and exchange_position(ex) == 0
        assert booked(d) == [(down_id, f"outside:{EARLIER}"), (late_id, f"outside:{EARLIER}")]
        tracked = d.venue.tracker.get(EARLIER)
        assert tracked is not None and tracked.status is OrderStatus.FILLED
        assert d.venue.tracker.open_orders() == []
        # The books: taken over with both fills, then FILLED (the event after the snapshot).
        assert EARLIER not in d.book.orders
        assert d.book.orders_by_status.get("FILLED", 0) >= 1
        assert d.book.position(SYMBOL).qty == 0
        assert d.book.realized_pnl == m.realized(QTY)
        assert d.book.fees == {"USDT": m.entry_fee + m.fee(WHILE_DOWN) + m.fee(rest)}
        assert d.book.wallet() == m.wallet(WHILE_DOWN, rest) == usdt_wallet(ex)
        d.journal.flush()
        assert [o.client_order_id for o in d.journal.open_orders()] == []
        assert fills_of(d, late_id) == [f"outside:{EARLIER}"]
    finally:
        await d.stop()
