"""The sliding window of order times: counting, and appending right after a count."""

from risk_manager.window import SlidingWindow


def test_an_event_exactly_window_ms_old_is_out():
    window = SlidingWindow(window_ms=60_000, capacity=10)
    window.add(1_000)
    assert window.count(60_999) == 1
    assert window.count(61_000) == 0


def test_append_after_a_count_counts_as_add_does():
    # 1_000 and 30_000 in; at 61_000 the first is out: count 1, then one more at 61_000 -> 2
    appended = SlidingWindow(window_ms=60_000, capacity=10)
    added = SlidingWindow(window_ms=60_000, capacity=10)
    for w in (appended, added):
        w.add(1_000)
        w.add(30_000)
    assert appended.count(61_000) == 1
    appended.append(61_000)
    assert added.add(61_000) == 2
    assert appended.count(61_000) == 2
