"""While the daemon runs, the fills of orders placed outside it (by hand on the website, by
another program) are booked from their ORDER_TRADE_UPDATE as `outside:<client id>`, with the
exchange's realized PnL (`rp`) and fee (`n`); the reconciliation's userTrades read does not
book them again, and books a fill the stream did not bring. The books then agree with the
ACCOUNT_UPDATE that follows: nothing to adopt.

Before: such a fill was "not one of our orders: ignored"; the books learnt of it from the
ACCOUNT_UPDATE alone (position and wallet adopted as differences, its rp and fee never in the
realized PnL or fee totals).

Numbers by hand (the local exchange's fees: maker 0.02 %, taker 0.05 %), on 10 000 USDT:
- web_Ab12, LIMIT BUY 0.010 @ 60000.0, filled as maker in two trades:
  0.004 -> fee 0.004 * 60000.0 * 0.0002 = 0.048; 0.006 -> fee 0.072; rp 0 (opening).
- web_Cd34, MARKET SELL 0.005 @ 60500.0, taker: fee 0.005 * 60500.0 * 0.0005 = 0.15125;
  rp = 0.005 * (60500.0 - 60000.0) = 2.5 (the long's entry is 60000.0).
- web_Ef56, MARKET BUY 0.002 @ 60400.0, taker (its report lost on the stream): fee
  0.002 * 60400.0 * 0.0005 = 0.0604; rp 0; entry (0.005 * 60000 + 0.002 * 60400) / 0.007.
Wallet after the first two: 10000 + 2.5 - (0.048 + 0.072 + 0.15125) = 10002.22875.
"""

import logging
from decimal import Decimal
from typing import Any

from book_keeper.journal import SqliteJournal
from core.clock import SimClock
from core.errors import RetryableError
from core.events import (
    BalanceChanged,
    Event,
    OrderFilled,
    OrderPartiallyFilled,
    PositionChanged,
)
from gateway import outside_orders as outside_orders_module
from gateway.order_tracker import OrderTracker
from gateway.user_wire import AccountUpdate, OrderUpdate, parse_user_event
from gateway.venue_stats import VenueStats
from gateway.venue_sync import VenueSync
from tests.book_keeper.support import book, instruments

D = Decimal
SYMBOL = "BTCUSDT"
T = 1_723_075_200_000  # 2024-08-08 00:00 UTC
ORDER_AB, ORDER_CD, ORDER_EF = 4_000_000_101, 4_000_000_102, 4_000_000_103


def trade_report(
    cid: str, order_id: int, side: str, qty: str, status: str, *, last: str, price: str,
    cum: str, trade_id: int, fee: str, rp: str, maker: bool, t: int,
) -> dict[str, Any]:  # fmt: skip
    """An ORDER_TRADE_UPDATE frame of one fill (reference 10.3), as Binance sends it."""
    return {
        "e": "ORDER_TRADE_UPDATE", "E": t, "T": t,
        "o": {"s": SYMBOL, "c": cid, "S": side, "o": "LIMIT" if maker else "MARKET",
              "f": "GTC", "q": qty, "p": price if maker else "0", "ap": price, "sp": "0",
              "x": "TRADE", "X": status, "i": order_id, "l": last, "z": cum, "L": price,
              "N": "USDT", "n": fee, "T": t, "t": trade_id, "b": "0", "a": "0", "m": maker,
              "R": False, "wt": "CONTRACT_PRICE", "ot": "LIMIT" if maker else "MARKET",
              "ps": "BOTH", "cp": False, "rp": rp, "V": "EXPIRE_MAKER"},
    }  # fmt: skip


HAND_FILLS = (
    trade_report("web_Ab12", ORDER_AB, "BUY", "0.010", "PARTIALLY_FILLED", last="0.004",
                 price="60000.0", cum="0.004", trade_id=101, fee="0.04800000", rp="0",
                 maker=True, t=T + 1_000),
    trade_report("web_Ab12", ORDER_AB, "BUY", "0.010", "FILLED", last="0.006",
                 price="60000.0", cum="0.010", trade_id=102, fee="0.07200000", rp="0",
                 maker=True, t=T + 2_000),
    trade_report("web_Cd34", ORDER_CD, "SELL", "0.005", "FILLED", last="0.005",
                 price="60500.0", cum="0.005", trade_id=103, fee="0.15125000",
                 rp="2.50000000", maker=False, t=T + 3_000),
)  # fmt: skip


