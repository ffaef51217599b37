"""SqliteJournal.record_many: a decision and the order intent it leads to in one transaction,
both on file when it returns, or neither (the tick path's one commit per order)."""

import sqlite3

import pytest

from book_keeper.journal import SqliteJournal
from book_keeper.journal_errors import JournalError
from core.enums import OrderStatus
from core.events import DecisionMade
from tests.book_keeper.support import BUY, SYMBOL, T0, accepted, submitted


def _decision(action: str = "target 0.002 (market)") -> DecisionMade:
    return DecisionMade(
        event_time_ms=T0,
        recv_time_ms=T0,
        symbol=SYMBOL,
        strategy="sma_crossover",
        action=action,
        reason="fast above slow",
    )


def _rows(j: SqliteJournal, sql: str) -> list[tuple]:
    """Through a second connection, as the sqlite3 CLI would read it (once the writer thread
    has applied what was recorded: the CLI lags the journal by a few milliseconds)."""
    j.flush()
    with sqlite3.connect(j.path) as db:
        return db.execute(sql).fetchall()


def test_decision_and_intent_are_written_together_and_read_back(tmp_path):
    with SqliteJournal(tmp_path / "j") as j:
        j.record_many((_decision(), submitted("t-1", BUY, "0.002")))
        assert _rows(j, "SELECT client_order_id, status FROM orders") == [
            ("t-1", OrderStatus.PENDING_SUBMIT.value)
        ]
        assert [e for _, e in j.load_events(["DecisionMade"])] == [_decision()]
        j.record(accepted("t-1", 11))  # the row follows the order's life as with record()
        assert [(o.client_order_id, o.status) for o in j.open_orders()] == [
            ("t-1", OrderStatus.NEW)
        ]


def test_sequence_numbers_continue_across_record_and_record_many(tmp_path):
    with SqliteJournal(tmp_path / "j") as j:
        j.record(_decision("first"))
        j.record_many((_decision("second"), _decision("third")))
        j.record(_decision("fourth"))
        seqs = _rows(j, "SELECT seq FROM events ORDER BY seq")
        assert [s for (s,) in seqs] == [1, 2, 3, 4]


def test_a_failing_event_leaves_nothing_of_the_batch(tmp_path):
    class Unjournalable(DecisionMade):
        pass

    with SqliteJournal(tmp_path / "j") as j:
        bad = Unjournalable(
            event_time_ms=T0,
            recv_time_ms=T0,
            symbol=SYMBOL,
            strategy="s",
            action=object(),  # type: ignore[arg-type]  # not JSON: the codec refuses it
            reason="r",
        )
        with pytest.raises(TypeError):
            j.record_many((submitted("t-1", BUY, "0.002"), bad))
        assert _rows(j, "SELECT COUNT(*) FROM orders") == [(0,)]
        assert j.open_orders() == []
        # the journal still works, and the same client id can be journaled for real
        j.record_many((_decision(), submitted("t-1", BUY, "0.002")))
        assert _rows(j, "SELECT client_order_id FROM orders") == [("t-1",)]


def test_a_read_only_journal_refuses_a_batch(tmp_path):
    with SqliteJournal(tmp_path / "j") as j:
        j.record(_decision())
    with SqliteJournal(tmp_path / "j", readonly=True) as ro, pytest.raises(JournalError):
        ro.record_many((_decision(),))


def test_an_order_intent_is_not_lost_when_batched(tmp_path):
    """What the ExecManager writes before an order goes out survives a reopen."""
    with SqliteJournal(tmp_path / "j") as j:
        j.record_many((_decision(), submitted("t-7", BUY, "0.002")))
    with SqliteJournal(tmp_path / "j") as j:
        (order,) = j.open_orders()
        assert (order.client_order_id, order.status) == ("t-7", OrderStatus.PENDING_SUBMIT)
        assert isinstance(j.load_events(["DecisionMade"])[0][1], DecisionMade)
