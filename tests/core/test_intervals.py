import pytest

from core.intervals import FIXED_KLINE_INTERVALS, KLINE_INTERVALS, interval_ms


def test_binance_kline_intervals_in_documented_order():
    assert KLINE_INTERVALS == (
        "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
    )  # fmt: skip
    assert "1M" not in FIXED_KLINE_INTERVALS and len(FIXED_KLINE_INTERVALS) == 14


@pytest.mark.parametrize(
    ("interval", "ms"),
    [("1s", 1_000), ("15s", 15_000), ("1m", 60_000), ("4h", 14_400_000), ("3d", 259_200_000),
     ("1w", 604_800_000)],
)  # fmt: skip
def test_interval_lengths(interval, ms):
    assert interval_ms(interval) == ms


@pytest.mark.parametrize("bad", ["1M", "0m", "m", "-1m", "1.5m", "1y", ""])
def test_variable_or_malformed_intervals_are_refused(bad):
    with pytest.raises(ValueError):
        interval_ms(bad)
