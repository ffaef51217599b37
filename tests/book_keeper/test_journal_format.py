"""The journal's format mark (`meta.schema_version`): a journal written by a newer version of
the daemon - marked newer, or holding a value this version cannot decode - is refused with one
line naming it, by the writer and by a reader, and left as it was; older journals keep opening
and a writer marks them with this version's format."""

import dataclasses
import sqlite3
import typing
from enum import Enum
from pathlib import Path

import pytest

from book_keeper import codec
from book_keeper.journal import SqliteJournal
from book_keeper.journal_errors import JournalError, JournalTooNew, journal_dir_refusal
from book_keeper.journal_files import FILE_NAME, JournalLock
from book_keeper.journal_format import _ENUM_COLUMNS, FORMAT, check_readable
from book_keeper.journal_wal import _frame
from core.account import Position
from core.enums import OrderIntent, OrderStatus, OrderType, ReconcileCause, TradingState
from core.events import OrderReconciled, PositionChanged, TradingStateChanged
from tests.book_keeper.support import (
    BUY,
    SELL,
    SYMBOL,
    T0,
    D,
    accepted,
    book,
    fill,
    filled,
    submitted,
)

REFUSAL = "run that version, or start a new journal_dir"


def _newer(path: Path | str) -> str:
    """The line that refuses the journal in `path`, marked with format 3."""
    return (
        f"the journal in {path} (journal_dir) was written by a newer version of this daemon "
        f"(format 3, this build reads up to 2): {REFUSAL}"
    )


def _holding(path: Path, what: str) -> str:
    """The line that refuses the journal in `path` for a value this build does not know."""
    return (
        f"the journal in {path} (journal_dir) was written by a newer version of this daemon "
        f"(it holds {what}, unknown to this build, which reads formats up to 2): {REFUSAL}"
    )


def _sql(path: Path, *statements: str) -> list[tuple]:
    """Run `statements` on the journal file as the `sqlite3` CLI would; the last one's rows."""
    db = sqlite3.connect(path / FILE_NAME)
    try:
        rows: list[tuple] = []
        for statement in statements:
            rows = db.execute(statement).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def _mark(path: Path) -> str:
    [(value,)] = _sql(path, "SELECT value FROM meta WHERE key = 'schema_version'")
    return value


def _journal(path: Path) -> None:
    """t-1 open (a limit BUY), t-2 a REDUCING sell filled."""
    with SqliteJournal(path) as j:
        j.record(submitted("t-1", BUY, "0.010", "60000.0"))
        j.record(submitted("t-2", SELL, "0.010", reduce_only=True))
        j.record(accepted("t-2", 12))
        j.record(filled(fill("t-2", 501, SELL, "0.010", "61000.0", fee="0.24", order_id=12)))


def test_a_new_journal_is_marked_with_this_versions_format(tmp_path):
    _journal(tmp_path)

    assert _mark(tmp_path) == "2"


def test_a_format_1_journal_opens_and_a_writer_marks_it_2_a_reader_leaves_it_1(tmp_path):
    _journal(tmp_path)
    _sql(tmp_path, "UPDATE meta SET value = '1' WHERE key = 'schema_version'")

    with SqliteJournal(tmp_path, readonly=True) as j:
        assert [o.client_order_id for o in j.load_orders()] == ["t-1", "t-2"]
    assert _mark(tmp_path) == "1"
    with SqliteJournal(tmp_path) as j:
        assert [o.client_order_id for o in j.open_orders()] == ["t-1"]
    assert _mark(tmp_path) == "2"


def test_a_journal_marked_newer_is_refused_by_a_writer_and_left_as_it_was(tmp_path):
    _journal(tmp_path)
    # As a newer version might have left it: marked 3, without a column this one would add.
    _sql(
        tmp_path,
        "UPDATE meta SET value = '3' WHERE key = 'schema_version'",
        "ALTER TABLE orders DROP COLUMN intent",
    )

    with pytest.raises(JournalTooNew) as refused:
        SqliteJournal(tmp_path)

    assert str(refused.value) == _newer(tmp_path)
    assert isinstance(refused.value, JournalError)  # the daemon's "stop, one line" class
    assert _mark(tmp_path) == "3"
    columns = {row[1] for row in _sql(tmp_path, "PRAGMA table_info(orders)")}
    assert "intent" not in columns  # not migrated by the version that refused it
    _sql(tmp_path, "UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with SqliteJournal(tmp_path) as j:  # the refusal released the writer lock
        assert [o.client_order_id for o in j.open_orders()] == ["t-1"]


def test_a_journal_marked_newer_is_refused_by_a_reader(tmp_path):
    _journal(tmp_path)
    _sql(tmp_path, "UPDATE meta SET value = '3' WHERE key = 'schema_version'")

    with pytest.raises(JournalTooNew) as refused:
        SqliteJournal(tmp_path, readonly=True)

    assert str(refused.value) == _newer(tmp_path)


@pytest.mark.parametrize(
    ("journal_dir", "shown"),
    [
        ("journal", "./journal"),  # the default: not "journal journal was written..."
        ("runs/btc", "./runs/btc"),
        ("./runs/btc", "./runs/btc"),
        ("../btc", "../btc"),
    ],
)
def test_a_relative_journal_dir_is_named_as_a_path(tmp_path, monkeypatch, journal_dir, shown):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "work").mkdir()
    if journal_dir == "../btc":
        monkeypatch.chdir(tmp_path / "work")
    _journal(Path(journal_dir))
    _sql(Path(journal_dir), "UPDATE meta SET value = '3' WHERE key = 'schema_version'")

    with pytest.raises(JournalTooNew) as refused:
        SqliteJournal(journal_dir)

    assert str(refused.value) == _newer(shown)
    assert str(refused.value).startswith(f"the journal in {shown} (journal_dir) was written")


