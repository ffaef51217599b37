"""Checkpoints of the restart's replay in the journal (book_keeper.checkpoint): when they are
written, which one a restart uses, and what it does with one it cannot use.

Journals are written by the seeded random session of session_support.py (orders,
fills, account events, snapshots, trading states), as the daemon journals; a start-up from a
checkpoint is compared with the full replay's with `restart_support.start_up_picture`.
"""

import logging
import signal
import sqlite3
import subprocess
import sys
import zlib
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from book_keeper.book_keeper import BookKeeper
from book_keeper.checkpoint import EVERY_RECORDS, KEEP, VERSION, OrderLedger
from book_keeper.journal import SqliteJournal
from core.account import Balance
from core.clock import SimClock
from core.enums import OrderIntent, OrderStatus, TradingState
from core.events import AUTOMATIC_RESET, TradingStateChanged, VenueSnapshot
from tests.book_keeper.restart_support import checkpoint_ids, start_up_picture
from tests.book_keeper.session_support import TRADED, journal_session, open_keeping
from tests.book_keeper.support import (
    BUY,
    SELL,
    T0,
    accepted,
    fill,
    filled,
    instruments,
    submitted,
)

ROOT = Path(__file__).resolve().parents[2]
INSTRUMENTS = instruments()


def _open_keeping(path: Path, every_records: int = EVERY_RECORDS) -> SqliteJournal:
    return open_keeping(path, INSTRUMENTS, every_records)


_journal_session = journal_session


def _picture(path: Path, now_ms: int, *, checkpoints: bool = True) -> tuple[dict, str]:
    return start_up_picture(path, INSTRUMENTS, now_ms=now_ms, checkpoints=checkpoints)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The checkpoints' WARNING lines (the books warn of the session's XRPUSDT order too)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name == "book_keeper.checkpoint"
    ]


