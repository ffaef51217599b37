"""MarketRecorder: every entry comes back exactly (Decimals digit for digit), one clock reading
per item is what the ExecManager sees, a torn last line (a killed daemon) is dropped, a disk
that refuses the file loses nothing up to a bound and marks a hole beyond it, and the recorded
sessions stay within their size limit (a session over it by itself is a hole to its end)."""

import contextlib
import errno
import gzip
import inspect
import io
import logging
import os
import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest

from book_keeper.journal_errors import JournalError
from core.clock import SimClock
from core.events import GapCause, GapDetected, OrderCanceled
from core.market import Bar, BookTicker, MarkPrice, Trade
from runtime.settings import load_settings
from trading_engine import market_recorder
from trading_engine.daemon import Daemon
from trading_engine.market_recorder import (
    Hole,
    HoleCause,
    MarketRecorder,
    read_session,
    session_files,
)

ITEMS = [
    Trade("BTCUSDT", 7, D("94000.10"), D("0.005"), 1, 3, True, 1_000, 1_001, 1_002),
    BookTicker("BTCUSDT", 9, D("94000.0"), D("3E+1"), D("94000.1"), D("0.001"), 1_000, 1_001, 2),
    MarkPrice("BTCUSDT", D("94000.05000000"), D("94000"), D("-0.00010000"), 28_800_000, 5, 6),
    Bar(
        "BTCUSDT",
        "1m",
        0,
        59_999,
        D("1.0"),
        D("2.00"),
        D("0.5"),
        D("1.5"),
        D("10"),
        D("15"),
        D("4"),
        D("6"),
        12,
        True,
    ),
    GapDetected(
        event_time_ms=3,
        recv_time_ms=4,
        symbol="BTCUSDT",
        first_missing_id=8,
        last_missing_id=9,
        cause=GapCause.JUMP,
    ),
]


def test_entries_come_back_exactly_with_the_clock_reading_the_exec_manager_saw(tmp_path):
    clock = SimClock(5_000)
    rec = MarketRecorder(tmp_path, clock)
    seen: list[tuple[int, object]] = []
    on_item = rec.items(lambda item, _now: seen.append((rec.clock.now_ms(), item)))
    on_event = rec.events(lambda e, _now: seen.append((rec.clock.now_ms(), e)))
    rec.start({"strategy": "x", "strategy_params": {}})
    for i, item in enumerate(ITEMS):
        clock.set_ms(5_000 + 10 * i)
        on_item(item)
    canceled = OrderCanceled(event_time_ms=1, recv_time_ms=2, symbol="BTCUSDT",
                             client_order_id="a-1", order_id=None)  # fmt: skip
    on_event(canceled)
    rec.gap_open(lambda s: True)("BTCUSDT")
    assert rec.stopping(cancel_orders=True, keep_protection=True, reason="stop: SIGTERM") == 5_040
    rec.close()

    session = read_session(session_files(tmp_path)[-1])

    assert session.header["started_ms"] == 5_000 and session.header["strategy"] == "x"
    items = [(e[1], e[2]) for e in session.entries if e[0] == "i"]
    assert items == [(5_000 + 10 * i, item) for i, item in enumerate(ITEMS)]
    assert items == seen[:-1]  # the ExecManager's clock read the recorded reading
    assert [e for e in session.entries if e[0] != "i"] == [
        ("e", 5_040, canceled),
        ("g", "BTCUSDT", True),
        # cancel, but keep the protective orders (the decision's reason); no item raised
        ("s", 5_040, True, True, 0, "stop: SIGTERM"),
    ]
    assert rec.clock.now_ms() == 5_040  # released: the wrapped clock again


class BusyClock:
    """A loaded machine's clock: each reading is 1 ms after the one before (the loop got
    back to the daemon a moment later every time)."""

    def __init__(self, now_ms: int) -> None:
        self.t = now_ms

    def now_ms(self) -> int:
        self.t += 1
        return self.t


