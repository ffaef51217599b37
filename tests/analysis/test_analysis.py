"""analysis/: each command runs on the bundled week, writes a valid PNG and exits 2 with one
line on bad input; the numbers behind each plot are recomputed here independently (trades.csv
summed with Decimal, signals PnL by hand, indicators with pandas, correlations with numpy)."""

import csv
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import correlation, pnl, visualize
from backtest_trading_strategy import main as backtest_main
from model import features

ROOT = Path(__file__).resolve().parents[2]
WEEK = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_px: int = 300) -> None:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC
    h, w = matplotlib.image.imread(path).shape[:2]
    assert h >= min_px and w >= min_px


@pytest.fixture(scope="module")
def backtest(tmp_path_factory):
    """SMA crossover 10/50 over one real day of the bundled week, fees on."""
    out = tmp_path_factory.mktemp("bt")
    argv = ["--data", str(WEEK), "--start", "2025-05-09", "--end", "2025-05-10",
            "--out", str(out), "--no-progress"]  # fmt: skip
    assert backtest_main(argv) == 0
    return out


def test_pnl_from_trades_equals_the_fills_summed_by_hand(backtest, tmp_path, capsys):
    out = tmp_path / "pnl.png"
    assert pnl.main(["--trades", str(backtest / "trades.csv"), "--out", str(out)]) == 0
    assert_png(out)
    assert "trades, net PnL" in capsys.readouterr().out
    rows = list(csv.DictReader((backtest / "trades.csv").open()))
    assert len(rows) > 10
    net = sum(Decimal(r["realized_pnl"]) - Decimal(r["commission"]) for r in rows)
    res = pnl.from_trades(pd.read_csv(backtest / "trades.csv"))
    assert res.total == pytest.approx(float(net), abs=1e-6)
    assert res.fees == pytest.approx(float(sum(Decimal(r["commission"]) for r in rows)), abs=1e-9)
    # Round trips by hand: a trade ends when the position comes back to flat or flips; it
    # carries its fills' PnL and fees, a flip's fee split by quantity with the next trade.
    trades, paid, made, pos = [], Decimal(0), Decimal(0), Decimal(0)
    for r in rows:
        qty = Decimal(r["qty"]) * (1 if r["side"] == "BUY" else -1)
        after = pos + qty
        fee, rp = Decimal(r["commission"]), Decimal(r["realized_pnl"])
        if pos != 0 and (after == 0 or after * pos < 0):
            closing = fee * abs(pos) / abs(qty)
            trades.append(made + rp - paid - closing)
            paid, made = fee - closing, Decimal(0)
        else:
            paid, made = paid + fee, made + rp
        pos = after
    assert pos == Decimal(rows[-1]["position_after"])
    assert res.trades == pytest.approx([float(t) for t in trades], abs=1e-9)
    summary = json.loads((backtest / "summary.json").read_text())["metrics"]
    assert summary["closed_trades"] == len(trades)
    assert summary["expectancy"] == pytest.approx(float(sum(trades)) / len(trades), abs=1e-9)


def test_pnl_from_a_daemon_journal_by_hand(tmp_path, capsys):
    from book_keeper.journal import SqliteJournal
    from tests.book_keeper.support import BUY, SELL, T0, fill, filled, submitted

    with SqliteJournal(tmp_path / "journal") as j:
        j.record(submitted("a", BUY, "0.010", None, t=T0))
        j.record(filled(fill("a", 1, BUY, "0.010", "60000", fee="0.24", order_id=1, t=T0 + 1)))
        j.record(submitted("b", SELL, "0.020", None, t=T0 + 60_000))
        flip = fill("b", 2, SELL, "0.020", "60100", fee="0.4808", rp="1", order_id=2, t=T0 + 60_001)
        j.record(filled(flip))
        j.record(submitted("c", BUY, "0.010", None, t=T0 + 120_000))
        bnb = fill(
            "c", 3, BUY, "0.010", "60050", fee="0.0001", rp="0.5", asset="BNB", t=T0 + 120_001
        )
        j.record(filled(bnb))
    out = tmp_path / "pnl.png"
    assert pnl.main(["--journal", str(tmp_path / "journal"), "--out", str(out)]) == 0
    assert_png(out)
    said = capsys.readouterr().out
    assert "3 rows, 2 trades, net PnL +0.7792 USDT (fees 0.7208; 1 commission(s) in another" in said
    df, other_asset = pnl.journal_trades(tmp_path / "journal")
    assert other_asset == 1
    assert df["position_after"].tolist() == [0.01, -0.01, 0.0]
    res = pnl.from_trades(df)
    # -0.24 at the entry; the flip realizes 1 and pays 0.4808; the BNB-paid close realizes 0.5.
    assert res.cumulative == pytest.approx([-0.24, 0.2792, 0.7792], abs=1e-12)
    # The flip closes the long with its entry's fee and half its own (0.010 of 0.020); the
    # short carries the other half, and the BNB-paid close costs it nothing here.
    assert res.trades == pytest.approx([1 - 0.24 - 0.2404, 0.5 - 0.2404], abs=1e-12)


