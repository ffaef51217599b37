"""An account in Hedge Mode is refused at start in one line: the books keep one position per
symbol, and Binance refuses every order without a positionSide there (-4061), so the daemon
would have started, then failed at each order."""

import asyncio
from typing import Any

import pytest

from trading_engine.daemon import HEDGE_MODE, DaemonError, check_one_way_mode


class Answers:
    """The REST connection's `call`, answering GET /fapi/v1/positionSide/dual."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, method: str, /, **params: Any) -> Any:
        self.calls.append((method, params))
        return self.answer


@pytest.mark.parametrize("hedge", [True, "true"])
def test_an_account_in_hedge_mode_is_refused_in_one_line(hedge):
    rest = Answers({"dualSidePosition": hedge})

    with pytest.raises(DaemonError) as refused:
        asyncio.run(check_one_way_mode(rest))  # type: ignore[arg-type]

    assert str(refused.value) == HEDGE_MODE
    assert rest.calls == [("futures_get_position_mode", {"weight": 30})]


@pytest.mark.parametrize("answer", [{"dualSidePosition": False}, {}, None, "garbage"])
def test_one_way_mode_or_an_answer_that_says_nothing_goes_on(answer):
    asyncio.run(check_one_way_mode(Answers(answer)))  # type: ignore[arg-type]
