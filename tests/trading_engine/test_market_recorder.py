"""MarketRecorder: every entry comes back exactly (Decimals digit for digit), one clock reading
per item is what the ExecManager sees, and a torn last line (a killed daemon) is dropped."""

import errno
import gzip
import logging
import os
from decimal import Decimal as D

from core.clock import SimClock
from core.events import GapCause, GapDetected, OrderCanceled
from core.market import Bar, BookTicker, MarkPrice, Trade
from trading_engine.market_recorder import Hole, MarketRecorder, read_session, session_files

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
    rec.stopping(cancel_orders=True, keep_protection=True)
    rec.close()

    session = read_session(session_files(tmp_path)[-1])

    assert session.header["started_ms"] == 5_000 and session.header["strategy"] == "x"
    items = [(e[1], e[2]) for e in session.entries if e[0] == "i"]
    assert items == [(5_000 + 10 * i, item) for i, item in enumerate(ITEMS)]
    assert items == seen[:-1]  # the ExecManager's clock read the recorded reading
    assert [e for e in session.entries if e[0] != "i"] == [
        ("e", 5_040, canceled),
        ("g", "BTCUSDT", True),
        ("s", 5_040, True, True),  # cancel, but keep the protective orders
    ]
    assert rec.clock.now_ms() == 5_040  # released: the wrapped clock again


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
