"""The test suite cannot reach anything but this machine."""

import socket

import aiohttp
import pytest

from tests.conftest import NonLoopbackConnection


def test_connecting_to_a_public_address_fails_before_any_packet():
    with socket.socket() as sock, pytest.raises(NonLoopbackConnection):
        sock.connect(("93.184.216.34", 443))


def test_resolving_a_public_name_fails():
    with pytest.raises(NonLoopbackConnection):
        socket.getaddrinfo("fapi.binance.com", 443)


async def test_http_clients_cannot_reach_binance():
    async with aiohttp.ClientSession() as session:
        with pytest.raises((NonLoopbackConnection, aiohttp.ClientError)) as err:
            await session.get("https://fapi.binance.com/fapi/v1/ping")
    assert "non-loopback" in str(err.value) or isinstance(
        err.value.__cause__, NonLoopbackConnection
    )


def test_loopback_is_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
