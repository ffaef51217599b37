"""A fill made between a reconciliation's position read and its userTrades read, that no event
books (an order no one can attribute: here a filled order of an earlier journal, which a
running session neither tracks nor books as outside), reaches the books only by its account
update. At the clean stop that update comes after the stream closed: the fill is not in the
books. The snapshot's trade ids (`VenueSnapshot.trade_ids`: "every fill up to it was in the
books", what the restart's `_seen_before` goes by) now stop below it (`seen_bound`), so the
restart reads it again and books it under `outside:<its client id>` with its fee and realized
PnL. Before, the bound was the last trade id read: the fill counted as seen, and the restart
adopted the position without its fee.

Numbers by hand: the position read shows 0.005 long, last changed at T + 1 000 (trade 100,
booked before); trade 101, rs-q0q0q0-9 SELL 0.002 @ 60500.0 at T + 2 000, taker: fee
0.002 * 60500.0 * 0.0005 = 0.0605, realized 0.002 * (60500.0 - 60000.0) = 1.0.
"""

from decimal import Decimal
from typing import Any

from core.account import Position
from core.clock import SimClock
from core.events import Event, OrderFilled, OrderPartiallyFilled, VenueSnapshot
from gateway.order_tracker import OrderTracker
from gateway.user_wire import parse_user_trade
from gateway.venue_stats import VenueStats
from gateway.venue_sync import VenueSync, seen_bound
from tests.book_keeper.support import BUY, book, instruments, trade_fill

D = Decimal
SYMBOL = "BTCUSDT"
T = 1_723_075_200_000  # 2024-08-08 00:00 UTC
EARLIER = "rs-q0q0q0-9"  # this daemon's prefix, another journal's tag
ORDER_ID = 4_000_000_401


def trade_row(trade_id: int, t: int) -> dict[str, Any]:
    return {"symbol": SYMBOL, "id": trade_id, "orderId": ORDER_ID, "side": "SELL",
            "price": "60500.0", "qty": "0.002", "realizedPnl": "1.00000000",
            "commission": "0.06050000", "commissionAsset": "USDT", "maker": False,
            "time": t, "positionSide": "BOTH"}  # fmt: skip


class Account:
    """The account's REST side at the stop and at the restart: no open order; the position
    row as read before the fill (0.005, `updateTime` T + 1 000); userTrades has trade 101;
    `GET /fapi/v1/order` finds its order (FILLED)."""

    def __init__(self) -> None:
        self.clock = SimClock(T + 1_500)  # the pass starts before the fill

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == "futures_position_information":
            return [{"symbol": SYMBOL, "positionAmt": "0.005", "entryPrice": "60000.0",
                     "positionSide": "BOTH", "updateTime": T + 1_000}]  # fmt: skip
        if method == "futures_account_trades":
            return [trade_row(101, T + 2_000)] if kw["fromId"] <= 101 else []
        if method == "futures_get_order":
            return {"symbol": SYMBOL, "clientOrderId": EARLIER, "orderId": ORDER_ID,
                    "side": "SELL", "type": "MARKET", "origQty": "0.002",
                    "executedQty": "0.002", "status": "FILLED", "price": "0",
                    "avgPrice": "60500.0", "updateTime": T + 2_000}  # fmt: skip
        if method == "futures_account":
            return {"assets": [], "positions": []}
        return []  # open orders, open algo orders


def sync_of(rest: Any, emitted: list[Event]) -> VenueSync:
    sync = VenueSync(
        rest=rest,
        tracker=OrderTracker(),
        symbols=(SYMBOL,),
        instruments=instruments(),
        clock=SimClock(T + 2_500),
        stats=VenueStats(),
        on_applied=lambda applied: emitted.extend(applied[1]) if applied else None,
        emit=emitted.extend,
        follow_up=lambda t: None,
        resolve=lambda t: None,
        client_id_prefix="rs",
    )
    sync.last_trade_ids[SYMBOL] = 100
    return sync


