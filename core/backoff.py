"""The one backoff helper: jittered exponential delays for reconnects and REST retries.

Delays are in seconds. The n-th consecutive failure waits `min(max_s, initial_s * factor**n)`,
scaled down by a random fraction of at most `jitter` so that many clients restarting together
do not hammer the server in lockstep. `reset()` after a good connection or a successful call
starts the sequence again. Sleep and randomness are injectable for tests, and
`asyncio.CancelledError` is never swallowed: a cancelled wait or call propagates immediately.
"""

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from core.errors import RetryableError

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[object]]


class Backoff:
    """Jittered exponential backoff state for one retry loop (not shared between loops)."""

    __slots__ = ("_attempts", "_rand", "_sleep", "factor", "initial_s", "jitter", "max_s")

    def __init__(
        self,
        *,
        initial_s: float = 0.5,
        max_s: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.5,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if initial_s < 0 or max_s < initial_s or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError(
                f"bad backoff parameters: initial_s={initial_s} max_s={max_s} "
                f"factor={factor} jitter={jitter}"
            )
        self.initial_s = initial_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter
        self._sleep = sleep
        self._rand = rand
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """Consecutive failures since the last reset."""
        return self._attempts

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; counts one more failure."""
        ceiling = min(self.max_s, self.initial_s * self.factor**self._attempts)
        self._attempts += 1
        return ceiling * (1.0 - self.jitter * self._rand())

    def reset(self) -> None:
        """Call after a good connection or a successful request."""
        self._attempts = 0

    async def sleep(self, delay_s: float) -> None:
        """Sleep with the injected sleep function (cancellation propagates)."""
        await self._sleep(delay_s)

    async def wait(self, at_least_s: float = 0.0) -> float:
        """Sleep for the next delay (or `at_least_s`, e.g. a Retry-After, if longer)."""
        delay = max(self.next_delay(), at_least_s)
        await self._sleep(delay)
        return delay


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    max_attempts: int | None = None,
    retry_on: tuple[type[BaseException], ...] = (RetryableError,),
    on_retry: Callable[[BaseException, float], object] | None = None,
) -> T:
    """Run `call` until it succeeds, waiting with `backoff` after each retryable failure.

    A `RetryableError` with `retry_after_s` waits at least that long. Anything not in
    `retry_on` (and `CancelledError`, always) propagates at once; after `max_attempts`
    failures the last error propagates.
    """
    failures = 0
    while True:
        try:
            result = await call()
        except asyncio.CancelledError:
            raise
        except retry_on as exc:
            failures += 1
            if max_attempts is not None and failures >= max_attempts:
                raise
            at_least = getattr(exc, "retry_after_s", None) or 0.0
            delay = max(backoff.next_delay(), at_least)
            if on_retry is not None:
                on_retry(exc, delay)
            await backoff.sleep(delay)
            continue
        backoff.reset()
        return result
