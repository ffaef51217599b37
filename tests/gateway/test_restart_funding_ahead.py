"""A restart whose journal's last record is later than the exchange's now reads back the funding
settled while the daemon was down, through the real start path (`LiveVenue.restore` then
`LiveVenue.start`, against the local exchange): `start` anchors the income read on the earlier
of now and the journal's last exchange stamp (`seen_until_ms`), so the settlement is booked as
funding, not taken by the start-up snapshot as money moved out.

Times are the local exchange's (ms); money in USDT. The journal is written by hand: the first
daemon's start (wallet 10,000) and its last account update stamped by the exchange 3 h before
now (S), then a balance snapshot dated 1 h after now (on an offset that has moved back since).
BTCUSDT's settlement T = S + 1 h, 2 h before now, moved the wallet by -1.675076 while no daemon
ran. Without `seen_until_ms` the read began an overlap (1 h) before now, after T.
"""

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio

from book_keeper.book_keeper import BookKeeper
from book_keeper.journal import SqliteJournal
from core.account import Balance
from core.clock import LiveClock
from core.events import BalanceChanged, FundingPaid, VenueSnapshot
from exchange_sim.engine.state import Income
from tests.gateway.venue_harness import FAST, SYMBOL, session, start_exchange

pytestmark = pytest.mark.asyncio(loop_scope="module")

D = Decimal
CONFIG = replace(FAST, client_id_prefix="rf", journal_events=True)
HOUR_MS = 3_600_000


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ex():
    exchange = await start_exchange()
    yield exchange
    await exchange.stop()


def _first_daemons_journal(path: Path, start_ms: int, last_update_ms: int, ahead_ms: int) -> None:
    """The journal a first daemon left: its start-up snapshot (10,000 USDT, flat), an account
    update the exchange stamped at `last_update_ms`, a heartbeat dated `ahead_ms` (our clock)."""
    wallet = D(10_000)
    balance = Balance(asset="USDT", wallet_balance=wallet, available_balance=wallet)
    journal = SqliteJournal(path)
    journal.record(
        VenueSnapshot(
            event_time_ms=start_ms,
            recv_time_ms=start_ms,
            reason="start",
            symbols=(SYMBOL,),
            balances=(balance,),
            positions=(),
            open_orders=(),
        )
    )
    journal.record(
        BalanceChanged(
            event_time_ms=last_update_ms,
            recv_time_ms=last_update_ms,
            balance=replace(balance, update_time_ms=last_update_ms),
            reason="ORDER",
        )
    )
    journal.snapshot(time_ms=ahead_ms, equity=wallet, wallet=wallet, unrealized_pnl=D(0))
    journal.close()


async def test_funding_settled_while_down_behind_a_record_ahead_of_now_is_booked_as_funding(
    ex, tmp_path: Path
) -> None:
    creds = ex.create_account()
    account = str(creds.account_id)
    path = tmp_path / "journal"
    now = ex.now_ms()
    seen_until = now - 3 * HOUR_MS  # S: the first daemon's last exchange stamp
    settled = seen_until + HOUR_MS  # T: 2 h before now, while no daemon ran
    _first_daemons_journal(path, seen_until - 60_000, seen_until, ahead_ms=now + HOUR_MS)
    ledger = ex.engine.engine.ledger
    acct = ledger.accounts[account]
    acct.wallet += D("-1.675076")
    acct.incomes.append(
        Income(SYMBOL, "FUNDING_FEE", D("-1.675076"), settled, ledger.new_tran_id())
    )

    journal = SqliteJournal(path)
    try:
        books = BookKeeper(
            starting_balances=None, instruments={SYMBOL: ex.instruments[SYMBOL]}, clock=LiveClock()
        )
        replay = books.restore(journal)
        last = replay.last_record_ms(journal)
        assert last == now + HOUR_MS and journal.last_exchange_ms() == seen_until
        async with session(ex, creds=creds, config=CONFIG, journal=journal, start=False) as s:
            s.venue.restore(
                journal.open_orders(),
                trade_ids=journal.open_order_trade_ids(),
                last_trade_ids={},
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
    finally:
        journal.close()

    paid = [(e.symbol, e.event_time_ms, e.amount) for e in events if isinstance(e, FundingPaid)]
    assert paid == [(SYMBOL, settled, D("-1.675076"))]
    assert books.funding == D("-1.675076")
    assert books.wallet() == D("9998.324924")
    assert books.transfers == 0 and books.differences == 0  # funding, not money moved out
