"""The late-bound callback between the stream / the venue and the ExecManager."""

from collections.abc import Callable
from typing import Any

from book_keeper.journal_errors import JournalError


class Relay:
    """Late-bound callback: the stream and the venue are built before the ExecManager that
    listens to them; nothing is handed on before `target` is set. Each item goes on with the
    time of our clock it is handled at (`target(item, now_ms)`): the one its caller read (the
    market-data sink), else read here once (`now_ms`: the venue's events), shared with
    `before` (the pause watch's tick)."""

    def __init__(
        self,
        on_journal_error: Callable[[JournalError], None] | None = None,
        before: Callable[[int], None] | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.target: Callable[[Any, int | None], None] | None = None
        self.seen: list[Any] | None = None  # set to a list to keep a copy of what passes
        self._on_journal_error = on_journal_error
        self._before = before  # called first with each item (the pause watch's tick)
        self._now_ms = now_ms

    def __call__(self, item: Any, now: int | None = None) -> None:
        if now is None and self._now_ms is not None:
            now = self._now_ms()
        if self._before is not None and now is not None:
            self._before(now)
        if self.seen is not None:
            self.seen.append(item)
        if self.target is not None:
            try:
                self.target(item, now)
            except JournalError as exc:
                if self._on_journal_error is None:
                    raise
                self._on_journal_error(exc)