def test_a_journal_in_use_names_a_relative_journal_dir_as_a_path(tmp_path, monkeypatch):
    # The default journal_dir read "the journal journal/journal.sqlite3 is in use".
    monkeypatch.chdir(tmp_path)
    held = JournalLock("journal")

    with pytest.raises(JournalError) as refused:
        SqliteJournal("journal")
    held.release()

    assert (
        str(refused.value) == "the journal ./journal/journal.sqlite3 is in use by another process"
    )
    assert journal_dir_refusal("journal", "database or disk is full") == (
        "the journal in ./journal (journal_dir): database or disk is full"
    )


def test_a_journal_dir_that_looks_like_a_secret_is_not_shown(tmp_path):
    """An API key pasted as journal_dir (64 letters and digits) is hidden as --check-config
    hides it, the whole path word with it."""
    key = "Ab3" * 21 + "X"
    journal_dir = tmp_path / key
    _journal(journal_dir)
    _sql(journal_dir, "UPDATE meta SET value = '3' WHERE key = 'schema_version'")

    with pytest.raises(JournalTooNew) as refused:
        SqliteJournal(journal_dir)

    assert str(refused.value) == _newer("<not shown: looks like a secret>")
    assert key not in str(refused.value) and str(tmp_path) not in str(refused.value)


def test_a_format_mark_that_is_no_number_is_refused_in_one_line(tmp_path):
    _journal(tmp_path)
    _sql(tmp_path, "UPDATE meta SET value = 'two' WHERE key = 'schema_version'")

    for readonly in (False, True):
        with pytest.raises(JournalError) as refused:
            SqliteJournal(tmp_path, readonly=readonly)
        assert str(refused.value) == (
            f"cannot open the journal {tmp_path / FILE_NAME}: meta.schema_version is 'two', "
            "not a format number"
        )


def test_an_open_order_of_an_intent_this_version_lacks_refuses_the_writers_opening(tmp_path):
    _journal(tmp_path)
    _sql(tmp_path, "UPDATE orders SET intent = 'HEDGE' WHERE client_order_id = 't-1'")

    with pytest.raises(JournalTooNew) as refused:
        SqliteJournal(tmp_path)

    assert str(refused.value) == _holding(tmp_path, "orders.intent 'HEDGE'")


def test_a_reader_refuses_an_unknown_value_where_it_decodes_it(tmp_path):
    _journal(tmp_path)
    _sql(tmp_path, "UPDATE orders SET intent = 'HEDGE' WHERE client_order_id = 't-2'")

    with SqliteJournal(tmp_path, readonly=True) as j:
        assert j.open_orders()[0].client_order_id == "t-1"  # t-2 ended: not read here
        with pytest.raises(JournalTooNew) as in_orders:
            j.load_orders()
        with pytest.raises(JournalTooNew) as in_last_fill:
            j.last_fill_order(SYMBOL)

    line = _holding(tmp_path, "orders.intent 'HEDGE'")
    assert (str(in_orders.value), str(in_last_fill.value)) == (line, line)


def test_a_fills_side_this_version_lacks_is_refused(tmp_path):
    _journal(tmp_path)
    _sql(tmp_path, "UPDATE fills SET side = 'BOTHWAYS'")

    with SqliteJournal(tmp_path, readonly=True) as j, pytest.raises(JournalTooNew) as refused:
        j.load_fills()

    assert str(refused.value) == _holding(tmp_path, "fills.side 'BOTHWAYS'")


