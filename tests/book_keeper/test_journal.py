"""SqliteJournal: order rows follow the transition table, fills are stored once, every other
event is appended and reads back equal, the file survives a reopen and a kill -9, CSV export."""

import csv
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from book_keeper import codec
from book_keeper.export import main as export_main
from book_keeper.journal import SqliteJournal
from book_keeper.journal_errors import JournalError
from book_keeper.journal_files import FILE_NAME, JournalLock, journal_in_use
from book_keeper.journal_wal import _frame
from core.account import Balance, Position, PositionAtRisk
from core.enums import (
    MarginType,
    OrderIntent,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
    TradingState,
)
from core.events import (
    CANCEL_ALL,
    CANCEL_ALL_BUT_PROTECTION,
    BalanceChanged,
    CancelDenied,
    DecisionMade,
    FundingPaid,
    GapCause,
    GapDetected,
    GapHealed,
    MarginCalled,
    OrderAmended,
    OrderExpired,
    OrderReconciled,
    OrderRejected,
    OrderStatusUnknown,
    OrderSubmitted,
    PositionChanged,
    RiskDenied,
    StreamState,
    StreamStateChanged,
    TradingStateChanged,
    VenueSnapshot,
)
from core.instrument import Instrument
from core.orders import Order, OrderRequest
from tests.book_keeper.support import (
    BUY,
    SELL,
    SYMBOL,
    T0,
    D,
    accepted,
    canceled,
    fill,
    filled,
    instruments,
    request,
    submitted,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def journal(tmp_path):
    j = SqliteJournal(tmp_path / "journal")
    yield j
    j.close()


def _rows(j: SqliteJournal, sql: str) -> list[tuple]:
    """Read through a second connection, as the sqlite3 CLI would (once the writer thread has
    applied what was recorded: the CLI lags the journal by a few milliseconds)."""
    j.flush()
    with sqlite3.connect(j.path) as db:
        return db.execute(sql).fetchall()


def _examples() -> list:
    """One of each event that goes to the `events` table."""
    t = T0
    snapshot_order = Order.from_request(request("t-5", BUY, "0.010", "59000.0"), t).transition(
        OrderStatus.NEW, ts_ms=t, order_id=15
    )
    return [
        accepted("t-1", 11),
        OrderRejected(
            event_time_ms=t,
            recv_time_ms=t,
            symbol=SYMBOL,
            client_order_id="t-2",
            code=-2019,
            reason="Margin is insufficient.",
        ),
        canceled("t-1", 11),
        OrderExpired(
            event_time_ms=t,
            recv_time_ms=t,
            symbol=SYMBOL,
            client_order_id="t-3",
            order_id=None,
            reason="IOC remainder",
        ),
        OrderAmended(
            event_time_ms=t,
            recv_time_ms=t,
            symbol=SYMBOL,
            client_order_id="t-4",
            order_id=14,
            price=D("60000.10"),
            quantity=D("0.020"),
        ),
        OrderStatusUnknown(
            event_time_ms=t, recv_time_ms=t, symbol=SYMBOL, client_order_id="t-6", reason="503"
        ),
        OrderReconciled(
            event_time_ms=t,
            recv_time_ms=t,
            symbol=SYMBOL,
            client_order_id="t-6",
            status=OrderStatus.REJECTED,
        ),
        RiskDenied(
            event_time_ms=t,
            recv_time_ms=t,
            request=request("t-7", BUY, "5", "60000.0"),
            reason="max order notional 1000 USDT",
        ),
        DecisionMade(
            event_time_ms=t,
            recv_time_ms=t,
            symbol=SYMBOL,
            strategy="sma_crossover",
            action="target 0.003",
            reason="fast above slow",
        ),
        TradingStateChanged(
            event_time_ms=t,
            recv_time_ms=t,
            previous=TradingState.ACTIVE,
            current=TradingState.REDUCING,
            reason="drawdown 5.1 % > 5 %",
        ),
        PositionChanged(
            event_time_ms=t,
            recv_time_ms=t,
            position=Position(symbol=SYMBOL, qty=D("-0.025"), entry_price=D("60100.00000001")),
            reason="ORDER",
        ),
        BalanceChanged(
            event_time_ms=t,
            recv_time_ms=t,
            balance=Balance(
                asset="USDT", wallet_balance=D("9996.90998500"), available_balance=D("9000")
            ),
            reason="FUNDING_FEE",
        ),
        VenueSnapshot(
            event_time_ms=t,
            recv_time_ms=t,
            balances=(Balance(asset="USDT", wallet_balance=D("1E+4"), available_balance=D(0)),),
            positions=(Position(symbol=SYMBOL, qty=D("0.001"), entry_price=D("60000.0")),),
            open_orders=(snapshot_order,),
            reason="start",
            symbols=(SYMBOL,),
            trade_ids=((SYMBOL, 5_000_000_017),),
        ),
        FundingPaid(
            event_time_ms=t, recv_time_ms=t, symbol=SYMBOL, amount=D("-0.618"), rate=D("0.0001")
        ),
        MarginCalled(  # the reference's example (section 10.6)
            event_time_ms=t,
            recv_time_ms=t,
            cross_wallet_balance=D("3.16812045"),
            positions=(
                PositionAtRisk(
                    symbol="ETHUSDT",
                    position_side=PositionSide.LONG,
                    qty=D("1.327"),
                    margin_type=MarginType.CROSSED,
                    mark_price=D("187.17127"),
                    unrealized_pnl=D("-1.166074"),
                    maintenance_margin=D("1.614445"),
                ),
            ),
        ),
        GapDetected(
            event_time_ms=t,
            recv_time_ms=t,
            symbol=SYMBOL,
            first_missing_id=100,
            last_missing_id=120,
            cause=GapCause.RECONNECT,
        ),
        GapHealed(
            event_time_ms=t,
            recv_time_ms=t,
            symbol=SYMBOL,
            first_missing_id=100,
            last_missing_id=120,
            backfilled=21,
            duration_ms=340,
        ),
        StreamStateChanged(
            event_time_ms=t,
            recv_time_ms=t,
            stream="user",
            state=StreamState.DISCONNECTED,
            detail="1006",
        ),
        CancelDenied(
            event_time_ms=t,
            recv_time_ms=t,
            symbol=SYMBOL,
            client_order_id="t-8",
            reason="no open order t-8: it ended already, or is not ours",
        ),
    ]


def test_every_core_event_type_has_a_place_in_the_journal():
    covered = {type(e).__name__ for e in _examples()}
    covered |= {"OrderSubmitted", "OrderPartiallyFilled", "OrderFilled"}  # orders / fills

    assert covered == set(codec.event_classes())


def test_events_read_back_equal_with_decimals_as_strings(journal):
    events = _examples()

    for e in events:
        journal.record(e)

    assert [e for _, e in journal.load_events()] == events
    payload, kind = _rows(journal, "SELECT payload, kind FROM events WHERE seq = 13")[0]
    assert kind == "VenueSnapshot"
    assert json.loads(payload)["balances"][0]["wallet_balance"] == "10000"  # not "1E+4"


def test_order_intent_is_a_pending_row_before_anything_is_sent(journal):
    journal.record(submitted("t-1", BUY, "0.010", "60000.0"))

    assert _rows(journal, "SELECT client_order_id, order_id, status, price, qty FROM orders") == [
        ("t-1", None, "PENDING_SUBMIT", "60000.0", "0.010")
    ]


def test_order_row_follows_acceptance_fills_and_rejects_an_illegal_transition(journal):
    journal.record(submitted("t-1", BUY, "0.010", "60000.0"))
    journal.record(accepted("t-1", 11, t=T0 + 5))
    f1 = fill("t-1", 501, BUY, "0.004", "60000.0", fee="0.048", maker=True, order_id=11)
    f2 = fill("t-1", 502, BUY, "0.006", "60000.0", fee="0.072", maker=True, order_id=11, t=T0 + 9)
    journal.record(filled(f1, "0.004", "60000.0", final=False))
    journal.record(filled(f2, "0.010", "60000.0"))

    journal.record(canceled("t-1", 11, t=T0 + 10))  # FILLED -> CANCELED is illegal

    assert journal.illegal_transitions == 1
    assert _rows(
        journal, "SELECT order_id, status, filled_qty, avg_price, updated_ms FROM orders"
    ) == [(11, "FILLED", "0.010", "60000.0", T0 + 9)]
    assert [o.status for o in journal.open_orders()] == []


def test_a_reconciliation_confirming_an_end_already_known_is_no_illegal_transition(journal):
    """The chaos run: a cancel's outcome unknown while the order's fill came in, then the query
    said FILLED. The row stays as the fill left it, with no WARNING and nothing counted."""
    journal.record(submitted("t-1", BUY, "0.010", "60000.0"))
    journal.record(accepted("t-1", 11, t=T0 + 5))
    journal.record(filled(fill("t-1", 501, BUY, "0.010", "60000.0", fee="0.12", order_id=11)))

    journal.record(
        OrderReconciled(
            event_time_ms=T0 + 9,
            recv_time_ms=T0 + 9,
            symbol=SYMBOL,
            client_order_id="t-1",
            status=OrderStatus.FILLED,
        )
    )

    assert journal.illegal_transitions == 0
    assert _rows(journal, "SELECT order_id, status, filled_qty FROM orders") == [
        (11, "FILLED", "0.010")
    ]


def test_a_fill_reported_twice_is_stored_once(journal):
    journal.record(submitted("t-1", BUY, "0.010", "60000.0"))
    f = fill("t-1", 501, BUY, "0.004", "60000.0", fee="0.048", maker=True, order_id=11)

    journal.record(filled(f, final=False))
    journal.record(filled(f, final=False))

    assert journal.load_fills() == [f]
    assert _rows(journal, "SELECT COUNT(*) FROM fills") == [(1,)]


def test_reject_reason_is_kept_on_the_order_row(journal):
    journal.record(submitted("t-2", BUY, "9", "60000.0"))

    journal.record(_examples()[1])

    assert _rows(journal, "SELECT status, reason FROM orders") == [
        ("REJECTED", "-2019 Margin is insufficient.")
    ]


def test_events_of_orders_the_journal_never_saw_are_kept_but_change_no_row(journal):
    journal.record(canceled("manual-1", 77))

    assert journal.unknown_order_events == 1
    assert _rows(journal, "SELECT kind FROM events") == [("OrderCanceled",)]
    assert _rows(journal, "SELECT COUNT(*) FROM orders") == [(0,)]


def _adopting_snapshot(*, t: int = T0) -> VenueSnapshot:
    """A reconciliation that took over bfd-1, a resting BUY 0.010 @ 59000.0 an earlier journal
    of this daemon placed, and saw web_Zx81, an order placed by hand (not ours)."""

    def resting(cid: str, order_id: int) -> Order:
        return Order(
            client_order_id=cid, symbol=SYMBOL, side=BUY, type=OrderType.LIMIT,
            quantity=D("0.010"), price=D("59000.0"), time_in_force=TimeInForce.GTC,
            status=OrderStatus.NEW, created_ms=T0 - 86_400_000, updated_ms=T0 - 86_400_000,
            order_id=order_id,
        )  # fmt: skip

    return VenueSnapshot(
        event_time_ms=t,
        recv_time_ms=t,
        balances=(),
        positions=(),
        open_orders=(resting("bfd-1", 41), resting("web_Zx81", 42)),
        reason="start",
        symbols=(SYMBOL,),
        adopted=("bfd-1",),
    )


def test_an_adopted_orders_events_are_of_a_known_order(journal, caplog):
    # Its two partial fills and its cancel each logged "journal: ... for unknown order bfd-1
    # (not sent by this journal's daemon)" and counted; only a genuinely unknown id is now.
    journal.record(_adopting_snapshot())
    first = fill("bfd-1", 700, BUY, "0.004", "59000.0", fee="0.1", order_id=41, t=T0 + 1)
    second = fill("bfd-1", 701, BUY, "0.002", "59000.0", fee="0.05", order_id=41, t=T0 + 2)
    with caplog.at_level(logging.WARNING, logger="book_keeper.journal"):
        journal.record(filled(first, "0.004", final=False))
        journal.record(filled(second, "0.006", final=False))
        journal.record(canceled("bfd-1", 41, t=T0 + 3))
        journal.record(canceled("web_Zx81", 42, t=T0 + 4))
        journal.flush()

    assert [r.getMessage() for r in caplog.records] == [
        "journal: OrderCanceled for unknown order web_Zx81 (not sent by this journal's daemon)"
    ]
    assert journal.unknown_order_events == 1
    assert _rows(
        journal, "SELECT client_order_id, status, filled_qty, order_id, created_ms FROM orders"
    ) == [("bfd-1", "CANCELED", "0.006", 41, T0 - 86_400_000)]


def test_an_adopted_order_still_open_is_restored_as_ours(journal):
    journal.record(_adopting_snapshot())
    journal.record(_adopting_snapshot(t=T0 + 60_000))  # named again: still one row

    [restored] = journal.open_orders()
    assert (restored.client_order_id, restored.status, restored.price) == (
        "bfd-1",
        OrderStatus.NEW,
        D("59000.0"),
    )
    assert _rows(journal, "SELECT COUNT(*) FROM orders") == [(1,)]


def test_an_adopted_order_keeps_what_it_had_filled_when_taken_over(journal):
    # bfd-1 had 0.004 of its 0.010 filled under the earlier journal when this one took it over;
    # its next fill (0.002, this journal's) moves filled_qty on, not the taken-over 0.004.
    taking_over = _adopting_snapshot()
    partly = replace(
        taking_over.open_orders[0],
        status=OrderStatus.PARTIALLY_FILLED,
        filled_qty=D("0.004"),
        avg_price=D("59000.0"),
    )
    journal.record(replace(taking_over, open_orders=(partly, taking_over.open_orders[1])))
    journal.record(submitted("t-1", BUY, "0.010", "58000.0"))  # this journal's own: none
    later = fill("bfd-1", 702, BUY, "0.002", "59000.0", fee="0.05", order_id=41, t=T0 + 1)
    journal.record(filled(later, "0.006", final=False))

    assert journal.taken_over_qtys() == {"bfd-1": D("0.004")}
    assert _rows(journal, "SELECT client_order_id, filled_qty, taken_over_qty FROM orders") == [
        ("bfd-1", "0.006", "0.004"),
        ("t-1", "0", None),
    ]
    journal.record(canceled("bfd-1", 41, t=T0 + 2))
    assert journal.taken_over_qtys() == {}  # ended: nothing to restore
    # The audit export has it too, after the intent; empty for the journal's own order.
    [orders_csv, _] = journal.export_csv(journal.path.parent / "audit")
    with orders_csv.open(newline="") as f:
        header, *rows = list(csv.reader(f))
    at = header.index("intent")
    assert header[at : at + 2] == ["intent", "taken_over_qty"]
    assert [(r[0], r[at], r[at + 1]) for r in rows] == [
        ("bfd-1", "ORDINARY", "0.004"),
        ("t-1", "ORDINARY", ""),
    ]


def test_a_journal_older_than_the_taken_over_column_gets_it_empty(tmp_path):
    with SqliteJournal(tmp_path) as j:
        j.record(_adopting_snapshot())
    db = sqlite3.connect(tmp_path / FILE_NAME)
    db.execute("ALTER TABLE orders DROP COLUMN taken_over_qty")  # as an earlier version made it
    db.commit()
    db.close()

    with SqliteJournal(tmp_path, readonly=True) as j:  # the export leaves it as it is
        [orders_csv, _] = j.export_csv(tmp_path / "audit")
    with orders_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["client_order_id"], r["taken_over_qty"]) for r in rows] == [("bfd-1", "")]
    with SqliteJournal(tmp_path) as j:  # bfd-1 adopted then: what it had filled not kept
        assert [o.client_order_id for o in j.open_orders()] == ["bfd-1"]
        assert j.taken_over_qtys() == {}
        assert _rows(j, "SELECT taken_over_qty FROM orders") == [(None,)]


