"""Request parameters: query string and form body merged (query wins), plus typed readers.

The declared content type is ignored and the body is always parsed as a form (reference 1.2).
Readers raise the Binance error a bad value earns: missing -1102, malformed number -1100 (the
documented "Illegal characters" family), out-of-range -1130, unknown symbol -1121.
"""

import re
from collections.abc import Container, Mapping
from urllib.parse import parse_qsl

from exchange_sim.errors import BinanceError

from .auth import mandatory

_INT_RE = re.compile(r"^-?[0-9]{1,19}$")


def merge_params(raw_query: str, raw_body: str) -> dict[str, str]:
    """Form body first, then the query string on top: the query value wins."""
    params = dict(parse_qsl(raw_body, keep_blank_values=True)) if raw_body else {}
    if raw_query:
        params.update(parse_qsl(raw_query, keep_blank_values=True))
    return params


def require(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise mandatory(name)
    return value


def opt_int(params: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if not _INT_RE.match(value):
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(value)


def limit_param(params: Mapping[str, str], default: int, maximum: int) -> int:
    """`limit` in 1..maximum (Binance answers -1130 for out-of-range values)."""
    limit = opt_int(params, "limit", default)
    assert limit is not None
    if limit < 1 or limit > maximum:
        raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def symbol_param(
    params: Mapping[str, str], known: Container[str], required: bool = True
) -> str | None:
    value = params.get("symbol")
    if value is None or value == "":
        if required:
            raise mandatory("symbol")
        return None
    if value not in known:
        raise BinanceError(-1121, "Invalid symbol.")
    return value
