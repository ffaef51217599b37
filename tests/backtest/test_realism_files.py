"""The backtester's other CSV inputs, a funding-rate file (`--funding`) and a bookTicker file
(`--book-ticker`), read by the kline loader's header rule (`core.csv_header`): a header line
met again (files concatenated), blanks after its commas, a byte-order mark and CRLF (a
spreadsheet's "CSV UTF-8") are no difference; a bad cell is one line naming the file, the
line, the column and the value; an empty or header-only file says which."""

import gzip
from pathlib import Path

import pytest

import backtest_trading_strategy as cli
from backtest.realism import RealismError, load_book_ticker, load_funding

ROOT = Path(__file__).resolve().parents[2]
FUNDING = ROOT / "exchange_sim/data/funding/BTCUSDT-um-8h-funding_rate-2025-03-06_2025-06-03.csv.gz"
BOOK = ROOT / "exchange_sim/data/bookticker/BTCUSDT-um-bookTicker-2024-08-08T2354_2400.csv.gz"

with gzip.open(FUNDING, "rt") as fh:
    F_HEADER, *F_ROWS = fh.read().splitlines()  # time,funding_rate
with gzip.open(BOOK, "rt") as fh:
    B_HEADER, *B_ROWS = fh.read().splitlines()[:2001]  # update_id,best_bid_price,...


def _write(path: Path, lines: list[str], *, excel: bool = False) -> Path:
    if excel:  # a byte-order mark and CRLF line ends
        path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    else:
        path.write_text("\n".join(lines) + "\n")
    return path


def _bad(rows: list[str], index: int, column: int, value: str) -> list[str]:
    cells = rows[index].split(",")
    cells[column] = value
    return [*rows[:index], ",".join(cells), *rows[index + 1 :]]


@pytest.mark.parametrize("excel", [False, True])
def test_a_funding_file_concatenated_with_a_header_written_with_blanks_reads_as_its_rows(
    tmp_path, excel
):
    # Its second header was "bad row (invalid literal for int() with base 10: 'time')", a
    # byte-order mark "no time / funding rate columns in \ufefftime,funding_rate".
    spaced = F_HEADER.replace(",", ", ")
    path = _write(tmp_path / "f.csv", [spaced, *F_ROWS[:50], F_HEADER, *F_ROWS[50:]], excel=excel)

    whole = load_funding(FUNDING)
    loaded = load_funding(path)

    assert (loaded.times, loaded.rates) == (whole.times, whole.rates)


@pytest.mark.parametrize(
    ("column", "value", "said"),
    [
        (0, "17x", "column time: '17x' is not a time in ms"),
        (1, "abc", "column funding_rate: 'abc' is not a number"),  # was [<class '...Syntax'>]
        (1, "NaN", "column funding_rate: 'NaN' is not a number"),  # was paid as NaN
    ],
)
def test_a_bad_funding_cell_is_named_by_file_line_column_and_value(tmp_path, column, value, said):
    path = _write(tmp_path / "f.csv", [F_HEADER, *_bad(F_ROWS, 10, column, value)])

    with pytest.raises(RealismError) as refused:
        load_funding(path)

    assert str(refused.value) == f"{path}: line 12, {said}"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "no rows in {} (an empty file)"),
        ("HEADER\n", "no data rows in {} (only a header line)"),
    ],
)
def test_an_empty_or_header_only_funding_file_says_which(tmp_path, text, said):
    path = tmp_path / "f.csv"
    path.write_text(text.replace("HEADER", F_HEADER))

    with pytest.raises(RealismError) as refused:
        load_funding(path)

    assert str(refused.value) == said.format(path)


@pytest.mark.parametrize("excel", [False, True])
def test_a_book_ticker_file_concatenated_with_a_header_written_with_blanks_reads_as_its_quotes(
    tmp_path, excel
):
    spaced = B_HEADER.replace(",", ", ")
    lines = [spaced, *B_ROWS[:700], B_HEADER, *B_ROWS[700:]]
    joined = _write(tmp_path / "BTCUSDT-cat.csv", lines, excel=excel)
    whole = _write(tmp_path / "BTCUSDT-whole.csv", [B_HEADER, *B_ROWS])

    assert load_book_ticker(joined) == load_book_ticker(whole)


