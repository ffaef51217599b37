"""A restart from any checkpoint rebuilds exactly what the full replay of the journal does.

A random but consistent session (seeded: tests/book_keeper/session_support.py) is journaled
the way the daemon journals, with orders in doubt, late and repeated fills, liquidations,
funding, transfers, reconciliations and the trading state through REDUCING, HALTED and an
operator's reset. The journal keeps the restart's
replay and checkpoints it after every applied batch, so there is a checkpoint at nearly every
position of the journal: before fills, with orders UNKNOWN, while REDUCING or HALTED.

Then a start-up from each of many of those checkpoints (the newer ones removed) must give the
very picture the full replay gives: every field of the books, the risk limits, the order
sequences, the venue's inputs (tests/book_keeper/restart_support.py), Decimals compared as
text.
"""

import pytest

import book_keeper.journal_applier as journal_module
from book_keeper.book_keeper import BookKeeper
from book_keeper.checkpoint import VERSION, CheckpointRow, Replay
from book_keeper.journal import SqliteJournal
from core.clock import SimClock
from tests.book_keeper.restart_support import (
    checkpoint_ids,
    copy_up_to_checkpoint,
    drop_checkpoints_after,
    plain,
    start_up_picture,
)
from tests.book_keeper.session_support import Session
from tests.book_keeper.support import T0, instruments


def _replay_picture(replay: Replay) -> dict[str, object]:
    ledger = plain(replay.ledger)
    ledger[1]["ended"] = sorted(ledger[1]["ended"])  # a heap: its order is its own business
    return {"books": plain(replay.books), "ledger": ledger, "marks": plain(replay.marks)}


def assert_round_trip(live: BookKeeper, journal: SqliteJournal) -> None:
    """The replay the journal keeps, through its checkpoint's encoding and back, is the same
    to the last field: nothing it holds is left out of a checkpoint (every attribute of the
    books is compared, also one added later)."""
    replay = journal._applier.replay  # type: ignore[union-attr]
    assert replay is not None
    replay.position = journal.end_position()
    row = CheckpointRow(1, VERSION, replay.position, "", replay.encode())
    back = Replay._from_row(row, live, journal.end_position())
    assert isinstance(back, Replay)
    assert _replay_picture(back) == _replay_picture(replay)


# (seed, ended orders the books remember): with 25, the newest ended ones turn over.
@pytest.mark.parametrize(("seed", "remember"), [(1, 10_000), (2, 25)])
def test_a_start_from_any_checkpoint_equals_the_full_replay(tmp_path, monkeypatch, seed, remember):
    monkeypatch.setattr(journal_module, "KEEP_CHECKPOINTS", 1_000_000)  # keep them all
    insts = instruments()
    path = tmp_path / "journal"
    facts: dict[int, set[str]] = {}  # checkpoint id -> what the journal was in then
    journal = SqliteJournal(path, writer_thread=False)
    live = BookKeeper(
        starting_balances=None, instruments=insts, clock=SimClock(T0), remember_orders=remember
    )
    journal.keep_checkpoints(live.restore(journal), every_records=1)
    session = Session.started(seed, journal)
    last_id = 0
    for step in range(700):
        kind = session.step()
        journal.flush()  # applied: one batch, one checkpoint
        if step % 10 == 0:
            assert_round_trip(live, journal)
        if kind == "fill" and last_id in facts:
            facts[last_id].add("just before a fill")
        newest = next(journal.checkpoint_rows(), None)
        if newest is not None and newest.id != last_id:
            last_id = newest.id
            facts[last_id] = {
                f"trading {session.state}",
                *(f"order {o.status}" for o in session.open.values()),
            }
    journal.close()
    now = session.t + 60_000

    picture = {"now_ms": now, "remember_orders": remember}
    full, origin = start_up_picture(path, insts, checkpoints=False, **picture)
    assert origin == "replayed from the start of the journal"
    ids = checkpoint_ids(path)
    # A checkpoint after every step that added a row (a repeated fill adds none).
    assert len(ids) > 500
    # Every 10th checkpoint, and a dozen in each situation the test is about.
    wanted = set(ids[::10]) | {ids[0], ids[-1]}
    for situation in (
        "just before a fill",
        "order UNKNOWN",
        "trading REDUCING",
        "trading HALTED",
        "order PARTIALLY_FILLED",
    ):
        having = [i for i in ids if situation in facts.get(i, set())]
        assert having, f"seed {seed}: no checkpoint {situation}"
        wanted |= set(having[:: max(1, len(having) // 12)])
    # One copy of the journal, its checkpoints removed from the newest down: a restart from
    # each wanted one (a start-up that wrote to the copy would differ from `full` next time).
    copy = copy_up_to_checkpoint(path, tmp_path / "restarts", max(wanted))
    for cp in sorted(wanted, reverse=True):
        drop_checkpoints_after(copy, cp)
        restarted, origin = start_up_picture(copy, insts, checkpoints=True, **picture)
        assert origin.startswith(f"from checkpoint {cp} "), origin
        assert restarted == full, f"seed {seed}: restart from checkpoint {cp} differs"
