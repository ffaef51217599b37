"""Ctrl+C during a backtest: one line, exit status 130, no traceback, and no --out folder
that looks like a finished run's (a summary.json beside no report)."""

from pathlib import Path

import backtest_trading_strategy as cli
from tests.backtest.test_cli import KLINES
from tests.ctrl_c import ctrl_c_while_importing


def ctrl_c(*_args: object, **_kwargs: object) -> None:
    raise KeyboardInterrupt


def small_run(tmp_path: Path) -> list[str]:
    return ["--data", str(KLINES), "--end", "2025-05-05T02:00", "--out", str(tmp_path / "o")]


def test_ctrl_c_during_the_run_exits_130_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "run_backtest", ctrl_c)

    assert cli.main(small_run(tmp_path)) == 130
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "backtest_trading_strategy.py: interrupted: the backtest did not finish; nothing was "
        f"written to {tmp_path / 'o'}"
    ]
    assert not (tmp_path / "o" / "summary.json").exists()


def test_ctrl_c_while_the_report_is_written_leaves_none_of_the_run_s_files(
    tmp_path, capsys, monkeypatch
):
    """summary.json, the CSVs and the equity plot were written when the report's plots
    started; a Ctrl+C there left them without report.html, as if the run had finished."""
    monkeypatch.setattr(cli, "write_report", ctrl_c)

    assert cli.main(small_run(tmp_path)) == 130
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == []
    assert "Traceback" not in capsys.readouterr().err


def test_ctrl_c_while_the_script_imports_its_modules_exits_130_with_one_line(tmp_path):
    """The imports (numpy, pandas, the daemon's code) take about a second; a Ctrl+C there
    printed a KeyboardInterrupt traceback through the import system."""
    run = ctrl_c_while_importing("backtest_trading_strategy.py", "backtest.runner", tmp_path)

    assert run.returncode == 130, run.stderr[-2000:]
    assert run.stderr.splitlines() == ["interrupted: nothing was started"]
    assert run.stdout == ""
