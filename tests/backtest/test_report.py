"""The report: monthly returns by hand, the HTML page self-contained (only data: URIs, the
PNGs on disk byte for byte), and the CLI writing it on the bundled real week."""

import base64
import csv
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import backtest_trading_strategy as cli
from backtest import metrics, report
from backtest.runner import BacktestConfig, backtest_risk

ROOT = Path(__file__).resolve().parents[2]
KLINES = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def ms(*ymd_hm: int) -> int:
    return int(datetime(*ymd_hm, tzinfo=UTC).timestamp() * 1000)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_monthly_returns_by_hand():
    times = [ms(2024, 12, 31, 12), ms(2025, 1, 10), ms(2025, 1, 31, 23, 59), ms(2025, 3, 1)]
    equity = [100.0, 90.0, 110.0, 99.0]
    got = metrics.monthly_returns(times, equity)
    # Dec: only the start sample (0 %); Jan: 100 -> 110; no February sample; Mar: 110 -> 99.
    assert [(y, m) for y, m, _ in got] == [(2024, 12), (2025, 1), (2025, 3)]
    assert [r for _, _, r in got] == pytest.approx([0.0, 0.1, -0.1])
    compounded = 1.0
    for _, _, r in got:
        compounded *= 1 + r
    assert compounded - 1 == pytest.approx(metrics.total_return(equity))
    rows, cols, table = report.monthly_table(got)
    assert rows == [""] and cols == ["Dec 2024", "Jan 2025", "Feb 2025", "Mar 2025"]
    assert table[0, 0] == 0.0 and table[0, 1] == pytest.approx(0.1)
    assert np.isnan(table[0, 2]) and table[0, 3] == pytest.approx(-0.1)  # February: no sample


def test_trade_pnls_carry_the_opening_fees():
    fills = [
        metrics.FillRow(1, 100.0, 1.0, 0.5, 0.0),  # opens, pays 0.5
        metrics.FillRow(2, 110.0, 2.0, 1.0, 10.0),  # closes (+10) and reverses, pays 1.0
        metrics.FillRow(3, 105.0, 1.0, 0.25, 5.0),  # closes the short (+5), pays 0.25
    ]
    assert metrics.trade_pnls(fills) == pytest.approx([10 - 1.5, 5 - 0.25])


def _summary() -> dict:
    return {
        "metrics": {"total_return": 0.0123, "max_drawdown": 0.05, "sharpe": 1.5, "fills": 3},
        "settings": {
            "strategy": "sma_crossover",
            "symbol": "BTCUSDT",
            "taker_fee": "0.0005",
            "latency_ms": 250,
            "slippage_bps": "2",
            "strategy_params": {"fast": 10, "slow": 50, "model_path": "<script>x.json"},
        },
        "data": {"kind": "klines", "rows": 10},
        "monte_carlo": {
            "runs": 4,
            "seed": 1,
            "percentiles": [5, 25, 50, 75, 95],
            "latency_ms_range": [0, 900],
            "slippage_bps_range": ["0", "4.5"],
            "randomized": {
                "total_return": {"p5": -0.1, "p25": -0.05, "p50": 0.0, "p75": 0.05, "p95": 0.1},
                "max_drawdown": {"p5": 0.01, "p25": 0.02, "p50": 0.03, "p75": 0.04, "p95": 0.05},
            },
            "bootstrap": {"trades": 0, "paths": 4},
        },
    }


def test_the_page_embeds_its_images_and_reaches_nothing_outside():
    png = PNG_MAGIC + b"fake image bytes <script>"
    page = report.render_html(_summary(), [("equity", png)])
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs == ["data:image/png;base64," + base64.b64encode(png).decode()]
    assert not re.search(r"https?://|href=|<link|<script", page)
    # The metrics, the realism knobs and the Monte Carlo bands are on the page.
    assert "+1.230%" in page and "5.000%" in page  # total return, max drawdown
    realism = page.split("<h2>Realism</h2>")[1].split("<h2>")[0]
    assert "taker_fee" in realism and "latency_ms" in realism and "slippage_bps" in realism
    assert "strategy_params.fast" not in realism
    assert "strategy_params.fast" in page.split("<h2>Settings</h2>")[1]
    assert "&lt;script&gt;x.json" in page  # text from the settings is escaped
    mc = page.split("<h2>Monte Carlo</h2>")[1].split("<h2>")[0]
    assert "-10.000%" in mc and "+10.000%" in mc and "latency 0-900 ms" in mc


