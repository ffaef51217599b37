"""The funding settlements the books remember (`BookKeeper._funding_paid`) stay within
FUNDING_PAID_WINDOW_MS (7 days) of the newest one booked: a daemon running for months keeps a
constant-size set and checkpoint, a resend inside the window is still not booked twice, and a
checkpoint written while the set was unbounded (the layout is the same, version 1) still loads.

Hourly settlements of BTCUSDT at -0.01 USDT each (we pay); money in USDT.
"""

import logging
import sqlite3
import zlib
from pathlib import Path

import orjson

from book_keeper import journal_applier as journal_module
from book_keeper.book_keeper import BookKeeper
from book_keeper.funding import FUNDING_PAID_WINDOW_MS, recent_settlements
from book_keeper.journal import SqliteJournal
from core.account import Balance
from core.clock import SimClock
from core.events import FundingPaid, VenueSnapshot
from tests.book_keeper.restart_support import (
    checkpoint_ids,
    copy_up_to_checkpoint,
    start_up_picture,
)
from tests.book_keeper.support import SYMBOL, T0, D, book, instruments

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
SETTLEMENTS = 90 * 24  # hourly for 90 days
PAY = D("-0.01")


def _funding(time_ms: int, amount: D = PAY, symbol: str = SYMBOL) -> FundingPaid:
    return FundingPaid(
        event_time_ms=time_ms,
        recv_time_ms=time_ms + 5,
        symbol=symbol,
        amount=amount,
        rate=D("0.0001"),
    )


def _settlement(n: int) -> int:
    """The time of the n-th hourly settlement (n from 0)."""
    return T0 + n * HOUR_MS


def _start(journal: SqliteJournal, bk: BookKeeper) -> None:
    snapshot = VenueSnapshot(
        event_time_ms=T0 - 1,
        recv_time_ms=T0 - 1,
        reason="start",
        symbols=(SYMBOL,),
        balances=(Balance(asset="USDT", wallet_balance=D("10000"), available_balance=D("10000")),),
        positions=(),
        open_orders=(),
    )
    journal.record(snapshot)
    bk.apply(snapshot)


