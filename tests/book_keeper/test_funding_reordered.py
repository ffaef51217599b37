"""A FUNDING_FEE account update delivered out of order with a fill's reports (the user stream
orders events of one type only): the settlement is booked from its own `bc`, the fill's money
as the fill's.

Hand-computed, taker fee 0.0005, funding rate 0.0001 (longs pay), start wallet 10000 USDT:
- buy 0.100 @ 61800: fee 3.09 -> 9996.91;
- sell 0.050 @ 62000: rp 0.05 * (62000 - 61800) = 10, fee 0.05 * 62000 * 0.0005 = 1.55.
"""

from core.account import Balance, Position
from core.events import BalanceChanged, FundingPaid, PositionChanged
from tests.book_keeper.support import BUY, SELL, SYMBOL, T0, D, book, trade_fill

FILL_T = T0 + 1000
FUNDING_T = T0 + 2000


def _balance(wallet: str, reason: str, t: int, bc: str | None = None) -> BalanceChanged:
    return BalanceChanged(
        event_time_ms=t,
        recv_time_ms=t + 5,
        balance=Balance(
            asset="USDT",
            wallet_balance=D(wallet),
            available_balance=D(wallet),
            update_time_ms=t,
            balance_change=None if bc is None else D(bc),
        ),
        reason=reason,
    )


def _position(qty: str, entry: str, t: int) -> PositionChanged:
    return PositionChanged(
        event_time_ms=t,
        recv_time_ms=t + 5,
        position=Position(symbol=SYMBOL, qty=D(qty), entry_price=D(entry), update_time_ms=t),
        reason="ORDER",
    )


def test_a_funding_update_ahead_of_an_earlier_fills_reports_books_only_its_bc_as_funding():
    """The exchange: the sell at FILL_T (wallet 9996.91 + 10 - 1.55 = 10005.36), then funding
    on the 0.05 left, 0.05 * 62000 * 0.0001 = 0.31 paid (wallet 10005.05). The funding's
    update arrives first: its wallet holds the fill's 8.45, which is no funding."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.100", "61800.0", fee="3.09")

    bk.apply(_balance("10005.05", "FUNDING_FEE", FUNDING_T, bc="-0.31"))
    trade_fill(bk, "t-2", 2, SELL, "0.050", "62000.0", fee="1.55", rp="10", t=FILL_T)
    bk.apply(_balance("10005.36", "ORDER", FILL_T))  # the fill's own, after the funding
    bk.apply(_position("0.050", "61800.0", FILL_T))
    bk.apply(FundingPaid(  # the income read the funding update triggers
        event_time_ms=FUNDING_T, recv_time_ms=FUNDING_T + 300, symbol=SYMBOL,
        amount=D("-0.31"), rate=D("0.0001"),
    ))  # fmt: skip

    assert bk.funding == D("-0.31")
    assert bk.realized_pnl == D("10")
    assert bk.wallet() == D("10005.05")
    assert bk.adjustments == 0 and bk.differences == 0


def test_a_funding_update_after_a_later_fills_reports_books_only_its_bc_as_funding():
    """The exchange: funding at FILL_T on the 0.1 long, 0.1 * 61800 * 0.0001 = 0.618 paid
    (wallet 9996.292), then the sell at FUNDING_T (9996.292 + 10 - 1.55 = 10004.742). The
    fill's report and its own update arrive first: the funding's wallet lacks the fill."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.100", "61800.0", fee="3.09")

    trade_fill(bk, "t-2", 2, SELL, "0.050", "62000.0", fee="1.55", rp="10", t=FUNDING_T)
    bk.apply(_balance("10004.742", "ORDER", FUNDING_T))  # ahead of the funding: held
    bk.apply(_balance("9996.292", "FUNDING_FEE", FILL_T, bc="-0.618"))
    bk.apply(_position("0.050", "61800.0", FUNDING_T))

    assert bk.funding == D("-0.618")
    assert bk.realized_pnl == D("10")
    assert bk.wallet() == D("10004.742")
    assert bk._held_balance is None  # the fill's update agrees: nothing left to adopt
    assert bk.adjustments == 0 and bk.differences == 0


def test_a_funding_update_after_its_income_record_is_not_booked_again():
    """The income read came first (a periodic reconciliation): the update's `bc` is that
    settlement's, booked already; its wallet agrees."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.100", "61800.0", fee="3.09")  # wallet 9996.91

    bk.apply(FundingPaid(
        event_time_ms=FUNDING_T, recv_time_ms=FUNDING_T + 300, symbol=SYMBOL,
        amount=D("-0.618"), rate=D("0.0001"),
    ))  # fmt: skip
    bk.apply(_balance("9996.292", "FUNDING_FEE", FUNDING_T + 20, bc="-0.618"))

    assert bk.funding == D("-0.618")
    assert bk.wallet() == D("9996.292")
    assert bk.differences == 0


def test_two_symbols_settled_together_each_book_their_own_funding_whatever_the_order():
    """BTCUSDT pays 1 and ETHUSDT 2 at the same settlement (one FUNDING_FEE update each:
    10000 -> 9999 -> 9997). BTCUSDT's update comes first and triggers an income read, whose
    two records come before ETHUSDT's update: ETHUSDT's record is not BTCUSDT's settlement,
    nor is ETHUSDT's update BTCUSDT's record."""
    bk = book()
    income = [
        FundingPaid(
            event_time_ms=FUNDING_T, recv_time_ms=FUNDING_T + 300, symbol=symbol,
            amount=D(amount), rate=D("0.0001"),
        )
        for symbol, amount in (("BTCUSDT", "-1"), ("ETHUSDT", "-2"))
    ]  # fmt: skip

    bk.apply(_balance("9999", "FUNDING_FEE", FUNDING_T, bc="-1"))
    for event in income:
        bk.apply(event)
    bk.apply(_balance("9997", "FUNDING_FEE", FUNDING_T, bc="-2"))
    for event in income:  # read again by the next pass
        bk.apply(event)

    assert bk.funding == D("-3")
    assert bk.wallet() == D("9997")
    assert bk._held_balance is None
    assert bk.adjustments == 0 and bk.differences == 0
