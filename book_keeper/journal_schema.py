"""The journal's tables: their SQL (created, and the columns added to an older journal), the
statements the applier writes them with, and how a row is read back (`_order`, `_fill`).

Schema (format 2). Prices, quantities and money are TEXT fixed-point decimal strings exactly
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
      updated_ms       INTEGER      time of the last applied event (exchange time); an ended
                                    order's, of its end (a late fill does not move it)
      intent           TEXT         why the daemon sent it (`core.enums.OrderIntent`): ORDINARY,
                                    REDUCING (its own risk-reducing order), PAST_STOP_CLOSE (the
                                    market close of a stop refused as past, -2021),
                                    CROSSED_CLOSE (the protection plan's market close of a level
                                    already crossed), FLATTEN (REDUCING's); ORDINARY for
                                    an adopted order and in a journal older than the column
                                    (read-only too); a restart's books take it (`Order.intent`)
      taken_over_qty   TEXT         an order adopted from an earlier journal: what it had filled
                                    when taken over (its first fills up to it were that
                                    journal's; a restart books only those beyond it); NULL
                                    for the orders this journal sent, and in a journal older
                                    than the column
      why_sent         TEXT         the decision journaled before it, `<who>: <why>`
                                    (`sma_crossover: sma10=... sma50=...: long`, `exec_manager:
                                    stop-loss 2% from entry ...`: `book_keeper.order_reasons`)
      why_cancelled    TEXT         the last cancel decision that named it, or a cancel-all of
                                    its symbol while it was open (`exec_manager: stale: open
                                    30001 ms (max 30000 ms)`); set when the cancel is decided,
                                    so read it for CANCELED orders. Both NULL for an adopted
                                    order and in a journal older than the columns
    fills              one row per execution of one of our orders, or of the exchange's own
                       order on our account (a liquidation, an auto-deleveraging, a delisting
                       settlement: `core.orders.forced_close`), or of an order placed outside
                       the daemon, by hand say (`outside:<its client id>`:
                       `core.orders.outside_order`); those two have no orders row
      symbol           TEXT   } PRIMARY KEY: a fill is stored once, however often it is
      trade_id         INTEGER}              reported (stream, REST reconciliation)
      seq              INTEGER      journal order (shared with events.seq)
      order_id         INTEGER
      client_order_id  TEXT         ours, the exchange's (autoclose-..., adl_autoclose...), or
                                    outside:<the client id of an order placed outside>
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
    balance_snapshots  account snapshots (`snapshot()`): the daemon's at every heartbeat, and
                       whenever equity net of transfers reaches a new high (the drawdown peak)
                       or falls to a new max drawdown below it (`BookKeeper.journal_extremes`):
                       the running peak and drawdown over the rows in rowid order are the
                       books' (older journals: of the heartbeats and peaks only)
      time_ms          INTEGER
      equity, wallet, unrealized_pnl   TEXT (USDT)
      transfers        TEXT         USDT moved in and out so far (the peak is net of it)
    checkpoints        the restart's replay at a position of the journal (book_keeper.checkpoint;
                       written by the applier once `keep_checkpoints` gave it the replay: in the
                       transaction of the rows it covers, every EVERY_RECORDS rows or EVERY_S
                       seconds, and at close; the newest KEEP are kept)
      id               INTEGER PRIMARY KEY
      version          INTEGER      of the state's layout (checkpoint.VERSION)
      seq              INTEGER      the last events / fills seq it covers
      order_rowid      INTEGER      the last orders rowid it covers
      snapshot_rowid   INTEGER      the last balance_snapshots rowid it covers
      symbols          TEXT         JSON list of the traded symbols it was made for
      state            BLOB         zlib-compressed JSON: books, order ledger, marks
    meta               key/value: schema_version (the format: `journal_format`), wal_applied_lsn
                       (the last journal.wal frame applied to the tables), venue (the exchange
                       the journal records: the daemon's REST URL, or "local exchange
                       (embedded)"), client_id_tag (the journal's part of its client order ids
                       `<prefix>-<tag>-<n>`, drawn at random when the journal is created)

Example: `sqlite3 journal/journal.sqlite3 "SELECT client_order_id, status, filled_qty FROM
orders WHERE status NOT IN ('FILLED','CANCELED','EXPIRED','REJECTED')"`.
"""

import sqlite3
from decimal import Decimal
from typing import Any

from book_keeper import codec
from book_keeper.checkpoint import JournalPosition
from core.enums import OrderIntent, OrderStatus, OrderType, PositionSide, Side, TimeInForce
from core.orders import PROTECTIVE_TYPES, Fill, Order

