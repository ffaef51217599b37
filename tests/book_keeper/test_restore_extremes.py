"""A restart restores the peak equity and max drawdown the books ended with (net of transfers,
USDT): the books journal a balance snapshot at each new one, and a restore takes the running
peak and drawdown of the snapshots. 10000 USDT, long 1 BTC at 60000 without fees: equity is
10000 + (mark - 60000)."""

import sqlite3
import zlib
from decimal import Decimal

import orjson
import pytest

from book_keeper import BookKeeper, SqliteJournal
from core.account import Balance
from core.clock import SimClock
from core.events import Event, VenueSnapshot
from core.market import MarkPrice
from tests.book_keeper.support import BUY, SYMBOL, T0, D, book, fill, filled, submitted


def _mark(price: str, t: int) -> MarkPrice:
    return MarkPrice(
        symbol=SYMBOL,
        event_time_ms=t,
        recv_time_ms=t,
        mark_price=D(price),
        index_price=D(price),
        funding_rate=D(0),
        next_funding_time_ms=T0 + 3_600_000,
    )


def _start() -> VenueSnapshot:
    return VenueSnapshot(
        event_time_ms=T0,
        recv_time_ms=T0,
        reason="start",
        symbols=(SYMBOL,),
        balances=(Balance(asset="USDT", wallet_balance=D(10000), available_balance=D(10000)),),
        positions=(),
        open_orders=(),
    )


def _run(journal: SqliteJournal, marks: list[str]) -> BookKeeper:
    """What the daemon does: books restored and journaling their extremes, each event
    journaled then booked, a long of 1 BTC, the mark prices, one heartbeat at the start."""
    live = book(start=None, clock=SimClock(T0))
    live.restore(journal)
    live.journal_extremes(journal)
    events: list[Event] = [_start(), submitted("t-1", BUY, "1.000", None, t=T0)]
    events.append(filled(fill("t-1", 1, BUY, "1.000", "60000.0", fee="0", t=T0)))
    for event in events:
        journal.record(event)
        live.apply(event)
    live.record_snapshot(journal)
    for n, price in enumerate(marks, start=1):
        live.mark(_mark(price, T0 + n * 1_000))
    return live


def _restored(tmp_path, *, checkpoints: bool = True) -> BookKeeper:
    return _restore(tmp_path, checkpoints=checkpoints)[0]


def _restore(tmp_path, *, checkpoints: bool = True) -> tuple[BookKeeper, str]:
    """The books a restart restores, and where the replay began."""
    restored = book(start=None, clock=SimClock(T0 + 60_000))
    with SqliteJournal(tmp_path, writer_thread=False) as journal:
        replay = restored.restore(journal, checkpoints=checkpoints)
    return restored, replay.origin


def _forget_the_drawdown_in_the_checkpoints(tmp_path) -> None:
    """Their marks as a version before `max_drawdown_all` wrote them."""
    db = sqlite3.connect(tmp_path / "journal.sqlite3")
    try:
        for id_, state in db.execute("SELECT id, state FROM checkpoints").fetchall():
            data = orjson.loads(zlib.decompress(state))
            del data["marks"]["max_drawdown_all"]
            packed = zlib.compress(orjson.dumps(data))
            db.execute("UPDATE checkpoints SET state = ? WHERE id = ?", (packed, id_))
        db.commit()
    finally:
        db.close()


@pytest.mark.parametrize("checkpoints", [True, False])
def test_a_restart_restores_the_peak_and_max_drawdown_reached_between_heartbeats(
    tmp_path, checkpoints
):
    """Peak 10050 at mark 60050, trough 9990 at 59990 (drawdown 60), between two heartbeats;
    the restart read 10000 (the heartbeat) and no drawdown."""
    with SqliteJournal(tmp_path, writer_thread=False) as journal:
        live = _run(journal, ["60010.0", "60050.0", "60020.0", "59990.0", "60030.0"])
    assert (live.peak_equity, live.max_drawdown) == (D(10050), D(60))

    restored = _restored(tmp_path, checkpoints=checkpoints)

    assert (restored.peak_equity, restored.max_drawdown) == (D(10050), D(60))


def test_a_checkpoint_keeps_the_running_drawdown_of_the_snapshots_it_covers(tmp_path):
    """A second run from the first one's checkpoint: its drawdown (10050 -> 9990) is in the
    checkpoint's marks, the second run's rows add a deeper one (10050 -> 9970)."""
    with SqliteJournal(tmp_path, writer_thread=False) as journal:
        _run(journal, ["60050.0", "59990.0"])
    with SqliteJournal(tmp_path, writer_thread=False) as journal:
        second = book(start=None, clock=SimClock(T0 + 60_000))
        journal.keep_checkpoints(second.restore(journal))
        second.journal_extremes(journal)
        second.mark(_mark("59970.0", T0 + 61_000))

    restored, origin = _restore(tmp_path)
    replayed = _restored(tmp_path, checkpoints=False)

    assert origin.startswith("from checkpoint ")
    assert (restored.peak_equity, restored.max_drawdown) == (D(10050), D(80))
    assert (replayed.peak_equity, replayed.max_drawdown) == (D(10050), D(80))


def test_a_restart_with_an_open_position_does_not_value_it_at_zero_before_its_first_price(
    tmp_path,
):
    """Peak 10100 (mark 60100) and no drawdown; at the restart the position has no price yet:
    equity 10000 was sampled as a drawdown of 100."""
    with SqliteJournal(tmp_path, writer_thread=False) as journal:
        _run(journal, ["60100.0"])

    restored = _restored(tmp_path)

    assert (restored.peak_equity, restored.max_drawdown) == (D(10100), Decimal(0))
    restored.mark(_mark("60080.0", T0 + 61_000))
    assert restored.max_drawdown == D(20)


def test_a_checkpoint_of_a_version_without_the_drawdown_goes_through_the_snapshots_again(
    tmp_path,
):
    """Not the whole journal again: the checkpoint's books, every balance snapshot row."""
    with SqliteJournal(tmp_path, writer_thread=False) as journal:
        _run(journal, ["60050.0", "59990.0"])
    with SqliteJournal(tmp_path, writer_thread=False) as journal:
        second = book(start=None, clock=SimClock(T0 + 60_000))
        journal.keep_checkpoints(second.restore(journal))
        second.journal_extremes(journal)
        second.mark(_mark("60040.0", T0 + 61_000))
    _forget_the_drawdown_in_the_checkpoints(tmp_path)

    restored, origin = _restore(tmp_path)

    assert origin.startswith("from checkpoint ")
    assert (restored.peak_equity, restored.max_drawdown) == (D(10050), D(60))
