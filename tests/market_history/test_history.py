"""get_price_history: store first, REST only for what is missing, outages reported."""

import time

import pandas as pd
import pytest

from core.clock import LiveClock
from gateway.market_rest import MarketDataRest
from market_history.history import get_price_history, to_epoch_ms
from market_history.store import HistoryStore
from tests.gateway.fake_exchange import FakeBinance, load_agg_trades, load_ohlcv_klines

DAY = 86_400_000


@pytest.fixture
async def fake():
    klines = load_ohlcv_klines(rows=3 * 1440)
    async with FakeBinance(load_agg_trades(), klines=klines) as server:
        server.server_time_ms = klines[-1][0] + 120_000
        yield server


async def test_first_call_fetches_and_the_second_reads_only_the_store(fake, tmp_path):
    store = HistoryStore(tmp_path)
    start, end = "2025-05-05", "2025-05-06T12:00"
    async with MarketDataRest(fake.base_url, clock=LiveClock()) as rest:
        first = await get_price_history("BTCUSDT", start, end, "1m", store=store, rest=rest)
        calls = len(fake.rest_calls)
        second = await get_price_history("BTCUSDT", start, end, "1m", store=store, rest=rest)

    assert len(fake.rest_calls) == calls
    pd.testing.assert_frame_equal(first, second)
    assert len(first) == 36 * 60
    assert first.index.tz is not None and str(first.index.tz) == "UTC"
    assert first.index[0] == pd.Timestamp("2025-05-05T00:00Z")
    assert first["close"].iloc[0] == float(fake.klines[0][4])


async def test_only_the_missing_range_is_fetched(fake, tmp_path):
    store = HistoryStore(tmp_path)
    async with MarketDataRest(fake.base_url, clock=LiveClock()) as rest:
        await get_price_history("BTCUSDT", "2025-05-05", "2025-05-06", store=store, rest=rest)
        fake.rest_calls.clear()
        frame = await get_price_history(
            "BTCUSDT", "2025-05-05", "2025-05-06T06:00", store=store, rest=rest
        )

    klines_calls = [c for c in fake.rest_calls if "klines" in c]
    assert len(klines_calls) == 1
    assert f"startTime={1746403200000 + DAY}" in klines_calls[0]
    assert len(frame) == 30 * 60


async def test_exchange_outage_is_reported_not_invented_and_not_refetched(fake, tmp_path):
    outage = fake.klines[100:110]
    fake.klines = fake.klines[:100] + fake.klines[110:]
    store = HistoryStore(tmp_path)
    async with MarketDataRest(fake.base_url, clock=LiveClock()) as rest:
        frame = await get_price_history(
            "BTCUSDT", "2025-05-05", "2025-05-06", store=store, rest=rest
        )
        fake.rest_calls.clear()
        again = await get_price_history(
            "BTCUSDT", "2025-05-05", "2025-05-06", store=store, rest=rest
        )

    assert len(frame) == 1440 - 10
    assert frame.attrs["missing"] == [(outage[0][0], outage[-1][0] + 60_000)]
    assert again.attrs["missing"] == frame.attrs["missing"] and fake.rest_calls == []


async def test_bars_not_closed_yet_are_missing_and_fetched_later(fake, tmp_path):
    store = HistoryStore(tmp_path)
    fake.server_time_ms = fake.klines[0][0] + 90 * 60_000 + 30_000  # 01:30:30
    async with MarketDataRest(fake.base_url, clock=LiveClock()) as rest:
        early = await get_price_history(
            "BTCUSDT", "2025-05-05", "2025-05-05T03:00", store=store, rest=rest
        )
        fake.server_time_ms = fake.klines[0][0] + 4 * 3_600_000
        later = await get_price_history(
            "BTCUSDT", "2025-05-05", "2025-05-05T03:00", store=store, rest=rest
        )

    assert len(early) == 90
    assert early.attrs["missing"] == [(fake.klines[90][0], fake.klines[180][0])]
    assert len(later) == 180 and later.attrs["missing"] == []


async def test_offline_read_reports_everything_not_stored(tmp_path):
    frame = await get_price_history(
        "BTCUSDT", "2025-05-05", "2025-05-05T01:00", store=HistoryStore(tmp_path), rest=None
    )

    assert frame.empty
    assert frame.attrs["missing"] == [(1746403200000, 1746403200000 + 3_600_000)]


@pytest.mark.parametrize("word", ["now", "today", " Now "])
def test_to_epoch_ms_reads_now_and_today_in_utc_on_a_machine_in_another_time_zone(
    monkeypatch, word
):
    """As `fetch_historical --end now`: pandas alone reads "now" in the machine's local
    time, so on a machine 9 h ahead of UTC `get_price_history(..., end="now")` asked for
    9 h that have not happened yet."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        before = time.time_ns() // 1_000_000
        got = to_epoch_ms(word)
        after = time.time_ns() // 1_000_000
    finally:
        monkeypatch.undo()
        time.tzset()
    if word.strip().lower() == "now":
        assert before <= got <= after
    else:
        assert got == before - before % DAY


def test_to_epoch_ms_refuses_what_is_not_a_date():
    assert to_epoch_ms("2025-05-05") == 1_746_403_200_000  # 20,213 days after 1970-01-01
    assert to_epoch_ms(pd.Timestamp("2025-05-05T02:00", tz="Europe/Paris")) == (1_746_403_200_000)
    with pytest.raises(ValueError):
        to_epoch_ms("NaT")
