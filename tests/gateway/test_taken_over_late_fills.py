"""A fill of an order a start-up takes over (an earlier journal's, still open) made between the
start-up's open-orders read and its trades read: the start-up books it under
`outside:<its id>` (the books do not know the order before the snapshot), and it counts on the
order too (`OrderTracker.take_over_fills`): the snapshot brings the order into the books with
it, the order no longer asks for it, and its final event comes when the exchange says so.

Before, the fill was only marked seen on the order: the order held what the open-orders row
showed, asked at every later read for the fill it "missed" (a duplicate each time), and never
reached FILLED (nor would a cancel have ended it: its terminal event waited for that fill).

Numbers by hand: rs-q0q0q0-3, a LIMIT BUY 0.010 @ 59000.0; the open-orders row shows 0.004
filled (trades 10: 0.003 and 11: 0.001, made while the daemon was down); trade 12 lands after
that read. The journal's last snapshot read up to trade 9 (another order's); nothing of the
order was seen before. Each fill 0.02 % maker fee: 0.003 -> 0.0354, 0.001 -> 0.0118.
"""

from dataclasses import replace
from decimal import Decimal
from typing import Any

from book_keeper.book_keeper import BookKeeper
from core.account import Balance, Position
from core.clock import SimClock
from core.enums import OrderStatus, ReconcileCause
from core.events import (
    BalanceChanged,
    Event,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
    PositionChanged,
    VenueSnapshot,
)
from core.market import MarkPrice
from gateway.order_tracker import OrderTracker
from gateway.user_wire import ExecutionType, OrderUpdate, parse_rest_order, parse_user_trade
from gateway.venue_stats import VenueStats
from gateway.venue_sync import VenueSync
from tests.book_keeper.support import instruments

D = Decimal
S = OrderStatus
SYMBOL = "BTCUSDT"
T = 1_723_075_200_000  # 2024-08-08 00:00 UTC
ORDER_ID = 4_000_000_301
CID = "rs-q0q0q0-3"
OUTSIDE = f"outside:{CID}"
HOUR = 3_600_000


def trade_row(trade_id: int, qty: str) -> dict[str, Any]:
    """A userTrades row of the BUY (maker, 0.02 % fee), as the exchange answers it; trades
    from 12 on are made after the start-up's reads began (T + 100), at T + 150 + n."""
    fee = D(qty) * D("59000.0") * D("0.0002")
    time_ms = T + trade_id if trade_id < 12 else T + 150 + trade_id - 12
    return {"symbol": SYMBOL, "id": trade_id, "orderId": ORDER_ID, "side": "BUY",
            "price": "59000.0", "qty": qty, "realizedPnl": "0", "commission": f"{fee:f}",
            "commissionAsset": "USDT", "maker": True, "time": time_ms,
            "positionSide": "BOTH"}  # fmt: skip


def order_row(executed: str, status: str, update_ms: int) -> dict[str, Any]:
    return {"symbol": SYMBOL, "clientOrderId": CID, "orderId": ORDER_ID, "side": "BUY",
            "type": "LIMIT", "timeInForce": "GTC", "origQty": "0.010",
            "executedQty": executed, "status": status, "price": "59000.0",
            "avgPrice": "59000.0", "updateTime": update_ms}  # fmt: skip


class Account:
    """The account as the start-up reads it: the open-orders row (`open`) shows the BUY with
    0.004 filled (trade 11 its last), the position read 0.004 long too, but userTrades
    already holds `fills` (the late one too). Requests asked for userTrades are kept."""

    def __init__(self, fills: tuple[tuple[int, str], ...]) -> None:
        self.clock = SimClock(T + 100)
        self.fills = fills
        self.open = True
        self.asked: list[dict[str, Any]] = []

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == "futures_account_trades":
            self.asked.append(kw)
            rows = [trade_row(tid, qty) for tid, qty in self.fills]
            if "orderId" in kw:
                assert kw["orderId"] == ORDER_ID
            return [r for r in rows if r["id"] >= kw.get("fromId", 0)][: kw["limit"]]
        if method == "futures_get_open_orders":
            return [order_row("0.004", "PARTIALLY_FILLED", T + 11)] if self.open else []
        if method == "futures_account":
            return {"assets": [], "positions": []}
        if method == "futures_position_information":
            return [{"symbol": SYMBOL, "marginType": "cross", "positionAmt": "0.004",
                     "entryPrice": "59000.0", "updateTime": T + 11}]  # fmt: skip
        return []  # open algo orders


