"""Two fills of one order in the same millisecond, the account update of the first adopted
before either fill's report comes (read back over REST after the stream dropped): the update
holds the first fill only.

Hand-computed, taker fee 0.0005, start wallet 10000 USDT: MARKET buy 0.030 fills 0.010 @ 60000
(trade 501, fee 0.3) and 0.020 @ 60000 (trade 502, fee 0.6) at the same ms T.
"""

import json

from core.account import Balance, Position
from core.events import BalanceChanged, PositionChanged
from core.market import MarkPrice
from tests.book_keeper.support import BUY, SYMBOL, T0, D, book, fill, filled, submitted

T = T0 + 1_000


def _adopted_update(bk, qty: str, wallet: str) -> None:
    """A fill's ACCOUNT_UPDATE of ms T, ahead of its report, then the stream drops: held, and
    adopted HOLD_AHEAD_MS on (a mark price's time)."""
    bk.apply(
        BalanceChanged(
            event_time_ms=T,
            recv_time_ms=T + 5,
            balance=Balance(asset="USDT", wallet_balance=D(wallet), available_balance=D(0)),
            reason="ORDER",
        )
    )
    bk.apply(
        PositionChanged(
            event_time_ms=T,
            recv_time_ms=T + 5,
            position=Position(symbol=SYMBOL, qty=D(qty), entry_price=D("60000")),
            reason="ORDER",
        )
    )
    bk.mark(
        MarkPrice(SYMBOL, D(60000), D(60000), D("0.0001"), T0 + 3_600_000, T + 2_000, T + 2_000)
    )


def test_the_second_fill_of_an_adopted_updates_ms_is_stepped_onto_the_position():
    bk = book()
    bk.apply(submitted("t-1", BUY, "0.030", None, t=T - 10))
    _adopted_update(bk, "0.010", "9999.7")  # the first fill's: 10000 - 0.3
    assert bk.position(SYMBOL).qty == D("0.010")  # adopted

    # the reconciliation reads both back (userTrades, by trade id)
    bk.apply(filled(fill("t-1", 501, BUY, "0.010", "60000.0", fee="0.3", t=T), final=False))
    bk.apply(filled(fill("t-1", 502, BUY, "0.020", "60000.0", fee="0.6", t=T), "0.030"))

    assert (bk.position(SYMBOL).qty, bk.position(SYMBOL).entry_price) == (D("0.030"), D("60000"))
    assert bk.wallet() == D("9999.1")  # 10000 - 0.3 - 0.6
    assert bk.adjustments == 0  # the adoption's -0.3 was the first fill's fee
    assert bk.fees["USDT"] == D("0.9") and bk.fill_count == 2


def test_both_fills_of_the_second_fills_adopted_update_stay_in_it():
    """The second fill's update (0.030, wallet 9999.1) holds both: neither is stepped again."""
    bk = book()
    bk.apply(submitted("t-1", BUY, "0.030", None, t=T - 10))
    _adopted_update(bk, "0.030", "9999.1")

    bk.apply(filled(fill("t-1", 501, BUY, "0.010", "60000.0", fee="0.3", t=T), final=False))
    bk.apply(filled(fill("t-1", 502, BUY, "0.020", "60000.0", fee="0.6", t=T), "0.030"))

    assert bk.position(SYMBOL).qty == D("0.030")
    assert bk.wallet() == D("9999.1") and bk.adjustments == 0
    assert bk.fees["USDT"] == D("0.9") and bk.fill_count == 2


def test_what_an_adoption_left_to_tell_survives_a_checkpoint():
    """Between the adoption and the fills read back, a checkpoint (or a restart's replay)
    keeps the position and wallet the books had, so the second fill is still told apart."""
    bk = book()
    bk.apply(submitted("t-1", BUY, "0.030", None, t=T - 10))
    _adopted_update(bk, "0.010", "9999.7")
    state = json.loads(json.dumps(bk._replay_state()))
    again = book()
    again._load_replay_state(state)
    again.apply(submitted("t-1", BUY, "0.030", None, t=T - 10))

    again.apply(filled(fill("t-1", 501, BUY, "0.010", "60000.0", fee="0.3", t=T), final=False))
    again.apply(filled(fill("t-1", 502, BUY, "0.020", "60000.0", fee="0.6", t=T), "0.030"))

    assert again.position(SYMBOL).qty == D("0.030") and again.wallet() == D("9999.1")


def test_the_second_fills_update_adopted_at_once_still_holds_the_first_fill_read_back_last():
    """The first fill's update is adopted (0.010, 9999.7: its report lost); the second fill's
    update (0.030, 9999.1) comes next and is adopted at once (of the adopted update's ms);
    then the second fill's report, then the first read back over REST. The second update holds
    both: the books had 0 and 10000 before the ms, and both fills make up the difference."""
    bk = book()
    bk.apply(submitted("t-1", BUY, "0.030", None, t=T - 10))
    _adopted_update(bk, "0.010", "9999.7")
    for event in (
        BalanceChanged(
            event_time_ms=T,
            recv_time_ms=T + 2_100,
            balance=Balance(asset="USDT", wallet_balance=D("9999.1"), available_balance=D(0)),
            reason="ORDER",
        ),
        PositionChanged(
            event_time_ms=T,
            recv_time_ms=T + 2_100,
            position=Position(symbol=SYMBOL, qty=D("0.030"), entry_price=D("60000")),
            reason="ORDER",
        ),
    ):
        bk.apply(event)
    assert bk.position(SYMBOL).qty == D("0.030")  # adopted at once

    bk.apply(filled(fill("t-1", 502, BUY, "0.020", "60000.0", fee="0.6", t=T), final=False))
    bk.apply(filled(fill("t-1", 501, BUY, "0.010", "60000.0", fee="0.3", t=T), "0.030"))

    assert bk.position(SYMBOL).qty == D("0.030")
    assert bk.wallet() == D("9999.1") and bk.adjustments == 0  # 10000 - 0.3 - 0.6
    assert bk.fees["USDT"] == D("0.9") and bk.fill_count == 2