async def test_a_fill_the_stop_read_but_did_not_book_is_booked_at_the_restart():
    # The clean stop's reconciliation (a running session's): trade 101 read, not booked.
    emitted: list[Event] = []
    stop = sync_of(Account(), emitted)
    snapshot = await stop.reconcile("stop")
    assert not [e for e in emitted if isinstance(e, OrderPartiallyFilled | OrderFilled)]
    assert stop.last_trade_ids == {SYMBOL: 101}  # read on from there
    assert snapshot.trade_ids == ((SYMBOL, 100),)  # journaled: in the books up to 100 only

    # The restart: the journal's last fill is trade 100; the snapshot's trade ids as above;
    # the last account update the daemon received was the position's, at T + 1 000.
    emitted = []
    restart = sync_of(Account(), emitted)
    restart.outside_since_ms = T + 2_500  # the journal's last record
    restart.seen_trade_ids = dict(snapshot.trade_ids)
    restart.seen_until_ms = T + 1_000
    await restart.reconcile("start")

    # OrderFilled: the exchange says the order is FILLED and this fill makes up its quantity
    [booked] = [e for e in emitted if isinstance(e, OrderPartiallyFilled | OrderFilled)]
    assert isinstance(booked, OrderFilled)
    fill = booked.fill
    assert (fill.trade_id, fill.client_order_id, fill.qty) == (
        101,
        f"outside:{EARLIER}",
        D("0.002"),
    )
    assert (fill.commission, fill.realized_pnl) == (D("0.0605"), D("1.0"))
    assert isinstance(emitted[-1], VenueSnapshot)  # booked before the snapshot that shows it


def position(symbol: str, qty: str, changed_ms: int) -> Position:
    return Position(symbol=symbol, qty=D(qty), entry_price=D("60000.0"), update_time_ms=changed_ms)


def test_the_bound_stops_below_a_fill_left_out_only_when_the_position_read_missed_it():
    left_out = [
        parse_user_trade(trade_row(105, T + 1_000), T),  # at the row's last change: held
        parse_user_trade(trade_row(107, T + 1_001), T),  # after it: missed
        parse_user_trade(trade_row(106, T + 1_002), T),  # after it too: the lowest counts
    ]
    read = {SYMBOL: 110, "ETHUSDT": 50}

    def bound(fills: list[Any], rows: list[Position], wallet_ms: int | None, earliest: int):
        return seen_bound(read, fills, rows, wallet_ms=wallet_ms, earliest_ms=lambda: earliest)

    row = [position(SYMBOL, "0.005", T + 1_000)]
    assert bound(left_out[:1], row, None, T) == read
    assert bound(left_out, row, None, T) == {
        SYMBOL: 105,  # below 106
        "ETHUSDT": 50,  # no fill of it left out
    }
    # No row (flat): held only if the account read (its wallets' last change) held it
    assert bound(left_out, [], T + 1_001, T)[SYMBOL] == 105
    assert bound(left_out, [], T + 1_002, T) == read
    # nor a fill the row holds but the account read, before it, did not: its money is not in
    # the wallet the snapshot adopts
    assert bound(left_out, row, T + 999, T)[SYMBOL] == 104
    # An answer with neither time: made before the pass began on the exchange's clock
    assert bound(left_out, [], None, T + 1_001)[SYMBOL] == 105
    assert bound(left_out, [], None, T + 1_002) == read


# --- a flat symbol's fill and our clock's error -----------------------------------------------


class FlatAccount(Account):
    """The account flat at the stop (no position row) with trade 101 (its order FILLED, as in
    `Account`) made at `fill_ms`; the wallet's last change (USDT `updateTime`) at
    `wallet_ms`; our estimate of the exchange's clock reads `clock_ms` when the pass begins
    (the exchange's own clock: T + 1 500)."""

    def __init__(self, *, fill_ms: int, wallet_ms: int, clock_ms: int) -> None:
        super().__init__()
        self.clock = SimClock(clock_ms)
        self.fill_ms, self.wallet_ms = fill_ms, wallet_ms

    def clock_error_ms(self) -> int:
        return 600

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == "futures_position_information":
            return []
        if method == "futures_account_trades":
            return [trade_row(101, self.fill_ms)] if kw["fromId"] <= 101 else []
        if method == "futures_account":
            return {"assets": [{"asset": "USDT", "walletBalance": "1001.0",
                                "availableBalance": "1001.0", "updateTime": self.wallet_ms}],
                    "positions": []}  # fmt: skip
        return await super().call(method, **kw)


async def _booked_at_restart(account: FlatAccount) -> tuple[tuple[tuple[str, int], ...], list]:
    """The stop's snapshot trade ids and the fills the restart then books (the daemon
    received nothing the exchange stamped after T)."""
    stop = sync_of(account, [])
    snapshot = await stop.reconcile("stop")
    emitted: list[Event] = []
    restart = sync_of(account, emitted)
    restart.outside_since_ms = T + 2_500
    restart.seen_trade_ids = dict(snapshot.trade_ids)
    restart.seen_until_ms = T
    await restart.reconcile("start")
    fills = [e.fill.trade_id for e in emitted if isinstance(e, OrderPartiallyFilled | OrderFilled)]
    return snapshot.trade_ids, fills