def test_the_stop_entry_counts_the_items_that_raised_a_journal_failure_aside(tmp_path):
    """The daemon's sink logs an item's error and goes on (a journal failure stops it): the
    audit compares its replay's count of errors with the recorded one."""
    rec = MarketRecorder(tmp_path, SimClock(5_000))
    raised = iter([ZeroDivisionError("x"), None, JournalError("disk"), ValueError("y")])

    def on_item(_item: object, _now: int | None) -> None:
        if (error := next(raised)) is not None:
            raise error

    record = rec.items(on_item)
    rec.start({"strategy": "x", "strategy_params": {}})
    for item in ITEMS[:4]:
        with contextlib.suppress(Exception):
            record(item)
    rec.stopping(cancel_orders=True)
    rec.close()

    (stop,) = [e for e in read_session(session_files(tmp_path)[-1]).entries if e[0] == "s"]
    assert stop == ("s", 5_000, True, False, 2, "")


def test_the_reconciliations_end_works_at_one_recorded_reading_as_do_the_events_it_causes(
    tmp_path,
):
    """The start-up reconciliation's end is no item nor event: unlatched, the stop-loss it
    places read the clock later than anything recorded (1 ms under load: a false divergence
    in the audit). Its end is recorded with one reading, which every read of the
    ExecManager's clock during it returns, an event the venue hands on meanwhile included."""
    clock = BusyClock(9_000)
    rec = MarketRecorder(tmp_path, clock)
    seen: list[tuple[str, int]] = []
    canceled = OrderCanceled(event_time_ms=1, recv_time_ms=2, symbol="BTCUSDT",
                             client_order_id="a-1", order_id=None)  # fmt: skip
    on_event = rec.events(lambda _e, _now: seen.append(("event", rec.clock.now_ms())))

    @contextlib.contextmanager
    def reconciling():  # as ExecManager.reconciling: its end works on the whole picture
        yield
        seen.append(("stop-loss", rec.clock.now_ms()))
        on_event(canceled)  # the venue answers at once
        seen.append(("journaled", rec.clock.now_ms()))

    rec.start({})  # reads 9_001
    with rec.reconciling(reconciling)():  # begins at 9_002
        on_event(canceled)  # 9_003
    rec.close()

    session = read_session(session_files(tmp_path)[-1])
    assert session.entries == [
        ("r", 9_002),
        ("e", 9_003, canceled),
        ("R", 9_004),
        ("e", 9_004, canceled),
    ]
    assert seen == [("event", 9_003), ("stop-loss", 9_004), ("event", 9_004), ("journaled", 9_004)]
    assert rec.clock.now_ms() == 9_005  # released: the wrapped clock again
    assert session.last_ms() == 9_004


def test_a_reconciliation_that_fails_records_no_end_and_lets_the_error_through(tmp_path):
    clock = SimClock(9_000)
    rec = MarketRecorder(tmp_path, clock)
    ended: list[bool] = []

    @contextlib.contextmanager
    def reconciling():
        try:
            yield
        except BaseException:
            ended.append(False)
            raise
        ended.append(True)

    rec.start({})
    with pytest.raises(ConnectionError), rec.reconciling(reconciling)():
        raise ConnectionError("the exchange went away")
    rec.close()

    assert ended == [False]
    assert read_session(session_files(tmp_path)[-1]).entries == [("r", 9_000)]
    assert rec.clock.latched is None


def test_a_timer_call_that_may_act_is_recorded_at_the_one_reading_it_works_at(tmp_path):
    """The ExecManager's timer (REDUCING's retries) is no item nor event either: a call that
    may act is recorded with one reading, every read during it (an event it causes
    included) returns; the idle calls (once a second while ACTIVE) are not recorded."""
    clock = BusyClock(9_000)
    rec = MarketRecorder(tmp_path, clock)
    reducing = False
    seen: list[tuple[str, int]] = []
    canceled = OrderCanceled(event_time_ms=1, recv_time_ms=2, symbol="BTCUSDT",
                             client_order_id="a-1", order_id=None)  # fmt: skip
    on_event = rec.events(lambda _e, _now: seen.append(("event", rec.clock.now_ms())))

    def on_timer() -> None:  # as ExecManager.on_timer: a flatten retry while REDUCING
        if reducing:
            seen.append(("flatten", rec.clock.now_ms()))
            on_event(canceled)
            seen.append(("journaled", rec.clock.now_ms()))

    timer = rec.timer(on_timer, lambda: reducing)
    rec.start({})  # reads 9_001
    timer()  # ACTIVE: not recorded, reads nothing
    reducing = True
    timer()  # 9_002
    rec.close()

    assert read_session(session_files(tmp_path)[-1]).entries == [
        ("t", 9_002),
        ("e", 9_002, canceled),
    ]
    assert seen == [("flatten", 9_002), ("event", 9_002), ("journaled", 9_002)]
    assert rec.clock.now_ms() == 9_003  # released


