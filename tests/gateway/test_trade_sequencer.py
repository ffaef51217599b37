"""TradeSequencer: pure ordering, duplicates, gaps, backfill merge and bounded jumps.

Trades are real BTCUSDT aggregate trades (tests/fixtures via fake_exchange.load_agg_trades);
REST pages are the same rows parsed as REST would. No event loop, no I/O: time is passed in.
"""

from dataclasses import replace

import pytest

from core.events import GapCause, GapDetected, GapHealed
from core.market import Trade
from gateway.trade_sequencer import JumpVerdict, Offer, TradeSequencer
from gateway.wire import parse_rest_agg_trade
from tests.gateway.fake_exchange import load_agg_trades

ROWS = load_agg_trades()[:50]
TRADES = [parse_rest_agg_trade("BTCUSDT", row, 0) for row in ROWS]
A0 = TRADES[0].agg_id
T0 = 1_723_161_240_000  # our clock at the start (ms)


def make(last_id: int | None = A0 - 1, max_gap: int = 1_000) -> tuple[TradeSequencer, list]:
    out: list = []
    return TradeSequencer("BTCUSDT", last_id=last_id, emit=out.append, max_gap_trades=max_gap), out


def ids(items: list) -> list[int]:
    return [i.agg_id for i in items if isinstance(i, Trade)]


def far(trade: Trade, by: int) -> Trade:
    return replace(trade, agg_id=trade.agg_id + by)


def test_in_order_trades_are_delivered_at_once():
    seq, out = make()

    results = [seq.offer(t, T0) for t in TRADES[:5]]

    assert results == [Offer.DELIVERED] * 5
    assert ids(out) == [t.agg_id for t in TRADES[:5]]
    assert not seq.gap_open and seq.last_id == TRADES[4].agg_id


def test_first_trade_without_a_checkpoint_starts_the_sequence():
    seq, out = make(last_id=None)

    assert seq.offer(TRADES[7], T0) is Offer.DELIVERED
    assert seq.offer(TRADES[8], T0) is Offer.DELIVERED
    assert ids(out) == [TRADES[7].agg_id, TRADES[8].agg_id]


def test_a_repeated_or_old_trade_is_dropped_as_duplicate():
    seq, out = make()
    for t in TRADES[:3]:
        seq.offer(t, T0)

    assert seq.offer(TRADES[1], T0) is Offer.DUPLICATE
    assert seq.offer(TRADES[2], T0) is Offer.DUPLICATE
    assert ids(out) == [t.agg_id for t in TRADES[:3]] and seq.stats.duplicates == 2


def test_a_hole_opens_a_gap_and_holds_later_trades_until_rest_fills_it():
    seq, out = make()
    seq.offer(TRADES[0], T0)

    assert seq.offer(TRADES[3], T0 + 5) is Offer.GAP_OPENED
    assert seq.offer(TRADES[4], T0 + 6) is Offer.HELD
    assert seq.gap_open and ids(out) == [A0]
    (detected,) = [i for i in out if isinstance(i, GapDetected)]
    assert (detected.first_missing_id, detected.last_missing_id) == (A0 + 1, A0 + 2)
    assert detected.cause is GapCause.SEQUENCE and detected.event_time_ms == T0 + 5

    fresh = seq.merge(TRADES[1:5], T0 + 40, from_id=A0 + 1)

    assert fresh == 2  # 3 and 4 were already held
    assert ids(out) == [t.agg_id for t in TRADES[:5]]
    healed = out[-1]
    assert isinstance(healed, GapHealed) and healed.backfilled == 2 and healed.skipped == 0
    assert healed.duration_ms == 35
    assert not seq.gap_open and seq.take_healed() is not None and seq.take_healed() is None


def test_a_reordered_frame_closes_the_gap_without_rest():
    seq, out = make()
    seq.offer(TRADES[0], T0)
    seq.offer(TRADES[2], T0)

    assert seq.offer(TRADES[1], T0 + 1) is Offer.HEALED
    assert ids(out) == [t.agg_id for t in TRADES[:3]]
    assert seq.stats.out_of_order == 1  # it arrived after a higher id
    healed = out[-1]
    assert isinstance(healed, GapHealed) and healed.backfilled == 0


