"""SqliteJournal's write-ahead log: a record is safe once `record` returns even if the process
is killed before the writer thread applied it; a torn last write is dropped and counted;
synchronous=FULL fsyncs every record; a writer failure is never silent; replay is idempotent."""

import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import book_keeper.journal as journal_module
from book_keeper import journal_wal_file
from book_keeper.journal import SqliteJournal, Synchronous
from book_keeper.journal_errors import JournalError
from book_keeper.journal_wal import read_wal
from book_keeper.journal_wal_file import RESERVE_BYTES
from core.enums import OrderStatus
from core.events import DecisionMade
from tests.book_keeper.support import (
    BUY,
    SELL,
    SYMBOL,
    T0,
    D,
    submitted,
)

ROOT = Path(__file__).resolve().parents[2]
N_ORDERS = 40


def _decision(n: int) -> DecisionMade:
    return DecisionMade(
        event_time_ms=T0 + n,
        recv_time_ms=T0 + n,
        symbol=SYMBOL,
        strategy="sma_crossover",
        action=f"target {n}",
        reason="fast above slow",
    )


def _frames(path: Path) -> list[tuple[int, bytes]]:
    """The intact frames of a write-ahead log file (the rest is its reserve, or a torn write)."""
    return read_wal(path.read_bytes())[0]


def _count(path: Path, sql: str) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()


def _record_then_die(tmp_path: Path, torn_tail: bool = False, writer_thread: bool = True) -> str:
    """A child process journals N_ORDERS order flows (decision + intent in one record_many,
    accepted, a partial and a final fill) and a snapshot, with its writer thread held back,
    checks that the tables hold none of it, then SIGKILLs itself. Returns its stdout."""
    script = f"""
import os, signal, sqlite3, sys
sys.path.insert(0, {str(ROOT)!r})
from book_keeper.journal import SqliteJournal
from book_keeper.journal_wal import read_wal
from tests.book_keeper.test_journal_wal import N_ORDERS, _decision
from tests.book_keeper.support import BUY, D, accepted, fill, filled, submitted
# the writer waits an hour (without a writer thread, nothing applies until asked)
j = SqliteJournal({str(tmp_path)!r}, apply_interval_s=3600, writer_thread={writer_thread!r})
for n in range(1, N_ORDERS + 1):
    cid = f"t-{{n}}"
    j.record_many((_decision(n), submitted(cid, BUY, "0.002", "60000.0")))
    j.record(accepted(cid, 1000 + n))
    j.record(filled(fill(cid, 2 * n, BUY, "0.001", "60000.0", fee="0.024", order_id=1000 + n),
                    "0.001", "60000.0", final=False))
    j.record(filled(fill(cid, 2 * n + 1, BUY, "0.001", "60000.0", fee="0.024", order_id=1000 + n),
                    "0.002", "60000.0"))
j.snapshot(time_ms=1, equity=D("10000.5"), wallet=D("10000"), unrealized_pnl=D("0.5"))
db = sqlite3.connect(j.path)
orders = db.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
print("orders in the tables before the kill:", orders)
sys.stdout.flush()
if {torn_tail!r}:
    with open(j.wal_path, "rb") as f:
        data = f.read()
    frames, end = read_wal(data)
    assert frames and not any(data[end:])  # the frames, then the reserve's zeros
    j._wal.append(end, data[:40], fsync=False)  # a frame cut short by the crash (copied in part)
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return proc.stdout


def _assert_everything_is_there(j: SqliteJournal) -> None:
    assert [(o.client_order_id, o.status, o.filled_qty) for o in j.load_orders()] == [
        (f"t-{n}", OrderStatus.FILLED, D("0.002")) for n in range(1, N_ORDERS + 1)
    ]
    assert len(j.load_fills()) == 2 * N_ORDERS
    assert j.last_trade_id(SYMBOL) == 2 * N_ORDERS + 1
    assert [e for _, e in j.load_events(["DecisionMade"])] == [
        _decision(n) for n in range(1, N_ORDERS + 1)
    ]
    assert j.load_snapshots() == [(1, D("10000.5"), D("10000"), D("0.5"))]


@pytest.mark.parametrize("writer_thread", [True, False])
def test_records_the_killed_process_had_not_applied_are_recovered_at_opening(
    tmp_path, writer_thread
):
    out = _record_then_die(tmp_path, writer_thread=writer_thread)

    assert out == "orders in the tables before the kill: 0\n"  # all of it only in the log
    with SqliteJournal(tmp_path) as j:
        assert j.recovered_records == 4 * N_ORDERS + 1
        assert j.torn_records == 0
        assert _count(j.path, "SELECT COUNT(*) FROM orders") == N_ORDERS  # applied at opening
        assert _frames(j.wal_path) == []  # the log emptied
        _assert_everything_is_there(j)
        # the sequence numbers go on: new records land after the recovered ones
        j.record(_decision(999))
        assert j.load_events(["DecisionMade"])[-1][1] == _decision(999)


def test_a_torn_last_record_is_dropped_and_counted(tmp_path):
    _record_then_die(tmp_path, torn_tail=True)

    with SqliteJournal(tmp_path) as j:
        assert (j.torn_records, j.recovered_records) == (1, 4 * N_ORDERS + 1)
        _assert_everything_is_there(j)
        j.record(submitted("t-new", SELL, "0.001", "61000.0"))  # written after the cut
    with SqliteJournal(tmp_path) as j:
        assert j.torn_records == 0
        assert j.open_orders()[0].client_order_id == "t-new"


def test_replaying_the_log_again_duplicates_nothing(tmp_path):
    _record_then_die(tmp_path)
    stale = tmp_path / "stale.wal"
    shutil.copy(tmp_path / "journal.wal", stale)
    with SqliteJournal(tmp_path) as j:
        assert j.recovered_records == 4 * N_ORDERS + 1

    # A crash after the records were applied but before the log was emptied: same log again.
    shutil.copy(stale, tmp_path / "journal.wal")
    with SqliteJournal(tmp_path) as j:
        assert j.recovered_records == 0
        _assert_everything_is_there(j)
        assert _count(j.path, "SELECT COUNT(*) FROM events") == 2 * N_ORDERS  # decided, accepted


class _CountedFlushes:
    """The log's memory map, its flushes (msync) counted, each after the frame was stored."""

    def __init__(self, real) -> None:
        self.real = real
        self.flushes: list[int] = []  # the frames stored so far at each flush

    def __setitem__(self, key, value) -> None:
        self.real[key] = value

    def __getitem__(self, key):
        return self.real[key]

    def flush(self, *span: int) -> None:
        self.flushes.append(len(read_wal(bytes(self.real))[0]))
        self.real.flush(*span)

    def close(self) -> None:
        self.real.close()


