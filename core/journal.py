"""The journal seam: every decision, order intent, order event and fill is recorded *before* it
is acted on. `book_keeper.journal.SqliteJournal` is the durable implementation; floors below
the book keeper (the live venue) see only this protocol.
"""

from typing import Protocol

from core.events import Event


class Journal(Protocol):
    def record(self, event: Event) -> None:
        """Append `event`; returns only once it would survive a crash of the process."""
        ...


class MemoryJournal:
    """A non-durable journal for tests and benchmarks: keeps every event in a list."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def record(self, event: Event) -> None:
        self.events.append(event)
