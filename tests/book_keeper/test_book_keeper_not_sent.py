"""Orders that never reached the exchange (refused before sending, or at the door: stopping,
a local check, a rate limit, a ban) were counted in the closing summary as "rejected", as if
the exchange had rejected them. The books count them apart, this run's, by why; the
"rejected" count keeps its meaning (every order that placed nothing, the whole journal's)."""

from core.enums import NotSent
from core.events import OrderRejected
from tests.book_keeper.support import BUY, SYMBOL, T0, book, submitted


def _rejected(cid: str, code: int, not_sent: NotSent | None = None) -> OrderRejected:
    return OrderRejected(
        event_time_ms=T0, recv_time_ms=T0, symbol=SYMBOL, client_order_id=cid, code=code,
        reason="why", not_sent=not_sent,
    )  # fmt: skip


def test_orders_never_sent_are_counted_apart_from_the_exchanges_rejections():
    bk = book()
    for cid in ("t-1", "t-2", "t-3"):
        bk.apply(submitted(cid, BUY, "0.001", "60000"))

    bk.apply(_rejected("t-1", 0, NotSent.STOPPING))
    bk.apply(_rejected("t-2", 0, NotSent.LOCAL_CHECK))
    bk.apply(_rejected("t-3", -2019))  # Margin is insufficient: the exchange's

    s = bk.summary()
    assert s.orders_by_status == {"REJECTED": 3}
    assert s.orders_not_sent == {"STOPPING": 1, "LOCAL_CHECK": 1}
    assert s.lines()[0] == (
        "orders: 3 submitted (rejected 3 (2 not sent this run, refused before reaching the "
        "exchange: local check 1, stopping 1)), 0 open"
    )


def test_the_summary_of_rejections_by_the_exchange_alone_says_nothing_of_not_sent():
    bk = book()
    bk.apply(submitted("t-1", BUY, "0.001", "60000"))

    bk.apply(_rejected("t-1", -2019))

    s = bk.summary()
    assert s.orders_not_sent == {}
    assert s.lines()[0] == "orders: 1 submitted (rejected 1), 0 open"
