"""The backtest's strategy warms from the klines before `trade_from_ms` (the CLI's --start), as
the daemon warms from REST klines at start-up: the first traded bar can already decide, and
nothing before it is traded or counted."""

import csv
import gzip
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

import backtest_trading_strategy as cli
from backtest.data import DataError, Klines, Trades, load, load_klines
from backtest.runner import (
    BacktestConfig,
    closed_bars,
    closed_trade_bars,
    run_backtest,
    split_history,
)

ROOT = Path(__file__).resolve().parents[2]
KLINES = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
MINUTE = 60_000
BASE = BacktestConfig(strategy_params={"fast": 10, "slow": 50})


@pytest.fixture(scope="module")
def week() -> Klines:
    return load_klines(KLINES)


def first_order_ms(result) -> int:
    return min(o.submitted_ms for o in result.journal.orders.values())


def test_closed_bars_are_the_last_ones_closed_before_the_start(week):
    start = week.open_time[100]
    bars = closed_bars(week, "BTCUSDT", 50, start)
    assert [b.open_time_ms for b in bars] == week.open_time[50:100]
    assert all(b.closed and b.interval == "1m" for b in bars)
    assert bars[-1].close_time_ms == start - 1 and bars[-1].close == Decimal(week.close[99])
    # A bar still open at the start is not handed over; fewer rows than asked: all of them.
    assert closed_bars(week, "BTCUSDT", 50, start + 1)[-1].open_time_ms == week.open_time[99]
    assert len(closed_bars(week, "BTCUSDT", 500, start)) == 100


def test_split_history_cuts_at_the_first_traded_row(week):
    history, rest = split_history(week, week.open_time[10])
    assert history is not None and history.open_time == week.open_time[:10]
    assert rest.open_time == week.open_time[10:] and rest.close == week.close[10:]
    assert split_history(week, week.open_time[0])[0] is None
    with pytest.raises(DataError, match="no rows to trade at or after 2025-05-12 00:00:00 UTC"):
        split_history(week, week.open_time[-1] + MINUTE)


def test_a_warmed_strategy_decides_on_the_first_traded_bar(week):
    day2 = week.open_time[1440]
    warm = run_backtest(week, replace(BASE, trade_from_ms=day2))
    cold = run_backtest(split_history(week, day2)[1], BASE)

    assert warm.warm_bars == 50 and cold.warm_bars == 0
    assert warm.times_ms[0] == cold.times_ms[0] == day2  # nothing before it is traded
    assert warm.units == cold.units == len(week) - 1440
    # Cold, the 50-bar window first fills at the 50th traded bar's close; warm, the first
    # traded bar's close already orders (the regime of the 50 bars up to it).
    assert first_order_ms(warm) == day2 + MINUTE - 1
    assert first_order_ms(cold) == day2 + 50 * MINUTE - 1
    assert json.loads(json.dumps(warm.summary_dict()))["data"]["warm_bars"] == 50


def test_the_command_line_warms_from_the_bars_before_start(tmp_path):
    argv = ["--data", str(KLINES), "--start", "2025-05-06", "--end", "2025-05-07", "--no-html"]
    assert cli.main([*argv, "--out", str(tmp_path / "w")]) == 0
    assert cli.main([*argv, "--out", str(tmp_path / "c"), "--no-warm"]) == 0
    warm = json.loads((tmp_path / "w/summary.json").read_text())
    cold = json.loads((tmp_path / "c/summary.json").read_text())
    assert warm["data"] == {"kind": "klines", "rows": 1440, "warm_bars": 50}
    assert cold["data"] == {"kind": "klines", "rows": 1440, "warm_bars": 0}
    assert warm["settings"]["trade_from_ms"] == 1_746_489_600_000  # 2025-05-06 00:00 UTC
    assert cold["settings"]["trade_from_ms"] is None


TRADES = ROOT / "exchange_sim/data/trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"
START_2358 = 1_723_161_480_000  # 2024-08-08 23:58 UTC, four minutes into the capture


def _capture_rows() -> list[dict[str, str]]:
    with gzip.open(TRADES, "rt") as fh:
        return list(csv.DictReader(fh))


def _minute(rows: list[dict[str, str]], open_ms: int) -> list[dict[str, str]]:
    return [r for r in rows if open_ms <= int(r["time"]) < open_ms + MINUTE]


def test_closed_trade_bars_are_the_minutes_of_the_trades_before_the_start():
    rows = _capture_rows()
    bars = closed_trade_bars(load(TRADES, symbol="BTCUSDT"), "BTCUSDT", 3, START_2358)

    assert [b.open_time_ms for b in bars] == [START_2358 - k * MINUTE for k in (3, 2, 1)]
    for bar in bars:  # each the OHLCV of its minute's trades, read here from the file
        prices = [Decimal(r["price"]) for r in _minute(rows, bar.open_time_ms)]
        qty = sum(Decimal(r["qty"]) for r in _minute(rows, bar.open_time_ms))
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
            prices[0],
            max(prices),
            min(prices),
            prices[-1],
            qty,
        )
        assert bar.closed and bar.close_time_ms == bar.open_time_ms + MINUTE - 1


def test_closed_trade_bars_hold_a_quiet_first_minute_as_the_run_builds_it():
    # A minute without a trade is a bar at the last close, as the run's bars from trades
    # are (and Binance's klines): the window's first minute was quiet, the trade before it
    # left unread, and its bar was missing: the strategy warmed with one bar fewer.
    t0 = START_2358
    trades = Trades(
        time=[t0 + 10_000, t0 + 2 * MINUTE + 5_000, t0 + 3 * MINUTE + 5_000],
        price=["100.0", "101.5", "102.0"],
        qty=["1", "2", "3"],
        buyer_is_maker=[False, True, False],
    )
    bars = closed_trade_bars(trades, "BTCUSDT", 3, t0 + 4 * MINUTE)

    assert [(b.open_time_ms, b.open, b.close, b.volume) for b in bars] == [
        (t0 + MINUTE, Decimal("100.0"), Decimal("100.0"), Decimal(0)),
        (t0 + 2 * MINUTE, Decimal("101.5"), Decimal("101.5"), Decimal(2)),
        (t0 + 3 * MINUTE, Decimal("102.0"), Decimal("102.0"), Decimal(3)),
    ]


def test_trades_data_warms_from_the_trades_before_the_start(tmp_path):
    # The trades before --start were left unread and the strategy started cold: no order in
    # the capture's last two minutes, and no line said that it had not been warmed.
    out = tmp_path / "o"
    argv = ["--data", str(TRADES), "--fast", "2", "--slow", "3", "--start", "2024-08-08T23:58"]
    assert cli.main([*argv, "--no-html", "--no-progress", "--out", str(out)]) == 0

    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["warm_bars"] == 3
    rows = _capture_rows()
    c55, c56, c57 = (float(_minute(rows, START_2358 - k * MINUTE)[-1]["price"]) for k in (3, 2, 1))
    sma2, sma3 = (c56 + c57) / 2, (c55 + c56 + c57) / 3  # 61664.65, 61696.533: short
    with (out / "orders.csv").open() as fh:
        first = next(csv.DictReader(fh))
    # At the first trade from --start on, on the regime of the three minutes before it.
    assert first["why_sent"] == f"sma_crossover: sma2={sma2:.8g} sma3={sma3:.8g}: short"
    assert int(first["submitted_ms"]) == min(
        int(r["time"]) for r in rows if int(r["time"]) >= START_2358
    )
