"""Binance-compatible REST + WebSocket server of the local exchange (aiohttp, loopback only).

Public API: `LocalExchange` (start/stop, URLs, demo credentials, `faults`, `step`),
`make_async_client` (python-binance pointed at it), `connected_client` (the same as an
`async with` that closes it), `RateLimitConfig`, `WsConfig`, `AuthConfig`.
"""

from .auth import AuthConfig
from .client import connected_client, make_async_client, make_socket_manager
from .exchange import LocalExchange
from .ratelimit import RateLimitConfig
from .ws import WsConfig

__all__ = [
    "AuthConfig",
    "LocalExchange",
    "RateLimitConfig",
    "WsConfig",
    "connected_client",
    "make_async_client",
    "make_socket_manager",
]
