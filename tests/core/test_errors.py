"""Error classes grouped by action: an unknown outcome is never retried by the retry helper."""

import pytest

from core.backoff import Backoff, retry
from core.errors import ExecutionStatusUnknown, OutcomeUnknown, RetryableError


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def test_unknown_outcome_is_not_a_retryable_error() -> None:
    assert not issubclass(ExecutionStatusUnknown, RetryableError)
    assert OutcomeUnknown is ExecutionStatusUnknown


async def test_retry_never_resends_a_call_whose_outcome_is_unknown() -> None:
    sleeps = Sleeps()
    calls = 0

    async def place_order() -> None:
        nonlocal calls
        calls += 1
        raise ExecutionStatusUnknown("503 Unknown error", sent_at_ms=1_000)

    with pytest.raises(ExecutionStatusUnknown) as info:
        await retry(place_order, backoff=Backoff(sleep=sleeps), max_attempts=5)

    assert calls == 1
    assert sleeps.delays == []
    assert info.value.sent_at_ms == 1_000