def test_after_a_connect_the_sync_is_pending_until_a_trade_or_the_probe_answers():
    seq, out = make()
    seq.offer(TRADES[0], T0)

    assert seq.start_sync(GapCause.RECONNECT)
    assert seq.gap_open
    seq.end_sync(GapCause.RECONNECT, TRADES[1:4], T0 + 500)

    assert ids(out) == [t.agg_id for t in TRADES[:4]]
    detected = next(i for i in out if isinstance(i, GapDetected))
    assert detected.cause is GapCause.RECONNECT and detected.size == 3
    assert not seq.gap_open


def test_a_probe_that_finds_nothing_ends_the_sync_without_a_gap():
    seq, out = make()
    seq.offer(TRADES[0], T0)
    seq.start_sync(GapCause.START)

    seq.end_sync(GapCause.START, [], T0 + 500)

    assert not seq.gap_open and out == [TRADES[0]]


def test_page_starting_after_from_id_means_the_ids_before_it_do_not_exist():
    seq, out = make()
    seq.offer(TRADES[0], T0)
    seq.offer(TRADES[6], T0)  # gap 1..5

    seq.merge(TRADES[4:7], T0 + 10, from_id=A0 + 1)  # REST's first id after 0 is 4

    assert ids(out) == [A0, A0 + 4, A0 + 5, A0 + 6]
    healed = out[-1]
    assert isinstance(healed, GapHealed) and healed.skipped == 3 and healed.backfilled == 2
    assert seq.stats.skipped == 3 and not seq.gap_open


def test_far_ahead_id_is_held_aside_as_a_jump_not_a_gap_to_backfill():
    seq, out = make(max_gap=1_000)
    seq.offer(TRADES[0], T0)
    bogus = far(TRADES[1], 10**9)

    assert seq.offer(bogus, T0 + 1) is Offer.JUMP

    assert seq.gap is None and seq.jump is not None and seq.gap_open
    (detected,) = [i for i in out if isinstance(i, GapDetected)]
    assert detected.cause is GapCause.JUMP
    assert (detected.first_missing_id, detected.last_missing_id) == (A0 + 1, bogus.agg_id - 1)
    assert seq.stats.jumps == 1
    # Live trades keep flowing while the jump is checked.
    assert seq.offer(TRADES[1], T0 + 2) is Offer.DELIVERED


def test_unconfirmed_jump_is_discarded_and_the_gap_closes():
    seq, out = make(max_gap=1_000)
    seq.offer(TRADES[0], T0)
    seq.offer(far(TRADES[1], 10**9), T0 + 1)
    seq.offer(TRADES[1], T0 + 2)

    verdict = seq.resolve_jump(TRADES[1], T0 + 1_001)  # REST's latest is well below the far id

    assert verdict is JumpVerdict.DISCARDED
    assert not seq.gap_open and seq.stats.jump_discarded == 1
    healed = out[-1]
    assert isinstance(healed, GapHealed) and healed.skipped == 0 and healed.duration_ms == 1_000
    assert seq.offer(TRADES[2], T0 + 3) is Offer.DELIVERED
    assert ids(out) == [t.agg_id for t in TRADES[:3]]


def test_jump_is_discarded_when_rest_cannot_tell():
    seq, out = make(max_gap=1_000)
    seq.offer(TRADES[0], T0)
    seq.offer(far(TRADES[1], 10**9), T0 + 1)

    assert seq.resolve_jump(None, T0 + 1_001) is JumpVerdict.DISCARDED
    assert not seq.gap_open and ids(out) == [A0]