def start_up(rest: Account, emitted: list[Event]) -> VenueSync:
    """A restart's VenueSync, as `LiveVenue.restore` leaves it: the journal's last trade id 9,
    its last record (and snapshot's trade id) before the order's fills."""
    sync = VenueSync(
        rest=rest,  # type: ignore[arg-type]  # a fake of RestConnection.call
        tracker=OrderTracker(),
        symbols=(SYMBOL,),
        instruments=instruments(),
        clock=SimClock(T + 100),
        stats=VenueStats(),
        on_applied=lambda applied: emitted.extend(applied[1]) if applied else None,
        emit=emitted.extend,
        follow_up=lambda t: None,
        resolve=lambda t: None,
        trades_page_limit=1000,
        client_id_prefix="rs",
    )
    sync.last_trade_ids[SYMBOL] = 9
    sync.outside_since_ms = T
    sync.seen_trade_ids = {SYMBOL: 9}
    sync.seen_until_ms = T
    return sync


def books_of(events: list[Event]) -> BookKeeper:
    """A BookKeeper (10,000 USDT) that applied `events` as the daemon's listener does."""
    book = BookKeeper(
        starting_balances={"USDT": D(10_000)}, instruments=instruments(), clock=SimClock(T)
    )
    for e in events:
        if isinstance(e, VenueSnapshot):
            book.reconcile(e)
        else:
            book.apply(e)
    return book


def fills(events: list[Event]) -> list[tuple[int, str, Decimal]]:
    return [
        (e.fill.trade_id, e.fill.client_order_id, e.cumulative_qty)
        for e in events
        if isinstance(e, OrderPartiallyFilled | OrderFilled)
    ]


async def test_a_fill_after_the_open_orders_read_counts_on_the_taken_over_order():
    rest = Account(((10, "0.003"), (11, "0.001"), (12, "0.003")))
    emitted: list[Event] = []
    sync = start_up(rest, emitted)

    snapshot = await sync.reconcile("start")

    # Booked once each, under outside:<id> (the order not in the books yet): money as before.
    assert fills(emitted) == [
        (10, OUTSIDE, D("0.003")),
        (11, OUTSIDE, D("0.004")),
        (12, OUTSIDE, D("0.007")),
    ]
    t = sync.tracker.get(CID)
    assert t is not None
    assert (t.fill_qty, t.taken_over_qty, t.status, t.needs_fills) == (
        D("0.007"), D("0.007"), S.PARTIALLY_FILLED, False,
    )  # fmt: skip
    # Its fills read from the first once: 10 and 11 are the row's 0.004, 12 is beyond.
    assert [kw.get("orderId") for kw in rest.asked] == [None, ORDER_ID]
    assert t.trade_ids == {10, 11, 12} and t.taken_over_counted
    [listed] = snapshot.open_orders
    assert (listed.filled_qty, listed.avg_price, listed.status) == (
        D("0.007"), D("59000"), S.PARTIALLY_FILLED,
    )  # fmt: skip
    assert snapshot.adopted == (CID,)

    # The rest fills (trade 13, 0.003): the order's own, and it completes it.
    update = parse_rest_order(order_row("0.010", "FILLED", T + 151), T + 200)
    sync.tracker.apply_order(update)  # a REST row carries no fill: trade 13 is missing
    assert t.needs_fills and t.exchange_cum_qty - t.fill_qty == D("0.003")
    before = len(emitted)
    applied = sync.tracker.apply_trade(parse_user_trade(trade_row(13, "0.003"), T + 200))
    assert applied is not None
    emitted.extend(applied[1])
    [done] = emitted[before:]
    assert isinstance(done, OrderFilled)
    assert (done.fill.client_order_id, done.cumulative_qty, done.avg_price) == (
        CID, D("0.010"), D("59000"),
    )  # fmt: skip
    assert t.status is S.FILLED and sync.tracker.open_orders() == []

    # The books: the order FILLED at 0.010; position and fees of the four fills, once each.
    book = books_of(emitted)
    assert CID not in book.orders and book.orders_by_status.get("FILLED") == 1
    assert book.position(SYMBOL).qty == D("0.010")
    assert book.fees == {"USDT": D("0.0354") + D("0.0118") + D("0.0354") + D("0.0354")}


