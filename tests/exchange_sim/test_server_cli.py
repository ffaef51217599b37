"""`python -m exchange_sim`: prints URLs and credentials, stops cleanly on SIGINT, bad args -> 2."""

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exchange_sim", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--speed", "fast"),
        ("--symbols", "NOPE"),
        ("--port", "70000"),
        ("--bogus",),
        ("--data", "/nonexistent/dir"),
        ("--status-every", "-1"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args) -> None:
    result = _run(*args)

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "error" in result.stderr


def test_runs_serves_and_stops_cleanly_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchange_sim", "--speed", "10"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        rest_url = lines[0].split()[-1]
        with urllib.request.urlopen(f"{rest_url}/fapi/v1/time", timeout=5) as resp:
            served = resp.status
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert lines[0].startswith("REST") and rest_url.startswith("http://127.0.0.1:")
    assert lines[1].split()[-1].startswith("ws://127.0.0.1:")
    assert len(lines[2].split()[-1]) == 64
    assert served == 200
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_prints_a_status_line_with_the_last_trade_while_running() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchange_sim", "--speed", "10", "--status-every", "0.5"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(6)]  # 5 header lines, then a status
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()

    status = lines[5]
    assert status.startswith("20") and status.split()[0].endswith("Z")
    assert "BTCUSDT 6" in status and "aggTrade 3000" in status and "recorded" in status
    assert "ws clients 0" in status