VENUE_KEY = "venue"  # meta: the exchange account the journal records (`bind_venue`)
# meta: the journal's part of its client order ids (`ClientOrderIds`), drawn when it is created
CLIENT_ID_TAG_KEY = "client_id_tag"
_APPLIED_KEY = "wal_applied_lsn"  # meta: the last journal.wal frame applied to the tables

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
    updated_ms      INTEGER NOT NULL,
    intent          TEXT NOT NULL DEFAULT 'ORDINARY',
    taken_over_qty  TEXT,
    why_sent        TEXT,
    why_cancelled   TEXT
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
CREATE INDEX IF NOT EXISTS fills_seq ON fills (seq);
CREATE INDEX IF NOT EXISTS fills_symbol_time ON fills (symbol, time_ms, seq);
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
    unrealized_pnl TEXT NOT NULL,
    transfers      TEXT NOT NULL DEFAULT '0'
);
CREATE INDEX IF NOT EXISTS balance_snapshots_time ON balance_snapshots (time_ms);
CREATE TABLE IF NOT EXISTS checkpoints (
    id             INTEGER PRIMARY KEY,
    version        INTEGER NOT NULL,
    seq            INTEGER NOT NULL,
    order_rowid    INTEGER NOT NULL,
    snapshot_rowid INTEGER NOT NULL,
    symbols        TEXT NOT NULL,
    state          BLOB NOT NULL
);
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
_FILL_COLUMNS_OF_F = ", ".join(f"f.{c.strip()}" for c in _FILL_COLUMNS.split(","))
_INSERT_ORDER = (
    f"INSERT OR IGNORE INTO orders ({_ORDER_COLUMNS}, intent, why_sent) "
    f"VALUES ({', '.join('?' * 20)})"
)
_UPDATE_ORDER = (
    "UPDATE orders SET order_id = ?, status = ?, filled_qty = ?, avg_price = ?, price = ?, "
    "qty = ?, reason = COALESCE(?, reason), updated_ms = ? WHERE client_order_id = ?"
)
# What an Order is read back from (`_order`): the row with its intent. The writer's connection
# always has the column (`_add_order_intent`); a reader's may not (`_order_row`).
_ORDER_ROW = f"{_ORDER_COLUMNS}, intent"
_SELECT_ORDER = f"SELECT {_ORDER_ROW} FROM orders WHERE client_order_id = ?"
_SET_TAKEN_OVER = "UPDATE orders SET taken_over_qty = ? WHERE client_order_id = ?"
_INSERT_FILL = f"INSERT OR IGNORE INTO fills ({_FILL_COLUMNS}) VALUES ({', '.join('?' * 15)})"
_INSERT_EVENT = (
    "INSERT INTO events (seq, event_time_ms, recv_time_ms, kind, symbol, payload) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_SNAPSHOT = (
    "INSERT INTO balance_snapshots (time_ms, equity, wallet, unrealized_pnl, transfers) "
    "VALUES (?, ?, ?, ?, ?)"
)
_OPEN_STATUSES = tuple(s.value for s in OrderStatus if not s.is_terminal)
_TERMINAL_STATUSES = tuple(s.value for s in OrderStatus if s.is_terminal)
# A cancel decision's text on the orders it cancels (`book_keeper.order_reasons`): one order,
# or a symbol's open ones (all, or all but its stop-loss / take-profit).
_SET_WHY_CANCELLED = "UPDATE orders SET why_cancelled = ? WHERE client_order_id = ?"
_OPEN_OF_SYMBOL = f"symbol = ? AND status IN ({', '.join(map(repr, _OPEN_STATUSES))})"
_SET_WHY_CANCELLED_ALL = f"UPDATE orders SET why_cancelled = ? WHERE {_OPEN_OF_SYMBOL}"
_PROTECTIVE_ROW = (
    "type IN ("
    + ", ".join(f"'{t.value}'" for t in sorted(PROTECTIVE_TYPES))
    + ") AND (close_position = 1 OR reduce_only = 1)"
)
_SET_WHY_CANCELLED_UNPROTECTIVE = (
    f"UPDATE orders SET why_cancelled = ? WHERE {_OPEN_OF_SYMBOL} AND NOT ({_PROTECTIVE_ROW})"
)