def test_a_torn_last_line_is_dropped(tmp_path):
    clock = SimClock(1)
    rec = MarketRecorder(tmp_path, clock)
    rec.start({})
    rec.items(lambda item, _now: None)(ITEMS[0])
    rec.close()
    path = session_files(tmp_path)[-1]
    with gzip.open(path, "ab") as fh:
        fh.write(b'["i", 5, "t", ["BTCUSDT", 8')  # a kill -9 in the middle of a write

    session = read_session(path)

    assert [e[2] for e in session.entries] == [ITEMS[0]]


class Disk:
    """The session file's disk: takes `room` more bytes (None: any), then says ENOSPC; the
    bytes it takes are written (a short count at the edge, as a nearly full disk does)."""

    def __init__(self) -> None:
        self.room: int | None = None
        self.refused = 0

    def write(self, fd: int, data: bytearray) -> int:
        if self.room is None:
            return os.write(fd, data)
        if self.room == 0:
            self.refused += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        n = os.write(fd, bytes(data[: self.room]))
        self.room -= n
        return n


def trades(first: int, n: int) -> list[Trade]:
    """Distinct trades (prices and ids all differ: gzip cannot squeeze them to nothing)."""
    return [
        Trade(
            "BTCUSDT",
            i,
            D(94_000) + D(i) / 10,
            D("0.001") * (i % 97 + 1),
            i,
            i,
            i % 2 == 0,
            1_000 + i,
            1_001 + i,
            1_002 + i,
        )
        for i in range(first, first + n)
    ]


def test_a_disk_full_for_a_while_loses_nothing_of_the_stream(tmp_path, caplog):
    """A write into the gzip file the disk refused lost its compressed bytes: the stream was
    cut there, and nothing after it could be read back (zlib.error: invalid block type)."""
    disk = Disk()
    clock = SimClock(1_000)
    rec = MarketRecorder(tmp_path, clock, write_to=disk.write)
    on_item = rec.items(lambda item, _now: None)
    rec.start({})
    rec.flush()
    disk.room = 100  # full 100 bytes into the entries' stream
    for item in trades(0, 3_000):
        on_item(item)
    rec.flush()
    for item in trades(3_000, 3_000):
        on_item(item)
    rec.flush()
    refused_while_full = disk.refused
    disk.room = None  # space freed
    rec.flush()
    rec.close()

    session = read_session(session_files(tmp_path)[-1])

    assert refused_while_full == 2  # both flushes tried, neither lost anything
    assert [e[2] for e in session.entries] == trades(0, 6_000)
    assert session.complete and session.holes == []
    # WARNING and above: an earlier test may have left the loggers at INFO (the closing
    # "N entries in ..." line).
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert [level for level, _ in said] == ["ERROR", "WARNING"]  # one line each way
    assert "No space left on device" in said[0][1] and "up to 8 MiB" in said[0][1]
    assert said[1][1].endswith("is written again; nothing was lost")


