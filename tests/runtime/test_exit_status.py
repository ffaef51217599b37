"""The offline tools into a pipe whose reader went away (`| head -1`): no BrokenPipeError
traceback, and an exit status that says what happened."""

import sys

import pytest

from runtime.flags import exit_status
from tests.closed_pipe import run_with_reader_gone
from tests.ctrl_c import ROOT

KLINES = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"


def _printing(lines: int, status: int):
    def main() -> int:
        for i in range(lines):
            print(f"line {i}")
        return status

    return main


@pytest.mark.parametrize(
    "argv",
    [
        ["backtest_trading_strategy.py", "--data", str(KLINES), "--end", "2025-05-05T02:00",
         "--no-html", "--out", "{tmp}/o"],
        ["-m", "analysis.correlation", "--data", str(KLINES), "--end", "2025-05-06",
         "--out", "{tmp}/c.png"],
    ],
    ids=["backtest", "analysis"],
)  # fmt: skip
def test_a_tool_whose_reader_is_gone_prints_no_traceback(tmp_path, argv):
    returncode, err = run_with_reader_gone(
        [sys.executable, *(a.format(tmp=tmp_path) for a in argv)], cwd=ROOT
    )

    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert returncode in (0, 141), err


def test_a_command_stopped_midway_by_the_closed_pipe_exits_141(monkeypatch):
    def broken(*_args: object, **_kwargs: object) -> None:
        raise BrokenPipeError

    monkeypatch.setattr("builtins.print", broken)
    monkeypatch.setattr("os.dup2", lambda *_args: None)  # pytest's own stdout stays

    assert exit_status(_printing(3, 0)) == 141


def test_a_command_that_finished_keeps_its_status_when_the_last_flush_breaks(monkeypatch):
    def broken() -> None:
        raise BrokenPipeError

    monkeypatch.setattr(sys.stdout, "flush", broken)
    monkeypatch.setattr("os.dup2", lambda *_args: None)

    assert exit_status(_printing(0, 2)) == 2
