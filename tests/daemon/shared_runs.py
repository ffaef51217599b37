"""One daemon session for several tests, run once per test session even across the xdist
workers: each test keeps its own name and assertions, and reads what the session left.

A daemon session costs seconds of real time (two Python processes, a warm-up, the trading);
tests that only look at different sides of the same session (its stdout, its journal, the
exchange's account at its stop, an audit of its recording) share one. The first worker that
needs it runs it under a file lock; a worker that needs it meanwhile waits on that lock and
then reads the result, as xdist's documentation suggests for a session fixture.

The session's directory is read-only to the tests; a test that changes it (a restart in the
same folder) works on a copy.
"""

import fcntl
import json
import os
import shutil
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

RESULT = "result.json"
FAILED = "failed.txt"


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory every worker of this pytest run sees: the base temp itself without xdist,
    its parent (one per run, holding the workers' own) with it."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def run_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, produce: Callable[[Path], dict[str, Any]]
) -> tuple[Path, dict[str, Any]]:
    """(the session's directory, what `produce` returned for it: JSON), `produce(workdir)`
    running once in this pytest run. A session that failed fails every test that shares it,
    with the first failure's traceback, instead of running it again."""
    root = shared_root(tmp_path_factory) / "shared-runs"
    root.mkdir(exist_ok=True)
    workdir = root / name
    with open(root / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if (workdir / FAILED).exists():
            pytest.fail(f"the shared session {name!r} failed:\n{(workdir / FAILED).read_text()}")
        if not (workdir / RESULT).exists():
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir()
            try:
                result = produce(workdir)
            except BaseException:
                (workdir / FAILED).write_text(traceback.format_exc())
                raise
            (workdir / RESULT).write_text(json.dumps(result))
    return workdir, json.loads((workdir / RESULT).read_text())
