"""What every read of a journal's tables goes through (`JournalReader`): its connection,
reached only after everything recorded so far is applied (`flush`), and a value this version
does not know refused in one line. The reads themselves: `journal_restore_reads`,
`journal_limit_reads`, `journal_checkpoints`; `journal.SqliteJournal` has them all."""

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from book_keeper import codec
from book_keeper.journal_errors import JournalError
from book_keeper.journal_format import unknown_value
from book_keeper.journal_schema import _ORDER_COLUMNS
from core.enums import OrderIntent
from core.redaction import shown_path

_T = TypeVar("_T")


class JournalReader:
    """The connection the reads use; `SqliteJournal` opens it and provides `flush`."""

    path: Path
    readonly: bool
    _conn: sqlite3.Connection | None
    _has_intent: bool  # False: a journal older than `orders.intent`, opened read-only
    _has_taken_over: bool  # ... older than `orders.taken_over_qty`
    _has_reasons: bool  # ... older than `orders.why_sent` and `orders.why_cancelled`

    def flush(self) -> None:
        """Apply everything recorded so far (`SqliteJournal.flush`)."""
        raise NotImplementedError

    def _intent_of(self, alias: str = "") -> str:
        """The SQL of an orders row's intent (`alias`: the table's, with its dot): the column,
        or ORDINARY in a journal older than the column, opened read-only."""
        return f"{alias}intent" if self._has_intent else f"'{OrderIntent.ORDINARY.value}'"

    @property
    def _order_row(self) -> str:
        """The select list of an orders row as `_order` reads it (`_ORDER_ROW`)."""
        return f"{_ORDER_COLUMNS}, {self._intent_of()}"

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError(f"the journal {shown_path(self.path)} is closed")
        self.flush()
        return self._conn

    @contextlib.contextmanager
    def _decoding(self) -> Iterator[None]:
        """Rows decoded inside: a value this version lacks is the journal's one-line refusal
        (JournalTooNew), not a ValueError from wherever it was first read."""
        try:
            yield
        except codec.UnknownValue as e:
            raise unknown_value(self.path.parent, e) from None

    def _refusing(self, items: Iterator[_T]) -> Iterator[_T]:
        """`items`, decoded lazily, under `_decoding`."""
        with self._decoding():
            yield from items

    def _scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return self._db.execute(sql, tuple(params)).fetchone()[0]
