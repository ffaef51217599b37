"""`Timers`: what happens because time passes (dead-man switches, GTD expiry, funding instants).

It only keeps the schedule; the engine runs what comes due. `next_ms` is the earliest instant
anything is due (the hot path compares each trade's time with it).
"""

import heapq
from typing import Any

from exchange_sim.engine.state import POS

COUNTDOWN = "countdown"
GTD = "gtd"


class Timers:
    """A heap of (due ms, kind, payload), the countdownCancelAll deadlines and the funding clock."""

    __slots__ = ("_heap", "_seq", "countdowns", "funding_interval_ms", "next_funding_ms", "next_ms")

    def __init__(self, now_ms: int, funding_interval_ms: int) -> None:
        self._heap: list[tuple[int, int, str, Any]] = []
        self._seq = 0
        self.countdowns: dict[tuple[str, str], int] = {}  # (account, symbol) -> due ms
        self.funding_interval_ms = funding_interval_ms
        self.next_funding_ms = (now_ms // funding_interval_ms + 1) * funding_interval_ms
        self.next_ms = self.next_funding_ms

    def add(self, due_ms: int, kind: str, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due_ms, self._seq, kind, payload))
        self.next_ms = min(self.next_ms, due_ms)

    def set_countdown(self, key: tuple[str, str], due_ms: int) -> None:
        """(Re)arm a dead-man switch; an earlier deadline of the same key stops counting."""
        self.countdowns[key] = due_ms
        self.add(due_ms, COUNTDOWN, key)

    def stop_countdown(self, key: tuple[str, str]) -> None:
        self.countdowns.pop(key, None)

    def pop_due(self, now_ms: int) -> tuple[int, str, Any] | None:
        """The next (due, kind, payload) at or before now, or None; stale countdowns are skipped."""
        while self._heap and self._heap[0][0] <= now_ms:
            due, _, kind, payload = heapq.heappop(self._heap)
            if kind == COUNTDOWN:
                if self.countdowns.get(payload) != due:
                    continue  # re-armed or stopped since
                del self.countdowns[payload]
            return due, kind, payload
        return None

    def funding_due(self, now_ms: int) -> bool:
        """True once per funding instant reached; schedules the next one."""
        if now_ms < self.next_funding_ms:
            return False
        interval = self.funding_interval_ms
        self.next_funding_ms = (now_ms // interval + 1) * interval
        return True

    def reschedule(self) -> None:
        self.next_ms = min(self._heap[0][0] if self._heap else POS, self.next_funding_ms)


__all__ = ["COUNTDOWN", "GTD", "Timers"]
