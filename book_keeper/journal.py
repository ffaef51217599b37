"""The durable journal: every decision, order intent, order event, fill and account event of the
daemon, written before it is acted on, in one SQLite file `<journal_dir>/journal.sqlite3`
behind an append-only write-ahead log `<journal_dir>/journal.wal`.

Writing (the tick path). `record(event)` / `record_many(events)` / `snapshot(...)` encode the
event(s) (orjson; Decimals as fixed-point strings) into ONE frame - crc32, sequence number
(lsn), length, then the body: `<kind> <JSON>` for one event, `[[kinds], [events]]` (one
encode) for a `record_many` - and copy it to the end of `journal.wal` through a shared memory
map (`journal_wal_file`: the file's blocks reserved ahead, no system call per record). When
that returns the bytes are in the kernel's page cache: they survive the death of the process
(crash, `kill -9`), which is the guarantee SQLite's `synchronous=NORMAL` gave. With
`Synchronous.FULL` the call also flushes the frame's pages to the disk (msync, as fdatasync)
before returning: the record survives a power loss too (one disk flush per record:
milliseconds on a slow disk). A
`record_many` is one frame: after a crash all of its events are there, or none. Cost
(bench/bench_journal.py, loaded 2-core VM): record_many(DecisionMade, OrderSubmitted) p50
~12 us with NORMAL, instead of 50-150 us (and millisecond checkpoint tails) for a SQLite commit.

Applying. Every `apply_interval_s` (5 ms) the applier looks for new records; after a poll
interval without new records (at the latest 50 ms after it saw the first of a burst) it takes
the frames recorded and applies them to the tables (its own SQLite connection, WAL mode, same
synchronous setting) in one transaction, storing the last applied lsn in
`meta.wal_applied_lsn` in the same transaction (so a frame is applied exactly once, whatever
happens). The applier is a background writer thread by default. The daemon passes
`writer_thread=False` and runs `apply_when_quiet()` from its own event loop instead (see
`run_applier`): a second Python thread competes with the order path for the GIL at every
call that releases it (a socket send; the log's `write` before it was mapped), which cost
the tick-to-order path ~30-60 us at p50 (bench/bench_tick_to_order.py); in the loop the
tables are written in the gaps between two market-data items, never during one (in slices of
32 frames). Once
everything is applied and the log exceeds 1 MiB (and at `close()`), the log is emptied. On
opening, the frames after `wal_applied_lsn` - recorded by a process that died before its
writer applied them - are applied first (`recovered_records`); a torn or corrupt
last frame (the process died inside its write) is dropped, logged and counted
(`torn_records`). A writer failure (disk full, I/O error) is raised as JournalError by the
next `record`/`flush`/read and by `close()`: nothing more is journaled, and the frames it could
not apply stay in the log for the next opening.

Reading. Every read method first waits until the writer has applied everything recorded so far
(`flush()`), so it sees every record made before it. Another process (the `sqlite3` CLI,
`python -m book_keeper.export`, `readonly=True`) sees a record once the writer applied it:
typically 5-15 ms after `record`, at most ~50 ms plus the apply time; a read-only journal
waits (up to 2 s) for the daemon's writer to apply what its log holds. One process writes a
journal at a time (an exclusive `journal.sqlite3.lock` file lock, released by the OS even
after `kill -9`).

The journal's other parts, one job each: `journal_files` (where its files are, the writer
lock), `journal_wal` (the write-ahead log's frames), `journal_applier` (applying them to the
tables), `journal_schema` (the tables), `journal_format` (the format mark and its history, the
refusal of a newer version's journal), `journal_errors`, and the reads: `journal_reader`,
`journal_restore_reads`, `journal_limit_reads`, `journal_checkpoints`.
"""

import asyncio
import fcntl
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

import orjson

