"""Events <-> JSON for the journal's `events.payload` column, without losing a Decimal digit.

Decimals become fixed-point strings ("61800.30", never "6.18003E+4"), enums their value, nested
dataclasses (OrderRequest, Position, Balance, Order, Fill) objects, tuples arrays. Decoding reads
the dataclass type hints, so every event class in `core.events` round-trips exactly.

A value this version cannot decode - an enum member or an event kind added by a newer version -
raises `UnknownValue` (a ValueError) naming it: the journal turns that into its one-line
refusal (`book_keeper.journal_errors.JournalTooNew`), never a half-read state.
"""

import dataclasses
import functools
import json
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, TypeVar

import orjson

from core import events as core_events
from core.events import Event

E = TypeVar("E", bound=Enum)


class UnknownValue(ValueError):
    """A journaled value this version does not know (a newer version wrote it); `what` names
    it as a person reads it: `OrderIntent 'HEDGE'`, `record kind 'OrderMoved'`."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is unknown to this version")
        self.what = what


def member(cls: type[E], value: Any, where: str | None = None) -> E:
    """The member of `cls` journaled as `value`; UnknownValue (`where`: the column, else the
    enum's name) for one this version lacks, so a newer version's journal is refused by name
    instead of failing as a bare ValueError wherever it is first read."""
    try:
        return cls(value)
    except ValueError:
        raise UnknownValue(f"{where or cls.__name__} {value!r}") from None


def dec(value: Decimal) -> str:
    """Fixed-point text of a Decimal, as stored in TEXT columns and JSON."""
    return f"{value:f}"


def opt_dec(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    """The fields a value is written and rebuilt with: not those derived in `__post_init__`
    (`init=False`, such as `LotSize.grid_max_qty`), which its class computes again."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


def to_jsonable(value: Any) -> Any:
    """A JSON-ready copy of a (nested) frozen dataclass value."""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: to_jsonable(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, (tuple, list)):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"cannot journal a {type(value).__name__}: {value!r}")


def dumps(event: Event) -> str:
    return json.dumps(to_jsonable(event), separators=(",", ":"))


def _orjson_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    raise TypeError(f"cannot journal a {type(value).__name__}: {value!r}")


orjson_default = _orjson_default  # for callers that inline `encode` (the journal's order path)


def encode(event: Event) -> bytes:
    """The same JSON as `dumps` (UTF-8 bytes, non-ASCII unescaped), ~5x faster: orjson walks
    the dataclasses, enums and tuples in C and calls back only for Decimals. Raises TypeError
    (orjson.JSONEncodeError) for a value that is not journalable."""
    return orjson.dumps(event, default=_orjson_default)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


# --- positional rows (the write-ahead log's record_many frames) ---------------------------------


def _nested_dataclass(tp: Any) -> type | None:
    """The dataclass a field holds (`OrderRequest`, `OrderRequest | None`), else None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = arms[0] if len(arms) == 1 else None
    return tp if isinstance(tp, type) and dataclasses.is_dataclass(tp) else None


def _make_rower(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    """`cls`'s row function, generated from its fields as `core.fast_init` makes `__init__`s:
    one tuple of attribute reads, a nested dataclass field as its own row."""
    hints = _hints(cls)
    namespace: dict[str, Any] = {}
    items = []
    for name in _field_names(cls):
        nested = _nested_dataclass(hints[name])
        if nested is None:
            items.append(f"e.{name}")
        else:
            namespace[f"_row_{name}"] = ROWERS[nested]
            items.append(f"(None if e.{name} is None else _row_{name}(e.{name}))")
    source = f"def row(e):\n    return ({', '.join(items)}{',' if len(items) == 1 else ''})\n"
    exec(source, namespace)  # the source: the class's own field names
    rower: Callable[[Any], tuple[Any, ...]] = namespace["row"]
    return rower


class _Rowers(dict[type, Callable[[Any], tuple[Any, ...]]]):
    def __missing__(self, cls: type) -> Callable[[Any], tuple[Any, ...]]:
        rower = self[cls] = _make_rower(cls)
        return rower


# Event class -> its row function: `ROWERS[type(event)](event)` is the event as a positional
# row, its init fields in order (a nested dataclass as a row of its own, every other value as
# `encode` writes it: orjson with `orjson_default`). orjson walks a slotted dataclass field by
# field through `__dataclass_fields__`: a DecisionMade and an OrderSubmitted as rows encode in
# ~0.9 us against ~2.3 us as objects, on the order path. `row_to_jsonable` reads one back.
ROWERS = _Rowers()


def row_to_jsonable(cls: type, row: Any) -> dict[str, Any]:
    """The object form (`encode`'s JSON, parsed) of a `cls` written as a row by `ROWERS`;
    UnknownValue for a row of another length (a newer version's fields), unless it lacks only
    trailing fields with defaults (an earlier version's row: they take their defaults)."""
    names = _field_names(cls)
    if not isinstance(row, list) or not _row_length_known(cls, len(row)):
        raise UnknownValue(f"{cls.__name__} row {row!r}")
    hints = _hints(cls)
    names = names[: len(row)]
    data = dict(zip(names, row, strict=True))
    for name in names:
        nested = _nested_dataclass(hints[name])
        if nested is not None and data[name] is not None:
            data[name] = row_to_jsonable(nested, data[name])
    return data


@cache
def _row_length_known(cls: type, length: int) -> bool:
    """A row of `length` values is `cls`'s now, or an earlier version's: the fields it lacks
    are trailing ones that have defaults."""
    fields = [f for f in dataclasses.fields(cls) if f.init]
    if length > len(fields):
        return False
    return all(
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in fields[length:]
    )


def from_jsonable(tp: Any, data: Any) -> Any:
    """Rebuild a value of type `tp` from what `to_jsonable` produced."""
    return _converter(tp)(data)


def _same(data: Any) -> Any:
    return data


@cache
def _converter(tp: Any) -> Callable[[Any], Any]:
    """The function that rebuilds a `tp` from its JSON, made once per type: reading the type
    hints for every value (~130 us for a VenueSnapshot) was most of a restart's time."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        arm = _converter(arms[0])
        return lambda data: None if data is None else arm(data)
    if origin is tuple:
        (item, *_) = typing.get_args(tp)
        each = _converter(item)
        return lambda data: tuple([each(v) for v in data])
    if tp is Decimal:
        return Decimal
    if isinstance(tp, type) and issubclass(tp, Enum):
        return functools.partial(member, tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_converter(tp)
    return _same


def _dataclass_converter(cls: type) -> Callable[[Any], Any]:
    fields: list[tuple[str, Callable[[Any], Any]]] = []

    def convert(data: Any) -> Any:
        if not fields:  # resolved at the first call: a field may be of a type not defined yet
            hints = _hints(cls)
            fields.extend((name, _converter(hints[name])) for name in _field_names(cls))
        return cls(**{name: conv(data[name]) for name, conv in fields if name in data})

    return convert


@cache
def event_classes() -> dict[str, type[Event]]:
    """Every concrete event class of core.events by name (the journal's `kind`)."""
    return {
        name: obj
        for name, obj in vars(core_events).items()
        if isinstance(obj, type) and issubclass(obj, Event) and obj is not Event
    }


def loads(kind: str, payload: str | bytes) -> Event:
    """The event journaled as (`kind`, `payload`); UnknownValue for a kind, or an enum member
    in it, that this version lacks."""
    cls = event_classes().get(kind)
    if cls is None:
        raise UnknownValue(f"record kind {kind!r}")
    event = from_jsonable(cls, orjson.loads(payload))
    assert isinstance(event, Event)
    return event