async def test_a_fill_after_the_open_orders_read_that_completes_the_order_ends_it():
    # Trade 12 fills the remaining 0.006: the order is FILLED before the start-up's snapshot.
    rest = Account(((10, "0.003"), (11, "0.001"), (12, "0.006")))
    emitted: list[Event] = []
    sync = start_up(rest, emitted)

    snapshot = await sync.reconcile("start")

    assert fills(emitted) == [
        (10, OUTSIDE, D("0.003")),
        (11, OUTSIDE, D("0.004")),
        (12, OUTSIDE, D("0.010")),
    ]
    t = sync.tracker.get(CID)
    assert t is not None and t.status is S.FILLED and sync.tracker.open_orders() == []
    assert (t.fill_qty, t.taken_over_qty) == (D("0.010"), D("0.010"))
    # The snapshot brings it into the books with all of it filled; the event after ends it.
    [listed] = snapshot.open_orders
    assert (listed.filled_qty, listed.status) == (D("0.010"), S.PARTIALLY_FILLED)
    assert emitted.index(snapshot) == len(emitted) - 2
    ended = emitted[-1]
    assert isinstance(ended, OrderReconciled)
    assert (ended.client_order_id, ended.status, ended.event_time_ms) == (CID, S.FILLED, T + 150)
    assert ended.cause is ReconcileCause.TAKEN_OVER_FILLS  # nothing was in doubt about it

    book = books_of(emitted)
    assert CID not in book.orders and book.orders_by_status.get("FILLED") == 1
    assert book.position(SYMBOL).qty == D("0.010")
    assert book.fees == {"USDT": D("0.0354") + D("0.0118") + D("0.0708")}  # 0.006 -> 0.0708

    # A later pass: nothing open, nothing asked about it again, nothing emitted for it.
    rest.open = False
    before = len(emitted)
    await sync.reconcile("periodic")
    assert [e for e in emitted[before:] if not isinstance(e, VenueSnapshot)] == []


def running(rest: Account, emitted: list[Event]) -> VenueSync:
    """A running session's VenueSync: its last pass read up to trade 9; no restart's marks."""
    sync = start_up(rest, emitted)
    sync.outside_since_ms = None
    sync.seen_trade_ids = None
    sync.seen_until_ms = None
    return sync


def streamed_fill(trade_id: int, qty: str, cum: str) -> OrderUpdate:
    """The user stream's ORDER_TRADE_UPDATE of one of the BUY's fills (before it was ours)."""
    row = order_row(cum, "PARTIALLY_FILLED", T + trade_id)
    return replace(
        parse_rest_order(row, T + trade_id),
        execution=ExecutionType.TRADE, last_qty=D(qty), last_price=D("59000.0"),
        trade_id=trade_id, trade_time_ms=T + trade_id, commission_asset="USDT",
    )  # fmt: skip


async def test_a_running_pass_books_the_fills_of_an_order_it_takes_over_the_stream_did_not_report():
    # The stream was down: none of trades 10-12 reached the books (no account update either).
    rest = Account(((10, "0.003"), (11, "0.001"), (12, "0.003")))
    emitted: list[Event] = []
    sync = running(rest, emitted)

    snapshot = await sync.reconcile("reconnect")

    assert fills(emitted) == [
        (10, OUTSIDE, D("0.003")),
        (11, OUTSIDE, D("0.004")),
        (12, OUTSIDE, D("0.007")),
    ]
    t = sync.tracker.get(CID)
    assert t is not None
    assert (t.fill_qty, t.taken_over_qty, t.status) == (D("0.007"), D("0.007"), S.PARTIALLY_FILLED)
    assert snapshot.trade_ids == ((SYMBOL, 12),)  # all booked: in the books up to 12


async def test_a_running_take_over_leaves_fills_the_stream_reported_to_their_account_updates():
    # The stream reported trades 10 and 11 while nobody tracked the order (ignored; their
    # account updates reached the books); trade 12 came during the pass's reads.
    rest = Account(((10, "0.003"), (11, "0.001"), (12, "0.003")))
    emitted: list[Event] = []
    sync = running(rest, emitted)
    sync.untracked_report(streamed_fill(10, "0.003", "0.003"))
    sync.untracked_report(streamed_fill(11, "0.001", "0.004"))

    snapshot = await sync.reconcile("periodic")

    assert fills(emitted) == [(12, OUTSIDE, D("0.003"))]
    t = sync.tracker.get(CID)
    assert t is not None
    assert (t.fill_qty, t.taken_over_qty, t.status) == (D("0.007"), D("0.007"), S.PARTIALLY_FILLED)
    assert t.trade_ids == {10, 11, 12} and not t.needs_fills
    # 10 and 11 were made before the position read changed last (T + 11): it holds them.
    assert snapshot.trade_ids == ((SYMBOL, 12),)


def account_update(qty: str, wallet: str, time_ms: int, recv_ms: int | None = None) -> list[Event]:
    """The user stream's ACCOUNT_UPDATE (reason ORDER) of the BUY's fills up to `time_ms`,
    received at `recv_ms` (our clock; default `time_ms`)."""
    recv = time_ms if recv_ms is None else recv_ms
    position = Position(symbol=SYMBOL, qty=D(qty), entry_price=D("59000.0"))
    balance = Balance(asset="USDT", wallet_balance=D(wallet), available_balance=D(wallet))
    return [
        PositionChanged(
            event_time_ms=time_ms, recv_time_ms=recv, position=position, reason="ORDER"
        ),
        BalanceChanged(event_time_ms=time_ms, recv_time_ms=recv, balance=balance, reason="ORDER"),
    ]