from book_keeper import codec
from book_keeper.codec import dec
from book_keeper.journal_applier import _Applier
from book_keeper.journal_checkpoints import CheckpointKeeping
from book_keeper.journal_errors import JournalError
from book_keeper.journal_files import WAL_SUFFIX, JournalLock, journal_file, journal_in_use
from book_keeper.journal_format import _FORMAT_KEY, FORMAT, _mark_not_newer, unknown_value
from book_keeper.journal_limit_reads import LimitReads
from book_keeper.journal_restore_reads import RestoreReads
from book_keeper.journal_schema import (
    _APPLIED_KEY,
    _SCHEMA,
    CLIENT_ID_TAG_KEY,
    _add_order_intent,
    _add_order_reasons,
    _add_snapshot_transfers,
    _add_taken_over_qty,
    _columns,
)
from book_keeper.journal_wal import (
    SNAPSHOT_KIND,
    _Batch,
    _decode_body,
    _Entry,
    _frame,
    _kind_prefix,
    _Snapshot,
    body_of_many,
    read_wal,
)
from book_keeper.journal_wal_file import WalFile, torn_tail
from core.events import Event
from core.orders import CLIENT_ID_TAG_CHOICES, client_id_tag
from core.redaction import shown_path

log = logging.getLogger("book_keeper.journal")  # one logger for all the journal's modules

APPLY_INTERVAL_S = 0.005  # the applier looks for new records this often
MAX_APPLY_LAG_S = 0.05  # ... and applies them at the latest this long after it saw them
APPLY_SLICE = 32  # without a writer thread: frames per call (~0.5 ms; market data waits meanwhile)
READER_WAIT_S = 2.0  # how long a read-only reader waits for the daemon's writer to catch up
_ROTATE_BYTES = 1 << 20  # truncate the fully applied write-ahead log once it is this big
# SQLite's own -wal file: checkpointed every 1,000 pages (~4 MB) and then written again from
# its start, but never shrunk; after a reader held a snapshot (an export, an open `sqlite3`
# session) and kept the checkpoints from restarting it, it would stay at the size it reached.
# This truncates it back at the next restart.
_SQLITE_WAL_LIMIT = 8 << 20


class Synchronous(StrEnum):
    FULL = "FULL"  # every record is fdatasync'ed: survives a power loss
    NORMAL = "NORMAL"  # every record is in the kernel when recorded: survives a killed process


def _draw_client_id_tag(db: sqlite3.Connection) -> None:
    """Give a journal that has issued no client order id yet its tag, drawn at random: a
    journal created now, or one an earlier version created that never sent an order. One
    that has issued ids keeps its `<prefix>-<n>` (its open orders are known by them)."""
    try:
        if db.execute("SELECT 1 FROM meta WHERE key = ?", (CLIENT_ID_TAG_KEY,)).fetchone():
            return
        issued = db.execute(
            "SELECT EXISTS (SELECT 1 FROM orders) OR EXISTS "
            "(SELECT 1 FROM events WHERE kind = 'RiskDenied')"
        ).fetchone()[0]
        if issued:
            return
        tag = client_id_tag(secrets.randbelow(CLIENT_ID_TAG_CHOICES))
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (CLIENT_ID_TAG_KEY, tag))
    except sqlite3.Error as e:
        raise JournalError(f"cannot give the journal its client id tag: {e}") from e