def test_the_bootstrap_drawdown_is_shown_as_at_trade_closes_beside_the_base_run_s():
    s = _summary()
    s["monte_carlo"]["bootstrap"] = {
        "trades": 12,
        "paths": 4,
        "total_return": {"p5": -0.02, "p25": -0.01, "p50": 0.0, "p75": 0.01, "p95": 0.02},
        "max_drawdown_at_trade_closes": {
            "p5": 0.001,
            "p25": 0.002,
            "p50": 0.003,
            "p75": 0.004,
            "p95": 0.006,
        },
        "base_max_drawdown_at_trade_closes": 0.0025,
    }

    mc = report.render_html(s, []).split("<h2>Monte Carlo</h2>")[1].split("<h2>")[0]

    rows = re.findall(r"<tr>(.*?)</tr>", mc, flags=re.S)
    boot = [r for r in rows if ">bootstrap<" in r]
    assert len(boot) == 2 and "max_drawdown_at_trade_closes" in boot[1]
    assert "0.600%" in boot[1]  # its p95, as a percentage
    assert not any(">max_drawdown<" in r for r in boot)
    assert "on that footing: 0.250%" in mc  # the base run's, beside the bands


def test_the_report_says_where_the_bootstrap_halts_its_paths():
    """A run whose RiskManager halts at a 10 % drawdown: the page says the bootstrap's paths
    halt there too, how many did, and that the daily loss limits are not in it."""
    s = _summary()
    s["monte_carlo"]["bootstrap"].update(
        trades=12,
        halt_at_drawdown=0.1,
        halted_paths=3,
        total_return=dict.fromkeys(("p5", "p25", "p50", "p75", "p95"), 0.0),
    )

    mc = report.render_html(s, []).split("<h2>Monte Carlo</h2>")[1].split("<h2>")[0]

    assert (
        "Bootstrap: a path halts at 10.00% drawdown (risk max_drawdown_pct), at trade closes: "
        "3 of 4 did; daily loss limits not modelled." in mc
    )


def test_no_monte_carlo_no_section():
    s = _summary()
    del s["monte_carlo"]
    assert "Monte Carlo" not in report.render_html(s, [])


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    argv = ["--data", str(KLINES), "--end", "2025-05-06", "--out", str(out)]
    assert cli.main([*argv, "--monte-carlo", "4", "--seed", "1"]) == 0
    return out


def test_the_cli_writes_one_self_contained_page(day):
    page = (day / "report.html").read_text()
    embedded = [
        base64.b64decode(s) for s in re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    ]
    on_disk = [
        (day / n).read_bytes()
        for n in ("equity.png", "price.png", "monthly_returns.png", "monte_carlo.png")
    ]
    assert embedded == on_disk and all(b.startswith(PNG_MAGIC) for b in on_disk)
    assert len(re.findall(r"src=", page)) == 4
    assert not re.search(r"https?://|href=|<link|<script", page)
    summary = json.loads((day / "summary.json").read_text())
    table = page.split("<h2>Summary</h2>")[1].split("<h2>")[0]
    for key in summary["metrics"]:  # every metric of summary.json is in the table
        assert f"<th>{key}</th>" in table, key
    assert f"{summary['metrics']['total_return']:+.3%}" in table


def test_the_period_ends_at_the_last_bars_close_not_its_open(day):
    """The day's last bar opens at 23:59 and closes at 00:00: the period ends there (its
    equity sample carries Binance's close time, 23:59:59.999, which shown in minutes was the
    bar's open)."""
    m = json.loads((day / "summary.json").read_text())["metrics"]
    assert (m["start_ms"], m["end_ms"]) == (ms(2025, 5, 5), ms(2025, 5, 6))
    page = (day / "report.html").read_text()
    assert "1440 klines from 2025-05-05 00:00 UTC to 2025-05-06 00:00 UTC" in page