@pytest.mark.parametrize(("mode", "per_record"), [(Synchronous.FULL, 1), (Synchronous.NORMAL, 0)])
def test_full_flushes_every_record_to_the_disk_and_normal_none(tmp_path, mode, per_record):
    with SqliteJournal(tmp_path, synchronous=mode, apply_interval_s=3600) as j:
        counted = j._wal._map = _CountedFlushes(j._wal._map)
        j.record(submitted("t-1", BUY, "0.001", "60000.0"))
        j.record_many((_decision(1), submitted("t-2", BUY, "0.001", "60000.0")))
        j.snapshot(time_ms=1, equity=D(1), wallet=D(1), unrealized_pnl=D(0))

        assert counted.flushes == [1, 2, 3][: 3 * per_record]  # each one once it was stored
        assert len(j.open_orders()) == 2


def test_a_writer_failure_is_raised_by_the_next_record_and_nothing_is_lost(tmp_path, monkeypatch):
    real_apply = journal_module._Applier.apply

    def broken(self, batches):
        raise sqlite3.OperationalError("disk I/O error")

    j = SqliteJournal(tmp_path)
    monkeypatch.setattr(journal_module._Applier, "apply", broken)
    j.record(submitted("t-1", BUY, "0.001", "60000.0"))  # in the log; the writer then fails
    with pytest.raises(JournalError, match="writer failed"):
        j.flush()
    with pytest.raises(JournalError, match="writer failed"):
        j.record(submitted("t-2", BUY, "0.001", "60000.0"))
    with pytest.raises(JournalError, match="writer failed"):
        j.close()
    monkeypatch.setattr(journal_module._Applier, "apply", real_apply)

    with SqliteJournal(tmp_path) as again:  # the logged record is applied at the next opening
        assert [o.client_order_id for o in again.open_orders()] == ["t-1"]


def test_the_log_is_emptied_once_applied(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "_ROTATE_BYTES", 1)
    with SqliteJournal(tmp_path) as j:
        for n in range(1, 20):
            j.record(_decision(n))
        j.flush()
        deadline = time.monotonic() + 5
        while (
            _frames(j.wal_path) or os.path.getsize(j.wal_path) != RESERVE_BYTES
        ) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _frames(j.wal_path) == []  # the writer emptied it once all was applied
        assert os.path.getsize(j.wal_path) == RESERVE_BYTES  # and reserved it afresh
        j.record(_decision(20))  # appended at the start of the emptied log
        assert [lsn for lsn, _ in _frames(j.wal_path)] == [20]
        assert len(j.load_events()) == 20
    assert os.path.getsize(tmp_path / "journal.wal") == 0  # a clean close leaves no reserve
    with SqliteJournal(tmp_path) as j:
        assert j.recovered_records == 0 and len(j.load_events()) == 20


