"""Bad inputs the command line refuses with one line on stderr and exit status 2 (no
traceback, nothing written): bad data rows, a bad --out, a data file of another symbol,
implausible fees, balance, slippage, an empty time window."""

import csv
import gzip
import inspect
import json
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

import backtest_trading_strategy as cli
from tests.backtest.test_cli import KLINES, ROOT

with gzip.open(KLINES, "rt") as fh:
    HEADER_AND_ROWS = fh.read().splitlines()[:120]


def bad_csv(tmp: Path, line: int, column: int, value: str) -> Path:
    """The week's first rows with cell `column` of file line `line` (1 = the header) set."""
    rows = [r.split(",") for r in HEADER_AND_ROWS]
    rows[line - 1][column] = value
    path = tmp / "klines.csv"
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    return path


def refused(tmp: Path, capsys, *argv: str) -> str:
    out = tmp / "o"
    assert cli.main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert not out.exists()
    return err


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        (1, "abc", "line 51, column open: 'abc' is not a number"),
        (5, "", "line 51, column volume: an empty cell is not a number"),
        (4, "nan", "line 51, column close: 'nan' is not a number"),
        (3, "0", "line 51, column low: price 0 is not > 0"),
        (2, "1", "line 51, column high: 1 is below low"),
        (0, "x", "line 51, column open_time: 'x' is not a time in ms"),
    ],
)
def test_a_bad_cell_is_named_by_file_line_and_column(tmp_path, capsys, column, value, says):
    path = bad_csv(tmp_path, 51, column, value)
    err = refused(tmp_path, capsys, "--data", str(path))
    assert f"{path}: {says}" in err


def test_high_below_open_and_low_above_close_are_refused(tmp_path, capsys):
    row = HEADER_AND_ROWS[50].split(",")
    err = refused(tmp_path, capsys, "--data", str(bad_csv(tmp_path, 51, 2, row[3])))
    assert "line 51, column high:" in err  # high = low: below open or close
    row = HEADER_AND_ROWS[60].split(",")
    err = refused(tmp_path, capsys, "--data", str(bad_csv(tmp_path, 61, 3, row[2])))
    assert "line 61, column low:" in err and "is above" in err


