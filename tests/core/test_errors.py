"""Error classes grouped by action: an unknown outcome is never retried by the retry helper."""

import pytest

from core.backoff import Backoff, retry
from core.errors import (
    ExecutionStatusUnknown,
    OutcomeUnknown,
    RetryableError,
    coded_refusal_line,
    refusal_line,
)


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


POST_ONLY_WORDS = (
    "Due to the order could not be executed as maker, the Post Only order will be rejected. "
    "The order will not be recorded in the order history"
)


def test_a_post_only_refusal_is_said_short_on_the_console():
    assert refusal_line(-5022, POST_ONLY_WORDS) == (
        "post-only, it would have matched at once as taker (code -5022)"
    )
    assert coded_refusal_line(f"-5022 {POST_ONLY_WORDS}") == (
        "-5022 post-only, it would have matched at once as taker"
    )


def test_other_refusals_keep_the_exchanges_words():
    assert refusal_line(-2019, "Margin is insufficient.") == "Margin is insufficient. (code -2019)"
    assert coded_refusal_line("-2019 Margin is insufficient.") == "-2019 Margin is insufficient."
    assert coded_refusal_line("LIMIT needs a price") == "LIMIT needs a price"
