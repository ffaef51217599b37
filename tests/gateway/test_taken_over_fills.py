"""An order taken over from an earlier journal (`TakeOvers.adopt`, or restored after a restart
with `taken_over_qty`) had fills before it was ours: that journal's to book, in our books only
through the snapshot that adopted the order. A later read of its fills from the first (the
exchange shows more filled than we hold: `fetch_fills`) counts the first of them, by trade id,
up to what it had filled then, as seen, and emits only those beyond, once. A restart's
reconciliation reads a restored one's fills so before its read by trade id, which could meet
those first fills (and emit them as the order's own); a refused read is logged, not retried.

Before, those fills were emitted as the order's own whenever no trade id of theirs was counted
on it (fills older than where the start-up read, and any after a restart, whose journal holds
only this journal's fills): the position, realized PnL and fees went off by them.

Numbers by hand: rs-q0q0q0-3, a LIMIT BUY 0.010 @ 59000.0 taken over with 0.004 filled (trades
10: 0.003 and 11: 0.001, the earlier journal's); trade 12 (0.003 @ 59000.0) booked here
before a restart (filled 0.007, avg 59000.0); trade 13 (0.002 @ 59000.0, fee 0.0236) the one
to book now: cumulative 0.009.
"""

from decimal import Decimal
from typing import Any

from core.clock import SimClock
from core.enums import OrderStatus, OrderType, Side, TimeInForce
from core.errors import RejectedError
from core.events import Event, OrderFilled, OrderPartiallyFilled
from core.orders import Order
from gateway.order_tracker import OrderTracker
from gateway.take_overs import taken_over_split
from gateway.user_wire import UserTrade, parse_user_trade
from gateway.venue_stats import VenueStats
from gateway.venue_sync import VenueSync
from tests.book_keeper.support import instruments

D = Decimal
SYMBOL = "BTCUSDT"
T = 1_723_075_200_000  # 2024-08-08 00:00 UTC
ORDER_ID = 4_000_000_301
CID = "rs-q0q0q0-3"
FILLS = ((10, "0.003"), (11, "0.001"), (12, "0.003"), (13, "0.002"))


def row(trade_id: int, qty: str) -> dict[str, Any]:
    """A userTrades row of the BUY (maker, 0.02 % fee), as the exchange answers it."""
    fee = D(qty) * D("59000.0") * D("0.0002")
    return {"symbol": SYMBOL, "id": trade_id, "orderId": ORDER_ID, "side": "BUY",
            "price": "59000.0", "qty": qty, "realizedPnl": "0", "commission": f"{fee:f}",
            "commissionAsset": "USDT", "maker": True, "time": T + trade_id,
            "positionSide": "BOTH"}  # fmt: skip


def trade(trade_id: int, qty: str) -> UserTrade:
    return parse_user_trade(row(trade_id, qty), T + 100)


class OrderFills:
    """`GET /fapi/v1/userTrades?orderId=` of the BUY: its fills from `fromId` on, `limit` a
    page; the requests asked are kept."""

    def __init__(self) -> None:
        self.clock = SimClock(T + 100)
        self.asked: list[dict[str, Any]] = []

    async def call(self, method: str, /, **kw: Any) -> Any:
        assert method == "futures_account_trades" and kw["orderId"] == ORDER_ID
        self.asked.append(kw)
        rows = [row(tid, qty) for tid, qty in FILLS if tid >= kw.get("fromId", 0)]
        return rows[: kw["limit"]]


def sync_of(rest: Any, emitted: list[Event]) -> VenueSync:
    """A VenueSync whose applied events are collected in `emitted`; pages of 2 rows."""
    return VenueSync(
        rest=rest,
        tracker=OrderTracker(),
        symbols=(SYMBOL,),
        instruments=instruments(),
        clock=SimClock(T + 100),
        stats=VenueStats(),
        on_applied=lambda applied: emitted.extend(applied[1]) if applied else None,
        emit=emitted.extend,
        follow_up=lambda t: None,
        resolve=lambda t: None,
        trades_page_limit=2,
        client_id_prefix="rs",
    )


def buy(filled: str) -> Order:
    return Order(
        client_order_id=CID, symbol=SYMBOL, side=Side.BUY, type=OrderType.LIMIT,
        quantity=D("0.010"), price=D("59000.0"), time_in_force=TimeInForce.GTC,
        status=OrderStatus.PARTIALLY_FILLED, created_ms=T, updated_ms=T + 12,
        order_id=ORDER_ID, filled_qty=D(filled), avg_price=D("59000.0"),
    )  # fmt: skip


def test_the_first_fills_up_to_the_taken_over_quantity_are_that_journals():
    before, after, left = taken_over_split(
        [trade(12, "0.003"), trade(10, "0.003"), trade(11, "0.001")], D("0.004")
    )  # by trade id, not by the order rows came in

    assert [t.trade_id for t in before] == [10, 11]  # 0.003 + 0.001 = 0.004
    assert [t.trade_id for t in after] == [12]
    assert left == 0