def test_a_bad_cell_in_a_real_process_gives_no_traceback(tmp_path):
    path = bad_csv(tmp_path, 51, 1, "abc")
    argv = [sys.executable, str(ROOT / "backtest_trading_strategy.py"), "--data", str(path)]
    proc = subprocess.run(
        [*argv, "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"backtest_trading_strategy.py: error: {path}: line 51, column open: 'abc' is not a number"
    ]


def test_a_header_only_file_says_it_has_no_rows(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text(HEADER_AND_ROWS[0] + "\n")
    err = refused(tmp_path, capsys, "--data", str(path))
    assert err == (
        f"backtest_trading_strategy.py: error: no data rows in {path} (only a header line)\n"
    )


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff"])
def test_an_empty_file_says_so_in_one_line(tmp_path, capsys, text):
    path = tmp_path / "empty.csv"
    path.write_text(text)
    err = refused(tmp_path, capsys, "--data", str(path))
    assert err == f"backtest_trading_strategy.py: error: no rows in {path} (an empty file)\n"


def test_the_loader_reads_a_quoted_file_as_the_plain_one(tmp_path):
    from backtest.data import load_klines

    quoted = tmp_path / "quoted.csv"
    quoted.write_text(
        "\r\n".join(",".join(f'"{c}"' for c in r.split(",")) for r in HEADER_AND_ROWS) + "\r\n"
    )
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(HEADER_AND_ROWS) + "\n")
    assert load_klines(quoted) == load_klines(plain)
    assert len(load_klines(plain)) == len(HEADER_AND_ROWS) - 1


def test_out_that_is_a_file_is_refused_before_the_run(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert cli.main(["--data", str(KLINES), "--out", str(afile)]) == 2
    err = capsys.readouterr().err
    assert err == f"backtest_trading_strategy.py: error: --out {afile} exists and is not a folder\n"


@pytest.mark.parametrize("out", ["/proc/x", "FILE/sub"])
def test_out_that_cannot_be_made_is_refused_and_nothing_is_left(tmp_path, capsys, out):
    afile = tmp_path / "afile"
    afile.write_text("")
    out = out.replace("FILE", str(afile))
    assert cli.main(["--data", str(KLINES), "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {out}: cannot create the folder" in err


def test_out_checked_leaves_no_folder_behind_on_a_later_error(tmp_path, capsys):
    out = tmp_path / "a" / "b"
    argv = ["--data", str(KLINES), "--start", "2030-01-01", "--out", str(out)]
    assert cli.main(argv) == 2
    assert not (tmp_path / "a").exists()


def test_data_named_for_another_symbol_is_refused(tmp_path, capsys):
    err = refused(tmp_path, capsys, "--data", str(KLINES), "--symbol", "ETHUSDT")
    assert f"--data {KLINES.name} holds BTCUSDT, not --symbol ETHUSDT" in err


def test_data_named_for_another_symbol_than_the_default_says_no_symbol_was_given(tmp_path, capsys):
    """`holds ETHUSDT, not --symbol BTCUSDT` read as if the user had typed BTCUSDT."""
    eth = ROOT / "exchange_sim/data/klines/ETHUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"

    err = refused(tmp_path, capsys, "--data", str(eth))

    assert err == (
        f"backtest_trading_strategy.py: error: --data {eth.name} holds ETHUSDT, not BTCUSDT (the "
        "default, as no --symbol was given): add --symbol ETHUSDT\n"
    )


def test_a_plain_name_is_accepted_for_any_symbol(tmp_path):
    plain = tmp_path / "prices.csv"
    plain.write_text("\n".join(HEADER_AND_ROWS) + "\n")
    argv = ["--data", str(plain), "--symbol", "ETHUSDT", "--out", str(tmp_path / "o")]
    assert cli.main([*argv, "--no-html"]) == 0


def test_symbol_in_name():
    from backtest.data import symbol_in_name

    assert symbol_in_name(KLINES) == "BTCUSDT"
    assert symbol_in_name("store/ETHUSDT/klines-1m/2025-05-05.parquet") == "ETHUSDT"
    assert symbol_in_name("prices.csv") is None
    assert symbol_in_name("usdt.csv") is None


@pytest.mark.parametrize(
    ("flag", "says"),
    [
        ("--fees=2,3", "fees are fractions (2 is 200 %"),
        ("--fees=0.1", "fees are fractions (0.1 is 10 %"),
        ("--fees=-0.02,0.0005", "a maker rebate is > -0.01"),
        ("--fees=0.0002,-0.0005", "a taker fee is >= 0"),
        ("--balance=0", "bad --balance '0': expected a number > 0"),
        ("--balance=-5", "bad --balance '-5': expected a number > 0"),
        ("--notional=0", "bad --notional '0': expected a number > 0"),
        ("--notional=1e30", "bad --notional '1e30': expected a number > 0 and <= 1,000,000,0"),
        ("--balance=1e30", "bad --balance '1e30': expected a number > 0 and <= 1,000,000,0"),
        ("--slippage-bps=1e6", "bad --slippage-bps '1e6': expected a number >= 0 and <= 10000"),
    ],
)
def test_implausible_values_are_refused(tmp_path, capsys, flag, says):
    err = refused(tmp_path, capsys, "--data", str(KLINES), flag)
    assert says in err


@pytest.mark.parametrize("fees", [["--fees=-0.0001,0.0005"], ["--fees", "-0.0001,0.0005"]])
def test_a_maker_rebate_is_accepted_with_or_without_the_equals_sign(tmp_path, fees):
    import json

    out = tmp_path / "o"
    argv = ["--data", str(KLINES), "--end", "2025-05-05T03:00", *fees]
    assert cli.main([*argv, "--no-html", "--out", str(out)]) == 0
    settings = json.loads((out / "summary.json").read_text())["settings"]
    assert settings["maker_fee"] == "-0.0001"


def test_end_before_start_is_refused(tmp_path, capsys):
    argv = ["--data", str(KLINES), "--start", "2025-05-05T02:00", "--end", "2025-05-05T01:00"]
    err = refused(tmp_path, capsys, *argv)
    assert "--end must be after --start" in err


# --- what the data holds (found by a review of the backtester) ---------------------------------

TRADES_2023 = (
    ROOT / "exchange_sim/data/trades/BTCUSDT-um-trades-2023-04-04T2358_2023-04-05T0007.csv.gz"
)


def test_a_5m_kline_file_is_refused_not_replayed_as_1m_bars(tmp_path, capsys):
    rows = [r.split(",") for r in HEADER_AND_ROWS[:40]]
    for i, row in enumerate(rows[1:]):  # every 5th minute: 5m bars
        row[0] = str(1746403200000 + i * 300_000)
    path = tmp_path / "BTCUSDT-5m.csv"
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    err = refused(tmp_path, capsys, "--data", str(path))
    assert "line 3, not 1m bars: this bar opens 5 min after the one before" in err


def test_a_repeated_bar_is_dropped_and_another_bar_at_the_same_time_refused(tmp_path, capsys):
    rows = HEADER_AND_ROWS[:100]
    clean, repeated = tmp_path / "clean.csv", tmp_path / "repeated.csv"
    clean.write_text("\n".join(rows) + "\n")
    repeated.write_text("\n".join([*rows[:51], rows[50], *rows[51:]]) + "\n")  # line 52 = 51
    assert cli.main(["--data", str(clean), "--out", str(tmp_path / "a"), "--no-html"]) == 0
    assert cli.main(["--data", str(repeated), "--out", str(tmp_path / "b"), "--no-html"]) == 0
    a, b = ((tmp_path / d / "summary.json").read_text() for d in ("a", "b"))
    metrics = [json.loads(x)["metrics"] for x in (a, b)]
    assert metrics[0] == metrics[1]  # as if the file held each bar once
    cells = rows[50].split(",")
    cells[5] = "123.456"  # the same minute with another volume
    other = [*rows[:51], ",".join(cells), *rows[51:]]
    conflicting = tmp_path / "conflict.csv"
    conflicting.write_text("\n".join(other) + "\n")
    capsys.readouterr()
    err = refused(tmp_path, capsys, "--data", str(conflicting))
    assert f"line 52, open time {rows[50].split(',')[0]} repeats with another bar" in err


def test_insurance_fund_prints_are_not_replayed_as_market_trades(tmp_path):
    """The 2023-04-04 capture holds an INSURANCE_FUND print at 28722.50 while the book trades
    near 28147: the run equals one on the file without it (it tripped a stop 2 % away)."""
    with gzip.open(TRADES_2023, "rt") as fh:
        lines = fh.read().splitlines()
    kinds = {line.split(",")[6] for line in lines[1:]}
    assert "INSURANCE_FUND" in kinds
    only_market = tmp_path / "BTCUSDT-market-only.csv"
    only_market.write_text(
        "\n".join([lines[0], *(x for x in lines[1:] if x.split(",")[6] == "MARKET")]) + "\n"
    )
    for name, data in (("all", TRADES_2023), ("market", only_market)):
        argv = ["--data", str(data), "--fast", "1", "--slow", "2", "--no-html"]
        assert cli.main([*argv, "--out", str(tmp_path / name)]) == 0
    trades = [(tmp_path / d / "trades.csv").read_text() for d in ("all", "market")]
    assert trades[0] == trades[1]
    assert "28722.5" not in trades[0]


def test_the_last_minute_of_trades_data_is_in_the_equity_and_the_summary(tmp_path):
    """Trades data: the final equity is the wallet after every fill plus the open position
    valued at the last trade, computed here from trades.csv and the data file alone."""
    data = ROOT / "exchange_sim/data/trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"
    out = tmp_path / "o"
    argv = ["--data", str(data), "--fast", "1", "--slow", "2", "--no-html", "--out", str(out)]
    assert cli.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())["metrics"]
    with gzip.open(data, "rt") as fh:
        last_price = D(fh.read().splitlines()[-1].split(",")[1])
    wallet, qty, entry = D(summary["starting_equity"]), D(0), D(0)
    for f in csv.DictReader((out / "trades.csv").open()):
        signed = D(f["qty"]) if f["side"] == "BUY" else -D(f["qty"])
        wallet += D(f["realized_pnl"]) - D(f["commission"])
        if qty == 0 or (qty > 0) == (signed > 0):
            entry = (abs(qty) * entry + abs(signed) * D(f["price"])) / abs(qty + signed)
        elif abs(signed) > abs(qty):
            entry = D(f["price"])
        qty += signed
    assert qty != 0  # the capture ends with a position open (the case that was dropped)
    expected = wallet + qty * (last_price - entry)
    assert abs(D(str(summary["final_equity"])) - expected) < D("0.000001")
    last_row = (out / "equity.csv").read_text().splitlines()[-1].split(",")
    assert D(last_row[3]) == qty


def test_a_run_into_a_used_out_leaves_none_of_the_earlier_runs_outputs(tmp_path, capsys):
    out = tmp_path / "o"
    week = ["--data", str(KLINES), "--end", "2025-05-05T12:00", "--out", str(out)]
    grid = tmp_path / "grid.toml"
    grid.write_text('metric = "total_return"\n[grid]\nfast = [5, 10]\nslow = [30, 50]\n')
    assert cli.main([*week, "--sweep", str(grid), "--monte-carlo", "2"]) == 0
    assert {"report.html", "sweep.csv", "sweep_heatmap.png", "monte_carlo.png"} <= {
        p.name for p in out.iterdir()
    }

    assert cli.main([*week, "--no-html"]) == 0

    left = {p.name for p in out.iterdir()}
    assert not left & {"report.html", "sweep.csv", "sweep_heatmap.png", "monte_carlo.png"}
    assert "sweep" not in json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("name", ["trades.csv", "sweep.csv", "summary.json"])
def test_an_out_holding_a_users_own_file_of_a_reports_name_is_refused_and_kept(
    tmp_path, capsys, name
):
    out = tmp_path / "mine"
    out.mkdir()
    own = out / name
    own.write_text("my own notes\n")

    code = cli.main(["--data", str(KLINES), "--end", "2025-05-05T12:00", "--out", str(out)])

    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"holds {name} but no backtest's summary.json" in err
    assert own.read_text() == "my own notes\n"
    assert [p.name for p in out.iterdir()] == [name]


def test_a_file_with_a_byte_order_mark_loads_as_the_plain_one(tmp_path):
    from backtest.data import load_klines

    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(HEADER_AND_ROWS) + "\n")
    bom = tmp_path / "excel.csv"  # a spreadsheet's "CSV UTF-8" export
    bom.write_text("\n".join(HEADER_AND_ROWS) + "\n", encoding="utf-8-sig")

    assert load_klines(bom) == load_klines(plain)


def test_a_header_without_volume_names_the_missing_column(tmp_path, capsys):
    path = tmp_path / "k.csv"
    path.write_text("\n".join(",".join(r.split(",")[:5]) for r in HEADER_AND_ROWS) + "\n")

    err = refused(tmp_path, capsys, "--data", str(path))

    assert "(missing volume)" in err


def test_a_json_lines_capture_given_as_data_is_refused_on_a_short_line(tmp_path, capsys):
    frame = json.dumps({"stream": "btcusdt@depth", "data": {"b": [["61800.2", "2.9"]] * 500}})
    path = tmp_path / "capture.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(f"1721347020984480942 {frame}\n" * 3)

    err = refused(tmp_path, capsys, "--data", str(path))

    assert len(err) < 400 and "unknown columns" in err


@pytest.mark.parametrize(
    ("flag", "says"),
    [
        ("--latency=100000000000000000000", "latency must be 0 to 86400000 ms (a day)"),
        ("--latency-ms=100000000000000000000", "--latency-ms must be 0 to 86400000 (a day)"),
        ("--latency=lognormal:median=20,sigma=100", "0 <= sigma <= 3"),
        ("--latency=lognormal:median=1e300,sigma=0", "0 < median <= 86400000 ms"),
        ("--ack-latency=empirical:1,100000000000000000000", "ms values from 0 to 86400000"),
        ("--mc-latency-ms=100000000000000000000", "--mc-latency-ms must be 0 to 86400000"),
    ],
)
def test_latencies_that_would_overflow_the_clock_are_refused(tmp_path, capsys, flag, says):
    err = refused(tmp_path, capsys, "--data", str(KLINES), "--monte-carlo", "2", flag)
    assert says in err


def test_a_hole_in_the_klines_is_reported_on_the_console_and_in_the_summary(tmp_path, capsys):
    path = tmp_path / "holed.csv"  # the week's first 119 bars without bars 50..79 (30 minutes)
    path.write_text("\n".join(HEADER_AND_ROWS[:51] + HEADER_AND_ROWS[81:]) + "\n")
    first_missing = int(HEADER_AND_ROWS[51].split(",")[0])

    assert cli.main(["--data", str(path), "--out", str(tmp_path / "o")]) == 0

    printed = capsys.readouterr().out
    assert "data: 1 gap in the 1m bars, 30 bars missing (the longest 30 from 2025-05-05 " in printed
    page = (tmp_path / "o" / "report.html").read_text()
    assert "The data has 1 gap in its 1m bars, 30 bars missing (the longest 30 from" in page
    gaps = json.loads((tmp_path / "o" / "summary.json").read_text())["data_gaps"]
    assert gaps == {
        "gaps": 1,
        "missing_bars": 30,
        "longest": {"from_ms": first_missing, "bars": 30},
    }


def test_klines_without_a_hole_report_none(tmp_path, capsys):
    path = tmp_path / "whole.csv"
    path.write_text("\n".join(HEADER_AND_ROWS) + "\n")

    assert cli.main(["--data", str(path), "--out", str(tmp_path / "o"), "--no-html"]) == 0

    assert "gap" not in capsys.readouterr().out
    assert "data_gaps" not in json.loads((tmp_path / "o" / "summary.json").read_text())


@pytest.mark.parametrize("flag", ["--out", "--data", "--config", "--journal", "--model"])
def test_an_empty_path_is_a_usage_error_naming_the_flag(tmp_path, capsys, monkeypatch, flag):
    """`--out "$OUT"` with OUT unset: "" named the working directory, so the run removed a
    summary.json, trades.csv, orders.csv... found there and wrote its own in their place."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "summary.json").write_text("{}")  # someone else's
    argv = {"--data": "k.csv", "--out": "o", "--config": "c.toml", "--journal": "j",
            "--model": "m.json", flag: ""}  # fmt: skip

    with pytest.raises(SystemExit) as exited:
        cli.main([*(a for pair in argv.items() for a in pair)])

    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"backtest_trading_strategy.py: error: argument {flag}: an empty path (a file or "
        "folder name was expected)"
    )
    assert (tmp_path / "summary.json").read_text() == "{}"


SMA_PARAMETERS = "fast, slow, order_notional_usdt, allow_short"
# What a sweep file's error says it can set besides the strategy's parameters.
SWEEP_SETS = (
    "a sweep sets only those and the backtest settings (symbol, strategy, starting_balance, "
    "maker_fee, taker_fee, latency_ms, slippage_bps, protect_positions, stale_order_ms, "
    "reentry_hold, max_strategy_call_ms, seed, entry_latency, ack_latency, funding, book_ticker, "
    "fill_mode, leverage, brackets, exchange_info, fast_path, trade_from_ms)"
)


def test_a_misspelt_param_is_named_with_the_strategys_parameters(tmp_path, capsys):
    # It was Python's "SmaCrossover.__init__() got an unexpected keyword argument 'fastt'".
    err = refused(tmp_path, capsys, "--data", str(KLINES), "--end", "2025-05-05T06:00",
                  "--param", "fastt=5")  # fmt: skip
    assert err == (
        "backtest_trading_strategy.py: error: strategy sma_crossover: no parameter "
        f'"fastt"; its parameters: {SMA_PARAMETERS}\n'
    )


def _sweep_refused(tmp_path: Path, capsys, text: str) -> tuple[Path, str]:
    """(the sweep file holding `text`, the one error line of a backtest given it)."""
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    err = refused(tmp_path, capsys, "--data", str(KLINES), "--end", "2025-05-05T06:00",
                  "--sweep", str(grid))  # fmt: skip
    return grid, err


def test_a_misspelt_key_of_a_sweep_grid_is_named_with_the_strategys_parameters(
    tmp_path, capsys, monkeypatch
):
    # Before the data is read and the main backtest runs: it was said only after that run.
    def no_run(*_args: object) -> None:
        raise AssertionError("the backtest ran before the sweep file was checked")

    monkeypatch.setattr(cli, "load", no_run)
    monkeypatch.setattr(cli, "run_backtest", no_run)
    grid, err = _sweep_refused(tmp_path, capsys, "[grid]\nfastt = [5, 10]\nslow = [30, 50]\n")
    assert err == (
        f"backtest_trading_strategy.py: error: bad sweep file {grid}: strategy sma_crossover: "
        f'no parameter "fastt"; its parameters: {SMA_PARAMETERS}; {SWEEP_SETS}; the risk '
        "limits come from --config\n"
    )


@pytest.mark.parametrize("table", ["grid", "fixed"])
def test_a_risk_limit_in_a_sweep_file_is_said_to_come_from_the_config(tmp_path, capsys, table):
    # The error listed only the strategy's parameters: neither what a sweep can set, nor where
    # stop_loss_pct is set.
    text = {
        "grid": "[grid]\nstop_loss_pct = [1, 2]\n",
        "fixed": "[fixed]\nstop_loss_pct = 1\n[grid]\nfast = [5]\n",
    }[table]
    grid, err = _sweep_refused(tmp_path, capsys, text)
    assert err == (
        f"backtest_trading_strategy.py: error: bad sweep file {grid}: strategy sma_crossover: "
        f'no parameter "stop_loss_pct"; its parameters: {SMA_PARAMETERS}; {SWEEP_SETS}; '
        "stop_loss_pct is one of the risk limits, which come from --config\n"
    )


def test_a_sweep_key_close_to_a_backtest_setting_says_which(tmp_path, capsys):
    # `latency` for `latency_ms` was said as an unknown strategy parameter only.
    grid, err = _sweep_refused(tmp_path, capsys, "[grid]\nlatency = [0, 100]\n")
    assert err == (
        f"backtest_trading_strategy.py: error: bad sweep file {grid}: strategy sma_crossover: "
        f'no parameter "latency"; its parameters: {SMA_PARAMETERS} (or the backtest setting '
        f"latency_ms?); {SWEEP_SETS}; the risk limits come from --config\n"
    )


def test_a_backtests_summary_given_as_the_model_is_said_to_be_no_model_file(tmp_path, capsys):
    # It said "unknown model format None, expected linear-softmax/1".
    summary = tmp_path / "summary.json"
    summary.write_text('{"metrics": {"fills": 3}}')
    err = refused(tmp_path, capsys, "--data", str(KLINES), "--end", "2025-05-05T06:00",
                  "--strategy", "logistic_regression", "--model", str(summary))  # fmt: skip
    assert err == (
        f'backtest_trading_strategy.py: error: {summary} is not a model file (no "format": '
        '"linear-softmax/1"; train one with python -m model.train)\n'
    )


def _no_run(monkeypatch) -> None:
    """Fail the test if the data is read or a backtest runs: a refusal comes before both."""

    def no_run(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the data was read or the backtest ran before the refusal")

    monkeypatch.setattr(cli, "load", no_run)
    monkeypatch.setattr(cli, "run_backtest", no_run)


@pytest.mark.parametrize(
    ("flags", "fixed", "says"),
    [
        (["--fast", "12"], "fast = 7", "--fast 12 and the sweep file's [fixed] fast = 7 both "
         "set fast"),
        # The walkthrough's command: the first [fixed] key a flag also sets is named.
        (["--notional", "500", "--fast", "12"],
         "order_notional_usdt = 300\nslippage_bps = 3\nfast = 7",
         "--notional 500 and the sweep file's [fixed] order_notional_usdt = 300 both set "
         "order_notional_usdt"),
        # Given at its default value is still given: the user typed it.
        (["--slippage-bps", "0"], "slippage_bps = 3", "--slippage-bps 0 and the sweep file's "
         "[fixed] slippage_bps = 3 both set slippage_bps"),
        (["--latency-ms", "50"], "latency_ms = 20", "--latency-ms 50 and the sweep file's "
         "[fixed] latency_ms = 20 both set latency_ms"),
        (["--param", "fast=12"], "fast = 7", "--param fast=12 and the sweep file's [fixed] "
         "fast = 7 both set fast"),
        (["--fees", "0.0002,0.0004"], "taker_fee = 0.0005", "--fees 0.0002,0.0004 and the "
         "sweep file's [fixed] taker_fee = 0.0005 both set taker_fee"),
        (["--no-stops"], "protect_positions = true", "--no-stops and the sweep file's [fixed] "
         "protect_positions = true both set protect_positions"),
        (["--fill-mode", "touch"], 'fill_mode = "through"', "--fill-mode touch and the sweep "
         'file\'s [fixed] fill_mode = "through" both set fill_mode'),
        (["--balance", "5000"], "starting_balance = 2000", "--balance 5000 and the sweep "
         "file's [fixed] starting_balance = 2000 both set starting_balance"),
    ],
)  # fmt: skip
def test_a_flag_the_sweep_files_fixed_also_sets_is_refused_naming_both(
    tmp_path, capsys, monkeypatch, flags, fixed, says
):
    # The file's value replaced the flag's without a word (the run traded fast 7, not 12).
    _no_run(monkeypatch)
    grid = tmp_path / "grid.toml"
    grid.write_text(f"[fixed]\n{fixed}\n[grid]\nslow = [30, 50]\n")
    err = refused(tmp_path, capsys, "--data", str(KLINES), "--end", "2025-05-05T06:00",
                  "--sweep", str(grid), *flags)  # fmt: skip
    assert err == f"backtest_trading_strategy.py: error: {says}: keep one\n"


def test_flags_left_at_their_defaults_do_not_meet_the_sweep_files_fixed(tmp_path, capsys):
    """Not given, a flag sets nothing the file could contradict: the file's values run."""
    grid = tmp_path / "grid.toml"
    grid.write_text(
        "metric = 'total_return'\n"
        "[fixed]\nfast = 7\nslippage_bps = 3\nlatency_ms = 20\n[grid]\nslow = [30]\n"
    )
    out = tmp_path / "o"
    argv = ["--data", str(KLINES), "--end", "2025-05-05T06:00", "--no-html", "--no-progress"]

    assert cli.main([*argv, "--sweep", str(grid), "--slow", "30", "--out", str(out)]) == 0
    settings = json.loads((out / "summary.json").read_text())["settings"]
    assert settings["strategy_params"]["fast"] == 7 and settings["slippage_bps"] == "3"
    assert settings["latency_ms"] == 20


def test_every_flag_is_listed_with_the_sweep_settings_it_sets():
    """A new flag that sets a setting a sweep file can set must say which (FLAG_SETTINGS), or
    it would be silently replaced by the file's [fixed] again; every name listed is a setting
    a sweep file can set: a backtest setting or a built-in strategy's parameter."""
    from backtest import robustness as rb
    from backtest.cli_settings import FLAG_SETTINGS, FLAGS_OF_NO_SETTING
    from backtest.runner import BacktestConfig
    from trading_engine.main_trading_strategy import STRATEGIES

    flags = {a.dest for a in cli.parser()._actions if a.option_strings} - {"help"}
    assert not set(FLAG_SETTINGS) & FLAGS_OF_NO_SETTING
    assert set(FLAG_SETTINGS) | FLAGS_OF_NO_SETTING | {"param"} == flags
    sweepable = set(BacktestConfig.__dataclass_fields__) - rb._NOT_SWEEPABLE
    params = {
        name
        for factory in STRATEGIES.values()
        for name in inspect.signature(factory.strategy_class()).parameters  # type: ignore[attr-defined]
    }
    for names in FLAG_SETTINGS.values():
        assert set(names) <= sweepable | params, names


def _order_cap_config(tmp: Path) -> Path:
    """A daemon config trading sma_crossover under the default order cap, 500 USDT (the
    daemon's, config.example.toml's)."""
    cfg = tmp / "config.toml"
    cfg.write_text('[strategy]\nname = "sma_crossover"\n[risk]\nmax_order_notional_usdt = 500\n')
    return cfg


def test_a_fixed_notional_above_the_configs_order_cap_is_refused_as_the_flag_is(
    tmp_path, capsys, monkeypatch
):
    # --notional 2000 was refused; [fixed] order_notional_usdt = 2000 ran a whole sweep whose
    # every entry the RiskManager denied: 0 fills, ranked as results.
    _no_run(monkeypatch)
    cfg = _order_cap_config(tmp_path)
    grid = tmp_path / "grid.toml"
    grid.write_text("[fixed]\norder_notional_usdt = 2000\n[grid]\nslow = [30, 50]\n")
    err = refused(tmp_path, capsys, "--data", str(KLINES), "--end", "2025-05-05T06:00",
                  "--config", str(cfg), "--sweep", str(grid))  # fmt: skip
    assert err == (
        "backtest_trading_strategy.py: error: the sweep file's [fixed] order_notional_usdt = "
        f"2000 is above max_order_notional_usdt 500 of --config {cfg}: every entry would be "
        "denied (set it to 500 or less)\n"
    )


def test_a_grid_notional_above_the_configs_order_cap_is_a_skipped_point(tmp_path, capsys):
    """The point over the cap is not run (its every entry would be denied) but listed with
    why, as a point the strategy refuses; the one under it runs."""
    cfg = _order_cap_config(tmp_path)
    grid = tmp_path / "grid.toml"
    grid.write_text("metric = 'total_return'\n[grid]\norder_notional_usdt = [400, 2000]\n")
    out = tmp_path / "o"
    argv = ["--data", str(KLINES), "--end", "2025-05-05T06:00", "--no-html", "--no-progress"]

    assert cli.main([*argv, "--config", str(cfg), "--sweep", str(grid), "--out", str(out)]) == 0
    sweep = json.loads((out / "summary.json").read_text())["sweep"]
    why = (
        "order_notional_usdt 2000 is above max_order_notional_usdt 500 of the risk limits: "
        "every entry would be denied"
    )
    assert sweep["skipped"] == [{"settings": {"order_notional_usdt": 2000}, "reason": why}]
    assert sweep["points"] == 1 and sweep["runs"] == 1
    with (out / "sweep.csv").open() as fh:
        assert [r["order_notional_usdt"] for r in csv.DictReader(fh)] == ["400"]
    assert (
        "sweep: 1 of 2 grid points skipped, the strategy or the risk limits refuse it "
        f"(first: order_notional_usdt=2000: {why})" in capsys.readouterr().out
    )


def test_a_grid_whose_every_point_is_refused_is_refused_before_the_data_is_read(
    tmp_path, capsys, monkeypatch
):
    # It was said after the main backtest had run, as "accepted by the strategy" (the risk
    # limits refused these points, not the strategy).
    _no_run(monkeypatch)
    cfg = _order_cap_config(tmp_path)
    grid = tmp_path / "grid.toml"
    grid.write_text("[grid]\norder_notional_usdt = [2000, 3000]\n")
    err = refused(tmp_path, capsys, "--data", str(KLINES), "--end", "2025-05-05T06:00",
                  "--config", str(cfg), "--sweep", str(grid))  # fmt: skip
    assert err == (
        f"backtest_trading_strategy.py: error: no grid point of {grid} can run, each is refused "
        "(first: order_notional_usdt=2000: order_notional_usdt 2000 is above "
        "max_order_notional_usdt 500 of the risk limits: every entry would be denied)\n"
    )


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--fast", "5", "--param", "fast=7"], "--fast 5 and --param fast=7 both set fast"),
        (["--param", "slow=40", "--slow", "30"], "--slow 30 and --param slow=40 both set slow"),
        (["--notional", "500", "--param", "order_notional_usdt=300"],
         "--notional 500 and --param order_notional_usdt=300 both set order_notional_usdt"),
        (["--param", "fast=7", "--param", "fast=8"],
         "--param fast=7 and --param fast=8 both set fast"),
    ],
)  # fmt: skip
def test_two_flags_setting_one_strategy_parameter_are_refused_naming_both(
    tmp_path, capsys, monkeypatch, flags, says
):
    # The --param replaced --fast without a word: `--fast 5 --param fast=7` traded fast 7, and
    # of two --param fast= the last one.
    _no_run(monkeypatch)
    err = refused(tmp_path, capsys, "--data", str(KLINES), *flags)
    assert err == f"backtest_trading_strategy.py: error: {says}: keep one\n"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        # The walkthrough's file: both points ran on the distribution's 5-10 ms, alike to the
        # last digit, and the sweep named latency_ms=0 the best.
        ("[grid]\nlatency_ms = [0, 30000]\n", 'latency_ms = [0, 30000] would go unused: the '
         'latency distribution entry_latency = "empirical:5,10" (--latency) replaces it in every '
         "run: keep one"),
        ("[fixed]\nlatency_ms = 250\n[grid]\nslow = [30, 50]\n", 'latency_ms = 250 would go '
         'unused: the latency distribution entry_latency = "empirical:5,10" (--latency) '
         "replaces it in every run: keep one"),
    ],
)  # fmt: skip
def test_a_sweep_files_latency_ms_beside_a_latency_distribution_is_refused(
    tmp_path, capsys, monkeypatch, text, says
):
    _no_run(monkeypatch)
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    err = refused(tmp_path, capsys, "--data", str(KLINES), "--end", "2025-05-05T06:00",
                  "--sweep", str(grid), "--latency", "empirical:5,10")  # fmt: skip
    assert err == f"backtest_trading_strategy.py: error: bad sweep file {grid}: {says}\n"


