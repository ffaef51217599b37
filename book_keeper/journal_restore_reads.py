"""The reads a restart restores the daemon from: its orders, fills and account events (the
replay of the books, row by row), what it had read of the exchange up to when, the venue the
journal is bound to and its client order ids; and the CSV export of the orders and fills."""

import csv
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import orjson

from book_keeper import codec
from book_keeper.checkpoint import merged_rows
from book_keeper.journal_errors import JournalError
from book_keeper.journal_format import unknown_value
from book_keeper.journal_reader import JournalReader
from book_keeper.journal_schema import (
    _FILL_COLUMNS,
    _FILL_COLUMNS_OF_F,
    _OPEN_STATUSES,
    _ORDER_ROW,
    CLIENT_ID_TAG_KEY,
    VENUE_KEY,
    _fill,
    _order,
)
from core.enums import OrderIntent, OrderStatus, OrderType, Side
from core.events import BalanceChanged, Event, FundingPaid, PositionChanged, VenueSnapshot
from core.orders import OUTSIDE_PREFIX, ClientOrderIds, Fill, Order, forced_close
from core.redaction import shown_path

log = logging.getLogger("book_keeper.journal")  # one logger for all the journal's modules

# `last_exchange_ms` reads the newest this many account updates of each kind (index by kind, seq)
ACCOUNT_EXCHANGE_ROWS = 64
# What the BookKeeper replays on restore, besides the fills.
ACCOUNT_EVENTS = tuple(
    cls.__name__ for cls in (BalanceChanged, PositionChanged, FundingPaid, VenueSnapshot)
)


