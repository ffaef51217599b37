"""Ctrl+C while a command still imports its modules (numpy, pandas, the backtester: up to a
second or two on a loaded machine): one line on stderr and exit 130, not a traceback.

Standard library only, so that a command installs it before its heavy imports
(`catch_while_importing`) and hands Ctrl+C back to Python once they are done
(`imports_done`), where its own handling takes over. The worker processes a command starts
(joblib's) are kept out of it (`workers_deaf_to_ctrl_c`): the command alone answers it.
"""

import contextlib
import signal
import sys
from collections.abc import Iterator


def _interrupted_before_start(_signum: int, _frame: object) -> None:
    print("interrupted: nothing was started", file=sys.stderr, flush=True)
    sys.exit(130)


def catch_while_importing() -> None:
    """Take Ctrl+C for the imports, only where it would interrupt anyway (Python's default
    handler in place: not under a parent that ignores it)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted_before_start)


def imports_done() -> None:
    """Give Ctrl+C back to Python's default (KeyboardInterrupt), if `catch_while_importing`
    took it."""
    if signal.getsignal(signal.SIGINT) is _interrupted_before_start:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def workers_deaf_to_ctrl_c() -> Iterator[None]:
    """Processes started inside the block never get Ctrl+C. A terminal sends it to the whole
    process group, and a joblib worker still importing its modules printed its own traceback
    under the command's one line. The block holds SIGINT back from this thread, whose signal
    mask a process started from it keeps through exec; the command gets a Ctrl+C of the
    meantime at once (through another thread) or at the block's end, and stops the workers.

    The standard library's resource tracker, which joblib starts on the way, unblocks SIGINT
    once it has started its process (3.11: SIG_UNBLOCK, not the mask it found): it is
    started before the block instead, which it then leaves alone."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
