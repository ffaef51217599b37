"""The last reconciliation the books compared, as status.json says it."""

from collections.abc import Callable
from typing import Any

from core.events import VenueSnapshot
from runtime.status_file import HostTime, host_time, time_fields


class Reconciled:
    """The last reconciliation with the exchange that the books compared, for status.json:
    when (this machine's clocks: `--status` and a monitor measure its age as the heartbeat's)
    and the differences it found (each adopted from the exchange and logged). A VPS user reads
    whether the books were checked since a fault; the chaos test stops on it."""

    def __init__(self) -> None:
        self.at: HostTime | None = None
        self.differences = 0

    def watch(
        self, handler: Callable[[Any, int | None], None], differences: Callable[[], int]
    ) -> Callable[[Any, int | None], None]:
        """`handler` (the venue events' target), noting each `VenueSnapshot` once it is applied;
        `differences`: the books' running count of differences."""

        def seen(item: Any, now: int | None) -> None:
            if not isinstance(item, VenueSnapshot):
                handler(item, now)
                return
            before = differences()
            handler(item, now)
            self.at = host_time()
            self.differences = max(0, differences() - before)  # a withdrawal: none found

        return seen

    def status(self) -> dict[str, Any]:
        """`last_reconciled_ms` (+ `_steady_ms`) and `last_reconcile_differences`: None before
        the first reconciliation."""
        if self.at is None:
            return {"last_reconciled_ms": None, "last_reconcile_differences": None}
        return {
            **time_fields("last_reconciled", self.at),
            "last_reconcile_differences": self.differences,
        }