def test_a_liquidation_fill_is_stored_without_an_orders_row_and_is_no_unknown_order(journal):
    # The exchange's own autoclose order (reference 10.3): nobody journaled its intent.
    journal.record(submitted("t-1", BUY, "0.010"))
    journal.record(filled(fill("t-1", 500, BUY, "0.010", "60000.0", fee="0.3", order_id=11)))
    liquidation = fill(
        "autoclose-1723161256322", 501, SELL, "0.010", "50000.0", fee="6", rp="-100",
        order_id=12, t=T0 + 60_000,
    )  # fmt: skip

    journal.record(filled(liquidation))

    assert journal.unknown_order_events == 0 and journal.illegal_transitions == 0
    assert journal.load_fills()[-1] == liquidation
    assert _rows(journal, "SELECT client_order_id FROM orders") == [("t-1",)]
    assert journal.last_trade_id(SYMBOL) == 501  # userTrades resume after it
    assert journal.last_fill_order(SYMBOL) is None  # not a stop of ours that closed it
    assert journal.orders_filled_since(T0) == 1  # t-1: a liquidation is no trade of ours


def test_journal_survives_a_reopen_with_open_orders_still_tracked(tmp_path):
    with SqliteJournal(tmp_path) as j:
        j.record(submitted("t-1", BUY, "0.010", "60000.0"))
        j.record(submitted("t-2", SELL, "0.010", "61000.0"))
        j.record(accepted("t-1", 11))
        j.record(
            filled(fill("t-1", 501, BUY, "0.004", "60000.0", fee="0.048", order_id=11), final=False)
        )
        before = (j.load_orders(), j.load_fills())

    with SqliteJournal(tmp_path / FILE_NAME) as j:
        assert (j.load_orders(), j.load_fills()) == before
        assert [(o.client_order_id, o.status) for o in j.open_orders()] == [
            ("t-1", OrderStatus.PARTIALLY_FILLED),
            ("t-2", OrderStatus.PENDING_SUBMIT),
        ]
        j.record(canceled("t-1", 11))  # the reopened journal still knows t-1 is open
        assert [o.client_order_id for o in j.open_orders()] == ["t-2"]


