"""The local exchange forgets finished orders as Binance does (protocol reference 6.4,
"Retention"): one CANCELED or EXPIRED without a fill is no longer found once 3 days old, any
order once 90 days old; their fills stay in userTrades. So a local exchange left running for
weeks keeps a bounded number of orders instead of every one it ever took.

Real BTCUSDT instrument and 2024-08-08 prices (`make_exchange`: mark 61800.0, touch 61800.2 /
61800.3); time moves on the engine's clock only.
"""

from decimal import Decimal

import pytest

from core.enums import OrderStatus, OrderType, Side, TimeInForce
from core.orders import OrderRequest
from exchange_sim.engine.engine import (
    FORGET_EVERY_MS,
    NO_FILL_RETENTION_MS,
    ORDER_RETENTION_MS,
)
from exchange_sim.errors import BinanceError
from tests.exchange_sim.test_engine_support import T0, make_exchange

D = Decimal
SYMBOL = "BTCUSDT"
DAY_MS = 86_400_000


def _limit(cid: str, price: str = "61000.0") -> OrderRequest:
    """A BUY resting below the market (0.010 BTC: 610 USDT, above the minimum notional)."""
    return OrderRequest(
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=D("0.010"),
        price=D(price),
        time_in_force=TimeInForce.GTC,
        client_order_id=cid,
    )


def _market(cid: str, side: Side = Side.BUY) -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL, side=side, type=OrderType.MARKET, quantity=D("0.010"), client_order_id=cid
    )


def _found(e, cid: str) -> bool:
    try:
        e.order("alice", SYMBOL, client_order_id=cid)
    except BinanceError as exc:
        assert exc.code == -2013
        return False
    return True


def test_the_retention_is_the_references():
    assert NO_FILL_RETENTION_MS == 3 * DAY_MS and ORDER_RETENTION_MS == 90 * DAY_MS


def test_a_canceled_order_without_a_fill_is_forgotten_once_3_days_old():
    ex, _ = make_exchange()
    e = ex.engine
    placed = e.submit("alice", _limit("c-1"))
    e.cancel_order("alice", SYMBOL, client_order_id="c-1")

    e.forget_old_orders(T0 + NO_FILL_RETENTION_MS - 1)
    kept = _found(e, "c-1")
    forgot = e.forget_old_orders(T0 + NO_FILL_RETENTION_MS + FORGET_EVERY_MS)

    assert kept and forgot == 1
    assert not _found(e, "c-1")
    with pytest.raises(BinanceError) as err:
        e.order("alice", SYMBOL, order_id=placed.order_id)
    assert err.value.code == -2013
    assert ex.all_orders("alice", {"symbol": SYMBOL}) == []


def test_a_filled_order_is_kept_90_days_and_its_fill_stays_after():
    ex, _ = make_exchange()
    e = ex.engine
    e.submit("alice", _market("m-1"))
    assert e.order("alice", SYMBOL, client_order_id="m-1").status is OrderStatus.FILLED

    e.forget_old_orders(T0 + 30 * DAY_MS)
    kept = _found(e, "m-1")
    forgot = e.forget_old_orders(T0 + ORDER_RETENTION_MS + FORGET_EVERY_MS)

    assert kept and forgot == 1 and not _found(e, "m-1")
    [fill] = e.fills("alice", SYMBOL)  # Binance keeps trades for 6 months
    assert (fill.price, fill.qty, fill.client_order_id) == (D("61800.3"), D("0.010"), "")
    [row] = ex.user_trades("alice", {"symbol": SYMBOL, "fromId": "1"})
    assert (row["price"], row["qty"]) == ("61800.30", "0.010")


def test_an_open_order_is_never_forgotten():
    ex, _ = make_exchange()
    e = ex.engine
    e.submit("alice", _limit("rest-1"))

    forgot = e.forget_old_orders(T0 + ORDER_RETENTION_MS + DAY_MS)

    assert forgot == 0
    assert e.order("alice", SYMBOL, client_order_id="rest-1").status is OrderStatus.NEW


def test_a_client_id_used_again_keeps_the_newer_order():
    ex, clock = make_exchange()
    e = ex.engine
    e.submit("alice", _limit("same"))
    e.cancel_order("alice", SYMBOL, client_order_id="same")
    clock.set_ms(T0 + NO_FILL_RETENTION_MS)  # 3 days later, the same id again, still resting
    newer = e.submit("alice", _limit("same", "61100.0"))

    e.forget_old_orders(T0 + NO_FILL_RETENTION_MS + FORGET_EVERY_MS)

    found = e.order("alice", SYMBOL, client_order_id="same")
    assert (found.order_id, found.price, found.status) == (
        newer.order_id,
        D("61100.0"),
        OrderStatus.NEW,
    )


def test_a_canceled_conditional_is_forgotten_once_3_days_old_one_that_filled_after_90():
    ex, _ = make_exchange()
    e = ex.engine
    e.submit("alice", _market("m-1"))  # long 0.010: something for the stop to close
    stop = OrderRequest(
        symbol=SYMBOL,
        side=Side.SELL,
        type=OrderType.STOP_MARKET,
        quantity=None,
        stop_price=D("61500.0"),
        close_position=True,
        client_order_id="sl-1",
    )
    e.submit("alice", stop)
    e.cancel_conditional("alice", SYMBOL, client_algo_id="sl-1")
    e.submit("alice", OrderRequest(**{**_fields(stop), "client_order_id": "sl-2"}))
    e.on_trade(SYMBOL, D("61500.0"), D("0.100"), True, T0 + 1_000)  # sl-2 fires and fills
    assert e.conditional("alice", client_algo_id="sl-2").filled_qty == D("0.010")

    e.forget_old_orders(T0 + NO_FILL_RETENTION_MS + 2_000)

    with pytest.raises(BinanceError) as err:
        e.conditional("alice", client_algo_id="sl-1")
    assert err.value.code == -2013
    assert e.conditional("alice", client_algo_id="sl-2").filled_qty == D("0.010")
    e.forget_old_orders(T0 + ORDER_RETENTION_MS + 2_000 + FORGET_EVERY_MS)
    with pytest.raises(BinanceError):
        e.conditional("alice", client_algo_id="sl-2")


def test_a_weeks_long_run_keeps_3_days_of_canceled_orders_not_every_one():
    # One resting order placed and canceled every 10 minutes for 30 days (4,320 orders), the
    # exchange's housekeeping asking every minute: about 3 days' worth stay (432, plus what
    # the hourly look has not reached yet: at most 6 more).
    ex, clock = make_exchange()
    e = ex.engine
    for n in range(30 * 24 * 6):
        now = T0 + n * 600_000
        clock.set_ms(now)
        e.submit("alice", _limit(f"c-{n}"))
        e.cancel_order("alice", SYMBOL, client_order_id=f"c-{n}")
        e.forget_old_orders(now)

    kept = len(e.books[SYMBOL].orders)
    assert 3 * 24 * 6 <= kept <= 3 * 24 * 6 + 6
    assert len(e.account("alice").client_orders) == kept


def _fields(request: OrderRequest) -> dict:
    return {name: getattr(request, name) for name in request.__dataclass_fields__}