class Account:
    """The REST side of an account the hand fills above were made on (`userTrades` rows
    of trades 101-103 and of 104, web_Ef56's, which the stream lost; `GET /fapi/v1/order`
    by order id); no open order, no position row, no funding."""

    def __init__(self) -> None:
        self.clock = SimClock(T + 10_000)  # the exchange's (the reconciliation reads it)
        self.rows = [
            self._row(101, ORDER_AB, "BUY", "0.004", "60000.0", "0.04800000", "0", T + 1_000),
            self._row(102, ORDER_AB, "BUY", "0.006", "60000.0", "0.07200000", "0", T + 2_000),
            self._row(103, ORDER_CD, "SELL", "0.005", "60500.0", "0.15125000", "2.50000000",
                      T + 3_000),
            self._row(104, ORDER_EF, "BUY", "0.002", "60400.0", "0.06040000", "0", T + 4_000),
        ]  # fmt: skip
        self.cids = {ORDER_AB: "web_Ab12", ORDER_CD: "web_Cd34", ORDER_EF: "web_Ef56"}
        self.orders_asked: list[int] = []

    @staticmethod
    def _row(tid: int, oid: int, side: str, qty: str, price: str, fee: str, rp: str, t: int):
        return {"symbol": SYMBOL, "id": tid, "orderId": oid, "side": side, "price": price,
                "qty": qty, "realizedPnl": rp, "commission": fee, "commissionAsset": "USDT",
                "maker": oid == ORDER_AB, "time": t, "positionSide": "BOTH"}  # fmt: skip

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == "futures_account_trades":
            return [r for r in self.rows if r["id"] >= kw["fromId"]][: kw["limit"]]
        if method == "futures_get_order":
            oid = kw["orderId"]
            self.orders_asked.append(oid)
            return {"symbol": SYMBOL, "clientOrderId": self.cids[oid], "orderId": oid,
                    "side": "BUY", "type": "MARKET", "origQty": "0.002", "executedQty": "0.002",
                    "status": "FILLED", "price": "0", "avgPrice": "60400.0",
                    "updateTime": T + 4_000}  # fmt: skip
        if method == "futures_account":
            return {"assets": [], "positions": []}
        return []  # open orders, open algo orders, positions, income: none

    def clock_error_ms(self) -> int:
        return 1  # `clock` is the exchange's own


def venue_sync(rest: Any, emitted: list[Event]) -> VenueSync:
    """A running session's VenueSync (client id prefix "rs"), userTrades read after trade 100."""
    sync = VenueSync(
        rest=rest,
        tracker=OrderTracker(),
        symbols=(SYMBOL,),
        instruments=instruments(),
        clock=SimClock(T + 10_000),
        stats=VenueStats(),
        on_applied=lambda applied: None,
        emit=emitted.extend,
        follow_up=lambda t: None,
        resolve=lambda t: None,
        client_id_prefix="rs",
    )
    sync.last_trade_ids[SYMBOL] = 100
    return sync


def stream(sync: VenueSync, frame: dict[str, Any]) -> bool:
    """As `LiveVenue._dispatch` takes an ORDER_TRADE_UPDATE: the tracker first, then
    `book_outside`. True when it booked (or had booked) an outside fill."""
    u = parse_user_event(frame, frame["E"] + 5, {})
    assert isinstance(u, OrderUpdate)
    return sync.apply_update(u) is None and sync.book_outside(u)


