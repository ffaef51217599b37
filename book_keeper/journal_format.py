"""The journal's format mark and the refusal of a journal written by a newer version.

Format. `meta.schema_version` says which format the journal is written in (FORMAT, this
version's): a writer raises an older journal's mark to FORMAT when it opens it (after adding
what that format has: `journal_schema`'s `_add_snapshot_transfers`, `_add_order_intent`,
`_add_taken_over_qty`, `_add_order_reasons`),
and a journal marked newer than FORMAT is refused before anything in it is read or changed,
writer and reader alike (`JournalTooNew`: "the journal in ./journal (journal_dir) was written
by a newer version of this daemon (format N, this build reads up to M): run that version, or
start a new journal_dir", the directory as `shown_path` shows it). A row this version cannot
decode (an enum member or event kind it does not know: a newer version that did not raise the
mark) is refused with the same kind of line, naming the value, never skipped.

The rule: FORMAT goes up by one with every change that an older version would misread or fail
on - a new member of an enum that is journaled (an order's intent, side, status...; any enum in
an event), a new event kind that is journaled, a column or field whose meaning or unit changes.
What older versions read correctly as it is needs no bump: a new column with a default they do
not select, a new field with a default of an event (the codec builds an event from the fields
its class has), a new table, a new meta key. History:
    1  the first format (and the `transfers` and `intent` columns, added without a bump)
    2  `orders.intent` may be CROSSED_CLOSE or FLATTEN (versions reading format 1 knew
       ORDINARY, REDUCING and PAST_STOP_CLOSE only); and the `orders.taken_over_qty` column,
       added without a bump (an older version does not select it and reads each row as before);
       and `OrderReconciled.cause` (EXCHANGE, TAKEN_OVER_FILLS: `core.enums.ReconcileCause`),
       added without a bump (an older version ignores the field and reads the event as
       before; a member added to it later needs one); and balance snapshots at each new max
       drawdown of the books, added without a bump (rows of the same meaning: an older version
       reads them as the equity samples they are); `OrderRejected.not_sent` (STOPPING,
       LOCAL_CHECK, NETWORK_OR_RATE_LIMIT, IP_BANNED, ACCESS: `core.enums.NotSent`), added
       without a bump (as `OrderReconciled.cause`); and `VenueSnapshot.fills_read_recv_ms`,
       added without a bump (an older version ignores the field; read without it, a snapshot
       settles the books' held account updates as before); and the `orders.why_sent` and
       `orders.why_cancelled` columns, added without a bump (an older version does not
       select them)
"""

import os
import sqlite3
from enum import Enum
from pathlib import Path

from book_keeper import codec
from book_keeper.journal_errors import JournalTooNew, too_new_message
from book_keeper.journal_files import journal_file
from book_keeper.journal_schema import _columns
from core.enums import OrderIntent, OrderStatus, OrderType, PositionSide, Side, TimeInForce

# The journal format this version writes and reads up to (`meta.schema_version`): raised by one
# whenever an older version would misread what this one writes (the rule and history: above).
FORMAT = 2
SCHEMA_VERSION = FORMAT  # its former name
_FORMAT_KEY = "schema_version"


def newer_format(journal_dir: str | os.PathLike[str], mark: int) -> JournalTooNew:
    """The refusal of a journal marked with format `mark` > FORMAT."""
    return JournalTooNew(
        too_new_message(journal_dir, f"format {mark}, this build reads up to {FORMAT}")
    )


def unknown_value(journal_dir: str | os.PathLike[str], error: codec.UnknownValue) -> JournalTooNew:
    """The refusal of a journal holding a value this version cannot decode."""
    found = f"it holds {error.what}, unknown to this build, which reads formats up to {FORMAT}"
    return JournalTooNew(too_new_message(journal_dir, found))