def test_a_log_in_the_line_format_of_earlier_versions_is_still_recovered(tmp_path):
    """A log left by a daemon of the previous version (record_many as `<kind> <JSON>` lines)."""
    from book_keeper import codec

    with SqliteJournal(tmp_path):
        pass  # the tables exist, nothing applied
    decision, intent = _decision(1), submitted("t-1", BUY, "0.001", "60000.0")
    body = b"\n".join(f"{type(e).__name__} ".encode() + codec.encode(e) for e in (decision, intent))
    (tmp_path / "journal.wal").write_bytes(journal_module._frame(1, body))

    with SqliteJournal(tmp_path) as j:
        assert j.recovered_records == 1
        assert [e for _, e in j.load_events(["DecisionMade"])] == [decision]
        assert [o.client_order_id for o in j.open_orders()] == ["t-1"]


def test_record_many_stores_each_event_payload_as_record_does(tmp_path):
    from book_keeper import codec

    first, second = _decision(1), _decision(2)
    with SqliteJournal(tmp_path) as j:
        j.record_many((first, second))
        j.record(_decision(3))
        j.flush()
    db = sqlite3.connect(tmp_path / "journal.sqlite3")
    payloads = [row[0] for row in db.execute("SELECT payload FROM events ORDER BY seq")]
    db.close()
    assert payloads == [codec.encode(_decision(n)).decode() for n in (1, 2, 3)]


real_allocate = journal_wal_file._allocate


def _disk_full_from_now(monkeypatch) -> None:
    """The disk has no block left: reserving more of the log fails as a full disk does."""

    def refuse(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(journal_wal_file, "_allocate", refuse)


def test_a_full_disk_when_the_log_must_grow_fails_the_record_and_leaves_no_part_of_it(
    tmp_path, monkeypatch
):
    """The reserve is used up and the disk is full: the error says so (the daemon's one line
    names it), the record is not in the log, and once there is room again the log goes on."""
    monkeypatch.setattr(journal_wal_file, "RESERVE_BYTES", 4096)
    with SqliteJournal(tmp_path, apply_interval_s=3600) as j:
        _disk_full_from_now(monkeypatch)  # the first 4 KB are reserved; nothing more
        recorded = []
        with pytest.raises(JournalError, match="No space left on device"):
            for n in range(1, 100):  # each < 1 KB: the reserve is used up within 10
                j.record(submitted(f"t-{n}", BUY, "0.001", "60000.0"))
                recorded.append(f"t-{n}")
        assert 3 <= len(recorded) < 20
        frames = _frames(j.wal_path)
        assert len(frames) == len(recorded)  # the refused record is not in the log ...
        assert f"t-{len(recorded) + 1}".encode() not in b"".join(body for _, body in frames)
        assert os.path.getsize(j.wal_path) == 4096  # ... and the file is as it was
        monkeypatch.setattr(journal_wal_file, "_allocate", real_allocate)  # room again
        j.record(submitted("t-new", BUY, "0.001", "60000.0"))  # the log goes on
        assert [o.client_order_id for o in j.open_orders()] == [*recorded, "t-new"]


def test_a_full_disk_when_the_applied_log_is_emptied_fails_only_the_next_record(
    tmp_path, monkeypatch
):
    """Emptying the applied log reserves its space again; on a full disk that cannot: the
    writer goes on (not a writer failure), the next record fails as a full disk, and once
    there is room the log goes on."""
    monkeypatch.setattr(journal_module, "_ROTATE_BYTES", 1)
    with SqliteJournal(tmp_path, writer_thread=False) as j:
        j.record(_decision(1))
        _disk_full_from_now(monkeypatch)
        j.flush()  # applied, then emptied: no room to reserve it again
        assert os.path.getsize(j.wal_path) == 0
        with pytest.raises(JournalError, match="No space left on device"):
            j.record(_decision(2))
        monkeypatch.setattr(journal_wal_file, "_allocate", real_allocate)
        j.record(_decision(3))
        assert [e.action for _, e in j.load_events(["DecisionMade"])] == ["target 1", "target 3"]


def test_a_log_longer_than_its_reserve_grows_and_every_frame_is_recovered(tmp_path):
    """More than RESERVE_BYTES of records the writer never applied (a daemon killed with a
    slow applier): the map grows as often as needed and a restart reads all of them back."""
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from book_keeper import journal_wal_file
journal_wal_file.RESERVE_BYTES = 8192
from book_keeper.journal import SqliteJournal
from tests.book_keeper.test_journal_wal import _decision
j = SqliteJournal({str(tmp_path)!r}, apply_interval_s=3600, writer_thread=False)
for n in range(1, 401):
    j.record(_decision(n))
print(os.path.getsize(j.wal_path), j._wal_size)
sys.stdout.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    file_size, used = map(int, proc.stdout.split())
    assert used > 4 * 8192 and file_size >= used  # grown several times past the first reserve
    assert [lsn for lsn, _ in _frames(tmp_path / "journal.wal")] == list(range(1, 401))
    with SqliteJournal(tmp_path) as j:
        assert (j.recovered_records, j.torn_records) == (400, 0)
        assert [e for _, e in j.load_events(["DecisionMade"])] == [
            _decision(n) for n in range(1, 401)
        ]


def test_a_file_system_without_shared_maps_gets_the_frames_written(tmp_path, monkeypatch, caplog):
    """Where mmap is refused (ENODEV: some network and FUSE mounts) the log is written with
    pwrite, one warning says so, and a killed process's records are recovered as ever."""

    def refused(*args, **kwargs):
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))

    monkeypatch.setattr(journal_wal_file.mmap, "mmap", refused)
    with caplog.at_level("WARNING"), SqliteJournal(tmp_path, writer_thread=False) as j:
        j.record(submitted("t-1", BUY, "0.001", "60000.0"))
        j.record_many((_decision(1), submitted("t-2", BUY, "0.001", "60000.0")))
        j.rehearse_many((_decision(2),))  # nothing to fault in: no map
        assert not j._wal.mapped
        assert [lsn for lsn, _ in _frames(j.wal_path)] == [1, 2]
        assert os.path.getsize(j.wal_path) == j._wal_size  # no reserve: the frames alone
        assert [o.client_order_id for o in j.open_orders()] == ["t-1", "t-2"]
    warnings = [
        r.getMessage() for r in caplog.records if "cannot be memory-mapped" in r.getMessage()
    ]
    assert len(warnings) == 1 and "No such device" in warnings[0]
    assert os.path.getsize(tmp_path / "journal.wal") == 0  # emptied at the clean close