def test_pnl_chart_names_its_journal_and_counts_one_trade_in_the_singular(tmp_path, monkeypatch):
    """The title read "PnL from --journal journal" (a flag, not what was drawn) and the legend
    "1 trades"."""
    from book_keeper.journal import SqliteJournal
    from tests.book_keeper.support import BUY, SELL, T0, fill, filled, submitted

    with SqliteJournal(tmp_path / "journal") as j:
        j.record(submitted("a", BUY, "0.010", None, t=T0))
        j.record(filled(fill("a", 1, BUY, "0.010", "60000", fee="0.24", order_id=1, t=T0 + 1)))
        j.record(submitted("b", SELL, "0.010", None, t=T0 + 60_000))
        close = fill("b", 2, SELL, "0.010", "60100", fee="0.2404", rp="1", order_id=2, t=T0 + 2)
        j.record(filled(close))
    drawn: list[tuple[str, str]] = []
    save = pnl.save

    def keep_titles(fig, out):
        top, bottom = fig.axes
        drawn.append((top.get_title(), bottom.get_legend().get_title().get_text()))
        return save(fig, out)

    monkeypatch.setattr(pnl, "save", keep_titles)
    journal = tmp_path / "journal"

    assert pnl.main(["--journal", str(journal), "--out", str(tmp_path / "p.png")]) == 0

    # 1 - 0.24 - 0.2404 = 0.5196 net
    assert drawn == [
        (f"PnL of the journal in {journal}: +0.52 USDT, fees 0.48", "1 trade, 100% winners")
    ]


def test_pnl_of_a_two_symbol_journal_charges_each_trade_its_own_symbols_fees(tmp_path):
    """BTCUSDT and ETHUSDT interleaved: the ETHUSDT entry's fee was charged to the BTCUSDT
    trade that closed next, and the ETHUSDT trade went without it."""
    from book_keeper.journal import SqliteJournal
    from tests.book_keeper.support import BUY, SELL, T0, fill, filled, submitted

    eth = "ETHUSDT"
    with SqliteJournal(tmp_path / "journal") as j:
        j.record(submitted("a", BUY, "0.010", None, t=T0))
        j.record(filled(fill("a", 1, BUY, "0.010", "60000", fee="0.30", order_id=1, t=T0 + 1)))
        j.record(submitted("b", BUY, "0.100", None, symbol=eth, t=T0 + 2))
        entry = fill("b", 1, BUY, "0.100", "3000", fee="0.15", order_id=2, symbol=eth, t=T0 + 3)
        j.record(filled(entry))
        j.record(submitted("c", SELL, "0.010", None, t=T0 + 4))
        # rp 0.010 * (60100 - 60000) = 1; fee 0.010 * 60100 * 0.0005 = 0.3005
        close = fill("c", 2, SELL, "0.010", "60100", fee="0.3005", rp="1", order_id=3, t=T0 + 5)
        j.record(filled(close))
        j.record(submitted("d", SELL, "0.100", None, symbol=eth, t=T0 + 6))
        # rp 0.100 * (3010 - 3000) = 1; fee 0.100 * 3010 * 0.0005 = 0.1505
        eth_close = fill(
            "d", 2, SELL, "0.100", "3010", fee="0.1505", rp="1", order_id=4, symbol=eth, t=T0 + 7
        )
        j.record(filled(eth_close))

    df, _ = pnl.journal_trades(tmp_path / "journal")
    res = pnl.from_trades(df)

    # BTCUSDT: 1 - 0.30 - 0.3005; ETHUSDT: 1 - 0.15 - 0.1505 (were 0.2495 and 0.8495)
    assert res.trades == pytest.approx([0.3995, 0.6995], abs=1e-12)
    assert res.total == pytest.approx(0.3995 + 0.6995, abs=1e-12)
    assert df["symbol"].tolist() == ["BTCUSDT", eth, "BTCUSDT", eth]


