"""Shared test helpers: paths to the copied real fixtures."""

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(relative: str):
    return json.loads((FIXTURES / relative).read_text())


@pytest.fixture
def btcusdt_entry_2022() -> dict:
    """Real BTCUSDT exchangeInfo entry (nautilus capture 2022-02-19): tick 0.10, notional 10."""
    info = load_fixture(
        "binance_api/rest/GET_fapi_v1_exchangeInfo__3symbols_2022-02-19__nautilus.json"
    )
    return next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")


@pytest.fixture
def btcusdt_entry_2021() -> dict:
    """Real BTCUSDT exchangeInfo entry (cryptofeed capture 2021-07-22): tick 0.01, notional 5."""
    return load_fixture(
        "binance_api/rest/GET_fapi_v1_exchangeInfo__BTCUSDT_entry_2021-07-22__cryptofeed.json"
    )