async def test_a_fill_the_flat_read_held_is_not_booked_again_when_our_clock_is_behind():
    """Trade 101 closed the position at T + 1 000, before the stop's pass began (T + 1 500 on
    the exchange's clock) and its reads, which show it: flat, the wallet changed by it at
    T + 1 000. Our clock is 600 ms behind (the pass begins at T + 900 on it). The snapshot
    counts the fill as held and the restart books nothing. Before, on our reading of the
    pass's start, it was 'made after the pass began': the restart booked it again, onto the
    flat position the snapshot adopted (0.002 short) and into the wallet that held it."""
    account = FlatAccount(fill_ms=T + 1_000, wallet_ms=T + 1_000, clock_ms=T + 900)

    trade_ids, booked = await _booked_at_restart(account)

    assert trade_ids == ((SYMBOL, 101),)
    assert booked == []


async def test_a_fill_after_the_flat_read_is_booked_at_the_restart_when_our_clock_is_ahead():
    """Trade 101 made at T + 1 800, after the stop's account and position reads (flat, the
    wallet last changed at T + 500); our clock is 600 ms ahead (the pass begins at
    T + 2 100 on it). The snapshot stops below it and the restart books it. Before, it was
    'made before the pass began' on our reading: counted as held by reads that never saw it,
    the restart left its fee and realized PnL out of the books (lost)."""
    account = FlatAccount(fill_ms=T + 1_800, wallet_ms=T + 500, clock_ms=T + 2_100)

    trade_ids, booked = await _booked_at_restart(account)

    assert trade_ids == ((SYMBOL, 100),)
    assert booked == [101]


# --- a fill between the account read and the position read ------------------------------------


class RowAccount(Account):
    """The account as `Account` has it (trade 101 at T + 2 000), its wallet's last change
    (USDT `updateTime`) at T + 500: the stop's account read came before trade 101, its
    position read (0.003 left, `updateTime` T + 2 000) after it. `wallet`: what the account
    read answers."""

    def __init__(self, wallet: str) -> None:
        super().__init__()
        self.wallet = wallet

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == "futures_position_information":
            return [{"symbol": SYMBOL, "positionAmt": "0.003", "entryPrice": "60000.0",
                     "positionSide": "BOTH", "updateTime": T + 2_000}]  # fmt: skip
        if method == "futures_account":
            return {"assets": [{"asset": "USDT", "walletBalance": self.wallet,
                                "availableBalance": self.wallet, "updateTime": T + 500}],
                    "positions": []}  # fmt: skip
        return await super().call(method, **kw)


async def test_a_fill_between_the_account_and_position_reads_has_its_money_booked_at_restart():
    """The books hold 0.005 long @ 60000.0 (their fill, fee 0.15: wallet 9999.85). Trade 101
    (SELL 0.002 @ 60500.0, realized 1.0, fee 0.0605) is made between the stop's account read
    (9999.85) and its position read (0.003): the snapshot adopts the position with it, the
    wallet without it. The restart books it: realized PnL, fees and wallet are the
    exchange's (9999.85 + 1.0 - 0.0605 = 10000.7895), nothing taken for money moved. Before,
    the row's time counted it as held: never booked, and the start-up snapshot adopted its
    0.9395 as a transfer, the realized PnL and fee missing from the books."""
    bk = book(D("10000"), SimClock(T))
    trade_fill(bk, "rs-a1b2c3-1", 100, BUY, "0.005", "60000.0", fee="0.15", t=T + 1_000)
    stop = sync_of(RowAccount("9999.85"), [])
    snapshot = await stop.reconcile("stop")
    bk.reconcile(snapshot)
    assert bk.position(SYMBOL).qty == D("0.003")  # adopted with trade 101

    emitted: list[Event] = []
    later = RowAccount("10000.7895")
    later.clock = SimClock(T + 5_000)  # the restart, after the stop
    restart = sync_of(later, emitted)
    restart.outside_since_ms = T + 2_500
    restart.seen_trade_ids = dict(snapshot.trade_ids)
    restart.seen_until_ms = T + 1_000
    await restart.reconcile("start")
    for event in emitted:
        bk.reconcile(event) if isinstance(event, VenueSnapshot) else bk.apply(event)

    assert bk.position(SYMBOL).qty == D("0.003")
    assert bk.wallet() == D("10000.7895")
    assert (bk.realized_pnl, bk.fees["USDT"]) == (D("1.0"), D("0.2105"))
    assert bk.transfers == 0
