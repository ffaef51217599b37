"""A command started as a user would (`python -m module --help` or `python script.py --help`),
with a Ctrl+C (SIGINT) sent as it starts importing one module: what its early Ctrl+C handler
does before its `main` runs (`core.early_interrupt`)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = """
import importlib.abc, os, runpy, signal, sys
sys.path.insert(0, {root!r})
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever ran us

class CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {at!r}:
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
sys.argv = [{argv0!r}, "--help"]
{run}
"""


def ctrl_c_while_importing(command: str, at: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`command` (a module name, or a script of the repository ending in .py) interrupted as it
    imports `at`."""
    if command.endswith(".py"):
        path = str(ROOT / command)
        run = f"runpy.run_path({path!r}, run_name='__main__')"
    else:
        run = f"runpy.run_module({command!r}, run_name='__main__', alter_sys=True)"
    script = _SCRIPT.format(root=str(ROOT), at=at, argv0=command, run=run)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60
    )
