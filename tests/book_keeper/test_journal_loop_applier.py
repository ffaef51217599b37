"""SqliteJournal without a writer thread (`writer_thread=False`, as the daemon opens it): the
tables are written only by the owner's thread (`apply_when_quiet`, `run_applier` in the event
loop, or a read), with the thread's policy: never while records keep coming (up to
MAX_APPLY_LAG_S), then in slices of APPLY_SLICE frames; a failure is never silent."""

import asyncio
import sqlite3
import threading
from decimal import Decimal as D
from pathlib import Path

import pytest

import book_keeper.journal as journal_module
from book_keeper.journal import (
    APPLY_SLICE,
    MAX_APPLY_LAG_S,
    SqliteJournal,
    Synchronous,
    run_applier,
)
from book_keeper.journal_errors import JournalError
from book_keeper.journal_wal import read_wal
from tests.book_keeper.support import BUY, submitted
from tests.book_keeper.test_journal_wal import _decision


def _rows(path: Path, table: str) -> int:
    """What another process (the sqlite3 CLI) sees in `table`."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        db.close()


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    """The journal's monotonic clock (the `time` module's: no event loop may run meanwhile)."""
    fake = FakeMonotonic()
    monkeypatch.setattr(journal_module.time, "monotonic", fake)
    return fake


def test_no_thread_is_started_and_a_read_applies_what_was_recorded(tmp_path: Path) -> None:
    threads = threading.active_count()
    with SqliteJournal(tmp_path, synchronous=Synchronous.NORMAL, writer_thread=False) as j:
        assert threading.active_count() == threads
        j.record_many((_decision(1), submitted("t-1", BUY, "0.001", "60000.0")))

        assert _rows(j.path, "orders") == 0  # only in the write-ahead log so far
        assert [o.client_order_id for o in j.open_orders()] == ["t-1"]  # the read applied it
        assert _rows(j.path, "orders") == 1


def test_records_are_applied_after_a_quiet_look_in_slices(
    tmp_path: Path, clock: FakeMonotonic
) -> None:
    n = 2 * APPLY_SLICE + 5
    with SqliteJournal(tmp_path, writer_thread=False) as j:
        for i in range(n):
            j.record(_decision(i))

        assert j.apply_when_quiet() == 0  # records came in since the last look: wait
        assert _rows(j.path, "events") == 0
        assert j.apply_when_quiet() == APPLY_SLICE  # a look without new records: apply
        assert _rows(j.path, "events") == APPLY_SLICE
        assert j.apply_when_quiet() == APPLY_SLICE  # the rest of the burst, a slice a call
        assert j.apply_when_quiet() == 5
        assert j.apply_when_quiet() == 0
        assert _rows(j.path, "events") == n


def test_a_burst_that_never_pauses_is_applied_after_the_maximum_lag(
    tmp_path: Path, clock: FakeMonotonic
) -> None:
    with SqliteJournal(tmp_path, writer_thread=False) as j:
        j.record(_decision(1))
        assert j.apply_when_quiet() == 0
        clock.now += MAX_APPLY_LAG_S / 2
        j.record(_decision(2))
        assert j.apply_when_quiet() == 0  # still coming, lag under the maximum
        clock.now += MAX_APPLY_LAG_S
        j.record(_decision(3))

        assert j.apply_when_quiet() == 3  # records still coming, but the lag is reached
        assert _rows(j.path, "events") == 3


def test_run_applier_writes_the_tables_from_the_event_loop(tmp_path: Path) -> None:
    async def scenario(j: SqliteJournal) -> int:
        task = asyncio.create_task(run_applier(j))
        for i in range(200):
            j.record(_decision(i))
        for _ in range(400):  # at most ~4 s
            await asyncio.sleep(0.01)
            if _rows(j.path, "events") == 200:
                break
        task.cancel()
        return _rows(j.path, "events")

    threads = threading.active_count()
    with SqliteJournal(tmp_path, writer_thread=False, apply_interval_s=0.001) as j:
        assert asyncio.run(scenario(j)) == 200
        assert threading.active_count() == threads


def test_an_apply_failure_stops_the_applier_and_is_raised_to_the_recorder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_apply = journal_module._Applier.apply

    def broken(self: object, batches: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    j = SqliteJournal(tmp_path, writer_thread=False, apply_interval_s=0.001)
    j.record(submitted("t-1", BUY, "0.001", "60000.0"))
    monkeypatch.setattr(journal_module._Applier, "apply", broken)

    async def applier() -> None:
        await asyncio.wait_for(run_applier(j), timeout=5)  # returns once applying failed

    asyncio.run(applier())
    with pytest.raises(JournalError, match="writer failed"):
        j.record(submitted("t-2", BUY, "0.001", "60000.0"))
    with pytest.raises(JournalError, match="writer failed"):
        j.flush()
    with pytest.raises(JournalError, match="writer failed"):
        j.close()
    monkeypatch.setattr(journal_module._Applier, "apply", real_apply)

    with SqliteJournal(tmp_path) as again:  # the logged record is applied at the next opening
        assert [o.client_order_id for o in again.open_orders()] == ["t-1"]
        assert again.recovered_records == 1


def test_close_applies_everything_and_empties_the_log(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path, writer_thread=False)
    for i in range(10):
        j.record(_decision(i))
    j.close()

    assert _rows(tmp_path / "journal.sqlite3", "events") == 10
    assert (tmp_path / "journal.wal").stat().st_size == 0
    with SqliteJournal(tmp_path, writer_thread=False) as again:
        assert again.recovered_records == 0
        assert len(again.load_events()) == 10


def test_the_rest_of_a_burst_stays_due_when_records_come_between_slices(
    tmp_path: Path, clock: FakeMonotonic
) -> None:
    with SqliteJournal(tmp_path, writer_thread=False) as j:
        for i in range(2 * APPLY_SLICE):
            j.record(_decision(i))
        assert j.apply_when_quiet() == 0
        assert j.apply_when_quiet() == APPLY_SLICE

        j.record(_decision(999))  # a new record between two slices (no time passes)

        assert j.apply_when_quiet() == APPLY_SLICE  # the waiting slice is not held back
        assert j.apply_when_quiet() == 1
        assert _rows(j.path, "events") == 2 * APPLY_SLICE + 1


# --- snapshot_soon: a balance snapshot kept for the applier -----------------------------------


def _soon(journal: SqliteJournal, time_ms: int, equity: str) -> None:
    journal.snapshot_soon(time_ms=time_ms, equity=D(equity), wallet=D(equity), unrealized_pnl=D(0))


def test_a_snapshot_kept_for_the_applier_is_appended_at_its_next_look(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path, writer_thread=False)
    frames = len(read_wal(journal.wal_path.read_bytes())[0])

    _soon(journal, 1_000, "10005.5")
    kept = len(read_wal(journal.wal_path.read_bytes())[0])
    journal.apply_when_quiet()  # the applier's look: appends it (applied at a later look)
    appended = len(read_wal(journal.wal_path.read_bytes())[0])
    journal.close()

    assert kept == frames
    assert appended == frames + 1
    with SqliteJournal(tmp_path, writer_thread=False) as again:
        assert [(t, e) for t, e, _, _ in again.load_snapshots()] == [(1_000, D("10005.5"))]


def test_a_snapshot_kept_is_written_before_a_later_snapshot_a_read_or_the_close(
    tmp_path: Path,
) -> None:
    journal = SqliteJournal(tmp_path, writer_thread=False)
    _soon(journal, 1_000, "10001")
    journal.snapshot(time_ms=2_000, equity=D(10000), wallet=D(10000), unrealized_pnl=D(0))
    _soon(journal, 3_000, "10003")
    read = [t for t, _, _, _ in journal.load_snapshots()]  # the read writes it first
    _soon(journal, 4_000, "10004")
    journal.close()

    with SqliteJournal(tmp_path, writer_thread=False) as again:
        closed = [t for t, _, _, _ in again.load_snapshots()]
    assert read == [1_000, 2_000, 3_000]
    assert closed == [1_000, 2_000, 3_000, 4_000]
