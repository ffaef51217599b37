"""The sliding window of order times: counting, and admitting one below a limit."""

from risk_manager.window import SlidingWindow


def test_an_event_exactly_window_ms_old_is_out():
    window = SlidingWindow(window_ms=60_000, capacity=10)
    window.add(1_000)
    assert window.count(60_999) == 1
    assert window.count(61_000) == 0


def test_admit_below_the_limit_counts_the_window_then_records_the_event():
    # 1_000 and 30_000 in; at 61_000 the first is out: 1 in the window, then 61_000 recorded
    window = SlidingWindow(window_ms=60_000, capacity=10)
    window.add(1_000)
    window.add(30_000)
    assert window.admit(61_000, limit=2) == 1
    assert window.count(61_000) == 2


def test_admit_at_the_limit_records_nothing():
    window = SlidingWindow(window_ms=60_000, capacity=10)
    window.add(1_000)
    window.add(30_000)
    assert window.admit(59_000, limit=2) == 2
    assert window.count(59_000) == 2