def test_an_orders_intent_is_journaled_and_read_back_with_its_open_orders(tmp_path):
    with SqliteJournal(tmp_path) as j:
        j.record(submitted("t-1", BUY, "0.010", "60000.0"))
        j.record(
            OrderSubmitted(
                event_time_ms=T0, recv_time_ms=T0, intent=OrderIntent.REDUCING,
                request=request("t-2", SELL, "0.010", "61000.0", reduce_only=True),
            )
        )  # fmt: skip
        j.record(
            OrderSubmitted(
                event_time_ms=T0, recv_time_ms=T0, intent=OrderIntent.PAST_STOP_CLOSE,
                request=request("t-3", SELL, "0.010", reduce_only=True),
            )
        )  # fmt: skip
        j.record(accepted("t-3", 13))
        j.record(filled(fill("t-3", 501, SELL, "0.010", "58700.0", fee="0.29", order_id=13)))

    with SqliteJournal(tmp_path) as j:
        assert [(o.client_order_id, o.intent) for o in j.open_orders()] == [
            ("t-1", OrderIntent.ORDINARY),  # the strategy's
            ("t-2", OrderIntent.REDUCING),
        ]  # t-3 ended
        assert j.open_orders_of(OrderIntent.PAST_STOP_CLOSE, OrderIntent.REDUCING) == {
            "t-2": SYMBOL
        }
        assert j.last_fill_order(SYMBOL) == (SELL, OrderType.MARKET, OrderIntent.PAST_STOP_CLOSE)


