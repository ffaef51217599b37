"""Request parameters: parsing, the syntax Binance enforces on every value, typed readers.

`parse_params(raw_query, raw_body)`: both parts are `name=value&...` forms, percent-decoded;
the declared content type is ignored (reference 1.2) and the query value wins over the body.
A name repeated inside one part is refused with -1101 "Duplicate values for a parameter
detected." (Binance does not silently take the last value); more than `MAX_PARAMS` items is
-1101 too, counted before anything is decoded, so a body full of `&` costs nothing.

`check_syntax(params)` runs on every request before its handler, so no handler sees a value
Python would parse but Binance would not (`str.isdigit` and `int()` accept "²", Arabic-Indic
and full-width digits, a trailing newline and 4,300-digit numbers):

- integer parameters (`orderId`, `limit`, `page`, `leverage`, ...): 1 to 20 ASCII digits,
  else -1100 "Illegal characters found in parameter 'x'; legal range is '^[0-9]{1,20}$'.";
- decimal parameters (`quantity`, `price`, ...): `^([0-9]{1,20})(\\.[0-9]{1,20})?$`, else -1100;
- no value may hold an ASCII control character (a trailing "\\n" included): -1100;
- list parameters (`batchOrders`, `orderIdList`, `origClientOrderIdList`) hold at most
  `MAX_LIST_PARAM_CHARS` characters of JSON (else -1130), must be a flat JSON array (of
  objects of scalars for `batchOrders`; else -1102 "malformed", as the engine answers), and
  every element (every field of every batch order) obeys the rules above.

Readers (`require`, `opt_int`, `limit_param`, `symbol_param`) raise the Binance error a bad
value earns: missing -1102, malformed number -1100, out-of-range -1130, unknown symbol -1121.
"""

import json
import re
from collections.abc import Container, Mapping
from typing import Any, Literal, overload

from exchange_sim.errors import BinanceError

from .auth import mandatory

MAX_PARAMS = 100  # per request; an order needs about 15
MAX_LIST_PARAM_CHARS = 8_192  # 5 batch orders of ~700 chars each fit twice over
MAX_LIST_ITEMS = {"batchOrders": 5, "orderIdList": 10, "origClientOrderIdList": 10}

INT_PARAMS = frozenset(
    {
        "algoId",
        "countdownTime",
        "endTime",
        "fromId",
        "goodTillDate",
        "leverage",
        "limit",
        "orderId",
        "page",
        "startTime",
    }
)
DECIMAL_PARAMS = frozenset(
    {
        "activatePrice",
        "activationPrice",
        "callbackRate",
        "price",
        "quantity",
        "stopPrice",
        "triggerPrice",
    }
)
LIST_PARAMS = frozenset(MAX_LIST_ITEMS)

CLIENT_ID_PARAMS = frozenset({"clientAlgoId", "newClientOrderId", "origClientOrderId"})

INT_RANGE = "^[0-9]{1,20}$"
CLIENT_ID_RANGE = "^[\\.A-Z\\:/a-z0-9_-]{1,36}$"
DECIMAL_RANGE = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"
_INT = re.compile(r"[0-9]{1,20}")
_DECIMAL = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,20})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

DUPLICATE_MSG = "Duplicate values for a parameter detected."


def illegal_chars(name: str, legal: str | None = None) -> BinanceError:
    msg = f"Illegal characters found in parameter '{name}'"
    return BinanceError(-1100, f"{msg}; legal range is '{legal}'." if legal else f"{msg}.")


def invalid(name: str) -> BinanceError:
    return BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")


def parse_params(raw_query: str, raw_body: str) -> dict[str, str]:
    """Form body first, then the query string on top: the query value wins (reference 1.2)."""
    params = _parse_part(raw_body)
    params.update(_parse_part(raw_query))
    return params