def test_a_sweep_files_latency_ms_beside_its_own_distribution_is_refused(
    tmp_path, capsys, monkeypatch
):
    _no_run(monkeypatch)
    text = (
        '[fixed]\nentry_latency = "lognormal:median=20,sigma=0.5"\n[grid]\nlatency_ms = [0, 50]\n'
    )
    grid, err = _sweep_refused(tmp_path, capsys, text)
    assert err == (
        f"backtest_trading_strategy.py: error: bad sweep file {grid}: latency_ms = [0, 50] would "
        'go unused: the latency distribution entry_latency = "lognormal:median=20,sigma=0.5" '
        "(the sweep file's) replaces it in every run: keep one\n"
    )


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        # summary.json and report.html said latency_ms 50000; the run drew 5 or 10 ms.
        (["--latency-ms", "50000"], "--latency-ms 50000 and --latency empirical:5,10 both set "
         "the order-entry latency (a distribution replaces --latency-ms): keep one"),
        # The Monte Carlo drew its latencies from the distribution, 5 or 10 ms, not 0..50000.
        (["--monte-carlo", "2", "--mc-latency-ms", "50000"], "--mc-latency-ms 50000 is for a "
         "fixed latency: with --latency empirical:5,10 each Monte Carlo run draws its latencies "
         "from the distribution"),
    ],
)  # fmt: skip
def test_a_fixed_latency_flag_beside_a_latency_distribution_is_refused(
    tmp_path, capsys, monkeypatch, flags, says
):
    _no_run(monkeypatch)
    err = refused(tmp_path, capsys, "--data", str(KLINES), "--end", "2025-05-05T06:00",
                  "--latency", "empirical:5,10", *flags)  # fmt: skip
    assert err == f"backtest_trading_strategy.py: error: {says}\n"


