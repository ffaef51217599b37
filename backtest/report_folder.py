"""The backtest command's --out folder: the files a run writes there besides `write_outputs`'
(the robustness sections and plots, report.html), and the checks that keep a run from
replacing files no backtest wrote."""

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from backtest import realism, report, robustness
from backtest.cli_values import UsageError
from backtest.output_files import OUTPUT_FILES, is_report_folder
from backtest.runner import BacktestResult
from core.redaction import shown_path


def check_not_foreign(out: Path, flag: str = "--out") -> None:
    """A run replaces the files of OUTPUT_FILES it finds in --out and removes those it does
    not write (an earlier run's): in a folder that holds no backtest's report, a file of such
    a name is the user's own (their trades.csv), so the run is refused before it starts
    instead of deleting it. `flag` names the folder's option (model.train's --backtest-out)."""
    if not out.is_dir() or is_report_folder(out):
        return
    found = [name for name in OUTPUT_FILES if (out / name).exists()]
    if found:
        raise UsageError(
            f"{flag} {shown_path(out)} holds {', '.join(found)} but no backtest's summary.json: "
            "a run would replace or remove them; choose another folder, or move them"
        )


def remove_earlier_outputs(out: Path) -> None:
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)


def add_sections(out: Path, sections: dict[str, object]) -> dict[str, object]:
    """summary.json with the robustness sections added (same layout as write_outputs')."""
    path = out / "summary.json"
    summary = json.loads(path.read_text())
    summary.update({k: v for k, v in sections.items() if v is not None})
    path.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    return summary


def write_robustness(
    out: Path,
    mc: robustness.MonteCarloResult | None,
    sweep: robustness.SweepResult | None,
) -> list[Path]:
    pngs: list[Path | None] = []
    if mc is not None:
        pngs.append(report.plot_fan_chart(mc, out / "monte_carlo.png"))
    if sweep is not None:
        robustness.write_sweep_csv(sweep, out / "sweep.csv")
        table = robustness.heatmap_table(sweep)
        title = ("mean out-of-sample " if sweep.spec.walk_forward else "") + sweep.spec.metric
        heatmap = out / "sweep_heatmap.png"
        pngs.append(report.plot_sweep_heatmap(table, sweep.spec.metric, title, heatmap))
    return [p for p in pngs if p is not None]


def write_report(
    args: argparse.Namespace, out: Path, result: BacktestResult, summary: dict, extra: list[Path]
) -> None:
    monthly = report.plot_monthly_returns(
        result.times_ms, result.equity, out / "monthly_returns.png"
    )
    pngs = [out / "equity.png", out / "price.png", *([monthly] if monthly else []), *extra]
    if args.html:
        report.write_html(summary, pngs, out / "report.html")


def gaps_section(gaps: list[tuple[int, int]]) -> dict[str, object] | None:
    """summary.json's `data_gaps`: holes in the 1m klines replayed (None without any)."""
    if not gaps:
        return None
    start, bars = max(gaps, key=lambda g: g[1])
    return {
        "gaps": len(gaps),
        "missing_bars": sum(n for _, n in gaps),
        "longest": {"from_ms": start, "bars": bars},
    }


def funding_section(result: BacktestResult) -> dict[str, object] | None:
    """summary.json's `funding_unrecorded`: the run's settlements its funding file does not
    record, settled at rate 0 (None without a file, or when it covers the run)."""
    source = result.config.funding
    if source in ("", "none"):
        return None
    m = result.summary
    gap = realism.unrecorded_funding(realism.load_funding(source), m.start_ms, m.end_ms)
    return None if gap is None else {"file": source, **asdict(gap)}