def _rows(path: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(path / "journal.sqlite3")
    try:
        out = db.execute(sql).fetchall()
        db.commit()
        return out
    finally:
        db.close()


# --- when they are written ----------------------------------------------------------------------


def test_a_checkpoint_every_n_rows_and_at_close_and_only_the_newest_three_kept(tmp_path):
    journal = _open_keeping(tmp_path, every_records=40)
    _journal_session(journal, 200)
    during = journal.checkpoints_written
    rows = sum(journal.end_position())  # events and fills, orders, balance snapshots
    journal.close()

    # One checkpoint after each batch that made it 40 rows or more, then one at the close.
    assert 3 <= during <= rows // 40
    ids = checkpoint_ids(tmp_path)
    assert len(ids) == KEEP
    assert ids == list(range(during + 2 - KEEP, during + 2))  # the newest: the close's
    (seq, order_rowid, snapshot_rowid), *_ = _rows(
        tmp_path, "SELECT seq, order_rowid, snapshot_rowid FROM checkpoints ORDER BY id DESC"
    )
    end = _rows(
        tmp_path,
        "SELECT MAX(seq) FROM (SELECT seq FROM events UNION ALL SELECT seq FROM fills)",
    )[0][0]
    assert (seq, order_rowid, snapshot_rowid) == (
        end,
        _rows(tmp_path, "SELECT MAX(rowid) FROM orders")[0][0],
        _rows(tmp_path, "SELECT MAX(rowid) FROM balance_snapshots")[0][0],
    )


def test_no_checkpoint_at_close_when_nothing_was_journaled_since_the_last(tmp_path):
    journal = _open_keeping(tmp_path, every_records=10_000)
    _journal_session(journal, 30)
    journal.close()  # one, of the session
    journal = _open_keeping(tmp_path)  # a restart from it: nothing to replay
    journal.close()

    assert checkpoint_ids(tmp_path) == [1]


def test_a_checkpoint_after_every_s_seconds_with_rows_below_every_records(tmp_path):
    journal = _open_keeping(tmp_path, every_records=10_000)
    assert journal._applier is not None
    journal._applier.every_s = 0.0  # due at the next apply with any row
    _journal_session(journal, 3)

    assert journal.checkpoints_written >= 2
    journal.close()


def test_a_restart_after_a_long_replay_checkpoints_at_once(tmp_path):
    """A journal of a version without checkpoints (or a crash long after the last one): the
    first start replays it all, and writes a checkpoint right away."""
    with SqliteJournal(tmp_path, writer_thread=False) as plain_journal:
        session = _journal_session(plain_journal, 60)
    assert checkpoint_ids(tmp_path) == []

    journal = _open_keeping(tmp_path)

    assert journal.checkpoints_written == 1
    journal.close()
    _, origin = _picture(tmp_path, session.t)
    assert origin.startswith("from checkpoint 1 ")


def test_keep_checkpoints_refuses_a_replay_that_is_not_at_the_end_of_the_journal(tmp_path):
    journal = SqliteJournal(tmp_path, writer_thread=False)
    live = BookKeeper(starting_balances=None, instruments=INSTRUMENTS, clock=SimClock(T0))
    replay = live.restore(journal)
    journal.record(submitted("t-1", BUY, "0.001", "60000.0"))

    with pytest.raises(ValueError, match="the replay is at"):
        journal.keep_checkpoints(replay)
    journal.close()
    assert checkpoint_ids(tmp_path) == []


# --- which one a restart uses ---------------------------------------------------------------------


def test_a_restart_replays_only_the_rows_after_the_newest_checkpoint(tmp_path):
    journal = _open_keeping(tmp_path, every_records=50)
    session = _journal_session(journal, 150)
    newest = next(journal.checkpoint_rows())
    after = journal.end_position()
    assert journal._applier is not None
    journal._applier.replay = None  # then killed: no checkpoint at close
    journal.close()

    full, _ = _picture(tmp_path, session.t, checkpoints=False)
    book = BookKeeper(starting_balances=None, instruments=INSTRUMENTS, clock=SimClock(session.t))
    with SqliteJournal(tmp_path, writer_thread=False) as again:
        replay = book.restore(again)
    restarted, origin = _picture(tmp_path, session.t)

    assert origin == f"from checkpoint {newest.id} at journal seq {newest.position.seq}"
    rows_after = sum(after) - sum(newest.position)
    assert 0 < replay.replayed <= rows_after  # not the whole journal: only what follows it
    assert restarted == full


def test_a_restart_from_a_checkpoint_holds_each_open_orders_intent(tmp_path):
    # A long, an open reduce-only close sent as risk-reducing and an open entry; the books of
    # a restart from the close's checkpoint hold both with the intent they were sent with.
    journal = _open_keeping(tmp_path)
    journal.record(submitted("t-1", BUY, "0.010", "60000.0"))
    journal.record(accepted("t-1", 11))
    journal.record(filled(fill("t-1", 501, BUY, "0.010", "60000.0", fee="0.24", order_id=11)))
    close = submitted("t-2", SELL, "0.010", "61000.0", reduce_only=True)
    journal.record(replace(close, intent=OrderIntent.REDUCING))
    journal.record(submitted("t-3", BUY, "0.010", "59000.0"))
    journal.close()  # a checkpoint at the close
    book = BookKeeper(starting_balances=None, instruments=INSTRUMENTS, clock=SimClock(T0 + 1))

    with SqliteJournal(tmp_path, writer_thread=False) as again:
        replay = book.restore(again)

    assert replay.origin.startswith("from checkpoint ")
    assert {cid: o.intent for cid, o in book.orders.items()} == {
        "t-2": OrderIntent.REDUCING,
        "t-3": OrderIntent.ORDINARY,
    }


def test_a_checkpoint_of_an_unknown_version_is_skipped_with_one_warning(tmp_path, caplog):
    journal = _open_keeping(tmp_path, every_records=50)
    session = _journal_session(journal, 120)
    journal.close()
    newest, older = checkpoint_ids(tmp_path)[-1], checkpoint_ids(tmp_path)[-2]
    _rows(tmp_path, f"UPDATE checkpoints SET version = {VERSION + 1} WHERE id = {newest}")
    full, _ = _picture(tmp_path, session.t, checkpoints=False)

    with caplog.at_level(logging.WARNING, logger="book_keeper.checkpoint"):
        restarted, origin = _picture(tmp_path, session.t)

    assert origin.startswith(f"from checkpoint {older} ")
    assert restarted == full
    warnings = _warnings(caplog)
    assert warnings == [
        f"journal: checkpoint {newest} skipped: version {VERSION + 1}; this daemon reads {VERSION}"
    ]


def test_a_half_written_checkpoint_is_skipped_for_the_one_before(tmp_path, caplog):
    journal = _open_keeping(tmp_path, every_records=50)
    session = _journal_session(journal, 120)
    journal.close()
    ids = checkpoint_ids(tmp_path)
    db = sqlite3.connect(tmp_path / "journal.sqlite3")
    (state,) = db.execute("SELECT state FROM checkpoints WHERE id = ?", (ids[-1],)).fetchone()
    db.execute("UPDATE checkpoints SET state = ? WHERE id = ?", (state[: len(state) // 2], ids[-1]))
    db.commit()
    db.close()
    full, _ = _picture(tmp_path, session.t, checkpoints=False)

    with caplog.at_level(logging.WARNING, logger="book_keeper.checkpoint"):
        restarted, origin = _picture(tmp_path, session.t)

    assert origin.startswith(f"from checkpoint {ids[-2]} ")
    assert restarted == full
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"journal: checkpoint {ids[-1]} skipped: cannot be decoded")


def test_with_no_usable_checkpoint_the_whole_journal_is_replayed(tmp_path, caplog):
    journal = _open_keeping(tmp_path, every_records=50)
    session = _journal_session(journal, 120)
    journal.close()
    bad = zlib.compress(b'{"version": 1}')  # decodes, but holds nothing
    _rows(tmp_path, f"UPDATE checkpoints SET state = x'{bad.hex()}'")
    full, _ = _picture(tmp_path, session.t, checkpoints=False)

    with caplog.at_level(logging.WARNING, logger="book_keeper.checkpoint"):
        restarted, origin = _picture(tmp_path, session.t)

    assert origin == "replayed from the start of the journal"
    assert restarted == full
    assert len(_warnings(caplog)) == KEEP


def test_checkpoints_made_for_other_symbols_are_not_used(tmp_path, caplog):
    journal = _open_keeping(tmp_path, every_records=50)
    session = _journal_session(journal, 80)
    journal.close()
    btc_only = {"BTCUSDT": INSTRUMENTS["BTCUSDT"]}
    now = session.t
    full, _ = start_up_picture(tmp_path, btc_only, now_ms=now, checkpoints=False)

    with caplog.at_level(logging.INFO, logger="book_keeper.checkpoint"):
        restarted, origin = start_up_picture(tmp_path, btc_only, now_ms=now, checkpoints=True)

    assert origin == "replayed from the start of the journal"
    assert restarted == full
    assert "checkpoints were made for symbols BTCUSDT, ETHUSDT (trading BTCUSDT)" in caplog.text
    assert _warnings(caplog) == []


def test_a_kill_9_leaves_checkpoints_and_a_tail_that_the_restart_replays(tmp_path):
    """A process journaling with checkpoints every 30 rows, killed (SIGKILL) with records
    logged but not applied: the restart recovers those from journal.wal, starts from the
    newest checkpoint and replays the rest, as the full replay has it."""
    script = f"""
import os, random, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from tests.book_keeper.session_support import journal_session, open_keeping
from tests.book_keeper.support import instruments
journal = open_keeping(Path({str(tmp_path)!r}), instruments(), every_records=30)
session = journal_session(journal, 150)
for _ in range(12):
    session.step()  # logged, not applied
print(session.t, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    child = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    now = int(child.stdout.split()[0]) + 60_000
    assert (tmp_path / "journal.wal").stat().st_size > 0  # the unapplied tail
    ids = checkpoint_ids(tmp_path)
    assert len(ids) == KEEP

    restarted, origin = _picture(tmp_path, now)  # applies the tail first (the open recovers it)
    full, _ = _picture(tmp_path, now, checkpoints=False)

    assert origin.startswith(f"from checkpoint {ids[-1]} ")
    assert restarted == full


# --- what a restart reads beside the books -----------------------------------------------------


def test_the_peak_of_the_snapshots_is_exact_where_floats_cannot_tell_them_apart(tmp_path):
    with SqliteJournal(tmp_path, writer_thread=False) as journal:
        for t, equity in enumerate(
            ("10000.00000000000010", "10000.00000000000030", "10000.00000000000020", "9000")
        ):
            journal.snapshot(
                time_ms=T0 + t, equity=D(equity), wallet=D(equity), unrealized_pnl=D(0)
            )
        # Equal values: the earliest one's text (as a running maximum keeps it).
        journal.snapshot(time_ms=T0 + 9, equity=D("10001.0"), wallet=D(1), unrealized_pnl=D(0))
        journal.snapshot(time_ms=T0 + 10, equity=D("10001.00"), wallet=D(1), unrealized_pnl=D(0))

        assert str(journal.peak_net_equity(T0, after_rowid=0)) == "10001.0"
        assert journal.peak_net_equity(T0 + 1) == D("10001.0")
        # Of the first four, by their Decimals (as floats all four but 9000 are 10000.0).
        db = journal._db
        db.execute("DELETE FROM balance_snapshots WHERE time_ms >= ?", (T0 + 9,))
        assert str(journal.peak_net_equity(T0)) == "10000.00000000000030"
        assert journal.peak_net_equity(T0, after_rowid=2) == D("10000.00000000000020")


def _to_active(t: int, reason: str) -> TradingStateChanged:
    return TradingStateChanged(
        event_time_ms=t,
        recv_time_ms=t,
        previous=TradingState.HALTED,
        current=TradingState.ACTIVE,
        reason=reason,
    )


@pytest.mark.parametrize("kept", [True, False], ids=["applier", "restore"])
def test_the_drawdown_peak_is_kept_from_the_last_operator_reset_not_an_automatic_resume(
    tmp_path, kept
):
    """The marks' reset is an operator's (`core.events.rearms_limits`): the daemon's own
    resume at a start re-armed no limit, so the drawdown peak since the operator's reset
    (10,500) holds through it, whether the replay kept by the applier read the resume
    (`event_row`) or a restore's replay went through it (`catch_up`)."""

    def snap(t: int, equity: str) -> None:
        journal.snapshot(time_ms=t, equity=D(equity), wallet=D(equity), unrealized_pnl=D(0))

    journal = _open_keeping(tmp_path) if kept else SqliteJournal(tmp_path, writer_thread=False)
    snap(T0, "11000")
    journal.record(_to_active(T0 + 1, "operator reset: --reset-halt"))
    snap(T0 + 2, "10500")
    journal.record(_to_active(T0 + 3, f"{AUTOMATIC_RESET}: the user stream's failure is cleared"))
    snap(T0 + 4, "9700")
    journal.flush()
    if kept:
        replay = journal._applier.replay  # type: ignore[union-attr]
    else:
        live = BookKeeper(starting_balances=None, instruments=INSTRUMENTS, clock=SimClock(T0))
        replay = live.restore(journal)

    assert (replay.marks.reset_ms, replay.marks.peak_since) == (T0 + 1, D(10500))
    assert replay.peak_net_equity(journal, T0 + 1) == D(10500)
    journal.close()


def test_the_order_ledger_keeps_the_newest_ended_orders_by_creation(tmp_path):
    """As the full restore orders them (created_ms, then rowid): an order created early that
    ends late is not among the newest, however late it ended."""
    ledger = OrderLedger(keep=2)
    ledger.add(1, "t-1", "BTCUSDT", T0, OrderStatus.NEW.value)
    ledger.add(2, "t-2", "BTCUSDT", T0 + 1, OrderStatus.FILLED.value)
    ledger.add(3, "t-3", "BTCUSDT", T0 + 1, OrderStatus.CANCELED.value)
    ledger.moved("t-1", OrderStatus.FILLED.value)  # ends last, created first
    ledger.add(4, "other-9", "ETHUSDT", T0 + 2, OrderStatus.REJECTED.value)

    assert ledger.newest_ended() == [
        ("t-3", OrderStatus.CANCELED),
        ("other-9", OrderStatus.REJECTED),
    ]
    assert ledger.by_status == {"FILLED": 2, "CANCELED": 1, "REJECTED": 1}
    assert ledger.rows == 4
    assert ledger.open == {}
    assert ledger.max_seq == {"t": 3, "other": 9}
    assert ledger.symbols == {"BTCUSDT", "ETHUSDT"}
    assert OrderLedger.from_json(ledger.to_json()).newest_ended() == ledger.newest_ended()


def test_fills_journaled_before_their_order_drop_the_checkpoints(tmp_path, caplog):
    """An order row for a client order id the journal already has fills of: a restart counts
    those fills as of a known order, the replay did not. The checkpoints go; the restart
    replays the whole journal, and gets what the full replay gets."""
    journal = _open_keeping(tmp_path, every_records=1)
    journal.record(
        VenueSnapshot(
            event_time_ms=T0,
            recv_time_ms=T0,
            balances=(Balance(asset="USDT", wallet_balance=D(10000), available_balance=D(10000)),),
            positions=(),
            open_orders=(),
            reason="start",
            symbols=TRADED,
        )
    )
    f = fill("t-5", 501, BUY, "0.010", "60000.0", fee="0.30", t=T0 + 1)
    journal.record(filled(f))
    journal.flush()
    assert checkpoint_ids(tmp_path)
    with caplog.at_level(logging.WARNING, logger="book_keeper.journal"):
        journal.record(submitted("t-5", BUY, "0.010", None, t=T0 + 2))
        journal.flush()
    journal.record(submitted("t-6", BUY, "0.010", None, t=T0 + 3))
    journal.close()

    assert "journal: order t-5 journaled after fills of it; checkpoints dropped" in caplog.text
    assert checkpoint_ids(tmp_path) == []
    restarted, origin = _picture(tmp_path, T0 + 60_000)
    full, _ = _picture(tmp_path, T0 + 60_000, checkpoints=False)
    assert origin == "replayed from the start of the journal"
    assert restarted == full
    assert restarted["books"][1]["_books"]["BTCUSDT"][1]["qty"] == ("D", "0.010")
