"""Fixtures of the RiskManager tests: real BTCUSDT/ETHUSDT rules, a SimClock, fake books."""

from collections.abc import Callable
from typing import Any

import pytest

from core.clock import SimClock
from core.instrument import Instrument
from risk_manager import RiskConfig, RiskManager
from tests.conftest import load_fixture
from tests.risk_manager.helpers import NOON_MS, TEST_LIMITS, FakeBooks


@pytest.fixture
def instruments() -> dict[str, Instrument]:
    info = load_fixture(
        "binance_api/rest/GET_fapi_v1_exchangeInfo__3symbols_2022-02-19__nautilus.json"
    )
    return {
        s["symbol"]: Instrument.from_exchange_info(s)
        for s in info["symbols"]
        if s["symbol"] in ("BTCUSDT", "ETHUSDT")
    }


@pytest.fixture
def btc(instruments) -> Instrument:
    return instruments["BTCUSDT"]


@pytest.fixture
def clock() -> SimClock:
    return SimClock(NOON_MS)


@pytest.fixture
def books() -> FakeBooks:
    return FakeBooks()


@pytest.fixture
def make_risk(instruments, clock, books) -> Callable[..., RiskManager]:
    """A RiskManager on the test limits, with any of them overridden by keyword."""

    def make(**overrides: Any) -> RiskManager:
        config = RiskConfig(**{**TEST_LIMITS, **overrides})
        return RiskManager(config=config, instruments=instruments, clock=clock, view=books)

    return make


@pytest.fixture
def risk(make_risk) -> RiskManager:
    return make_risk()
