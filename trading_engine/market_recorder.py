"""What a local session fed its ExecManager, recorded for the parity audit (`backtest.parity`).

The daemon hands every market item (Trade, BookTicker, MarkPrice, Bar, gap and stream events)
and every venue event to the ExecManager through this recorder, which notes, in order:

* ``i``: a market item, with the ExecManager's clock reading for it;
* ``e``: a venue event (the whole event), with the clock reading;
* ``g`` / ``o``: each answer the ExecManager got from `gap_open` / `clock_offset_ms`;
* ``w``: the bars the strategy was warmed with;
* ``s``: the shutdown, where trading stops (after its wait for a stop-loss still being
  replaced: what that wait lets out is replayed before it); whether open orders are then
  canceled; how many items had raised in the ExecManager so far (a strategy's errors); the
  reason of the cancels' decision (`ExecManager.decide_stop_cancels`, at the same reading);
* ``r`` / ``R``: the start-up reconciliation (`ExecManager.reconciling`) begins / ends, the
  end with the clock reading it worked the whole picture at (latched for it: the stops,
  flattens and targets it sends are stamped with it; read later than the events before it,
  a replay that used theirs stamped them a ms or more early on a busy machine);
* ``t``: a timer call that may act (`ExecManager.on_timer` while REDUCING: the cancel-all
  and flatten retries no market data drove), with the clock reading it worked at (latched);
* ``p``: a pause the daemon noticed (`trading_engine.pause_watch`): its clock reading and how
  long the daemon had not run (ms), handed to `ExecManager.note_pause`, which holds entries
  until a reconciliation after it (a replay without it would enter where the daemon held);
* ``k``: a kill switch the daemon pulled (SIGUSR1, its watch of the kill-switch file, either
  at the start): the reason and the clock reading `ExecManager.kill` worked at (latched);
* ``f``: the kill-switch file found on the ExecManager's tick path (`RiskManager.file_exists`
  answering yes), with the item's reading: the replay's check answers yes there, not the disk;
* ``x`` / ``X``: the trading state restored at the start from the journal (REDUCING, HALTED,
  and why), and an operator's reset of it (`--reset-halt`) with the clock reading it worked at;
* ``m``: a model strategy's switch to a newly promoted model (`model_identity()`: file, sha256,
  registry version), with the reading of the item whose bar switched (recorded after it: the
  replay switches before that item);
* ``h``: a hole: entries that were not recorded (how many, and the clock readings of the
  first and last of them), where they would have been, and why (`HoleCause`: the disk refused
  the file; or the session reached the size limit by itself, the recording stopping there).

The first line is the session header: the effective settings (strategy and its parameters,
risk limits, ExecManager config, instruments, client order id sequence), so that the audit can
rebuild the same objects. The ExecManager gets a `LatchedClock`: one reading per item or
event, taken here, so the replay can give it exactly the times it saw.

Hot path: one clock read and one list append per item; a writer thread encodes (orjson) and
gzips the entries every `FLUSH_S` into `<journal_dir>/market/session-<start ms>.jsonl.gz`.

A disk that refuses the file (full, an I/O error): the compressed stream waits in memory, up to
`MAX_UNWRITTEN_BYTES`, and is written once the disk takes it again, whole (a failed write into
the gzip file itself cut the stream: nothing after it could be read back). Beyond that the
entries are dropped, counted and said in one line when the disk takes the file again, and a
``h`` entry marks the hole, so that the parity audit names it instead of replaying a session
with entries missing.

Size: with `max_bytes` (`[retention] market_sessions_mb`) the folder's sessions take about
that much at most together (gzipped; ~6 MB a day of the default market at speed 1). The older
sessions go first, oldest first, at the start and as this one grows; a session that reaches
the limit by itself stops recording (a WARNING): a ``h`` entry (`HoleCause.SIZE_LIMIT`) marks
where, written out at once (a daemon killed later still leaves it readable), the entries after
it are counted and dropped, and the parity audit names the hole and refuses the session, whose
journal holds the whole run. A daemon left running for months never fills the disk with it.
"""

import contextlib
import dataclasses
import errno
import functools
import gzip
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import orjson

from book_keeper.codec import event_classes, from_jsonable, to_jsonable
from book_keeper.journal_errors import JournalError
from core.clock import Clock
from core.events import Event
from core.market import Bar, BookTicker, MarkPrice, Trade
from runtime.retention import file_size, keep_newest, keep_within