def _months_of_funding(path: Path, *, every_records: int = 500) -> BookKeeper:
    """A daemon's journal of SETTLEMENTS hourly settlements (each journaled, then booked),
    checkpointed every `every_records` rows; returns the live books."""
    journal = SqliteJournal(path, writer_thread=False)
    live = BookKeeper(starting_balances=None, instruments=instruments(), clock=SimClock(T0))
    journal.keep_checkpoints(live.restore(journal), every_records=every_records)
    _start(journal, live)
    for day in range(SETTLEMENTS // 24):
        # a day's settlements in one record (one fsync), each booked; then applied
        events = [_funding(_settlement(day * 24 + h)) for h in range(24)]
        journal.record_many(events)
        for event in events:
            live.apply(event)
        journal.flush()
    journal.close()
    return live


def _restored(path: Path, *, checkpoints: bool = True) -> BookKeeper:
    restored = BookKeeper(
        starting_balances=None,
        instruments=instruments(),
        clock=SimClock(_settlement(SETTLEMENTS)),
    )
    with SqliteJournal(path, writer_thread=False) as journal:
        restored.restore(journal, checkpoints=checkpoints)
    return restored


def _newest_checkpoint_state(path: Path) -> tuple[int, dict]:
    db = sqlite3.connect(path / "journal.sqlite3")
    try:
        cid, blob = db.execute("SELECT id, state FROM checkpoints ORDER BY id DESC").fetchone()
    finally:
        db.close()
    return cid, orjson.loads(zlib.decompress(blob))


def test_recent_settlements_keeps_those_within_the_window_of_the_newest():
    paid = {("BTCUSDT", 1_000), ("ETHUSDT", 1_000), ("BTCUSDT", 400), ("BTCUSDT", 399)}

    assert recent_settlements(paid, 600) == {
        ("BTCUSDT", 1_000),
        ("ETHUSDT", 1_000),
        ("BTCUSDT", 400),  # exactly 600 older: still kept
    }
    assert recent_settlements(set(), 600) == set()


def test_months_of_settlements_keep_only_the_last_seven_days():
    bk = book()

    for n in range(SETTLEMENTS):
        bk.apply(_funding(_settlement(n)))

    # 7 days of hourly settlements up to the newest, both ends included: 7 * 24 + 1
    assert len(bk._funding_paid) == 169
    newest = _settlement(SETTLEMENTS - 1)
    assert min(t for _, t in bk._funding_paid) == newest - FUNDING_PAID_WINDOW_MS
    # every settlement booked once: 2160 * -0.01
    assert bk.funding == D("-21.60")
    assert bk.wallet() == D("9978.40")


def test_a_resend_inside_the_window_is_not_booked_again():
    bk = book()
    for n in range(SETTLEMENTS):
        bk.apply(_funding(_settlement(n)))

    # the income history read again from 6 days and 23 hours back (a restart's read)
    for n in range(SETTLEMENTS - 7 * 24, SETTLEMENTS):
        bk.apply(_funding(_settlement(n)))

    assert bk.funding == D("-21.60")
    assert bk.wallet() == D("9978.40")
    assert bk.rejected_events == 0


def test_a_settlement_older_than_the_window_counts_as_booked_with_a_warning(caplog):
    bk = book()
    for n in range(SETTLEMENTS):
        bk.apply(_funding(_settlement(n)))
    oldest_kept = _settlement(SETTLEMENTS - 1) - FUNDING_PAID_WINDOW_MS

    with caplog.at_level(logging.WARNING, logger="book_keeper.book_keeper"):
        bk.apply(_funding(oldest_kept - HOUR_MS))

    assert bk.funding == D("-21.60")
    assert len(bk._funding_paid) == 169
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "older than 7 days before the newest settlement booked" in line


def test_a_new_settlement_of_another_symbol_inside_the_window_is_booked():
    bk = book()
    for n in range(SETTLEMENTS):
        bk.apply(_funding(_settlement(n)))

    bk.apply(_funding(_settlement(SETTLEMENTS - 2), amount=D("0.25"), symbol="ETHUSDT"))

    # -21.60 + 0.25
    assert bk.funding == D("-21.35")
    assert bk.wallet() == D("9978.65")


def test_the_checkpoint_holds_seven_days_of_settlements_after_months(tmp_path):
    _months_of_funding(tmp_path)

    _, state = _newest_checkpoint_state(tmp_path)

    paid = state["books"]["funding_paid"]
    assert len(paid) == 169
    assert paid[0] == [SYMBOL, _settlement(SETTLEMENTS - 1) - FUNDING_PAID_WINDOW_MS]
    assert paid[-1] == [SYMBOL, _settlement(SETTLEMENTS - 1)]


def test_after_a_restart_from_the_checkpoint_a_resend_inside_the_window_is_ignored(tmp_path):
    _months_of_funding(tmp_path)
    restored = _restored(tmp_path)

    # The restart reads the income history again from the journal's latest time: the newest
    # settlement comes again, and (a wider read) one of 5 days before.
    restored.apply(_funding(_settlement(SETTLEMENTS - 1)))
    restored.apply(_funding(_settlement(SETTLEMENTS - 1 - 5 * 24)))

    assert restored.funding == D("-21.60")
    assert restored.wallet() == D("9978.40")


def test_a_checkpoint_written_with_every_settlement_ever_booked_still_loads(tmp_path):
    """Before the window, a checkpoint held every settlement booked (same layout, version 1):
    it is used, the restored set holds the window only, and the start-up equals the full
    replay's."""
    _months_of_funding(tmp_path)
    newest_id, state = _newest_checkpoint_state(tmp_path)
    state["books"]["funding_paid"] = [[SYMBOL, _settlement(n)] for n in range(SETTLEMENTS)]
    db = sqlite3.connect(tmp_path / "journal.sqlite3")
    try:
        blob = zlib.compress(orjson.dumps(state), 1)
        db.execute("UPDATE checkpoints SET state = ? WHERE id = ?", (blob, newest_id))
        db.commit()
    finally:
        db.close()
    now = _settlement(SETTLEMENTS)

    picture, origin = start_up_picture(tmp_path, instruments(), now_ms=now, checkpoints=True)
    full, _ = start_up_picture(tmp_path, instruments(), now_ms=now, checkpoints=False)

    assert origin.startswith(f"from checkpoint {newest_id} "), origin
    assert picture == full
    restored = _restored(tmp_path)
    assert len(restored._funding_paid) == 169
    restored.apply(_funding(_settlement(SETTLEMENTS - 3)))
    assert restored.funding == D("-21.60")


def test_a_start_from_early_middle_or_last_checkpoint_equals_the_full_replay(tmp_path, monkeypatch):
    """The window moves with the newest settlement, not with the clock: a replay from any
    checkpoint forgets the same settlements as the full replay."""
    monkeypatch.setattr(journal_module, "KEEP_CHECKPOINTS", 1_000_000)  # keep them all
    path = tmp_path / "journal"
    _months_of_funding(path, every_records=300)
    ids = checkpoint_ids(path)
    now = _settlement(SETTLEMENTS)
    full, _ = start_up_picture(path, instruments(), now_ms=now, checkpoints=False)

    assert len(ids) > 6
    for cp in (ids[0], ids[len(ids) // 2], ids[-1]):
        copy = copy_up_to_checkpoint(path, tmp_path / f"at-{cp}", cp)
        picture, origin = start_up_picture(copy, instruments(), now_ms=now, checkpoints=True)
        assert origin.startswith(f"from checkpoint {cp} "), origin
        assert picture == full
