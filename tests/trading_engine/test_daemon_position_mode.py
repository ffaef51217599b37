"""An account in Hedge Mode is refused at start in one line: the books keep one position per
symbol, and Binance refuses every order without a positionSide there (-4061), so the daemon
would have started, then failed at each order. So is one in Multi-Assets Mode: the books keep
one USDT wallet, and there the margin is the USD value of every asset."""

import asyncio
from typing import Any

import pytest

from core.errors import RejectedError
from trading_engine.account_checks import (
    HEDGE_MODE,
    MULTI_ASSETS_MODE,
    check_one_way_mode,
    check_single_asset_mode,
)
from trading_engine.daemon_error import DaemonError


class Answers:
    """The REST connection's `call`, answering GET /fapi/v1/positionSide/dual."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, method: str, /, **params: Any) -> Any:
        self.calls.append((method, params))
        if isinstance(self.answer, Exception):
            raise self.answer
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


# GET /fapi/v1/accountConfig as the reference prints it (section 7.5), multiAssetsMargin aside.
ACCOUNT_CONFIG = {
    "feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
    "dualSidePosition": False, "updateTime": 0, "tradeGroupId": -1,
}  # fmt: skip


@pytest.mark.parametrize("multi", [True, "true"])
def test_an_account_in_multi_assets_mode_is_refused_in_one_line(multi):
    rest = Answers({**ACCOUNT_CONFIG, "multiAssetsMargin": multi})

    with pytest.raises(DaemonError) as refused:
        asyncio.run(check_single_asset_mode(rest))  # type: ignore[arg-type]

    assert str(refused.value) == MULTI_ASSETS_MODE
    assert "\n" not in MULTI_ASSETS_MODE
    assert rest.calls == [("futures_account_config", {"weight": 5})]


@pytest.mark.parametrize(
    "answer",
    [
        {**ACCOUNT_CONFIG, "multiAssetsMargin": False},  # what the local exchange answers
        ACCOUNT_CONFIG,
        None,
        "garbage",
        RejectedError(-1000, "An unknown error occurred while processing the request."),
    ],
)
def test_single_asset_mode_or_an_answer_that_says_nothing_goes_on(answer):
    asyncio.run(check_single_asset_mode(Answers(answer)))  # type: ignore[arg-type]
