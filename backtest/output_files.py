"""The files a backtest run writes into its --out folder, and how a folder is told to hold a
backtest's report: read by the --out checks (`backtest.report_folder`) and by the --journal
ones (`backtest.journal_folder`), which may be given the same folder."""

import json
from pathlib import Path

# Every file a run may write into --out: a run that writes fewer (no --sweep, --no-html, no
# matplotlib) must not leave an earlier run's report or sweep next to its own summary.
OUTPUT_FILES = (
    "summary.json",
    "equity.csv",
    "trades.csv",
    "orders.csv",
    "equity.png",
    "price.png",
    "monthly_returns.png",
    "monte_carlo.png",
    "sweep.csv",
    "sweep_heatmap.png",
    "report.html",
)


def is_report_folder(out: Path) -> bool:
    """Whether `out` holds a backtest's report: a summary.json with the sections every run
    writes (`BacktestResult.summary_dict`)."""
    try:
        summary = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and {"metrics", "settings"} <= summary.keys()
