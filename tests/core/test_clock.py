import time

import pytest

from core.clock import Clock, LiveClock, SimClock


def test_sim_clock_moves_only_when_told():
    clock = SimClock(1_723_161_256_320)
    assert clock.now_ms() == 1_723_161_256_320
    assert clock.advance_ms(680) == 1_723_161_257_000
    clock.set_ms(1_723_161_260_000)
    assert clock.now_ms() == 1_723_161_260_000


def test_sim_clock_never_goes_back():
    clock = SimClock(1000)
    with pytest.raises(ValueError):
        clock.set_ms(999)
    with pytest.raises(ValueError):
        clock.advance_ms(-1)


def test_live_clock_applies_offset():
    before = time.time_ns() // 1_000_000
    now = LiveClock(offset_ms=-5_000).now_ms()
    assert before - 5_000 <= now <= time.time_ns() // 1_000_000 - 5_000


def test_both_clocks_satisfy_the_protocol():
    assert isinstance(SimClock(), Clock) and isinstance(LiveClock(), Clock)


def test_parse_utc_ms_takes_epoch_ms_dates_and_iso_times_naive_as_utc():
    from core.clock import parse_utc_ms

    assert parse_utc_ms("1746403200000") == 1_746_403_200_000
    assert parse_utc_ms("2025-05-05") == 1_746_403_200_000  # 2025-05-05T00:00Z
    assert parse_utc_ms("2025-05-05T01:30") == 1_746_403_200_000 + 90 * 60_000
    assert parse_utc_ms("2025-05-05T03:30+02:00") == 1_746_403_200_000 + 90 * 60_000
    with pytest.raises(ValueError, match="bad time 'yesterday': use epoch ms or an ISO date"):
        parse_utc_ms("yesterday")


def test_parse_utc_ms_refuses_epoch_seconds_given_by_mistake():
    """1762905600 is 2025-11-12 00:00 UTC in seconds; read as ms it is 1970-01-21 and a
    backtest's --start would have run the whole file without a word."""
    from core.clock import parse_utc_ms

    with pytest.raises(ValueError) as e:
        parse_utc_ms("1762905600")
    assert str(e.value) == (
        "bad time '1762905600': epoch milliseconds are expected, and as ms this is 1970-01-21; "
        "as seconds it is 2025-11-12 00:00:00 UTC: give 1762905600000 or an ISO date"
    )
    assert parse_utc_ms("0") == 0  # the epoch itself: "from the beginning"
    assert parse_utc_ms("100000000000") == 10**11
