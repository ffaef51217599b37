"""The signals the daemon's process answers on its event loop: SIGINT, SIGTERM and SIGHUP stop
it cleanly (SIGHUP: the terminal of an ssh session went away; by default it killed the daemon
with its orders working and no summary), SIGUSR1 pulls the kill switch."""

import asyncio
import signal
from collections.abc import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def catch_stop_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[str], None]) -> None:
    """`stop(signal name)` on each stop signal (a repeat is the caller's no-op)."""
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop, sig.name)


def release_stop_signals(loop: asyncio.AbstractEventLoop) -> None:
    """The stop signals back to Python's handling: only once the daemon has closed what it
    opened (a double Ctrl+C raised KeyboardInterrupt through the journal's close)."""
    for sig in STOP_SIGNALS:
        loop.remove_signal_handler(sig)


def catch_kill_signal(loop: asyncio.AbstractEventLoop, kill: Callable[[], None]) -> None:
    """`kill()` on SIGUSR1."""
    loop.add_signal_handler(signal.SIGUSR1, kill)


def release_kill_signal(loop: asyncio.AbstractEventLoop) -> None:
    loop.remove_signal_handler(signal.SIGUSR1)
