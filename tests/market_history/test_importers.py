"""Importers: Binance public-data layouts and plain OHLCV, normalized to one schema."""

import csv
import gzip
from decimal import Decimal
from pathlib import Path

import pytest

from market_history.importers import (
    import_file,
    read_binance_agg_trades_csv,
    read_binance_klines_csv,
    read_ohlcv_csv,
)
from market_history.schema import Kind, normalize_symbol, to_ms
from market_history.store import HistoryStore
from tests.gateway.fake_exchange import load_agg_trades

MARKET = Path(__file__).resolve().parents[1] / "fixtures" / "market"
NEAR_12COL = MARKET / "NEARUSDT-um-1m-2024-02-01-first180-full12col.csv"
BTC_OHLCV = MARKET / "BTCUSDT-um-1m-2025-05-04-first120-ohlcv.csv"


def test_binance_12_column_klines_keep_every_field_exactly():
    table = read_binance_klines_csv(NEAR_12COL)

    first = table.slice(0, 1).to_pylist()[0]
    assert table.num_rows == 180
    assert first == {
        "open_time": 1706745600000,
        "open": "2.821",
        "high": "2.835",
        "low": "2.819",
        "close": "2.835",
        "volume": "124314",
        "close_time": 1706745659999,
        "quote_volume": "351525.351",
        "trade_count": 986,
        "taker_buy_volume": "76178",
        "taker_buy_quote_volume": "215424.496",
    }


def test_binance_klines_in_microseconds_and_without_header_are_normalized_to_ms(tmp_path):
    rows = list(csv.reader(NEAR_12COL.open()))[1:4]
    for r in rows:
        r[0], r[6] = str(int(r[0]) * 1000), str(int(r[6]) * 1000 + 999)
    path = tmp_path / "NEARUSDT-1m-us.csv"
    path.write_text("\n".join(",".join(r) for r in rows))

    table = read_binance_klines_csv(path)

    assert table["open_time"].to_pylist() == [1706745600000, 1706745660000, 1706745720000]
    assert table["close_time"].to_pylist()[0] == 1706745659999


def test_plain_ohlcv_csv_gets_the_same_schema_with_unknown_fields_null():
    table = read_ohlcv_csv(BTC_OHLCV, "1m")

    row = table.slice(0, 1).to_pylist()[0]
    assert row["open_time"] == 1746372780000 and row["close_time"] == 1746372839999
    assert Decimal(row["open"]) == Decimal("95505.4")
    assert row["trade_count"] is None and row["quote_volume"] is None


def test_plain_ohlcv_with_iso_dates_is_read_as_utc(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("date,open,high,low,close,volume\n2025-05-04 15:33:00+00:00,1,2,0.5,1.5,10\n")

    table = read_ohlcv_csv(path, "1m")

    assert table["open_time"].to_pylist() == [1746372780000]


def test_binance_agg_trades_csv_is_read_with_or_without_header(tmp_path):
    trades = load_agg_trades()[:50]
    path = tmp_path / "BTCUSDT-aggTrades.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,"
                 "is_buyer_maker\n")  # fmt: skip
        for t in trades:
            m = str(t["m"]).lower()
            fh.write(f"{t['a']},{t['p']},{t['q']},{t['f']},{t['l']},{t['T']},{m}\n")

    table = read_binance_agg_trades_csv(path)

    assert table["agg_id"].to_pylist() == [t["a"] for t in trades]
    assert table["qty"].to_pylist() == [t["q"] for t in trades]
    assert table["buyer_is_maker"].to_pylist() == [t["m"] for t in trades]


def test_import_file_records_the_file_span_as_covered(tmp_path):
    store = HistoryStore(tmp_path)

    added = import_file(store, NEAR_12COL, symbol="NEARUSDT", kind=Kind.klines("1m"))

    assert added == 180
    start = 1706745600000
    assert store.missing("NEARUSDT", Kind.klines("1m"), start, start + 180 * 60_000) == []


