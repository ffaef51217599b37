"""Shared fixtures for tests that talk to the local exchange on 127.0.0.1 (port 0).

`local_exchange`: a stepped exchange (nothing moves until the test calls `ex.step`) on the
bundled BTCUSDT data. `exchange_factory`: start one with custom options (closed at teardown).
`binance_client`: python-binance AsyncClient pointed at `local_exchange`.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from exchange_sim.server import LocalExchange, connected_client

ExchangeFactory = Callable[..., Awaitable[LocalExchange]]


@pytest.fixture
async def exchange_factory() -> AsyncIterator[ExchangeFactory]:
    started: list[LocalExchange] = []

    async def start(**kwargs: Any) -> LocalExchange:
        kwargs.setdefault("speed", "step")
        ex = await LocalExchange(**kwargs).start()
        started.append(ex)
        return ex

    yield start
    for ex in started:
        await ex.stop()


@pytest.fixture
async def local_exchange(exchange_factory: ExchangeFactory) -> LocalExchange:
    return await exchange_factory()


@pytest.fixture
async def binance_client(local_exchange: LocalExchange) -> AsyncIterator[Any]:
    async with connected_client(local_exchange) as client:
        yield client
