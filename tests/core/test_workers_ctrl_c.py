"""The worker processes of the commands' parallel maps (joblib: model training's fits, the
backtester's Monte Carlo and sweep runs) never get Ctrl+C: a terminal sends it to the whole
process group, and a worker still importing its modules printed a traceback of its own under
the command's one `interrupted` line. Each map runs in a new interpreter, whose first map
starts the workers (joblib reuses them within a process)."""

import subprocess
import sys

import pytest

from tests.ctrl_c import ROOT

_SCRIPT = """
import signal, sys
sys.path.insert(0, {root!r})
from backtest import robustness
from model import parallel

def sigint_held(*_args):
    return signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])

print({call})
print(sigint_held())
"""


@pytest.mark.parametrize(
    "call",
    [
        "parallel.parallel_map(sigint_held, (), [(i,) for i in range(4)], jobs=2)",
        "robustness.parallel_map(sigint_held, None, list(range(4)), jobs=2)",
    ],
    ids=["model_fits", "backtest_runs"],
)
def test_the_workers_of_a_parallel_map_hold_ctrl_c_back_and_the_command_does_not(call):
    script = _SCRIPT.format(root=str(ROOT), call=call)

    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )

    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines() == ["[True, True, True, True]", "False"]
