"""Funding belongs to the UTC day of its settlement, as a fill belongs to its trade's day:
one of yesterday learnt today (read back from the income history after a restart) leaves
today's PnL alone and is carried into today's start (`carried_in`, the daily-loss limit's);
one settled at 00:00:00 UTC is the day it begins (the day is [00:00, 24:00) of the time the
exchange stamped; the reference does not say how Binance's own daily PnL counts it).

Hand-computed, start wallet 10000 USDT, taker fee 0.0005: a buy of 0.100 @ 61800 today pays
3.09 (wallet 9996.91); yesterday's 16:00 settlement on a long of 0.100 at mark 61800, rate
0.0001, paid 0.1 * 61800 * 0.0001 = 0.618.
"""

import dataclasses

from core.events import FundingPaid
from tests.book_keeper.support import BUY, SYMBOL, D, book, trade_fill
from tests.book_keeper.test_funding_reordered import _balance

DAY = 86_400_000
DAY2 = 1_723_161_600_000  # 2024-08-09 00:00:00 UTC (T0 is 23:54:16 the day before)
S16 = DAY2 - 8 * 3_600_000  # yesterday's 16:00 settlement
LEARNT = DAY2 + 120_000  # the restart's income read, 00:02 today (our clock)


def _paid(time_ms: int, recv_ms: int, amount: str = "-0.618") -> FundingPaid:
    return FundingPaid(
        event_time_ms=time_ms, recv_time_ms=recv_ms, symbol=SYMBOL, amount=D(amount),
        rate=D("0.0001"),
    )  # fmt: skip


def test_yesterdays_funding_read_back_today_is_not_todays_pnl_but_carried_in():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.100", "61800.0", fee="3.09", t=DAY2 + 60_000)

    bk.apply(_paid(S16, LEARNT))

    assert bk.wallet() == D("9996.292")  # 10000 - 3.09 - 0.618
    assert bk.funding == D("-0.618")
    assert bk.pnl_today(LEARNT) == D("-3.09")  # today's fee alone
    assert bk.carried_in(LEARNT) == D("-0.618")  # yesterday's, learnt today
    assert bk.carried_in(DAY2 + DAY) == 0


def test_yesterdays_funding_update_delivered_today_is_not_todays_pnl_but_carried_in():
    """An hourly symbol's 23:00 settlement, its FUNDING_FEE update (bc -0.618) delivered after
    a fill of today (its wallet lacks that fill: older than it, not adopted)."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.100", "61800.0", fee="3.09", t=DAY2 + 60_000)
    update = _balance("9999.382", "FUNDING_FEE", DAY2 - 3_600_000, bc="-0.618")

    bk.apply(dataclasses.replace(update, recv_time_ms=LEARNT))

    assert bk.wallet() == D("9996.292")
    assert bk.pnl_today(LEARNT) == D("-3.09")
    assert bk.carried_in(LEARNT) == D("-0.618")
    assert bk.differences == 0


def test_a_settlement_at_00_00_utc_is_the_new_days():
    """Settled at 00:00:00.000 on the long bought at T0 (yesterday), read at 00:00:00.300."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.100", "61800.0", fee="3.09")  # yesterday

    bk.apply(_paid(DAY2, DAY2 + 300))

    assert bk.pnl_today(DAY2 + 300) == D("-0.618")
    assert bk.carried_in(DAY2 + 300) == 0
    assert bk.pnl_today(DAY2 - 1) == 0  # the day before's PnL is not asked of the books


def test_yesterdays_funding_learnt_before_today_moved_the_books_stays_out_of_today():
    """The books' day is still yesterday (nothing booked today) when the 16:00 settlement is
    read at 00:02: today's PnL starts after it; the limit's start is moved by it."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.100", "61800.0", fee="3.09")  # yesterday: 9996.91

    bk.apply(_paid(S16, LEARNT))
    trade_fill(bk, "t-2", 2, BUY, "0.100", "61800.0", fee="3.09", t=DAY2 + 180_000)

    assert bk.wallet() == D("9993.202")  # 9996.91 - 0.618 - 3.09
    assert bk.pnl_today(DAY2 + 180_000) == D("-3.09")
    assert bk.carried_in(DAY2 + 180_000) == D("-0.618")


def test_yesterdays_funding_learnt_today_survives_a_checkpoint():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.100", "61800.0", fee="3.09", t=DAY2 + 60_000)
    bk.apply(_paid(S16, LEARNT))
    restored = book()

    restored._load_replay_state(bk._replay_state())

    assert restored.pnl_today(LEARNT) == D("-3.09")
    assert restored.carried_in(LEARNT) == D("-0.618")


def test_a_checkpoint_without_the_carried_steps_still_loads():
    """A checkpoint of the version before: all of carried_in taken as learnt at its last
    fill's time (0 here: funding alone), so a snapshot journaled after it holds it all."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.100", "61800.0", fee="3.09", t=DAY2 + 60_000)
    bk.apply(_paid(S16, LEARNT))
    state = bk._replay_state()
    del state["carried_steps"]
    restored = book()

    restored._load_replay_state(state)

    assert restored.carried_in(LEARNT) == D("-0.618")
    assert restored.carried_since(LEARNT, LEARNT) == (0, 0)
    assert bk.carried_since(LEARNT, LEARNT - 1) == (D("-0.618"), D("-0.618"))
