"""The journal's append-only write-ahead log `journal.wal`: the frame a record is appended as
(crc32, lsn, length, body), how the frames are read back (a torn last write is no record), and
the entries a body decodes to, as the applier takes them."""

import struct
import zlib
from collections.abc import Sequence
from operator import attrgetter
from typing import Any, NamedTuple

import orjson

from book_keeper import codec
from core.events import Event


class _Snapshot(NamedTuple):
    """A balance snapshot as it travels through the write-ahead log (decimal strings)."""

    time_ms: int
    equity: str
    wallet: str
    unrealized_pnl: str
    transfers: str = "0"  # USDT moved in and out so far (frames written before it: none)


SNAPSHOT_KIND = "_snapshot"  # the write-ahead log's kind for a balance snapshot

# One write-ahead log frame: crc32 (of the rest), lsn, body length, body. The body is one line
# per event, `<kind> <JSON>` (orjson escapes every newline inside the JSON), or, for a
# record_many, one JSON array `[[kind, ...], [row, ...]]` (a body starting with "["), each
# event a positional row of its fields (`codec.ROWERS`; an object in logs of earlier versions).
_CRC = struct.Struct("<I")
_HEAD = struct.Struct("<QI")
_FRAME_HEAD = _CRC.size + _HEAD.size
_MAX_BODY = 64 << 20  # a length above this is a torn or corrupt header, not a record

# A journal entry in memory: the event (or snapshot) and its JSON payload, or the event alone
# (record_many's: the applier encodes it).
_Entry = tuple[Any, bytes] | Event
_Batch = tuple[int, tuple[_Entry, ...]]


_PREFIXES: dict[type, bytes] = {}


def _kind_prefix(cls: type) -> bytes:
    """`<kind> `: the start of an event's line in a write-ahead log frame."""
    prefix = _PREFIXES.get(cls)
    if prefix is None:
        prefix = _PREFIXES[cls] = f"{cls.__name__} ".encode()
    return prefix


_KIND = attrgetter("__class__.__name__")  # an event's kind, as `record_many` writes it
_ROWERS = codec.ROWERS


def body_of_many(events: Sequence[Event]) -> bytes:
    """The body of `record_many`'s frame, `[[kinds], [rows]]`: one encode for the whole frame
    (the applier encodes each event's own payload later, off the order path; with the caches
    cold between two orders one orjson call costs ~5 us, two ~7 us), each event a positional
    row (`codec.ROWERS`: 2.5x cheaper for orjson than the dataclass)."""
    kinds = list(map(_KIND, events))  # map: no Python frame for it on the order path
    rows = []
    for e in events:  # a loop, not a comprehension: no frame of its own (CPython 3.11)
        rows.append(_ROWERS[e.__class__](e))
    return orjson.dumps((kinds, rows), default=codec.orjson_default)


def _frame(lsn: int, body: bytes) -> bytes:
    head = _HEAD.pack(lsn, len(body))
    return _CRC.pack(zlib.crc32(body, zlib.crc32(head))) + head + body


def read_wal(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The intact (lsn, body) frames at the start of `data` and the length they span; what
    follows them (a torn last write, garbage) is not a record."""
    frames: list[tuple[int, bytes]] = []
    pos = 0
    size = len(data)
    while pos + _FRAME_HEAD <= size:
        (crc,) = _CRC.unpack_from(data, pos)
        lsn, length = _HEAD.unpack_from(data, pos + _CRC.size)
        end = pos + _FRAME_HEAD + length
        if length > _MAX_BODY or end > size:
            break
        head = data[pos + _CRC.size : pos + _FRAME_HEAD]
        body = data[pos + _FRAME_HEAD : end]
        if zlib.crc32(body, zlib.crc32(head)) != crc:
            break
        frames.append((lsn, body))
        pos = end
    return frames, pos


def _as_object(kind: str, obj: Any) -> Any:
    """An event of a record_many frame in `codec.encode`'s object form: a positional row
    (`codec.ROWERS`) mapped to its field names; an object (logged by a version before rows)
    as it is."""
    if not isinstance(obj, list):
        return obj
    cls = codec.event_classes().get(kind)
    if cls is None:
        raise codec.UnknownValue(f"record kind {kind!r}")
    return codec.row_to_jsonable(cls, obj)


def _decode_body(body: bytes) -> tuple[_Entry, ...]:
    if body[:1] == b"[":  # record_many: [[kind, ...], [event row (or object), ...]]
        kinds, objects = orjson.loads(body)
        return tuple(
            (codec.loads(kind, payload := orjson.dumps(_as_object(kind, obj))), payload)
            for kind, obj in zip(kinds, objects, strict=True)
        )
    entries: list[_Entry] = []
    for line in body.split(b"\n"):
        kind_b, _, payload = line.partition(b" ")
        kind = kind_b.decode()
        if kind == SNAPSHOT_KIND:
            entries.append((_Snapshot(*orjson.loads(payload)), payload))
        else:
            entries.append((codec.loads(kind, payload), payload))
    return tuple(entries)