def test_the_period_starts_at_start_not_at_the_warm_up_bars(tmp_path):
    out = tmp_path / "out"
    argv = ["--data", str(KLINES), "--start", "2025-05-05 12:00", "--end", "2025-05-05 18:00",
            "--out", str(out), "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["warm_bars"] > 0  # the bars before --start warmed the strategy
    m = summary["metrics"]
    assert (m["start_ms"], m["end_ms"]) == (ms(2025, 5, 5, 12), ms(2025, 5, 5, 18))
    page = (out / "report.html").read_text()
    assert "360 klines from 2025-05-05 12:00 UTC to 2025-05-05 18:00 UTC" in page


def test_summary_has_every_metric_the_issue_lists(day):
    m = json.loads((day / "summary.json").read_text())["metrics"]
    assert set(m) >= {
        "total_return",
        "annualized_return",
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown",
        "max_drawdown_duration_ms",
        "win_rate",
        "profit_factor",
        "expectancy",
        "exposure",
        "turnover",
        "fees",
        "funding",
        "fills",
        "closed_trades",
    }


def test_monthly_returns_of_the_run_equal_the_equity_csv(day):
    eq = rows(day / "equity.csv")
    e = [float(r["equity"]) for r in eq]
    t = [int(r["time_ms"]) for r in eq]
    # The day is inside May 2025 (closing at 2025-05-05 23:59:59.999): one cell, start -> end.
    assert all(datetime.fromtimestamp(x / 1000, tz=UTC).month == 5 for x in t)
    [(year, month, r)] = metrics.monthly_returns(t, e)
    assert (year, month) == (2025, 5) and r == pytest.approx(e[-1] / e[0] - 1)


def test_no_html_writes_no_page(tmp_path):
    out = tmp_path / "o"
    argv = ["--data", str(KLINES), "--end", "2025-05-05T06:00", "--out", str(out), "--no-html"]
    assert cli.main(argv) == 0
    assert (out / "summary.json").exists() and not (out / "report.html").exists()


def test_the_walk_forward_table_shows_each_windows_out_of_sample_result():
    s = _summary()
    s["sweep"] = {
        "file": "grid.toml",
        "metric": "sharpe",
        "points": 4,
        "runs": 16,
        "skipped": [],
        "walk_forward": {
            "train_days": 1,
            "test_days": 1,
            "out_of_sample_total_return": (1 + 0.01) * (1 - 0.02) - 1,
            "windows": [
                {
                    "window": i,
                    "train_start_ms": ms(2025, 5, 5 + i),
                    "train_end_ms": ms(2025, 5, 6 + i),
                    "test_start_ms": ms(2025, 5, 6 + i),
                    "test_end_ms": ms(2025, 5, 7 + i),
                    "settings": {"fast": 5, "slow": 20 + 20 * i},
                    "train_sharpe": 1.5,
                    "test_sharpe": -0.25,
                    "test_total_return": ret,
                    "test_max_drawdown": 0.03,
                }
                for i, ret in enumerate((0.01, -0.02))
            ],
        },
    }
    page = report.render_html(s, [])
    section = page.split("<h2>Parameter sweep</h2>")[1]
    table_rows = re.findall(r"<tr><td>(\d)</td>(.*?)</tr>", section)
    assert [n for n, _ in table_rows] == ["0", "1"]
    assert "2025-05-06 00:00 UTC - 2025-05-07 00:00 UTC" in table_rows[0][1]  # test span
    assert "fast=5, slow=40" in table_rows[1][1] and "-2.000%" in table_rows[1][1]
    assert "windows compounded: -1.020%" in section


def test_the_best_grid_point_reads_as_the_console_gives_it():
    s = _summary()
    s["sweep"] = {
        "file": "grid.toml",
        "metric": "total_return",
        "points": 4,
        "runs": 4,
        "skipped": [],
        "best": {"settings": {"fast": 10, "slow": 50}, "total_return": -0.01, "sharpe": -3.5},
    }

    section = report.render_html(s, []).split("<h2>Parameter sweep</h2>")[1]

    # It read {&#x27;fast&#x27;: 10, &#x27;slow&#x27;: 50}: a Python dict.
    assert "<th>best settings</th><td>fast=10, slow=50</td>" in section


def test_fills_are_split_into_long_and_short_entries_reversals_exits_and_stops():
    from decimal import Decimal as D
    from types import SimpleNamespace as Fill

    def fill(cid, side, qty, after):
        return Fill(client_order_id=cid, side=side, qty=D(qty), position_after=D(after))

    fills = [
        fill("a", "BUY", "1", "1"),  # flat -> long
        fill("b", "SELL", "2", "-1"),  # long -> short: a reversal, an entry
        fill("c", "BUY", "1", "0"),  # short -> flat
        fill("d", "BUY", "1", "1"),
        fill("s", "SELL", "1", "0"),  # the protective stop
    ]
    kinds = report.fill_kinds(fills, {"s": "STOP_MARKET"})
    assert {k: [f.client_order_id for f in v] for k, v in kinds.items()} == {
        "long entries": ["a", "d"],
        "short entries": ["b"],
        "exits": ["c"],
        "stops": ["s"],
    }


def test_equity_and_price_plots_have_utc_date_axes(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    day = 1_746_403_200_000  # 2025-05-05 00:00 UTC
    times = [day + i * 60_000 for i in range(600)]
    seen = {}
    real_savefig = plt.Figure.savefig

    def keep(fig, path, **kw):
        fig.canvas.draw()
        seen[Path(path).name] = [
            (a.get_xlabel(), [t.get_text() for t in a.get_xticklabels()], a.get_legend())
            for a in fig.axes
        ]
        return real_savefig(fig, path, **kw)

    plt.Figure.savefig = keep
    try:
        report.plot_equity(times, [10_000.0 + i for i in range(600)], tmp_path / "equity.png")
        report.plot_price(times, [94_000.0] * 600, [], {}, tmp_path / "price.png")
    finally:
        plt.Figure.savefig = real_savefig
    label, ticks, _ = seen["equity.png"][-1]
    assert label == "time (UTC)" and any(":00" in t for t in ticks), ticks
    label, ticks, legend = seen["price.png"][0]
    assert label == "time (UTC)" and any(":00" in t for t in ticks)
    assert [t.get_text() for t in legend.get_texts()] == [
        "price",
        "long entries (0)",
        "short entries (0)",
        "exits (0)",
        "stops (0)",
    ]


def test_the_charts_mark_where_the_trading_state_changed(tmp_path, monkeypatch):
    """A halted run's equity goes flat and its signals stop being traded: both charts draw a
    dashed line, in the state's colour, where the RiskManager changed the state."""
    import matplotlib.figure

    drawn = {}
    save = matplotlib.figure.Figure.savefig

    def keep(fig, path, **kw):
        drawn[Path(path).name] = [
            (
                [(line.get_label(), line.get_color(), line.get_xdata()[0])
                 for line in a.get_lines() if line.get_linestyle() == "--"],
                a.get_legend() and [t.get_text() for t in a.get_legend().get_texts()],
            )
            for a in fig.axes
        ]  # fmt: skip
        return save(fig, path, **kw)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    day = 1_746_403_200_000  # 2025-05-05 00:00 UTC
    times = [day + i * 60_000 for i in range(600)]
    changes = [(day + 300 * 60_000 - 1, "REDUCING"), (day + 360 * 60_000 - 1, "HALTED")]
    report.plot_equity(times, [10_000.0 - i for i in range(600)], tmp_path / "e.png", "", changes)
    report.plot_price(times, [94_000.0] * 600, [], {}, tmp_path / "p.png", changes)

    at = [np.datetime64("2025-05-05T04:59:59.999"), np.datetime64("2025-05-05T05:59:59.999")]
    marks = [("trading REDUCING", "tab:orange", at[0]), ("trading HALTED", "tab:red", at[1])]
    (equity_marks, equity_legend), (drawdown_marks, _) = drawn["e.png"]
    assert equity_marks == marks
    assert equity_legend == ["trading REDUCING", "trading HALTED"]
    assert [(c, t) for _, c, t in drawdown_marks] == [(c, t) for _, c, t in marks]
    ((price_marks, price_legend),) = drawn["p.png"]
    assert price_marks == marks and price_legend[-2:] == ["trading REDUCING", "trading HALTED"]


def test_the_page_says_when_trading_halted_to_the_millisecond():
    # Halted at a bar's close, 03:24:59.999: in minutes it read 03:24, the bar's open.
    halted_at = ms(2025, 5, 28, 3, 24) + 59_999
    summary = {
        "trading_state": {
            "at_end": "HALTED",
            "reason": "max drawdown",
            "changes": [{"time_ms": halted_at, "from": "REDUCING", "to": "HALTED"}],
        },
        "counters": {"denied": 2},
    }
    page = report.render_html(summary, [])
    assert "Trading HALTED at the end since 2025-05-28 03:24:59.999 UTC: max drawdown" in page


def test_the_fan_chart_says_so_when_no_trade_closed(tmp_path, monkeypatch):
    """With no closed trade each bootstrap path is one point: its bands drew nothing, an
    empty right panel next to the runs' bands."""
    import matplotlib.figure

    drawn = []
    save = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(
        matplotlib.figure.Figure,
        "savefig",
        lambda fig, *a, **k: (drawn.append(fig), save(fig, *a, **k)),
    )
    runs = [SimpleNamespace(curve=[10_000.0, 10_000.0 + i]) for i in range(3)]
    mc = SimpleNamespace(
        runs=runs, grid_ms=[0, 86_400_000], trade_pnls=[], paths=np.full((3, 1), 10_000.0)
    )

    assert report.plot_fan_chart(mc, tmp_path / "mc.png") == tmp_path / "mc.png"

    runs_panel, bootstrap_panel = drawn[0].axes
    assert runs_panel.collections  # the runs' bands
    assert [t.get_text() for t in bootstrap_panel.texts] == [report.NO_TRADES_TO_RESAMPLE]
    assert (tmp_path / "mc.png").read_bytes().startswith(PNG_MAGIC)


def _drawn_figures(monkeypatch) -> list:
    """The figures the plot functions save, drawn, to read their ticks and texts."""
    import matplotlib.figure

    drawn = []
    save = matplotlib.figure.Figure.savefig

    def keep(fig, *a, **k):
        fig.canvas.draw()
        drawn.append(fig)
        return save(fig, *a, **k)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    return drawn


def test_the_drawdown_axis_is_in_percent(tmp_path, monkeypatch):
    """A bare fraction (-0.030) on the drawdown axis reads as 0.03 %, not the 3 % that
    summary.json and the console give."""
    drawn = _drawn_figures(monkeypatch)
    times = [ms(2025, 5, 5) + i * 60_000 for i in range(100)]
    equity = [10_000.0 - 3.0 * i for i in range(100)]  # down to a 2.97 % drawdown

    report.plot_equity(times, equity, tmp_path / "equity.png")

    drawdown_axis = drawn[0].axes[1]
    labels = [t.get_text() for t in drawdown_axis.get_yticklabels() if t.get_text()]
    assert labels and all(label.endswith("%") for label in labels), labels
    assert drawdown_axis.get_ylabel() == "drawdown"


def test_the_monthly_returns_sit_on_a_box_readable_on_any_cell_colour(tmp_path, monkeypatch):
    """Black on the deep red of the worst month (the colour scale's end) was unreadable."""
    drawn = _drawn_figures(monkeypatch)
    times = [ms(2025, 5, 5), ms(2025, 5, 31, 23, 59), ms(2025, 6, 30, 23, 59)]

    report.plot_monthly_returns(times, [10_000.0, 9_000.0, 9_000.0], tmp_path / "monthly.png")

    texts = drawn[0].axes[0].texts
    assert [t.get_text() for t in texts] == ["-10.00%", "+0.00%"]
    for t in texts:
        box = t.get_bbox_patch()
        assert box is not None and box.get_facecolor()[:3] == (1.0, 1.0, 1.0)


def test_a_one_month_run_draws_that_month_alone(tmp_path, monkeypatch):
    """A week in May drew a row of twelve months, eleven of them empty, the week's return a
    small cell in it; the title says which days the run covers (its months may be partial)."""
    drawn = _drawn_figures(monkeypatch)
    times = [ms(2025, 5, 5) + i * 3_600_000 for i in range(7 * 24)]

    report.plot_monthly_returns(times, [10_000.0 + i for i in range(len(times))], tmp_path / "m")

    ax = drawn[0].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["May 2025"]
    assert [t.get_text() for t in ax.texts] == ["+1.67%"]
    assert ax.get_title() == "monthly returns (UTC), 2025-05-05 .. 2025-05-11"


def test_a_three_year_run_draws_a_year_per_row_and_no_month_outside_the_run(tmp_path, monkeypatch):
    """Mar 2022 .. Feb 2025: four year rows of twelve months, a value in each of the 36 months
    the run covers and none before its start or after its end."""
    drawn = _drawn_figures(monkeypatch)
    times = [ms(2022 + (2 + i) // 12, (2 + i) % 12 + 1, 15) for i in range(36)]

    report.plot_monthly_returns(times, [10_000.0 * 1.01**i for i in range(36)], tmp_path / "m")

    ax = drawn[0].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2022", "2023", "2024", "2025"]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(report.MONTHS)
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])) for t in ax.texts}
    assert len(ax.texts) == 36 and (0, 2) in cells and (3, 1) in cells
    assert not cells & {(0, 0), (0, 1), (3, 2)}  # Jan, Feb 2022 and Mar 2025: not run
    width, height = drawn[0].get_size_inches()
    assert width <= 10 and height >= 1.2 + 0.5 * 4  # a row per year, as tall as before


