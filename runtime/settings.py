"""The one typed settings object, validated at start.

Sources, later ones winning: built-in defaults < `config.toml` < environment / `.env` (secrets
only) < command-line flags. Every problem becomes a `ConfigError` whose message is a single line
naming the key, the value and what is allowed; secrets are never quoted.
"""

import math
import os
import tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from runtime.secrets import Secret, api_key_problem

MODES = ("local", "testnet", "live")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
BAR_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h")

# Public endpoints per mode; `local` gets its URLs from the embedded exchange at start.
DEFAULT_ENDPOINTS = {
    "testnet": ("https://testnet.binancefuture.com", "wss://fstream.binancefuture.com"),
    "live": ("https://fapi.binance.com", "wss://fstream.binance.com"),
}


class ConfigError(Exception):
    """A user mistake in configuration: reported as one line, exit status 2, no traceback."""


def _spec(default: Any, allowed: str, check=None, **kw: Any) -> Any:
    return field(default=default, metadata={"allowed": allowed, "check": check}, **kw)


def _in(choices: tuple[str, ...]):
    return lambda v: v in choices


def _symbol_ok(v: str) -> bool:
    return v.isascii() and v.isalnum() and v.isupper() and 5 <= len(v) <= 20


@dataclass(frozen=True)
class LocalExchangeSettings:
    data: str = _spec(
        "btcusdt-2024-08-08", "a bundled data-set name or a directory path", lambda v: bool(v)
    )
    speed: float = _spec(1.0, "a replay speed > 0 (1 = real time)", lambda v: v > 0)
    port: int = _spec(0, "a TCP port 0-65535 (0 = any free port)", lambda v: 0 <= v <= 65535)
    starting_balance_usdt: float = _spec(10_000.0, "a USDT amount > 0", lambda v: v > 0)


@dataclass(frozen=True)
class EndpointSettings:
    rest_url: str = _spec("", "an http(s) URL, or empty for the mode's default", None)
    ws_url: str = _spec("", "a ws(s) URL, or empty for the mode's default", None)


@dataclass(frozen=True)
class RiskSettings:
    leverage: int = _spec(3, "an integer from 1 to 125", lambda v: 1 <= v <= 125)
    max_order_notional_usdt: float = _spec(500.0, "a USDT amount > 0", lambda v: v > 0)
    max_position_notional_usdt: float = _spec(1_000.0, "a USDT amount > 0", lambda v: v > 0)
    stop_loss_pct: float = _spec(2.0, "a percentage in (0, 100]", lambda v: 0 < v <= 100)
    max_drawdown_pct: float = _spec(10.0, "a percentage in (0, 100]", lambda v: 0 < v <= 100)
    max_open_orders: int = _spec(10, "an integer from 1 to 200", lambda v: 1 <= v <= 200)
    stale_order_ms: int = _spec(30_000, "milliseconds >= 1000", lambda v: v >= 1000)


@dataclass(frozen=True)
class StrategySettings:
    name: str = _spec(
        "logistic_regression",
        "one of logistic_regression, sma_crossover",
        _in(("logistic_regression", "sma_crossover")),
    )
    model_path: str = _spec("model/artifacts/model.joblib", "a file path", lambda v: bool(v))
    bar_interval: str = _spec("1m", "one of " + ", ".join(BAR_INTERVALS), _in(BAR_INTERVALS))
    entry_probability: float = _spec(0.55, "a probability in (0.5, 1)", lambda v: 0.5 < v < 1)
    order_notional_usdt: float = _spec(100.0, "a USDT amount > 0", lambda v: v > 0)


@dataclass(frozen=True)
class LoggingSettings:
    level: str = _spec("INFO", "one of " + ", ".join(LOG_LEVELS), _in(LOG_LEVELS))
    json: bool = _spec(False, "true or false")
    dir: str = _spec("logs", "a directory path", lambda v: bool(v))