@pytest.mark.parametrize(
    ("raw", "symbol"),
    [("BTC/USDT", "BTCUSDT"), ("BTC/USDT:USDT", "BTCUSDT"), ("eth_usdt", "ETHUSDT")],
)
def test_symbols_are_normalized(raw, symbol):
    assert normalize_symbol(raw) == symbol


def test_timestamps_in_seconds_us_and_ns_become_ms():
    assert to_ms(1746372780) == 1746372780000
    assert to_ms(1746372780000) == 1746372780000
    assert to_ms(1746372780000123) == 1746372780000
    assert to_ms(1746372780000123456) == 1746372780000


def test_two_binance_downloads_concatenated_with_their_headers_are_read_as_their_rows(tmp_path):
    """`cat a.csv b.csv > c.csv`: the second header line was read as a row (int('open_time'))."""
    header, *rows = NEAR_12COL.read_text().splitlines()
    path = tmp_path / "NEARUSDT-cat.csv"
    path.write_text("\n".join([header, *rows[:90], header, *rows[90:]]) + "\n")

    assert read_binance_klines_csv(path) == read_binance_klines_csv(NEAR_12COL)


def test_a_plain_ohlcv_file_concatenated_with_its_header_is_read_as_its_rows(tmp_path):
    header, *rows = BTC_OHLCV.read_text().splitlines()
    path = tmp_path / "BTCUSDT-cat.csv"
    path.write_text("\n".join([header, *rows[:60], header, *rows[60:]]) + "\n")

    assert read_ohlcv_csv(path, "1m") == read_ohlcv_csv(BTC_OHLCV, "1m")


def test_another_header_inside_a_binance_file_stays_an_error_naming_its_line(tmp_path):
    header, *rows = NEAR_12COL.read_text().splitlines()
    other = header.replace("open_time", "start")
    path = tmp_path / "NEARUSDT-cat.csv"
    path.write_text("\n".join([header, *rows[:90], other, *rows[90:]]) + "\n")

    with pytest.raises(ValueError) as raised:
        read_binance_klines_csv(path)

    assert str(raised.value) == f"{path}: line 92, column open_time: 'start' is not a whole number"


def test_a_repeated_header_with_blanks_a_bom_crlf_or_another_case_is_the_same_header(tmp_path):
    """`open_time, open, high` (blanks after the commas), an Excel "CSV UTF-8" file (a
    byte-order mark, CRLF) and `OPEN_TIME,...` name the same columns: such a second header was
    read as a row (int('open_time')), a first one with a mark was 'need a time column'."""
    header, *rows = NEAR_12COL.read_text().splitlines()
    path = tmp_path / "NEARUSDT-cat.csv"
    spaced, shouted = header.replace(",", ", "), header.upper()
    lines = ["\ufeff" + spaced, *rows[:60], "\ufeff" + header, *rows[60:120], shouted, *rows[120:]]
    path.write_bytes("\r\n".join(lines).encode() + b"\r\n")

    assert read_binance_klines_csv(path) == read_binance_klines_csv(NEAR_12COL)


def test_a_plain_ohlcv_file_saved_by_a_spreadsheet_is_read(tmp_path):
    header, *rows = BTC_OHLCV.read_text().splitlines()
    path = tmp_path / "BTCUSDT-excel.csv"
    path.write_bytes(("\ufeff" + "\r\n".join([header.replace(",", ", "), *rows]) + "\r\n").encode())

    assert read_ohlcv_csv(path, "1m") == read_ohlcv_csv(BTC_OHLCV, "1m")


def test_binances_header_after_its_headerless_months_is_skipped(tmp_path):
    # An older month (no header) and a newer one (with it), concatenated: int('open_time').
    header, *rows = NEAR_12COL.read_text().splitlines()
    path = tmp_path / "NEARUSDT-cat.csv"
    path.write_text("\n".join([*rows[:90], header, *rows[90:]]) + "\n")

    assert read_binance_klines_csv(path) == read_binance_klines_csv(NEAR_12COL)


