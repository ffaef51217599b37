"""MarketRecorder: every entry comes back exactly (Decimals digit for digit), one clock reading
per item is what the ExecManager sees, and a torn last line (a killed daemon) is dropped."""

import gzip
import io
from decimal import Decimal as D

from core.clock import SimClock
from core.events import GapCause, GapDetected, OrderCanceled
from core.market import Bar, BookTicker, MarkPrice, Trade
from trading_engine.market_recorder import MarketRecorder, read_session, session_files

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
    on_item = rec.items(lambda item: seen.append((rec.clock.now_ms(), item)))
    on_event = rec.events(lambda e: seen.append((rec.clock.now_ms(), e)))
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
    rec.items(lambda item: None)(ITEMS[0])
    rec.close()
    path = session_files(tmp_path)[-1]
    with gzip.open(path, "ab") as fh:
        fh.write(b'["i", 5, "t", ["BTCUSDT", 8')  # a kill -9 in the middle of a write

    session = read_session(path)

    assert [e[2] for e in session.entries] == [ITEMS[0]]


def test_a_session_file_that_cannot_be_finished_on_a_full_disk_does_not_raise(tmp_path, caplog):
    """Its close raised out of the daemon's closers: a traceback on a full disk."""

    class FullDisk(io.BytesIO):
        def close(self) -> None:
            raise OSError(28, "No space left on device")

    rec = MarketRecorder(tmp_path, SimClock(1))
    rec.start({"strategy": "x", "strategy_params": {}})
    rec._file.close()
    rec._file = FullDisk()

    rec.close()

    (said,) = [r for r in caplog.records if "not closed" in r.getMessage()]
    assert said.levelname == "ERROR" and said.exc_info is None
    assert "No space left on device" in said.getMessage()
