"""Ctrl+C while a command still imports its modules (numpy, pandas, the backtester: up to a
second or two on a loaded machine): one line on stderr and exit 130, not a traceback.

Standard library only, so that a command installs it before its heavy imports
(`catch_while_importing`) and hands Ctrl+C back to Python once they are done
(`imports_done`), where its own handling takes over.
"""

import signal
import sys


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