def test_a_journal_of_the_earlier_intents_reads_back_with_the_ones_added_since(tmp_path):
    # t-1..t-3 as a version before CROSSED_CLOSE and FLATTEN journaled them; reopened by this
    # one, which adds t-4 and t-5: every order reads back with its own intent.
    earlier = (OrderIntent.ORDINARY, OrderIntent.REDUCING, OrderIntent.PAST_STOP_CLOSE)
    added = (OrderIntent.CROSSED_CLOSE, OrderIntent.FLATTEN)
    assert set(earlier + added) == set(OrderIntent)  # a member added later joins this test

    def submit(j: SqliteJournal, n: int, intent: OrderIntent) -> None:
        r = request(f"t-{n}", SELL, "0.010", reduce_only=True)
        j.record(OrderSubmitted(event_time_ms=T0, recv_time_ms=T0, intent=intent, request=r))

    with SqliteJournal(tmp_path) as j:
        for n, intent in enumerate(earlier, 1):
            submit(j, n, intent)
    with SqliteJournal(tmp_path) as j:
        for n, intent in enumerate(added, len(earlier) + 1):
            submit(j, n, intent)

    with SqliteJournal(tmp_path) as j:
        read = [(o.client_order_id, o.intent) for o in j.open_orders()]
        assert read == [(f"t-{n}", i) for n, i in enumerate(earlier + added, 1)]
        assert [(o.client_order_id, o.intent) for o in j.load_orders()] == read


def test_a_journal_older_than_the_intent_column_gets_it_as_ordinary(tmp_path):
    with SqliteJournal(tmp_path) as j:
        j.record(submitted("t-1", SELL, "0.010", "61000.0", reduce_only=True))
    db = sqlite3.connect(tmp_path / FILE_NAME)
    db.execute("ALTER TABLE orders DROP COLUMN intent")  # as an earlier version made it
    db.commit()
    db.close()

    with SqliteJournal(tmp_path) as j:
        # unknown then: ORDINARY, counted in the entries' budget as before
        assert [(o.client_order_id, o.intent) for o in j.open_orders()] == [
            ("t-1", OrderIntent.ORDINARY)
        ]
        j.record(submitted("t-2", BUY, "0.010", "60000.0"))
        assert [o.client_order_id for o in j.open_orders()] == ["t-1", "t-2"]


def _journal_older_than_the_intent_column(path: Path) -> None:
    """A journal as a version before `orders.intent` left it: t-1 open (a reduce-only SELL
    the daemon sent), t-2 filled."""
    with SqliteJournal(path) as j:
        j.record(submitted("t-1", SELL, "0.010", "61000.0", reduce_only=True))
        j.record(submitted("t-2", BUY, "0.010", "60000.0"))
        j.record(accepted("t-2", 12))
        j.record(filled(fill("t-2", 501, BUY, "0.010", "60000.0", fee="0.24", order_id=12)))
    db = sqlite3.connect(path / FILE_NAME)
    db.execute("ALTER TABLE orders DROP COLUMN intent")
    db.commit()
    db.close()


def test_a_journal_older_than_the_intent_column_opens_read_only_its_orders_ordinary(tmp_path):
    _journal_older_than_the_intent_column(tmp_path)

    with SqliteJournal(tmp_path, readonly=True) as j:
        assert [(o.client_order_id, o.intent) for o in j.load_orders()] == [
            ("t-1", OrderIntent.ORDINARY),
            ("t-2", OrderIntent.ORDINARY),
        ]
        assert [o.client_order_id for o in j.open_orders()] == ["t-1"]
        assert j.last_fill_order(SYMBOL) == (BUY, OrderType.LIMIT, OrderIntent.ORDINARY)
        assert j.open_orders_of(OrderIntent.REDUCING) == {}
    db = sqlite3.connect(tmp_path / FILE_NAME)  # the reader left the file as it was
    assert "intent" not in {row[1] for row in db.execute("PRAGMA table_info(orders)")}
    db.close()


def test_orders_csv_has_each_orders_intent_and_ordinary_for_a_journal_older_than_it(tmp_path):
    with SqliteJournal(tmp_path / "new") as j:
        j.record(submitted("t-1", BUY, "0.010", "60000.0"))
        j.record(
            OrderSubmitted(
                event_time_ms=T0, recv_time_ms=T0, intent=OrderIntent.REDUCING,
                request=request("t-2", SELL, "0.010", "61000.0", reduce_only=True),
            )
        )  # fmt: skip
    _journal_older_than_the_intent_column(tmp_path / "old")

    for name, intents in (("new", ["ORDINARY", "REDUCING"]), ("old", ["ORDINARY", "ORDINARY"])):
        with SqliteJournal(tmp_path / name, readonly=True) as j:
            j.export_csv(tmp_path / f"{name}-csv")
        with (tmp_path / f"{name}-csv" / "orders.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        assert [(r["client_order_id"], r["intent"]) for r in rows] == list(
            zip(["t-1", "t-2"], intents, strict=True)
        )


def test_a_killed_process_loses_nothing_it_recorded(tmp_path):
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from book_keeper.journal import SqliteJournal
from tests.book_keeper.support import BUY, submitted
j = SqliteJournal({str(tmp_path)!r})
for n in range(1, 51):
    j.record(submitted(f"t-{{n}}", BUY, "0.001", "60000.0"))
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)

    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with SqliteJournal(tmp_path) as j:
        assert j.max_client_seq("t") == 50