def test_without_the_map_a_disk_filling_during_a_write_leaves_no_part_of_the_record(
    tmp_path, monkeypatch
):
    """The pwrite path: the disk took 40 bytes of the frame, then none. The error says the
    disk is full (not "short write"), the file is cut back to the frames before, and once
    there is room the log goes on."""

    def refused(*args, **kwargs):
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))

    monkeypatch.setattr(journal_wal_file.mmap, "mmap", refused)
    real_pwrite = os.pwrite
    budget = [40]

    def filling(fd: int, data, offset: int) -> int:
        if budget[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        taken = real_pwrite(fd, bytes(data[: budget[0]]), offset)
        budget[0] -= taken
        return taken

    with SqliteJournal(tmp_path, apply_interval_s=3600) as j:
        j.record(submitted("t-1", BUY, "0.001", "60000.0"))
        size = os.path.getsize(j.wal_path)
        monkeypatch.setattr(journal_wal_file.os, "pwrite", filling)
        with pytest.raises(JournalError, match="No space left on device"):
            j.record(submitted("t-2", BUY, "0.001", "60000.0"))
        assert os.path.getsize(j.wal_path) == size
        monkeypatch.setattr(journal_wal_file.os, "pwrite", real_pwrite)
        j.record(submitted("t-3", BUY, "0.001", "60000.0"))
        assert [o.client_order_id for o in j.open_orders()] == ["t-1", "t-3"]


MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 27 0:30 / /data rw,relatime - btrfs /dev/vdb rw
31 30 0:31 / /data/fast\\040disk rw,relatime shared:5 - xfs /dev/vdc rw
32 27 0:32 / /tmpx rw - tmpfs tmpfs rw
"""


def test_the_file_system_type_is_the_longest_mount_point_above_the_path():
    kind = journal_wal_file.file_system_type
    assert kind(Path("/home/me/journal"), MOUNTINFO) == "ext4"
    assert kind(Path("/data/journal"), MOUNTINFO) == "btrfs"
    assert kind(Path("/data/fast disk/j"), MOUNTINFO) == "xfs"  # an escaped space, optional field
    assert kind(Path("/datax/j"), MOUNTINFO) == "ext4"  # /data is not a prefix of /datax
    assert kind(Path("/tmpx"), MOUNTINFO) == "tmpfs"
    assert kind(Path("/x"), "") is None


def test_on_a_copy_on_write_file_system_the_frames_are_written_not_mapped(tmp_path, monkeypatch):
    """btrfs / ZFS: a store into a reserved block may need a new one and die of SIGBUS on a
    full disk, so the log is written with pwrite there (said once at INFO)."""
    monkeypatch.setattr(journal_wal_file, "file_system_type", lambda path: "btrfs")
    with SqliteJournal(tmp_path, writer_thread=False) as j:
        assert not j._wal.mapped
        j.record(submitted("t-1", BUY, "0.001", "60000.0"))
        assert os.path.getsize(j.wal_path) == j._wal_size  # no reserve
        assert [o.client_order_id for o in j.open_orders()] == ["t-1"]