def account_update(wallet: str, qty: str, entry: str, t: int) -> list[Event]:
    """The ACCOUNT_UPDATE (reason ORDER) after the fills, as the venue emits it."""
    u = parse_user_event(
        {"e": "ACCOUNT_UPDATE", "E": t, "T": t,
         "a": {"m": "ORDER", "B": [{"a": "USDT", "wb": wallet, "cw": wallet, "bc": "0"}],
               "P": [{"s": SYMBOL, "pa": qty, "ep": entry, "cr": "0", "up": "0", "mt": "cross",
                      "iw": "0", "ps": "BOTH"}]}},
        t + 5,
        {},
    )  # fmt: skip
    assert isinstance(u, AccountUpdate)
    balances = [
        BalanceChanged(event_time_ms=t, recv_time_ms=t + 5, balance=b, reason=u.reason)
        for b in u.balances
    ]
    positions = [
        PositionChanged(event_time_ms=t, recv_time_ms=t + 5, position=p, reason=u.reason)
        for p in u.positions
    ]
    return [*balances, *positions]


def test_hand_fills_on_the_stream_are_booked_as_outside_with_the_exchanges_rp_and_fee(caplog):
    emitted: list[Event] = []
    sync = venue_sync(Account(), emitted)
    books = book()

    with caplog.at_level(logging.WARNING, logger="gateway.venue_sync"):
        assert [stream(sync, frame) for frame in HAND_FILLS] == [True, True, True]
    for event in emitted:
        books.apply(event)
    for event in account_update("10002.22875000", "0.005", "60000.0", T + 3_000):
        books.apply(event)

    assert [
        (type(e).__name__, e.fill.client_order_id, e.fill.trade_id, e.cumulative_qty)
        for e in emitted
        if isinstance(e, OrderPartiallyFilled | OrderFilled)
    ] == [
        ("OrderPartiallyFilled", "outside:web_Ab12", 101, D("0.004")),
        ("OrderFilled", "outside:web_Ab12", 102, D("0.010")),
        ("OrderFilled", "outside:web_Cd34", 103, D("0.005")),
    ]
    assert books.realized_pnl == D("2.5")
    assert books.fees == {"USDT": D("0.048") + D("0.072") + D("0.15125")} == {"USDT": D("0.27125")}
    assert books.wallet() == D("10002.22875")
    position = books.position(SYMBOL)
    assert (position.qty, position.entry_price) == (D("0.005"), D("60000.0"))
    # the ACCOUNT_UPDATE agrees: nothing adopted; our rp equals the exchange's
    assert (books.differences, books.rp_mismatches, books.rejected_events) == (0, 0, 0)
    assert sync.stats.outside_fills == 3
    assert caplog.messages[-1] == (
        "BTCUSDT order web_Cd34 (id 4000000102) was not placed by this daemon (by hand, another "
        "program): SELL 0.005 @ 60500.0 (trade 103; 0.005 of 0.005 filled), realized "
        "2.50000000, fee 0.15125000 USDT: booked as outside:web_Cd34"
    )


def test_a_hand_fill_reported_twice_on_the_stream_is_booked_once():
    emitted: list[Event] = []
    sync = venue_sync(Account(), emitted)

    stream(sync, HAND_FILLS[0])
    again = stream(sync, HAND_FILLS[0])

    assert again and len(emitted) == 1 and sync.stats.outside_fills == 1


async def test_the_reconciliation_books_only_the_hand_fill_the_stream_did_not_bring():
    rest = Account()
    emitted: list[Event] = []
    sync = venue_sync(rest, emitted)
    for frame in HAND_FILLS:
        stream(sync, frame)
    books = book()
    for event in emitted:
        books.apply(event)
    emitted.clear()

    snapshot = await sync.reconcile("periodic")

    fills = [e for e in emitted if isinstance(e, OrderPartiallyFilled | OrderFilled)]
    assert [(f.fill.client_order_id, f.fill.trade_id) for f in fills] == [("outside:web_Ef56", 104)]
    # the exchange says FILLED (0.002 executed) and its one fill is read: it completed it
    assert [type(f) for f in fills] == [OrderFilled]
    assert rest.orders_asked == [ORDER_EF]  # the two the stream brought filled: not asked
    for event in fills:
        books.apply(event)
    entry = (D("0.005") * D("60000.0") + D("0.002") * D("60400.0")) / D("0.007")
    position = books.position(SYMBOL)
    assert (position.qty, position.entry_price) == (D("0.007"), entry)
    assert books.fees == {"USDT": D("0.27125") + D("0.0604")}
    assert books.wallet() == D("10002.22875") - D("0.0604") == D("10002.16835")
    assert sync.last_trade_ids[SYMBOL] == 104 and sync.stats.foreign_trades == 0
    assert snapshot is emitted[-1]


