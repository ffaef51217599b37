"""Fixtures: a local exchange on 127.0.0.1 without market data (starts in well under a second)
and a factory of `RestConnection`s to it (closed at teardown)."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from core.clock import LiveClock
from exchange_sim.server import LocalExchange
from rest_connect import RestConnection, create_rest_connection

ExchangeFactory = Callable[..., Awaitable[LocalExchange]]
Connect = Callable[..., Awaitable[RestConnection]]


@pytest.fixture
async def exchange_factory() -> AsyncIterator[ExchangeFactory]:
    started: list[LocalExchange] = []

    async def start(**kwargs: Any) -> LocalExchange:
        kwargs.setdefault("data", None)
        kwargs.setdefault("symbols", ["BTCUSDT"])
        ex = await LocalExchange(**kwargs).start()
        started.append(ex)
        return ex

    yield start
    for ex in started:
        await ex.stop()


@pytest.fixture
async def exchange(exchange_factory: ExchangeFactory) -> LocalExchange:
    return await exchange_factory()


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    made: list[RestConnection] = []

    async def make(ex: LocalExchange, **kwargs: Any) -> RestConnection:
        kwargs.setdefault("api_key", ex.api_key)
        kwargs.setdefault("api_secret", ex.api_secret)
        kwargs.setdefault("clock", LiveClock())
        conn = await create_rest_connection(rest_url=ex.rest_url, **kwargs)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        await conn.close()
