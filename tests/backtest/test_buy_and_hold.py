"""Buy-and-hold beside the strategy: by hand on a few rows, and in summary.json and report.html
of real runs on the bundled data, recomputed here from the data files themselves."""

import csv
import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

import backtest_trading_strategy as cli
from backtest.buy_and_hold import MeasuredOn, buy_and_hold, buy_and_hold_return
from backtest.data import Klines, Trades

ROOT = Path(__file__).resolve().parents[2]
KLINES = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
TRADES = ROOT / "exchange_sim/data/trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"
T0 = 1_746_403_200_000  # 2025-05-05 00:00 UTC


def csv_rows(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


def utc_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_the_return_is_the_last_price_over_the_first_less_one():
    assert buy_and_hold_return(D("100.0"), D("110.5")) == D("0.105")
    assert buy_and_hold_return(D("200"), D("190")) == D("-0.05")
    with pytest.raises(ValueError, match="positive first price"):
        buy_and_hold_return(D("0"), D("1"))


def test_klines_are_held_from_the_first_open_to_the_last_close():
    bars = Klines(
        open_time=[T0, T0 + 60_000],
        open=["100.0", "104.0"],
        high=["105.0", "111.0"],
        low=["99.0", "103.0"],
        close=["104.0", "110.5"],
        volume=["1", "1"],
    )
    held = buy_and_hold(bars, "BTCUSDT")
    assert held.measured_on is MeasuredOn.KLINES
    assert (held.from_ms, held.from_price) == (T0, D("100.0"))  # the first bar's open
    assert (held.to_ms, held.to_price) == (T0 + 120_000, D("110.5"))  # the last bar's close
    assert held.total_return == D("0.105")


def test_trades_are_held_from_the_first_trade_to_the_last():
    tape = Trades(
        time=[T0 + 5, T0 + 900, T0 + 2_000],
        price=["200.0", "201.5", "190.0"],
        qty=["1", "1", "1"],
        buyer_is_maker=[False, True, False],
    )
    held = buy_and_hold(tape, "BTCUSDT")
    assert held.measured_on is MeasuredOn.TRADES
    assert (held.from_ms, held.from_price, held.to_ms, held.to_price) == (
        T0 + 5,
        D("200.0"),
        T0 + 2_000,
        D("190.0"),
    )
    assert held.total_return == D("-0.05")


def test_the_chart_line_is_the_capital_marked_to_each_price():
    tape = Trades(
        time=[T0, T0 + 1_500, T0 + 2_500],
        price=["200", "210", "190"],
        qty=["1", "1", "1"],
        buyer_is_maker=[False, False, False],
    )
    held = buy_and_hold(tape, "BTCUSDT")
    # Marks each second (the run's price series) stop at 1 s: the last trade ends the line.
    times, equity = held.equity_line(1_000.0, [T0 + 1_000], [210.0])
    assert times == [T0, T0 + 1_000, T0 + 2_500]
    assert equity == pytest.approx([1_000.0, 1_050.0, 950.0])  # 1000 x 210/200, x 190/200
    assert "buy and hold" in held.label(1_000.0) and "-5.0000%" in held.label(1_000.0)


def test_summary_and_report_carry_the_buy_and_hold_of_the_rows_traded(tmp_path):
    out = tmp_path / "out"
    start, end = "2025-05-06", "2025-05-08"
    args = ["--data", str(KLINES), "--out", str(out), "--start", start, "--end", end]
    assert cli.main([*args, "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    # From the file: the bars in [start, end); the warm-up bars before start are not held.
    traded = [r for r in csv_rows(KLINES) if utc_ms(start) <= int(r["open_time"]) < utc_ms(end)]
    first, last = traded[0], traded[-1]
    expected = D(last["close"]) / D(first["open"]) - 1
    assert summary["data"]["warm_bars"] > 0 and len(traded) == summary["data"]["rows"]
    assert summary["metrics"]["buy_and_hold_return"] == float(expected)
    assert summary["buy_and_hold"] == {
        "symbol": "BTCUSDT",
        "return": float(expected),
        "measured_on": "the first bar's open to the last bar's close",
        "from_ms": utc_ms(start),
        "from_price": first["open"],
        "to_ms": int(last["open_time"]) + 60_000,
        "to_price": last["close"],
        "costs": "none: no fees, no funding, no slippage, leverage 1",
    }
    page = (out / "report.html").read_text()
    assert f"<th>buy_and_hold_return</th><td>{float(expected):+.3%}</td>" in page


def test_a_trades_run_holds_from_its_first_trade_to_its_last(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["--data", str(TRADES), "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    trades = [r for r in csv_rows(TRADES) if r["type"] == "MARKET"]
    expected = D(trades[-1]["price"]) / D(trades[0]["price"]) - 1
    held = summary["buy_and_hold"]
    assert (held["from_price"], held["to_price"]) == (trades[0]["price"], trades[-1]["price"])
    assert held["from_ms"] == int(trades[0]["time"]) and held["to_ms"] == int(trades[-1]["time"])
    assert summary["metrics"]["buy_and_hold_return"] == held["return"] == float(expected)
    assert f"(buy and hold {float(expected):+.4%})" in capsys.readouterr().out
