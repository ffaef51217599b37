"""Binance-compatible REST + WebSocket server of the local exchange (aiohttp, loopback only).

Public API: `LocalExchange` (start/stop, URLs, demo credentials, `faults`, `step`),
`make_async_client` (python-binance pointed at it), `connected_client` (the same as an
`async with` that closes it), `RateLimitConfig`, `WsConfig`, `AuthConfig`.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .auth import AuthConfig
    from .client import connected_client, make_async_client, make_socket_manager
    from .exchange import LocalExchange
    from .ratelimit import RateLimitConfig
    from .ws import WsConfig

# Imported on first use, so that `exchange_sim.server.wire_adapter` (which the in-process
# `exchange_sim.engine.Exchange` uses) does not pull in aiohttp and python-binance.
_LAZY = {
    "AuthConfig": ".auth",
    "LocalExchange": ".exchange",
    "RateLimitConfig": ".ratelimit",
    "WsConfig": ".ws",
    "connected_client": ".client",
    "make_async_client": ".client",
    "make_socket_manager": ".client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AuthConfig",
    "LocalExchange",
    "RateLimitConfig",
    "WsConfig",
    "connected_client",
    "make_async_client",
    "make_socket_manager",
]