log = logging.getLogger(__name__)
_Arg = TypeVar("_Arg")

FORMAT = 1
FLUSH_S = 0.25
WRITE_CHUNK = 64  # entries encoded per hold of the GIL (~0.2 ms), then the loop may run
SESSION_DIR = "market"
ITEM, EVENT, GAP, OFFSET, WARM, STOP, HOLE, PAUSE = "i", "e", "g", "o", "w", "s", "h", "p"
RECONCILING, RECONCILED, TIMER = "r", "R", "t"
KILL, KILL_FILE, RESTORED, RESET, MODEL = "k", "f", "x", "X", "m"
_TIMED = frozenset(  # the entries with a clock reading
    (ITEM, EVENT, PAUSE, STOP, RECONCILING, RECONCILED, TIMER, KILL, KILL_FILE, RESET, MODEL)
)
# The compressed stream kept while the disk refuses it (~1.5 days of a session at speed 1);
# the entries beyond are dropped, and the session marked as having a hole.
MAX_UNWRITTEN_BYTES = 8 << 20
MARKET_CLASSES: dict[str, type] = {c.__name__: c for c in (Trade, BookTicker, MarkPrice, Bar)}


class LatchedClock:
    """The ExecManager's clock in a recorded session: while the recorder holds a reading (one
    per item or event) every `now_ms` returns it, otherwise the wrapped clock's time."""

    __slots__ = ("_clock", "latched")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.latched: int | None = None

    def now_ms(self) -> int:
        latched = self.latched
        return latched if latched is not None else self._clock.now_ms()

    def latch(self) -> int:
        now = self.latched = self._clock.now_ms()
        return now

    def read(self) -> int:
        """The wrapped clock's time, whatever reading is held."""
        return self._clock.now_ms()

    def release(self) -> None:
        self.latched = None


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    raise TypeError(f"cannot record a {type(value).__name__}")


def _trade_row(x: Trade) -> list[Any]:
    return [
        x.symbol, x.agg_id, str(x.price), str(x.qty), x.first_trade_id, x.last_trade_id,
        x.buyer_is_maker, x.trade_time_ms, x.event_time_ms, x.recv_time_ms,
    ]  # fmt: skip


def _book_row(x: BookTicker) -> list[Any]:
    return [
        x.symbol, x.update_id, str(x.bid_price), str(x.bid_qty), str(x.ask_price),
        str(x.ask_qty), x.transaction_time_ms, x.event_time_ms, x.recv_time_ms,
    ]  # fmt: skip


def _mark_row(x: MarkPrice) -> list[Any]:
    return [
        x.symbol, str(x.mark_price), str(x.index_price), str(x.funding_rate),
        x.next_funding_time_ms, x.event_time_ms, x.recv_time_ms,
    ]  # fmt: skip


def _trade_of(r: list[Any]) -> Trade:
    return Trade(r[0], r[1], Decimal(r[2]), Decimal(r[3]), r[4], r[5], r[6], r[7], r[8], r[9])


def _book_of(r: list[Any]) -> BookTicker:
    d = Decimal
    return BookTicker(r[0], r[1], d(r[2]), d(r[3]), d(r[4]), d(r[5]), r[6], r[7], r[8])


def _mark_of(r: list[Any]) -> MarkPrice:
    return MarkPrice(r[0], Decimal(r[1]), Decimal(r[2]), Decimal(r[3]), r[4], r[5], r[6])


# The frequent items as positional rows (str(Decimal) round-trips exactly): ~4x cheaper to
# encode than orjson's dataclass walk with a Python callback per Decimal.
_ROWS: dict[type, tuple[str, Callable[[Any], list[Any]]]] = {
    Trade: ("t", _trade_row),
    BookTicker: ("b", _book_row),
    MarkPrice: ("m", _mark_row),
}
_FROM_ROWS: dict[str, Callable[[list[Any]], Any]] = {"t": _trade_of, "b": _book_of, "m": _mark_of}


def encode_entry(entry: tuple[Any, ...]) -> bytes:
    """One recorded entry as a JSON line (market items and events as their dataclass fields)."""
    code = entry[0]
    if code in (ITEM, EVENT):
        _, t, obj = entry
        row = _ROWS.get(type(obj))
        if row is not None:
            return orjson.dumps([code, t, row[0], row[1](obj)]) + b"\n"
        return orjson.dumps([code, t, type(obj).__name__, obj], default=_default) + b"\n"
    if code == WARM:
        return orjson.dumps([code, list(entry[1])], default=_default) + b"\n"
    return orjson.dumps(list(entry), default=_default) + b"\n"