def test_the_sqlite_wal_file_shrinks_back_once_a_reader_that_held_it_lets_go(tmp_path):
    """A reader that holds a snapshot (an export, an open `sqlite3` session) stops SQLite's
    checkpoints from restarting the -wal file, which grows meanwhile; once it lets go the file
    must come back to a few MB, not stay at its largest size for the rest of the run."""
    j = SqliteJournal(tmp_path / "journal", writer_thread=False)
    wal = Path(f"{j.path}-wal")
    reader = sqlite3.connect(j.path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM events").fetchone()
    for k in range(3_000):
        j.record(_decision(k, "x" * 4_000))
        if k % 100 == 0:
            j.flush()
    j.flush()
    grown = wal.stat().st_size
    reader.execute("COMMIT")
    reader.close()

    for k in range(200):
        j.record(_decision(k, "after"))
        j.flush()

    assert grown > 12 << 20
    assert wal.stat().st_size <= 8 << 20
    j.close()


def _decision(k: int, reason: str) -> DecisionMade:
    return DecisionMade(
        event_time_ms=T0 + k,
        recv_time_ms=T0 + k,
        symbol=SYMBOL,
        strategy="test",
        action="hold",
        reason=reason,
    )


def test_a_second_writer_is_refused_while_the_first_holds_the_journal(journal):
    with pytest.raises(JournalError, match="in use by another process"):
        SqliteJournal(journal.path)


def test_the_writer_lock_taken_first_is_handed_to_the_journal_and_released_with_it(tmp_path):
    """A daemon takes the lock before anything else and the journal keeps it: no second
    process gets in between (they both found the journal free, then one was refused only at
    its opening, after starting an exchange)."""
    lock = JournalLock(tmp_path / "journal")
    assert journal_in_use(tmp_path / "journal")
    with pytest.raises(JournalError, match="in use by another process"):
        JournalLock(tmp_path / "journal")

    journal = SqliteJournal(tmp_path / "journal", lock=lock)
    lock.release()  # handed over: releasing it is the journal's business now
    assert not lock.held and journal_in_use(tmp_path / "journal")
    with pytest.raises(JournalError, match="in use by another process"):
        SqliteJournal(tmp_path / "journal")
    journal.close()
    assert not journal_in_use(tmp_path / "journal")
    JournalLock(tmp_path / "journal").release()


def test_the_lock_of_a_killed_process_does_not_block_the_next_one(tmp_path):
    """`kill -9` leaves `journal.sqlite3.lock` behind; the OS dropped the lock itself."""
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from book_keeper.journal_files import JournalLock
lock = JournalLock({str(tmp_path / "journal")!r})
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)

    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (tmp_path / "journal" / f"{FILE_NAME}.lock").exists()
    assert not journal_in_use(tmp_path / "journal")
    with SqliteJournal(tmp_path / "journal", lock=JournalLock(tmp_path / "journal")) as j:
        assert j.max_client_seq("t") == 0


def test_restart_bookmarks_last_trade_id_and_max_client_seq(journal):
    for cid in ("bot-1", "bot-12", "bot-3", "bot-x", "bot2-99", "bo-50", "other-7"):
        journal.record(submitted(cid, BUY, "0.001", "60000.0"))
    journal.record(filled(fill("bot-1", 9, BUY, "0.001", "60000.0", fee="0")))
    journal.record(filled(fill("bot-3", 12, BUY, "0.001", "60000.0", fee="0")))
    journal.record(filled(fill("bot-12", 10, BUY, "0.001", "60000.0", fee="0")))

    assert journal.max_client_seq("bot") == 12
    assert journal.max_client_seq("none") == 0
    assert journal.last_trade_id(SYMBOL) == 12
    assert journal.last_trade_id("ETHUSDT") is None


def test_a_new_journal_draws_its_client_id_tag_once_and_keeps_it(tmp_path, monkeypatch):
    """The tag is drawn when the journal is created (here the number 1331: "00010z") and
    read back on every reopen: the daemon's ids stay `<prefix>-00010z-<n>` in this journal."""
    monkeypatch.setattr("book_keeper.journal.secrets.randbelow", lambda n: 1331)
    with SqliteJournal(tmp_path / "a", writer_thread=False) as first:
        assert first.client_id_tag == "00010z"
        first.record(submitted("bfd-00010z-1", BUY, "0.001", "60000.0"))
    monkeypatch.setattr("book_keeper.journal.secrets.randbelow", lambda n: 7)
    with SqliteJournal(tmp_path / "a", writer_thread=False) as again:
        assert again.client_id_tag == "00010z"  # not drawn again
        assert again.max_client_seq("bfd-00010z") == 1
    with SqliteJournal(tmp_path / "a", readonly=True) as reader:
        assert reader.client_id_tag == "00010z"


def test_two_journals_draw_their_own_tags(tmp_path):
    """Drawn at random (one chance in 36^6 = 2,176,782,336 of two being equal): a journal
    moved away and a new one on the same account issue different client ids."""
    tags = []
    for name in ("a", "b"):
        with SqliteJournal(tmp_path / name, writer_thread=False) as journal:
            tags.append(journal.client_id_tag)
    assert all(len(t) == 6 and t.isascii() and t.isalnum() and t == t.lower() for t in tags)
    assert tags[0] != tags[1]


def test_a_journal_an_earlier_version_began_keeps_ids_without_a_tag(tmp_path):
    """A journal that holds orders and no tag (made before tags): its open orders are known by
    `<prefix>-<n>`, so it goes on with those ids rather than taking a tag now."""
    with SqliteJournal(tmp_path, writer_thread=False) as journal:
        journal.record(submitted("bfd-7", BUY, "0.001", "60000.0"))
    db = sqlite3.connect(tmp_path / FILE_NAME)
    with db:
        db.execute("DELETE FROM meta WHERE key = 'client_id_tag'")  # as an earlier version's
    db.close()

    with SqliteJournal(tmp_path, writer_thread=False) as journal:
        assert journal.client_id_tag == ""
        assert journal.max_client_seq("bfd") == 7


