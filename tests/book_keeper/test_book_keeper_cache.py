"""Equity and available balance are cached per state of the books (the risk check reads them on
every order): after every kind of change, the cached values equal a fresh recomputation, and the
hand-computed figures."""

from book_keeper.book_keeper import BookKeeper
from core.account import Balance
from core.clock import SimClock
from core.events import BalanceChanged, FundingPaid
from core.market import BookTicker, MarkPrice, Trade
from tests.book_keeper.support import (
    BUY,
    SELL,
    SYMBOL,
    T0,
    D,
    accepted,
    book,
    canceled,
    instruments,
    submitted,
    trade_fill,
)


def _mark(price: str, t: int = T0) -> MarkPrice:
    return MarkPrice(SYMBOL, D(price), D(price), D("0.0001"), T0 + 3_600_000, t, t)


def _trade(price: str, t: int = T0, agg_id: int = 1) -> Trade:
    return Trade(SYMBOL, agg_id, D(price), D("0.001"), agg_id, agg_id, False, t, t, t)


def _ticker(bid: str, ask: str) -> BookTicker:
    return BookTicker(SYMBOL, 1, D(bid), D(1), D(ask), D(1), T0, T0, T0)


def _fresh(bk):
    """(equity, available balance) computed from scratch, bypassing the cache."""
    return bk.wallet() + bk.unrealized_pnl(), bk._compute_available_balance()


def _same(bk) -> None:
    assert (bk.equity(), bk.available_balance()) == _fresh(bk)


def test_cached_equity_and_available_balance_follow_every_change():
    bk = book()  # 10000 USDT, BTCUSDT leverage 20
    assert (bk.equity(), bk.available_balance()) == (D("10000"), D("10000"))

    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")  # wallet 9999.7
    _same(bk)
    bk.mark(_ticker("60100.0", "60100.2"))  # no mark, no trade yet: the mid values it
    assert bk.equity() == D("10000.701")  # 9999.7 + 0.010 * (60100.1 - 60000)
    _same(bk)
    bk.mark(_trade("60200.0"))  # the last trade values it until a mark price comes
    assert bk.equity() == D("10001.7")
    _same(bk)
    bk.mark(_mark("60300.0"))
    assert bk.equity() == D("10002.7")
    # initial margin of the position at the mark: 0.010 * 60300 / 20 = 30.15
    assert bk.available_balance() == D("9972.55")
    bk.mark(_trade("61000.0", agg_id=2))  # a trade does not move a marked valuation
    assert bk.equity() == D("10002.7")
    bk.mark(_ticker("1.0", "2.0"))
    assert bk.equity() == D("10002.7")
    _same(bk)

    bk.apply(submitted("l-1", BUY, "0.020", "59000.0"))  # a resting LIMIT buy: its margin
    bk.apply(accepted("l-1", 7))
    assert bk.available_balance() == D("9972.55") - D("0.020") * D("59000.0") / 20
    _same(bk)
    bk.apply(canceled("l-1", 7))
    assert bk.available_balance() == D("9972.55")
    _same(bk)

    bk.apply(
        FundingPaid(
            event_time_ms=T0, recv_time_ms=T0, symbol=SYMBOL, amount=D("-1.5"), rate=D("0.0001")
        )
    )
    assert bk.equity() == D("10001.2")
    _same(bk)
    bk.apply(
        BalanceChanged(
            event_time_ms=T0 + 1,
            recv_time_ms=T0 + 1,
            balance=Balance(asset="USDT", wallet_balance=D("10999.7"), available_balance=D(0)),
            reason="DEPOSIT",
        )
    )
    assert bk.wallet() == D("10999.7")
    _same(bk)

    trade_fill(bk, "t-2", 2, SELL, "0.010", "60300.0", fee="0.3015", rp="3")  # flat again
    assert bk.unrealized_pnl() == 0
    _same(bk)
    assert bk.available_balance() == bk.equity() == bk.wallet()


def test_an_applied_event_or_a_mark_price_leaves_both_values_computed_for_the_next_order():
    """The risk check of the next order finds them cached: computed when the event or mark
    price came, not on the order path."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")
    assert bk._equity_at == bk._available_at == bk._version
    bk.mark(_mark("60300.0"))
    assert bk._equity_at == bk._available_at == bk._version
    assert (bk._equity, bk._available) == (D("10002.7"), D("9972.55"))
    bk.mark(_trade("60400.0", agg_id=2))  # does not move the valuation: still cached
    assert bk._available_at == bk._version


def test_books_that_revalue_only_when_read_give_the_eager_books_values():
    """The backtest's books (revalue_eagerly=False) compute nothing after an event or a mark
    price, and read the same equity and available balance as the live books."""
    eager = book()
    lazy = BookKeeper(
        starting_balances={"USDT": D("10000")},
        instruments=instruments(),
        clock=SimClock(T0),
        revalue_eagerly=False,
    )
    for bk in (eager, lazy):
        trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")
        bk.mark(_mark("60300.0"))
    assert lazy._available_at != lazy._version  # nothing computed yet
    for bk in (eager, lazy):
        bk.apply(submitted("l-1", SELL, "0.030", "61000.0"))
        bk.apply(submitted("r-1", SELL, "0.010", "62000.0", reduce_only=True))
        bk.apply(submitted("m-1", BUY, "0.005"))
    assert (lazy.equity(), lazy.available_balance()) == (eager.equity(), eager.available_balance())
    # only the LIMIT sell holds margin, for the 0.020 beyond the long it would close
    assert lazy.available_balance() == D("9972.55") - D("0.020") * D("61000.0") / 20
    _same(lazy)


def test_the_books_remember_the_latest_ended_orders_and_forget_the_oldest_first():
    bk = BookKeeper(
        starting_balances={"USDT": D("10000")},
        instruments=instruments(),
        clock=SimClock(T0),
        remember_orders=3,
    )
    for k in range(5):
        bk.apply(submitted(f"c-{k}", BUY, "0.010", "50000.0"))
        bk.apply(accepted(f"c-{k}", k + 1))
        bk.apply(canceled(f"c-{k}", k + 1))
    assert list(bk._ended) == ["c-2", "c-3", "c-4"]
    assert set(bk._ended_ms) == {"c-2", "c-3", "c-4"}
    # a late event of a remembered order is known; one of a forgotten order is foreign
    bk.apply(canceled("c-2", 3))
    assert bk.rejected_events == 0
    bk.apply(canceled("c-0", 1))
    assert bk.rejected_events == 1