def test_a_fill_of_an_id_this_daemon_issues_is_not_booked_as_outside():
    """An order with this daemon's prefix that the tracker does not know (a late report of an
    order it forgot, an earlier journal's before the reconciliation takes it over) is ours to
    take over, not outside: booked as outside, the order's own fills would then be dropped as
    booked already, and the order never seen filled."""
    emitted: list[Event] = []
    sync = venue_sync(Account(), emitted)
    frame = trade_report("rs-q0q0q0-7", 4_000_000_107, "SELL", "0.001", "FILLED",
                         last="0.001", price="60000.0", cum="0.001", trade_id=107,
                         fee="0.03000000", rp="0", maker=False, t=T)  # fmt: skip

    assert stream(sync, frame) is False
    assert emitted == [] and sync.stats.outside_fills == 0


class RestingHandOrders(Account):
    """The account with hand orders resting: a LIMIT and a STOP_MARKET algo order (what
    `openOrders` / `openAlgoOrders` list), until `rest_until` reconciliations have read them
    (then the LIMIT is gone)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows = []  # no trade
        self.open_reads = 0
        self.limit_id = 4_000_000_104

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == "futures_get_open_orders":
            self.open_reads += 1
            if self.open_reads > 2:
                return []
            return [{"symbol": SYMBOL, "clientOrderId": "web_Gh78", "orderId": self.limit_id,
                     "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "origQty": "0.010",
                     "executedQty": "0", "status": "NEW", "price": "55000.0", "avgPrice": "0",
                     "reduceOnly": False, "positionSide": "BOTH", "updateTime": T}]  # fmt: skip
        if method == "futures_get_open_algo_orders":
            return [{"algoId": 77, "clientAlgoId": "web_Ij90", "algoType": "CONDITIONAL",
                     "orderType": "STOP_MARKET", "symbol": SYMBOL, "side": "SELL",
                     "positionSide": "BOTH", "quantity": "0.010", "algoStatus": "NEW",
                     "triggerPrice": "50000.0", "price": "0", "reduceOnly": True,
                     "closePosition": False, "workingType": "CONTRACT_PRICE",
                     "timeInForce": "GTC", "createTime": T, "updateTime": T}]  # fmt: skip
        return await super().call(method, **kw)


async def test_a_resting_hand_order_is_named_once_not_at_every_reconciliation(caplog):
    """A hand order resting for days is said once (INFO) when a reconciliation first lists
    it, not every 60 s; one that ends and comes back (another order with its id) is said again.
    Before: `open order BTCUSDT web_Gh78 is not ours` at every reconciliation."""
    rest = RestingHandOrders()
    sync = venue_sync(rest, [])
    caplog.set_level(logging.INFO, logger="gateway.venue_sync")

    await sync.reconcile("periodic")
    await sync.reconcile("periodic")

    said = [r.getMessage() for r in caplog.records if "is not ours" in r.getMessage()]
    assert said == [
        "open order BTCUSDT web_Gh78 is not ours (by hand, another program): left alone, its "
        "fills booked as outside:web_Gh78",
        "open algo order BTCUSDT web_Ij90 is not ours (by hand, another program): left alone",
    ]
    caplog.clear()
    await sync.reconcile("periodic")  # the LIMIT has ended; the stop still rests
    assert not [r for r in caplog.records if "is not ours" in r.getMessage()]
    rest.open_reads, rest.limit_id = 0, 4_000_000_105  # another order with its id: said again
    await sync.reconcile("periodic")
    said = [r.getMessage() for r in caplog.records if "is not ours" in r.getMessage()]
    assert said == [
        "open order BTCUSDT web_Gh78 is not ours (by hand, another program): left alone, its "
        "fills booked as outside:web_Gh78"
    ]


def order_report(cid: str, order_id: int, status: str, t: int = T) -> dict[str, Any]:
    """An ORDER_TRADE_UPDATE frame without a fill (accepted, cancelled, expired)."""
    frame = trade_report(cid, order_id, "BUY", "0.010", status, last="0", price="55000.0",
                         cum="0", trade_id=0, fee="0", rp="0", maker=True, t=t)  # fmt: skip
    frame["o"]["x"] = status
    return frame


def report(sync: VenueSync, frame: dict[str, Any]) -> bool:
    """As `LiveVenue._dispatch` takes a report the tracker does not know: True when it is of
    an order placed outside the daemon (dealt with), False for one to warn about."""
    u = parse_user_event(frame, frame["E"] + 5, {})
    assert isinstance(u, OrderUpdate)
    return sync.apply_update(u) is None and sync.outside_report(u)


def test_a_hand_order_is_named_once_whichever_report_or_reconciliation_comes_first(caplog):
    """Named by its first report (INFO) or its first fill's WARNING (as by the reconciliation
    that first lists it resting, below); none of its later reports is logged. Before: each of
    its reports other than a fill was "OrderUpdate for web_..., not one of our orders:
    ignored" (WARNING), counted as of an unknown order."""
    emitted: list[Event] = []
    sync = venue_sync(Account(), emitted)
    caplog.set_level(logging.INFO, logger="gateway.venue_sync")
    gh78 = 4_000_000_104
    partial = trade_report("web_Gh78", gh78, "BUY", "0.010", "PARTIALLY_FILLED", last="0.004",
                           price="55000.0", cum="0.004", trade_id=105, fee="0.04400000", rp="0",
                           maker=True, t=T + 5_000)  # fmt: skip

    assert report(sync, order_report("web_Ab12", ORDER_AB, "NEW"))
    assert stream(sync, HAND_FILLS[0]) and stream(sync, HAND_FILLS[1])  # the fills: WARNINGs
    assert stream(sync, partial)  # web_Gh78's first report is a fill
    assert report(sync, order_report("web_Gh78", gh78, "CANCELED"))  # the rest cancelled
    assert report(sync, order_report("web_Kl12", 4_000_000_106, "NEW"))
    assert report(sync, order_report("web_Kl12", 4_000_000_106, "EXPIRED"))

    assert [(r.levelname, r.getMessage()[:40]) for r in caplog.records] == [
        ("INFO", "order BTCUSDT web_Ab12 was placed outsid"),
        ("WARNING", "BTCUSDT order web_Ab12 (id 4000000101) w"),
        ("WARNING", "BTCUSDT order web_Ab12 (id 4000000101) w"),
        ("WARNING", "BTCUSDT order web_Gh78 (id 4000000104) w"),
        ("INFO", "order BTCUSDT web_Kl12 was placed outsid"),
    ]
    assert caplog.records[-1].getMessage() == (
        "order BTCUSDT web_Kl12 was placed outside this daemon: left alone, its fills booked "
        "as outside:web_Kl12"
    )
    # NEW (web_Ab12), CANCELED (web_Gh78), NEW and EXPIRED (web_Kl12); fills are counted apart
    assert (sync.stats.outside_reports, sync.stats.outside_fills) == (4, 3)
    assert len(emitted) == 3  # the fills' events only