def test_a_restart_reads_the_trade_ids_of_the_open_orders_only(journal):
    journal.record(submitted("t-1", BUY, "0.002", "60000.0"))
    journal.record(filled(fill("t-1", 7, BUY, "0.002", "60000.0", fee="0")))
    journal.record(submitted("t-2", SELL, "0.003", "60100.0"))
    journal.record(filled(fill("t-2", 8, SELL, "0.001", "60100.0", fee="0"), final=False))
    journal.record(filled(fill("t-2", 9, SELL, "0.001", "60100.0", fee="0"), final=False))
    journal.record(submitted("t-3", SELL, "0.001", "60200.0"))

    assert journal.open_order_trade_ids() == {"t-2": [8, 9]}
    assert journal.order_statuses() == [
        ("t-1", OrderStatus.FILLED),
        ("t-2", OrderStatus.PARTIALLY_FILLED),
        ("t-3", OrderStatus.PENDING_SUBMIT),
    ]


def test_an_open_orders_fills_booked_as_outside_are_among_its_trade_ids_at_a_restart(journal):
    """t-2 (an earlier journal's, adopted at a start-up) made trade 8 while the daemon was
    down, booked as outside:t-2, then trade 9 under its own id: a restart counts both as
    seen on t-2, so a later read of t-2's fills reports neither again. outside:t-1's trade 7
    is of an order this journal has no open row of (nothing to count it on)."""
    journal.record(filled(fill("outside:t-1", 7, BUY, "0.001", "60000.0", fee="0"), final=False))
    journal.record(submitted("t-2", SELL, "0.003", "60100.0"))
    journal.record(filled(fill("outside:t-2", 8, SELL, "0.001", "60100.0", fee="0"), final=False))
    journal.record(filled(fill("t-2", 9, SELL, "0.001", "60100.0", fee="0"), "0.002", final=False))

    assert journal.open_order_trade_ids() == {"t-2": [8, 9]}


def test_a_restart_reads_the_last_snapshots_trade_ids_none_from_a_snapshot_before_them(journal):
    assert journal.last_snapshot_trade_ids() is None  # no snapshot
    journal.record(replace(_adopting_snapshot(), trade_ids=((SYMBOL, 40), ("ETHUSDT", 7))))
    journal.record(replace(_adopting_snapshot(t=T0 + 1), trade_ids=((SYMBOL, 41),)))
    assert journal.last_snapshot_trade_ids() == {SYMBOL: 41}
    journal.record(_adopting_snapshot(t=T0 + 2))  # as a journal from before the field has
    assert journal.last_snapshot_trade_ids() is None


def test_the_last_time_the_exchange_stamped_leaves_out_the_times_of_our_clock(journal):
    """A fill at T0 and an account update at T0 + 0.5 s (the exchange's times); a balance
    snapshot and a state change at T0 + 1.5 s and + 2 s (our estimate of the exchange's clock,
    ahead). The last record is the state change; the exchange's last stamp the update."""
    assert journal.last_exchange_ms() is None
    journal.record(filled(fill("t-1", 7, BUY, "0.002", "60000.0", fee="0")))
    journal.record(
        PositionChanged(
            event_time_ms=T0 + 500,
            recv_time_ms=T0 + 510,
            position=Position(symbol=SYMBOL, qty=D("0.003"), entry_price=D("60000.0")),
            reason="ORDER",
        )
    )
    journal.snapshot(time_ms=T0 + 1_500, equity=D(1), wallet=D(1), unrealized_pnl=D(0))
    journal.record(
        TradingStateChanged(
            event_time_ms=T0 + 2_000,
            recv_time_ms=T0 + 2_000,
            previous=TradingState.ACTIVE,
            current=TradingState.HALTED,
            reason="stopped",
        )
    )
    journal.flush()
    assert journal.last_record_ms() == T0 + 2_000
    assert journal.last_exchange_ms() == T0 + 500


def test_an_id_a_denied_request_took_is_not_given_again_after_a_restart(journal):
    """bot-12 was denied by the RiskManager (no orders row): the next session starts at 13,
    not at 11 after the highest order (bot-10), so no two journaled requests share an id."""
    journal.record(submitted("bot-10", BUY, "0.001", "60000.0"))
    denied = submitted("bot-12", BUY, "0.001", "60000.0")
    journal.record(
        RiskDenied(event_time_ms=T0, recv_time_ms=T0, request=denied.request, reason="max notional")
    )
    journal.flush()

    assert journal.max_client_seq("bot") == 12
    assert journal.max_client_seq("other") == 0


def test_last_record_ms_is_the_latest_event_fill_or_snapshot(journal):
    """Where the start-up reads the funding history from (settled while the daemon was down)."""
    assert journal.last_record_ms() is None
    journal.record(submitted("bot-1", BUY, "0.001", "60000.0", t=T0 + 5))
    journal.record(filled(fill("bot-1", 9, BUY, "0.001", "60000.0", fee="0", t=T0 + 7)))
    assert journal.last_record_ms() == T0 + 7
    journal.snapshot(time_ms=T0 + 60_000, equity=D("1"), wallet=D("1"), unrealized_pnl=D("0"))
    assert journal.last_record_ms() == T0 + 60_000


def test_balance_snapshots_and_peak_equity(journal):
    journal.snapshot(time_ms=T0, equity=D("10000.5"), wallet=D("10000"), unrealized_pnl=D("0.5"))
    journal.snapshot(
        time_ms=T0 + 60_000, equity=D("9999"), wallet=D("10000"), unrealized_pnl=D("-1")
    )

    assert journal.load_snapshots() == [
        (T0, D("10000.5"), D("10000"), D("0.5")),
        (T0 + 60_000, D("9999"), D("10000"), D("-1")),
    ]
    assert journal.peak_equity() == D("10000.5")


def test_the_drawdown_peak_is_net_of_the_transfers_made_by_each_snapshot(journal):
    """10,000 traded to 10,100 (the peak), then 2,000 withdrawn (equity 8,100), then a deposit
    of 5,000 (13,090 after a loss of 10): the peak the drawdown limit measures from is 10,100."""
    journal.snapshot(time_ms=T0, equity=D("10100"), wallet=D("10100"), unrealized_pnl=D("0"))
    journal.snapshot(
        time_ms=T0 + 60_000,
        equity=D("8100"),
        wallet=D("8100"),
        unrealized_pnl=D("0"),
        transfers=D("-2000"),
    )
    journal.snapshot(
        time_ms=T0 + 120_000,
        equity=D("13090"),
        wallet=D("13090"),
        unrealized_pnl=D("0"),
        transfers=D("3000"),
    )

    assert journal.peak_equity() == D("13090")  # the raw peak, deposits included
    assert journal.peak_net_equity() == D("10100")
    assert journal.peak_net_equity(T0 + 60_000) == D("10100")  # 8,100 + 2,000
    assert journal.peak_net_equity(T0 + 120_000) == D("10090")


