"""Daemon sessions several tests of different files read (tests/daemon/shared_runs.py): each
runs once per pytest run, whichever of its tests comes first, on whichever worker."""

from pathlib import Path
from typing import Any

import pytest

from tests.daemon.shared_runs import run_once
from tests.daemon.test_daemon_books import default_app_run
from tests.daemon.test_daemon_kill_switch import kill_file_session, usr1_then_reset_halt_session

Shared = tuple[Path, dict[str, Any]]


@pytest.fixture
def kill_file(tmp_path_factory) -> Shared:
    """The kill-switch file pulled on a trading daemon: test_daemon_kill_switch.py checks the
    halt, test_parity_audit.py audits the session."""
    return run_once(tmp_path_factory, "kill-file", kill_file_session)


@pytest.fixture
def usr1_then_reset_halt(tmp_path_factory) -> Shared:
    """SIGUSR1 on a trading daemon, then a restart with --reset-halt: test_daemon_kill_switch.py
    checks the halt, test_parity_audit.py audits the restart's session."""
    return run_once(tmp_path_factory, "usr1-then-reset-halt", usr1_then_reset_halt_session)


@pytest.fixture
def default_run(tmp_path_factory) -> Shared:
    """`python app.py --duration 60` in a fresh folder: test_daemon_books.py checks it,
    test_daemon_lifecycle.py runs the daemon a second time in (a copy of) that folder."""
    return run_once(tmp_path_factory, "default-app-run", default_app_run)
