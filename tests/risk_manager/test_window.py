"""The sliding window of order times: counting, and recording an approved one."""

from risk_manager.window import SlidingWindow


def test_an_event_exactly_window_ms_old_is_out():
    window = SlidingWindow(window_ms=60_000, capacity=10)
    window.add(1_000)
    assert window.count(60_999) == 1
    assert window.count(61_000) == 0


def test_record_after_count_puts_the_event_in_the_window():
    # 1_000 and 30_000 in; at 61_000 the first is out: 1 in the window, then 61_000 recorded
    window = SlidingWindow(window_ms=60_000, capacity=10)
    window.add(1_000)
    window.add(30_000)
    assert window.count(61_000) == 1
    window.record(61_000)
    assert window.count(61_000) == 2
    assert window.count(90_000) == 1  # 30_000 out, 61_000 still in