def test_an_event_kind_this_version_lacks_is_refused_not_skipped(tmp_path):
    with SqliteJournal(tmp_path) as j:
        j.record(
            TradingStateChanged(
                event_time_ms=T0,
                recv_time_ms=T0,
                previous=TradingState.ACTIVE,
                current=TradingState.HALTED,
                reason="kill switch",
            )
        )
    _sql(
        tmp_path,
        "INSERT INTO events (seq, event_time_ms, recv_time_ms, kind, symbol, payload)"
        f" VALUES (99, {T0}, {T0}, 'OrderMoved', NULL, '{{}}')",
    )

    with SqliteJournal(tmp_path, readonly=True) as j:
        [(_, state)] = j.load_events(["TradingStateChanged"])  # what it asks for: readable
        with pytest.raises(JournalTooNew) as refused:
            j.load_events()

    assert isinstance(state, TradingStateChanged) and state.current is TradingState.HALTED
    assert str(refused.value) == _holding(tmp_path, "record kind 'OrderMoved'")


def test_an_unknown_enum_in_an_account_event_stops_the_restore_instead_of_skipping_it(tmp_path):
    # A position event the restore would have skipped with a warning: the books rebuilt
    # without it would hold the wrong position.
    position = Position(symbol=SYMBOL, qty=D("0.010"), entry_price=D("60000.0"))
    with SqliteJournal(tmp_path) as j:
        j.record(
            PositionChanged(event_time_ms=T0, recv_time_ms=T0, position=position, reason="ORDER")
        )
    [(payload,)] = _sql(tmp_path, "SELECT payload FROM events WHERE kind = 'PositionChanged'")
    assert '"position_side":"BOTH"' in payload
    _sql(tmp_path, "UPDATE events SET payload = replace(payload, '\"BOTH\"', '\"MIDDLE\"')")

    with SqliteJournal(tmp_path) as j, pytest.raises(JournalTooNew) as refused:
        book(None).restore(j, checkpoints=False)

    assert str(refused.value) == _holding(tmp_path, "PositionSide 'MIDDLE'")


def test_a_record_a_newer_version_logged_but_did_not_apply_refuses_the_opening(tmp_path):
    _journal(tmp_path)
    [(applied,)] = _sql(tmp_path, "SELECT value FROM meta WHERE key = 'wal_applied_lsn'")
    with open(tmp_path / "journal.wal", "ab") as wal:  # as a newer daemon killed before applying
        wal.write(_frame(int(applied) + 1, b'OrderMoved {"event_time_ms":1}'))

    with pytest.raises(JournalTooNew) as refused:
        SqliteJournal(tmp_path)

    assert str(refused.value) == _holding(tmp_path, "record kind 'OrderMoved'")
    assert (tmp_path / "journal.wal").stat().st_size > 0  # kept for the version that wrote it