def test_pnl_from_a_missing_journal_is_one_line(tmp_path, capsys):
    assert pnl.main(["--journal", str(tmp_path / "none"), "--out", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert "--journal" in err and "no journal" in err and "Traceback" not in err


def test_pnl_from_signals_by_hand(tmp_path):
    sig = tmp_path / "signals.csv"
    sig.write_text(
        "time_ms,close,signal\n0,100,1\n60000,110,1\n120000,99,0\n180000,99,-1\n240000,108.9,-1\n"
    )
    res = pnl.from_signals(pd.read_csv(sig), notional=1000.0, fee=0.001)
    # Bar PnL: +100 (100 -> 110 long), -100 (110 -> 99 long), 0 (flat), -100 (99 -> 108.9
    # short), 0 (no next close); fees 1 at each change: t0 (enter), t2 (exit), t3 (enter).
    assert res.cumulative == pytest.approx([99.0, -1.0, -2.0, -103.0, -103.0])
    assert res.fees == pytest.approx(3.0)
    # Trades: long run -2 (+100 - 100 - entry 1 - exit 1); short run still open: -100 - 1.
    assert res.trades == pytest.approx([-2.0, -101.0])
    out = tmp_path / "sig.png"
    assert pnl.main(["--signals", str(sig), "--fee", "0.001", "--out", str(out)]) == 0
    assert_png(out)


def test_visualize_indicators_and_markers(backtest, tmp_path):
    out = tmp_path / "price.png"
    argv = ["--data", str(WEEK), "--start", "2025-05-09", "--end", "2025-05-10",
            "--trades", str(backtest / "trades.csv"), "--out", str(out)]  # fmt: skip
    assert visualize.main(argv) == 0
    assert_png(out)
    bars = pd.read_csv(WEEK)
    bars = bars[(bars.open_time >= 1746748800000) & (bars.open_time < 1746835200000)]
    chart = visualize.build(bars, sma_periods=[20, 60], ema_periods=[20], bb_period=20)
    close = bars["close"].astype(float).reset_index(drop=True)
    np.testing.assert_allclose(chart.lines["SMA 60"], close.rolling(60).mean(), atol=1e-8)
    ema = [np.nan] * 19 + [close[:20].mean()]
    for c in close[20:]:
        ema.append(ema[-1] + 2 / 21 * (c - ema[-1]))
    np.testing.assert_allclose(chart.lines["EMA 20"], ema, rtol=1e-12)
    sd = close.rolling(20).std(ddof=0)
    mid = close.rolling(20).mean()
    np.testing.assert_allclose(chart.lines["BB 20 upper"], mid + 2 * sd, rtol=1e-9)
    np.testing.assert_allclose(chart.lines["BB 20 lower"], mid - 2 * sd, rtol=1e-9)
    trades = pd.read_csv(backtest / "trades.csv")
    visualize.add_trades(chart, trades, "trades")
    assert chart.buys is not None and chart.sells is not None
    assert len(chart.buys[0]) == (trades.side == "BUY").sum() > 0
    assert len(chart.sells[0]) == (trades.side == "SELL").sum() > 0


def test_visualize_shrinks_many_markers_and_says_a_whole_week_hides_the_lines(
    monkeypatch, capsys, tmp_path
):
    """A week of 1m bars with a backtest's 291 fills: markers of 36 points^2 covered the
    price, and the indicators lay on it; the markers shrink with their number, and the
    console says how to get a readable window."""
    assert visualize.marker_size(0) == visualize.marker_size(40) == 36.0
    assert visualize.marker_size(80) == 18.0
    assert visualize.marker_size(291) == 8.0  # the floor: still seen
    monkeypatch.setattr(visualize, "plot", lambda chart, out, title="": None)
    assert visualize.main(["--data", str(WEEK), "--out", str(tmp_path / "w.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        "  (10080 bars in one chart: the indicator lines lie on the price; --start and --end "
        "draw a window in which they can be told apart)"
    )
    day = ["--data", str(WEEK), "--start", "2025-05-09", "--end", "2025-05-10"]
    assert visualize.main([*day, "--out", str(tmp_path / "d.png")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1  # 1,440 bars: no note


def _drawn_chart(monkeypatch, argv: list[str]) -> visualize.Chart:
    """The chart `visualize.main(argv)` draws."""
    drawn: list[visualize.Chart] = []
    monkeypatch.setattr(visualize, "plot", lambda chart, out, title="": drawn.append(chart))
    assert visualize.main(argv) == 0
    return drawn[0]


def test_visualize_warms_the_indicators_from_the_bars_before_start(tmp_path, monkeypatch):
    """The indicators were computed from the window alone: from --start, SMA 60 was missing
    for an hour and EMA 20 began from a fresh seed. The bars before it warm them; only the
    window is drawn."""
    start = 1746748800000  # 2025-05-09 00:00 UTC, four days into the file
    argv = ["--data", str(WEEK), "--start", str(start), "--end", "2025-05-09T06:00",
            "--sma", "60", "--ema", "20", "--bollinger", "20",
            "--out", str(tmp_path / "p.png")]  # fmt: skip

    chart = _drawn_chart(monkeypatch, argv)

    whole = pd.read_csv(WEEK)
    close = whole["close"].astype(float)
    drawn = (whole.open_time >= start).to_numpy() & (whole.open_time < start + 6 * 3_600_000)
    assert list(chart.times_ms) == list(whole.open_time[drawn] + 60_000)
    np.testing.assert_allclose(chart.lines["SMA 60"], close.rolling(60).mean()[drawn], rtol=1e-9)
    upper = close.rolling(20).mean() + 2 * close.rolling(20).std(ddof=0)
    np.testing.assert_allclose(chart.lines["BB 20 upper"], upper[drawn], rtol=1e-9)
    # 1500 bars warm the EMA (as the backtester's --start): it has forgotten its seed
    ewm = close.ewm(span=20, adjust=False).mean()
    np.testing.assert_allclose(chart.lines["EMA 20"], ewm[drawn], rtol=1e-9)


def test_visualize_from_the_files_first_bar_has_nothing_to_warm_from(tmp_path, monkeypatch):
    argv = ["--data", str(WEEK), "--start", "2025-05-05", "--end", "2025-05-05T03:00",
            "--sma", "60", "--out", str(tmp_path / "p.png")]  # fmt: skip

    chart = _drawn_chart(monkeypatch, argv)

    assert len(chart.close) == 180
    assert np.isnan(chart.lines["SMA 60"][:59]).all() and not np.isnan(chart.lines["SMA 60"][59])


def test_visualize_warms_as_many_bars_as_the_backtester():
    from backtest.runner import WARM_HISTORY_BARS

    assert visualize.WARM_BARS == WARM_HISTORY_BARS


T0 = 1746403200000  # 2025-05-05 00:00 UTC
M1, M5 = 60_000, 300_000


def _chart(open_times: list[int]) -> visualize.Chart:
    bars = pd.DataFrame(
        {"open_time": open_times, "close": [100.0 + i for i in range(len(open_times))]}
    )
    return visualize.build(bars, sma_periods=[], ema_periods=[], bb_period=None)


def test_visualize_plots_each_close_at_its_bars_close_time():
    chart = _chart([T0, T0 + M1, T0 + 2 * M1])

    assert list(chart.times_ms) == [T0 + M1, T0 + 2 * M1, T0 + 3 * M1]


def test_visualize_takes_the_bar_interval_from_the_data_not_across_a_hole():
    chart = _chart([T0, T0 + M5, T0 + 3 * M5])  # 5m bars, the third after a missing one

    assert chart.interval_ms == M5
    assert list(chart.times_ms) == [T0 + M5, T0 + 2 * M5, T0 + 4 * M5]


def test_visualize_signals_by_open_time_are_placed_at_their_bars_close(tmp_path):
    sig = tmp_path / "signals.csv"
    rows = [(T0, 0), (T0 + M1, 1), (T0 + 2 * M1, 1), (T0 + 3 * M1, -1), (T0 + 4 * M1, 0)]
    sig.write_text("open_time,close,signal\n" + "".join(f"{t},10,{v}\n" for t, v in rows))
    chart = _chart([T0 + i * M1 for i in range(5)])

    visualize.add_signals(chart, pd.read_csv(sig), "signals")

    assert chart.buys is not None and chart.sells is not None and chart.exits is not None
    assert list(chart.buys[0]) == [T0 + 2 * M1]  # bar 1's close
    assert list(chart.sells[0]) == [T0 + 4 * M1]
    assert list(chart.exits[0]) == [T0 + 5 * M1]


def test_visualize_signals_by_time_ms_are_placed_at_that_time(tmp_path):
    sig = tmp_path / "signals.csv"
    sig.write_text(f"time_ms,close,signal\n{T0 + M1},10,0\n{T0 + 2 * M1},11,1\n")
    chart = _chart([T0, T0 + M1])

    visualize.add_signals(chart, pd.read_csv(sig), "signals")

    assert chart.buys is not None and list(chart.buys[0]) == [T0 + 2 * M1]


def test_visualize_shows_only_the_signals_inside_the_bars_drawn(tmp_path):
    """With --start/--end the file's other signals were drawn too: a week of markers around
    six hours of bars. A change is still against the signal before the window."""
    sig = tmp_path / "signals.csv"
    rows = [(T0, 1), (T0 + M1, -1), (T0 + 2 * M1, 1), (T0 + 3 * M1, 1), (T0 + 4 * M1, -1)]
    sig.write_text("open_time,close,signal\n" + "".join(f"{t},10,{v}\n" for t, v in rows))
    chart = _chart([T0 + 2 * M1, T0 + 3 * M1])  # bars 2 and 3 drawn: their closes, + 3, + 4

    visualize.add_signals(chart, pd.read_csv(sig), "signals")

    assert chart.buys is not None and chart.sells is not None and chart.exits is not None
    assert list(chart.buys[0]) == [T0 + 3 * M1]  # bar 2 turned long after bar 1's short
    assert list(chart.sells[0]) == [] and list(chart.exits[0]) == []  # bar 4 is not drawn


def test_visualize_shows_the_fills_from_the_first_open_to_the_last_close():
    chart = _chart([T0, T0 + M5])  # 5m bars: they span T0 .. T0 + 10 min
    inside = [T0, T0 + M5 + 2 * M1, T0 + 2 * M5 - 1]
    outside = [T0 - 1, T0 + 2 * M5]
    times = inside + outside
    trades = pd.DataFrame({"time_ms": times, "side": ["BUY"] * len(times), "price": 100.0})

    visualize.add_trades(chart, trades, "trades")

    assert chart.buys is not None and list(chart.buys[0]) == inside


def test_visualize_refuses_the_fills_of_another_symbol(backtest, tmp_path, capsys):
    """BTCUSDT fills (~103,000) on ETHUSDT bars (~2,400) drew the price as a flat line at the
    bottom of the chart, the markers at its top, and said nothing."""
    eth = ROOT / "exchange_sim/data/klines/ETHUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
    out = tmp_path / "price.png"
    argv = ["--data", str(eth), "--start", "2025-05-09", "--end", "2025-05-10",
            "--trades", str(backtest / "trades.csv"), "--out", str(out)]  # fmt: skip

    assert visualize.main(argv) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("analysis.visualize: error: --trades ")
    assert "far from the closes" in err and "another symbol's?" in err
    assert not out.exists()


def test_visualize_refuses_signals_priced_far_from_the_bars(tmp_path, capsys):
    sig = tmp_path / "signals.csv"  # closes of 10 against the week's ~94,000
    sig.write_text(f"open_time,close,signal\n{T0},10,1\n{T0 + M1},10,-1\n")
    argv = ["--data", str(WEEK), "--end", "2025-05-05T01:00", "--signals", str(sig),
            "--out", str(tmp_path / "p.png")]  # fmt: skip

    assert visualize.main(argv) == 2

    assert "--signals" in capsys.readouterr().err


def test_visualize_says_when_no_fill_of_the_trades_file_is_within_the_bars(
    backtest, tmp_path, capsys, monkeypatch
):
    """The backtest's fills are of 2025-05-09; drawn over 05-06 they were '0 buys, 0 sells'
    and nothing said why."""
    monkeypatch.setattr(visualize, "plot", lambda chart, out, title="": None)
    trades = backtest / "trades.csv"
    fills = len(pd.read_csv(trades))
    argv = ["--data", str(WEEK), "--start", "2025-05-06", "--end", "2025-05-06T06:00",
            "--trades", str(trades), "--out", str(tmp_path / "p.png")]  # fmt: skip

    assert visualize.main(argv) == 0

    assert capsys.readouterr().out.splitlines()[1] == (
        f"  (none of the {fills} fills of --trades {trades} is within the bars drawn, "
        "2025-05-06 00:00 .. 2025-05-06 06:00 UTC)"
    )


def test_visualize_takes_markers_within_a_tenth_of_the_closes_range():
    chart = _chart([T0, T0 + M1])  # closes 100 and 101
    chart.buys = (np.array([T0 + M1]), np.array([90.0]))
    chart.sells = (np.array([T0 + 2 * M1]), np.array([111.1]))

    assert visualize.far_markers(chart) is None
    chart.sells = (np.array([T0 + 2 * M1]), np.array([111.2]))
    assert visualize.far_markers(chart) == (90.0, 111.2)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_correlation_heatmap_numbers(tmp_path, capsys, method):
    out = tmp_path / "corr.png"
    argv = ["--data", str(WEEK), "--end", "2025-05-08", "--horizons", "1,15",
            "--method", method, "--out", str(out)]  # fmt: skip
    assert correlation.main(argv) == 0
    assert_png(out)
    assert "fwd_15:" in capsys.readouterr().out
    bars = pd.read_csv(WEEK)
    bars = bars[bars.open_time < 1746662400000].reset_index(drop=True)
    tab, gaps = correlation.table(bars, [1, 15], flow=False)
    corr = correlation.correlation(tab, method)
    # Independently: the features, forward log returns from the closes, complete rows only.
    feats = features.compute_features(bars, flow=False)
    c = bars["close"].to_numpy(dtype=float)
    fwd15 = np.full(len(c), np.nan)
    fwd15[:-15] = np.log(c[15:] / c[:-15])
    x = feats["rsi_14"].to_numpy()
    ok = ~np.isnan(feats.to_numpy()).any(axis=1) & ~np.isnan(fwd15)
    ok[-15:] = False
    assert ok.sum() == len(tab) == len(bars) - (features.WARMUP_BARS - 1) - 15
    a, b = x[ok], fwd15[ok]
    if method == "spearman":
        a, b = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    assert corr.loc["rsi_14", "fwd_15"] == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    assert "taker_imbalance_20" not in corr.columns  # no flow data: constant columns dropped
    assert gaps == correlation.GapRows(holes=0, horizon=0, window=0)


def _bars_with_a_hole(n: int, hole_at: int) -> pd.DataFrame:
    """`n` 1m bars of a seeded random walk; the bar that would sit at `hole_at` is missing (the
    bars from there on open one minute later)."""
    rng = np.random.default_rng(7)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    minutes = np.arange(n) + (np.arange(n) >= hole_at)
    return pd.DataFrame({"open_time": T0 + M1 * minutes, "open": close, "high": close * 1.001,
                         "low": close * 0.999, "close": close,
                         "volume": rng.uniform(1, 2, n)})  # fmt: skip


def test_correlation_leaves_out_the_rows_whose_forward_return_spans_a_hole():
    n, k, w = 300, 200, features.WARMUP_BARS
    bars = _bars_with_a_hole(n, k)

    tab, gaps = correlation.table(bars, [1, 15], flow=False)

    # Bars k-15 .. k-1 would pair their features with a return over the hole (16 minutes for
    # 15 bars); bars k .. k+w-2 have a feature window reaching back across it.
    assert gaps == correlation.GapRows(holes=1, horizon=15, window=w - 1)
    assert len(tab) == (n - (w - 1) - 15) - 15 - (w - 1)
    logc = np.log(bars["close"].to_numpy())
    assert not np.isclose(tab["fwd_1"].to_numpy(), logc[k] - logc[k - 1], rtol=0, atol=0).any()
    assert np.isclose(tab["fwd_1"].to_numpy(), logc[k - 16] - logc[k - 17], rtol=0, atol=0).any()


def test_correlation_says_how_many_rows_it_left_out_at_holes(tmp_path, capsys):
    data = tmp_path / "k.csv"
    _bars_with_a_hole(300, 200).to_csv(data, index=False)

    assert correlation.main(["--data", str(data), "--out", str(tmp_path / "c.png")]) == 0

    w = features.WARMUP_BARS
    assert capsys.readouterr().out.startswith(
        f"data: 1 hole(s) between the bars: 15 row(s) left out whose forward return spans one, "
        f"{w - 1} whose {w}-bar feature window does\n"
    )


@pytest.mark.parametrize(
    ("module", "argv", "says"),
    [
        (pnl, ["--trades", "/nonexistent.csv", "--out", "x.png"], "no such file"),
        (pnl, ["--trades", str(WEEK), "--out", "x.png"], "missing column(s) time_ms"),
        (pnl, ["--out", "x.png"], "one of the arguments --trades --journal --signals is required"),
        (pnl, ["--trades", str(WEEK), "--out", "x.jpg"], "expected a .png"),
        # A signals file's size and fee: with fills they went unused without a word.
        (pnl, ["--trades", "t.csv", "--notional", "500", "--out", "x.png"],
         "--notional is for --signals"),
        (pnl, ["--journal", "j", "--fee", "0.001", "--out", "x.png"], "--fee is for --signals"),
        (visualize, ["--data", str(WEEK), "--sma", "a", "--out", "x.png"], "--sma"),
        # It widened no band: drawn without one, and nothing said.
        (visualize, ["--data", str(WEEK), "--bollinger", "0", "--bb-width", "3",
                     "--out", "x.png"], "--bb-width is for --bollinger N (N > 0)"),
        (visualize, ["--data", str(WEEK), "--start", "2031-01-01", "--out", "x.png"], "no bars"),
        (correlation, ["--data", str(WEEK), "--horizons", "0", "--out", "x.png"], "--horizons"),
        (correlation, ["--data", str(WEEK), "--flow", "on", "--out", "x.png"], "--flow on"),
        (correlation, ["--data", str(WEEK), "--end", "2025-05-05T01:00", "--out", "x.png"],
         "too few bars"),
        # A history store's root (fetch_historical.py --out) was said to be 'no such file'.
        (correlation, ["--data", str(ROOT / "exchange_sim/data"), "--out", "x.png"],
         "exchange_sim/data: is a directory, not a CSV file"),
        (visualize, ["--data", str(ROOT / "exchange_sim/data"), "--out", "x.png"],
         "exchange_sim/data: is a directory, not a CSV file"),
    ],
)  # fmt: skip
def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys, monkeypatch, module, argv, says):
    monkeypatch.chdir(tmp_path)
    assert module.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and err.startswith(f"{module.__name__}: error: ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("module", [visualize, correlation])
def test_an_end_before_the_start_is_said_as_such(tmp_path, capsys, module):
    argv = ["--data", str(WEEK), "--start", "2025-05-08", "--end", "2025-05-06",
            "--out", str(tmp_path / "x.png")]  # fmt: skip

    assert module.main(argv) == 2

    assert capsys.readouterr().err == (
        f"{module.__name__}: error: --end must be after --start "
        "(got --start 2025-05-08 --end 2025-05-06)\n"
    )


def test_a_window_outside_the_data_says_where_the_data_is(tmp_path, capsys):
    argv = ["--data", str(WEEK), "--start", "2026-01-01", "--out", str(tmp_path / "x.png")]

    assert visualize.main(argv) == 2

    assert capsys.readouterr().err.endswith(
        ": no bars in the requested window (the data runs from 2025-05-05 00:00 to "
        "2025-05-11 23:59 UTC)\n"
    )


def test_bad_signals_exit_2(tmp_path, capsys):
    sig = tmp_path / "s.csv"
    sig.write_text("time_ms,close,signal\n0,100,0.5\n1,101,1\n")
    assert pnl.main(["--signals", str(sig), "--out", str(tmp_path / "p.png")]) == 2
    assert "signal must be -1, 0 or 1" in capsys.readouterr().err


def test_commands_run_as_modules(backtest, tmp_path):
    out = tmp_path / "p.png"
    ok = subprocess.run(
        [sys.executable, "-m", "analysis.pnl", "--trades", str(backtest / "trades.csv"),
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert_png(out)
    bad = subprocess.run(
        [sys.executable, "-m", "analysis.correlation", "--data", "nope.csv", "--out", "c.png"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def _week_with(path: Path, row: int, column: str, value: str) -> Path:
    """The week's first 400 bars with one cell (data row `row`, from 1) replaced."""
    df = pd.read_csv(WEEK).iloc[:400].astype(object)
    df.loc[row - 1, column] = value
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("module", ["analysis.visualize", "analysis.correlation"])
@pytest.mark.parametrize(
    ("value", "says"),
    [("abc", "column close is not numeric at row 5 (line 6): 'abc'"),
     ("", "column close is empty at row 5 (line 6)")],
)  # fmt: skip
def test_a_bad_price_cell_is_named_by_file_row_and_column(tmp_path, module, value, says):
    data = _week_with(tmp_path / "bad.csv", 5, "close", value)
    run = subprocess.run(
        [sys.executable, "-m", module, "--data", str(data), "--out", str(tmp_path / "x.png")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr == f"{module}: error: --data {data}: {says}\n"
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "x.png").exists()


def test_a_bad_cell_in_the_window_keeps_its_file_row(tmp_path, capsys):
    data = _week_with(tmp_path / "bad.csv", 300, "high", "x")
    start = str(1746403200000 + 200 * 60_000)  # data row 201 on
    argv = ["--data", str(data), "--start", start, "--out", str(tmp_path / "x.png")]
    assert visualize.main(argv) == 2
    err = capsys.readouterr().err
    assert err.endswith("column high is not numeric at row 300 (line 301): 'x'\n")


@pytest.mark.parametrize(
    ("module", "flag", "text", "says"),
    [
        (pnl, "--trades", "time_ms,realized_pnl,commission\n1,0,0.1\n2,abc,0.1\n",
         "column realized_pnl is not numeric at row 2 (line 3): 'abc'"),
        (pnl, "--signals", "time_ms,close,signal\n1,100,0\n2,,1\n",
         "column close is empty at row 2 (line 3)"),
        (visualize, "--trades", "time_ms,side,price\n1746403200000,BUY,94000\n"
         "1746403260000,SELL,abc\n", "column price is not numeric at row 2 (line 3): 'abc'"),
        (visualize, "--signals", "open_time,close,signal\n1746403200000,94000,x\n",
         "column signal is not numeric at row 1 (line 2): 'x'"),
    ],
)  # fmt: skip
def test_a_bad_cell_in_trades_or_signals_is_named_by_row(tmp_path, capsys, module, flag, text,
                                                          says):  # fmt: skip
    f = tmp_path / "f.csv"
    f.write_text(text)
    argv = [flag, str(f), "--out", str(tmp_path / "x.png")]
    if module is visualize:
        argv = ["--data", str(WEEK), "--end", "2025-05-05T06:00", *argv]
    assert module.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith(f"{flag} {f}: {says}\n")
    assert not (tmp_path / "x.png").exists()


def test_pnl_says_1_row_and_1_trade(tmp_path, capsys):
    f = tmp_path / "t.csv"
    f.write_text("time_ms,realized_pnl,commission\n1,2.5,0.5\n")
    assert pnl.main(["--trades", str(f), "--out", str(tmp_path / "p.png")]) == 0
    assert capsys.readouterr().out.startswith("1 row, 1 trade, net PnL +2.0000 USDT")


def _week_rows(n: int = 200) -> pd.DataFrame:
    return pd.read_csv(WEEK).iloc[:n]


@pytest.mark.parametrize("form", ["binance_no_header", "ohlcv_no_header", "seconds", "micros"])
def test_kline_files_the_backtester_reads_load_with_open_time_in_ms(tmp_path, form):
    from analysis._common import load_klines

    week = _week_rows()
    path = tmp_path / "k.csv"
    if form == "binance_no_header":  # data.binance.vision's 12 columns, no header line
        rows = week.assign(close_time=week.open_time + 59_999, quote_volume=1.0, count=10,
                           taker_buy_volume=0.5, taker_buy_quote_volume=0.5, ignore=0)  # fmt: skip
        rows.to_csv(path, header=False, index=False)
    elif form == "ohlcv_no_header":
        week.to_csv(path, header=False, index=False)
    else:
        scale = {"seconds": 1 / 1000, "micros": 1000}[form]
        week.assign(open_time=(week.open_time * scale).astype("int64")).to_csv(path, index=False)

    bars = load_klines(path, start="2025-05-05T01:00")

    expected = week[week.open_time >= 1746406800000].reset_index(drop=True)
    assert list(bars.open_time) == list(expected.open_time)
    np.testing.assert_array_equal(bars.close.to_numpy(), expected.close.to_numpy())


def test_visualize_draws_a_microsecond_kline_file(tmp_path):
    week = _week_rows()
    path = tmp_path / "spot_us.csv"
    week.assign(open_time=week.open_time * 1000).to_csv(path, index=False)
    out = tmp_path / "price.png"

    assert visualize.main(["--data", str(path), "--out", str(out)]) == 0

    assert_png(out)


def test_pnl_of_a_journal_with_one_fill_draws_its_point(tmp_path):
    import matplotlib.image

    one = pnl.Pnl(times_ms=np.array([1764540000000]), cumulative=np.array([-0.09]),
                  trades=np.array([]), fees=0.09, source="--journal j")  # fmt: skip
    out = tmp_path / "one.png"

    pnl.plot(one, out)

    rgb = (matplotlib.image.imread(out)[:, :, :3] * 255).round()
    blue = np.all(np.abs(rgb - [31, 119, 180]) <= 2, axis=2)  # tab:blue, the curve's colour
    assert blue.sum() > 20


@pytest.mark.parametrize("module", [pnl, visualize, correlation])
def test_an_out_that_is_a_directory_exits_2_with_one_line(tmp_path, capsys, module):
    folder = tmp_path / "plots.png"
    folder.mkdir()
    source = ["--trades", str(tmp_path / "t.csv")] if module is pnl else ["--data", str(WEEK)]

    assert module.main([*source, "--out", str(folder)]) == 2

    err = capsys.readouterr().err
    assert err.endswith(f"error: --out {folder} is a directory: expected a .png file name\n")
    assert err.count("\n") == 1


def _source(module, tmp_path: Path) -> list[str]:
    """A valid input of each command: the week's klines, or a backtest's trades file."""
    if module is not pnl:
        return ["--data", str(WEEK)]
    trades = tmp_path / "trades.csv"
    trades.write_text(
        "time_ms,side,price,qty,commission,realized_pnl,position_after\n"
        "1746406199999,BUY,94667.80,0.010,0.47333900,0,0.010\n"
        "1746407159999,SELL,94513.30,0.010,0.47256650,-1.54500000,0\n"
    )
    return ["--trades", str(trades)]


@pytest.mark.parametrize("module", [pnl, visualize, correlation])
def test_an_out_under_a_file_exits_2_with_one_line_before_the_work(tmp_path, capsys, module):
    # A traceback (NotADirectoryError from mkdir), after the chart had been computed.
    afile = tmp_path / "notes.txt"
    afile.write_text("mine\n")
    out = afile / "plots" / "chart.png"

    assert module.main([*_source(module, tmp_path), "--out", str(out)]) == 2

    err = capsys.readouterr().err
    assert err.endswith(f"error: --out {out}: {afile} is not a directory\n"), err
    assert err.count("\n") == 1
    assert afile.read_text() == "mine\n"


@pytest.mark.parametrize("module", [pnl, visualize, correlation])
def test_an_out_that_cannot_be_written_exits_2_with_one_line(tmp_path, capsys, module):
    # A file name longer than the file system takes (255 bytes): savefig's OSError was a
    # traceback, exit 1; so was any other refusal to write it (a folder of another user's).
    out = tmp_path / ("chart-" * 50 + ".png")

    assert module.main([*_source(module, tmp_path), "--out", str(out)]) == 2

    err = capsys.readouterr().err
    assert err.endswith(f"error: --out {out}: cannot write it (File name too long)\n"), err
    assert err.count("\n") == 1


def test_a_signals_fee_given_as_a_percentage_is_refused(tmp_path, capsys):
    sig = tmp_path / "s.csv"
    sig.write_text("time_ms,close,signal\n0,100,1\n1,101,0\n")

    status = pnl.main(["--signals", str(sig), "--fee", "0.05", "--out", str(tmp_path / "p.png")])

    assert status == 2
    err = capsys.readouterr().err
    assert "--fee 0.05: fees are fractions (0.05 is 5 %" in err and err.count("\n") == 1
    assert not (tmp_path / "p.png").exists()


def _saved_figures(monkeypatch) -> list:
    import matplotlib.figure

    saved = []
    save = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(
        matplotlib.figure.Figure,
        "savefig",
        lambda fig, *a, **k: (saved.append(fig), save(fig, *a, **k)),
    )
    return saved


def test_the_time_axes_say_their_times_are_utc(tmp_path, monkeypatch):
    """The dates under the price and PnL curves had no label; they are UTC, as the
    backtest's plots say (`time (UTC)`), not the reader's local time."""
    saved = _saved_figures(monkeypatch)
    t = np.array([1_746_403_200_000 + i * 60_000 for i in range(3)])
    chart = visualize.Chart(times_ms=t, close=np.array([1.0, 2.0, 3.0]), interval_ms=60_000)
    curve = pnl.Pnl(times_ms=t, cumulative=np.array([0.0, 1.0, -1.0]),
                    trades=np.array([1.0, -2.0]), fees=0.1, source="--trades t.csv")  # fmt: skip

    visualize.plot(chart, tmp_path / "price.png")
    pnl.plot(curve, tmp_path / "pnl.png")

    price_axis, (pnl_axis, _histogram) = saved[0].axes[0], saved[1].axes
    assert price_axis.get_xlabel() == pnl_axis.get_xlabel() == "time (UTC)"
