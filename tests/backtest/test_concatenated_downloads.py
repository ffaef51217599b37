"""Two kline downloads concatenated with their header lines (`cat a.csv b.csv > c.csv`) read
as the bars they hold, by every tool: a header line met again is skipped. The backtester
refused such a file at the second header ("line 201, column open_time: 'open_time' is not a
time in ms"), training and the analysis commands likewise ("column open_time is not numeric
at row 201 (line 202): 'open_time'")."""

import gzip
from pathlib import Path

import pytest

from analysis._common import InputError as AnalysisInputError
from analysis._common import load_klines as analysis_klines
from backtest.data import DataError, load
from model.input_error import InputError
from model.train_data import load_bars
from tests.model.support import WEEK

with gzip.open(WEEK, "rt") as fh:
    HEADER, *BARS = fh.read().splitlines()[:301]  # the header and the week's first 300 bars
BINANCE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore"
)


def _file(tmp: Path, name: str, lines: list[str]) -> Path:
    path = tmp / f"BTCUSDT-{name}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _binance(row: str) -> str:
    """A bar as Binance's 12-column files hold it."""
    t = int(row.split(",")[0])
    return f"{row},{t + 59_999},1000.0,10,1.0,100.0,0"


def _times() -> list[int]:
    return [int(row.split(",")[0]) for row in BARS]


def test_two_downloads_concatenated_with_their_headers_read_as_their_bars(tmp_path):
    whole = _file(tmp_path, "whole", [HEADER, *BARS])
    joined = _file(tmp_path, "cat", [HEADER, *BARS[:200], HEADER, *BARS[200:]])

    assert load(joined) == load(whole)


def test_three_downloads_in_a_file_the_csv_module_reads_read_as_their_bars(tmp_path):
    """Quoted cells: not the plain files' fast path, the same rule."""
    quoted = [",".join(f'"{c}"' for c in row.split(",")) for row in BARS]
    whole = _file(tmp_path, "whole", [HEADER, *quoted])
    joined = _file(
        tmp_path, "cat", [HEADER, *quoted[:100], HEADER, *quoted[100:200], HEADER, *quoted[200:]]
    )

    assert load(joined) == load(whole)


def test_a_second_download_with_a_byte_order_mark_reads_as_its_bars(tmp_path):
    """A spreadsheet's "CSV UTF-8" export starts with one; `cat` keeps it inside the file."""
    joined = tmp_path / "BTCUSDT-cat.csv"
    first = "\n".join([HEADER, *BARS[:200]]) + "\n"
    second = "\n".join([HEADER, *BARS[200:]]) + "\n"
    joined.write_bytes(b"\xef\xbb\xbf" + first.encode() + b"\xef\xbb\xbf" + second.encode())

    assert load(joined).open_time == _times()


def test_binance_headerless_months_then_one_with_its_header_read_as_their_bars(tmp_path):
    """data.binance.vision's older files have no header, its newer ones do."""
    rows = [_binance(row) for row in BARS]
    joined = _file(tmp_path, "cat", [*rows[:200], BINANCE_HEADER, *rows[200:]])

    assert load(joined).open_time == _times()


def test_a_bad_cell_after_a_repeated_header_is_named_by_its_line_in_the_file(tmp_path):
    cells = BARS[250].split(",")
    cells[1] = "abc"
    lines = [HEADER, *BARS[:200], HEADER, *BARS[200:250], ",".join(cells), *BARS[251:]]
    path = _file(tmp_path, "cat", lines)

    with pytest.raises(DataError) as refused:
        load(path)

    assert str(refused.value) == f"{path}: line 253, column open: 'abc' is not a number"


SPACED = HEADER.replace(",", ", ")  # open_time, open, high, low, close, volume
SHOUTED = HEADER.upper()


@pytest.mark.parametrize(
    ("first", "again"),
    [(HEADER, SPACED), (SPACED, SPACED), (SPACED, HEADER), (HEADER, SHOUTED), (SHOUTED, HEADER)],
)
def test_a_header_written_with_blanks_or_in_another_case_is_the_same_header(tmp_path, first, again):
    """Names compare as the first header's columns are found (`core.csv_header`): a header
    with blanks after its commas was read as a row ("line 202, column open_time: 'open_time'
    is not a time in ms" in training), `OPEN_TIME,...` read as the first header but refused as
    the second."""
    joined = _file(tmp_path, "cat", [first, *BARS[:200], again, *BARS[200:]])
    whole = _file(tmp_path, "whole", [HEADER, *BARS])

    assert load(joined) == load(whole)
    assert _training_bars(joined).equals(_training_bars(whole))
    assert analysis_klines(joined).equals(analysis_klines(whole))


def test_a_file_a_spreadsheet_saved_reads_as_its_bars(tmp_path):
    """Excel's "CSV UTF-8": a byte-order mark, CRLF line ends; here with blanks too, twice."""
    path = tmp_path / "BTCUSDT-excel.csv"
    lines = ["\ufeff" + SPACED, *BARS[:200], "\ufeff" + SPACED, *BARS[200:]]
    path.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    whole = _file(tmp_path, "whole", [HEADER, *BARS])

    assert load(path) == load(whole)
    assert _training_bars(path).equals(_training_bars(whole))
    assert analysis_klines(path).equals(analysis_klines(whole))