def decode_object(kind: str, data: Any) -> Any:
    """A market item or event back from its recorded fields (KeyError for an unknown kind)."""
    from_row = _FROM_ROWS.get(kind)
    if from_row is not None:
        return from_row(data)
    cls = MARKET_CLASSES.get(kind) or event_classes()[kind]
    return from_jsonable(cls, data)


class HoleCause(StrEnum):
    """Why entries were not recorded."""

    DISK_REFUSED = "disk"  # the disk refused the file beyond what memory keeps for it
    SIZE_LIMIT = "size_limit"  # the session reached `max_bytes` by itself: recording stopped


@dataclasses.dataclass(slots=True)
class Hole:
    """Entries not recorded in a row: how many, and the clock readings (ms) of the first and
    last of them that carry one (the writer's clock where none does). A `SIZE_LIMIT` hole
    runs from where the recording stopped to the session's end: its mark, written then, says
    where and the limit (`limit_bytes`); what followed is counted in memory only."""

    count: int
    first_ms: int
    last_ms: int
    cause: HoleCause = HoleCause.DISK_REFUSED
    limit_bytes: int = 0

    def text(self) -> str:
        if self.cause == HoleCause.SIZE_LIMIT:
            return f"from {_utc(self.first_ms)} to the session's end"
        return f"{self.count} entries from {_utc(self.first_ms)} to {_utc(self.last_ms)}"

    def reason(self) -> str:
        """Why the entries are missing, for the audit's refusal."""
        if self.cause == HoleCause.SIZE_LIMIT:
            return (
                f"the session reached [retention] market_sessions_mb = {self.limit_bytes / 1e6:g} "
                "by itself and stopped recording: raise it (0 = no limit) to record whole "
                "sessions"
            )
        return "the disk refused the file; the entries were dropped"

    def entry(self) -> tuple[Any, ...]:
        """The hole's mark in the session (a disk hole's as before causes were recorded)."""
        if self.cause == HoleCause.DISK_REFUSED:
            return (HOLE, self.count, self.first_ms, self.last_ms)
        return (HOLE, self.count, self.first_ms, self.last_ms, str(self.cause), self.limit_bytes)


def hole_of(entry: Sequence[Any]) -> Hole:
    """A hole back from its mark (one without a cause is the disk's: the first format)."""
    if len(entry) <= 4:
        return Hole(int(entry[1]), int(entry[2]), int(entry[3]))
    return Hole(int(entry[1]), int(entry[2]), int(entry[3]), HoleCause(entry[4]), int(entry[5]))


class Spool:
    """Under the gzip stream: what gzip writes waits here until `write` (the session file's
    `os.write`) takes it; a write the disk refuses loses nothing and is tried again.
    `written`: the bytes the file took, i.e. its size (for the size limit: no stat)."""

    __slots__ = ("pending", "write_to", "written")

    def __init__(self, write_to: Callable[[bytearray], int]) -> None:
        self.write_to = write_to
        self.pending = bytearray()
        self.written = 0

    def write(self, data: bytes) -> int:
        self.pending += data
        return len(data)

    def flush(self) -> None:
        """What gzip calls; `drain` writes (in the writer thread, not in gzip's calls)."""

    def drain(self) -> None:
        """Write what is pending (OSError once the disk refuses: the rest stays pending)."""
        while self.pending:
            written = self.write_to(self.pending)
            if written <= 0:
                raise OSError(errno.EIO, "the session file took no bytes")
            del self.pending[:written]
            self.written += written