@pytest.mark.parametrize(
    ("cell", "column", "said"),
    [
        (0, "open_time", "'x1' is not a whole number"),
        (2, "high", "'x1' is not a number"),
        (8, "count", "'x1' is not a whole number"),
        # pyarrow's OverflowError traceback ("Python int too large to convert to C long")
        (8, "count", "'99999999999999999999' is not a 64-bit whole number (out of range)"),
    ],
)
def test_a_bad_cell_is_one_line_naming_file_line_column_and_value(tmp_path, cell, column, said):
    # A price 'abc' was stored as it was; a bad time was int()'s "invalid literal" alone.
    header, *rows = NEAR_12COL.read_text().splitlines()
    bad = rows[40].split(",")
    bad[cell] = said.split("'")[1]
    rows[40] = ",".join(bad)
    path = tmp_path / "NEARUSDT-bad.csv"
    path.write_text("\n".join([header, *rows]) + "\n")

    with pytest.raises(ValueError) as raised:
        read_binance_klines_csv(path)

    assert str(raised.value) == f"{path}: line 42, column {column}: {said}"


@pytest.mark.parametrize(
    ("second", "said"),
    [
        # Each time is one alone; the first one's format, which pandas takes for the
        # column's, does not fit the second.
        ("2025-05-04T15:34:00Z", "'2025-05-04T15:34:00Z' is written otherwise than line 2's"),
        ("1746372840000", "'1746372840000' is written otherwise than line 2's"),
        ("2025/05/04 15:34", "'2025/05/04 15:34' is written otherwise than line 2's"),
        ("abc", "'abc' is not a time (epoch s, ms or us, or an ISO date-time)"),
    ],
)
def test_a_time_of_another_format_is_one_line_naming_it(tmp_path, second, said):
    # A date-time of another format than the first, or an epoch time among date-times, was a
    # StopIteration traceback: the error path looked for a cell no parser took, found none.
    path = tmp_path / "mixed.csv"
    path.write_text(
        f"date,open,high,low,close,volume\n2025-05-04 15:33:00,1,2,0.5,1.5,10\n"
        f"{second},1,2,0.5,1.5,10\n"
    )

    with pytest.raises(ValueError) as raised:
        read_ohlcv_csv(path, "1m")

    assert str(raised.value).startswith(f"{path}: line 3, column date: {said}")


def test_a_number_pyarrow_refuses_and_python_reads_is_one_line_naming_it(tmp_path):
    # float('1_000') is 1000.0, pyarrow refuses it: the error path, by float(), found no bad
    # cell and raised StopIteration.
    path = tmp_path / "underscore.csv"
    path.write_text(
        "date,open,high,low,close,volume\n1746372780000,1,2,0.5,1.5,10\n"
        "1746372840000,1_000,2,0.5,1.5,10\n"
    )

    with pytest.raises(ValueError) as raised:
        read_ohlcv_csv(path, "1m")

    assert str(raised.value) == f"{path}: line 3, column open: '1_000' is not a number"


def test_a_short_row_is_named_by_its_line(tmp_path):
    header, *rows = NEAR_12COL.read_text().splitlines()
    rows[9] = ",".join(rows[9].split(",")[:6])
    path = tmp_path / "NEARUSDT-short.csv"
    path.write_text("\n".join([header, *rows]) + "\n")

    with pytest.raises(ValueError) as raised:
        read_binance_klines_csv(path)

    assert str(raised.value) == (
        f"{path}: line 11 has 6 columns, fewer than the 11 of a Binance klines row"
    )


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("", "no rows (an empty file)"),
        ("\n\n", "no rows (an empty file)"),
        ("HEADER\n", "no data rows (only a header line)"),
    ],
)
def test_an_empty_or_header_only_file_is_one_line(tmp_path, text, what):
    # A header-only file was imported as 0 rows without a word.
    header = NEAR_12COL.read_text().splitlines()[0]
    path = tmp_path / "NEARUSDT-empty.csv"
    path.write_text(text.replace("HEADER", header))
    store = HistoryStore(tmp_path / "store")

    with pytest.raises(ValueError) as raised:
        import_file(store, path, symbol="NEARUSDT", kind=Kind.klines("1m"))

    assert str(raised.value) == f"{path}: {what}"
