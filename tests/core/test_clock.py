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


def test_sim_clock_catch_up_moves_forward_only():
    clock = SimClock(1000)
    clock.catch_up(1500)
    assert clock.now_ms() == 1500
    clock.catch_up(1200)  # earlier: ignored, not refused (a backtest bar's price times)
    assert clock.now_ms() == 1500
    clock.catch_up(1500)
    assert clock.now_ms() == 1500


def test_live_clock_applies_offset():
    before = time.time_ns() // 1_000_000
    now = LiveClock(offset_ms=-5_000).now_ms()
    assert before - 5_000 <= now <= time.time_ns() // 1_000_000 - 5_000


class FakeTime:
    """A machine's two clocks, in ns: the wall clock (NTP may step it) and the steady count."""

    def __init__(self, wall_ms: int) -> None:
        self.wall = wall_ms * 1_000_000
        self.steady = 42_000_000_000  # any origin: only its differences count

    def wall_ns(self) -> int:
        return self.wall

    def steady_ns(self) -> int:
        return self.steady

    def run(self, ms: int) -> None:
        """Time passes: both clocks move."""
        self.wall += ms * 1_000_000
        self.steady += ms * 1_000_000


def test_live_clock_starts_at_the_wall_clock_and_follows_the_steady_count():
    t = FakeTime(1_764_547_140_000)  # 2025-11-30 23:59:00 UTC
    clock = LiveClock(offset_ms=250, wall_ns=t.wall_ns, steady=t.steady_ns)
    assert clock.now_ms() == 1_764_547_140_250
    t.run(1_500)
    assert clock.now_ms() == 1_764_547_141_750
    assert clock.local_ms() == clock.wall_ms() == 1_764_547_141_500


@pytest.mark.parametrize("step_ms", [-300_000, 300_000], ids=["back 5 min", "forward 5 min"])
def test_a_step_of_the_wall_clock_does_not_move_the_live_clock(step_ms: int):
    """NTP setting the wall clock by minutes moved every deadline of the daemon with it (a
    stale-order cancel fired at once, a day boundary crossed twice) until the next /time."""
    t = FakeTime(1_764_547_140_000)
    clock = LiveClock(wall_ns=t.wall_ns, steady=t.steady_ns)
    t.run(10_000)
    t.wall += step_ms * 1_000_000  # the step: the wall clock only

    assert clock.now_ms() == 1_764_547_150_000
    assert clock.wall_ms() == 1_764_547_150_000 + step_ms  # what python-binance signs with
    t.run(2_000)
    assert clock.now_ms() == 1_764_547_152_000


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


def test_parse_utc_ms_hints_the_date_an_eight_digit_number_looks_like():
    """20250506 is 2025-05-06 to its writer; as ms it is 1970-01-01, and the hint read
    `give 20250506000`: as ms, 1970-08-23 (this number as seconds), no better."""
    from core.clock import parse_utc_ms

    with pytest.raises(ValueError) as e:
        parse_utc_ms("20250506")
    assert str(e.value) == (
        "bad time '20250506': epoch milliseconds are expected, and as ms this is 1970-01-01; "
        "as a date it is 2025-05-06: give 2025-05-06"
    )
    assert parse_utc_ms("2025-05-06") == 1_746_489_600_000
    # Eight digits that are no date (month 13) keep the seconds hint.
    with pytest.raises(ValueError, match=r"as seconds it is 1970-08-23 .*: give 20251306000 "):
        parse_utc_ms("20251306")


def test_parse_utc_ms_refuses_ms_no_market_data_has_with_what_they_look_like():
    """Epoch ms from 10**13 on (2286-11-20) were taken as given: `--start 20250506000000` ran
    from the year 2611 (no rows, or the whole file read as before it for an --end), and
    Binance's spot files give epoch microseconds since 2025."""
    from core.clock import parse_utc_ms

    def refused(text: str) -> str:
        with pytest.raises(ValueError) as e:
            parse_utc_ms(text)
        return str(e.value)

    expected = "bad time '{}': epoch milliseconds are expected, and as ms this is {}; {}"
    assert refused("20250506000000") == expected.format(
        "20250506000000", "in 2611", "as a date-time it is 2025-05-06T00:00:00: give "
        "2025-05-06T00:00:00"
    )  # fmt: skip
    # 1_746_489_600 s = 2025-05-06 00:00:00 UTC, here in microseconds and in nanoseconds
    assert refused("1746489600000000") == expected.format(
        "1746489600000000", "beyond the year 9999",
        "as microseconds it is 2025-05-06 00:00:00 UTC: give 1746489600000",
    )  # fmt: skip
    assert refused("1746489600000000000").endswith(
        "as nanoseconds it is 2025-05-06 00:00:00 UTC: give 1746489600000"
    )
    # 10**13 ms is 2286-11-20; a 14-digit number that is no date-time (month 13) has no hint
    assert refused("20251306000000") == expected.format(
        "20251306000000", "in 2611", "give epoch ms or an ISO date"
    )
    assert refused(str(10**13)).startswith("bad time '10000000000000': ")
    assert parse_utc_ms(str(10**13 - 1)) == 10**13 - 1