def test_beyond_its_bound_entries_are_dropped_counted_and_marked_as_a_hole(tmp_path, caplog):
    """While the disk refuses the file, what waits for it is bounded (`max_unwritten_bytes`,
    0 here: the gzip header alone, 10 bytes, is over it): the entries are dropped and
    counted, one line says how many once the disk takes the file again, and a hole entry
    marks where they were."""
    disk = Disk()
    disk.room = 0  # full from the start: the header's 10 bytes wait
    rec = MarketRecorder(tmp_path, SimClock(1_000), write_to=disk.write, max_unwritten_bytes=0)
    on_item = rec.items(lambda item, _now: None)
    rec.start({})
    for item in trades(0, 100):  # clock readings 1_000 (SimClock; the items' own times differ)
        on_item(item)
    rec.flush()
    rec.clock._clock.set_ms(61_000)  # type: ignore[attr-defined]
    disk.room = None  # space freed: these 50 are dropped still, then the hole closes
    for item in trades(100, 50):
        on_item(item)
    rec.flush()
    for item in trades(150, 20):
        on_item(item)
    rec.close()

    session = read_session(session_files(tmp_path)[-1])

    assert session.entries[0] == ("h", 150, 1_000, 61_000)
    assert [e[2] for e in session.entries[1:]] == trades(150, 20)
    assert session.holes == [Hole(150, 1_000, 61_000)]
    assert session.complete
    (warned,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned.endswith(
        "is written again; 150 entries from 1970-01-01 00:00:01 UTC to 1970-01-01 00:01:01 UTC "
        "were dropped: the session is marked as having a hole (its parity audit names it)"
    )


def test_a_disk_still_full_at_the_stop_cuts_the_session_short_in_one_line(tmp_path, caplog):
    """Its close raised out of the daemon's closers: a traceback on a full disk. Now one line,
    and the file reads as cut short (not as a session that ended there)."""
    disk = Disk()
    rec = MarketRecorder(tmp_path, SimClock(1_000), write_to=disk.write)
    on_item = rec.items(lambda item, _now: None)
    rec.start({"strategy": "x", "strategy_params": {}})
    for item in trades(0, 3_000):
        on_item(item)
    rec.flush()
    disk.room = 0
    for item in trades(3_000, 10):
        on_item(item)

    rec.close()

    (said,) = [r for r in caplog.records if "cut short" in r.getMessage()]
    assert said.levelname == "ERROR" and said.exc_info is None
    assert "No space left on device" in said.getMessage()
    session = read_session(session_files(tmp_path)[-1])
    assert not session.complete
    assert len(session.entries) < 3_010  # the end the disk did not take is missing


@pytest.fixture
def flush_by_hand(monkeypatch):
    """The writer thread waits an hour between flushes: the test's `flush()` calls are the
    only ones, so the sizes checked against the limit are the same at every run."""
    monkeypatch.setattr(market_recorder, "FLUSH_S", 3600.0)


def _older_sessions(journal_dir, starts: list[int], size: int) -> None:
    folder = journal_dir / "market"
    folder.mkdir()
    for started in starts:
        (folder / f"session-{started}.jsonl.gz").write_bytes(b"x" * size)


def test_older_sessions_go_oldest_first_until_the_folder_fits_its_size_limit(
    tmp_path, flush_by_hand
):
    # 6 older sessions of 20 kB (120 kB) under a 150 kB limit: they fit at the start. This
    # session ends at 90-110 kB (6,000 trades; 97 kB with this zlib), so 150 - 110 = 40 kB
    # of older ones are left beside it: the 4 oldest go, the 2 newest stay.
    _older_sessions(tmp_path, [100, 200, 300, 400, 500, 600], 20_000)
    rec = MarketRecorder(tmp_path, SimClock(1_000), max_bytes=150_000)
    on_item = rec.items(lambda item, _now: None)
    rec.start({})
    rec.keep_older(0)  # the daemon started
    assert len(session_files(tmp_path)) == 7
    for item in trades(0, 6_000):
        on_item(item)
    rec.flush()
    rec.close()

    files = session_files(tmp_path)
    assert [p.name for p in files] == [f"session-{s}.jsonl.gz" for s in (500, 600, 1000)]
    assert 90_000 < files[-1].stat().st_size <= 110_000
    assert sum(p.stat().st_size for p in files) <= 150_000
    session = read_session(files[-1])
    assert [e[2] for e in session.entries] == trades(0, 6_000)
    assert session.holes == [] and rec.cut is None


def _cut_session(tmp_path, caplog) -> tuple[MarketRecorder, int]:
    """A session of 30 kB at most beside one older of 10 kB: 3,000 trades (26 kB compressed)
    leave no room for the older one; 3,000 more take it over 30 kB by itself at 00:01:01, and
    the 100 after (and the stop) are not recorded. Returns the recorder (closed) and the
    file's size right after the cut."""
    _older_sessions(tmp_path, [100], 10_000)
    clock = SimClock(1_000)
    rec = MarketRecorder(tmp_path, clock, max_bytes=30_000)
    on_item = rec.items(lambda item, _now: None)
    rec.start({})
    rec.keep_older(0)  # the daemon started
    for item in trades(0, 3_000):
        on_item(item)
    rec.flush()
    assert rec.cut is None and [p.name for p in session_files(tmp_path)] == [rec.path.name]
    assert rec.stopped_at_ms is None
    clock.set_ms(61_000)
    for item in trades(3_000, 3_000):
        on_item(item)
    rec.flush()
    assert rec.path is not None
    size_at_cut = rec.path.stat().st_size
    shutil.copy(rec.path, tmp_path / "killed-here.jsonl.gz")
    clock.set_ms(121_000)
    for item in trades(6_000, 100):
        on_item(item)
    rec.stopping(cancel_orders=True)
    rec.close()
    return rec, size_at_cut


def test_a_session_over_the_size_limit_by_itself_stops_recording_with_a_hole_to_its_end(
    tmp_path, flush_by_hand, caplog
):
    rec, size_at_cut = _cut_session(tmp_path, caplog)

    (path,) = session_files(tmp_path)  # the older one went first
    session = read_session(path)
    *recorded, mark = session.entries
    assert [e[2] for e in recorded] == trades(0, 6_000)  # all before the cut, intact
    assert mark == ("h", 0, 61_000, 61_000, "size_limit", 30_000)
    assert session.complete
    assert session.holes == [Hole(0, 61_000, 61_000, HoleCause.SIZE_LIMIT, 30_000)]
    assert rec.cut == Hole(101, 61_000, 61_000, HoleCause.SIZE_LIMIT, 30_000)  # 100 + the stop
    assert rec.stopped_at_ms == 61_000  # what status.json and --status say
    assert path.stat().st_size - size_at_cut <= 30  # then only gzip's end: a block, a trailer
    (warned,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned.startswith(f"market recorder: {path} reached retention.market_sessions_mb = ")
    assert "0.03 by itself" in warned and "recording stopped" in warned


def test_the_daemons_status_says_when_the_size_limit_stopped_the_recording(
    tmp_path, flush_by_hand, caplog
):
    # status.json's fields (`python app.py --status` prints them: tests/runtime); the limit
    # shown is the setting's (default 500 MB), the recorder here being cut at 30 kB.
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())
    assert daemon._recording_status() == {}  # no recorder (a daemon attached to Binance)
    rec, _ = _cut_session(tmp_path, caplog)

    daemon._recorder = rec

    assert daemon._recording_status() == {"recording_stopped_ms": 61_000, "recording_limit_mb": 500}


def test_a_daemon_killed_after_the_size_limit_stopped_its_recording_leaves_the_hole_readable(
    tmp_path, flush_by_hand, caplog
):
    """The mark is flushed out at the cut: a file without its end (kill -9, OOM) still says
    the recording stopped, instead of reading as a session that ended there."""
    _cut_session(tmp_path, caplog)

    killed = read_session(tmp_path / "killed-here.jsonl.gz")

    assert not killed.complete
    assert killed.holes == [Hole(0, 61_000, 61_000, HoleCause.SIZE_LIMIT, 30_000)]
    assert [e[2] for e in killed.entries[:-1]] == trades(0, 6_000)


def test_an_older_session_that_cannot_be_deleted_is_tried_once(
    tmp_path, flush_by_hand, monkeypatch, caplog
):
    """Its deletion refused (EACCES, as a file of another user): logged once and left, not
    tried again at each of the 4 writes a second. 20 kB beside a 30 kB limit: it is in the way
    from the write where this session passes 10 kB; 60 writes follow up to 78 kB (the cut)."""
    _older_sessions(tmp_path, [100], 20_000)
    stuck = tmp_path / "market" / "session-100.jsonl.gz"
    tried = []
    unlink = Path.unlink

    def refuse(path: Path, missing_ok: bool = False) -> None:
        if path == stuck:
            tried.append(path)
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        unlink(path, missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    rec = MarketRecorder(tmp_path, SimClock(1_000), max_bytes=30_000)
    on_item = rec.items(lambda item, _now: None)
    rec.start({})
    rec.keep_older(0)  # the daemon started
    for n in range(60):
        for item in trades(100 * n, 100):
            on_item(item)
        rec.flush()
    rec.close()

    assert tried == [stuck] and stuck.stat().st_size == 20_000
    said = [r.getMessage() for r in caplog.records if "cannot delete" in r.getMessage()]
    assert said == [f"retention: cannot delete {stuck}: Permission denied"]
    assert rec.cut is not None  # the session went over by itself after all


def test_without_a_size_limit_nothing_is_deleted_or_cut(tmp_path, flush_by_hand):
    _older_sessions(tmp_path, [100], 40_000)
    rec = MarketRecorder(tmp_path, SimClock(1_000))
    on_item = rec.items(lambda item, _now: None)
    rec.start({})
    for item in trades(0, 6_000):
        on_item(item)
    rec.close()

    assert len(session_files(tmp_path)) == 2
    session = read_session(session_files(tmp_path)[-1])
    assert [e[2] for e in session.entries] == trades(0, 6_000) and session.holes == []


def test_older_sessions_are_deleted_only_once_the_start_succeeded(tmp_path, flush_by_hand):
    """A start that fails after the session file is open (a refused key, `--reset-halt`) must
    not delete older sessions: a supervisor retrying it 10 times would delete every real one.
    12 older sessions of 20 kB, limits of 10 sessions and 150 kB: nothing goes until
    `keep_older`, then the count keeps the 10 newest (this one among them) and the size
    limit the newest 7 older ones (140 kB) beside this one's few hundred bytes."""
    _older_sessions(tmp_path, [100 * k for k in range(1, 13)], 20_000)
    rec = MarketRecorder(tmp_path, SimClock(1_000_000), max_bytes=150_000)
    on_item = rec.items(lambda item, _now: None)
    rec.start({})
    for item in trades(0, 10):
        on_item(item)
    rec.flush()
    assert len(session_files(tmp_path)) == 13  # a start not yet done: nothing deleted

    rec.keep_older(10)
    rec.flush()
    rec.close()
    names = [p.name for p in session_files(tmp_path)]
    assert names == [f"session-{s}.jsonl.gz" for s in (600, 700, 800, 900, 1000, 1100, 1200)] + [
        "session-1000000.jsonl.gz"
    ]


def test_a_start_that_did_not_complete_says_its_file_was_removed_and_not_its_entries(
    tmp_path, caplog
):
    """A failed start logged `market recorder: 1 entries in ...` before saying it removed
    that file: a count of nothing the user can look at, in broken grammar."""
    rec = MarketRecorder(tmp_path, SimClock(1_000))
    on_item = rec.items(lambda item, _now: None)
    rec.start({})
    on_item(ITEMS[0])

    with caplog.at_level(logging.INFO, logger="trading_engine.market_recorder"):
        rec.discard()

    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith("market recorder: the start did not complete:")
    assert session_files(tmp_path) == []


@pytest.mark.parametrize(
    ("items", "line"),
    [
        (ITEMS[:1], "market recorder: 1 entry (market data and venue events) in "),
        (ITEMS[:2], "market recorder: 2 entries (market data and venue events) in "),
        ([], "market recorder: nothing recorded ("),
    ],
)
def test_the_closing_line_says_what_the_session_file_holds(tmp_path, caplog, items, line):
    rec = MarketRecorder(tmp_path, SimClock(1_000))
    on_item = rec.items(lambda item, _now: None)
    rec.start({})
    for item in items:
        on_item(item)

    with caplog.at_level(logging.INFO, logger="trading_engine.market_recorder"):
        rec.close()

    [said] = [r.getMessage() for r in caplog.records]
    assert said.startswith(line), said


def test_the_recorded_answers_name_the_answer_itself_for_the_order_paths_rehearsal(tmp_path):
    """`gap_open` / `clock_offset` record each answer; their `__wrapped__` is the answer
    without the record, which the ExecManager's dry run asks (`inspect.unwrap`)."""
    rec = MarketRecorder(tmp_path, SimClock(5_000))

    def gap(symbol: str) -> bool:
        return symbol == "BTCUSDT"

    def offset() -> int:
        return 7

    recorded_gap, recorded_offset = rec.gap_open(gap), rec.clock_offset(offset)
    assert (recorded_gap("BTCUSDT"), recorded_offset()) == (True, 7)
    assert rec._buf == [("g", "BTCUSDT", True), ("o", 7)]
    assert inspect.unwrap(recorded_gap) is gap and inspect.unwrap(recorded_offset) is offset
