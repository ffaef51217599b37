"""The one typed settings object, validated at start.

Sources, later ones winning: built-in defaults < `config.toml` < environment / `.env` (secrets
only) < command-line flags. Every problem becomes a `ConfigError` whose message is a single line
naming the key, the value and what is allowed; secrets are never quoted.
"""

import logging
import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values
from dotenv.parser import parse_stream
from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from core.intervals import KLINE_INTERVALS
from core.orders import forced_close
from core.redaction import SECRET_LIKE, hide_secret_like, redact, redact_userinfo, shown_path
from core.toml_text import toml_key, toml_shown
from exchange_sim.speed import MAX_SPEED
from risk_manager.config import RiskConfig
from runtime.secrets import Secret, api_key_problem
from trading_engine.main_trading_strategy import STRATEGIES as STRATEGY_REGISTRY
from trading_engine.main_trading_strategy import is_strategy_reference, reference_hint


class Mode(StrEnum):
    """Where the daemon trades."""

    LOCAL = "local"  # the embedded local exchange (or one given by [endpoints])
    TESTNET = "testnet"
    LIVE = "live"


MODES = tuple(m.value for m in Mode)
STRATEGIES = tuple(STRATEGY_REGISTRY)
PRICE_MODES = ("passive", "inside", "cross", "market")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
BAR_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h")