def _add_snapshot_transfers(db: sqlite3.Connection) -> None:
    """A journal made before snapshots kept the transfers gets the column (its rows: '0', as
    none were known to the portfolio limits then)."""
    if "transfers" not in _columns(db, "balance_snapshots"):
        db.execute("ALTER TABLE balance_snapshots ADD COLUMN transfers TEXT NOT NULL DEFAULT '0'")


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _add_order_intent(db: sqlite3.Connection) -> None:
    """A journal made before orders kept their intent gets the column (its rows: ORDINARY, as
    every order counted then)."""
    if "intent" not in _columns(db, "orders"):
        db.execute("ALTER TABLE orders ADD COLUMN intent TEXT NOT NULL DEFAULT 'ORDINARY'")


def _add_order_reasons(db: sqlite3.Connection) -> None:
    """A journal made before orders kept why they were sent and cancelled gets the columns
    (NULL: not known for its earlier orders)."""
    columns = _columns(db, "orders")
    for name in ("why_sent", "why_cancelled"):
        if name not in columns:
            db.execute(f"ALTER TABLE orders ADD COLUMN {name} TEXT")


def _add_taken_over_qty(db: sqlite3.Connection) -> None:
    """A journal made before orders kept what they had filled when taken over gets the column
    (NULL: its adopted orders' are not known, as before)."""
    if "taken_over_qty" not in _columns(db, "orders"):
        db.execute("ALTER TABLE orders ADD COLUMN taken_over_qty TEXT")


def end_position(db: sqlite3.Connection) -> JournalPosition:
    """The position after the last row of each table (0 where a table is empty)."""
    events, fills, orders, snapshots = db.execute(
        "SELECT (SELECT MAX(seq) FROM events), (SELECT MAX(seq) FROM fills),"
        " (SELECT MAX(rowid) FROM orders), (SELECT MAX(rowid) FROM balance_snapshots)"
    ).fetchone()
    return JournalPosition(max(events or 0, fills or 0), orders or 0, snapshots or 0)


_NET = "CAST(equity AS REAL) - CAST(transfers AS REAL)"
_SIZE = "ABS(CAST(equity AS REAL)) + ABS(CAST(transfers AS REAL))"


def peak_net_equity(
    db: sqlite3.Connection, since_ms: int = 0, after_rowid: int = 0
) -> Decimal | None:
    """The highest equity net of transfers of the balance snapshots taken from `since_ms` on
    (and stored after row `after_rowid`), exact: SQLite ranks them as floats, so the rows
    within float error of its top are compared as Decimals; of equal ones the earliest row's
    (the same answer a running maximum gives, `checkpoint.higher`)."""
    where = "time_ms >= ? AND rowid > ?"
    top, size = db.execute(
        f"SELECT MAX({_NET}), MAX({_SIZE}) FROM balance_snapshots WHERE {where}",
        (since_ms, after_rowid),
    ).fetchone()
    if top is None:
        return None
    slack = 1e-9 * (1.0 + size)  # a float's error here is ~1e-15 of the largest amount
    rows = db.execute(
        f"SELECT equity, transfers, MIN(rowid) FROM balance_snapshots WHERE {where}"
        f" AND {_NET} >= ? GROUP BY equity, transfers ORDER BY MIN(rowid)",
        (since_ms, after_rowid, top - slack),
    )
    best: Decimal | None = None
    for equity, transfers, _ in rows:
        net = Decimal(equity) - Decimal(transfers)
        if best is None or net > best:
            best = net
    return best


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
        intent,
    ) = row
    return Order(
        client_order_id=client_order_id,
        symbol=symbol,
        side=codec.member(Side, side, "orders.side"),
        type=codec.member(OrderType, type_, "orders.type"),
        quantity=Decimal(qty),
        price=None if price is None else Decimal(price),
        time_in_force=None
        if tif is None
        else codec.member(TimeInForce, tif, "orders.time_in_force"),
        status=codec.member(OrderStatus, status, "orders.status"),
        created_ms=created_ms,
        updated_ms=updated_ms,
        order_id=order_id,
        filled_qty=Decimal(filled_qty),
        avg_price=Decimal(avg_price),
        stop_price=None if stop_price is None else Decimal(stop_price),
        reduce_only=bool(reduce_only),
        close_position=bool(close_position),
        position_side=codec.member(PositionSide, position_side, "orders.position_side"),
        intent=codec.member(OrderIntent, intent, "orders.intent"),
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
        side=codec.member(Side, side, "fills.side"),
        price=Decimal(price),
        qty=Decimal(qty),
        commission=Decimal(commission),
        commission_asset=commission_asset,
        realized_pnl=Decimal(realized_pnl),
        is_maker=bool(is_maker),
        trade_time_ms=time_ms,
        recv_time_ms=recv_time_ms,
        position_side=codec.member(PositionSide, position_side, "fills.position_side"),
    )