@dataclass(frozen=True)
class Settings:
    mode: str = _spec("local", "one of local, testnet, live", _in(MODES))
    symbols: tuple[str, ...] = _spec(
        ("BTCUSDT",),
        'a non-empty list of upper-case symbols such as ["BTCUSDT"]',
        lambda v: len(v) > 0 and all(_symbol_ok(s) for s in v),
    )
    duration_s: float = _spec(0.0, "seconds >= 0 (0 = run until stopped)", lambda v: v >= 0)
    journal_dir: str = _spec("journal", "a directory path", lambda v: bool(v))
    local: LocalExchangeSettings = field(default_factory=LocalExchangeSettings)
    endpoints: EndpointSettings = field(default_factory=EndpointSettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    strategy: StrategySettings = field(default_factory=StrategySettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    # Filled from the environment / .env only, never from config.toml.
    api_key: Secret | None = field(default=None, metadata={"secret": True})
    api_secret: Secret | None = field(default=None, metadata={"secret": True})

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
    "logging": LoggingSettings,
}


def _show(value: Any) -> str:
    """A value as the user would write it in TOML."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _coerce(key: str, annotation: Any, value: Any, allowed: str) -> Any:
    """Check the TOML value has the field's type; ints are accepted where floats are."""
    bad = ConfigError(f"{key} = {_show(value)} is not allowed: expected {allowed}")
    if annotation is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        if not math.isfinite(value):
            raise bad
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise bad
        return value
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
        key = f"{prefix}{name}"
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
        check = f.metadata.get("check")
        if check is not None and not check(coerced):
            raise ConfigError(f"{key} = {_show(value)} is not allowed: expected {allowed}")
        values[name] = coerced
    return cls(**values)


def defaults_of(cls: type) -> dict[str, Any]:
    out = {}
    for f in fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
    return out


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read: {e.strerror}") from None


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_secrets(env_file: Path | None) -> dict[str, str]:
    """BINANCE_API_KEY / BINANCE_API_SECRET from the environment, else from `.env`."""
    file_values: dict[str, str | None] = {}
    if env_file is not None and env_file.is_file():
        file_values = dotenv_values(env_file)
    out = {}
    for name in ("BINANCE_API_KEY", "BINANCE_API_SECRET"):
        value = os.environ.get(name)
        if value is None:
            value = file_values.get(name)
        if value:
            out[name] = value
    return out


def load_settings(
    config_path: Path | None = None,
    env_file: Path | None = Path(".env"),
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Build and validate the settings; raise ConfigError (one line) on any problem.

    `overrides` has the config-file shape (e.g. {"mode": "live", "logging": {"level": "DEBUG"}})
    and comes from command-line flags.
    """
    raw: dict[str, Any] = {}
    if config_path is not None:
        raw = read_config_file(config_path)
    if overrides:
        raw = _merge(raw, overrides)
    settings = _build(Settings, raw, "")

    if settings.mode == "local":
        return settings  # the embedded exchange makes its own demo keys
    secrets = _read_secrets(env_file)
    for name in ("BINANCE_API_KEY", "BINANCE_API_SECRET"):
        if name not in secrets:
            raise ConfigError(
                f"{name} is not set: --mode {settings.mode} needs API keys in the environment "
                "or in .env (see .env.example)"
            )
        if problem := api_key_problem(name, secrets[name]):
            raise ConfigError(problem)
    for key, url, scheme in (
        ("endpoints.rest_url", settings.rest_url, ("http://", "https://")),
        ("endpoints.ws_url", settings.ws_url, ("ws://", "wss://")),
    ):
        if not url.startswith(scheme):
            raise ConfigError(f'{key} = "{url}" is not allowed: expected a {scheme[0]}... URL')
    return replace(
        settings,
        api_key=Secret(secrets["BINANCE_API_KEY"]),
        api_secret=Secret(secrets["BINANCE_API_SECRET"]),
    )


def describe(settings: Settings) -> list[str]:
    """`key = value` lines of the effective settings, secrets masked, for humans."""
    until = "" if settings.duration_s else " (until stopped)"
    lines = [
        f"mode = {settings.mode}",
        f"symbols = {', '.join(settings.symbols)}",
        f"duration_s = {settings.duration_s:g}{until}",
        f"journal_dir = {settings.journal_dir}",
    ]
    if settings.mode == "local":
        lines.append("rest_url = (embedded local exchange on 127.0.0.1)")
    else:
        lines += [f"rest_url = {settings.rest_url}", f"ws_url = {settings.ws_url}"]
    for section in ("local", "risk", "strategy", "logging"):
        if section == "local" and settings.mode != "local":
            continue
        obj = getattr(settings, section)
        for f in fields(obj):
            lines.append(f"{section}.{f.name} = {_show(getattr(obj, f.name))}")
    key = settings.api_key.hint() if settings.api_key else "(not needed)"
    secret = str(settings.api_secret) if settings.api_secret else "(not needed)"
    lines += [f"api_key = {key}", f"api_secret = {secret}"]
    return lines