def _format_mark(db: sqlite3.Connection) -> int | None:
    """The journal's format (`meta.schema_version`); None for a new file (no meta yet) or a
    journal without the mark (not a journal: its opening says so)."""
    if (
        db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        is None
    ):
        return None
    row = db.execute("SELECT value FROM meta WHERE key = ?", (_FORMAT_KEY,)).fetchone()
    if row is None:
        return None
    if not str(row[0]).isdigit():
        raise ValueError(f"meta.{_FORMAT_KEY} is {row[0]!r}, not a format number")
    return int(row[0])


def _mark_not_newer(db: sqlite3.Connection, path: Path) -> int | None:
    """The format mark of the journal file `path` open in `db` (`_format_mark`); `db` closed
    and JournalTooNew raised when it is newer than FORMAT (ValueError when it is no number)."""
    try:
        mark = _format_mark(db)
        if mark is not None and mark > FORMAT:
            raise newer_format(path.parent, mark)
    except BaseException:
        db.close()
        raise
    return mark


# What `check_readable` looks at without decoding a row: the enum columns of each table, and
# the event kinds (the enums inside event payloads are checked as they are decoded).
_ENUM_COLUMNS: dict[str, tuple[tuple[str, type[Enum]], ...]] = {
    "orders": (
        ("side", Side),
        ("type", OrderType),
        ("time_in_force", TimeInForce),
        ("position_side", PositionSide),
        ("status", OrderStatus),
        ("intent", OrderIntent),
    ),
    "fills": (("side", Side), ("position_side", PositionSide)),
}


def check_readable(path: str | os.PathLike[str], *, values: bool = True) -> None:
    """Raise JournalTooNew when the journal at `path` (a directory or the file) was written by
    a newer version: its format mark is newer than FORMAT, or (`values`) an enum column holds
    a member, or `events.kind` a kind, this version does not know. Read-only, so a command can
    refuse before it starts anything: the mark ~1 ms; the values one pass over the orders and
    the fills (0.25-0.35 s for 200,000 of each on a 2-core VM at load 5) and a seek per event
    kind (1,000,000 events: no scan).
    Silent without a journal, or with a file it cannot read (the journal's opening says why)."""
    file = journal_file(path)
    if not file.is_file():
        return
    try:
        db = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        try:
            mark = _format_mark(db)
            if mark is None:
                return
            if mark > FORMAT:
                raise newer_format(file.parent, mark)
            unknown = (_unknown_in_columns(db) or _unknown_kind(db)) if values else None
        finally:
            db.close()
    except (sqlite3.Error, ValueError):  # not a journal, or unreadable: its opening says why
        return
    if unknown is not None:
        raise unknown_value(file.parent, unknown)


def _unknown_in_columns(db: sqlite3.Connection) -> codec.UnknownValue | None:
    """The first value of an enum column (`_ENUM_COLUMNS`) this version does not know."""
    for table, enum_columns in _ENUM_COLUMNS.items():
        present = _columns(db, table)  # a journal older than `orders.intent` has no such column
        checked = [(column, enum) for column, enum in enum_columns if column in present]
        known = [frozenset(m.value for m in enum) for _, enum in checked]
        names = ", ".join(column for column, _ in checked)
        for row in db.execute(f"SELECT DISTINCT {names} FROM {table}"):
            for (column, _), members, value in zip(checked, known, row, strict=True):
                if value is not None and value not in members:
                    return codec.UnknownValue(f"{table}.{column} {value!r}")
    return None


def _unknown_kind(db: sqlite3.Connection) -> codec.UnknownValue | None:
    """The first event kind this version does not know: one seek in `events_kind` per kind
    the journal holds, not a scan of its events."""
    known = codec.event_classes()
    kind = ""
    while row := db.execute(
        "SELECT kind FROM events WHERE kind > ? ORDER BY kind LIMIT 1", (kind,)
    ).fetchone():
        kind = row[0]
        if kind not in known:
            return codec.UnknownValue(f"record kind {kind!r}")
    return None
