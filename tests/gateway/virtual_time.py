"""Simulated time for async tests: a SimClock plus a sleep that waits for the test to advance it.

Inject `vt.clock` and `vt.sleep` into the component; then `await vt.advance(seconds)` moves
time forward, waking each sleeper at its due time in order and letting the loop run what it
woke. Nothing waits on the wall clock, so a 5-second silence timeout costs no real time.
"""

import asyncio
import heapq
import itertools

from core.clock import SimClock


class VirtualTime:
    def __init__(self, start_ms: int = 1_723_161_240_000) -> None:
        self.clock = SimClock(start_ms)
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now_ms(self) -> int:
        return self.clock.now_ms()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        due = self.clock.now_ms() + max(1, round(seconds * 1000))
        heapq.heappush(self._sleepers, (due, next(self._order), fut))
        await fut

    def sleepers(self) -> int:
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking sleepers in due order."""
        target = self.clock.now_ms() + round(seconds * 1000)
        while self._sleepers and self._sleepers[0][0] <= target:
            due, _, fut = heapq.heappop(self._sleepers)
            if fut.done():
                continue
            self.clock.set_ms(max(due, self.clock.now_ms()))
            fut.set_result(None)
            await settle()
        self.clock.set_ms(target)
        await settle()


async def settle(turns: int = 20) -> None:
    """Let the event loop run what is ready (callbacks, woken tasks, ready socket I/O)."""
    for _ in range(turns):
        await asyncio.sleep(0)
