"""A restart books the fills made while the daemon was down of orders it never knew (placed
by hand, by an earlier journal) on a traded symbol with no journaled fill, so the books' realized
PnL, fees, wallet and position equal the exchange's. Against the real local exchange: the
daemon's restart simulated in-process (the journal closed, its books restored into a new
BookKeeper, the venue restored from it, as `trading_engine/daemon.py` does).

Before: a symbol without a journaled fill had its fills read from its latest trade on (all it
traded while the daemon was down skipped), and a userTrades fill of an order that is neither
ours nor the exchange's own was never booked; the start-up snapshot then put the position in
the books without its realized PnL or fees, and the wallet as a difference.
"""

import asyncio
import logging
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from book_keeper.book_keeper import BookKeeper
from book_keeper.journal import SqliteJournal
from core.clock import LiveClock, SimClock
from core.errors import RetryableError
from core.events import OrderFilled, OrderPartiallyFilled
from gateway.order_tracker import OrderTracker
from gateway.venue_stats import VenueStats
from gateway.venue_sync import TRADES_SETTLE_MS, VenueSync, restart_trades_since
from tests.book_keeper.support import instruments
from tests.gateway.venue_harness import FAST, SYMBOL, session, start_exchange

pytestmark = pytest.mark.asyncio(loop_scope="module")

