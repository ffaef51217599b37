"""Any value a config.toml can hold, under any known setting: settings, or one ConfigError.

`test_settings.py` checks each setting's refusals by hand. Here hypothesis puts TOML values of
every type (integers huge and negative, floats with inf and nan, strings odd and empty,
booleans, dates and times, arrays, tables) under one to three known keys, as `load_settings`
gets them from the file, and requires a Settings object or a ConfigError, never another
exception (a traceback is what a user must not see for a typo); with settings, what the
daemon builds from them next (`risk_config`, `describe`) must work too.
"""

import datetime as dt
import math
from dataclasses import fields
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.settings import (
    _SECTIONS,
    ConfigError,
    Settings,
    describe,
    load_settings,
    risk_config,
)

# Every key a config file may set: ("mode",), ("risk", "leverage"), ...
KEYS: list[tuple[str, ...]] = [
    (f.name,) for f in fields(Settings) if f.name not in _SECTIONS and not f.metadata.get("secret")
] + [
    (section, f.name)
    for section, cls in _SECTIONS.items()
    for f in fields(cls)
    if not f.metadata.get("secret")
]

_SCALARS = st.one_of(
    st.integers(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-12, 1e300, math.inf, -math.inf]),
    st.text(max_size=30),
    st.sampled_from(["", " ", "BTCUSDT", "btcusdt", "1", "-1", "0.5", "nan", "inf", "1e400"]),
    st.booleans(),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, dt.UTC])),
    st.times(),
)
# TOML values: scalars, arrays and tables of them (one level of nesting is enough here).
_VALUES = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=4),
    st.dictionaries(st.text(max_size=8), _SCALARS, max_size=3),
)


def _nest(key: tuple[str, ...], value: Any) -> dict[str, Any]:
    return {key[0]: value} if len(key) == 1 else {key[0]: {key[1]: value}}


def _merged(items: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for key, value in items:
        if len(key) == 1:
            raw[key[0]] = value
        else:
            section = raw.setdefault(key[0], {})
            if isinstance(section, dict):
                section[key[1]] = value
    return raw


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KEYS), _VALUES), min_size=1, max_size=3))
def test_any_value_under_known_keys_gives_settings_or_one_config_error(items):
    raw = _merged(items)
    try:
        loaded = load_settings(overrides=raw, env_file=None, needs_keys=False)
    except ConfigError as e:
        message = str(e)
        assert message and "\n" not in message, message
        return
    risk_config(loaded)
    assert describe(loaded)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([k for k in KEYS if len(k) == 2]), _VALUES)
def test_a_section_given_as_a_value_or_a_value_as_a_section_is_one_config_error(key, value):
    for raw in ({key[0]: value}, {key[0]: {key[1]: {"x": value}}}):
        try:
            load_settings(overrides=raw, env_file=None, needs_keys=False)
        except ConfigError as e:
            assert "\n" not in str(e)