@pytest.mark.parametrize(
    "other",
    ["time,open,high,low,close,volume", "open_time,open,high,low,close,vol", "symbol,a,b,c,d,e"],
)
def test_a_line_that_is_not_the_files_header_stays_refused(tmp_path, other):
    path = _file(tmp_path, "cat", [HEADER, *BARS[:200], other, *BARS[200:]])

    with pytest.raises(DataError) as refused:
        load(path)

    first = other.split(",")[0]
    assert (
        str(refused.value) == f"{path}: line 202, column open_time: {first!r} is not a time in ms"
    )


def test_a_header_in_a_headerless_file_naming_other_columns_stays_refused(tmp_path):
    rows = [_binance(row) for row in BARS]
    path = _file(
        tmp_path, "cat", [*rows[:200], "close,open,high,low,open_time,volume", *rows[200:]]
    )

    with pytest.raises(DataError) as refused:
        load(path)

    assert str(refused.value) == f"{path}: line 201, column open_time: 'close' is not a time in ms"


def _training_bars(path: Path):
    return load_bars(path, symbol="BTCUSDT", interval="1m", start_ms=None, end_ms=None)


def test_training_and_the_analysis_commands_read_concatenated_downloads_as_their_bars(tmp_path):
    joined = _file(tmp_path, "cat", [HEADER, *BARS[:200], HEADER, *BARS[200:]])
    whole = _file(tmp_path, "whole", [HEADER, *BARS])

    assert list(_training_bars(joined)["open_time"]) == _times()
    assert _training_bars(joined).equals(_training_bars(whole))
    assert analysis_klines(joined).equals(analysis_klines(whole))


def test_training_reads_binance_headerless_months_then_one_with_its_header(tmp_path):
    rows = [_binance(row) for row in BARS]
    joined = _file(tmp_path, "cat", [*rows[:200], BINANCE_HEADER, *rows[200:]])

    assert list(_training_bars(joined)["open_time"]) == _times()


def test_a_headerless_binance_file_a_spreadsheet_saved_reads_as_its_bars_in_every_tool(tmp_path):
    # Training took its first bar for a header ("missing column(s) open_time, open, ...") when
    # a byte-order mark stood before it; the backtester and the analysis commands read it.
    rows = [_binance(row) for row in BARS]
    path = tmp_path / "BTCUSDT-excel-headerless.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n")
    plain = _file(tmp_path, "plain", rows)

    assert _training_bars(path).equals(_training_bars(plain))
    assert load(path) == load(plain)
    assert analysis_klines(path).equals(analysis_klines(plain))


def test_a_headerless_plain_ohlcv_file_reads_as_its_bars_in_every_tool(tmp_path):
    # Six numbers a line, no header (Binance's first six kline columns): the analysis commands
    # read it, the backtester refused it ("unknown layout of 6 columns without a header") and
    # training took its first bar for a header ("missing column(s) open_time, ...").
    headerless = _file(tmp_path, "headerless", BARS)
    headed = _file(tmp_path, "headed", [HEADER, *BARS])

    assert list(_training_bars(headerless)["open_time"]) == _times()
    assert _training_bars(headerless).equals(_training_bars(headed))
    assert load(headerless) == load(headed)
    assert analysis_klines(headerless).equals(analysis_klines(headed))


def test_training_names_a_bad_cell_after_a_repeated_header_by_its_line(tmp_path):
    cells = BARS[250].split(",")
    cells[4] = "abc"
    lines = [HEADER, *BARS[:200], HEADER, *BARS[200:250], ",".join(cells), *BARS[251:]]
    path = _file(tmp_path, "cat", lines)

    with pytest.raises(InputError) as refused:
        _training_bars(path)

    assert str(refused.value) == (
        f"--data {path}: column close is not numeric at row 252 (line 253): 'abc'"
    )


def test_training_still_refuses_another_header_inside_the_file(tmp_path):
    path = _file(tmp_path, "cat", [HEADER, *BARS[:200], "time,open,high,low,close,volume"])

    with pytest.raises(InputError) as refused:
        _training_bars(path)

    assert str(refused.value) == (
        f"--data {path}: column open_time is not numeric at row 201 (line 202): 'time'"
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "no rows (an empty file)"),
        ("\n\n", "no rows (an empty file)"),
        (SPACED + "\n", "no data rows (only a header line)"),
        (HEADER + "\n" + SPACED + "\n", "no data rows (only a header line)"),
    ],
)
def test_training_and_analysis_say_an_empty_or_header_only_file_in_one_line(tmp_path, text, said):
    # "cannot read as CSV (EmptyDataError: No columns to parse from file)", and for a header
    # alone "no bars in the requested window" when no window was asked for.
    path = tmp_path / "BTCUSDT-empty.csv"
    path.write_text(text)

    with pytest.raises(InputError) as training:
        _training_bars(path)
    with pytest.raises(AnalysisInputError) as analysis:
        analysis_klines(path)

    assert str(training.value) == str(analysis.value) == f"--data {path}: {said}"