D = Decimal
CONFIG = replace(FAST, client_id_prefix="rs", journal_events=True)
# By hand on the website (web_...) and by this daemon under an earlier journal (rs-<tag>-<n>).
WHILE_DOWN = (
    ("BUY", "0.003", "web_Ab12"),
    ("SELL", "0.001", "web_Cd34"),
    ("SELL", "0.001", "rs-q0q0q0-7"),
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ex():
    exchange = await start_exchange()
    yield exchange
    await exchange.stop()


def _books(ex: Any) -> BookKeeper:
    return BookKeeper(
        starting_balances=None, instruments={SYMBOL: ex.instruments[SYMBOL]}, clock=LiveClock()
    )


async def _restart(ex: Any, creds: Any, path: Path) -> tuple[BookKeeper, list[Any], SqliteJournal]:
    """The daemon's start on its journal: books restored, the venue restored (the journal's
    last record: `outside_since_ms`), started; what it emits is booked and journaled. Returns
    the books, the events and the journal (closed)."""
    journal = SqliteJournal(path)
    try:
        books = _books(ex)
        replay = books.restore(journal)
        last = replay.last_record_ms(journal)
        async with session(ex, creds=creds, config=CONFIG, journal=journal, start=False) as s:
            tid = journal.last_trade_id(SYMBOL)
            s.venue.restore(
                journal.open_orders(),
                trade_ids=journal.open_order_trade_ids(),
                last_trade_ids={SYMBOL: tid} if tid else {},
                funding_since_ms=last,
                funding_booked=books.funding_settlements,
                outside_since_ms=last,
                seen_trade_ids=journal.last_snapshot_trade_ids(),
                seen_until_ms=journal.last_exchange_ms(),
                taken_over=journal.taken_over_qtys(),
            )
            await s.venue.start()
            events = list(s.rec.events)
            for event in events:
                books.apply(event)
        journal.flush()
        return books, events, journal
    finally:
        journal.close()


async def test_fills_of_orders_never_known_made_while_down_are_booked_at_restart(
    ex, tmp_path: Path, caplog
):
    creds = ex.create_account()
    account = str(creds.account_id)
    path = tmp_path / "journal"
    # The first run: a start and a clean stop, no trade (BTCUSDT has no journaled fill).
    journal = SqliteJournal(path)
    async with session(ex, creds=creds, config=CONFIG, journal=journal):
        pass
    journal.close()
    # While it is down (half a second on: the last record's time is our estimate of the
    # exchange's clock, a few ms off): three market orders it never knew fill.
    await asyncio.sleep(0.5)
    for side, qty, cid in WHILE_DOWN:
        ex.engine.new_order(
            account,
            {"symbol": SYMBOL, "side": side, "type": "MARKET", "quantity": qty,
             "newClientOrderId": cid},
        )  # fmt: skip
    ex.flush_user_events()  # sent now, to no socket: the restart's stream must not bring them

    with caplog.at_level(logging.WARNING, logger="gateway.venue_sync"):
        books, events, journal = await _restart(ex, creds, path)

    # The exchange's own record: its fills (userTrades) and its wallet, position.
    rows = ex.engine.user_trades(account, {"symbol": SYMBOL, "limit": "1000"})
    assert len(rows) >= 3  # each order one fill or more (the book's levels)
    realized = sum((D(r["realizedPnl"]) for r in rows), D(0))
    fees = sum((D(r["commission"]) for r in rows), D(0))
    [usdt] = [b for b in ex.engine.balance(account, {}, version=3) if b["asset"] == "USDT"]
    position = sum(
        (
            D(p["positionAmt"])
            for p in ex.engine.position_risk(account, {"symbol": SYMBOL}, version=3)
        ),
        D(0),
    )
    fills = [e for e in events if isinstance(e, OrderPartiallyFilled | OrderFilled)]
    booked = [e.fill for e in fills]
    assert sorted(f.trade_id for f in booked) == sorted(int(r["id"]) for r in rows)
    assert {f.client_order_id for f in booked} == {f"outside:{cid}" for *_, cid in WHILE_DOWN}
    # Each order filled whole while down (the exchange says FILLED, all its fills read): its
    # last fill is OrderFilled, as the stream would have said, the others partial.
    last = {int(r["orderId"]): int(r["id"]) for r in sorted(rows, key=lambda r: int(r["id"]))}
    assert [(e.fill.trade_id, type(e)) for e in fills] == [
        (int(r["id"]), OrderFilled if int(r["id"]) in last.values() else OrderPartiallyFilled)
        for r in sorted(rows, key=lambda r: int(r["id"]))
    ]
    assert position == D("0.001") == books.position(SYMBOL).qty
    assert books.realized_pnl == realized
    assert books.fees == {"USDT": fees} and fees > 0
    assert books.wallet() == D(usdt["balance"]) == D(10_000) + realized - fees
    assert books.differences == 0  # nothing adopted: the fills explain the snapshot
    assert journal.unknown_order_events == 0  # stored as fills of no order row, said nowhere
    said = [
        r.getMessage()
        for r in caplog.records
        if "filled while the daemon was down" in r.getMessage()
    ]
    assert len(said) == 3 and any(
        "web_Ab12" in m and "booked as outside:web_Ab12" in m for m in said
    )

    # A second start on the same journal: the fills come back from it, each booked once.
    again, events, _ = await _restart(ex, creds, path)
    assert not [e for e in events if isinstance(e, OrderPartiallyFilled | OrderFilled)]
    assert (again.realized_pnl, again.fees["USDT"], again.wallet()) == (
        realized,
        fees,
        D(usdt["balance"]),
    )
    assert again.position(SYMBOL).qty == position and again.differences == 0


async def test_a_fill_after_the_stop_behind_a_last_record_on_a_clock_ahead_is_booked(ex, tmp_path):
    """The first run starts and stops (its snapshot: read up to the account's trade id 0); a
    hand order fills at once after; the journal's last record is a balance snapshot on a
    clock 1.5 s ahead, after the fill. The restart books the fill (its trade id is past the
    snapshot's, nothing the exchange stamped reached the daemon after it): the books' realized
    PnL, fee, wallet and position are the exchange's, no difference. Before, the fill was
    'seen' (before the last record) and its position adopted without its fee."""
    creds = ex.create_account()
    account = str(creds.account_id)
    path = tmp_path / "journal"
    journal = SqliteJournal(path)
    async with session(ex, creds=creds, config=CONFIG, journal=journal):
        pass
    journal.close()
    ex.engine.new_order(
        account,
        {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.002",
         "newClientOrderId": "web_Ef56"},
    )  # fmt: skip
    ex.flush_user_events()  # sent now, to no socket: the restart's stream must not bring it
    rows = ex.engine.user_trades(account, {"symbol": SYMBOL, "limit": "1000"})
    journal = SqliteJournal(path)  # the last record: 1.5 s after the fill, on our clock
    wallet = D(10_000)
    last = max(int(r["time"]) for r in rows) + 1_500
    journal.snapshot(time_ms=last, equity=wallet, wallet=wallet, unrealized_pnl=D(0))
    journal.close()

    books, events, journal = await _restart(ex, creds, path)

    fees = sum((D(r["commission"]) for r in rows), D(0))
    [usdt] = [b for b in ex.engine.balance(account, {}, version=3) if b["asset"] == "USDT"]
    booked = [e.fill for e in events if isinstance(e, OrderPartiallyFilled | OrderFilled)]
    assert sorted(f.trade_id for f in booked) == sorted(int(r["id"]) for r in rows)
    assert {f.client_order_id for f in booked} == {"outside:web_Ef56"}
    assert books.position(SYMBOL).qty == D("0.002")
    assert books.fees == {"USDT": fees} and fees > 0
    assert books.wallet() == D(usdt["balance"]) == wallet - fees
    assert books.differences == 0


async def test_a_last_record_dated_on_a_clock_minutes_ahead_leaves_the_restarts_window_valid(
    ex, tmp_path
):
    """The first run starts and stops; a hand order fills after; the journal's last record is
    a balance snapshot dated 2 min after the exchange's clock now (written on an offset that
    was 2 min ahead, measured again since). The restart reads the fill and books it. Before,
    its fills by time were asked from TRADES_SETTLE_MS before that record, after the window's
    end (now): the exchange answered -1023 and the start failed, as every start after it
    would have until our clock caught up with the record."""
    creds = ex.create_account()
    account = str(creds.account_id)
    path = tmp_path / "journal"
    journal = SqliteJournal(path)
    async with session(ex, creds=creds, config=CONFIG, journal=journal):
        pass
    journal.close()
    ex.engine.new_order(
        account,
        {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.002",
         "newClientOrderId": "web_Gh78"},
    )  # fmt: skip
    ex.flush_user_events()  # sent now, to no socket: the restart's stream must not bring it
    rows = ex.engine.user_trades(account, {"symbol": SYMBOL, "limit": "1000"})
    journal = SqliteJournal(path)
    wallet = D(10_000)
    ahead = ex.now_ms() + 2 * TRADES_SETTLE_MS
    journal.snapshot(time_ms=ahead, equity=wallet, wallet=wallet, unrealized_pnl=D(0))
    journal.close()

    books, events, journal = await _restart(ex, creds, path)

    fees = sum((D(r["commission"]) for r in rows), D(0))
    booked = [e.fill for e in events if isinstance(e, OrderPartiallyFilled | OrderFilled)]
    assert sorted(f.trade_id for f in booked) == sorted(int(r["id"]) for r in rows)
    assert {f.client_order_id for f in booked} == {"outside:web_Gh78"}
    assert books.position(SYMBOL).qty == D("0.002")
    assert books.fees == {"USDT": fees} and fees > 0
    assert books.wallet() == wallet - fees and books.differences == 0


async def test_a_restart_window_after_a_record_ahead_begins_before_the_last_exchange_stamp():
    """A record later than now: the window begins TRADES_SETTLE_MS before the earlier of now
    and the latest time the exchange stamped on what the daemon received (fills made while
    it was down, minutes before now, are in it); otherwise TRADES_SETTLE_MS before the
    record, as ever."""
    now = T0 + 600_000
    assert restart_trades_since(T0, T0 - 5_000, now) == T0 - TRADES_SETTLE_MS
    assert restart_trades_since(now + 120_000, T0, now) == T0 - TRADES_SETTLE_MS
    assert restart_trades_since(now + 120_000, None, now) == now - TRADES_SETTLE_MS
    assert restart_trades_since(now + 1, now + 5_000, now) == now - TRADES_SETTLE_MS


# --- userTrades' 7-day window and pages, on a fake endpoint ----------------------------------

DAY = 24 * 3_600_000
T0 = 1_723_075_200_000  # 2024-08-08 00:00 UTC: the journal's last record


class TradesFeed:
    """`GET /fapi/v1/userTrades` as the reference has it (6.9): fromId, or startTime/endTime at
    most 7 days apart (-4165 beyond; startTime alone: the 7 days from it), `limit` rows from
    the front; `GET /fapi/v1/order` by order id; an empty account otherwise."""

    def __init__(self, fills: list[tuple[int, int, str, str]], clock: SimClock) -> None:
        self.clock = clock  # the exchange's (the reconciliation reads the time from it)
        # (trade id, time, order's client id, qty): BUYs at 60000.0, 0.02 % fee
        self.rows = [
            {"symbol": SYMBOL, "id": tid, "orderId": 900 + int(qty[-1]), "side": "BUY",
             "price": "60000.0", "qty": qty, "realizedPnl": "0",
             "commission": str(D("60000.0") * D(qty) * D("0.0002")), "commissionAsset": "USDT",
             "maker": True, "time": t, "positionSide": "BOTH"}
            for tid, t, _, qty in fills
        ]  # fmt: skip
        self.cids = {900 + int(qty[-1]): cid for _, _, cid, qty in fills}
        self.asked: list[tuple[int | None, int | None, int | None]] = []

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == "futures_account_trades":
            start, end, from_id = kw.get("startTime"), kw.get("endTime"), kw.get("fromId")
            self.asked.append((start, end, from_id))
            if start is not None and end is not None and end - start > 7 * DAY:
                raise AssertionError("-4165 Maximum time interval is 7 days")
            if start is not None and end is None:
                end = start + 7 * DAY
            rows = [
                r for r in self.rows
                if (from_id is None or r["id"] >= from_id)
                and (start is None or start <= r["time"] <= end)
            ]  # fmt: skip
            return rows[: kw["limit"]]
        if method == "futures_get_order":
            oid = kw["orderId"]
            return {"symbol": SYMBOL, "clientOrderId": self.cids[oid], "orderId": oid,
                    "side": "BUY", "type": "LIMIT", "origQty": "1", "executedQty": "1",
                    "status": "FILLED", "price": "60000.0", "avgPrice": "60000.0",
                    "updateTime": 0}  # fmt: skip
        if method == "futures_account":
            return {"assets": [], "positions": []}
        return []  # open orders, open algo orders, positions: none


async def test_a_restart_after_nine_days_down_reads_every_7_day_window_and_every_page():
    """Down from T0 to T0 + 9 days: fills by hand at T0 + 1 h (first window) and at T0 + 8 and
    8.5 days (second window), 2 rows a page. Asked from its start alone, the second window
    was never read; each window is asked with its end, pages go on by trade id."""
    fills = [
        (11, T0 + 3_600_000, "web_a1", "0.001"),
        (12, T0 + 8 * DAY, "web_b2", "0.002"),
        (13, T0 + 8 * DAY + 1, "web_b2", "0.002"),
        (14, T0 + 8 * DAY + DAY // 2, "web_c3", "0.003"),
    ]
    clock = SimClock(T0 + 9 * DAY)
    feed = TradesFeed(fills, clock)
    emitted: list[Any] = []
    sync = VenueSync(
        rest=feed,  # type: ignore[arg-type]
        tracker=OrderTracker(),
        symbols=(SYMBOL,),
        instruments=instruments(),
        clock=clock,
        stats=VenueStats(),
        on_applied=lambda applied: None,
        emit=emitted.extend,
        follow_up=lambda t: None,
        resolve=lambda t: None,
        trades_page_limit=2,
    )
    # As `LiveVenue.restore(outside_since_ms=T0)` leaves it for a symbol with no journaled fill
    sync.outside_since_ms = T0
    sync.last_trade_ids[SYMBOL] = 0
    sync.trades_since_ms[SYMBOL] = T0 - TRADES_SETTLE_MS

    await sync.reconcile("start")

    booked = [
        (e.fill.trade_id, e.fill.client_order_id)
        for e in emitted
        if isinstance(e, OrderPartiallyFilled)
    ]
    assert booked == [
        (11, "outside:web_a1"),
        (12, "outside:web_b2"),
        (13, "outside:web_b2"),
        (14, "outside:web_c3"),
    ]
    start = T0 - TRADES_SETTLE_MS
    assert feed.asked == [
        (start, start + 7 * DAY, None),  # the first window: trade 11 (a page of 1)
        (None, None, 12),  # on by trade id: 12, 13 (a full page)
        (None, None, 14),  # 14 (less than a page: caught up)
    ]
    assert sync.last_trade_ids[SYMBOL] == 14 and sync.stats.outside_fills == 4


# --- an earlier journal's order still open at the restart ------------------------------------

EARLIER = "rs-q0q0q0-7"  # this daemon's prefix, another journal's tag


class AdoptFeed:
    """An account with one open order of an earlier journal: EARLIER, a LIMIT SELL 0.005 @
    61000.0 (order 901) closing a long entered at 60000.0, 0.004 of it filled in `fills`
    ((trade id, time, qty), 0.02 % maker fee); its userTrades rows, fromId or by time."""

    def __init__(self, fills: list[tuple[int, int, str]], clock: SimClock) -> None:
        self.clock = clock  # the exchange's (the reconciliation reads the time from it)
        self.rows = [
            {"symbol": SYMBOL, "id": tid, "orderId": 901, "side": "SELL", "price": "61000.0",
             "qty": qty, "realizedPnl": str(D(qty) * D(1000)),
             "commission": str(D("61000.0") * D(qty) * D("0.0002")), "commissionAsset": "USDT",
             "maker": True, "time": t, "positionSide": "BOTH"}
            for tid, t, qty in fills
        ]  # fmt: skip
        self.order = {"symbol": SYMBOL, "clientOrderId": EARLIER, "orderId": 901,
                      "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "origQty": "0.005",
                      "executedQty": "0.004", "status": "PARTIALLY_FILLED", "price": "61000.0",
                      "avgPrice": "61000.0", "updateTime": fills[-1][1]}  # fmt: skip

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == "futures_account_trades":
            start, from_id = kw.get("startTime"), kw.get("fromId")
            if start is None and from_id is None and "orderId" not in kw:
                return self.rows[-kw["limit"] :]  # the latest (a fresh start's baseline)
            return [
                r for r in self.rows
                if (from_id is None or r["id"] >= from_id)
                and (start is None or start <= r["time"] <= kw["endTime"])
            ][: kw["limit"]]  # fmt: skip
        if method == "futures_get_open_orders":
            return [self.order]
        if method == "futures_account":
            return {"assets": [], "positions": []}
        return []  # open algo orders, positions, income: none


def _sync(feed: Any, clock: SimClock, emitted: list[Any]) -> VenueSync:
    """A VenueSync on `feed` whose events, emitted or applied to an order, go to `emitted`
    (as `LiveVenue` emits both)."""
    return VenueSync(
        rest=feed,
        tracker=OrderTracker(),
        symbols=(SYMBOL,),
        instruments=instruments(),
        clock=clock,
        stats=VenueStats(),
        on_applied=lambda applied: emitted.extend(applied[1] if applied else ()),
        emit=emitted.extend,
        follow_up=lambda t: None,
        resolve=lambda t: None,
        client_id_prefix="rs",
    )


async def test_an_earlier_journals_order_still_open_has_its_fills_made_while_down_booked():
    """The journal's last record at T0 (its last fill: trade 20). EARLIER filled 0.001 at
    T0 - 5 s (trade 21: while a daemon ran, in the books by its account update), then 0.002
    and 0.001 at T0 + 1 and + 2 min (trades 22, 23: while none ran) and rests with 0.001 to
    go. Trades 22 and 23 are booked under outside:EARLIER with the exchange's realized PnL
    (0.002 x (61000.0 - 60000.0) = 2.0, then 1.0) and fee (0.02 % of 122.0 = 0.0244, of
    61.0 = 0.0122); trade 21 is not. The order is tracked as ours, filled 0.004, each of the
    three counted as seen on it: read again (its fills fetched), none is reported. Before,
    the three came out as EARLIER's own fills on top of the 0.004 (cumulative 0.005 to 0.008),
    before the snapshot that adopts it (of an order the books did not know yet: not
    booked), and the position was adopted without their realized PnL or fees."""
    feed = AdoptFeed([(21, T0 - 5_000, "0.001"), (22, T0 + 60_000, "0.002"),
                      (23, T0 + 120_000, "0.001")], SimClock(T0 + 180_000))  # fmt: skip
    emitted: list[Any] = []
    sync = _sync(feed, feed.clock, emitted)
    sync.outside_since_ms = T0  # as `LiveVenue.restore(outside_since_ms=T0)` leaves it
    sync.last_trade_ids[SYMBOL] = 20

    snapshot = await sync.reconcile("start")

    booked = [
        (e.fill.trade_id, e.fill.client_order_id, e.cumulative_qty, e.fill.realized_pnl,
         e.fill.commission)
        for e in emitted
        if isinstance(e, OrderPartiallyFilled | OrderFilled)
    ]  # fmt: skip
    assert booked == [
        (22, f"outside:{EARLIER}", D("0.002"), D("2.0"), D("0.0244")),
        (23, f"outside:{EARLIER}", D("0.003"), D("1.0"), D("0.0122")),
    ]
    assert snapshot.adopted == (EARLIER,) and emitted[-1] is snapshot
    tracked = sync.tracker.get(EARLIER)
    assert tracked is not None and tracked.fill_qty == D("0.004")
    assert tracked.trade_ids == {21, 22, 23}
    assert sync.stats.outside_fills == 2 and sync.last_trade_ids[SYMBOL] == 23
    emitted.clear()
    await sync.fetch_fills(tracked)  # all of order 901's rows again
    assert emitted == []


async def test_an_earlier_journals_order_adopted_on_a_new_journal_books_no_fill():
    """A first start (no journal record: no `outside_since_ms`, no trade id): EARLIER's fills
    so far were that journal's; read again (here by a fetch of its fills), none is reported
    as ours. (The start reads its baseline itself, the latest trade; it used to be preset
    here to the one before EARLIER's fills, which a start no longer reads past: a pass from
    such a baseline is a running one, which books the fills no stream report brought.)"""
    feed = AdoptFeed(
        [(21, T0 - 5_000, "0.001"), (22, T0 + 60_000, "0.003")], SimClock(T0 + 180_000)
    )
    emitted: list[Any] = []
    sync = _sync(feed, feed.clock, emitted)

    snapshot = await sync.reconcile("start")
    tracked = sync.tracker.get(EARLIER)
    assert tracked is not None
    await sync.fetch_fills(tracked)

    assert snapshot.adopted == (EARLIER,) and sync.last_trade_ids == {SYMBOL: 22}
    assert [e for e in emitted if isinstance(e, OrderPartiallyFilled | OrderFilled)] == []
    assert sync.stats.outside_fills == 0


class FailingIncome(AdoptFeed):
    """AdoptFeed whose first income read fails (the last read of a fresh start's pass), and
    where a hand order (web_h1, order 902) can be looked up."""

    failed = False

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == "futures_income_history" and not self.failed:
            self.failed = True
            raise RetryableError("HTTP 503")
        if method == "futures_get_order" and kw.get("orderId") == 902:
            return {**self.order, "clientOrderId": "web_h1", "orderId": 902,
                    "side": "BUY", "origQty": "0.001", "executedQty": "0.001",
                    "status": "FILLED"}  # fmt: skip
        return await super().call(method, **kw)


async def test_a_fresh_start_whose_pass_failed_reads_its_baseline_again():
    """A fresh start's baseline counts once its pass got through: after a failed one, the
    next reads it again. A fill made in between (a hand order's, trade 23) is in that pass's
    reads of the position and wallet, which the books start from: booked as well, it would
    count twice. Before, the failed pass's baseline (22) stood and 23 was booked."""
    feed = FailingIncome([(21, T0 - 5_000, "0.001"), (22, T0, "0.003")], SimClock(T0 + 1_000))
    emitted: list[Any] = []
    sync = _sync(feed, feed.clock, emitted)
    sync.funding_since_ms = T0

    with pytest.raises(RetryableError):
        await sync.reconcile("start")
    feed.rows.append({**feed.rows[-1], "id": 23, "orderId": 902, "side": "BUY", "time": T0 + 500})
    await sync.reconcile("start")

    assert sync.last_trade_ids == {SYMBOL: 23}
    assert [e for e in emitted if isinstance(e, OrderPartiallyFilled | OrderFilled)] == []


# --- which fills the daemon before the restart had: by the exchange's ids and times -----------


def _seen_sync(feed: TradesFeed, emitted: list[Any]) -> VenueSync:
    sync = _sync(feed, feed.clock, emitted)
    sync.last_trade_ids[SYMBOL] = 10  # the journal's last fill
    sync.outside_since_ms = T0 + 1_500  # its last record: our clock was 1.5 s ahead
    return sync


async def test_a_fill_after_the_stop_within_our_clocks_error_of_the_last_record_is_booked():
    """The daemon's last reconciliation read up to trade 11 (its snapshot's trade ids); the
    last the exchange stamped on what it received was an account update at T0. web_b2's
    fill 12 (T0 - 2 s) was in that update: in the books. web_c3's fill 13 at T0 + 1 s came
    after the daemon stopped, but before the journal's last record (T0 + 1.5 s, a balance
    snapshot on our clock, 1.5 s ahead): booked. Before, 'seen' was a time at most the last
    record, and fill 13 was adopted without its fee."""
    fills = [
        (11, T0 - 5_000, "web_a1", "0.001"),
        (12, T0 - 2_000, "web_b2", "0.002"),
        (13, T0 + 1_000, "web_c3", "0.003"),
    ]
    feed = TradesFeed(fills, SimClock(T0 + 60_000))
    emitted: list[Any] = []
    sync = _seen_sync(feed, emitted)
    sync.seen_trade_ids = {SYMBOL: 11}
    sync.seen_until_ms = T0

    await sync.reconcile("start")

    booked = [
        (e.fill.trade_id, e.fill.client_order_id, e.fill.commission)
        for e in emitted
        if isinstance(e, OrderPartiallyFilled)
    ]
    assert booked == [(13, "outside:web_c3", D("60000.0") * D("0.003") * D("0.0002"))]
    assert sync.stats.outside_fills == 1 and sync.stats.foreign_trades == 2


async def test_a_fill_a_snapshot_adopted_is_not_booked_again_whatever_its_time():
    """Trade 12 reached the books by the last snapshot (its trade ids: up to 12), not by an
    account update (the stream was down): not booked again, though the last time the
    exchange stamped on what the daemon received (T0 - 10 s) is before it."""
    fills = [(12, T0 - 2_000, "web_b2", "0.002"), (13, T0 + 1_000, "web_c3", "0.003")]
    feed = TradesFeed(fills, SimClock(T0 + 60_000))
    emitted: list[Any] = []
    sync = _seen_sync(feed, emitted)
    sync.seen_trade_ids = {SYMBOL: 12}
    sync.seen_until_ms = T0 - 10_000

    await sync.reconcile("start")

    booked = [e.fill.trade_id for e in emitted if isinstance(e, OrderPartiallyFilled)]
    assert booked == [13]


async def test_a_journal_from_before_the_snapshots_trade_ids_goes_by_the_last_records_time():
    """No trade ids in its last snapshot: a fill at most the last record's time (T0 + 1.5 s)
    counts as in the books, as before (fill 13 at T0 + 1 s is not booked, 14 is)."""
    fills = [(13, T0 + 1_000, "web_c3", "0.003"), (14, T0 + 2_000, "web_d4", "0.004")]
    feed = TradesFeed(fills, SimClock(T0 + 60_000))
    emitted: list[Any] = []
    sync = _seen_sync(feed, emitted)
    sync.seen_until_ms = T0  # ignored without the ids

    await sync.reconcile("start")

    booked = [e.fill.trade_id for e in emitted if isinstance(e, OrderPartiallyFilled)]
    assert booked == [14]
