"""deploy/binance-futures-daemon.service: the unit a VPS user installs agrees with how the
daemon starts, stops and exits, and systemd itself accepts it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import app
from trading_engine.daemon import SHUTDOWN_BUDGET_S
from trading_engine.daemon_error import StartFailure

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "binance-futures-daemon.service"
HOME = "/home/trader/binance-futures-daemon"


def unit_values(text: str) -> dict[tuple[str, str], str]:
    """(section, key) -> value of a unit file's `Key=Value` lines (comments skipped)."""
    values: dict[tuple[str, str], str] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        values[(section, key)] = value
    return values


def service(key: str) -> str:
    return unit_values(UNIT.read_text())[("Service", key)]


def test_it_runs_app_py_from_the_folder_it_may_write() -> None:
    assert service("WorkingDirectory") == HOME
    assert service("ExecStart").split()[:2] == [f"{HOME}/.venv/bin/python", "app.py"]
    assert HOME in service("ReadWritePaths").split()
    assert service("Environment") == "PYTHONUNBUFFERED=1"


def test_a_configuration_mistake_is_not_restarted(tmp_path: Path) -> None:
    """The daemon's exit status for a mistake in the settings (or keys, or the account: a
    start that would fail the same way) is the one the unit does not restart: a restart
    every 30 s would repeat the same line forever. Exit 1 (may clear by itself) is."""
    config = tmp_path / "config.toml"
    config.write_text("[risk]\nleverage = 500\n")
    with pytest.raises(SystemExit) as refused:
        app.load(["--config", str(config), "--check-config"])
    assert refused.value.code == 2 == StartFailure.NEEDS_THE_USER  # and keys the exchange refuses
    assert service("RestartPreventExitStatus").split() == ["2"]
    assert service("Restart") == "on-failure"


def test_systemd_waits_for_the_whole_stop_and_signals_the_daemon_only() -> None:
    """The daemon's stop (its cancels, the last reconciliation, the summary) fits in 5 s;
    systemd must not kill it first, and must not SIGTERM the embedded exchange beside it
    (KillMode=mixed: the main process only, SIGKILL to the rest at the timeout)."""
    assert SHUTDOWN_BUDGET_S + 1 <= 5
    assert float(service("TimeoutStopSec")) >= 2 * 5
    assert service("KillSignal") == "SIGTERM"
    assert service("KillMode") == "mixed"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_it_on_this_checkout(tmp_path: Path) -> None:
    """The shipped unit with its example paths pointed at this checkout and interpreter:
    every key known and every value parsed (unknown keys and bad values are only warnings
    to systemd at start, hence this check)."""
    text = UNIT.read_text().replace(f"{HOME}/.venv/bin/python", sys.executable)
    local = tmp_path / UNIT.name
    local.write_text(text.replace(HOME, str(REPO)).replace("User=trader", "User=root"))
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(local)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == ""