# Public endpoints per mode; `local` gets its URLs from the embedded exchange at start.
DEFAULT_ENDPOINTS = {
    "testnet": ("https://testnet.binancefuture.com", "wss://fstream.binancefuture.com"),
    "live": ("https://fapi.binance.com", "wss://fstream.binance.com"),
}


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def resolve_model_path(path: str) -> str:
    """A relative model path names a file in the working directory if one is there, else in
    the project (where the shipped default model lives), so `python app.py` finds it from
    any directory."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return path
    shipped = PROJECT_ROOT / p
    return str(shipped) if shipped.exists() else path


class ConfigError(Exception):
    """A user mistake in configuration: reported as one line, exit status 2, no traceback.
    Its message never echoes a URL's `user:password@` nor a value that looks like a secret (an
    API secret pasted into a URL or symbol field: `core.redaction.hide_secret_like`), whoever
    wrote it; the key and what is wrong with it are still said."""

    def __init__(self, message: str) -> None:
        super().__init__(hide_secret_like(redact_userinfo(message)))


def _spec(
    default: Any,
    allowed: str,
    check: Any = None,
    *,
    normalize: Any = None,
    hint: Any = None,
    **kw: Any,
) -> Any:
    """A setting's field: its default, what is allowed (for the error), its check, how a
    value is normalized before the check (e.g. a log level's case), and `hint`, what a
    refused value probably meant (text after the error, "" for nothing)."""
    metadata = {"allowed": allowed, "check": check, "normalize": normalize, "hint": hint}
    return field(default=default, metadata=metadata, **kw)


def _in(choices: tuple[str, ...]) -> Any:
    return lambda v: v in choices


def _d(text: str) -> Decimal:
    return Decimal(text)


def _id_prefix_ok(v: str) -> bool:
    """What `core.orders.ClientOrderIds` takes (ids are `<prefix>-<n>`): not one whose ids
    read as the exchange's own orders (`autoclose-...`: a liquidation)."""
    return (
        0 < len(v) <= 20
        and v.isascii()
        and all(c.isalnum() or c in "_." for c in v)
        and forced_close(f"{v}-1") is None
    )


def _strategy_ok(v: str) -> bool:
    """A registered strategy (read when checked: a strategy registered after this module's
    import counts) or a `module:Class` / `path/to/file.py:Class` of one's own."""
    return v in STRATEGY_REGISTRY or is_strategy_reference(v)


def _params_ok(v: dict[str, Any]) -> bool:
    return all(isinstance(x, str | int | float | bool) for x in v.values())


def _symbol_ok(v: str) -> bool:
    return v.isascii() and v.isalnum() and v.isupper() and 5 <= len(v) <= 20


@dataclass(frozen=True)
class LocalExchangeSettings:
    data: str = _spec("klines-week", "a bundled data-set name or a directory path", bool)
    speed: float = _spec(
        1.0,
        f"a replay speed > 0, at most {MAX_SPEED:g} (1 = real time)",
        lambda v: 0 < v <= MAX_SPEED,
    )
    port: int = _spec(0, "a TCP port 0-65535 (0 = any free port)", lambda v: 0 <= v <= 65535)
    starting_balance_usdt: Decimal = _spec(
        _d("10000"),
        "a USDT amount > 0, below 1e15, to at most 8 decimals",
        lambda v: 0 < v < _d("1e15") and v % _d("1e-8") == 0,
    )


def _url(*schemes: str) -> Any:
    """Empty (the mode's default), or a URL of one of `schemes` with a host: a wrong scheme is
    said now, not as an exchange that cannot be reached (a ws:// REST URL was retried)."""

    def ok(v: str) -> bool:
        if not v:
            return True
        try:
            parts = urlsplit(v)
            return parts.scheme in schemes and bool(parts.hostname) and parts.port != 0
        except ValueError:  # a port that is not a number
            return False

    return ok


_ws_scheme_ok = _url("ws", "wss")


def _ws_url_problem(v: str) -> str | None:
    """Why the daemon could never connect to `v`, a ws(s) URL with a host: it appends its
    stream paths (`/private/ws?listenKey=...`, `/market/stream?streams=...`), which a query or a
    fragment swallows, and the websocket library refuses some URLs outright (a fragment, a user
    name without its password). Said by the config check (exit 2), not as a start that failed
    to connect (exit 1: a supervisor retried it without end), nor as a user stream that
    failed (REDUCING journaled, the URL with its listenKey in the reason)."""
    if "?" in v or "#" in v:
        return (
            "the daemon appends its stream paths to it, which a query (?...) or a fragment "
            "(#...) would swallow"
        )
    try:
        parse_uri(v)
    except InvalidURI as exc:
        return f"the websocket library refuses it ({exc.msg})"
    except Exception:  # (its text could hold a part of the URL: a password)
        return "the websocket library refuses it (a user name, password or host it cannot decode)"
    return None


def _ws_url_ok(v: str) -> bool:
    return not v or (_ws_scheme_ok(v) and _ws_url_problem(v) is None)


def _ws_url_hint(v: str) -> str:
    problem = _ws_url_problem(v) if _ws_scheme_ok(v) else None
    return f"; {problem}" if problem else ""


_rest_scheme_ok = _url("http", "https")


def _rest_url_problem(v: str) -> str | None:
    """Why the daemon could never call `v`, an http(s) URL with a host: every request is
    `<rest_url>/fapi/...` (`rest_connect.rest_factory`), a path a query or a fragment swallows
    (every request would ask the URL's own path: `http://host/?k=v/fapi/v1/time` asks `/`).
    Said by the config check (exit 2), as for `ws_url`, not as a start that cannot reach the
    exchange."""
    if "?" in v or "#" in v:
        return (
            "the daemon appends its API paths (/fapi/...) to it, which a query (?...) or a "
            "fragment (#...) would swallow"
        )
    return None


def _rest_url_ok(v: str) -> bool:
    return not v or (_rest_scheme_ok(v) and _rest_url_problem(v) is None)


def _rest_url_hint(v: str) -> str:
    problem = _rest_url_problem(v) if _rest_scheme_ok(v) else None
    return f"; {problem}" if problem else ""


@dataclass(frozen=True)
class EndpointSettings:
    rest_url: str = _spec(
        "",
        "an http(s) URL with a host and no query or fragment, or empty for the mode's default",
        _rest_url_ok,
        hint=_rest_url_hint,
    )
    ws_url: str = _spec(
        "",
        "a ws(s) URL with a host and no query or fragment, or empty for the mode's default",
        _ws_url_ok,
        hint=_ws_url_hint,
    )


def _pct(v: Decimal) -> bool:
    return 0 < v <= 100


def _pct0(v: Decimal) -> bool:
    return 0 <= v <= 100


def _pct_open(v: Decimal) -> bool:
    return 0 < v < 100


def _pct0_open(v: Decimal) -> bool:
    return 0 <= v < 100


@dataclass(frozen=True)
class RiskSettings:
    leverage: int = _spec(3, "an integer from 1 to 125", lambda v: 1 <= v <= 125)
    max_order_notional_usdt: Decimal = _spec(_d("500"), "a USDT amount > 0", lambda v: v > 0)
    max_position_notional_usdt: Decimal = _spec(_d("1000"), "a USDT amount > 0", lambda v: v > 0)
    max_total_notional_usdt: Decimal = _spec(_d("2000"), "a USDT amount > 0", lambda v: v > 0)
    price_band_pct: Decimal = _spec(_d("5"), "a percentage in (0, 100]", _pct)
    stop_loss_pct: Decimal = _spec(_d("2"), "a percentage in (0, 100)", _pct_open)
    take_profit_pct: Decimal = _spec(_d("0"), "a percentage in [0, 100) (0 = none)", _pct0_open)
    max_drawdown_pct: Decimal = _spec(_d("10"), "a percentage in (0, 100)", _pct_open)
    max_daily_loss_usdt: Decimal = _spec(_d("300"), "a USDT amount > 0", lambda v: v > 0)
    max_daily_loss_pct: Decimal = _spec(
        _d("5"), "a percentage in [0, 100) (0 = off: the USDT limit alone)", _pct0_open
    )
    max_trades_per_day: int = _spec(500, "an integer >= 1", lambda v: v >= 1)
    max_open_orders: int = _spec(10, "an integer from 1 to 200", lambda v: 1 <= v <= 200)
    max_orders_per_minute: int = _spec(60, "an integer from 1 to 1200", lambda v: 1 <= v <= 1200)
    max_clock_offset_ms: int = _spec(1000, "milliseconds >= 1", lambda v: v >= 1)
    max_data_lag_ms: int = _spec(5000, "milliseconds >= 1", lambda v: v >= 1)
    stale_order_ms: int = _spec(30_000, "milliseconds >= 1000", lambda v: v >= 1000)
    reentry_hold: bool = _spec(True, "true or false")
    circuit_breaker_errors: int = _spec(10, "an integer >= 1", lambda v: v >= 1)
    kill_switch_file: str = _spec("KILL", "a file path (its existence halts trading)", bool)


@dataclass(frozen=True)
class StrategySettings:
    name: str = _spec(
        "logistic_regression",
        "one of "
        + ", ".join(STRATEGIES)
        + ", or module:Class or path/to/file.py:Class (a strategy of your own)",
        _strategy_ok,
        hint=reference_hint,
    )
    # The keyword arguments of a strategy of your own (`[strategy.params]`), beside
    # order_notional_usdt, allow_short and instruments, which every strategy gets.
    params: dict[str, Any] = field(
        default_factory=dict,
        hash=False,
        metadata={
            "allowed": "a table of numbers, strings or booleans",
            "check": _params_ok,
            "normalize": None,
        },
    )
    model_path: str = _spec("models/btcusdt-1m", "a model file or a model registry directory", bool)
    bar_interval: str = _spec("1m", "one of " + ", ".join(BAR_INTERVALS), _in(BAR_INTERVALS))
    fast_period: int = _spec(10, "an integer from 1 to 1000", lambda v: 1 <= v <= 1000)
    slow_period: int = _spec(50, "an integer from 2 to 5000", lambda v: 2 <= v <= 5000)
    allow_short: bool = _spec(True, "true or false")
    entry_probability: float = _spec(0.36, "a probability in (0, 1)", lambda v: 0 < v < 1)
    order_notional_usdt: Decimal = _spec(_d("200"), "a USDT amount > 0", lambda v: v > 0)
    rsi_period: int = _spec(14, "an integer from 1 to 1000", lambda v: 1 <= v <= 1000)
    rsi_oversold: float = _spec(30.0, "an RSI level in [0, 100)", lambda v: 0 <= v < 100)
    rsi_overbought: float = _spec(70.0, "an RSI level in (0, 100]", lambda v: 0 < v <= 100)
    macd_fast: int = _spec(12, "an integer from 1 to 1000", lambda v: 1 <= v <= 1000)
    macd_slow: int = _spec(26, "an integer from 2 to 5000", lambda v: 2 <= v <= 5000)
    macd_signal: int = _spec(9, "an integer from 1 to 1000", lambda v: 1 <= v <= 1000)
    hold_bars: int = _spec(-1, "bars >= 0, or -1 for the model's label horizon", lambda v: v >= -1)
    price_mode: str = _spec("inside", "one of " + ", ".join(PRICE_MODES), _in(PRICE_MODES))
    reprice_ms: int = _spec(5000, "milliseconds >= 0 (0 = never re-price)", lambda v: v >= 0)
    log_features: bool = _spec(True, "true or false")
    # A strategy call taking longer holds the daemon's one event loop: warned about (at most
    # once a minute), counted in the heartbeat and --status; nothing more (see README).
    max_call_ms: int = _spec(100, "milliseconds >= 1", lambda v: v >= 1)


@dataclass(frozen=True)
class ExecutionSettings:
    client_id_prefix: str = _spec(
        "bfd",
        "1-20 letters, digits, '_' or '.' (not the exchange's own autoclose, adl_autoclose...)",
        _id_prefix_ok,
    )
    recv_window_ms: int = _spec(5000, "milliseconds from 1 to 60000", lambda v: 1 <= v <= 60000)
    deadman_countdown_ms: int = _spec(
        60_000, "milliseconds >= 10000 (0 = off)", lambda v: v == 0 or v >= 10_000
    )
    deadman_refresh_s: float = _spec(10.0, "seconds > 0", lambda v: v > 0)
    # Each reconciliation reads the account, positions and open orders (REST weight), each
    # heartbeat prints a line and rewrites status.json: 0.001 was taken (1,000 lines a second).
    reconcile_interval_s: float = _spec(60.0, "seconds >= 1", lambda v: v >= 1)
    heartbeat_s: float = _spec(10.0, "seconds >= 0.5", lambda v: v >= 0.5)
    bar_source: str = _spec(
        "klines",
        "klines (the stream's closed klines) or trades (bars built from trades)",
        _in(("klines", "trades")),
    )
    # The order path run without effect every this many market-data items, or sooner once
    # rehearse_every_ms passed, so that a real order finds it warm
    # (trading_engine/order_rehearsal.py); 0 items: never.
    rehearse_every_items: int = _spec(
        50, "an integer from 0 to 100000 (0 = never)", lambda v: 0 <= v <= 100_000
    )
    rehearse_every_ms: int = _spec(
        200,
        "milliseconds from 0 to 3600000 (0 = by the item count alone)",
        lambda v: 0 <= v <= 3_600_000,
    )
    journal_synchronous: str = _spec("NORMAL", "NORMAL or FULL", _in(("NORMAL", "FULL")))
    journal_checkpoint_records: int = _spec(
        10_000, "an integer from 100 to 10000000", lambda v: 100 <= v <= 10_000_000
    )


@dataclass(frozen=True)
class LoggingSettings:
    level: str = _spec(
        "INFO",
        "one of " + ", ".join(LOG_LEVELS) + " (any case)",
        _in(LOG_LEVELS),
        normalize=str.upper,
    )
    json: bool = _spec(False, "true or false")
    dir: str = _spec("logs", "a directory path", lambda v: bool(v))


@dataclass(frozen=True)
class RetentionSettings:
    """How much of what the daemon writes besides the journal stays on disk (0 = no limit):
    a daemon left running for weeks on a small VPS must not fill its disk."""

    earlier_runs: int = _spec(10, "an integer >= 0 (0 = keep all)", lambda v: v >= 0)
    market_sessions: int = _spec(10, "an integer >= 0 (0 = keep all)", lambda v: v >= 0)
    market_sessions_mb: int = _spec(500, "megabytes >= 0 (0 = no limit)", lambda v: v >= 0)
    features_csv_mb: int = _spec(100, "megabytes >= 0 (0 = never rotated)", lambda v: v >= 0)


@dataclass(frozen=True)
class Settings:
    mode: Mode = _spec(Mode.LOCAL, "one of local, testnet, live", _in(MODES))
    symbols: tuple[str, ...] = _spec(
        ("BTCUSDT",),
        # read in any case (upper-cased): "upper-case letters" sent `btcusdt` to the shift key
        'a non-empty list of symbols of 5 to 20 letters or digits (any case) such as ["BTCUSDT"]',
        lambda v: len(v) > 0 and all(_symbol_ok(s) for s in v),
        # Named twice (`--symbol BTCUSDT --symbol ETHUSDT,BTCUSDT`), a symbol is traded once:
        # twice, the local exchange refused to start ("history overlaps bars") and the daemon
        # would have subscribed, flattened and protected it twice.
        normalize=lambda v: tuple(dict.fromkeys(v)),
    )
    duration_s: float = _spec(0.0, "seconds >= 0 (0 = run until stopped)", lambda v: v >= 0)
    journal_dir: str = _spec("journal", "a directory path", lambda v: bool(v))
    local: LocalExchangeSettings = field(default_factory=LocalExchangeSettings)
    endpoints: EndpointSettings = field(default_factory=EndpointSettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    strategy: StrategySettings = field(default_factory=StrategySettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    # Filled from the environment / .env only, never from config.toml.
    api_key: Secret | None = field(default=None, metadata={"secret": True})
    api_secret: Secret | None = field(default=None, metadata={"secret": True})

    @property
    def attaches(self) -> bool:
        """True when the daemon attaches to a running exchange instead of starting its own."""
        return self.mode != Mode.LOCAL or bool(self.endpoints.rest_url)

    @property
    def rest_url(self) -> str:
        return self.endpoints.rest_url or DEFAULT_ENDPOINTS.get(self.mode, ("", ""))[0]

    @property
    def ws_url(self) -> str:
        return self.endpoints.ws_url or DEFAULT_ENDPOINTS.get(self.mode, ("", ""))[1]


_SECTIONS = {
    "local": LocalExchangeSettings,
    "endpoints": EndpointSettings,
    "risk": RiskSettings,
    "strategy": StrategySettings,
    "execution": ExecutionSettings,
    "logging": LoggingSettings,
    "retention": RetentionSettings,
}


# The largest integer setting: the journal (SQLite) and the session recording (orjson) hold
# 64-bit integers; `stale_order_ms = 10000000000000000000000` passed --check-config and the
# daemon's start died on the recording's header ("unexpected error, please report it").
INT64_MAX = 2**63 - 1


def _coerce(key: str, annotation: Any, value: Any, allowed: str) -> Any:
    """Check the TOML value has the field's type; ints are accepted where floats are."""
    bad = ConfigError(f"{key} = {toml_shown(value)} is not allowed: expected {allowed}")
    if annotation is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        if not -INT64_MAX - 1 <= value <= INT64_MAX:  # TOML reads any size; orjson and SQLite not
            raise ConfigError(
                f"{key} = {value} is not allowed: expected {allowed}, at most {INT64_MAX} (a "
                "64-bit integer)"
            )
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        if not math.isfinite(value):
            raise bad
        return float(value)
    if annotation is Decimal:
        # TOML floats are binary; go through their shortest repr so 0.1 stays 0.1 exactly.
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise bad
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise bad from None
        if not number.is_finite():
            raise bad
        return number
    if annotation is Mode:
        if not isinstance(value, str) or value not in MODES:
            raise bad
        return Mode(value)
    if annotation is str:
        if not isinstance(value, str):
            raise bad
        return value
    if annotation == dict[str, Any]:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if annotation == tuple[str, ...]:
        if isinstance(value, str):
            value = [s for s in value.split(",") if s]
        if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
            raise bad
        return tuple(s.strip().upper() for s in value)
    raise TypeError(f"unsupported settings type {annotation!r} for {key}")


def _build(cls: type, raw: dict[str, Any], prefix: str) -> Any:
    known = {f.name: f for f in fields(cls) if not f.metadata.get("secret")}
    values: dict[str, Any] = {}
    for name, value in raw.items():
        key = f"{prefix}{toml_key(name)}"
        f = known.get(name)
        if f is None:
            if name in ("api_key", "api_secret", "BINANCE_API_KEY", "BINANCE_API_SECRET"):
                raise ConfigError(
                    f"{key}: API keys are not read from config files; put BINANCE_API_KEY and "
                    "BINANCE_API_SECRET in .env or the environment"
                )
            choices = ", ".join(sorted(known))
            raise ConfigError(f"unknown setting '{key}' (known here: {choices})")
        section = _SECTIONS.get(name) if not prefix else None
        if section is not None:
            if not isinstance(value, dict):
                raise ConfigError(f"{key} must be a table ([{name}])")
            values[name] = _build(section, value, f"{name}.")
            continue
        allowed = f.metadata["allowed"]
        coerced = _coerce(key, f.type, value, allowed)
        normalize = f.metadata.get("normalize")
        if normalize is not None:
            coerced = normalize(coerced)
        check = f.metadata.get("check")
        if check is not None and not check(coerced):
            hint = f.metadata.get("hint")
            said = hint(coerced) if hint is not None else ""
            raise ConfigError(
                f"{key} = {toml_shown(value)} is not allowed: expected {allowed}{said}"
            )
        values[name] = coerced
    return cls(**values)


def defaults_of(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
    return out


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {shown_path(path)} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{shown_path(path)}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{shown_path(path)}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"config file {shown_path(path)} cannot be read: {e.strerror}") from None


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class _Unlogged(logging.Filter):
    """Keeps python-dotenv's "could not parse statement" warning off the console: its line
    names neither the file nor what follows from it; `_skipped_lines` says it in the error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _skipped_lines(env_file: Path) -> list[int]:
    """The lines of `env_file` python-dotenv cannot read as NAME=value, and skips."""
    with env_file.open(encoding="utf-8") as stream:
        return [b.original.line for b in parse_stream(stream) if b.error]


def _read_dotenv(env_file: Path) -> tuple[dict[str, str | None], list[int]]:
    """The file's values, and the lines skipped."""
    quiet, dotenv_log = _Unlogged(), logging.getLogger("dotenv.main")
    dotenv_log.addFilter(quiet)
    try:
        return dotenv_values(env_file), _skipped_lines(env_file)
    except UnicodeDecodeError as e:
        raise ConfigError(f"{shown_path(env_file)}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{shown_path(env_file)} cannot be read: {e.strerror}") from None
    finally:
        dotenv_log.removeFilter(quiet)


def _read_secrets(env_file: Path | None) -> tuple[dict[str, str], str]:
    """BINANCE_API_KEY / BINANCE_API_SECRET from the environment, else from `.env`; and what
    to add to a "not set" error: the file's lines that could not be read (a key may be on
    one), or ""."""
    file_values: dict[str, str | None] = {}
    skipped: list[int] = []
    if env_file is not None and env_file.is_file():
        file_values, skipped = _read_dotenv(env_file)
    out = {}
    for name in ("BINANCE_API_KEY", "BINANCE_API_SECRET"):
        value = os.environ.get(name)
        if value is None:
            value = file_values.get(name)
        if value:
            out[name] = value
    if not skipped:
        return out, ""
    lines = ", ".join(map(str, skipped))
    said = f"line {lines} is" if len(skipped) == 1 else f"lines {lines} are"
    return out, f"; {env_file} {said} not NAME=value and skipped"


def load_settings(
    config_path: Path | None = None,
    env_file: Path | None = Path(".env"),
    overrides: dict[str, Any] | None = None,
    *,
    needs_keys: bool = True,
) -> Settings:
    """Build and validate the settings; raise ConfigError (one line) on any problem.

    `overrides` has the config-file shape (e.g. {"mode": "live", "logging": {"level": "DEBUG"}})
    and comes from command-line flags. Without `needs_keys` the API keys are neither read nor
    required (`--status` reads files only).
    """
    raw: dict[str, Any] = {}
    if config_path is not None:
        raw = read_config_file(config_path)
    if overrides:
        raw = _merge(raw, overrides)
    settings = _build(Settings, raw, "")
    _check_together(settings)

    if not needs_keys or (settings.mode == Mode.LOCAL and not settings.attaches):
        return settings  # the embedded exchange makes its own demo keys
    secrets, skipped = _read_secrets(env_file)
    for name in ("BINANCE_API_KEY", "BINANCE_API_SECRET"):
        if name not in secrets:
            raise ConfigError(
                f"{name} is not set: {_needs_keys(settings)} needs API keys in the environment "
                f"or in {env_file or '.env'} (see .env.example){skipped}"
            )
        if problem := api_key_problem(name, secrets[name]):
            raise ConfigError(problem)
    return replace(
        settings,
        api_key=Secret(secrets["BINANCE_API_KEY"]),
        api_secret=Secret(secrets["BINANCE_API_SECRET"]),
    )


def _check_together(settings: Settings) -> None:
    """Limits that are only valid together (what `risk_manager.config.RiskConfig` refuses, a
    strategy order every entry of which the order cap would deny, and bars from a kline stream
    Binance does not serve)."""
    e = settings.endpoints
    if settings.attaches and not settings.ws_url:
        raise ConfigError(
            'endpoints.ws_url = "" is not allowed with endpoints.rest_url set: attaching to an '
            "exchange needs its websocket URL too (ws://... or wss://...)"
        )
    if e.ws_url and not settings.attaches:
        raise ConfigError(
            f"endpoints.ws_url = {toml_shown(e.ws_url)} is not allowed without endpoints.rest_url: "
            "set both to attach to an exchange, or neither for the embedded one"
        )
    r = settings.risk
    if not r.max_order_notional_usdt <= r.max_position_notional_usdt <= r.max_total_notional_usdt:
        raise ConfigError(
            f"risk.max_position_notional_usdt = {toml_shown(r.max_position_notional_usdt)} is not "
            f"allowed: expected at least risk.max_order_notional_usdt "
            f"({toml_shown(r.max_order_notional_usdt)}) and at most risk.max_total_notional_usdt "
            f"({toml_shown(r.max_total_notional_usdt)})"
        )
    st = settings.strategy
    if st.params and st.name in STRATEGY_REGISTRY:
        raise ConfigError(
            f"strategy.params = {toml_shown(st.params)} is not allowed with strategy.name = "
            f'"{st.name}": [strategy.params] is for a strategy of your own (module:Class); '
            f"{st.name} takes the [strategy] keys"
        )
    # A common key in [strategy.params] replaced [strategy]'s own without a word: the run
    # traded a notional that neither --check-config's strategy.order_notional_usdt nor the
    # cap below saw.
    for key, value in (
        ("order_notional_usdt", st.order_notional_usdt),
        ("allow_short", st.allow_short),
    ):
        if key in st.params:
            raise ConfigError(
                f"strategy.params.{key} = {toml_shown(st.params[key])} is not allowed: every "
                f"strategy gets {key} from [strategy] (set it there; it is {toml_shown(value)})"
            )
    if "instruments" in st.params:
        raise ConfigError(
            "strategy.params.instruments is not allowed: the daemon passes every strategy the "
            "traded symbols' instruments"
        )
    order = st.order_notional_usdt
    if order > r.max_order_notional_usdt:
        raise ConfigError(
            f"strategy.order_notional_usdt = {toml_shown(order)} is not allowed: expected at "
            f"most risk.max_order_notional_usdt ({toml_shown(r.max_order_notional_usdt)}): a "
            "larger order is always denied"
        )
    x = settings.execution
    if x.deadman_countdown_ms and x.deadman_refresh_s * 1000 > x.deadman_countdown_ms / 2:
        raise ConfigError(
            f"execution.deadman_refresh_s = {toml_shown(x.deadman_refresh_s)} is not allowed "
            f"with execution.deadman_countdown_ms = {x.deadman_countdown_ms}: expected at most "
            f"half the countdown ({x.deadman_countdown_ms / 2000:g} s), or the exchange cancels "
            "our open orders whenever it runs out between two refreshes, the daemon running"
        )
    paths = (
        ("journal_dir", settings.journal_dir),
        ("logging.dir", settings.logging.dir),
        ("risk.kill_switch_file", r.kill_switch_file),
    )
    for key, path in paths:
        if problem := _tilde_problem(path):
            raise ConfigError(f"{key} = {toml_shown(path)} is not allowed: {problem}")
    interval = settings.strategy.bar_interval
    if settings.execution.bar_source == "klines" and interval not in KLINE_INTERVALS:
        served = ", ".join(i for i in BAR_INTERVALS if i in KLINE_INTERVALS)
        raise ConfigError(
            f"strategy.bar_interval = {toml_shown(interval)} is not allowed with "
            f'execution.bar_source = "klines": Binance serves no {interval} kline stream; set '
            f'execution.bar_source = "trades" or use one of {served}'
        )


def _tilde_problem(path: str) -> str | None:
    """Why a path that starts with `~` is refused (None for any other): no shell reads the
    config, so `~/KILL` named ./~/KILL, and touching the operator's ~/KILL halted nothing (a
    journal_dir or log dir became a directory named `~` beside the project)."""
    if not path.startswith("~"):
        return None
    home = os.path.expanduser(path)
    instead = f": write {home}" if home != path else ""
    return f"a leading ~ is not expanded (no shell reads this file){instead}"


def _needs_keys(settings: Settings) -> str:
    if settings.mode == Mode.LOCAL:
        url = toml_shown(settings.endpoints.rest_url)
        return f"endpoints.rest_url = {url} (attaching to an exchange)"
    # `mode = ...` as --check-config shows it: the mode may come from config.toml, not a flag
    return f"mode = {settings.mode}"


# The `[strategy]` keys only one built-in strategy reads (`strategy_params`): --check-config
# shows those of the configured strategy, none of them for a strategy of your own (which reads
# `[strategy.params]`, shown for it alone).
STRATEGY_KEYS = {
    "logistic_regression": (
        "model_path",
        "entry_probability",
        "hold_bars",
        "price_mode",
        "reprice_ms",
        "log_features",
    ),
    "rsi_macd": (
        "rsi_period",
        "rsi_oversold",
        "rsi_overbought",
        "macd_fast",
        "macd_slow",
        "macd_signal",
    ),
    "sma_crossover": ("fast_period", "slow_period"),
}


def _shown_strategy_key(strategy: str, key: str) -> bool:
    """Whether --check-config shows `[strategy]` key `key` for `strategy` (STRATEGY_KEYS)."""
    if key == "params":
        return strategy not in STRATEGY_REGISTRY
    owners = [name for name, keys in STRATEGY_KEYS.items() if key in keys]
    return not owners or strategy in owners


def describe(settings: Settings, params_defaults: Mapping[str, Any] | None = None) -> list[str]:
    """`key = value` lines of the effective settings, secrets masked, for humans: a value that
    is valid in its field but looks like a secret (an API key pasted as `journal_dir` or into
    a strategy parameter) is not shown, by the rule a config error follows
    (`core.redaction.hide_secret_like`), nor is the configured key or secret anywhere.
    `params_defaults`: a strategy of one's own's parameter defaults, shown in
    `strategy.params` beside the values the config gives (what the strategy will run with)."""
    until = "" if settings.duration_s else " (until stopped)"
    lines = [
        f"mode = {settings.mode}",
        f"symbols = {', '.join(settings.symbols)}",
        f"duration_s = {settings.duration_s:g}{until}",
        f"journal_dir = {settings.journal_dir}",
    ]
    if not settings.attaches:
        lines.append("rest_url = (embedded local exchange on 127.0.0.1)")
    else:
        # A proxy's `user:password@` shown as <redacted>: this output is pasted into issues.
        lines += [f"rest_url = {redact(settings.rest_url)}", f"ws_url = {redact(settings.ws_url)}"]
    for section in ("local", "risk", "strategy", "execution", "logging", "retention"):
        if section == "local" and settings.attaches:
            continue
        obj = getattr(settings, section)
        for f in fields(obj):
            if section == "strategy" and not _shown_strategy_key(settings.strategy.name, f.name):
                continue
            value = getattr(obj, f.name)
            if section == "strategy" and f.name == "params" and params_defaults:
                value = {**params_defaults, **value}
            shown = toml_shown(value)
            # `_pct` keys are percents: 0.05 is 0.05 %, not 5 % (a fraction typed by habit).
            unit = f" ({shown} %)" if f.name.endswith("_pct") else ""
            lines.append(f"{section}.{f.name} = {shown}{unit}")
    secrets = [s.reveal() for s in (settings.api_key, settings.api_secret) if s]
    lines = [shown_setting(line, secrets) for line in lines]
    key = settings.api_key.hint() if settings.api_key else "(not needed)"
    secret = str(settings.api_secret) if settings.api_secret else "(not needed)"
    lines += [f"api_key = {key}", f"api_secret = {secret}"]
    return lines


def shown_setting(text: str, secrets: Iterable[str] = ()) -> str:
    """A setting's value as the program shows it (`--check-config`, status.json, the start
    line): the configured `secrets` and any secret-shaped word replaced by the same mark."""
    return hide_secret_like(redact(text, secrets, mark=SECRET_LIKE))


def risk_config(settings: Settings) -> RiskConfig:
    """The RiskManager's limits from the `[risk]` section: the daemon's, and a backtest's
    given `--config`, so both run under the same limits."""
    r = settings.risk
    return RiskConfig(
        leverage=r.leverage,
        max_order_notional_usdt=r.max_order_notional_usdt,
        max_position_notional_usdt=r.max_position_notional_usdt,
        max_total_notional_usdt=r.max_total_notional_usdt,
        price_band_pct=r.price_band_pct,
        max_open_orders=r.max_open_orders,
        max_orders_per_minute=r.max_orders_per_minute,
        max_clock_offset_ms=r.max_clock_offset_ms,
        max_data_lag_ms=r.max_data_lag_ms,
        stop_loss_pct=r.stop_loss_pct,
        take_profit_pct=r.take_profit_pct,
        max_daily_loss_usdt=r.max_daily_loss_usdt,
        max_daily_loss_pct=r.max_daily_loss_pct,
        max_drawdown_pct=r.max_drawdown_pct,
        max_trades_per_day=r.max_trades_per_day,
        circuit_breaker_errors=r.circuit_breaker_errors,
        kill_switch_file=r.kill_switch_file or None,
    )


def strategy_params(s: Settings, instruments: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of the configured strategy, from `[strategy]` (a strategy of
    your own: `[strategy.params]` beside the common ones): what the daemon builds it with,
    and a backtest given the same config file."""
    st = s.strategy
    common: dict[str, Any] = {
        "order_notional_usdt": st.order_notional_usdt,
        "allow_short": st.allow_short,
        "instruments": instruments,
    }
    if st.name not in STRATEGY_REGISTRY:
        return {**common, **st.params}
    if st.name == "logistic_regression":
        return {
            **common,
            "model_path": resolve_model_path(st.model_path),
            "entry_probability": st.entry_probability,
            "hold_bars": None if st.hold_bars < 0 else st.hold_bars,
            "price_mode": st.price_mode,
            "reprice_ms": st.reprice_ms,
            "bar_interval": st.bar_interval,
        }
    if st.name == "rsi_macd":
        return {
            **common,
            "rsi_period": st.rsi_period,
            "oversold": st.rsi_oversold,
            "overbought": st.rsi_overbought,
            "macd_fast": st.macd_fast,
            "macd_slow": st.macd_slow,
            "macd_signal": st.macd_signal,
        }
    return {**common, "fast": st.fast_period, "slow": st.slow_period}
