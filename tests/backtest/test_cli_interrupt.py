"""Ctrl+C during a backtest: one line, exit status 130, no traceback, and no --out folder
that looks like a finished run's (a summary.json beside no report)."""

import os
import subprocess
import sys
from pathlib import Path

import backtest_trading_strategy as cli
from tests.backtest.test_cli import KLINES, ROOT


def ctrl_c(*_args: object, **_kwargs: object) -> None:
    raise KeyboardInterrupt


def small_run(tmp_path: Path) -> list[str]:
    return ["--data", str(KLINES), "--end", "2025-05-05T02:00", "--out", str(tmp_path / "o")]


def test_ctrl_c_during_the_run_exits_130_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "run_backtest", ctrl_c)

    assert cli.main(small_run(tmp_path)) == 130
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"interrupted: the backtest did not finish; nothing was written to {tmp_path / 'o'}"
    ]
    assert not (tmp_path / "o" / "summary.json").exists()


def test_ctrl_c_while_the_report_is_written_leaves_none_of_the_run_s_files(
    tmp_path, capsys, monkeypatch
):
    """summary.json, the CSVs and the equity plot were written when the report's plots
    started; a Ctrl+C there left them without report.html, as if the run had finished."""
    monkeypatch.setattr(cli, "_write_report", ctrl_c)

    assert cli.main(small_run(tmp_path)) == 130
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == []
    assert "Traceback" not in capsys.readouterr().err


def test_ctrl_c_while_the_script_imports_its_modules_exits_130_with_one_line(tmp_path):
    """The imports (numpy, pandas, the daemon's code) take about a second; a Ctrl+C there
    printed a KeyboardInterrupt traceback through the import system."""
    script = (
        "import importlib.abc, os, runpy, signal, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "class CtrlC(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'backtest.runner':\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "sys.meta_path.insert(0, CtrlC())\n"
        "sys.argv = ['backtest_trading_strategy.py', '--help']\n"
        f"runpy.run_path({str(ROOT / 'backtest_trading_strategy.py')!r}, run_name='__main__')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, env=dict(os.environ),
    )  # fmt: skip

    assert run.returncode == 130, run.stderr[-2000:]
    assert run.stderr.splitlines() == ["interrupted: nothing was started"]
    assert run.stdout == ""
