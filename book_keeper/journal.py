"""The durable journal: every decision, order intent, order event, fill and account event of the
daemon, written before it is acted on, in one SQLite file `<journal_dir>/journal.sqlite3`.

`record(event)` commits one transaction per event and returns only once the commit is durable:
WAL mode with `synchronous=FULL`, so each commit fsyncs the write-ahead log and survives a
crash of the process *and* of the machine (power loss). `synchronous=NORMAL` would survive a
killed process only (the WAL is fsynced at checkpoints, not per commit); it is selectable with
`Synchronous.NORMAL` but not the default, because orders are rare and an order intent lost on
a power cut is exactly the "order sent, journal forgot it" case the journal exists to prevent.
bench/bench_journal.py measures both. One process writes a journal at a time (an exclusive
`journal.sqlite3.lock` file lock, released by the OS even after `kill -9`); readers (the
`sqlite3` CLI, `python -m book_keeper.export`) may read while the daemon runs.

Schema (version 1). Prices, quantities and money are TEXT fixed-point decimal strings exactly
as the exchange sent them (no float rounding; compare them in SQL with CAST(x AS REAL) only for
rough filters); times are INTEGER ms since the epoch (UTC); booleans INTEGER 0/1.

    orders             one row per order we sent or meant to send (client_order_id is ours)
      client_order_id  TEXT PRIMARY KEY
      order_id         INTEGER      the exchange's id; NULL until known
      symbol, side, type, time_in_force, position_side   TEXT (Binance spelling)
      price            TEXT         NULL for MARKET / stop-market
      qty              TEXT         0 for closePosition orders
      stop_price       TEXT         NULL unless conditional
      reduce_only, close_position   INTEGER 0/1
      status           TEXT         PENDING_SUBMIT (journaled before the request is sent),
                                    UNKNOWN (outcome unknown), NEW, PARTIALLY_FILLED, FILLED,
                                    CANCELED, REJECTED, EXPIRED, EXPIRED_IN_MATCH
      filled_qty       TEXT         cumulative executed quantity
      avg_price        TEXT         average fill price (0 before the first fill)
      reason           TEXT         last reject ("-2019 Margin is insufficient.") / expiry /
                                    unknown-outcome reason, else NULL
      created_ms       INTEGER      when the intent was journaled (our clock)
      updated_ms       INTEGER      time of the last applied event (exchange time)
    fills              one row per execution of one of our orders
      symbol           TEXT   } PRIMARY KEY: a fill is stored once, however often it is
      trade_id         INTEGER}              reported (stream, REST reconciliation)
      seq              INTEGER      journal order (shared with events.seq)
      order_id         INTEGER
      client_order_id  TEXT
      side, position_side  TEXT
      price, qty       TEXT
      commission       TEXT         positive = charged
      commission_asset TEXT
      realized_pnl     TEXT         Binance `rp`: PnL of the reduced part, before fees
      is_maker         INTEGER 0/1
      time_ms          INTEGER      exchange trade time
      recv_time_ms     INTEGER      our receive time
    events             everything else, append-only: decisions (DecisionMade), risk denials
                       (RiskDenied), trading-state changes, market-data gaps (GapDetected,
                       GapHealed), stream states, account events (BalanceChanged,
                       PositionChanged, FundingPaid, VenueSnapshot) and the order status
                       history (OrderAccepted, OrderCanceled, OrderExpired, OrderRejected,
                       OrderAmended, OrderStatusUnknown, OrderReconciled)
      seq              INTEGER PRIMARY KEY   journal order
      event_time_ms    INTEGER      exchange time (ours for our own events)
      recv_time_ms     INTEGER
      kind             TEXT         the core.events class name
      symbol           TEXT         NULL when the event is not about one symbol
      payload          TEXT         JSON of the event; decimals as strings
    balance_snapshots  periodic account snapshots (`snapshot()`, e.g. once a minute)
      time_ms          INTEGER
      equity, wallet, unrealized_pnl   TEXT (USDT)
    meta               key/value: schema_version

Example: `sqlite3 journal/journal.sqlite3 "SELECT client_order_id, status, filled_qty FROM
orders WHERE status NOT IN ('FILLED','CANCELED','EXPIRED','REJECTED')"`.
"""