def test_confirmed_jump_skips_to_the_far_id_and_reports_the_skipped_range():
    seq, out = make(max_gap=1_000)
    seq.offer(TRADES[0], T0)
    jumped = [far(t, 10**9) for t in TRADES[1:4]]
    seq.offer(jumped[0], T0 + 1)
    seq.offer(jumped[1], T0 + 2)  # held with the first far trade

    verdict = seq.resolve_jump(jumped[2], T0 + 100)  # REST: the exchange is at/after it

    assert verdict is JumpVerdict.CONFIRMED
    assert ids(out) == [A0, jumped[0].agg_id, jumped[1].agg_id]
    healed = next(i for i in out if isinstance(i, GapHealed))
    assert healed.first_missing_id == A0 + 1 and healed.last_missing_id == jumped[0].agg_id - 1
    assert healed.skipped == 10**9 and seq.stats.skipped == 10**9
    assert not seq.gap_open
    assert seq.offer(jumped[2], T0 + 101) is Offer.DELIVERED


def test_confirmed_jump_delivers_held_trades_below_it_and_closes_the_open_gap():
    seq, out = make(max_gap=1_000)
    seq.offer(TRADES[0], T0)
    seq.offer(TRADES[3], T0 + 1)  # gap 1..2, 3 held
    seq.offer(far(TRADES[4], 10**9), T0 + 2)

    seq.resolve_jump(far(TRADES[5], 10**9), T0 + 50)

    assert ids(out) == [A0, A0 + 3, A0 + 4 + 10**9]
    healed = [i for i in out if isinstance(i, GapHealed)]
    assert [(h.first_missing_id, h.last_missing_id, h.skipped) for h in healed] == [
        (A0 + 1, A0 + 2, 2),  # the sequence gap: given up, its ids skipped
        (A0 + 4, A0 + 4 + 10**9 - 1, 10**9),  # the jump
    ]
    assert seq.gap is None and not seq.gap_open


def test_backlog_too_large_to_backfill_resyncs_to_rests_latest_trade():
    seq, out = make(max_gap=1_000)
    seq.offer(TRADES[0], T0)
    seq.start_sync(GapCause.START)
    latest = far(TRADES[1], 5_000)

    seq.resync(latest, T0 + 10)

    assert ids(out) == [A0, latest.agg_id]
    detected = next(i for i in out if isinstance(i, GapDetected))
    healed = next(i for i in out if isinstance(i, GapHealed))
    assert detected.cause is GapCause.JUMP and detected.last_missing_id == latest.agg_id - 1
    assert healed.skipped == latest.agg_id - A0 - 1
    assert not seq.gap_open


def test_unconfirmed_jump_resyncs_when_rest_itself_is_too_far_ahead():
    seq, out = make(max_gap=1_000)
    seq.offer(TRADES[0], T0)
    seq.offer(far(TRADES[1], 10**9), T0 + 1)
    latest = far(TRADES[1], 50_000)

    assert seq.resolve_jump(latest, T0 + 10) is JumpVerdict.RESYNCED
    assert ids(out) == [A0, latest.agg_id]
    assert seq.stats.jump_discarded == 1 and not seq.gap_open


def test_give_up_releases_held_trades_and_reports_the_rest_skipped():
    seq, out = make()
    seq.offer(TRADES[0], T0)
    seq.offer(TRADES[3], T0)
    seq.offer(TRADES[5], T0)

    skipped = seq.give_up(T0 + 300_000)

    assert skipped == 3  # ids 1, 2 and 4
    assert ids(out) == [A0, A0 + 3, A0 + 5]
    healed = out[-1]
    assert isinstance(healed, GapHealed) and healed.skipped == 3  # every id given up
    assert not seq.gap_open and seq.offer(TRADES[6], T0) is Offer.DELIVERED


def test_far_trades_beyond_the_hold_limit_are_dropped(monkeypatch):
    monkeypatch.setattr("gateway.trade_sequencer.FAR_HELD_LIMIT", 2)
    seq, _ = make(max_gap=10)
    seq.offer(TRADES[0], T0)
    for k in range(1, 5):
        seq.offer(far(TRADES[k], 10**6), T0)

    assert seq.jump is not None and len(seq.jump.far) == 2
    assert seq.stats.jump_discarded == 2


def test_max_gap_must_be_positive():
    with pytest.raises(ValueError):
        TradeSequencer("BTCUSDT", last_id=1, emit=print, max_gap_trades=0)