def test_a_journal_from_before_the_transfers_column_gets_it_and_replays_old_frames(tmp_path):
    """An existing journal (snapshots without transfers, a write-ahead-log frame of four
    fields not yet applied) opens, migrates, and counts those snapshots as without transfers."""
    folder = tmp_path / "journal"
    with SqliteJournal(folder) as j:
        j.snapshot(time_ms=T0, equity=D("10000"), wallet=D("10000"), unrealized_pnl=D("0"))
    db = sqlite3.connect(folder / FILE_NAME)
    db.executescript(
        "CREATE TABLE old AS SELECT time_ms, equity, wallet, unrealized_pnl"
        " FROM balance_snapshots; DROP TABLE balance_snapshots;"
        " ALTER TABLE old RENAME TO balance_snapshots;"
    )
    db.close()
    old_frame = b'_snapshot [%d,"10500","10500","0"]' % (T0 + 60_000)

    db = sqlite3.connect(folder / FILE_NAME)
    (applied,) = db.execute("SELECT value FROM meta WHERE key = 'wal_applied_lsn'").fetchone()
    db.close()
    with open(folder / "journal.wal", "ab") as wal:  # as a daemon killed before applying it
        wal.write(_frame(int(applied) + 1, old_frame))

    with SqliteJournal(folder) as j:
        assert j.peak_net_equity() == D("10500")
        assert [s[:2] for s in j.load_snapshots()] == [(T0, D("10000")), (T0 + 60_000, D("10500"))]


def _fill_journal(j: SqliteJournal) -> None:
    j.record(submitted("t-1", BUY, "0.010", "60000.0", t=T0))
    j.record(accepted("t-1", 11, t=T0 + 5))
    j.record(
        filled(
            fill("t-1", 501, BUY, "0.010", "60000.0", fee="0.12", maker=True, order_id=11, t=T0 + 9)
        )
    )
    j.record(submitted("t-2", SELL, "0.010", None, t=T0 + 20))
    j.record(
        filled(
            fill("t-2", 502, SELL, "0.010", "60100.0", fee="0.3005", rp="1", order_id=12, t=T0 + 21)
        )
    )


def test_csv_export_writes_orders_and_fills_as_stored(journal, tmp_path):
    _fill_journal(journal)

    paths = journal.export_csv(tmp_path / "audit")

    assert [p.name for p in paths] == ["orders.csv", "fills.csv"]
    orders = list(csv.DictReader(paths[0].open()))
    fills = list(csv.DictReader(paths[1].open()))
    assert [
        (o["client_order_id"], o["order_id"], o["type"], o["price"], o["status"]) for o in orders
    ] == [
        ("t-1", "11", "LIMIT", "60000.0", "FILLED"),
        ("t-2", "12", "MARKET", "", "FILLED"),
    ]
    assert fills[1] == {
        "symbol": "BTCUSDT",
        "trade_id": "502",
        "seq": "3",  # 1: OrderAccepted (events), 2: the first fill
        "order_id": "12",
        "client_order_id": "t-2",
        "side": "SELL",
        "position_side": "BOTH",
        "price": "60100.0",
        "qty": "0.010",
        "commission": "0.3005",
        "commission_asset": "USDT",
        "realized_pnl": "1",
        "is_maker": "0",
        "time_ms": str(T0 + 21),
        "recv_time_ms": str(T0 + 22),
    }


def test_export_command_writes_csvs_while_the_daemon_holds_the_journal(journal, tmp_path, capsys):
    _fill_journal(journal)

    code = export_main(["--journal", str(journal.path.parent), "--out", str(tmp_path / "out")])

    assert code == 0
    assert capsys.readouterr().out.split() == [
        str(tmp_path / "out" / "orders.csv"),
        str(tmp_path / "out" / "fills.csv"),
    ]
    assert len((tmp_path / "out" / "fills.csv").read_text().splitlines()) == 3


def test_export_command_reads_a_closed_journal(tmp_path):
    with SqliteJournal(tmp_path / "j") as j:
        _fill_journal(j)

    assert export_main(["--journal", str(tmp_path / "j"), "--out", str(tmp_path / "o")]) == 0
    assert sorted(os.listdir(tmp_path / "o")) == ["fills.csv", "orders.csv"]