def test_an_equity_moving_by_cents_is_labelled_in_usdt_without_an_offset(tmp_path, monkeypatch):
    """A short run's equity (10,000.00 to 10,000.65) was labelled 0.0 .. 0.6 with `+1e4` in
    the corner; the price axis of a quiet minute the same way."""
    drawn = _drawn_figures(monkeypatch)
    times = [ms(2024, 8, 8, 23, 54) + i * 60_000 for i in range(7)]
    cents = [10_000.0, 10_000.0, 10_000.65, 9_999.62, 10_000.17, 10_000.3, 10_000.2]

    report.plot_equity(times, cents, tmp_path / "equity.png")
    report.plot_price(times, [61_700.1 + c / 1e4 for c in cents], [], {}, tmp_path / "p.png")

    for axis in (drawn[0].axes[0], drawn[1].axes[0]):
        labels = [t.get_text() for t in axis.get_yticklabels() if t.get_text()]
        assert axis.yaxis.get_offset_text().get_text() == ""
        assert labels and all(float(x.replace("\u2212", "-")) > 9_999 for x in labels), labels


def test_the_fan_charts_legends_leave_the_median_visible(tmp_path, monkeypatch):
    """The legends sat in the upper left, over the start of every losing run's curves."""
    drawn = _drawn_figures(monkeypatch)
    rng = np.random.default_rng(0)
    falling = 10_000.0 - np.cumsum(rng.uniform(0, 5, size=(5, 200)), axis=1)
    runs = [SimpleNamespace(curve=list(c)) for c in falling]
    mc = SimpleNamespace(
        runs=runs,
        grid_ms=[i * 3_600_000 for i in range(200)],
        trade_pnls=[-1.0] * 199,
        halt_note=lambda: report.halt_note(0.1, 0, 5),
        paths=falling,
    )

    report.plot_fan_chart(mc, tmp_path / "mc.png")

    for axis in drawn[0].axes:
        box = axis.get_legend().get_window_extent()
        (median,) = axis.get_lines()
        points = axis.transData.transform(median.get_xydata())
        assert not any(box.contains(x, y) for x, y in points), axis.get_title()


