"""Daemon sessions several tests of different files read (tests/daemon/shared_runs.py): each
runs once per pytest run, whichever of its tests comes first, on whichever worker.

The tests of one session carry `@pytest.mark.shared_session(name)` (registered in
tests/conftest.py: this file imports test modules that use it) and are collected next to
each other: xdist's work stealing then gives them to one worker, one after the other (two
workers needing the session at once would leave one idle on its lock while the other runs
it: 25 s of a 60 s session seen once).
"""

from pathlib import Path
from typing import Any

import pytest

from tests.daemon.shared_runs import run_once
from tests.daemon.test_daemon_books import default_app_run
from tests.daemon.test_daemon_kill_switch import kill_file_session, usr1_then_reset_halt_session

Shared = tuple[Path, dict[str, Any]]


def _session_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("shared_session")
    return None if marker is None else str(marker.args[0])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test of a shared session moves up to just after the first one collected."""
    groups: dict[str, list[pytest.Item]] = {}
    order: list[list[pytest.Item]] = []
    for item in items:
        name = _session_of(item)
        if name is None:
            order.append([item])
        elif name in groups:
            groups[name].append(item)
        else:
            groups[name] = [item]
            order.append(groups[name])
    items[:] = [item for group in order for item in group]


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