def test_a_page_that_ends_inside_the_taken_over_quantity_carries_the_rest_on():
    first, beyond, left = taken_over_split([trade(10, "0.003")], D("0.004"))
    assert ([t.trade_id for t in first], beyond, left) == ([10], [], D("0.001"))

    second, beyond, left = taken_over_split([trade(11, "0.001"), trade(12, "0.003")], left)
    assert [t.trade_id for t in second] == [11] and [t.trade_id for t in beyond] == [12]
    assert left == 0

    # Nothing taken over: every fill is beyond.
    assert taken_over_split([trade(10, "0.003")], D(0)) == ([], [trade(10, "0.003")], D(0))


async def test_a_read_of_a_restored_taken_over_orders_fills_emits_only_those_beyond():
    # After a restart: filled 0.007 (0.004 taken over, trade 12 journaled here); the exchange
    # now shows 0.009 filled, so its fills are read from the first, over two pages.
    rest = OrderFills()
    emitted: list[Event] = []
    sync = sync_of(rest, emitted)
    t = sync.tracker.restore(buy("0.007"), algo=False, trade_ids=[12], taken_over_qty=D("0.004"))
    assert not t.taken_over_counted

    await sync.fetch_fills(t)

    # pages of 2 rows, the first from trade id 1 (by orderId alone: the last 7 days only)
    assert [kw.get("fromId") for kw in rest.asked] == [1, 12, 14]
    [event] = emitted
    assert isinstance(event, OrderPartiallyFilled)
    fill = event.fill
    assert (fill.trade_id, fill.client_order_id, fill.qty) == (13, CID, D("0.002"))
    assert fill.commission == D("0.0236")  # 0.002 * 59000.0 * 0.0002
    assert (event.cumulative_qty, event.avg_price) == (D("0.009"), D("59000"))
    assert t.trade_ids == {10, 11, 12, 13} and t.taken_over_counted
    assert (t.fill_qty, t.needs_fills) == (D("0.009"), False)

    # Read again (another follow-up): nothing new, nothing emitted twice.
    await sync.fetch_fills(t)
    assert len(emitted) == 1
    assert sync.tracker.stats.duplicate_fills == 1 + 2  # 12 at the first read; 12, 13 now


async def test_an_order_of_this_journal_has_every_fill_read_emitted():
    # The same fills, the order this journal's own (nothing taken over), none journaled.
    emitted: list[Event] = []
    sync = sync_of(OrderFills(), emitted)
    t = sync.tracker.restore(buy("0"), algo=False)

    await sync.fetch_fills(t)

    assert [e.fill.trade_id for e in emitted if isinstance(e, OrderPartiallyFilled)] == [
        10,
        11,
        12,
        13,
    ]
    assert t.fill_qty == D("0.009")


class Account(OrderFills):
    """The whole account as a restart's reconciliation reads it: the BUY open (0.009 of 0.010
    filled), no position row, userTrades by trade id from `fromId` on too. `refuse`: the
    read of the order's fills by its id is refused (-2013)."""

    def __init__(self, *, refuse: bool = False) -> None:
        super().__init__()
        self.refuse = refuse

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == "futures_account_trades" and "orderId" in kw:
            if self.refuse:
                raise RejectedError(-2013, "Order does not exist.")
            return await super().call(method, **kw)
        if method == "futures_account_trades":
            self.asked.append(kw)
            return [row(tid, qty) for tid, qty in FILLS if tid >= kw["fromId"]][: kw["limit"]]
        if method == "futures_get_open_orders":
            return [{"symbol": SYMBOL, "clientOrderId": CID, "orderId": ORDER_ID, "side": "BUY",
                     "type": "LIMIT", "timeInForce": "GTC", "origQty": "0.010",
                     "executedQty": "0.009", "status": "PARTIALLY_FILLED", "price": "59000.0",
                     "avgPrice": "59000.0", "updateTime": T + 13}]  # fmt: skip
        if method == "futures_account":
            return {"assets": [], "positions": []}
        return []  # open algo orders, positions


async def test_a_restart_counts_the_taken_over_fills_before_reading_on_by_trade_id():
    # The journal's last fill is trade 9 (another order's): read on by trade id, the
    # reconciliation meets trades 10 and 11, the earlier journal's, before any read of the
    # order's own fills; the start-up's read of those counted them first.
    emitted: list[Event] = []
    sync = sync_of(Account(), emitted)
    sync.last_trade_ids[SYMBOL] = 9
    t = sync.tracker.restore(buy("0.007"), algo=False, trade_ids=[12], taken_over_qty=D("0.004"))

    await sync.reconcile("start")

    fills = [e.fill for e in emitted if isinstance(e, OrderPartiallyFilled | OrderFilled)]
    assert [(f.trade_id, f.qty) for f in fills] == [(13, D("0.002"))]
    assert (t.fill_qty, t.taken_over_counted) == (D("0.009"), True)


async def test_a_refused_read_of_the_taken_over_fills_does_not_stop_the_reconciliation(caplog):
    emitted: list[Event] = []
    sync = sync_of(Account(refuse=True), emitted)
    sync.last_trade_ids[SYMBOL] = 13
    t = sync.tracker.restore(
        buy("0.009"), algo=False, trade_ids=[12, 13], taken_over_qty=D("0.004")
    )

    snapshot = await sync.reconcile("start")

    assert snapshot.trade_ids == ((SYMBOL, 13),) and t.taken_over_counted
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"order {CID}: its fills from before it was taken over cannot be read (Order does not "
        "exist. (code -2013)); a later read of its fills may book them"
    ]