async def test_a_hand_order_the_stream_named_is_not_named_again_by_the_reconciliation(caplog):
    sync = venue_sync(RestingHandOrders(), [])
    caplog.set_level(logging.INFO, logger="gateway.venue_sync")
    report(sync, order_report("web_Gh78", 4_000_000_104, "NEW"))

    await sync.reconcile("periodic")  # lists web_Gh78 resting and the algo order web_Ij90

    assert [r.getMessage() for r in caplog.records if "web_" in r.getMessage()] == [
        "order BTCUSDT web_Gh78 was placed outside this daemon: left alone, its fills booked "
        "as outside:web_Gh78",
        "open algo order BTCUSDT web_Ij90 is not ours (by hand, another program): left alone",
    ]


async def test_a_resting_hand_order_is_named_at_info_whichever_path_hears_of_it_first(caplog):
    """Once, at INFO, by the reconciliation that lists it resting or by the stream's report,
    whichever comes first. Before: the reconciliation's line was a WARNING, the stream's an
    INFO, for the same order in the same state."""
    caplog.set_level(logging.INFO, logger="gateway.venue_sync")
    listed_first = venue_sync(RestingHandOrders(), [])
    await listed_first.reconcile("periodic")  # web_Gh78 and the algo order web_Ij90 resting
    report(listed_first, order_report("web_Gh78", 4_000_000_104, "CANCELED"))
    reported_first = venue_sync(RestingHandOrders(), [])
    report(reported_first, order_report("web_Gh78", 4_000_000_104, "NEW"))
    await reported_first.reconcile("periodic")

    assert [(r.levelname, r.getMessage()) for r in caplog.records if "web_" in r.getMessage()] == [
        ("INFO", "open order BTCUSDT web_Gh78 is not ours (by hand, another program): left "
                 "alone, its fills booked as outside:web_Gh78"),
        ("INFO", "open algo order BTCUSDT web_Ij90 is not ours (by hand, another program): "
                 "left alone"),
        ("INFO", "order BTCUSDT web_Gh78 was placed outside this daemon: left alone, its fills "
                 "booked as outside:web_Gh78"),
        ("INFO", "open algo order BTCUSDT web_Ij90 is not ours (by hand, another program): "
                 "left alone"),
    ]  # fmt: skip


