"""The REST layer under the gateway: python-binance `AsyncClient`, a rate governor, the clock
offset, and failures translated into `core.errors` at this boundary.

`create_rest_connection(rest_url=..., api_key=..., api_secret=..., clock=LiveClock())` returns a
`RestConnection`; `await conn.call("futures_create_order", mutating=True, orders=1, weight=0,
**params)` runs one python-binance method under the `RateGovernor`.
"""

from .connection import RestConnection, RestStats, SignedRequest, TrackedClient
from .errors import Failure, FailureKind, classify, to_error
from .rate_governor import (
    DEFAULT_LIMITS,
    GovernorStats,
    LimitKind,
    RateGovernor,
    RateLimit,
    limits_from_exchange_info,
)
from .rest_factory import build_client, create_rest_connection, point_client_at

__all__ = [
    "DEFAULT_LIMITS",
    "Failure",
    "FailureKind",
    "GovernorStats",
    "LimitKind",
    "RateGovernor",
    "RateLimit",
    "RestConnection",
    "RestStats",
    "SignedRequest",
    "TrackedClient",
    "build_client",
    "classify",
    "create_rest_connection",
    "limits_from_exchange_info",
    "point_client_at",
    "to_error",
]