class MarketRecorder:
    """Records one session (see the module docstring); `close()` writes what is left.

    `write_to`: writes bytes to the session file's descriptor and returns how many it took
    (`os.write`; a test's fills the disk); `max_unwritten_bytes`: the compressed stream kept
    while the disk refuses it, before entries are dropped; `max_bytes`: what the folder's
    sessions may take together, this one included (0 = no limit)."""

    def __init__(
        self,
        journal_dir: Path,
        clock: Clock,
        *,
        write_to: Callable[[int, bytearray], int] = os.write,
        max_unwritten_bytes: int = MAX_UNWRITTEN_BYTES,
        max_bytes: int = 0,
    ) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0 (0 = no limit), not {max_bytes}")
        self.clock = LatchedClock(clock)
        self.folder = Path(journal_dir) / SESSION_DIR
        self.path: Path | None = None
        self._buf: list[tuple[Any, ...]] = []
        self._write_to = write_to
        self._max_unwritten = max_unwritten_bytes
        self._fd = -1
        self._spool: Spool | None = None
        self._gz: gzip.GzipFile | None = None
        self._lock = threading.Lock()  # one writer at a time: the thread, flush(), close()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._failing = False  # the disk refuses the file (said once per outage)
        self.hole: Hole | None = None  # entries being dropped now
        self.holes: list[Hole] = []  # every hole of the session, the open one included
        self.max_bytes = max_bytes
        self.cut: Hole | None = None  # the size limit stopped the recording (to the end)
        self._older: list[Path] = []  # the folder's other sessions, oldest first
        self._older_bytes = 0
        self._may_trim = False  # older sessions deleted only once the start succeeded
        self.entries = 0
        self.errors = 0
        self.item_errors = 0  # items whose handling raised (a strategy's error, say)

    def start(self, header: dict[str, Any]) -> None:
        """Open the session file, write the header; entries recorded before wait for it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        started = self.clock.now_ms()
        self.path = self.folder / f"session-{started}.jsonl.gz"
        fd = self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        write_to = self._write_to
        self._spool = Spool(lambda data: write_to(fd, data))
        self._gz = gzip.GzipFile(fileobj=self._spool, mode="wb", compresslevel=3, filename="")
        head = {"format": FORMAT, "started_ms": started, **header}
        self._gz.write(orjson.dumps(head, default=_default) + b"\n")
        self._thread = threading.Thread(target=self._run, name="market-recorder", daemon=True)
        self._thread.start()

    def keep_older(self, count: int) -> None:
        """The daemon's start succeeded: the folder's older sessions beyond the newest `count`
        go now (the audit replays the newest), and those in the way of `max_bytes` as this one
        grows. Not at `start`: a start that then fails (a refused key, `--reset-halt`) left
        only a header, and a supervisor retrying it would have deleted every real session."""
        keep_newest(session_files(self.folder.parent), count)  # this one among them
        if self.max_bytes:
            older = [p for p in session_files(self.folder.parent) if p != self.path]
            self._older_bytes = sum(file_size(p) for p in older)
            self._older = older  # then armed: the writer thread fits them from now on
            self._may_trim = True
            if self._older_bytes > self.max_bytes:  # too many already, this one aside
                self._fit(0)

    # --- wrappers the daemon wires in -----------------------------------------------------------

    def items(
        self, on_item: Callable[[Any, int | None], None]
    ) -> Callable[[Any, int | None], None]:
        """`on_item(item, now_ms)` recorded: with its time (`now_ms`, the caller's reading of
        our clock, else read here), latched for the whole item."""
        clock, append = self.clock, self._buf.append
        now_ms = clock.read

        def record_item(item: Any, now: int | None = None) -> None:
            t = clock.latched = now_ms() if now is None else now
            append((ITEM, t, item))
            try:
                on_item(item, t)
            except Exception as exc:  # the daemon's sink logs it; the audit compares the count
                if not isinstance(exc, JournalError):
                    self.item_errors += 1
                raise
            finally:
                clock.latched = None

        return record_item

    def events(
        self, on_event: Callable[[Event, int | None], None]
    ) -> Callable[[Event, int | None], None]:
        """`on_event(event, now_ms)` recorded, as `items`."""
        clock, append = self.clock, self._buf.append

        def record_event(event: Event, now: int | None = None) -> None:
            if clock.latched is not None:  # an event handed on from inside an item: no reading
                append((EVENT, clock.latched, event))
                on_event(event, None)
                return
            t = clock.latched = clock.read() if now is None else now
            append((EVENT, t, event))
            try:
                on_event(event, t)
            finally:
                clock.latched = None

        return record_event

    def gap_open(self, fn: Callable[[str], bool]) -> Callable[[str], bool]:
        append = self._buf_append

        @functools.wraps(fn)  # `__wrapped__`: the answer unrecorded, which a dry run asks
        def recorded(symbol: str) -> bool:
            answer = fn(symbol)
            append((GAP, symbol, answer))
            return answer

        return recorded

    def clock_offset(self, fn: Callable[[], int]) -> Callable[[], int]:
        append = self._buf_append

        @functools.wraps(fn)  # `__wrapped__`: the answer unrecorded, which a dry run asks
        def recorded() -> int:
            answer = fn()
            append((OFFSET, answer))
            return answer

        return recorded

    def pause(self, note_pause: Callable[[int], None]) -> Callable[[int], None]:
        """`note_pause(paused_ms)` recorded with the clock reading it works at (the time the
        daemon resumed), so that the audit holds entries from the same point."""
        return self._latched(PAUSE, note_pause)

    def reconciling(
        self, reconciling: Callable[[], AbstractContextManager[None]]
    ) -> Callable[[], AbstractContextManager[None]]:
        """`ExecManager.reconciling` recorded: where the reconciliation begins, and where it
        ends with the clock reading its end works at, latched for that end (and for the
        venue events it causes), so the replay ends it at the same point and time. A
        reconciliation that fails (the start with it) records no end."""
        clock, append = self.clock, self._buf_append

        @contextlib.contextmanager
        def recorded() -> Iterator[None]:
            inner = reconciling()
            inner.__enter__()
            append((RECONCILING, clock.now_ms()))
            try:
                yield
            except BaseException as exc:
                if not inner.__exit__(type(exc), exc, exc.__traceback__):
                    raise
                return
            held = clock.latched  # inside an item or event (not the daemon's): its reading
            append((RECONCILED, clock.latch() if held is None else held))
            try:
                inner.__exit__(None, None, None)
            finally:
                clock.latched = held

        return recorded

    def timer(self, on_timer: Callable[[], None], acts: Callable[[], bool]) -> Callable[[], None]:
        """`on_timer()` recorded with the clock reading it works at (latched, for the events
        it causes too) when `acts()` says it may do something (REDUCING): the replay calls it
        at the same point and time. The idle calls (once a second) are not recorded."""
        clock, append = self.clock, self._buf_append

        def recorded() -> None:
            if clock.latched is not None or not acts():  # inside an item: its reading
                on_timer()
                return
            append((TIMER, clock.latch()))
            try:
                on_timer()
            finally:
                clock.latched = None

        return recorded

    def kill(self, kill: Callable[[str], None]) -> Callable[[str], None]:
        """`ExecManager.kill(reason)` recorded with its reason and the clock reading it works
        at (latched, for the events it causes too): the replay pulls the same switch at the
        same point and time (the backtester cannot tell that a file appeared or a signal came)."""
        return self._latched(KILL, kill)

    def reset(self, reset: Callable[[str], None]) -> Callable[[str], None]:
        """`ExecManager.reset(reason)` (`--reset-halt`) recorded as `kill`."""
        return self._latched(RESET, reset)

    def _latched(self, code: str, fn: Callable[[_Arg], None]) -> Callable[[_Arg], None]:
        """`fn(arg)` recorded as `(code, reading, arg)` and run at that one reading (latched,
        for the events it causes too); inside an item or event, at the item's reading."""
        clock, append = self.clock, self._buf_append

        def recorded(arg: _Arg) -> None:
            if clock.latched is not None:  # inside an item or event: its reading
                append((code, clock.latched, arg))
                fn(arg)
                return
            append((code, clock.latch(), arg))
            try:
                fn(arg)
            finally:
                clock.latched = None

        return recorded

    def kill_file(self, exists: Callable[[str], bool]) -> Callable[[str], bool]:
        """`RiskManager.file_exists` recorded when it answers yes (the kill switch on the tick
        path, at the item's reading): the replay's check answers yes at that point."""
        clock, append = self.clock, self._buf_append

        def recorded(path: str) -> bool:
            found = exists(path)
            if found:
                append((KILL_FILE, clock.now_ms()))
            return found

        return recorded

    def restored(self, state: str, reason: str) -> None:
        """The trading state the daemon restored at its start (not ACTIVE), and why."""
        self._buf_append((RESTORED, str(state), reason))

    def model_switched(self, model: dict[str, Any]) -> None:
        """A model strategy switched to the registry's newly promoted model (its
        `model_identity()`), at the reading of the item whose bar switched."""
        self._buf_append((MODEL, self.clock.now_ms(), model))

    def warm(self, bars: Sequence[Bar]) -> None:
        self._buf_append((WARM, tuple(bars)))

    def stopping(
        self, *, cancel_orders: bool, keep_protection: bool = False, reason: str = ""
    ) -> int:
        """The daemon stops trading now (and cancels its open orders unless told to keep them,
        a decision journaled with `reason`; with `keep_protection` the protective stops /
        take-profits stay). The items whose handling raised so far go with it, for the audit
        to compare its replay's. Returns the clock reading recorded: the decision's time."""
        now = self.clock.now_ms()
        entry = (STOP, now, cancel_orders, keep_protection, self.item_errors, reason)
        self._buf_append(entry)
        return now

    def _buf_append(self, entry: tuple[Any, ...]) -> None:
        self._buf.append(entry)

    # --- writer ---------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(FLUSH_S)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Compress what the event loop recorded since the last flush and write it out."""
        with self._lock:
            if self._gz is not None:
                self._write()

    def _write(self) -> None:
        buf = self._buf
        n = len(buf)
        batch = buf[:n]
        del buf[:n]  # list ops are atomic under the GIL: appends after n stay
        spool = self._spool
        assert spool is not None
        for i in range(0, n, WRITE_CHUNK):
            chunk = batch[i : i + WRITE_CHUNK]
            if self.cut is not None:  # the size limit stopped the recording: counted only
                self.cut.count += len(chunk)
                continue
            if self.hole is not None or len(spool.pending) > self._max_unwritten:
                self._drop(chunk)  # the disk has refused the file for a while: memory is kept
                continue
            try:
                self._compress(b"".join(map(encode_entry, chunk)))
            except Exception:  # a bug must not stop the thread: those entries are a hole
                self.errors += 1
                if self.errors <= 5:
                    log.exception("market recorder: %d entries not recorded", len(chunk))
                self._drop(chunk)
                continue
            self.entries += len(chunk)
            time.sleep(0)  # let the event loop have the GIL between chunks
        try:
            spool.drain()
        except OSError as exc:  # a full disk must not stop the thread: one line, not five
            if not self._failing:
                self._failing = True
                log.error(
                    "market recorder: %s cannot be written (%s): up to %d MiB of it is kept "
                    "until the disk takes it, then entries are dropped (the session is marked "
                    "as having a hole)",
                    self.path,
                    exc.strerror or exc,
                    self._max_unwritten >> 20,
                )
            return
        if self.hole is not None:
            self._close_hole()
        elif self._failing:
            log.warning("market recorder: %s is written again; nothing was lost", self.path)
        self._failing = False
        if self.max_bytes and self.cut is None:
            self._keep_to_limit(spool.written)

    def _compress(self, data: bytes) -> None:
        gz = self._gz
        assert gz is not None
        gz.write(data)

    def _drop(self, chunk: list[tuple[Any, ...]]) -> None:
        """Count entries not recorded into the open hole (opened here)."""
        times = [t for e in chunk if (t := _entry_ms(e)) is not None]
        first = times[0] if times else self.clock.read()
        last = times[-1] if times else first
        if self.hole is None:
            self.hole = Hole(0, first, last)
            self.holes.append(self.hole)
        self.hole.count += len(chunk)
        self.hole.last_ms = max(self.hole.last_ms, last)

    def _close_hole(self) -> None:
        """The disk takes the file again: the hole's mark goes into the stream where the
        dropped entries would have been, and one line counts them."""
        hole = self.hole
        assert hole is not None
        self.hole = None
        self._compress(encode_entry(hole.entry()))
        log.warning(
            "market recorder: %s is written again; %s were dropped: the session is marked as "
            "having a hole (its parity audit names it)",
            self.path,
            hole.text(),
        )

    def _keep_to_limit(self, size: int) -> None:
        """The folder within `max_bytes` now that this session takes `size` bytes: the older
        sessions go first; this one alone over it stops recording."""
        if self._may_trim and size + self._older_bytes > self.max_bytes:
            self._fit(size)
        if size > self.max_bytes:
            self._stop_recording(size)

    def _fit(self, size: int) -> None:
        """Delete the oldest other sessions until they fit beside `size` bytes of this one.
        One that cannot be deleted (logged) is given up, not tried again at every write."""
        dropped = keep_within(self._older, self.max_bytes - size)
        if dropped:
            log.info(
                "retention.market_sessions_mb = %g: deleted %d older session(s) from %s",
                self.max_bytes / 1e6,
                len(dropped),
                self.folder,
            )
        kept = [p for p in self._older if p not in dropped]
        self._older_bytes = sum(file_size(p) for p in kept)
        if size + self._older_bytes > self.max_bytes:  # what is left cannot be deleted
            kept, self._older_bytes = [], 0
        self._older = kept

    def _stop_recording(self, size: int) -> None:
        """This session alone reached the limit: a hole from now to its end. Its mark is
        flushed out now, so that the file says so even if the daemon is killed later."""
        now = self.clock.read()
        cut = self.cut = Hole(0, now, now, HoleCause.SIZE_LIMIT, self.max_bytes)
        self.holes.append(cut)
        gz, spool = self._gz, self._spool
        assert gz is not None and spool is not None
        self._compress(encode_entry(cut.entry()))
        gz.flush()  # a zlib sync flush: what came before and the mark decode without the end
        log.warning(
            "market recorder: %s reached retention.market_sessions_mb = %g by itself (%.1f MB): "
            "recording stopped, the session marked as having a hole (its parity audit refuses "
            "it); raise the limit (0 = none) to record whole sessions",
            self.path,
            self.max_bytes / 1e6,
            size / 1e6,
        )
        with contextlib.suppress(OSError):  # a disk that refuses it now: tried at each write
            spool.drain()

    @property
    def stopped_at_ms(self) -> int | None:
        """The clock reading (ms) at which the size limit stopped this session's recording
        (`[retention] market_sessions_mb`), None while it records: status.json says it."""
        cut = self.cut  # set once, by the writer thread
        return None if cut is None else cut.first_ms

    def discard(self) -> None:
        """The daemon's start did not complete: closed, and its file removed (a header and
        the start's few entries: no trading to audit); the one line says so, not how many
        entries the removed file held."""
        self._finish()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            log.info("market recorder: the start did not complete: %s removed", self.path)

    def close(self) -> None:
        """Closed at the stop; one line says what the session file holds."""
        if not self._finish():
            return
        recorded = _entries(self.entries)
        if self.cut is not None:
            log.info(
                "market recorder: %s (market data and venue events) in %s, %d more not "
                "recorded after the size limit",
                recorded,
                self.path,
                self.cut.count,
            )
            return
        if not self.entries:
            log.info("market recorder: nothing recorded (%s holds its header alone)", self.path)
            return
        log.info("market recorder: %s (market data and venue events) in %s", recorded, self.path)

    def _finish(self) -> bool:
        """The writer stopped and the file completed; False when there was none to complete
        (closed already, never started) or the disk refused its end (said in an ERROR)."""
        if self._closed:
            return False
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        with self._lock:
            gz, spool = self._gz, self._spool
            if gz is None or spool is None:
                return False
            self._write()
            if self.hole is not None:  # the mark goes in, should the disk take it at the end
                hole, self.hole = self.hole, None
                self._compress(encode_entry(hole.entry()))
            gz.close()  # the stream's end, into the spool
            try:
                spool.drain()
            except OSError as exc:  # a full disk: the session file's end is lost, not the stop
                log.error(
                    "market recorder: %s cut short: its last %d bytes not written (%s): its "
                    "parity audit says so",
                    self.path,
                    len(spool.pending),
                    exc.strerror or exc,
                )
                return False
            finally:
                os.close(self._fd)
            if self._may_trim and spool.written + self._older_bytes > self.max_bytes:
                self._fit(spool.written)  # its end (gzip's held-back bytes) may need room too
        return True