def _parse_part(raw: str) -> dict[str, str]:
    """`name=value&...` as `urllib.parse.parse_qsl(keep_blank_values=True)` reads it, but
    with duplicates refused and in time linear in the length whatever the input."""
    if not raw:
        return {}
    if raw.count("&") >= MAX_PARAMS:
        raise BinanceError(-1101, f"Too many parameters; expected at most {MAX_PARAMS} parameters.")
    out: dict[str, str] = {}
    for item in raw.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        name, value = form_unquote(name), form_unquote(value)
        if name in out:
            raise BinanceError(-1101, DUPLICATE_MSG)
        out[name] = value
    return out


_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
_BYTE_OF = {
    f"{a}{b}".encode(): bytes((int(a + b, 16),))
    for a in "0123456789abcdefABCDEF"
    for b in "0123456789abcdefABCDEF"
}


def form_unquote(text: str) -> str:
    """`+` -> space, `%XX` -> byte, then UTF-8 (invalid bytes become U+FFFD): what
    `urllib.parse.unquote_plus` does, without its per-`%` Python loop (a body of bare `%`
    signs took it 0.7 us per sign)."""
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    data = _ESCAPE.sub(lambda m: _BYTE_OF[m.group(1)], text.encode("utf-8", "surrogateescape"))
    return data.decode("utf-8", "replace")


def check_syntax(params: Mapping[str, str]) -> None:
    """Refuse any value Binance would refuse for its form (see the module docstring)."""
    for name, value in params.items():
        if name in LIST_PARAMS:
            _check_list(name, value)
        else:
            check_value(name, value)


def check_value(name: str, value: str) -> None:
    """One scalar parameter: control characters, then the integer/decimal form by name."""
    if value == "":
        return  # "not sent": the handler decides whether it was mandatory
    if name in INT_PARAMS:
        if not _INT.fullmatch(value):
            raise illegal_chars(name, INT_RANGE)
    elif name in DECIMAL_PARAMS:
        if not _DECIMAL.fullmatch(value):
            raise illegal_chars(name, DECIMAL_RANGE)
    elif _CONTROL.search(value):
        raise illegal_chars(name, CLIENT_ID_RANGE if name in CLIENT_ID_PARAMS else None)


def _check_list(name: str, value: str) -> None:
    if value == "":
        return
    if len(value) > MAX_LIST_PARAM_CHARS:
        raise invalid(name)
    try:
        items = json.loads(value)
    except (ValueError, RecursionError):
        raise mandatory(name) from None
    if not isinstance(items, list):
        raise mandatory(name)
    if len(items) > MAX_LIST_ITEMS[name]:
        return  # the handler answers the count error (-4082 / -1130) before reading any item
    for item in items:
        if name == "batchOrders":
            if not isinstance(item, dict):
                raise mandatory(name)
            for key, field in item.items():
                if not _is_scalar(field):
                    raise mandatory(name)
                check_value(str(key), _scalar_text(field))
        else:
            if not _is_scalar(item):
                raise mandatory(name)
            text = _scalar_text(item)
            check_value("orderId" if name == "orderIdList" else "origClientOrderId", text)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _scalar_text(value: Any) -> str:
    """A JSON scalar as the engine reads it (bools as Binance spells them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def strict_int(text: str | None) -> int | None:
    """`text` as an int if it is 1-20 ASCII digits, else None (never raises)."""
    if text is None or not _INT.fullmatch(text):
        return None
    return int(text)


def require(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise mandatory(name)
    return value


def opt_int(params: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    number = strict_int(value)
    if number is None:
        raise illegal_chars(name, INT_RANGE)
    return number


def limit_param(params: Mapping[str, str], default: int, maximum: int) -> int:
    """`limit` in 1..maximum (Binance answers -1130 for out-of-range values)."""
    limit = opt_int(params, "limit", default)
    assert limit is not None
    if limit < 1 or limit > maximum:
        raise invalid("limit")
    return limit


@overload
def symbol_param(
    params: Mapping[str, str], known: Container[str], required: Literal[True] = True
) -> str: ...
@overload
def symbol_param(
    params: Mapping[str, str], known: Container[str], required: bool
) -> str | None: ...
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
