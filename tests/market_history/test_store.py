"""HistoryStore: day files, atomic merge, de-duplication, coverage."""

import pyarrow as pa
import pytest

from market_history.download import agg_trades_table, klines_table
from market_history.schema import Kind
from market_history.store import HistoryStore, merge_ranges, subtract_ranges
from tests.gateway.fake_exchange import load_agg_trades, load_ohlcv_klines

DAY = 86_400_000
M1 = Kind.klines("1m")


def test_klines_are_split_into_one_file_per_utc_day(tmp_path):
    store = HistoryStore(tmp_path)
    rows = load_ohlcv_klines(rows=3000)  # 2025-05-05 00:00 .. 05-07 02:00

    store.write("BTCUSDT", M1, klines_table(rows), covered=[(rows[0][0], rows[-1][0] + 60_000)])

    files = sorted(p.name for p in (tmp_path / "BTCUSDT" / "klines-1m").iterdir())
    assert files == ["2025-05-05.parquet", "2025-05-06.parquet", "2025-05-07.parquet"]
    back = store.read("BTCUSDT", M1, rows[0][0], rows[-1][0] + 1)
    assert back["open_time"].to_pylist() == [r[0] for r in rows]
    assert back["close"].to_pylist() == [r[4] for r in rows]


def test_write_merges_with_stored_rows_and_drops_duplicate_keys(tmp_path):
    store = HistoryStore(tmp_path)
    rows = load_ohlcv_klines(rows=100)
    store.write("BTCUSDT", M1, klines_table(rows[:60]))

    added = store.write("BTCUSDT", M1, klines_table(rows[40:] + rows[40:45]))

    assert added == 40
    back = store.read("BTCUSDT", M1, rows[0][0], rows[-1][0] + 1)
    assert back["open_time"].to_pylist() == [r[0] for r in rows]


def test_write_leaves_no_temporary_file_behind(tmp_path):
    store = HistoryStore(tmp_path)
    trades = load_agg_trades()[:500]

    store.write("BTCUSDT", Kind.agg_trades(), agg_trades_table(trades))

    names = [p.name for p in (tmp_path / "BTCUSDT" / "aggTrades").iterdir()]
    assert names == ["2024-08-08.parquet"]


def test_a_write_that_fails_midway_leaves_the_stored_day_whole(tmp_path, monkeypatch):
    store = HistoryStore(tmp_path)
    rows = load_ohlcv_klines(rows=100)
    store.write("BTCUSDT", M1, klines_table(rows[:60]))

    def broken_write_table(table: pa.Table, where: object, **kwargs: object) -> None:
        where.write(b"PAR1 half a file")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr("market_history.store.pq.write_table", broken_write_table)
    with pytest.raises(OSError):
        store.write("BTCUSDT", M1, klines_table(rows[60:]))
    monkeypatch.undo()

    back = store.read("BTCUSDT", M1, rows[0][0], rows[-1][0] + 1)
    assert back["open_time"].to_pylist() == [r[0] for r in rows[:60]]
    assert [p.name for p in (tmp_path / "BTCUSDT" / "klines-1m").iterdir()] == [
        "2025-05-05.parquet"
    ]


def test_coverage_survives_in_the_file_and_missing_is_the_rest(tmp_path):
    start = load_ohlcv_klines(rows=1)[0][0]
    HistoryStore(tmp_path).write(
        "BTCUSDT", M1, klines_table([]), covered=[(start, start + 3_600_000)]
    )

    store = HistoryStore(tmp_path)  # a new process
    missing = store.missing("BTCUSDT", M1, start, start + DAY + 3_600_000)

    assert missing == [(start + 3_600_000, start + DAY + 3_600_000)]


def test_range_helpers_join_and_subtract_half_open_ranges():
    assert merge_ranges([(5, 7), (0, 2), (2, 4)]) == [(0, 4), (5, 7)]
    assert subtract_ranges((0, 10), [(2, 4), (3, 5), (8, 12)]) == [(0, 2), (5, 8)]
    assert subtract_ranges((0, 10), []) == [(0, 10)]


def test_table_with_wrong_types_is_refused(tmp_path):
    store = HistoryStore(tmp_path)
    bad = pa.table({"open_time": ["x"]})

    with pytest.raises((KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError)):
        store.write("BTCUSDT", M1, bad)