async def test_a_running_take_over_ends_with_the_books_as_the_exchange_while_an_update_is_held():
    # Trades 10 and 11 were reported on the stream (ignored: nobody tracked the order); their
    # ACCOUNT_UPDATE (0.004 long, wallet 10000 - 0.0354 - 0.0118) came 89 ms before the pass
    # began: the books still hold it (it may be ahead of fills; adopted 2 s on). Trade 12
    # lands during the pass's reads, its stream reports lost.
    rest = Account(((10, "0.003"), (11, "0.001"), (12, "0.003")))
    emitted: list[Event] = []
    sync = running(rest, emitted)
    sync.untracked_report(streamed_fill(10, "0.003", "0.003"))
    sync.untracked_report(streamed_fill(11, "0.001", "0.004"))
    held = account_update("0.004", "9999.9528", T + 11)
    assert books_of(held).position(SYMBOL).qty == 0  # held, not adopted yet

    await sync.reconcile("periodic")

    assert fills(emitted) == [(12, OUTSIDE, D("0.003"))]
    book = books_of([*held, *emitted])
    # The exchange's: 0.007 long at 59000, wallet less the three fees (0.0354 + 0.0118 +
    # 0.0354). Before, the booked trade 12 (later than the held update) dropped the update
    # as stale: 0.003 long and 10000 - 0.0354, until the next pass adopted the exchange's.
    assert (book.position(SYMBOL).qty, book.position(SYMBOL).entry_price) == (
        D("0.007"), D("59000"),
    )  # fmt: skip
    assert book.wallet() == D("9999.9174")


class SlowReads(Account):
    """The account, its state reads ending at T + 160 on both clocks (the exchange's and
    ours, `local`): trade 12 (T + 150) is made during them, before the reads of fills."""

    def __init__(self, fills: tuple[tuple[int, str], ...], local: SimClock) -> None:
        super().__init__(fills)
        self.local = local

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == "futures_position_information":
            self.clock.set_ms(T + 160)
            self.local.set_ms(T + 160)
        return await super().call(method, **kw)


async def held_through_a_pass(recv_ms: int) -> BookKeeper:
    """Trades 10 and 11 reported on the stream while nobody tracked the order (their update,
    0.004 long, held in the books); trade 12 made during a running pass's reads (its order
    report lost), and its own ACCOUNT_UPDATE (0.007 long, wallet 10000 - 0.0354 - 0.0118 -
    0.0354, stamped T + 150) received at `recv_ms`, before the pass's events reach the books.
    Returns those books after the pass."""
    local = SimClock(T + 100)
    rest = SlowReads(((10, "0.003"), (11, "0.001"), (12, "0.003")), local)
    emitted: list[Event] = []
    sync = running(rest, emitted)
    sync.clock = local
    sync.untracked_report(streamed_fill(10, "0.003", "0.003"))
    sync.untracked_report(streamed_fill(11, "0.001", "0.004"))

    snapshot = await sync.reconcile("periodic")

    assert (snapshot.event_time_ms, snapshot.fills_read_recv_ms) == (T + 100, T + 160)
    assert fills(emitted) == [(12, OUTSIDE, D("0.003"))]
    updates = [
        *account_update("0.004", "9999.9528", T + 11),
        *account_update("0.007", "9999.9174", T + 150, recv_ms),
    ]
    return books_of([*updates, *emitted])


async def test_a_fills_own_update_received_during_a_take_over_passs_reads_is_adopted_at_its_end():
    """Received (T + 155) before the pass read the fills, the update reports fills the pass
    read: the books end the pass as it says, 0.007 long at 59000 and the wallet less the
    three fees. Before, it stayed held (later than the snapshot's reads began, T + 100): the
    books held 0.003 (trade 12 only) and 10000 - 0.0354 until an event 2 s on adopted it."""
    book = await held_through_a_pass(T + 155)

    assert (book.position(SYMBOL).qty, book.position(SYMBOL).entry_price) == (
        D("0.007"), D("59000"),
    )  # fmt: skip
    assert book.wallet() == D("9999.9174")


async def test_an_update_received_after_the_passs_reads_of_fills_began_stays_held():
    """Received (T + 170) after the pass began to read the fills, the update may be ahead of
    a fill that read missed, whose own report is still to come: adopting it at the snapshot
    would book that fill twice. It stays held, adopted HOLD_AHEAD_MS (2 s) after it."""
    book = await held_through_a_pass(T + 170)

    assert (book.position(SYMBOL).qty, book.wallet()) == (D("0.003"), D("10000") - D("0.0354"))
    book.mark(MarkPrice(SYMBOL, D("59000"), D("59000"), D("0.0001"), T + HOUR, T + 2_150, T))

    assert (book.position(SYMBOL).qty, book.wallet()) == (D("0.007"), D("9999.9174"))