def test_check_readable_says_what_a_command_would_find_without_decoding_a_row(tmp_path):
    _journal(tmp_path)
    check_readable(tmp_path)  # this version's journal: nothing to say
    check_readable(tmp_path / "none")  # no journal: the opening says so, not this

    _sql(tmp_path, "UPDATE orders SET type = 'TRAILING_LIMIT' WHERE client_order_id = 't-1'")
    with pytest.raises(JournalTooNew) as in_column:
        check_readable(tmp_path)
    check_readable(tmp_path, values=False)  # the mark only: --status
    _sql(tmp_path, "UPDATE orders SET type = 'LIMIT'")
    _sql(
        tmp_path,
        "INSERT INTO events (seq, event_time_ms, recv_time_ms, kind, symbol, payload)"
        f" VALUES (99, {T0}, {T0}, 'OrderMoved', NULL, '{{}}')",
    )
    with pytest.raises(JournalTooNew) as in_kinds:
        check_readable(tmp_path)
    _sql(tmp_path, "UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    with pytest.raises(JournalTooNew) as in_mark:
        check_readable(tmp_path, values=False)

    assert str(in_column.value) == _holding(tmp_path, "orders.type 'TRAILING_LIMIT'")
    assert str(in_kinds.value) == _holding(tmp_path, "record kind 'OrderMoved'")
    assert str(in_mark.value) == _newer(tmp_path)


def test_check_readable_passes_a_journal_older_than_the_intent_column(tmp_path):
    _journal(tmp_path)
    _sql(
        tmp_path,
        "ALTER TABLE orders DROP COLUMN intent",
        "UPDATE meta SET value = '1' WHERE key = 'schema_version'",
    )

    check_readable(tmp_path)

    with SqliteJournal(tmp_path) as j:  # and it keeps opening, its orders ORDINARY
        assert j.last_fill_order(SYMBOL) == (SELL, OrderType.MARKET, OrderIntent.ORDINARY)


# --- the rule: a journaled value added means a new format ----------------------------------


def _journaled_enums() -> dict[str, list[str]]:
    """Every enum an event (and an orders / fills row) is journaled with, by name: its values."""
    found: dict[str, type[Enum]] = {}
    seen: set[type] = set()

    def walk(tp: typing.Any) -> None:
        for arg in typing.get_args(tp):
            walk(arg)
        if isinstance(tp, type) and issubclass(tp, Enum):
            found[tp.__name__] = tp
        elif isinstance(tp, type) and dataclasses.is_dataclass(tp) and tp not in seen:
            seen.add(tp)
            for hint in typing.get_type_hints(tp).values():
                walk(hint)

    for cls in codec.event_classes().values():
        walk(cls)
    return {name: sorted(m.value for m in e) for name, e in sorted(found.items())}


# What format 2 holds. A test failing here: a value was added to what the journal stores. If
# a version that reads format 2 would misread it or fail on it (it would: an enum member, an
# event kind), raise FORMAT by one in book_keeper/journal_format.py, add its line to the history in
# the module docstring and the README, then update these.
FORMAT_2_KINDS = [
    "BalanceChanged", "CancelDenied", "DecisionMade", "FundingPaid", "GapDetected", "GapHealed",
    "MarginCalled", "OrderAccepted", "OrderAmended", "OrderCanceled", "OrderExpired",
    "OrderFilled", "OrderPartiallyFilled", "OrderReconciled", "OrderRejected",
    "OrderStatusUnknown", "OrderSubmitted", "PositionChanged", "RiskDenied",
    "StreamStateChanged", "TradingStateChanged", "VenueSnapshot",
]  # fmt: skip
FORMAT_2_ENUMS = {
    "GapCause": ["jump", "reconnect", "sequence", "silence", "start"],
    "MarginType": ["CROSSED", "ISOLATED"],
    # OrderRejected.not_sent, added without a bump (as OrderReconciled.cause below)
    "NotSent": ["ACCESS", "IP_BANNED", "LOCAL_CHECK", "NETWORK_OR_RATE_LIMIT", "STOPPING"],
    "OrderIntent": ["CROSSED_CLOSE", "FLATTEN", "ORDINARY", "PAST_STOP_CLOSE", "REDUCING"],
    "OrderStatus": [
        "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "FILLED", "NEW", "PARTIALLY_FILLED",
        "PENDING_SUBMIT", "REJECTED", "UNKNOWN",
    ],
    "OrderType": [
        "LIMIT", "LIQUIDATION", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
        "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET",
    ],
    "PositionSide": ["BOTH", "LONG", "SHORT"],
    # OrderReconciled.cause, added without a bump: a version without the field ignores it
    # and reads the event as before (the codec builds an event from the fields it knows)
    "ReconcileCause": ["EXCHANGE", "TAKEN_OVER_FILLS"],
    "Side": ["BUY", "SELL"],
    "StreamState": ["connected", "disconnected", "failed", "silent"],
    "TimeInForce": ["FOK", "GTC", "GTD", "GTX", "IOC"],
    "TradingState": ["ACTIVE", "HALTED", "REDUCING"],
    "WorkingType": ["CONTRACT_PRICE", "MARK_PRICE"],
}  # fmt: skip


def test_an_event_field_this_version_does_not_know_is_read_past_and_one_it_lacks_defaults():
    # Why a field with a default needs no new format: `OrderReconciled.cause`, read by a
    # version without it (here: a field a newer version added), and its row of before.
    newer = codec.loads(
        "OrderReconciled",
        '{"event_time_ms": 1, "recv_time_ms": 2, "symbol": "BTCUSDT", "client_order_id": '
        '"t-1", "status": "FILLED", "cause": "TAKEN_OVER_FILLS", "urgency": "HIGH"}',
    )
    older = codec.loads(
        "OrderReconciled",
        '{"event_time_ms": 1, "recv_time_ms": 2, "symbol": "BTCUSDT", "client_order_id": '
        '"t-1", "status": "FILLED"}',
    )

    assert newer == OrderReconciled(
        event_time_ms=1, recv_time_ms=2, symbol="BTCUSDT", client_order_id="t-1",
        status=OrderStatus.FILLED, cause=ReconcileCause.TAKEN_OVER_FILLS,
    )  # fmt: skip
    assert older.cause is ReconcileCause.EXCHANGE


def test_the_journaled_values_are_those_of_format_2():
    assert FORMAT == 2
    assert sorted(codec.event_classes()) == FORMAT_2_KINDS
    assert _journaled_enums() == FORMAT_2_ENUMS
    # the enum columns of the orders and fills rows are among them
    columns = [enum for table in _ENUM_COLUMNS.values() for _, enum in table]
    assert {enum.__name__ for enum in columns} <= set(FORMAT_2_ENUMS)
