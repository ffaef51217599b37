"""The shared backoff helper: growth, cap, jitter, reset, Retry-After, cancellation."""

import asyncio

import pytest

from core.backoff import Backoff, retry
from core.errors import RejectedError, RetryableError


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def test_delays_double_up_to_the_cap_without_jitter():
    backoff = Backoff(initial_s=0.5, max_s=3.0, jitter=0.0)

    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_only_shortens_the_delay_by_at_most_its_fraction():
    low = Backoff(initial_s=1.0, jitter=0.5, rand=lambda: 1.0)
    high = Backoff(initial_s=1.0, jitter=0.5, rand=lambda: 0.0)

    assert (low.next_delay(), high.next_delay()) == (0.5, 1.0)


def test_reset_starts_the_sequence_again():
    backoff = Backoff(initial_s=1.0, jitter=0.0)
    backoff.next_delay()
    backoff.next_delay()

    backoff.reset()

    assert backoff.attempts == 0 and backoff.next_delay() == 1.0


async def test_retry_waits_retry_after_and_returns_the_result():
    sleeps = Sleeps()
    calls = iter([RetryableError("429", retry_after_s=7.0), RetryableError("drop"), "ok"])

    async def call() -> str:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    backoff = Backoff(initial_s=0.1, jitter=0.0, sleep=sleeps)
    result = await retry(call, backoff=backoff)

    assert result == "ok" and sleeps.delays == [7.0, 0.2] and backoff.attempts == 0


async def test_retry_lets_a_rejection_through_at_once():
    sleeps = Sleeps()

    async def call() -> None:
        raise RejectedError(-1121, "Invalid symbol.")

    with pytest.raises(RejectedError):
        await retry(call, backoff=Backoff(sleep=sleeps))
    assert sleeps.delays == []


async def test_retry_gives_up_after_max_attempts():
    async def call() -> None:
        raise RetryableError("down")

    with pytest.raises(RetryableError):
        await retry(call, backoff=Backoff(sleep=Sleeps()), max_attempts=3)


async def test_cancellation_during_a_wait_propagates():
    backoff = Backoff(initial_s=10.0, jitter=0.0)
    task = asyncio.create_task(backoff.wait())
    await asyncio.sleep(0)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        Backoff(initial_s=2.0, max_s=1.0)
