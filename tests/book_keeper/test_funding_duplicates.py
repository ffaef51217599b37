"""A FUNDING_FEE account update delivered twice (a replayed message, a reconnecting stream;
the local exchange's `duplicate_frames` fault repeats market-stream frames only) is one
settlement: its `bc` is booked once. A second symbol's update of the same settlement, even of
the same amount, is another.

Hand-computed, start wallet 10000 USDT; each settlement's update carries the wallet after it.
"""

from core.events import FundingPaid
from core.market import MarkPrice
from tests.book_keeper.support import SYMBOL, D, book
from tests.book_keeper.test_funding_reordered import FUNDING_T, _balance


def test_a_funding_update_delivered_twice_books_its_bc_once():
    """1 USDT paid: 10000 -> 9999. The same update again books nothing, and its wallet
    agrees: nothing held, no difference."""
    bk = book()
    update = _balance("9999", "FUNDING_FEE", FUNDING_T, bc="-1")

    bk.apply(update)
    bk.apply(update)

    assert bk.funding == D("-1")
    assert bk.wallet() == D("9999")
    assert bk._held_balance is None
    assert bk.adjustments == 0 and bk.differences == 0


def test_two_symbols_paying_the_same_amount_at_one_settlement_book_both():
    """BTCUSDT and ETHUSDT pay 1 each at the same time, same bc: their wallets tell them
    apart (10000 -> 9999 -> 9998)."""
    bk = book()

    bk.apply(_balance("9999", "FUNDING_FEE", FUNDING_T, bc="-1"))
    bk.apply(_balance("9998", "FUNDING_FEE", FUNDING_T, bc="-1"))

    assert bk.funding == D("-2")
    assert bk.wallet() == D("9998")
    assert bk.adjustments == 0 and bk.differences == 0


def test_a_duplicate_of_an_update_its_income_record_matched_books_nothing():
    """The income record came first (-1, booked); the update matched it; its duplicate has no
    record left to match and must not book -1 again."""
    bk = book()
    bk.apply(FundingPaid(
        event_time_ms=FUNDING_T, recv_time_ms=FUNDING_T + 300, symbol=SYMBOL,
        amount=D("-1"), rate=D("0.0001"),
    ))  # fmt: skip
    update = _balance("9999", "FUNDING_FEE", FUNDING_T + 20, bc="-1")

    bk.apply(update)
    bk.apply(update)

    assert bk.funding == D("-1")
    assert bk.wallet() == D("9999")
    assert bk.differences == 0


def test_a_duplicate_of_the_update_the_wallet_was_first_learnt_from_books_nothing():
    """No wallet known yet: the first update's wallet (9999) holds its bc; the duplicate
    must not take it off again."""
    bk = book(start=None)
    update = _balance("9999", "FUNDING_FEE", FUNDING_T, bc="-1")

    bk.apply(update)
    bk.apply(update)

    assert bk.wallet() == D("9999")
    assert bk.funding == 0
    assert bk.differences == 0


def test_a_duplicate_after_a_restore_from_the_checkpoint_books_nothing():
    bk = book()
    update = _balance("9999", "FUNDING_FEE", FUNDING_T, bc="-1")
    bk.apply(update)
    restored = book()
    restored._load_replay_state(bk._replay_state())

    restored.apply(update)

    assert restored.funding == D("-1")
    assert restored.wallet() == D("9999")


def test_a_checkpoint_of_the_version_before_without_the_updates_seen_still_loads():
    bk = book()
    bk.apply(_balance("9999", "FUNDING_FEE", FUNDING_T, bc="-1"))
    state = bk._replay_state()
    del state["funding_updates"]
    restored = book()

    restored._load_replay_state(state)
    restored.apply(_balance("9998", "FUNDING_FEE", FUNDING_T + 3_600_000, bc="-1"))

    assert restored.funding == D("-2")
    assert restored.wallet() == D("9998")


def test_a_duplicate_after_a_second_symbols_update_of_that_settlement_leaves_the_wallet():
    """BTCUSDT pays 1 (10000 -> 9999), ETHUSDT 0.5 (9999 -> 9998.5), both updates stamped at
    the settlement's ms; then BTCUSDT's comes again. Its wallet (9999) is the one before
    ETHUSDT's, not one ahead of a fill: nothing is held, and 2 s on nothing is adopted (held,
    it was adopted back as +0.5 of adjustment: a wallet 0.5 above the exchange's)."""
    bk = book()
    first = _balance("9999", "FUNDING_FEE", FUNDING_T, bc="-1")
    bk.apply(first)
    bk.apply(_balance("9998.5", "FUNDING_FEE", FUNDING_T, bc="-0.5"))

    bk.apply(first)
    bk.mark(
        MarkPrice(SYMBOL, D("60000"), D("60000"), D(0), 0, FUNDING_T + 3_000, FUNDING_T + 3_000)
    )

    assert bk.funding == D("-1.5")
    assert bk.wallet() == D("9998.5")
    assert bk._held_balance is None
    assert bk.adjustments == 0 and bk.differences == 0