def test_export_command_writes_files_only_its_user_can_read(tmp_path):
    with SqliteJournal(tmp_path / "j") as j:
        _fill_journal(j)

    journal, out = str(tmp_path / "j"), str(tmp_path / "o" / "audit")
    result = subprocess.run(
        [sys.executable, "-m", "book_keeper.export", "--journal", journal, "--out", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        umask=0o022,
    )

    assert result.returncode == 0, result.stderr
    written = [tmp_path / "o", *sorted((tmp_path / "o").rglob("*"))]
    assert [oct(p.stat().st_mode & 0o777) for p in written] == ["0o700", "0o700", "0o600", "0o600"]


def test_export_command_exits_2_with_one_line_on_a_bad_path(tmp_path, capsys):
    (tmp_path / "file").write_text("x")

    missing = export_main(["--journal", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    err_missing = capsys.readouterr().err
    with SqliteJournal(tmp_path / "j"):
        pass
    not_dir = export_main(["--journal", str(tmp_path / "j"), "--out", str(tmp_path / "file")])
    err_not_dir = capsys.readouterr().err

    assert (missing, not_dir) == (2, 2)
    assert err_missing == f"book_keeper.export: error: no journal at {tmp_path}/nope/{FILE_NAME}\n"
    assert err_not_dir.count("\n") == 1 and "is not a directory" in err_not_dir


def test_export_names_a_relative_path_as_a_path(tmp_path, monkeypatch, capsys):
    """As the other lines naming a journal (`shown_path`): `./journal/...`, not the bare
    relative path given. Before: "no journal at journal/journal.sqlite3"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    with SqliteJournal(tmp_path / "j"):
        pass

    missing = export_main(["--journal", "journal", "--out", "o"])
    not_dir = export_main(["--journal", "j", "--out", "file"])

    assert (missing, not_dir) == (2, 2)
    assert capsys.readouterr().err.splitlines() == [
        f"book_keeper.export: error: no journal at ./journal/{FILE_NAME}",
        "book_keeper.export: error: --out ./file exists and is not a directory",
    ]


def test_an_instrument_round_trips_without_its_derived_fields():
    """A recorded session's header carries its instruments (`to_jsonable`); the audit rebuilds
    them (`from_jsonable`). A value derived in `__post_init__` (`LotSize.grid_max_qty`) is
    neither written nor passed back: the class computes it again."""
    btc = instruments()["BTCUSDT"]
    data = codec.to_jsonable(btc)
    assert "grid_max_qty" not in data["lot"] and "grid_max_qty" not in data["market_lot"]
    rebuilt = codec.from_jsonable(Instrument, data)
    assert rebuilt == btc
    assert rebuilt.market_lot.grid_max_qty == btc.market_lot.grid_max_qty


def _decided(action: str, reason: str, *, strategy: str = "exec_manager", t: int = T0):
    return DecisionMade(
        event_time_ms=t,
        recv_time_ms=t,
        symbol=SYMBOL,
        strategy=strategy,
        action=action,
        reason=reason,
    )


def _stop(cid: str) -> OrderSubmitted:
    """A closePosition STOP_MARKET: the position's stop-loss."""
    stop = OrderRequest(
        symbol=SYMBOL,
        side=SELL,
        type=OrderType.STOP_MARKET,
        quantity=None,
        client_order_id=cid,
        stop_price=D("57000.0"),
        close_position=True,
    )
    return OrderSubmitted(event_time_ms=T0, recv_time_ms=T0, request=stop)


def _reasons_csv(j: SqliteJournal, out: Path) -> dict[str, tuple[str, str, str]]:
    [orders_csv, _] = j.export_csv(out)
    with orders_csv.open(newline="") as f:
        return {
            r["client_order_id"]: (r["status"], r["why_sent"], r["why_cancelled"])
            for r in csv.DictReader(f)
        }


def test_orders_csv_says_why_each_order_was_sent_and_cancelled(journal):
    """The decisions journaled before each order (with it, in one batch, as the ExecManager
    does) and before its cancel: one named order, then a cancel-all keeping the stop."""
    journal.record_many(
        [
            _decided("buy 0.002 @ 58000.0", "dip bid", strategy="mine"),
            submitted("e-1", BUY, "0.002", "58000.0"),
        ]
    )
    journal.record_many(
        [_decided("target 0.002 (market)", "long", strategy="mine"), submitted("e-2", BUY, "0.002")]
    )
    journal.record(filled(fill("e-2", 1, BUY, "0.002", "58100.0", fee="0.05", order_id=2), "0.002"))
    journal.record_many(
        [_decided("SELL close-position STOP_MARKET stop 57000.0", "stop-loss 2%"), _stop("s-1")]
    )
    journal.record_many(
        [
            _decided("buy 0.002 @ 57500.0", "", strategy="mine"),
            submitted("e-3", BUY, "0.002", "57500.0"),
        ]
    )
    journal.record(_decided("cancel e-1", "stale: open 30001 ms (max 30000 ms)"))
    journal.record(canceled("e-1", 1))
    journal.record(_decided(CANCEL_ALL_BUT_PROTECTION, "kill switch"))
    journal.record(_decided("cancel e-2", "too late"))  # it had filled: no cancel of it
    journal.record(canceled("e-3", 3))

    assert _reasons_csv(journal, journal.path.parent / "audit") == {
        "e-1": ("CANCELED", "mine: dip bid", "exec_manager: stale: open 30001 ms (max 30000 ms)"),
        "e-2": ("FILLED", "mine: long", ""),
        "s-1": ("PENDING_SUBMIT", "exec_manager: stop-loss 2%", ""),  # kept by the cancel-all
        "e-3": ("CANCELED", "mine: buy 0.002 @ 57500.0", "exec_manager: kill switch"),
    }
    journal.record(_decided(CANCEL_ALL, "halted"))
    journal.record(canceled("s-1", None))
    assert _reasons_csv(journal, journal.path.parent / "audit")["s-1"] == (
        "CANCELED",
        "exec_manager: stop-loss 2%",
        "exec_manager: halted",
    )


def test_a_journal_older_than_the_reason_columns_exports_them_empty(tmp_path):
    with SqliteJournal(tmp_path) as j:
        j.record_many(
            [_decided("buy 0.002 @ 58000.0", "bid"), submitted("e-1", BUY, "0.002", "58000.0")]
        )
    db = sqlite3.connect(tmp_path / FILE_NAME)
    for column in ("why_sent", "why_cancelled"):  # as an earlier version made it
        db.execute(f"ALTER TABLE orders DROP COLUMN {column}")
    db.commit()
    db.close()

    with SqliteJournal(tmp_path, readonly=True) as j:  # the export leaves it as it is
        assert _reasons_csv(j, tmp_path / "audit") == {"e-1": ("PENDING_SUBMIT", "", "")}
    with SqliteJournal(tmp_path) as j:  # a writer adds the columns; the new orders have them
        j.record_many(
            [_decided("buy 0.002 @ 57000.0", "lower"), submitted("e-2", BUY, "0.002", "57000.0")]
        )
        assert _reasons_csv(j, tmp_path / "audit") == {
            "e-1": ("PENDING_SUBMIT", "", ""),
            "e-2": ("PENDING_SUBMIT", "exec_manager: lower", ""),
        }


def test_last_fill_and_a_liquidation_fill_since_a_time_are_read_back(journal):
    """A restart's reads: the fill of the highest trade id (looked for again in the account's
    trades) and a fill of the exchange's own order since a halt (which a restart does not lift
    by itself)."""
    journal.record(submitted("bot-1", BUY, "0.002", "60000.0"))
    journal.record(filled(fill("bot-1", 9, BUY, "0.001", "60000.0", fee="0", order_id=7, t=T0)))
    journal.record(filled(fill("bot-1", 8, BUY, "0.001", "60001.0", fee="0", order_id=7, t=T0)))
    journal.record(
        filled(fill("autoclose-1", 10, SELL, "0.002", "59000.0", fee="0", order_id=8, t=T0 + 5))
    )
    journal.flush()

    last = journal.last_fill(SYMBOL)
    assert (last.trade_id, last.order_id, last.client_order_id) == (10, 8, "autoclose-1")
    assert journal.last_fill("ETHUSDT") is None
    assert journal.forced_fill_since(T0 + 5) == "autoclose-1"
    assert journal.forced_fill_since(T0 + 6) is None