def _entries(count: int) -> str:
    """`1 entry`, `3 entries`."""
    return f"{count} entry" if count == 1 else f"{count} entries"


def _entry_ms(entry: tuple[Any, ...]) -> int | None:
    """The clock reading an entry carries (items, events, pauses, the stop, the
    reconciliation's bounds), None for the others."""
    return int(entry[1]) if entry[0] in _TIMED else None


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def session_header(
    *,
    strategy: str,
    strategy_params: dict[str, Any],
    risk: Any,
    exec_config: Any,
    instruments: dict[str, Any],
    client_id_prefix: str,
    client_id_next: int,
    local: dict[str, Any],
    client_id_tag: str = "",
    positions: Sequence[Any] = (),
    held_exits: dict[str, Any] | None = None,
    limits: Any = None,
    strategy_dir: str = "",
    model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The effective settings of a session, as the audit needs them to rebuild it, the
    positions the books started with (restored from the journal) and the sides held flat after
    a stop-loss or take-profit (symbol -> the closing order's side). `limits`: what the
    portfolio limits had counted, restored from the journal at the start
    (`risk_manager.LimitCounts`; None: a first start, nothing restored). `strategy_dir`: the
    daemon's working directory, where a strategy of one's own (a relative file path, or a
    module found there) was loaded from. `model`: the model a model strategy traded at the
    start (`model_identity()`: file, sha256, registry version), so that the audit rebuilds the
    session with that file, not with whatever the registry promotes by then. The client ids
    the session issues are `ClientOrderIds(client_id_prefix, client_id_next,
    tag=client_id_tag)`'s."""
    return {
        "strategy": strategy,
        "strategy_dir": strategy_dir,
        "strategy_params": jsonable(
            {k: v for k, v in strategy_params.items() if k != "instruments"}
        ),
        "risk": to_jsonable(risk),
        "exec": to_jsonable(exec_config),
        "instruments": {
            sym: {k: v for k, v in to_jsonable(inst).items() if not k.startswith("_")}
            for sym, inst in instruments.items()
        },
        "client_id_prefix": client_id_prefix,
        "client_id_next": client_id_next,
        "client_id_tag": client_id_tag,
        "local": jsonable(local),
        "positions": [to_jsonable(p) for p in positions],
        "held_exits": {sym: str(side) for sym, side in (held_exits or {}).items()},
        "limits": None if limits is None else to_jsonable(limits),
        "model": model,
    }


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    """A recorded session, decoded: the header and the entries in order. `complete`: the file
    ends where its stream does (False: cut short, by a kill or a disk full at the stop; or
    unreadable from some point on, `entries` holding what came before)."""

    path: Path
    header: dict[str, Any]
    entries: list[tuple[Any, ...]]
    complete: bool = True

    @property
    def holes(self) -> list[Hole]:
        """The entries the recorder did not record (a disk that refused the file; the size
        limit, which stopped the recording), in order."""
        return [hole_of(e) for e in self.entries if e[0] == HOLE]

    def last_ms(self) -> int | None:
        """The last clock reading recorded (where a cut-short recording ends)."""
        return next((t for e in reversed(self.entries) if (t := _entry_ms(e)) is not None), None)


def session_files(journal_dir: Path) -> list[Path]:
    """The recorded sessions of a journal directory, oldest first."""
    folder = Path(journal_dir) / SESSION_DIR
    files = folder.glob("session-*.jsonl.gz") if folder.is_dir() else iter(())
    return sorted(files, key=lambda p: int(p.name.split("-")[1].split(".")[0]))


def read_session(path: Path) -> Session:
    """Decode a recorded session; ValueError for a file that is not one (or is truncated
    before its header). A torn last line (a killed daemon) is dropped, and a file cut short
    or unreadable from some point on gives what came before, `complete` False."""
    with gzip.open(path, "rb") as fh:
        lines = _lines(fh)
        try:
            header = orjson.loads(next(lines))
        except (StopIteration, orjson.JSONDecodeError, EOFError, OSError, zlib.error) as exc:
            raise ValueError(f"{path}: not a recorded session ({exc or 'empty'})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"{path}: unknown session format")
        entries: list[tuple[Any, ...]] = []
        complete = True
        try:
            for line in lines:
                entries.append(_decode(orjson.loads(line)))
        except orjson.JSONDecodeError:
            pass  # torn last line, the stream's end after it
        except (EOFError, OSError, zlib.error):  # the stream cut short, or broken
            complete = False
    return Session(path=path, header=header, entries=entries, complete=complete)


def _lines(fh: Any) -> Iterator[bytes]:
    yield from fh


def _decode(row: list[Any]) -> tuple[Any, ...]:
    code = row[0]
    if code in (ITEM, EVENT):
        return (code, row[1], decode_object(row[2], row[3]))
    if code == WARM:
        return (code, tuple(from_jsonable(Bar, b) for b in row[1]))
    return tuple(row)


def jsonable(value: Any) -> Any:
    """Settings values for the header (Decimals tagged so they come back as Decimals)."""
    if isinstance(value, Decimal):
        return {"decimal": f"{value:f}"}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(value)
    return value


def unjsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"decimal"}:
            return Decimal(value["decimal"])
        return {k: unjsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unjsonable(v) for v in value]
    return value
