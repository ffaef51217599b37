"""SqliteJournal's writer applies a whole batch of records with one executemany per statement:
what each statement meant one at a time (a client id submitted again keeps its first intent, a
fill reported again is stored once, an order that ended earlier in the batch refuses an illegal
move, seq follows the record order) holds inside one batch and across batches."""

import sqlite3

import pytest

from book_keeper.journal import SqliteJournal
from core.events import DecisionMade, OrderStatusUnknown
from tests.book_keeper.support import (
    BUY,
    SELL,
    SYMBOL,
    T0,
    accepted,
    canceled,
    fill,
    filled,
    submitted,
)


def _rows(j: SqliteJournal, sql: str) -> list[tuple]:
    j.flush()
    with sqlite3.connect(j.path) as db:
        return db.execute(sql).fetchall()


def _decision(t: int) -> DecisionMade:
    return DecisionMade(
        event_time_ms=t, recv_time_ms=t, symbol=SYMBOL, strategy="s", action="a", reason="r"
    )


def _session(j: SqliteJournal, *, flush_between: bool) -> None:
    """One order's life with every duplicate the journal must absorb; `flush_between` splits it
    into three batches (the writer is parked otherwise: everything is one batch)."""
    j.record_many([_decision(T0), submitted("t-1", BUY, "0.010", "60000.0")])
    j.record(submitted("t-1", SELL, "0.020", "61000.0", t=T0 + 1))  # the same client id again
    j.record(accepted("t-1", 11, t=T0 + 2))
    if flush_between:
        j.flush()
    f1 = fill("t-1", 501, BUY, "0.004", "60000.0", fee="0.048", order_id=11, t=T0 + 3)
    f2 = fill("t-1", 502, BUY, "0.006", "60000.0", fee="0.072", order_id=11, t=T0 + 4)
    j.record(filled(f1, "0.004", "60000.0", final=False))
    j.record(filled(f1, "0.004", "60000.0", final=False))  # reported again (REST)
    j.record(filled(f2, "0.010", "60000.0"))  # FILLED: the order leaves the open-order cache
    if flush_between:
        j.flush()
    j.record(filled(f2, "0.010", "60000.0"))  # again, after the order ended
    j.record(canceled("t-1", 11, t=T0 + 5))  # FILLED -> CANCELED: illegal, read from the table
    j.record(_decision(T0 + 6))


@pytest.mark.parametrize("flush_between", [False, True], ids=["one batch", "three batches"])
def test_a_batch_applies_as_its_records_would_one_by_one(tmp_path, flush_between):
    with SqliteJournal(tmp_path, apply_interval_s=3600) as j:  # applied only by flush()
        _session(j, flush_between=flush_between)

        assert _rows(j, "SELECT client_order_id, side, qty, status, filled_qty FROM orders") == [
            ("t-1", "BUY", "0.010", "FILLED", "0.010")  # the first intent kept
        ]
        assert _rows(j, "SELECT trade_id, seq FROM fills ORDER BY seq") == [(501, 4), (502, 5)]
        assert _rows(j, "SELECT seq, kind FROM events ORDER BY seq") == [
            (1, "DecisionMade"),
            (2, "OrderSubmitted"),  # the second intent: kept as an event only
            (3, "OrderAccepted"),
            (6, "OrderCanceled"),
            (7, "DecisionMade"),
        ]
        assert j.illegal_transitions == 1
        assert j.unknown_order_events == 0
        assert [f.trade_id for f in j.load_fills()] == [501, 502]
        assert j.open_orders() == []


@pytest.mark.parametrize("flush_between", [False, True], ids=["one batch", "two batches"])
def test_an_order_updated_twice_keeps_the_last_reason_given(tmp_path, flush_between):
    with SqliteJournal(tmp_path, apply_interval_s=3600) as j:
        j.record(submitted("t-2", BUY, "0.010", "60000.0"))
        j.record(
            OrderStatusUnknown(
                event_time_ms=T0 + 1,
                recv_time_ms=T0 + 1,
                symbol=SYMBOL,
                client_order_id="t-2",
                reason="timeout",
            )
        )
        if flush_between:
            j.flush()
        j.record(accepted("t-2", 12, t=T0 + 2))  # no reason of its own: "timeout" stays

        assert _rows(j, "SELECT order_id, status, reason, updated_ms FROM orders") == [
            (12, "NEW", "timeout", T0 + 2)
        ]
