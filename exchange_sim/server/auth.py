"""API keys, endpoint security types and the checks of reference section 2.

Order of checks for a SIGNED request (as Binance answers them): API key header (missing or
malformed -2014, unknown or lacking permission -2015, both HTTP 401), then `signature` and
`timestamp` presence (-1102), recvWindow validity, the HMAC (-1022), then the time window
(-1021). USER_STREAM endpoints only need the key header.
"""

import enum
import re
import secrets
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from exchange_sim.errors import BinanceError

from .signing import signature_matches, split_signed_payload

_KEY_RE = re.compile(r"[A-Za-z0-9]{64}")
_INT_RE = re.compile(r"-?[0-9]{1,19}")  # fullmatch: ASCII digits, no trailing newline
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

BAD_KEY_FORMAT_MSG = "API-key format invalid."


class Security(enum.StrEnum):
    """Endpoint security types (reference 2.1)."""

    NONE = "NONE"
    MARKET_DATA = "MARKET_DATA"
    USER_STREAM = "USER_STREAM"
    TRADE = "TRADE"
    USER_DATA = "USER_DATA"

    @property
    def needs_key(self) -> bool:
        return self is not Security.NONE

    @property
    def signed(self) -> bool:
        return self in (Security.TRADE, Security.USER_DATA)


@dataclass(frozen=True, slots=True)
class Credentials:
    """One API key: 64 alphanumeric chars, its secret, the engine account it acts for."""

    api_key: str
    api_secret: str
    account_id: Hashable
    can_trade: bool = True


def random_token(length: int = 64) -> str:
    """A random alphanumeric token (API keys, secrets, listenKeys)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def key_rejected(ip: str) -> BinanceError:
    return BinanceError(
        -2015, f"Invalid API-key, IP, or permissions for action, request ip: {ip}", 401
    )


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthConfig:
    """recvWindow default and cap (ms); the cap is UNSURE for futures (reference 2.3)."""

    default_recv_window_ms: int = 5000
    max_recv_window_ms: int = 60_000
    max_ahead_ms: int = 1000


class KeyStore:
    """The API keys the server knows."""

    def __init__(self) -> None:
        self._by_key: dict[str, Credentials] = {}

    def add(self, creds: Credentials) -> Credentials:
        self._by_key[creds.api_key] = creds
        return creds

    def create(self, account_id: Hashable, *, can_trade: bool = True) -> Credentials:
        return self.add(Credentials(random_token(), random_token(), account_id, can_trade))

    def authenticate(
        self,
        *,
        security: Security,
        api_key: str | None,
        ip: str,
        raw_query: str,
        raw_body: str,
        params: Mapping[str, str],
        server_time_ms: int,
        config: AuthConfig,
    ) -> Credentials | None:
        """Run the checks for `security`; return the caller's credentials (None for NONE)."""
        if not security.needs_key:
            return None
        if not api_key or not _KEY_RE.fullmatch(api_key):
            raise BinanceError(-2014, BAD_KEY_FORMAT_MSG, 401)
        creds = self._by_key.get(api_key)
        if creds is None or (security is Security.TRADE and not creds.can_trade):
            raise key_rejected(ip)
        if not security.signed:
            return creds
        payload, signature = split_signed_payload(raw_query, raw_body)
        if not signature:
            raise mandatory("signature")
        timestamp = params.get("timestamp", "")
        if not _INT_RE.fullmatch(timestamp):
            raise mandatory("timestamp")
        recv_window = _recv_window(params, config)
        if not signature_matches(creds.api_secret, payload, signature):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        check_timestamp(int(timestamp), recv_window, server_time_ms, config)
        return creds


def _recv_window(params: Mapping[str, str], config: AuthConfig) -> int:
    raw = params.get("recvWindow")
    if raw is None:
        return config.default_recv_window_ms
    if not _INT_RE.fullmatch(raw) or int(raw) <= 0:
        raise BinanceError(-1102, "Param 'recvWindow' was not sent, was empty/null, or malformed.")
    if int(raw) > config.max_recv_window_ms:
        raise BinanceError(-1131, f"recvWindow must be less than {config.max_recv_window_ms}.")
    return int(raw)


def check_timestamp(
    timestamp_ms: int, recv_window_ms: int, server_time_ms: int, config: AuthConfig
) -> None:
    """Accept iff timestamp < serverTime + 1000 and serverTime - timestamp <= recvWindow."""
    if timestamp_ms >= server_time_ms + config.max_ahead_ms:
        raise BinanceError(
            -1021, "Timestamp for this request was 1000ms ahead of the server's time."
        )
    if server_time_ms - timestamp_ms > recv_window_ms:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