def test_a_header_after_headerless_rows_is_skipped_where_it_names_the_columns_as_read(tmp_path):
    # Headerless older rows, then files with their header (`cat old.csv new.csv`): that header
    # was refused as a bad row ('update_id' is not a time in ms), as the kline loader skips it.
    book = _write(tmp_path / "BTCUSDT-cat.csv", [*B_ROWS[:700], B_HEADER, *B_ROWS[700:]])
    funding = _write(tmp_path / "f.csv", [*F_ROWS[:50], F_HEADER, *F_ROWS[50:]])

    assert load_book_ticker(book) == load_book_ticker(_write(tmp_path / "b.csv", B_ROWS))
    assert (load_funding(funding).times, load_funding(funding).rates) == (
        load_funding(FUNDING).times,
        load_funding(FUNDING).rates,
    )


def test_a_header_of_another_layout_after_headerless_rows_is_refused(tmp_path):
    # Binance's own funding header puts the rate in its third column: the rows after it read
    # as (time, rate) would take the interval (8 hours) for the rate. Refused as the bad row.
    binance = "calc_time,funding_interval_hours,last_funding_rate"
    path = _write(tmp_path / "f.csv", [*F_ROWS[:50], binance, *F_ROWS[50:]])

    with pytest.raises(RealismError) as refused:
        load_funding(path)

    assert str(refused.value) == f"{path}: line 51, column time: 'calc_time' is not a time in ms"


def test_a_bad_time_in_a_book_ticker_file_is_named_by_file_line_column_and_value(tmp_path):
    # It was "bad row (invalid literal for int() with base 10: '17x')".
    path = _write(tmp_path / "BTCUSDT-bad.csv", [B_HEADER, *_bad(B_ROWS, 99, 5, "17x")])

    with pytest.raises(RealismError) as refused:
        load_book_ticker(path)

    assert (
        str(refused.value)
        == f"{path}: line 101, column transaction_time: '17x' is not a time in ms"
    )


def test_a_header_only_book_ticker_file_says_so(tmp_path):
    # It said "no bookTicker rows in ... within the requested time range", none requested.
    path = _write(tmp_path / "BTCUSDT-empty.csv", [B_HEADER])

    with pytest.raises(RealismError) as refused:
        load_book_ticker(path)

    assert str(refused.value) == f"no data rows in {path} (only a header line)"


TRADES = ROOT / "exchange_sim/data/trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"


def test_a_book_ticker_price_that_is_no_number_stops_the_backtest_in_one_line(tmp_path, capsys):
    # It was a decimal.InvalidOperation traceback from the replay's feed. The prices are
    # checked where a quote becomes numbers (checked at the load, they cost it ~5 %).
    with gzip.open(BOOK, "rt") as fh:
        header, *rows = fh.read().splitlines()
    for k in range(1000, len(rows), 50):
        rows = _bad(rows, k, 3, "x")
    book = _write(tmp_path / "BTCUSDT-bad-ask.csv", [header, *rows])
    argv = ["--data", str(TRADES), "--book-ticker", str(book), "--strategy", "sma_crossover"]
    argv += ["--param", "fast=1", "--param", "slow=2", "--no-progress"]

    assert cli.main([*argv, "--out", str(tmp_path / "out")]) == 2

    err = capsys.readouterr().err
    assert err.startswith(f"backtest_trading_strategy.py: error: {book}: line ")
    line = int(err.split(": line ")[1].split(",")[0])
    assert (line - 2) % 50 == 0 and line >= 1002  # a row made bad, named by its line
    assert err.endswith(", column best_ask_price: 'x' is not a number\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf"])
def test_a_book_ticker_price_that_is_no_finite_number_stops_the_backtest_in_one_line(
    tmp_path, capsys, value
):
    # Decimal() reads them: a NaN bid ended the run with 'cannot convert NaN to integer', no
    # file or line named, where a funding rate NaN is refused naming its cell.
    with gzip.open(BOOK, "rt") as fh:
        header, *rows = fh.read().splitlines()
    for k in range(1000, len(rows), 50):
        rows = _bad(rows, k, 1, value)
    book = _write(tmp_path / "BTCUSDT-nan-bid.csv", [header, *rows])
    argv = ["--data", str(TRADES), "--book-ticker", str(book), "--strategy", "sma_crossover"]
    argv += ["--param", "fast=1", "--param", "slow=2", "--no-progress"]

    assert cli.main([*argv, "--out", str(tmp_path / "out")]) == 2

    err = capsys.readouterr().err
    assert err.startswith(f"backtest_trading_strategy.py: error: {book}: line ")
    assert err.endswith(f", column best_bid_price: {value!r} is not a number\n")
    assert not (tmp_path / "out").exists()