import csv
import fcntl
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from book_keeper import codec
from book_keeper.codec import dec, opt_dec
from book_keeper.order_state import event_reason, evolve
from core.enums import OrderStatus, OrderType, PositionSide, Side, TimeInForce
from core.errors import FatalError
from core.events import (
    BalanceChanged,
    Event,
    FundingPaid,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
    OrderRejected,
    OrderStatusUnknown,
    OrderSubmitted,
    PositionChanged,
    VenueSnapshot,
)
from core.orders import Fill, IllegalTransition, Order

log = logging.getLogger(__name__)

FILE_NAME = "journal.sqlite3"
SCHEMA_VERSION = 1
# What the BookKeeper replays on restore, besides the fills.
ACCOUNT_EVENTS = tuple(
    cls.__name__ for cls in (BalanceChanged, PositionChanged, FundingPaid, VenueSnapshot)
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    order_id        INTEGER,
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL,
    type            TEXT NOT NULL,
    time_in_force   TEXT,
    price           TEXT,
    qty             TEXT NOT NULL,
    stop_price      TEXT,
    reduce_only     INTEGER NOT NULL,
    close_position  INTEGER NOT NULL,
    position_side   TEXT NOT NULL,
    status          TEXT NOT NULL,
    filled_qty      TEXT NOT NULL,
    avg_price       TEXT NOT NULL,
    reason          TEXT,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_status ON orders (status);
CREATE INDEX IF NOT EXISTS orders_symbol_order_id ON orders (symbol, order_id);
CREATE TABLE IF NOT EXISTS fills (
    symbol           TEXT NOT NULL,
    trade_id         INTEGER NOT NULL,
    seq              INTEGER NOT NULL,
    order_id         INTEGER NOT NULL,
    client_order_id  TEXT NOT NULL,
    side             TEXT NOT NULL,
    position_side    TEXT NOT NULL,
    price            TEXT NOT NULL,
    qty              TEXT NOT NULL,
    commission       TEXT NOT NULL,
    commission_asset TEXT NOT NULL,
    realized_pnl     TEXT NOT NULL,
    is_maker         INTEGER NOT NULL,
    time_ms          INTEGER NOT NULL,
    recv_time_ms     INTEGER NOT NULL,
    PRIMARY KEY (symbol, trade_id)
);
CREATE INDEX IF NOT EXISTS fills_client_order_id ON fills (client_order_id);
CREATE INDEX IF NOT EXISTS fills_time ON fills (time_ms);
CREATE TABLE IF NOT EXISTS events (
    seq           INTEGER PRIMARY KEY,
    event_time_ms INTEGER NOT NULL,
    recv_time_ms  INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    symbol        TEXT,
    payload       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, seq);
CREATE TABLE IF NOT EXISTS balance_snapshots (
    time_ms        INTEGER NOT NULL,
    equity         TEXT NOT NULL,
    wallet         TEXT NOT NULL,
    unrealized_pnl TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS balance_snapshots_time ON balance_snapshots (time_ms);
"""

_ORDER_COLUMNS = (
    "client_order_id, order_id, symbol, side, type, time_in_force, price, qty, stop_price, "
    "reduce_only, close_position, position_side, status, filled_qty, avg_price, reason, "
    "created_ms, updated_ms"
)
_FILL_COLUMNS = (
    "symbol, trade_id, seq, order_id, client_order_id, side, position_side, price, qty, "
    "commission, commission_asset, realized_pnl, is_maker, time_ms, recv_time_ms"
)
_INSERT_ORDER = f"INSERT OR IGNORE INTO orders ({_ORDER_COLUMNS}) VALUES ({', '.join('?' * 18)})"
_UPDATE_ORDER = (
    "UPDATE orders SET order_id = ?, status = ?, filled_qty = ?, avg_price = ?, price = ?, "
    "qty = ?, reason = COALESCE(?, reason), updated_ms = ? WHERE client_order_id = ?"
)
_SELECT_ORDER = f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = ?"
_INSERT_FILL = f"INSERT OR IGNORE INTO fills ({_FILL_COLUMNS}) VALUES ({', '.join('?' * 15)})"
_INSERT_EVENT = (
    "INSERT INTO events (seq, event_time_ms, recv_time_ms, kind, symbol, payload) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_SNAPSHOT = (
    "INSERT INTO balance_snapshots (time_ms, equity, wallet, unrealized_pnl) VALUES (?, ?, ?, ?)"
)
_OPEN_STATUSES = tuple(s.value for s in OrderStatus if not s.is_terminal)


class JournalError(FatalError):
    """The journal cannot be opened or written: stop trading (nothing may happen unjournaled)."""


class Synchronous(StrEnum):
    FULL = "FULL"  # every commit fsyncs the WAL: survives power loss
    NORMAL = "NORMAL"  # WAL fsynced at checkpoints: survives a killed process only


def journal_file(path: str | os.PathLike[str]) -> Path:
    """The journal file for a journal directory (or a path that already names the file)."""
    p = Path(path)
    if p.suffix in (".sqlite3", ".sqlite", ".db") or p.is_file():
        return p
    return p / FILE_NAME


class SqliteJournal:
    """`core.journal.Journal` in SQLite, with the restore and audit queries of the daemon.

    Not thread-safe: one asyncio thread writes. Order rows follow the `core.orders` transition
    table: an event that would make an illegal move is logged and counted
    (`illegal_transitions`), never applied; fills are stored whatever the order's state.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = Synchronous.FULL,
        readonly: bool = False,
    ) -> None:
        self.path = journal_file(path)
        self.readonly = readonly
        self.illegal_transitions = 0
        self.unknown_order_events = 0
        self._lock_fd: int | None = None
        self._open_orders: dict[str, Order] = {}
        self._conn: sqlite3.Connection | None = None
        self._conn = self._connect(synchronous)
        self._seq = self._scalar(
            "SELECT MAX(COALESCE((SELECT MAX(seq) FROM events), 0), "
            "COALESCE((SELECT MAX(seq) FROM fills), 0))"
        )
        for order in self.open_orders():
            self._open_orders[order.client_order_id] = order
        self._handlers: dict[type, Callable[[Any], None]] = {
            OrderSubmitted: self._on_submitted,
            OrderPartiallyFilled: self._on_fill,
            OrderFilled: self._on_fill,
            OrderAccepted: self._on_order_event,
            OrderRejected: self._on_order_event,
            OrderCanceled: self._on_order_event,
            OrderExpired: self._on_order_event,
            OrderAmended: self._on_order_event,
            OrderStatusUnknown: self._on_order_event,
            OrderReconciled: self._on_order_event,
        }

    # --- opening ---------------------------------------------------------------------------

    def _connect(self, synchronous: Synchronous) -> sqlite3.Connection:
        path = self.path
        try:
            if self.readonly:
                if not path.is_file():
                    raise JournalError(f"no journal at {path}")
                db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
                db.isolation_level = None
                version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'")
                row = version.fetchone()
                if row is None:
                    raise JournalError(f"{path} is not a journal (no schema_version)")
                return db
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock(path)
            db = sqlite3.connect(path, isolation_level=None, cached_statements=64)
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise JournalError(f"{path}: SQLite refused WAL mode (got {mode})")
            db.execute(f"PRAGMA synchronous = {Synchronous(synchronous).value}")
            db.execute("PRAGMA busy_timeout = 5000")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row[0]) > SCHEMA_VERSION:
                raise JournalError(
                    f"{path} has schema version {row[0]}; this daemon reads up to {SCHEMA_VERSION}"
                )
            return db
        except sqlite3.Error as e:
            self._unlock()
            raise JournalError(f"cannot open the journal {path}: {e}") from e
        except OSError as e:
            self._unlock()
            raise JournalError(f"cannot open the journal {path}: {e.strerror or e}") from e
        except JournalError:
            self._unlock()
            raise

    def _lock(self, path: Path) -> None:
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalError(f"the journal {path} is in use by another process") from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def close(self) -> None:
        """Checkpoint and close; the journal may then be opened by another process."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._unlock()

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError(f"the journal {self.path} is closed")
        return self._conn

    def __enter__(self) -> "SqliteJournal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------

    def record(self, event: Event) -> None:
        """Append `event` in its own transaction; durable when this returns.

        Raises JournalError when the write fails (disk full, I/O error): the caller must not
        act on an event it could not journal.
        """
        if self.readonly:
            raise JournalError(f"the journal {self.path} is open read-only")
        handler = self._handlers.get(type(event))
        db = self._db
        try:
            if handler is None:  # one INSERT: its own transaction in autocommit mode
                self._on_event(event)
                return
            db.execute("BEGIN IMMEDIATE")
            try:
                handler(event)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            self._open_orders = {o.client_order_id: o for o in self.open_orders()}
            raise JournalError(f"journal write failed ({type(event).__name__}): {e}") from e

    def record_many(self, events: Sequence[Event]) -> None:
        """Append `events` in one transaction: all of them durable when this returns, or none.

        The ExecManager journals a decision together with the OrderSubmitted (or RiskDenied)
        it leads to this way: one commit instead of two on the tick path. Raises JournalError
        like `record`.
        """
        if self.readonly:
            raise JournalError(f"the journal {self.path} is open read-only")
        handlers = self._handlers
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                for event in events:
                    (handlers.get(type(event)) or self._on_event)(event)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                # an OrderSubmitted before the failure is in the cache but not in the file
                self._open_orders = {o.client_order_id: o for o in self.open_orders()}
                raise
        except sqlite3.Error as e:
            kinds = ", ".join(type(event).__name__ for event in events)
            raise JournalError(f"journal write failed ({kinds}): {e}") from e

    def snapshot(
        self, *, time_ms: int, equity: Decimal, wallet: Decimal, unrealized_pnl: Decimal
    ) -> None:
        """A periodic balance snapshot (USDT); durable when this returns."""
        if self.readonly:
            raise JournalError(f"the journal {self.path} is open read-only")
        try:
            self._db.execute(
                _INSERT_SNAPSHOT, (time_ms, dec(equity), dec(wallet), dec(unrealized_pnl))
            )
        except sqlite3.Error as e:
            raise JournalError(f"journal write failed (snapshot): {e}") from e

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _insert_event(self, event: Event, symbol: str | None) -> None:
        self._db.execute(
            _INSERT_EVENT,
            (
                self._next_seq(),
                event.event_time_ms,
                event.recv_time_ms,
                type(event).__name__,
                symbol,
                codec.dumps(event),
            ),
        )

    def _on_event(self, event: Event) -> None:
        symbol = getattr(event, "symbol", None)
        if symbol is None:
            if isinstance(event, PositionChanged):
                symbol = event.position.symbol
            elif (request := getattr(event, "request", None)) is not None:
                symbol = request.symbol
        self._insert_event(event, symbol)

    def _on_submitted(self, event: OrderSubmitted) -> None:
        r = event.request
        order = Order.from_request(r, event.event_time_ms)
        cursor = self._db.execute(
            _INSERT_ORDER,
            (
                r.client_order_id,
                None,
                r.symbol,
                r.side.value,
                r.type.value,
                None if r.time_in_force is None else r.time_in_force.value,
                opt_dec(r.price),
                dec(order.quantity),
                opt_dec(r.stop_price),
                int(r.reduce_only),
                int(r.close_position),
                r.position_side.value,
                OrderStatus.PENDING_SUBMIT.value,
                "0",
                "0",
                None,
                event.event_time_ms,
                event.event_time_ms,
            ),
        )
        if cursor.rowcount == 0:
            log.warning(
                "journal: client order id %s submitted again; the first intent is kept",
                r.client_order_id,
            )
            self._insert_event(event, r.symbol)
            return
        self._open_orders[r.client_order_id] = order

    def _on_fill(self, event: OrderPartiallyFilled | OrderFilled) -> None:
        f = event.fill
        cursor = self._db.execute(
            _INSERT_FILL,
            (
                f.symbol,
                f.trade_id,
                self._seq + 1,
                f.order_id,
                f.client_order_id,
                f.side.value,
                f.position_side.value,
                dec(f.price),
                dec(f.qty),
                dec(f.commission),
                f.commission_asset,
                dec(f.realized_pnl),
                int(f.is_maker),
                f.trade_time_ms,
                f.recv_time_ms,
            ),
        )
        if cursor.rowcount == 0:
            return  # the same trade reported again (stream and REST): stored once
        self._seq += 1
        self._update_order(event, f.client_order_id)

    def _on_order_event(self, event: Event) -> None:
        self._insert_event(event, event.symbol)  # type: ignore[attr-defined]
        self._update_order(event, event.client_order_id)  # type: ignore[attr-defined]

    def _update_order(self, event: Event, client_order_id: str) -> None:
        order = self._open_orders.get(client_order_id)
        if order is None:
            order = self._load_order(client_order_id)
            if order is None:
                self.unknown_order_events += 1
                log.warning(
                    "journal: %s for unknown order %s (not sent by this journal's daemon)",
                    type(event).__name__,
                    client_order_id,
                )
                return
        try:
            new = evolve(order, event)
        except (IllegalTransition, ValueError) as e:
            self.illegal_transitions += 1
            log.warning("journal: %s not applied: %s", type(event).__name__, e)
            return
        if new is order:
            return
        self._db.execute(
            _UPDATE_ORDER,
            (
                new.order_id,
                new.status.value,
                dec(new.filled_qty),
                dec(new.avg_price),
                opt_dec(new.price),
                dec(new.quantity),
                event_reason(event),
                new.updated_ms,
                client_order_id,
            ),
        )
        if new.is_terminal:
            self._open_orders.pop(client_order_id, None)
        else:
            self._open_orders[client_order_id] = new

    # --- reading ---------------------------------------------------------------------------

    def _scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return self._db.execute(sql, tuple(params)).fetchone()[0]

    def _load_order(self, client_order_id: str) -> Order | None:
        row = self._db.execute(_SELECT_ORDER, (client_order_id,)).fetchone()
        return None if row is None else _order(row)

    def load_orders(self) -> list[Order]:
        """Every journaled order, oldest first."""
        rows = self._db.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders ORDER BY created_ms, rowid"
        ).fetchall()
        return [_order(r) for r in rows]

    def open_orders(self) -> list[Order]:
        """Orders that are or may be live: NEW, PARTIALLY_FILLED, PENDING_SUBMIT, UNKNOWN."""
        marks = ", ".join("?" * len(_OPEN_STATUSES))
        rows = self._db.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE status IN ({marks}) "
            "ORDER BY created_ms, rowid",
            _OPEN_STATUSES,
        ).fetchall()
        return [_order(r) for r in rows]

    def load_fills(self) -> list[Fill]:
        """Every journaled fill, in the order the journal stored them."""
        rows = self._db.execute(f"SELECT {_FILL_COLUMNS} FROM fills ORDER BY seq").fetchall()
        return [_fill(r) for r in rows]

    def last_trade_id(self, symbol: str) -> int | None:
        """The highest trade id journaled for `symbol` (userTrades `fromId` after a restart)."""
        value = self._scalar("SELECT MAX(trade_id) FROM fills WHERE symbol = ?", (symbol,))
        return None if value is None else int(value)

    def max_client_seq(self, prefix: str) -> int:
        """The highest n of our client order ids `<prefix>-<n>`; 0 when there is none."""
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

    def load_events(self, kinds: Iterable[str] | None = None) -> list[tuple[int, Event]]:
        """(seq, event) of the `events` table in journal order, optionally of some kinds only.

        Rows of a kind this version does not know are skipped with a warning.
        """
        if kinds is None:
            rows = self._db.execute("SELECT seq, kind, payload FROM events ORDER BY seq")
        else:
            wanted = tuple(kinds)
            marks = ", ".join("?" * len(wanted))
            rows = self._db.execute(
                f"SELECT seq, kind, payload FROM events WHERE kind IN ({marks}) ORDER BY seq",
                wanted,
            )
        out: list[tuple[int, Event]] = []
        for seq, kind, payload in rows:
            try:
                out.append((seq, codec.loads(kind, payload)))
            except (KeyError, ValueError, TypeError, ArithmeticError) as e:
                log.warning("journal: event %s (%s) cannot be read back: %s", seq, kind, e)
        return out

    def account_history(self) -> list[Fill | Event]:
        """Fills and account events (balances, positions, funding, venue snapshots) merged in
        journal order: replaying them rebuilds the books exactly as they were applied."""
        fills = [(seq, _fill(row)) for seq, row in self._fill_rows_with_seq()]
        events = self.load_events(ACCOUNT_EVENTS)
        merged: list[tuple[int, Fill | Event]] = [*fills, *events]
        merged.sort(key=lambda pair: pair[0])
        return [item for _, item in merged]

    def _fill_rows_with_seq(self) -> list[tuple[int, tuple[Any, ...]]]:
        rows = self._db.execute(f"SELECT seq, {_FILL_COLUMNS} FROM fills ORDER BY seq")
        return [(row[0], row[1:]) for row in rows]

    def load_snapshots(self) -> list[tuple[int, Decimal, Decimal, Decimal]]:
        """(time_ms, equity, wallet, unrealized_pnl) of every balance snapshot, oldest first."""
        rows = self._db.execute(
            "SELECT time_ms, equity, wallet, unrealized_pnl FROM balance_snapshots "
            "ORDER BY time_ms, rowid"
        )
        return [(t, Decimal(e), Decimal(w), Decimal(u)) for t, e, w, u in rows]

    def peak_equity(self) -> Decimal | None:
        """The highest snapshot equity (for a drawdown limit that survives a restart)."""
        row = self._db.execute(
            "SELECT equity FROM balance_snapshots ORDER BY CAST(equity AS REAL) DESC LIMIT 1"
        ).fetchone()
        return None if row is None else Decimal(row[0])

    def export_csv(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write orders.csv and fills.csv (the table columns, a header row, decimals as
        stored) into `out_dir`; return their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        jobs = (
            ("orders.csv", _ORDER_COLUMNS, "orders ORDER BY created_ms, rowid"),
            ("fills.csv", _FILL_COLUMNS, "fills ORDER BY time_ms, symbol, trade_id"),
        )
        written = []
        for name, columns, source in jobs:
            path = out / name
            tmp = path.with_name(f".{name}.tmp")
            cursor = self._db.execute(f"SELECT {columns} FROM {source}")
            with tmp.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow([c.strip() for c in columns.split(",")])
                writer.writerows(cursor)
            tmp.replace(path)
            written.append(path)
        return written


def _order(row: tuple[Any, ...]) -> Order:
    (
        client_order_id,
        order_id,
        symbol,
        side,
        type_,
        tif,
        price,
        qty,
        stop_price,
        reduce_only,
        close_position,
        position_side,
        status,
        filled_qty,
        avg_price,
        _reason,
        created_ms,
        updated_ms,
    ) = row
    return Order(
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side(side),
        type=OrderType(type_),
        quantity=Decimal(qty),
        price=None if price is None else Decimal(price),
        time_in_force=None if tif is None else TimeInForce(tif),
        status=OrderStatus(status),
        created_ms=created_ms,
        updated_ms=updated_ms,
        order_id=order_id,
        filled_qty=Decimal(filled_qty),
        avg_price=Decimal(avg_price),
        stop_price=None if stop_price is None else Decimal(stop_price),
        reduce_only=bool(reduce_only),
        close_position=bool(close_position),
        position_side=PositionSide(position_side),
    )


def _fill(row: tuple[Any, ...]) -> Fill:
    (
        symbol,
        trade_id,
        _seq,
        order_id,
        client_order_id,
        side,
        position_side,
        price,
        qty,
        commission,
        commission_asset,
        realized_pnl,
        is_maker,
        time_ms,
        recv_time_ms,
    ) = row
    return Fill(
        symbol=symbol,
        order_id=order_id,
        client_order_id=client_order_id,
        trade_id=trade_id,
        side=Side(side),
        price=Decimal(price),
        qty=Decimal(qty),
        commission=Decimal(commission),
        commission_asset=commission_asset,
        realized_pnl=Decimal(realized_pnl),
        is_maker=bool(is_maker),
        trade_time_ms=time_ms,
        recv_time_ms=recv_time_ms,
        position_side=PositionSide(position_side),
    )


__all__ = [
    "ACCOUNT_EVENTS",
    "FILE_NAME",
    "SCHEMA_VERSION",
    "JournalError",
    "SqliteJournal",
    "Synchronous",
    "journal_file",
]