def test_a_sweep_files_distribution_beside_latency_ms_flag_is_refused(
    tmp_path, capsys, monkeypatch
):
    _no_run(monkeypatch)
    text = '[fixed]\nentry_latency = "empirical:5,10"\n[grid]\nslow = [30, 50]\n'
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    err = refused(tmp_path, capsys, "--data", str(KLINES), "--end", "2025-05-05T06:00",
                  "--sweep", str(grid), "--latency-ms", "50")  # fmt: skip
    assert err == (
        "backtest_trading_strategy.py: error: --latency-ms 50 and the sweep file's [fixed] "
        'entry_latency = "empirical:5,10" both set the order-entry latency (a distribution '
        "replaces --latency-ms): keep one\n"
    )


def test_a_latency_distribution_alone_and_a_fixed_latency_alone_still_run(tmp_path):
    argv = ["--data", str(KLINES), "--end", "2025-05-05T06:00", "--no-html", "--no-progress"]
    assert cli.main([*argv, "--latency", "empirical:5,10", "--out", str(tmp_path / "a")]) == 0
    assert cli.main([*argv, "--latency-ms", "50", "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "summary.json").read_text())["settings"]
    b = json.loads((tmp_path / "b" / "summary.json").read_text())["settings"]
    assert (a["latency_ms"], a["entry_latency"]) == (0, "empirical:5,10")
    assert (b["latency_ms"], b["entry_latency"]) == (50, "")


def test_a_report_file_the_system_will_not_write_is_one_line_and_leaves_no_part(tmp_path, capsys):
    # A folder where report.html goes (the system refusing a file, as /proc refuses root's,
    # or a full disk): a traceback after the run, and the part written before it was left.
    out = tmp_path / "o"
    argv = ["--data", str(KLINES), "--end", "2025-05-05T06:00", "--no-progress", "--out", str(out)]
    assert cli.main(argv) == 0
    (out / "report.html").unlink()
    (out / "report.html").mkdir()
    capsys.readouterr()

    assert cli.main(argv) == 2

    err = capsys.readouterr().err
    assert err == (
        f"backtest_trading_strategy.py: error: --out {out}: cannot write report.html (Is a "
        "directory); none of this run's files were left there\n"
    )
    assert [p.name for p in out.iterdir()] == ["report.html"]


def test_no_warm_without_a_start_is_refused(tmp_path, capsys, monkeypatch):
    # It changed nothing without a word: the run starts at the data's first bar anyway.
    _no_run(monkeypatch)
    err = refused(tmp_path, capsys, "--data", str(KLINES), "--no-warm")
    assert err == (
        "backtest_trading_strategy.py: error: --no-warm is for --start: without it the run "
        "starts at the data's first bar, with nothing before it to warm the strategy\n"
    )


class _Reached(Exception):
    """The run went past its checks to read the data."""


@pytest.mark.parametrize(
    "flags",
    [
        ["--seed", "3"],
        ["--seed", "0"],  # typed, even the default: it said the run depends on it
        ["--seed", "3", "--latency-ms", "50", "--slippage-bps", "2"],
        ["--seed", "3", "--ack-latency", "20", "--latency", "40"],  # fixed ones draw nothing
    ],
)
def test_a_seed_for_a_run_that_draws_nothing_is_refused(tmp_path, capsys, monkeypatch, flags):
    # Only the Monte Carlo and latency distributions draw: the seed changed nothing, unsaid.
    _no_run(monkeypatch)
    err = refused(tmp_path, capsys, "--data", str(KLINES), *flags)
    assert err == (
        "backtest_trading_strategy.py: error: --seed is for random draws (--monte-carlo N, or "
        "a --latency or --ack-latency distribution: lognormal:... or empirical:...): this run "
        "draws nothing, so every seed gives the same run\n"
    )


@pytest.mark.parametrize(
    "flags",
    [
        ["--latency", "lognormal:median=20,sigma=0.5"],
        ["--ack-latency", "empirical:5,50"],
        ["--monte-carlo", "2"],
    ],
)
def test_a_seed_for_a_run_that_draws_is_taken(tmp_path, monkeypatch, flags):
    def reached(*_args: object, **_kwargs: object) -> None:
        raise _Reached

    monkeypatch.setattr(cli, "load", reached)
    with pytest.raises(_Reached):
        cli.main(["--data", str(KLINES), "--out", str(tmp_path / "o"), "--seed", "3", *flags])


def test_the_seed_changes_nothing_in_a_run_without_a_distribution():
    # Why the refusal above is right: fixed latency and slippage, two seeds, the same run.
    from backtest.data import load
    from backtest.runner import BacktestConfig, run_backtest

    data = load(KLINES, end_ms=1_746_403_200_000 + 6 * 3_600_000)  # the first 6 hours
    runs = [
        run_backtest(data, BacktestConfig(seed=s, latency_ms=50, slippage_bps=D(2))) for s in (1, 2)
    ]
    a, b = runs
    assert a.summary.fills > 0
    assert (list(a.equity), a.journal.fills) == (list(b.equity), b.journal.fills)


def _sweep_with_seed(tmp_path: Path, text: str) -> list[str]:
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    return ["--data", str(KLINES), "--end", "2025-05-05T06:00", "--sweep", str(grid), "--seed", "3"]


@pytest.mark.parametrize(
    "text",
    [
        "[grid]\nfast = [5, 10]\n",
        '[fixed]\nentry_latency = "40"\n[grid]\nfast = [5, 10]\n',  # fixed ones draw nothing
        '[grid]\nentry_latency = ["20", "30"]\nack_latency = ["0", "10"]\n',
    ],
    ids=["strategy_grid", "fixed_latency", "grid_of_fixed_latencies"],
)
def test_a_seed_for_a_sweep_whose_runs_draw_nothing_is_refused(tmp_path, capsys, monkeypatch, text):
    # 4b1d5db refused --seed in a plain run that draws nothing and let any sweep through: a
    # grid of strategy parameters or of fixed latencies gave the same runs under every seed.
    _no_run(monkeypatch)
    err = refused(tmp_path, capsys, *_sweep_with_seed(tmp_path, text))
    assert err == (
        "backtest_trading_strategy.py: error: --seed is for random draws (--monte-carlo N, or a "
        "latency distribution, lognormal:... or empirical:..., by --latency or --ack-latency "
        "or the sweep file's entry_latency or ack_latency): neither this run nor any run of the "
        "sweep draws, so every seed gives the same runs\n"
    )


@pytest.mark.parametrize(
    ("text", "flags"),
    [
        ('[grid]\nentry_latency = ["", "empirical:5,10"]\nlatency_ms = [0, 50]\n', []),
        ('[fixed]\nack_latency = "lognormal:median=20,sigma=0.5"\n[grid]\nfast = [5, 10]\n', []),
        ("[grid]\nfast = [5, 10]\n", ["--latency", "empirical:5,10"]),
        ("[grid]\nfast = [5, 10]\n", ["--monte-carlo", "2"]),
    ],
    ids=["grid_distribution", "fixed_distribution", "flag_distribution", "monte_carlo"],
)
def test_a_seed_for_a_sweep_with_a_run_that_draws_is_taken(tmp_path, monkeypatch, text, flags):
    def reached(*_args: object, **_kwargs: object) -> None:
        raise _Reached

    monkeypatch.setattr(cli, "load", reached)
    argv = [*_sweep_with_seed(tmp_path, text), *flags, "--out", str(tmp_path / "o")]
    with pytest.raises(_Reached):
        cli.main(argv)