class SqliteJournal(RestoreReads, LimitReads, CheckpointKeeping):
    """`core.journal.Journal` in SQLite behind an append-only write-ahead log, with the restore
    and audit queries of the daemon (`RestoreReads`, `LimitReads`, `CheckpointKeeping`: their
    own modules; this class opens, records, applies and closes).

    `record`/`record_many`/`snapshot` are called from one thread (the daemon's asyncio thread);
    a background writer thread applies what they logged, or, with `writer_thread=False`, the
    owner calls `apply_when_quiet()` every `apply_interval_s` from that same thread (the
    daemon's loop: `run_applier`). Every read first applies, or waits for the writer to apply,
    everything recorded so far (`flush()`), so reads see every record made before.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = Synchronous.FULL,
        readonly: bool = False,
        apply_interval_s: float = APPLY_INTERVAL_S,
        writer_thread: bool = True,
        lock: JournalLock | None = None,
    ) -> None:
        """`lock`: this journal's writer lock, taken beforehand (`JournalLock`); the journal
        keeps it from then on, and releases it when closed (or when it fails to open)."""
        self.path = journal_file(path)
        self._given_lock = lock
        self.wal_path = self.path.with_name(self.path.name.rsplit(".", 1)[0] + WAL_SUFFIX)
        self.readonly = readonly
        self.synchronous = Synchronous(synchronous)
        self.apply_interval_s = apply_interval_s
        self.writer_thread = writer_thread
        self.torn_records = 0  # write-ahead log frames dropped at opening (a torn last write)
        self.recovered_records = 0  # frames applied at opening (recorded, not yet applied)
        self._fsync = self.synchronous is Synchronous.FULL
        self._lock_fd: int | None = None
        self._wal: WalFile | None = None  # journal.wal (a memory map, or pwrite: journal_wal_file)
        self._conn: sqlite3.Connection | None = None
        self._applier: _Applier | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._lsn = 0  # last lsn written to the write-ahead log
        self._applied = 0  # last lsn applied to the tables (by the writer)
        self._wal_size = 0
        self._queue: deque[_Batch] = deque()
        # Balance snapshots `snapshot_soon` keeps for the owner's applier to append: (time_ms,
        # equity, wallet, unrealized_pnl, transfers), oldest first.
        self._deferred: deque[tuple[int, Decimal, Decimal, Decimal, Decimal]] = deque()
        self._wal_lock = threading.Lock()  # record vs. the writer's truncation of the log
        self._hurry = threading.Event()  # a reader or close() waits: apply now
        self._applied_cond = threading.Condition()
        self._closing = False
        self._seen = 0  # the applier's policy: the last lsn it saw recorded ...
        self._burst_start: float | None = None  # ... and when it first saw the unapplied ones
        self._conn = self._connect(self.synchronous)
        # A journal older than `orders.intent` opened read-only keeps its table as it is: its
        # orders read as ORDINARY, as a writer's migration (`_add_order_intent`) makes them.
        self._has_intent = not readonly or "intent" in _columns(self._conn, "orders")
        # ... and one older than `orders.taken_over_qty` exports it empty
        self._has_taken_over = not readonly or "taken_over_qty" in _columns(self._conn, "orders")
        # ... and one older than `orders.why_sent` / `why_cancelled` exports them empty
        self._has_reasons = not readonly or "why_sent" in _columns(self._conn, "orders")
        if not readonly:
            try:
                self._open_writer()
                # After the recovery: the log may hold the first orders of a journal.
                _draw_client_id_tag(self._db)
            except BaseException:
                self._close_files()
                raise

    # --- opening ---------------------------------------------------------------------------

    def _connect(self, synchronous: Synchronous) -> sqlite3.Connection:
        path = self.path
        try:
            if self.readonly:
                if not path.is_file():
                    raise JournalError(f"no journal at {shown_path(path)}")
                db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
                db.isolation_level = None
                if _mark_not_newer(db, path) is None:
                    db.close()
                    raise JournalError(f"{shown_path(path)} is not a journal (no schema_version)")
                return db
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock(path)
            db = sqlite3.connect(path, isolation_level=None, cached_statements=64)
            _mark_not_newer(db, path)  # before anything is changed: a newer one is left as is
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise JournalError(f"{shown_path(path)}: SQLite refused WAL mode (got {mode})")
            db.execute(f"PRAGMA synchronous = {Synchronous(synchronous).value}")
            db.execute("PRAGMA busy_timeout = 5000")
            db.executescript(_SCHEMA)
            _add_snapshot_transfers(db)
            _add_order_intent(db)
            _add_taken_over_qty(db)
            _add_order_reasons(db)
            # This version may write what an older one would misread (see `journal_format`):
            # the mark says so from now on.
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_FORMAT_KEY, str(FORMAT))
            )
            return db
        except sqlite3.Error as e:
            self._unlock()
            raise JournalError(f"cannot open the journal {shown_path(path)}: {e}") from e
        except OSError as e:
            self._unlock()
            raise JournalError(
                f"cannot open the journal {shown_path(path)}: {e.strerror or e}"
            ) from e
        except ValueError as e:  # a format mark that is not one (`_format_mark`)
            self._unlock()
            raise JournalError(f"cannot open the journal {shown_path(path)}: {e}") from None
        except JournalError:
            self._unlock()
            raise

    def _open_writer(self) -> None:
        """The writer's connection, crash recovery from the write-ahead log, the writer thread."""
        try:
            db = sqlite3.connect(
                self.path, isolation_level=None, cached_statements=64, check_same_thread=False
            )
            db.execute(f"PRAGMA synchronous = {self.synchronous.value}")
            db.execute("PRAGMA busy_timeout = 5000")
            db.execute(f"PRAGMA journal_size_limit = {_SQLITE_WAL_LIMIT}")
            self._applier = applier = _Applier(db)
            self._wal = wal = WalFile(self.wal_path)
            self._recover(applier, wal)
        except sqlite3.Error as e:
            raise JournalError(f"cannot open the journal {shown_path(self.path)}: {e}") from e
        except OSError as e:
            raise JournalError(
                f"cannot open the journal {shown_path(self.path)}: {e.strerror or e}"
            ) from e
        except codec.UnknownValue as e:  # open orders, or records a newer version logged
            raise unknown_value(self.path.parent, e) from None
        except (KeyError, ValueError, TypeError, ArithmeticError) as e:
            raise JournalError(
                f"cannot recover the journal {shown_path(self.wal_path)}: {e!r}"
            ) from e
        if self.writer_thread:
            self._thread = threading.Thread(
                target=self._run, name=f"journal-writer {self.path}", daemon=True
            )
            self._thread.start()

    def _recover(self, applier: _Applier, wal: WalFile) -> None:
        """Apply the records logged after the last applied one (the process died before its
        writer applied them), drop a torn last write, then empty the log."""
        data = wal.read()
        size = len(data)
        frames, good = read_wal(data)
        if torn_tail(data, good):
            self.torn_records = 1
            log.warning(
                "journal: dropped a torn or corrupt record at the end of %s (%d bytes after "
                "%d intact records)",
                self.wal_path,
                size - good,
                len(frames),
            )
        todo = [(lsn, _decode_body(body)) for lsn, body in frames if lsn > applier.applied_lsn]
        if todo:
            applier.apply(todo)
            self.recovered_records = len(todo)
            log.warning(
                "journal: recovered %d records from %s (logged, not yet applied when the "
                "last process stopped)",
                len(todo),
                self.wal_path,
            )
        last = max([applier.applied_lsn, *(lsn for lsn, _ in frames)])
        self._lsn = self._applied = applier.applied_lsn = last
        wal.reset(fsync=self._fsync and size > 0)
        self._wal_size = 0

    def _lock(self, path: Path) -> None:
        given = self._given_lock
        if given is not None:
            if given.path != path:
                raise JournalError(f"the lock given is {given.path}'s, not {path}'s")
            self._given_lock = None
            self._lock_fd = given.take()
            return
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalError(
                f"the journal {shown_path(path)} is in use by another process"
            ) from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def close(self) -> None:
        """Apply everything recorded, empty the write-ahead log, close; the journal may then be
        opened by another process. Raises JournalError (after closing) when the writer had
        failed: its records stay in the write-ahead log for the next opening."""
        error = None
        try:
            self._write_deferred()
        except JournalError as e:
            error = e.__cause__ or e
        if self._thread is not None:
            self._closing = True
            self._hurry.set()
            self._thread.join()
            self._thread = None
            error = self._error
        elif self._applier is not None:
            try:
                self._apply_now()
                self._final_checkpoint(self._applier)
                self._truncate_if_applied()
            except JournalError as e:
                error = e.__cause__ or e
        self._close_files()
        if error is not None:
            raise JournalError(
                f"the journal writer failed: {error!r}; the records it could not apply stay "
                f"in {self.wal_path}, for the next opening"
            ) from error

    def _final_checkpoint(self, applier: _Applier) -> None:
        """At close: a checkpoint of what was applied since the last one. Not having it costs
        the next start some replay, nothing else: a failure is logged, not raised."""
        try:
            applier.checkpoint()
        except sqlite3.Error as e:
            log.warning("journal: no checkpoint at close: %s", e)

    def _close_files(self) -> None:
        if self._applier is not None:
            self._applier.db.close()
            self._applier = None
        if self._wal is not None:
            self._wal.close(keep=self._wal_size)  # 0 once everything was applied
            self._wal = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._unlock()

    def __enter__(self) -> "SqliteJournal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        applier = self._applier
        assert applier is not None
        queue = self._queue
        try:
            while True:
                # Polled, not woken by `record`: waking a thread costs the recording thread
                # ~10 us (futex wake + GIL hand-over), the order path's whole journal budget.
                self._hurry.wait(self.apply_interval_s)
                urgent = self._hurry.is_set() or self._closing
                self._hurry.clear()
                if not urgent and not self._quiet():
                    continue
                batch: list[_Batch] = []
                while queue:
                    batch.append(queue.popleft())
                if batch:
                    applier.apply(batch)
                    with self._applied_cond:
                        self._applied = batch[-1][0]
                        self._applied_cond.notify_all()
                if self._wal_size >= _ROTATE_BYTES or (self._closing and not queue):
                    self._truncate_if_applied()
                if self._closing and not queue:
                    return
        except BaseException as e:  # surfaced by the next record / flush / close
            log.error("journal: the writer failed; nothing more can be journaled: %r", e)
            self._error = e
            with self._applied_cond:
                self._applied_cond.notify_all()

    def _quiet(self) -> bool:
        """The applier's policy, asked every `apply_interval_s`: records came in since the last
        look, so an order may be on its way out: apply once a poll interval passed without
        records (or the lag would exceed MAX_APPLY_LAG_S), not to compete with it."""
        lsn = self._lsn
        if lsn != self._seen:
            self._seen = lsn
            now = time.monotonic()
            if self._burst_start is None:
                self._burst_start = now
            if now - self._burst_start < MAX_APPLY_LAG_S:
                return False
        self._burst_start = None
        return True

    # --- applied by the owner (writer_thread=False) ----------------------------------------

    def apply_when_quiet(self, max_frames: int = APPLY_SLICE) -> int:
        """Without a writer thread: what the thread would do at one of its looks, done by the
        caller (up to `max_frames` frames, one transaction); the number of frames applied.
        Call it again at once while it returns `max_frames` (more are waiting). Raises
        JournalError when applying fails (nothing more can be journaled then)."""
        if self._deferred:
            self._write_deferred()
        if self._thread is not None or self._applier is None or not self._queue:
            return 0
        if not self._quiet():
            return 0
        applied = self._apply_now(max_frames)
        if self._queue:  # the rest of this burst is due at the next call, records or not
            self._burst_start = float("-inf")
        return applied

    def _apply_now(self, max_frames: int | None = None) -> int:
        """Apply (up to `max_frames`) recorded frames in this thread, in one transaction."""
        if self._error is not None:
            raise JournalError(f"the journal writer failed: {self._error!r}") from self._error
        applier, queue = self._applier, self._queue
        if applier is None or not queue:
            return 0
        take = len(queue) if max_frames is None else min(max_frames, len(queue))
        batch = [queue.popleft() for _ in range(take)]
        try:
            applier.apply(batch)
        except BaseException as e:
            log.error("journal: applying failed; nothing more can be journaled: %r", e)
            self._error = e
            queue.extendleft(reversed(batch))
            raise JournalError(f"the journal writer failed: {e!r}") from e
        self._applied = batch[-1][0]
        if self._wal_size >= _ROTATE_BYTES:
            self._truncate_if_applied()
        return take

    def _truncate_if_applied(self) -> None:
        wal = self._wal
        with self._wal_lock:
            if wal is None or self._lsn != self._applied or not self._wal_size:
                return
            self._wal_size = 0  # before: should the reset fail, the next append starts over
            wal.reset()

    def flush(self) -> None:
        """Wait until the writer has applied everything recorded so far (reads do this first).
        Raises JournalError when the writer failed."""
        if self.readonly:
            self._await_writer_of_other_process()
            return
        if self._deferred:
            self._write_deferred()
        target = self._lsn
        if self._applied >= target and self._error is None:
            return
        if self._thread is None:
            if self._applier is not None:  # no writer thread: apply here
                self._apply_now()
            return
        self._hurry.set()
        with self._applied_cond:
            while self._applied < target:
                if self._error is not None:
                    break
                self._applied_cond.wait(0.1)
        if self._error is not None:
            raise JournalError(f"the journal writer failed: {self._error!r}") from self._error

    def _await_writer_of_other_process(self, timeout_s: float = READER_WAIT_S) -> None:
        """Read-only: when the write-ahead log holds records the daemon's writer has not
        applied yet, wait (up to `timeout_s`) until it has, so that a reader sees what was
        recorded before it started. When no process holds the journal, they stay pending: the
        next writable opening applies them (logged)."""
        conn = self._conn
        if conn is None:
            return
        try:
            with open(self.wal_path, "rb") as f:
                frames, _ = read_wal(f.read())
        except FileNotFoundError:
            return
        if not frames:
            return
        last = frames[-1][0]
        deadline = time.monotonic() + timeout_s
        while True:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (_APPLIED_KEY,)).fetchone()
            applied = 0 if row is None else int(row[0])
            if applied >= last:
                return
            if not self._writer_alive() or time.monotonic() >= deadline:
                log.warning(
                    "journal: %d records of %s are not applied to the tables yet (%s)",
                    last - applied,
                    self.wal_path,
                    "the writer is slow"
                    if self._writer_alive()
                    else "no daemon holds the journal: its next opening applies them",
                )
                return
            time.sleep(0.002)

    def _writer_alive(self) -> bool:
        """Whether a process holds the journal's writer lock."""
        return journal_in_use(self.path)

    @property
    def illegal_transitions(self) -> int:
        """Events not applied to their order row because the move is illegal (logged)."""
        self.flush()
        return 0 if self._applier is None else self._applier.illegal_transitions

    @property
    def unknown_order_events(self) -> int:
        """Order events for a client order id this journal never saw (kept in `events`)."""
        self.flush()
        return 0 if self._applier is None else self._applier.unknown_order_events

    # --- writing -------------------------------------------------------------------------

    def _append(self, entries: tuple[_Entry, ...], body: bytes, what: str) -> None:
        """One frame, copied into the log's shared memory map (`journal_wal_file`): in the
        kernel's page cache, so safe from the death of the process, when this returns; flushed
        to the disk first with synchronous=FULL."""
        if self.readonly:
            raise JournalError(f"the journal {shown_path(self.path)} is open read-only")
        if self._error is not None:
            raise JournalError(f"the journal writer failed: {self._error!r}") from self._error
        wal = self._wal
        if wal is None:
            raise JournalError(f"the journal {shown_path(self.path)} is closed")
        with self._wal_lock:
            lsn = self._lsn + 1
            frame = _frame(lsn, body)
            try:
                wal.append(self._wal_size, frame, fsync=self._fsync)
            except OSError as e:  # nothing of this record stays behind
                raise JournalError(f"journal write failed ({what}): {e}") from e
            self._wal_size += len(frame)
            self._lsn = lsn
            self._queue.append((lsn, entries))

    def record(self, event: Event) -> None:
        """Append `event`; durable when this returns (against a killed process; with
        synchronous=FULL also against a power loss).

        Raises JournalError when the write fails (disk full, I/O error, the writer failed):
        the caller must not act on an event it could not journal; TypeError for an event the
        codec cannot encode (nothing is written).
        """
        payload = codec.encode(event)
        self._append(((event, payload),), _kind_prefix(type(event)) + payload, "event")

    def record_many(self, events: Sequence[Event]) -> None:
        """Append `events` as one record: all of them durable when this returns, or none.

        The ExecManager journals a decision together with the OrderSubmitted (or RiskDenied)
        it leads to this way: one write instead of two on the tick path. Raises like `record`.
        """
        if not events:
            return
        # Bare events in the queue: the applier encodes each one's own payload later
        self._append(tuple(events), body_of_many(events), "events")

    def rehearse_many(self, events: Sequence[Event]) -> bytes:
        """The frame `record_many(events)` would append, built by the same code and not
        written (nothing recorded), and the log's bytes it would go to and the next pages
        touched (no byte changed): `trading_engine.order_rehearsal` keeps the path warm for
        the next order."""
        frame = _frame(self._lsn + 1, body_of_many(events))
        wal = self._wal
        if wal is not None:
            with self._wal_lock:  # the writer thread may be emptying the log
                wal.prefault(self._wal_size, len(frame))  # mapped and in the caches now
        return frame

    def snapshot(
        self,
        *,
        time_ms: int,
        equity: Decimal,
        wallet: Decimal,
        unrealized_pnl: Decimal,
        transfers: Decimal = Decimal(0),
    ) -> None:
        """A periodic balance snapshot (USDT; `transfers`: moved in and out so far); durable
        when this returns (after the ones `snapshot_soon` kept)."""
        if self._deferred:
            self._write_deferred()
        self._write_snapshot(time_ms, equity, wallet, unrealized_pnl, transfers)

    def snapshot_soon(
        self,
        *,
        time_ms: int,
        equity: Decimal,
        wallet: Decimal,
        unrealized_pnl: Decimal,
        transfers: Decimal = Decimal(0),
    ) -> None:
        """`snapshot(...)` off the order path: only kept here (~1 us instead of the ~10-20 us
        of encoding and appending it), appended by the owner's next `apply_when_quiet` (the
        daemon's applier, between two market-data items, within `apply_interval_s`), and in
        any case before the next `snapshot`, read (`flush`) or `close`. A process killed
        before that loses it. With a writer thread: appended at once."""
        if self._thread is not None:
            self._write_snapshot(time_ms, equity, wallet, unrealized_pnl, transfers)
            return
        self._deferred.append((time_ms, equity, wallet, unrealized_pnl, transfers))

    def _write_deferred(self) -> None:
        """Append the snapshots `snapshot_soon` kept, oldest first (one that fails stays)."""
        deferred = self._deferred
        while deferred:
            self._write_snapshot(*deferred[0])
            deferred.popleft()

    def _write_snapshot(
        self,
        time_ms: int,
        equity: Decimal,
        wallet: Decimal,
        unrealized_pnl: Decimal,
        transfers: Decimal,
    ) -> None:
        s = _Snapshot(time_ms, dec(equity), dec(wallet), dec(unrealized_pnl), dec(transfers))
        payload = orjson.dumps(tuple(s))
        self._append(((s, payload),), f"{SNAPSHOT_KIND} ".encode() + payload, "snapshot")


async def run_applier(
    journal: SqliteJournal, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
) -> JournalError:
    """The applier of a journal opened with `writer_thread=False`, as a task of the event loop
    that records: every `apply_interval_s` it applies what `apply_when_quiet` finds due, a
    slice at a time with a loop turn between slices, so market data never waits for more
    than one slice. Returns when applying fails, with the error (logged; the next record
    raises it too)."""
    interval = journal.apply_interval_s
    while True:
        await sleep(interval)
        try:
            while journal.apply_when_quiet() == APPLY_SLICE:
                await sleep(0)
        except JournalError as exc:
            return exc


__all__ = [
    "APPLY_INTERVAL_S",
    "APPLY_SLICE",
    "MAX_APPLY_LAG_S",
    "SqliteJournal",
    "Synchronous",
    "run_applier",
]
