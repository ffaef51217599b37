"""codec.ROWERS: an event as the positional row the write-ahead log's record_many frames carry
(cheaper for orjson than the slotted dataclass on the order path), and back to the object form
every other part of the journal reads."""

import orjson
import pytest

from book_keeper import codec
from book_keeper.journal import SqliteJournal
from book_keeper.journal_wal import _decode_body, _frame, read_wal
from core.account import Balance
from core.events import BalanceChanged
from tests.book_keeper.support import BUY, T0, D, fill, filled, submitted
from tests.book_keeper.test_journal import _examples


def _every_kind() -> list:
    f = fill("t-1", 501, BUY, "0.004", "60000.0", fee="0.048", maker=True, order_id=11)
    return [
        *_examples(),
        submitted("t-1", BUY, "0.010", "60000.0"),
        filled(f, "0.004", "60000.0", final=False),
        filled(f, "0.010", "60000.0"),
    ]


def test_every_event_kind_is_covered():
    assert {type(e).__name__ for e in _every_kind()} == set(codec.event_classes())


@pytest.mark.parametrize("event", _every_kind(), ids=lambda e: type(e).__name__)
def test_a_row_reads_back_as_the_object_encode_writes_and_as_the_same_event(event):
    row = orjson.loads(orjson.dumps(codec.ROWERS[type(event)](event), default=codec.orjson_default))

    data = codec.row_to_jsonable(type(event), row)

    assert data == orjson.loads(codec.encode(event))
    assert codec.loads(type(event).__name__, orjson.dumps(data)) == event


def test_a_nested_order_request_is_a_row_of_its_own():
    event = submitted("t-1", BUY, "0.010", "60000.0")

    row = orjson.loads(orjson.dumps(codec.ROWERS[type(event)](event), default=codec.orjson_default))

    # event_time_ms, recv_time_ms, request, intent; the request's fields in their order
    assert row[2][:5] == ["BTCUSDT", "BUY", "LIMIT", "0.010", "t-1"]
    assert row[3] == "ORDINARY"


def test_a_row_of_another_length_is_a_newer_versions_record_and_refused_by_name():
    event = submitted("t-1", BUY, "0.010", "60000.0")
    row = [
        *orjson.loads(orjson.dumps(codec.ROWERS[type(event)](event), default=codec.orjson_default)),
        1,
    ]
    body = orjson.dumps([["OrderSubmitted"], [row]])

    with pytest.raises(codec.UnknownValue, match="OrderSubmitted row"):
        _decode_body(body)


def test_record_many_logs_rows_and_a_log_with_objects_of_earlier_versions_is_still_recovered(
    tmp_path,
):
    [decision] = [e for e in _examples() if type(e).__name__ == "DecisionMade"]
    intent = submitted("t-1", BUY, "0.001", "60000.0")
    rows_body = orjson.dumps(
        [
            ["DecisionMade", "OrderSubmitted"],
            [codec.ROWERS[type(e)](e) for e in (decision, intent)],
        ],
        default=codec.orjson_default,
    )
    with SqliteJournal(tmp_path, writer_thread=False) as j:
        j.record_many((decision, intent))
        [(_, logged)] = read_wal(j.wal_path.read_bytes())[0]
        assert logged == rows_body
        assert j.rehearse_many((decision, intent)).endswith(rows_body)  # what it keeps warm

    with SqliteJournal(tmp_path / "old"):
        pass  # the tables exist, nothing applied
    objects_body = orjson.dumps(
        [["DecisionMade", "OrderSubmitted"], [decision, intent]], default=codec.orjson_default
    )
    (tmp_path / "old" / "journal.wal").write_bytes(_frame(1, objects_body))
    with SqliteJournal(tmp_path / "old") as j:
        assert j.recovered_records == 1
        assert [e for _, e in j.load_events(["DecisionMade"])] == [decision]
        assert [o.client_order_id for o in j.open_orders()] == ["t-1"]


def test_a_row_of_an_earlier_version_without_a_trailing_defaulted_field_reads_back():
    """A write-ahead log left by a version before `Balance.balance_change` (a crash, then the
    upgrade): its BalanceChanged rows hold a balance row one value shorter."""
    event = BalanceChanged(
        event_time_ms=T0,
        recv_time_ms=T0 + 5,
        balance=Balance(asset="USDT", wallet_balance=D("9996.292"), available_balance=D(0)),
        reason="FUNDING_FEE",
    )
    row = orjson.loads(
        orjson.dumps(codec.ROWERS[BalanceChanged](event), default=codec.orjson_default)
    )
    row[2] = row[2][:-1]  # the balance without balance_change

    data = codec.row_to_jsonable(BalanceChanged, row)

    assert codec.loads("BalanceChanged", orjson.dumps(data)) == event