def test_a_report_of_an_untracked_id_this_daemon_issues_is_left_to_warn_about(caplog):
    sync = venue_sync(Account(), [])
    caplog.set_level(logging.INFO, logger="gateway.venue_sync")

    assert report(sync, order_report("rs-q0q0q0-7", 4_000_000_107, "CANCELED")) is False
    assert caplog.records == [] and sync.stats.outside_reports == 0


def test_the_named_hand_orders_are_bounded_the_least_recently_reported_forgotten(
    caplog, monkeypatch
):
    monkeypatch.setattr(outside_orders_module, "OUTSIDE_MEMORY", 2)
    sync = venue_sync(Account(), [])
    caplog.set_level(logging.INFO, logger="gateway.venue_sync")

    for cid, order_id in (("web_1", 1), ("web_2", 2), ("web_1", 1), ("web_3", 3)):
        report(sync, order_report(cid, order_id, "NEW"))
    report(sync, order_report("web_1", 1, "CANCELED"))  # reported since web_2: remembered
    report(sync, order_report("web_2", 2, "CANCELED"))  # forgotten for web_3: named again

    assert [r.getMessage().split()[2] for r in caplog.records] == [
        "web_1", "web_2", "web_3", "web_2"
    ]  # fmt: skip


class Queried(Account):
    """The account, with `GET /fapi/v1/order` answering each order as it stands in `status`
    (status, executed quantity of the 0.010 ordered) or failing (-1001) for those in `down`."""

    def __init__(self, status: dict[int, tuple[str, str]]) -> None:
        super().__init__()
        self.status = status
        self.down: set[int] = set()

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method != "futures_get_order":
            return await super().call(method, **kw)
        oid = kw["orderId"]
        self.orders_asked.append(oid)
        if oid in self.down:
            raise RetryableError("-1001 Internal error; unable to process your request.")
        status, executed = self.status[oid]
        return {"symbol": SYMBOL, "clientOrderId": self.cids[oid], "orderId": oid,
                "side": "BUY", "type": "LIMIT", "origQty": "0.010", "executedQty": executed,
                "status": status, "price": "60000.0", "avgPrice": "60000.0",
                "updateTime": T + 2_000}  # fmt: skip


def kinds(events: list[Event]) -> list[tuple[str, int, Decimal]]:
    return [
        (type(e).__name__, e.fill.trade_id, e.cumulative_qty)
        for e in events
        if isinstance(e, OrderPartiallyFilled | OrderFilled)
    ]


