"""An exchange account that changed under the venue: reset (the local exchange restarted on the
same port with the same key, as a Binance testnet reset) or another account's keys at a
restart. Against the real local exchange.

Before: the reconciliation read userTrades from the last trade id known + 1; a reset account
had nothing there (its fills start again at the first ids) and its fills on the stream reused
trade ids the books held, which they dropped as booked already: the books drifted from the
exchange without a word. Now each read by trade id starts at the last fill known and must find
it; when it does not, the pass fails with AccountChanged naming that fill, no snapshot of the
other account is emitted, and the venue's owner is told (`on_account_changed`).
"""

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from core.clock import SimClock
from core.events import OrderFilled, VenueSnapshot
from exchange_sim.server import LocalExchange
from exchange_sim.server.auth import random_token
from gateway.order_tracker import OrderTracker
from gateway.venue_stats import VenueStats
from gateway.venue_sync import (
    TRADES_SETTLE_MS,
    AccountChanged,
    KnownTrade,
    NotServedYet,
    VenueSync,
)
from tests.book_keeper.support import instruments
from tests.gateway.venue_harness import (
    DATASET,
    FAST,
    GENEROUS,
    SYMBOL,
    session,
    start_exchange,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

T = 1_723_075_200_000  # 2024-08-08 00:00 UTC


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ex():
    exchange = await start_exchange()
    yield exchange
    await exchange.stop()


async def _exchange(key: str, secret: str, port: int = 0) -> LocalExchange:
    return await LocalExchange(
        data=DATASET,
        symbols=[SYMBOL],
        speed=1.0,
        rate_limits=GENEROUS,
        port=port,
        api_key=key,
        api_secret=secret,
    ).start()


async def _one_fill(s) -> OrderFilled:
    request = s.market()
    s.venue.submit(request)
    filled: OrderFilled = await s.rec.wait_for(OrderFilled, request.client_order_id)
    return filled


async def test_an_exchange_restarted_under_a_running_venue_is_told_and_not_reconciled():
    key, secret = random_token(), random_token()
    ex = await _exchange(key, secret)
    told: list[AccountChanged] = []
    try:
        # a reconciliation each second, as the daemon's each minute: the reconnect's may fail
        # on a connection to the exchange that went away
        async with session(ex, creds=ex.demo, config=replace(FAST, reconcile_interval_s=1)) as s:
            s.venue.on_account_changed = told.append
            filled = await _one_fill(s)
            # its fill read back from userTrades by a reconciliation, as each minute
            await s.rec.until(lambda: SYMBOL in s.venue.sync.last_trades, within_s=15)
            port = ex.port
            stopped_ms = s.venue.clock.now_ms()
            await ex.stop()
            # The same URL, the same key: a new account, its ids from the first again.
            ex = await _exchange(key, secret, port)
            await s.rec.until(lambda: bool(told), within_s=15)

            # the new account not adopted: no pass begun since emitted its snapshot (one that
            # read the old account to the end may come later: the count taken here was once
            # taken within such a pass)
            since_restart = [n for n in s.rec.of(VenueSnapshot) if n.event_time_ms >= stopped_ms]
            assert since_restart == []
    finally:
        await ex.stop()
    fill = filled.fill
    assert str(told[0]) == (
        f"{SYMBOL}'s last fill known, trade {fill.trade_id} of order {fill.order_id} "
        f"({fill.qty} @ {fill.price}), is not among the account's trades: it lists no trade "
        "from that id on. The account was reset (a restarted local exchange, a testnet reset) "
        "or is another one; its fills reuse trade ids the books hold and would be dropped as "
        "booked already"
    )


async def test_an_order_on_an_exchange_restarted_before_any_fill_was_read_back_is_told():
    # No reconciliation read the fill back from userTrades (the first minute of a new
    # journal): nothing for the reconnect's pass to miss. The next order's id, the first the
    # new account gives, is the earlier order's.
    key, secret = random_token(), random_token()
    ex = await _exchange(key, secret)
    told: list[AccountChanged] = []
    try:
        async with session(ex, creds=ex.demo) as s:
            s.venue.on_account_changed = told.append
            first = await _one_fill(s)
            port = ex.port
            await ex.stop()
            ex = await _exchange(key, secret, port)
            await s.rec.until(lambda: s.venue.stream.connected.is_set(), within_s=15)
            request = s.market()
            s.venue.submit(request)
            await s.rec.until(lambda: bool(told), within_s=15)
    finally:
        await ex.stop()
    assert str(told[0]) == (
        f"{SYMBOL} order id {first.fill.order_id}, given to our order "
        f"{request.client_order_id}, is our earlier order {first.fill.client_order_id}'s: the "
        "exchange gives an id once. The account was reset (a restarted local exchange, a "
        "testnet reset) or is another one; its fills reuse trade ids the books hold and would "
        "be dropped as booked already"
    )


async def test_a_restart_with_another_accounts_last_fill_is_refused(ex):
    # The journal's last fill is account A's (made over a minute ago: userTrades serves it by
    # then); the keys now are account B's, which traded too.
    async with session(ex) as a:
        theirs = (await _one_fill(a)).fill
    theirs = replace(theirs, trade_time_ms=theirs.trade_time_ms - TRADES_SETTLE_MS - 1)
    async with session(ex) as b:
        await _one_fill(b)
        await _one_fill(b)
    async with session(ex, creds=b.creds, start=False) as restarted:
        restarted.venue.restore([], last_fills={SYMBOL: theirs})

        with pytest.raises(AccountChanged, match=f"trade {theirs.trade_id} of order"):
            await restarted.venue.start()

        assert restarted.rec.of(VenueSnapshot) == []


async def test_a_journals_fill_of_a_moment_ago_missing_is_asked_again_not_taken_for_a_reset(ex):
    # userTrades may not show a fill of a moment ago (heard on the stream, journaled, restart):
    # missing then, it is not yet a reset (the start may clear: exit 1, not 2).
    async with session(ex) as a:
        theirs = (await _one_fill(a)).fill
    async with session(ex, start=False) as restarted:
        restarted.venue.restore([], last_fills={SYMBOL: theirs})

        with pytest.raises(NotServedYet, match=f"trade {theirs.trade_id} of order .* s ago"):
            await restarted.venue.start()

        assert restarted.rec.of(VenueSnapshot) == []


async def test_a_restart_on_the_same_account_finds_its_last_fill_and_reads_on(ex):
    async with session(ex) as first:
        last = (await _one_fill(first)).fill
    async with session(ex, creds=first.creds) as other_run:  # a fill made while "down"
        later = (await _one_fill(other_run)).fill
    async with session(ex, creds=first.creds, start=False) as restarted:
        restarted.venue.restore([], last_fills={SYMBOL: last})

        await restarted.venue.start()

        assert restarted.venue.sync.last_trade_ids[SYMBOL] == later.trade_id
        assert restarted.venue.sync.last_trades[SYMBOL].qty == later.qty == Decimal("0.002")


class _TradesAnswer:
    """userTrades answering `rows` from `fromId` on (recorded fixture shape, reference 6.9)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.clock = SimClock(T + 3_600_000)
        self.asked: list[int] = []

    async def call(self, method: str, /, **kw: Any) -> Any:
        assert method == "futures_account_trades"
        self.asked.append(kw["fromId"])
        return [r for r in self.rows if not isinstance(r.get("id"), int) or r["id"] >= kw["fromId"]]


def _row(trade_id: int, order_id: int) -> dict[str, Any]:
    return {"symbol": SYMBOL, "id": trade_id, "orderId": order_id, "side": "BUY",
            "price": "60000.0", "qty": "0.002", "realizedPnl": "0", "commission": "0.06",
            "commissionAsset": "USDT", "maker": False, "time": T,
            "positionSide": "BOTH"}  # fmt: skip


def _sync(rest: _TradesAnswer) -> VenueSync:
    sync = VenueSync(
        rest=rest,  # type: ignore[arg-type]
        tracker=OrderTracker(),
        symbols=(SYMBOL,),
        instruments=instruments(),
        clock=rest.clock,
        stats=VenueStats(),
        on_applied=lambda applied: None,
        emit=lambda events: None,
        follow_up=lambda t: None,
        resolve=lambda t: None,
    )
    sync.last_trade_ids[SYMBOL] = 100
    sync.last_trades[SYMBOL] = KnownTrade(100, 7, Decimal("60000.0"), Decimal("0.002"), T, True)
    return sync


async def test_a_page_with_an_unreadable_row_is_no_proof_of_a_reset():
    # The known fill's row unreadable: what comes first is not certain; read on, no verdict.
    rest = _TradesAnswer([{"id": "x"}, _row(101, 8)])
    sync = _sync(rest)

    await sync._catch_up_trades(SYMBOL)

    assert rest.asked == [100]
    assert sync.last_trade_ids[SYMBOL] == 101 and sync.stats.malformed_rows == 1


async def test_a_row_of_the_known_id_from_another_order_is_a_reset():
    rest = _TradesAnswer([_row(100, 1), _row(101, 2)])  # ids again, other orders

    with pytest.raises(AccountChanged, match="lists trade 100 of order 1 first"):
        await _sync(rest)._catch_up_trades(SYMBOL)


@pytest.mark.parametrize(
    ("age_days", "reset"),
    [(5.9, True), (6.1, False), (30, False)],
)
async def test_a_last_fill_older_than_6_days_is_not_looked_for(age_days, reset):
    # Binance's "no times -> the last 7 days" may apply to a read from a trade id: a fill 8 days
    # old missing from the answer was called a reset (170 days were checked), stopping a daemon
    # whose symbol had not traded for a week (exit 2). Older than 6 days, it is not looked for.
    rest = _TradesAnswer([_row(101, 8)])  # the known fill (100) not served
    sync = _sync(rest)
    rest.clock = SimClock(T + int(age_days * 86_400_000))

    if reset:
        with pytest.raises(AccountChanged, match="it lists trade 101 of order 8 first"):
            await sync._catch_up_trades(SYMBOL)
    else:
        await sync._catch_up_trades(SYMBOL)
        assert rest.asked == [101] and sync.last_trade_ids[SYMBOL] == 101