class RestoreReads(JournalReader):
    """The restart's reads of `SqliteJournal` (and its CSV export)."""

    def load_orders(self) -> list[Order]:
        """Every journaled order, oldest first."""
        rows = self._db.execute(
            f"SELECT {self._order_row} FROM orders ORDER BY created_ms, rowid"
        ).fetchall()
        with self._decoding():
            return [_order(r) for r in rows]

    def open_orders(self) -> list[Order]:
        """Orders that are or may be live: NEW, PARTIALLY_FILLED, PENDING_SUBMIT, UNKNOWN."""
        marks = ", ".join("?" * len(_OPEN_STATUSES))
        rows = self._db.execute(
            f"SELECT {self._order_row} FROM orders WHERE status IN ({marks}) "
            "ORDER BY created_ms, rowid",
            _OPEN_STATUSES,
        ).fetchall()
        with self._decoding():
            return [_order(r) for r in rows]

    def symbols(self) -> set[str]:
        """Every symbol the journal has an order or a fill of."""
        rows = self._db.execute(
            "SELECT symbol FROM orders UNION SELECT symbol FROM fills"
        ).fetchall()
        return {r[0] for r in rows}

    def load_fills(self) -> list[Fill]:
        """Every journaled fill, in the order the journal stored them."""
        rows = self._db.execute(f"SELECT {_FILL_COLUMNS} FROM fills ORDER BY seq").fetchall()
        with self._decoding():
            return [_fill(r) for r in rows]

    def last_fill_order(self, symbol: str) -> tuple[Side, OrderType, OrderIntent] | None:
        """The side, type and intent of the order that made `symbol`'s last journaled fill
        (None without one, or when it was the exchange's own order, a liquidation: no orders
        row): a restart learns whether a stop-loss or take-profit closed the position, or the
        market close of one refused as past (-2021) or of a level already crossed."""
        row = self._db.execute(
            f"SELECT o.side, o.type, {self._intent_of('o.')} FROM fills f LEFT JOIN orders o"
            " ON o.client_order_id = f.client_order_id"
            " WHERE f.symbol = ? ORDER BY f.time_ms DESC, f.seq DESC LIMIT 1",
            (symbol,),
        ).fetchone()
        if row is None or row[0] is None:
            return None
        with self._decoding():
            return (
                codec.member(Side, row[0], "orders.side"),
                codec.member(OrderType, row[1], "orders.type"),
                codec.member(OrderIntent, row[2], "orders.intent"),
            )

    def open_orders_of(self, *intents: OrderIntent) -> dict[str, str]:
        """Client id -> symbol of the open orders (as `open_orders`) sent with one of
        `intents` (the `orders.intent` column)."""
        statuses = ", ".join("?" * len(_OPEN_STATUSES))
        wanted = ", ".join("?" * len(intents))
        rows = self._db.execute(
            f"SELECT client_order_id, symbol FROM orders WHERE status IN ({statuses})"
            f" AND {self._intent_of()} IN ({wanted})",
            (*_OPEN_STATUSES, *(i.value for i in intents)),
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def last_trade_id(self, symbol: str) -> int | None:
        """The highest trade id journaled for `symbol` (userTrades `fromId` after a restart)."""
        value = self._scalar("SELECT MAX(trade_id) FROM fills WHERE symbol = ?", (symbol,))
        return None if value is None else int(value)

    def last_fill(self, symbol: str) -> Fill | None:
        """`symbol`'s journaled fill of the highest trade id: the account's trades must still
        hold it at a restart (`VenueSync.last_trades`: a reset account's do not)."""
        row = self._db.execute(
            f"SELECT {_FILL_COLUMNS} FROM fills WHERE symbol = ? ORDER BY trade_id DESC LIMIT 1",
            (symbol,),
        ).fetchone()
        if row is None:
            return None
        with self._decoding():
            return _fill(row)

    def forced_fill_since(self, since_ms: int) -> str | None:
        """The client id of a journaled fill made at or after `since_ms` (exchange ms) by one
        of the exchange's own orders (a liquidation, an auto-deleveraging, a settlement), if
        any: a halt that one followed is not lifted by itself."""
        rows = self._db.execute(
            "SELECT DISTINCT client_order_id FROM fills WHERE time_ms >= ?", (since_ms,)
        )
        return next((cid for (cid,) in rows if forced_close(cid) is not None), None)

    def last_record_ms(self) -> int | None:
        """The latest time the journal holds (event, fill or balance snapshot): up to when
        the daemon knew its account (funding settled after it is read back at start-up)."""
        value = self._scalar(
            "SELECT MAX(t) FROM (SELECT MAX(event_time_ms) AS t FROM events"
            " UNION ALL SELECT MAX(time_ms) FROM fills"
            " UNION ALL SELECT MAX(time_ms) FROM balance_snapshots)"
        )
        return None if value is None else int(value)

    def last_snapshot_trade_ids(self) -> dict[str, int] | None:
        """The trade id per symbol the last reconciliation read up to (its journaled
        `VenueSnapshot.trade_ids`, below a fill it read but did not book): every fill up to
        it was in the books. None without a
        snapshot, or for one from before the field."""
        row = self._db.execute(
            "SELECT kind, payload FROM events WHERE kind = 'VenueSnapshot'"
            " ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        snapshot = codec.loads(*row)
        assert isinstance(snapshot, VenueSnapshot)
        return dict(snapshot.trade_ids) if snapshot.trade_ids else None

    def last_exchange_ms(self) -> int | None:
        """The latest time the exchange stamped on what the daemon received: a fill's, an
        account update's (`PositionChanged`, `BalanceChanged`: stamped at or after the fills
        it reports). Unlike `last_record_ms`, no time of our clock's (a balance snapshot, a
        state change), so no clock error. Account updates are read among the newest
        ACCOUNT_EXCHANGE_ROWS of each kind (their times follow the journal's order but for
        a REST read racing the stream)."""
        value = self._scalar(
            "SELECT MAX(t) FROM (SELECT MAX(time_ms) AS t FROM fills"
            " UNION ALL SELECT MAX(event_time_ms) FROM (SELECT event_time_ms FROM events"
            " WHERE kind = 'PositionChanged' ORDER BY seq DESC LIMIT ?)"
            " UNION ALL SELECT MAX(event_time_ms) FROM (SELECT event_time_ms FROM events"
            " WHERE kind = 'BalanceChanged' ORDER BY seq DESC LIMIT ?))",
            (ACCOUNT_EXCHANGE_ROWS, ACCOUNT_EXCHANGE_ROWS),
        )
        return None if value is None else int(value)

    @property
    def venue(self) -> str | None:
        """The exchange account this journal belongs to (`bind_venue`); None when unbound."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (VENUE_KEY,)).fetchone()
        return None if row is None else str(row[0])

    def bind_venue(self, venue: str) -> None:
        """Bind the journal to the exchange account it records (its first run does): what it
        holds (books, limits, trade ids) is about that account and no other."""
        if self.readonly:
            raise JournalError(f"the journal {shown_path(self.path)} is open read-only")
        # secure_delete: a binding replaced (an earlier version's, with a proxy's password in
        # its URL) is overwritten with zeros in the file, not left in the page's free space.
        self._db.execute("PRAGMA secure_delete = ON")
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (VENUE_KEY, venue)
            )
        finally:
            self._db.execute("PRAGMA secure_delete = OFF")

    @property
    def client_id_tag(self) -> str:
        """The journal's part of its client order ids (`core.orders.ClientOrderIds`), drawn
        when the journal was created; "" for a journal an earlier version began (its ids stay
        `<prefix>-<n>`)."""
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = ?", (CLIENT_ID_TAG_KEY,)
        ).fetchone()
        return "" if row is None else str(row[0])

    def max_client_seq(self, stem: str) -> int:
        """The highest n of our client order ids `<stem>-<n>` (`ClientOrderIds.stem`); 0 when
        there is none. A denied request took its id too (no orders row): the latest denial
        counts, so that the next session does not give its id to another order."""
        return max(self._max_order_seq(stem), self.last_denied_seq(stem))

    def last_denied_seq(self, prefix: str) -> int:
        """The n of the latest denied request's client order id `<prefix>-<n>` (0: none)."""
        row = self._db.execute(
            "SELECT payload FROM events WHERE kind = 'RiskDenied' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return 0
        payload = row[0]
        try:
            cid = orjson.loads(payload)["request"]["client_order_id"]
            seq = ClientOrderIds.seq_of(cid, prefix) if isinstance(cid, str) else None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return 0
        return 0 if seq is None else seq

    def _max_order_seq(self, prefix: str) -> int:
        low = f"{prefix}-"
        high = f"{prefix}."  # "." sorts right after "-": the range holds exactly `prefix-...`
        tail = len(low) + 1
        value = self._scalar(
            "SELECT MAX(CAST(substr(client_order_id, ?) AS INTEGER)) FROM orders "
            "WHERE client_order_id >= ? AND client_order_id < ? "
            "AND substr(client_order_id, ?) GLOB '[0-9]*' "
            "AND substr(client_order_id, ?) NOT GLOB '*[^0-9]*'",
            (tail, low, high, tail, tail),
        )
        return 0 if value is None else int(value)

    def load_events(
        self, kinds: Iterable[str] | None = None, *, after_seq: int = 0
    ) -> list[tuple[int, Event]]:
        """(seq, event) of the `events` table in journal order (after `after_seq`), optionally
        of some kinds only.

        A row of a kind, or holding an enum member, that this version does not know (a newer
        version's) raises JournalTooNew; one it cannot read otherwise (a damaged payload) is
        skipped with a warning.
        """
        return list(self._iter_events(kinds, after_seq))

    def _iter_events(
        self, kinds: Iterable[str] | None = None, after_seq: int = 0
    ) -> Iterator[tuple[int, Event]]:
        if kinds is None:
            rows = self._db.execute(
                "SELECT seq, kind, payload FROM events WHERE seq > ? ORDER BY seq", (after_seq,)
            )
        else:
            wanted = tuple(kinds)
            marks = ", ".join("?" * len(wanted))
            rows = self._db.execute(
                f"SELECT seq, kind, payload FROM events WHERE kind IN ({marks}) AND seq > ?"
                " ORDER BY seq",
                (*wanted, after_seq),
            )
        for seq, kind, payload in rows:
            try:
                event = codec.loads(kind, payload)
            except codec.UnknownValue as e:  # a newer version's: never skipped (a wrong book)
                raise unknown_value(self.path.parent, e) from None
            except (KeyError, ValueError, TypeError, ArithmeticError) as e:
                log.warning("journal: event %s (%s) cannot be read back: %s", seq, kind, e)
                continue
            yield seq, event

    def replay_rows(self, after_seq: int = 0) -> Iterator[tuple[int, Fill | Event, bool]]:
        """(seq, item, known) of the fills and account events (balances, positions, funding,
        venue snapshots) after `after_seq`, merged in journal order: replaying them rebuilds
        the books exactly as they were applied. `known`: a fill whose client order id has an
        orders row. Read and decoded row by row as it is iterated, not all at once (a journal
        of some weeks holds hundreds of thousands of them)."""
        rows = self._db.execute(
            f"SELECT {_FILL_COLUMNS_OF_F}, o.rowid IS NOT NULL FROM fills f"
            " LEFT JOIN orders o ON o.client_order_id = f.client_order_id"
            " WHERE f.seq > ? ORDER BY f.seq",
            (after_seq,),
        )
        fills = ((row[2], _fill(row[:15]), bool(row[15])) for row in rows)
        return self._refusing(merged_rows(fills, self._iter_events(ACCOUNT_EVENTS, after_seq)))

    def orders_after(self, rowid: int) -> list[tuple[int, str, str, str, int]]:
        """(rowid, client order id, symbol, status, created_ms) of the orders rows after
        `rowid`, in the order they were added."""
        return self._db.execute(
            "SELECT rowid, client_order_id, symbol, status, created_ms FROM orders"
            " WHERE rowid > ? ORDER BY rowid",
            (rowid,),
        ).fetchall()

    def order_statuses_of(self, client_order_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(client order id, status) of these orders (those the journal has)."""
        out: list[tuple[str, str]] = []
        for i in range(0, len(client_order_ids), 500):  # SQLite's limit of ? per statement
            chunk = tuple(client_order_ids[i : i + 500])
            out += self._db.execute(
                "SELECT client_order_id, status FROM orders WHERE client_order_id IN"
                f" ({', '.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
        return out

    def last_event_ms(self, *, after_seq: int = 0) -> int | None:
        """The latest event time of the events after `after_seq`."""
        value = self._scalar("SELECT MAX(event_time_ms) FROM events WHERE seq > ?", (after_seq,))
        return None if value is None else int(value)

    def last_fill_ms(self) -> int | None:
        value = self._scalar("SELECT MAX(time_ms) FROM fills")
        return None if value is None else int(value)

    def last_snapshot_ms(self) -> int | None:
        value = self._scalar("SELECT MAX(time_ms) FROM balance_snapshots")
        return None if value is None else int(value)

    def order_statuses(self) -> list[tuple[str, OrderStatus]]:
        """(client order id, status) of every journaled order, oldest first: what a restore
        needs of the ended ones, without building each one's Order."""
        rows = self._db.execute(
            "SELECT client_order_id, status FROM orders ORDER BY created_ms, rowid"
        ).fetchall()
        with self._decoding():
            return [(cid, codec.member(OrderStatus, s, "orders.status")) for cid, s in rows]

    def taken_over_qtys(self) -> dict[str, Decimal]:
        """Client id -> the quantity it had filled when it was taken over, of each open order
        (as `open_orders`) adopted from an earlier journal with a fill by then: its first
        fills up to it were that journal's, in the books through the snapshot that adopted
        it (`LiveVenue.restore`'s `taken_over`)."""
        marks = ", ".join("?" * len(_OPEN_STATUSES))
        rows = self._db.execute(
            "SELECT client_order_id, taken_over_qty FROM orders"
            f" WHERE taken_over_qty IS NOT NULL AND status IN ({marks})",
            _OPEN_STATUSES,
        ).fetchall()
        return {cid: qty for cid, text in rows if (qty := Decimal(text)) > 0}

    def open_order_trade_ids(self) -> dict[str, list[int]]:
        """The journaled trade ids of each order that is or may be live (`open_orders`), in
        journal order: the fills a restarted venue must not report again. An order adopted
        from an earlier journal has those it made while the daemon was down too, booked
        under `outside:<its client id>` (`core.orders.outside_client_id`)."""
        marks = ", ".join("?" * len(_OPEN_STATUSES))
        rows = self._db.execute(
            "SELECT o.client_order_id, f.trade_id, f.seq FROM fills f JOIN orders o"
            f" ON f.client_order_id = o.client_order_id WHERE o.status IN ({marks})"
            " UNION ALL SELECT o.client_order_id, f.trade_id, f.seq FROM fills f JOIN orders o"
            f" ON f.client_order_id = ? || o.client_order_id WHERE o.status IN ({marks})"
            " ORDER BY 3",
            (*_OPEN_STATUSES, OUTSIDE_PREFIX, *_OPEN_STATUSES),
        )
        out: dict[str, list[int]] = {}
        for cid, trade_id, _seq in rows:
            out.setdefault(cid, []).append(trade_id)
        return out

    def export_csv(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write orders.csv and fills.csv (the table columns, a header row, decimals as
        stored; an order's `intent` ORDINARY and its `taken_over_qty`, `why_sent` and
        `why_cancelled` empty in a journal older than the column; `why_cancelled` only for a
        CANCELED order) into `out_dir`; return their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        taken_over = "taken_over_qty" if self._has_taken_over else "NULL"
        # A cancel decided for an order that filled first did not cancel it.
        reasons = (
            "why_sent, CASE WHEN status = 'CANCELED' THEN why_cancelled END"
            if self._has_reasons
            else "NULL, NULL"
        )
        jobs = (
            (
                "orders.csv",
                f"{_ORDER_ROW}, taken_over_qty, why_sent, why_cancelled",
                f"{self._order_row}, {taken_over}, {reasons}",
                "orders ORDER BY created_ms, rowid",
            ),
            ("fills.csv", _FILL_COLUMNS, _FILL_COLUMNS, "fills ORDER BY time_ms, symbol, trade_id"),
        )
        written = []
        for name, header, columns, source in jobs:
            path = out / name
            tmp = path.with_name(f".{name}.tmp")
            cursor = self._db.execute(f"SELECT {columns} FROM {source}")
            with tmp.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow([c.strip() for c in header.split(",")])
                writer.writerows(cursor)
            tmp.replace(path)
            written.append(path)
        return written