async def test_a_hand_order_filled_while_the_stream_was_lost_ends_with_order_filled(tmp_path):
    """web_Ab12 filled in two trades (0.004 + 0.006 of 0.010) the stream never brought; the
    reconciliation reads both, asks for the order (FILLED, 0.010 executed): the second is the
    one that completed it. The books and the journal book the same money as if both were
    partial fills: wallet 10000 - 0.048 - 0.072, position 0.010 @ 60000.0, fees 0.12."""
    rest = Queried({ORDER_AB: ("FILLED", "0.010")})
    rest.rows = rest.rows[:2]  # web_Ab12's two fills only
    emitted: list[Event] = []
    sync = venue_sync(rest, emitted)

    await sync.reconcile("reconnect")

    assert kinds(emitted) == [
        ("OrderPartiallyFilled", 101, D("0.004")),
        ("OrderFilled", 102, D("0.010")),
    ]
    fills = [e for e in emitted if isinstance(e, OrderPartiallyFilled | OrderFilled)]
    as_partial = [
        OrderPartiallyFilled(
            event_time_ms=e.event_time_ms, recv_time_ms=e.recv_time_ms, fill=e.fill,
            cumulative_qty=e.cumulative_qty, avg_price=e.avg_price,
        )
        for e in fills
    ]  # fmt: skip
    booked = []
    for n, events in enumerate((fills, as_partial)):
        books = book()
        journal = SqliteJournal(tmp_path / f"journal{n}")
        for event in events:
            books.apply(event)
            journal.record(event)
        journal.flush()
        position = books.position(SYMBOL)
        booked.append(
            (books.wallet(), books.realized_pnl, books.fees, position.qty, position.entry_price,
             books.fill_count, books.rejected_events, journal.load_fills())
        )  # fmt: skip
        journal.close()
    assert booked[0] == booked[1]
    assert booked[0][:6] == (
        D("10000") - D("0.048") - D("0.072"), D(0), {"USDT": D("0.12")}, D("0.010"),
        D("60000.0"), 2,
    )  # fmt: skip
    assert [f.client_order_id for f in booked[0][7]] == ["outside:web_Ab12"] * 2


async def test_a_hand_order_partly_filled_on_the_stream_is_asked_for_when_its_rest_was_lost():
    """The stream brought web_Ab12's first fill (PARTIALLY_FILLED) and lost the second: the
    order is asked for (it may have filled since: FILLED); its fills booked 0.004 + read 0.006
    make the 0.010 executed: the second completed it."""
    rest = Queried({ORDER_AB: ("FILLED", "0.010")})
    rest.rows = rest.rows[:2]
    emitted: list[Event] = []
    sync = venue_sync(rest, emitted)
    stream(sync, HAND_FILLS[0])

    await sync.reconcile("reconnect")

    assert kinds(emitted) == [
        ("OrderPartiallyFilled", 101, D("0.004")),
        ("OrderFilled", 102, D("0.010")),
    ]
    assert rest.orders_asked == [ORDER_AB]


async def test_a_hand_fill_stays_partial_when_the_order_is_open_or_its_fills_not_all_known():
    """web_Ab12 FILLED but its first fill is before the trades read (last trade id 101): the
    0.006 read does not make the 0.010 executed, which fill completed it is not known; web_Cd34
    (trade 103) still PARTIALLY_FILLED; web_Ef56's query fails. Each stays partial, and each is
    booked all the same."""
    rest = Queried({ORDER_AB: ("FILLED", "0.010"), ORDER_CD: ("PARTIALLY_FILLED", "0.005")})
    rest.down.add(ORDER_EF)
    emitted: list[Event] = []
    sync = venue_sync(rest, emitted)
    sync.last_trade_ids[SYMBOL] = 101

    await sync.reconcile("reconnect")

    assert kinds(emitted) == [
        ("OrderPartiallyFilled", 102, D("0.006")),
        ("OrderPartiallyFilled", 103, D("0.005")),
    ]
    assert sync.stats.foreign_trades == 1  # web_Ef56's fill: its order unreadable, not booked


async def test_a_known_hand_order_whose_query_fails_is_still_booked_as_outside():
    rest = Queried({})
    rest.rows = rest.rows[:2]
    rest.down.add(ORDER_AB)
    emitted: list[Event] = []
    sync = venue_sync(rest, emitted)
    stream(sync, HAND_FILLS[0])

    await sync.reconcile("reconnect")

    assert kinds(emitted) == [
        ("OrderPartiallyFilled", 101, D("0.004")),
        ("OrderPartiallyFilled", 102, D("0.010")),
    ]
    assert rest.orders_asked == [ORDER_AB] and sync.stats.foreign_trades == 0
