"""Typed reads of REST parameters (all strings, as decoded from the HTTP request).

Each reader raises the BinanceError Binance answers for a missing or malformed value.
"""

import builtins
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from exchange_sim.errors import BinanceError

E = TypeVar("E", bound=StrEnum)

_DECIMAL = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$")
_INT = re.compile(r"^-?\d+$")


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def invalid(name: str) -> BinanceError:
    return BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")


class Params:
    """Read-only view of one request's parameters with Binance-style validation errors."""

    __slots__ = ("_p",)

    def __init__(self, params: Mapping[str, str]) -> None:
        self._p = params

    def has(self, name: str) -> bool:
        return self._p.get(name) not in (None, "")

    def opt(self, name: str) -> str | None:
        value = self._p.get(name)
        return None if value in (None, "") else str(value)

    def req(self, name: str) -> str:
        value = self.opt(name)
        if value is None:
            raise mandatory(name)
        return value

    def decimal(self, name: str, required: bool = False) -> Decimal | None:
        value = self.req(name) if required else self.opt(name)
        if value is None:
            return None
        if not _DECIMAL.match(value):
            raise mandatory(name)
        return Decimal(value)

    def int(self, name: str, required: bool = False) -> builtins.int | None:
        value = self.req(name) if required else self.opt(name)
        if value is None:
            return None
        if not _INT.match(value):
            raise mandatory(name)
        return int(value)

    def bool(self, name: str, default: bool = False) -> bool:
        value = self.opt(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise invalid(name)
        return lowered == "true"

    def enum(
        self, name: str, enum: type[E], code: builtins.int, msg: str, default: E | None = None
    ) -> E:
        value = self.opt(name)
        if value is None:
            if default is None:
                raise mandatory(name)
            return default
        try:
            return enum(value)
        except ValueError:
            raise BinanceError(code, msg) from None

    def json_list(self, name: str) -> list:
        value = self.req(name)
        try:
            parsed = json.loads(value)
        except ValueError:
            raise mandatory(name) from None
        if not isinstance(parsed, list):
            raise mandatory(name)
        return parsed

    def limit(self, default: builtins.int, maximum: builtins.int) -> builtins.int:
        value = self.int("limit")
        if value is None:
            return default
        if value <= 0:
            raise invalid("limit")
        return min(value, maximum)
