"""The progress bar of a run (tqdm on stderr, or one that shows nothing) and the plain
row-by-row loop that moves it."""

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from backtest.run_lines import run_name


def progress_bar(total: int, enabled: bool, unit: str) -> Any:
    """A context manager with `update(k)` and `n`: tqdm's bar when `enabled`, else a silent one."""
    if not enabled:
        return _NoProgress()  # tqdm's import alone costs more than a short run
    return _bar(total, unit)


@contextlib.contextmanager
def _bar(total: int, unit: str) -> Iterator[Any]:
    """A tqdm bar on stderr, named as the run's lines are (`run_lines.named_run`), with the log
    lines of the run (`trading state ... -> HALTED`) written above it: printed as they were,
    each was glued to the end of the bar's line (`0/10080 [00:00<?, ?bar/s]trading state ...`)."""
    from tqdm import tqdm  # type: ignore[import-untyped]
    from tqdm.contrib.logging import logging_redirect_tqdm  # type: ignore[import-untyped]

    bar = tqdm(total=total, desc=run_name(), unit=unit, mininterval=0.5, leave=False)
    with bar, logging_redirect_tqdm(tqdm_class=tqdm):
        yield bar


class _NoProgress(contextlib.AbstractContextManager["_NoProgress"]):
    """A disabled progress bar: counts, shows nothing."""

    def __init__(self) -> None:
        self.n = 0

    def update(self, k: int) -> None:
        self.n += k

    def __exit__(self, *exc: object) -> None:
        return None


PROGRESS_EVERY = 10_000  # rows between two progress updates (one per row costs more than it)


def each_row(n: int, step: Callable[[int], None], progress: Any) -> None:
    """`step(i)` for every row in order, the plain loop (no fast path), moving `progress` every
    `PROGRESS_EVERY` rows."""
    for i in range(n):
        step(i)
        if i % PROGRESS_EVERY == PROGRESS_EVERY - 1:
            progress.update(PROGRESS_EVERY)
