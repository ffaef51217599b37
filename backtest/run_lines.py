"""The warnings of a backtest that is one of several a command runs: named, or not printed.

A backtest's pipeline warns as the daemon does (`trading state ACTIVE -> HALTED: ...`,
`BTCUSDT: its stop-loss closed the long; ...`). A command that runs several backtests
(`model.review`'s candidate and promoted model, `model.train --holdout-days`' model and its
baseline, a Monte Carlo's or a sweep's many runs) printed them without saying which run they
came from. Inside `named_run(name)` each such line starts with the run's name; inside
`quiet_run()` only its errors are printed. Both hold per thread, so runs on the threads of one
worker do not change each other's; outside them the lines are as they were (the daemon's, a
single backtest's).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator

# The loggers a backtest's run writes to (the ExecManager and its protection, the books, the
# venue, a model strategy).
RUN_LOGGERS = (
    "trading_engine.exec_manager",
    "book_keeper.book_keeper",
    "backtest.venue",
    "trading_engine.strategies.logistic_regression",
)


class _RunLines(logging.Filter):
    """Per thread: the name the run's lines start with, and whether its warnings are dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self.local, "quiet", False) and record.levelno < logging.ERROR:
            return False
        name = getattr(self.local, "name", None)
        if name is not None:
            # The record is this call's own (a logger's filters see it once, before any
            # handler), so it is named here once.
            record.msg, record.args = f"{name}: {record.getMessage()}", None
        return True


_RUN_LINES = _RunLines()
for _name in RUN_LOGGERS:
    logging.getLogger(_name).addFilter(_RUN_LINES)


@contextlib.contextmanager
def _set(attr: str, value: object) -> Iterator[None]:
    before = getattr(_RUN_LINES.local, attr, None)
    setattr(_RUN_LINES.local, attr, value)
    try:
        yield
    finally:
        setattr(_RUN_LINES.local, attr, before)


@contextlib.contextmanager
def named_run(name: str) -> Iterator[None]:
    """A backtest whose lines start `name: `. What the command printed before is flushed
    first: into a pipe its stdout is buffered and its stderr is not, so the run's lines came
    out before the report printed ahead of them (a training's, in `model.review`)."""
    sys.stdout.flush()
    with _set("name", name):
        yield


def run_name() -> str | None:
    """The name `named_run` gives this thread's backtest (None outside one): its progress bar
    carries it too, or a command's two runs showed two bars alike, saying neither which."""
    name = getattr(_RUN_LINES.local, "name", None)
    return name if isinstance(name, str) else None


@contextlib.contextmanager
def quiet_run() -> Iterator[None]:
    """A backtest beside the one a command is about (a Monte Carlo's or a sweep's, a
    baseline): its warnings are not printed, its errors are. 100 runs a loss limit halts
    printed 200 `trading state` lines, besides one per stop-loss fill, naming neither the run
    nor its knobs (each run's result is in the command's report)."""
    with _set("quiet", True):
        yield