def test_the_equity_chart_says_what_ran_and_its_two_figures():
    # As the console line: "return -2.8337%, max drawdown 2.9174%" (the README's week).
    assert report.equity_title("BTCUSDT", "sma_crossover", -0.028337130835, 0.029173912251) == (
        "BTCUSDT sma_crossover: return -2.8337%, max drawdown 2.9174%"
    )


@pytest.mark.parametrize(
    ("metric", "value", "places", "text"),
    [
        ("total_return", -0.0153421, 2, "-1.53%"),  # a heatmap cell read -0.0153
        ("total_return", 0.000436482, 4, "+0.0436%"),
        ("max_drawdown", 0.0117554, 2, "1.18%"),
        ("win_rate", 0.22058823, 2, "22.06%"),
        ("sharpe", -27.1025067, 2, "-27.1"),
        ("profit_factor", float("nan"), 2, "n/a"),
    ],
)
def test_a_sweep_metric_is_shown_in_percent_when_it_is_a_fraction(metric, value, places, text):
    assert report.metric_text(metric, value, places=places) == text


def _settings_rows(config) -> dict[str, str]:
    """The report's settings as (name, shown value) pairs, from the run's summary settings."""
    page = report.render_html({"settings": config.settings()}, [])
    return dict(re.findall(r"<tr><th>([^<]+)</th><td>([^<]*)</td></tr>", page))


def test_the_report_shows_the_leverage_the_run_used_not_n_a():
    risk = replace(backtest_risk(D(1000)), leverage=5)

    assert _settings_rows(BacktestConfig())["leverage"] == "3"  # the daemon's default
    assert _settings_rows(BacktestConfig(risk=risk))["leverage"] == "5"  # --config's
    given = _settings_rows(BacktestConfig(risk=risk, leverage=10))  # --leverage
    assert given["leverage"] == given["risk.leverage"] == "10"


def test_counts_of_one_are_singular_in_the_report_and_console_sentences():
    # "bootstrap of 1 trades", "1 of the run's 1 settlements fall outside it"
    mc = {"runs": 1, "seed": 0, "percentiles": [], "bootstrap": {"trades": 1, "paths": 1}}
    page = report._monte_carlo_html(mc)
    funding = {"file": "f.csv", "recorded_from_ms": 0, "recorded_to_ms": 1, "unrecorded": 1}

    assert "<p>1 run, seed 0" in page and "bootstrap of 1 trade.</p>" in page
    assert report.funding_unrecorded_text({**funding, "settlements": 1}).endswith(
        "1 of the run's 1 settlement falls outside it and was settled at rate 0"
    )
