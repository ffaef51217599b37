"""A value as the user writes it in TOML, on one line: how every message quotes a setting or a
parameter (a config file's `[risk] leverage = 500`, a backtest's `--param fast=1.5`), so that
the message shows what was typed and a newline or escape in it stays quoted."""

import json
import re
from decimal import Decimal
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_shown(value: Any) -> str:
    """Strings quoted with their quotes, backslashes and control characters escaped (a TOML
    basic string), booleans as true / false, Decimals in plain notation, arrays and inline
    tables of those; anything else as Python writes it."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return repr(value)


def toml_key(key: str) -> str:
    """A table key as TOML writes it: bare when it can be, else quoted."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)
