"""The applier: the entries of the write-ahead log written into the journal's tables, each
batch once, and the restart's replay kept up to date and checkpointed along the way."""

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

import orjson

from book_keeper import codec
from book_keeper.checkpoint import EVERY_RECORDS, EVERY_S, Replay
from book_keeper.checkpoint import KEEP as KEEP_CHECKPOINTS
from book_keeper.checkpoint import VERSION as CHECKPOINT_VERSION
from book_keeper.codec import dec, opt_dec
from book_keeper.journal_schema import (
    _APPLIED_KEY,
    _INSERT_EVENT,
    _INSERT_FILL,
    _INSERT_ORDER,
    _INSERT_SNAPSHOT,
    _OPEN_STATUSES,
    _ORDER_ROW,
    _SELECT_ORDER,
    _SET_TAKEN_OVER,
    _SET_WHY_CANCELLED,
    _SET_WHY_CANCELLED_ALL,
    _SET_WHY_CANCELLED_UNPROTECTIVE,
    _UPDATE_ORDER,
    _fill,
    _order,
    end_position,
    peak_net_equity,
)
from book_keeper.journal_wal import _Batch, _Snapshot
from book_keeper.order_reasons import cancel_of, decision_text
from book_keeper.order_state import event_reason, evolve
from core.enums import OrderStatus
from core.events import (
    DecisionMade,
    Event,
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
from core.orders import IllegalTransition, Order, forced_close, outside_order

log = logging.getLogger("book_keeper.journal")  # one logger for all the journal's modules


class _Applier:
    """Applies journal entries to the SQLite tables: one transaction per batch, the batch's
    last lsn stored in `meta` in the same transaction (so a batch is applied exactly once).

    Used by the writer thread only (and by the opening thread for recovery, before the writer
    starts). Order rows follow the `core.orders` transition table: an event that would make an
    illegal move is logged and counted (`illegal_transitions`), never applied; fills are
    stored whatever the order's state.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.illegal_transitions = 0
        self.unknown_order_events = 0
        # The restart's replay, kept up to date row by row and checkpointed now and then
        # (`SqliteJournal.keep_checkpoints`); None: no checkpoints.
        self.replay: Replay | None = None
        self.every_records = EVERY_RECORDS
        self.every_s = EVERY_S
        self.checkpoints_written = 0
        self._rows_since_checkpoint = 0
        self._checkpoint_at = time.monotonic()
        self.applied_lsn = int(
            self._scalar(f"SELECT value FROM meta WHERE key = '{_APPLIED_KEY}'") or 0
        )
        self._seq = self._scalar(
            "SELECT MAX(COALESCE((SELECT MAX(seq) FROM events), 0), "
            "COALESCE((SELECT MAX(seq) FROM fills), 0))"
        )
        marks = ", ".join("?" * len(_OPEN_STATUSES))
        rows = db.execute(
            f"SELECT {_ORDER_ROW} FROM orders WHERE status IN ({marks})", _OPEN_STATUSES
        ).fetchall()
        self._open_orders: dict[str, Order] = {r[0]: _order(r) for r in rows}
        # The last decision that cancels nothing: the `why_sent` of the orders submitted next
        # (the ExecManager journals it with its OrderSubmitted, in one batch).
        self._last_decision: str | None = None
        self._handlers: dict[type, Callable[[Any, bytes], None]] = {
            OrderSubmitted: self._on_submitted,
            DecisionMade: self._on_decision,
            OrderPartiallyFilled: self._on_fill,
            OrderFilled: self._on_fill,
            OrderAccepted: self._on_order_event,
            OrderRejected: self._on_order_event,
            OrderCanceled: self._on_order_event,
            OrderExpired: self._on_order_event,
            OrderAmended: self._on_order_event,
            OrderStatusUnknown: self._on_order_event,
            OrderReconciled: self._on_order_event,
            VenueSnapshot: self._on_venue_snapshot,
            _Snapshot: self._on_snapshot,
        }

    def _scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = self.db.execute(sql, tuple(params)).fetchone()
        return None if row is None else row[0]

    def apply(self, batches: Sequence[_Batch]) -> None:
        """Apply the batches not applied yet, in one transaction; raises on a failure (rolled
        back, the cache of open orders reloaded)."""
        todo = [b for b in batches if b[0] > self.applied_lsn]
        if not todo:
            return
        db = self.db
        handlers = self._handlers
        saved = (self._seq, dict(self._open_orders))
        db.execute("BEGIN IMMEDIATE")
        try:
            for _lsn, entries in todo:
                for entry in entries:
                    if isinstance(entry, Event):  # record_many's: its JSON is made here
                        obj, payload = entry, codec.encode(entry)
                    else:
                        obj, payload = entry
                    (handlers.get(type(obj)) or self._on_event)(obj, payload)
            if self.replay is not None and self._checkpoint_due():
                self._write_checkpoint()
            last = todo[-1][0]
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_APPLIED_KEY, str(last))
            )
            db.execute("COMMIT")
        except BaseException:
            # A COMMIT that failed on a full disk has rolled back already: the ROLLBACK then
            # fails too ("no transaction is active"), and must not replace the cause.
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            self._seq, self._open_orders = saved
            if self.replay is not None:  # it saw rows that are not in the tables after all
                self._drop_replay("applying failed")
            raise
        self.applied_lsn = last

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _insert_event(self, event: Event, symbol: str | None, payload: bytes) -> None:
        kind = type(event).__name__
        self.db.execute(
            _INSERT_EVENT,
            (
                self._next_seq(),
                event.event_time_ms,
                event.recv_time_ms,
                kind,
                symbol,
                payload.decode(),
            ),
        )
        if self.replay is not None:
            self._feed(self.replay.event_row, kind, event.event_time_ms, payload, self._peak_since)

    def _peak_since(self, since_ms: int) -> Decimal | None:
        return peak_net_equity(self.db, since_ms)

    def _on_snapshot(self, s: _Snapshot, _payload: bytes) -> None:
        self.db.execute(_INSERT_SNAPSHOT, s)
        if self.replay is not None:
            self._feed(self.replay.snapshot_row, s.time_ms, s.equity, s.transfers)

    def _on_event(self, event: Event, payload: bytes) -> None:
        symbol = getattr(event, "symbol", None)
        if symbol is None:
            if isinstance(event, PositionChanged):
                symbol = event.position.symbol
            elif (request := getattr(event, "request", None)) is not None:
                symbol = request.symbol
        self._insert_event(event, symbol, payload)

    def _on_decision(self, event: DecisionMade, payload: bytes) -> None:
        """Its event row; a cancel's text on the orders it cancels, any other's kept for the
        orders submitted after it (`book_keeper.order_reasons`)."""
        self._on_event(event, payload)
        text = decision_text(event.strategy, event.reason, event.action)
        cancel = cancel_of(event.action)
        if cancel is None:
            self._last_decision = text
        elif cancel.client_order_id is not None:
            self.db.execute(_SET_WHY_CANCELLED, (text, cancel.client_order_id))
        else:
            sql = (
                _SET_WHY_CANCELLED_UNPROTECTIVE
                if cancel.keep_protection
                else _SET_WHY_CANCELLED_ALL
            )
            self.db.execute(sql, (text, event.symbol))

    def _on_venue_snapshot(self, event: VenueSnapshot, payload: bytes) -> None:
        """The snapshot's event row, and an orders row for each open order the venue took
        over as ours (`adopted`: placed by this daemon under an earlier journal), as it stands
        at the exchange: its later events are then of an order the journal knows (they were
        each logged as "for unknown order"), and a restart restores it as ours."""
        self._on_event(event, payload)
        if not event.adopted:
            return
        listed = {o.client_order_id: o for o in event.open_orders}
        for cid in event.adopted:
            order = listed.get(cid)
            if order is None or cid in self._open_orders:
                continue
            if self.db.execute(_SELECT_ORDER, (cid,)).fetchone() is not None:
                continue  # a row of ours already (it cannot be adopted twice)
            self._insert_order_row(order)

    def _insert_order_row(self, order: Order) -> None:
        """An orders row for `order` as it stands at the exchange (an adopted one), with its
        own times (the exchange's: what Binance's retention of ended orders counts from)."""
        cid = order.client_order_id
        cursor = self.db.execute(
            _INSERT_ORDER,
            (
                cid,
                order.order_id,
                order.symbol,
                order.side.value,
                order.type.value,
                None if order.time_in_force is None else order.time_in_force.value,
                opt_dec(order.price),
                dec(order.quantity),
                opt_dec(order.stop_price),
                int(order.reduce_only),
                int(order.close_position),
                order.position_side.value,
                order.status.value,
                dec(order.filled_qty),
                dec(order.avg_price),
                None,
                order.created_ms,
                order.updated_ms,
                order.intent.value,
                None,  # why_sent: decided under an earlier journal
            ),
        )
        if cursor.rowcount == 0:
            return
        # What it had filled when taken over: those fills were the earlier journal's (a later
        # read of its fills books only those beyond it, `LiveVenue.restore`'s `taken_over`).
        self.db.execute(_SET_TAKEN_OVER, (dec(order.filled_qty), cid))
        self._open_orders[cid] = order
        if self.replay is not None:
            rowid = cursor.lastrowid
            assert rowid is not None
            self._feed(self.replay.order_row, rowid, cid, order.symbol, order.created_ms)
            self._feed(self.replay.order_moved, cid, order.status.value, row=False)

    def _on_submitted(self, event: OrderSubmitted, payload: bytes) -> None:
        r = event.request
        order = Order.from_request(r, event.event_time_ms, event.intent)
        cursor = self.db.execute(
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
                event.intent.value,
                self._last_decision,
            ),
        )
        if cursor.rowcount == 0:
            log.warning(
                "journal: client order id %s submitted again; the first intent is kept",
                r.client_order_id,
            )
            self._insert_event(event, r.symbol, payload)
            return
        self._open_orders[r.client_order_id] = order
        if self.replay is not None:
            rowid = cursor.lastrowid
            assert rowid is not None
            self._feed(
                self.replay.order_row, rowid, r.client_order_id, r.symbol, event.event_time_ms
            )
            if self._has_fills(r.client_order_id):
                self._fills_came_first(r.client_order_id)

    def _on_fill(self, event: OrderPartiallyFilled | OrderFilled, _payload: bytes) -> None:
        f = event.fill
        row = (
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
        )
        cursor = self.db.execute(_INSERT_FILL, row)
        if cursor.rowcount == 0:
            return  # the same trade reported again (stream and REST): stored once
        self._seq += 1
        known = False
        cid = f.client_order_id
        if forced_close(cid) is None and not outside_order(cid):  # those have no orders row
            known = self._update_order(event, cid)
        if self.replay is not None:  # the fill as a restart reads it back from this row
            self._feed(self.replay.fill_row, _fill(row), known)

    def _on_order_event(self, event: Event, payload: bytes) -> None:
        self._insert_event(event, event.symbol, payload)  # type: ignore[attr-defined]
        self._update_order(event, event.client_order_id)  # type: ignore[attr-defined]

    def _update_order(self, event: Event, client_order_id: str) -> bool:
        """Move the order's row by `event`; False when the journal has no such order."""
        order = self._open_orders.get(client_order_id)
        if order is None:
            row = self.db.execute(_SELECT_ORDER, (client_order_id,)).fetchone()
            order = None if row is None else _order(row)
            if order is None:
                self.unknown_order_events += 1
                log.warning(
                    "journal: %s for unknown order %s (not sent by this journal's daemon)",
                    type(event).__name__,
                    client_order_id,
                )
                return False
        try:
            new = evolve(order, event)
        except (IllegalTransition, ValueError) as e:
            self.illegal_transitions += 1
            log.warning("journal: %s not applied: %s", type(event).__name__, e)
            return True
        if new is order:
            return True
        self.db.execute(
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
        if self.replay is not None and new.status is not order.status:
            self._feed(self.replay.order_moved, client_order_id, new.status.value, row=False)
        return True

    # --- the restart's replay and its checkpoints ----------------------------------------

    def _feed(self, hook: Callable[..., None], *args: Any, row: bool = True) -> None:
        """Hand one applied row (`row=False`: a row's change) to the replay. A failure there
        (a bug) must not stop the journal: the replay is dropped, and no checkpoint is
        written until the next start."""
        try:
            hook(*args)
        except Exception:
            log.exception("journal: the checkpoint replay failed on a row")
            self._drop_replay("it failed on a row")
            return
        if row:
            self._rows_since_checkpoint += 1

    def _drop_replay(self, why: str) -> None:
        log.warning("journal: no more checkpoints this run (%s); the next start makes one", why)
        self.replay = None

    def _has_fills(self, client_order_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM fills WHERE client_order_id = ? LIMIT 1", (client_order_id,)
        ).fetchone()
        return row is not None

    def _fills_came_first(self, client_order_id: str) -> None:
        """An order row for a client order id the journal already has fills of (another
        process sending with our prefix?): a restart books those fills as of a known order,
        while the replay, row by row, found none. The checkpoints that miss them go, and no
        more are made this run; the next start replays the whole journal."""
        log.warning(
            "journal: order %s journaled after fills of it; checkpoints dropped",
            client_order_id,
        )
        self.db.execute("DELETE FROM checkpoints")
        self._drop_replay(f"fills of {client_order_id} came before its order")

    def _checkpoint_due(self) -> bool:
        rows = self._rows_since_checkpoint
        if rows >= self.every_records:
            return True
        return rows > 0 and time.monotonic() - self._checkpoint_at >= self.every_s

    def _write_checkpoint(self) -> None:
        """Store the replay at the position of the rows applied so far (inside the caller's
        transaction), and keep only the newest KEEP checkpoints."""
        replay = self.replay
        assert replay is not None
        replay.position = position = end_position(self.db)
        try:
            state = replay.encode()
        except Exception:
            log.exception("journal: a checkpoint could not be encoded")
            self._drop_replay("encoding failed")
            return
        self.db.execute(
            "INSERT INTO checkpoints (version, seq, order_rowid, snapshot_rowid, symbols, state)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                CHECKPOINT_VERSION,
                *position,
                orjson.dumps(replay.symbols_traded).decode(),
                state,
            ),
        )
        self.db.execute(
            "DELETE FROM checkpoints WHERE id NOT IN"
            " (SELECT id FROM checkpoints ORDER BY id DESC LIMIT ?)",
            (KEEP_CHECKPOINTS,),
        )
        self.checkpoints_written += 1
        self._rows_since_checkpoint = 0
        self._checkpoint_at = time.monotonic()

    def checkpoint(self, *, force: bool = False) -> bool:
        """Write a checkpoint now, in a transaction of its own, when rows were applied since
        the last one (or `force`); True when one was written."""
        if self.replay is None or not (force or self._rows_since_checkpoint):
            return False
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._write_checkpoint()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return self.replay is not None
