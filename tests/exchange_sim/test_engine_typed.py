"""The engine's typed in-process API: `core` order requests in, `core` orders, fills and events
out (exchange_sim.engine.Engine), with no wire dict on the way.

Expected values are computed here by hand from the reference formulas (fee = price * qty * rate,
realized PnL = qty * (exit - entry), funding = -amt * mark * rate, all rounded to 8 decimals
half up), with the real BTCUSDT instrument (tick 0.10, step 0.001) and real 2024-08-08 prices.
Default fees: maker 0.0002, taker 0.0005; default leverage 20.
"""

from decimal import ROUND_HALF_UP, Decimal

import pytest

from core.enums import ExpiryReason, OrderStatus, OrderType, Side, TimeInForce, WorkingType
from core.events import (
    BalanceChanged,
    FundingPaid,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    PositionChanged,
)
from core.orders import IllegalTransition, OrderRequest
from exchange_sim.engine import Engine, Exchange
from exchange_sim.errors import BinanceError
from tests.exchange_sim.test_engine_support import T0, make_exchange

D = Decimal
E8 = D("0.00000001")
SYMBOL = "BTCUSDT"
EIGHT_HOURS_MS = 8 * 60 * 60 * 1000


def q8(value: Decimal) -> Decimal:
    return value.quantize(E8, rounding=ROUND_HALF_UP)


def engine() -> tuple[Exchange, Engine]:
    """Account "alice" with 10000 USDT; mark 61800.0, touch 61800.2 / 61800.3 (2.000 each)."""
    ex, _ = make_exchange()
    return ex, ex.engine


def limit(side: Side, qty: str, price: str, cid: str, tif: TimeInForce = TimeInForce.GTC):
    return OrderRequest(
        symbol=SYMBOL,
        side=side,
        type=OrderType.LIMIT,
        quantity=D(qty),
        price=D(price),
        time_in_force=tif,
        client_order_id=cid,
    )


def market(side: Side, qty: str, cid: str) -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL, side=side, type=OrderType.MARKET, quantity=D(qty), client_order_id=cid
    )


def test_market_buy_takes_the_ask_and_pays_the_taker_fee() -> None:
    _, e = engine()

    order = e.submit("alice", market(Side.BUY, "0.010", "m-1"))

    fee = q8(D("61800.3") * D("0.010") * D("0.0005"))  # 0.30900150
    assert order.status is OrderStatus.FILLED
    assert order.filled_qty == D("0.010") and order.avg_price == D("61800.3")
    assert e.balance("alice").wallet_balance == D("10000") - fee == D("9999.69099850")
    position = e.position("alice", SYMBOL)
    assert (position.qty, position.entry_price) == (D("0.010"), D("61800.3"))
    [fill] = e.fills("alice", SYMBOL)
    assert (fill.price, fill.qty, fill.commission, fill.is_maker) == (
        D("61800.3"),
        D("0.010"),
        fee,
        False,
    )
    assert fill.client_order_id == "m-1" and fill.order_id == order.order_id


def test_market_buy_emits_core_events_in_order() -> None:
    _, e = engine()

    e.submit("alice", market(Side.BUY, "0.010", "m-1"))
    events = [ev for _, ev in e.drain_events()]

    assert [type(ev) for ev in events] == [
        OrderAccepted,
        OrderFilled,
        BalanceChanged,
        PositionChanged,
    ]
    filled = events[1]
    assert isinstance(filled, OrderFilled)
    assert (filled.cumulative_qty, filled.avg_price) == (D("0.010"), D("61800.3"))
    assert filled.fill.commission == D("0.30900150")
    balance = events[2]
    assert isinstance(balance, BalanceChanged)
    # As the gateway reads ACCOUNT_UPDATE (no available balance on the wire): the cross wallet.
    assert balance.balance.available_balance == D("9999.69099850")
    # The engine's balance() has the real one: wallet + uPnL - position margin (mark 61800.0,
    # leverage 20).
    upnl = D("0.010") * (D("61800.0") - D("61800.3"))
    im = D("0.010") * D("61800.0") / 20
    assert e.balance("alice").available_balance == D("9999.69099850") + upnl - im
    assert e.drain_events() == []


def test_resting_limit_fills_as_maker_when_a_recorded_trade_prints_through_it() -> None:
    _, e = engine()

    placed = e.submit("alice", limit(Side.BUY, "0.010", "61790.0", "l-1"))
    e.on_trade(SYMBOL, D("61790.0"), D("1.000"), True, T0 + 1000)  # at our price: not through
    still = e.order("alice", SYMBOL, client_order_id="l-1")
    e.on_trade(SYMBOL, D("61789.9"), D("1.000"), True, T0 + 2000)
    done = e.order("alice", SYMBOL, order_id=placed.order_id)

    assert placed.status is OrderStatus.NEW and still.status is OrderStatus.NEW
    assert done.status is OrderStatus.FILLED and done.avg_price == D("61790.0")
    fee = q8(D("61790.0") * D("0.010") * D("0.0002"))  # 0.12358000
    assert e.balance("alice").wallet_balance == D("10000") - fee == D("9999.87642")
    [fill] = e.fills("alice", SYMBOL)
    assert fill.is_maker and fill.trade_time_ms == T0 + 2000


def test_round_trip_books_realized_pnl_less_both_fees() -> None:
    _, e = engine()
    e.submit("alice", market(Side.BUY, "0.010", "rt-1"))
    e.on_book_ticker(SYMBOL, D("61900.0"), D("2.000"), D("61900.1"), D("2.000"), T0 + 1000)

    e.submit("alice", market(Side.SELL, "0.010", "rt-2"))

    realized = D("0.010") * (D("61900.0") - D("61800.3"))  # 0.997
    fees = q8(D("61800.3") * D("0.010") * D("0.0005")) + q8(D("61900.0") * D("0.010") * D("0.0005"))
    assert e.balance("alice").wallet_balance == D("10000") + realized - fees == D("10000.3784985")
    assert e.position("alice", SYMBOL).qty == 0
    assert [f.realized_pnl for f in e.fills("alice", SYMBOL)] == [D("0"), realized]


def test_ioc_remainder_expires_with_its_reason() -> None:
    _, e = engine()

    order = e.submit("alice", limit(Side.BUY, "3.000", "61800.3", "ioc-1", TimeInForce.IOC))

    # Only the 2.000 of the touch sit at or below the limit; the 1.000 left expires (er 2).
    assert order.status is OrderStatus.EXPIRED and order.filled_qty == D("2.000")
    expired = [ev for _, ev in e.drain_events() if isinstance(ev, OrderExpired)]
    assert [ev.reason for ev in expired] == ["IOC remainder"]
    assert ExpiryReason.IOC_REMAINDER == "2"


def test_cancel_by_client_id_then_again_is_unknown() -> None:
    _, e = engine()
    e.submit("alice", limit(Side.SELL, "0.010", "61900.0", "c-1"))
    e.drain_events()

    canceled = e.cancel_order("alice", SYMBOL, client_order_id="c-1")

    assert canceled.status is OrderStatus.CANCELED
    assert [type(ev) for _, ev in e.drain_events()] == [OrderCanceled]
    assert e.open_orders("alice") == []
    with pytest.raises(BinanceError) as err:
        e.cancel_order("alice", SYMBOL, client_order_id="c-1")
    assert err.value.code == -2011


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (
            OrderRequest(
                symbol="NOPEUSDT",
                side=Side.BUY,
                type=OrderType.MARKET,
                quantity=D("1"),
                client_order_id="x-1",
            ),
            -1121,
        ),
        (
            OrderRequest(
                symbol=SYMBOL,
                side=Side.BUY,
                type=OrderType.LIMIT,
                quantity=D("0.010"),
                client_order_id="x-2",
            ),
            -1102,
        ),
        (market(Side.BUY, "10.000", "x-3"), -2019),  # 618,003 USDT at 20x needs 30,900 > 10,000
        (market(Side.BUY, "0.010", "bad id!"), -1100),
    ],
)
def test_rejections_raise_the_binance_code(request_: OrderRequest, code: int) -> None:
    _, e = engine()

    with pytest.raises(BinanceError) as err:
        e.submit("alice", request_)

    assert err.value.code == code
    assert e.drain_events() == []  # nothing was accepted


@pytest.mark.parametrize(
    ("request_", "extra", "name"),
    [
        (
            OrderRequest(
                symbol=SYMBOL,
                side=Side.BUY,
                type=OrderType.LIMIT,
                quantity=D("0.010"),
                price=D("61700.0"),
                time_in_force=TimeInForce.GTC,
                stop_price=D("61000.0"),
                client_order_id="u-1",
            ),
            {},
            "stopPrice",
        ),
        (market(Side.BUY, "0.010", "u-2"), {"callback_rate": D("1")}, "callbackRate"),
        (market(Side.BUY, "0.010", "u-3"), {"activate_price": D("61000")}, "activationPrice"),
        (
            limit(Side.BUY, "0.010", "61700.0", "u-4"),
            {"good_till_ms": T0 + 3_600_000},
            "goodTillDate",
        ),
    ],
)
def test_a_value_the_order_type_does_not_use_is_refused_1106(
    request_: OrderRequest, extra: dict, name: str
) -> None:
    """As on the wire (test_server_order_params): the backtester's typed front door refuses
    what it used to drop, so a LIMIT "with a stop" does not backtest as a plain LIMIT."""
    _, e = engine()

    with pytest.raises(BinanceError) as err:
        e.submit("alice", request_, **extra)

    assert (err.value.code, err.value.msg) == (-1106, f"Parameter '{name}' sent when not required.")
    assert e.drain_events() == [] and e.open_orders("alice") == []


def test_duplicate_open_client_id_is_refused() -> None:
    _, e = engine()
    e.submit("alice", limit(Side.BUY, "0.010", "61700.0", "dup"))

    with pytest.raises(BinanceError) as err:
        e.submit("alice", limit(Side.BUY, "0.010", "61600.0", "dup"))

    assert err.value.code == -4116


def test_status_changes_go_through_the_core_transition_table() -> None:
    _, e = engine()
    filled = e.submit("alice", market(Side.BUY, "0.010", "t-1"))
    acct = e.account("alice")
    live = e.find_order(acct, SYMBOL, filled.order_id, None)
    assert live is not None

    with pytest.raises(IllegalTransition):
        e.cancel(live)  # FILLED -> CANCELED is not in core.orders.ORDER_TRANSITIONS


def test_stop_market_is_armed_then_triggered_by_the_last_price() -> None:
    _, e = engine()
    e.submit("alice", market(Side.BUY, "0.010", "s-0"))
    stop = OrderRequest(
        symbol=SYMBOL,
        side=Side.SELL,
        type=OrderType.STOP_MARKET,
        quantity=D("0.010"),
        stop_price=D("61700.0"),
        reduce_only=True,
        working_type=WorkingType.CONTRACT_PRICE,
        client_order_id="s-1",
    )

    armed = e.submit("alice", stop)
    e.drain_events()
    e.on_trade(SYMBOL, D("61700.0"), D("0.100"), True, T0 + 1000)

    assert armed.status is OrderStatus.NEW and armed.order_id is None
    filled = [ev for _, ev in e.drain_events() if isinstance(ev, OrderFilled)]
    # The triggered MARKET sell takes the recorded bid 61800.2: the book is not moved by trades.
    assert [(f.fill.client_order_id, f.fill.price) for f in filled] == [("s-1", D("61800.2"))]
    assert e.position("alice", SYMBOL).qty == 0


def test_funding_instant_pays_longs_minus_amt_times_mark_times_rate() -> None:
    _, e = engine()
    e.submit("alice", market(Side.BUY, "0.010", "f-1"))
    wallet = e.balance("alice").wallet_balance
    e.drain_events()
    instant = (T0 // EIGHT_HOURS_MS + 1) * EIGHT_HOURS_MS

    e.on_time(instant)

    amount = -q8(D("0.010") * D("61800.0") * D("0.0001"))  # -0.0618
    paid = [ev for _, ev in e.drain_events() if isinstance(ev, FundingPaid)]
    assert [(ev.symbol, ev.amount, ev.rate) for ev in paid] == [(SYMBOL, amount, D("0.0001"))]
    assert e.balance("alice").wallet_balance == wallet + amount


def test_typed_and_wire_front_doors_give_the_same_account() -> None:
    wire_ex, _ = make_exchange()
    _, e = engine()

    wire_ex.new_order(
        "alice", {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.010"}
    )
    e.submit("alice", market(Side.BUY, "0.010", "w-1"))

    account = wire_ex.account("alice", {}, version=3)
    assert D(account["totalWalletBalance"]) == e.balance("alice").wallet_balance
    [row] = wire_ex.position_risk("alice", {"symbol": SYMBOL})
    assert D(row["positionAmt"]) == e.position("alice", SYMBOL).qty
    assert D(row["entryPrice"]) == e.position("alice", SYMBOL).entry_price


@pytest.mark.parametrize("step", ["0.001", "0.0010"])
def test_report_quantities_have_the_wire_decimals_however_the_step_is_written(step: str) -> None:
    # The report skips re-quantizing a whole number of steps when the step already has the
    # wire's decimals (0.001); a step written with a trailing zero (0.0010, the same filter)
    # must still give the wire's 3 decimals, not 4.
    from dataclasses import replace

    from exchange_sim.engine.reports import AlgoReport, OrderReport
    from tests.exchange_sim.test_engine_support import instruments

    insts = instruments()
    btc = insts[SYMBOL]
    insts[SYMBOL] = replace(btc, lot=replace(btc.lot, step_size=D(step)))
    ex, _ = make_exchange()
    ex = Exchange(insts, ex.engine.clock, None)
    ex.create_account("alice", {"USDT": D("10000")})
    ex.on_mark_price(SYMBOL, D("61800.0"), D("61800.0"), D("0.0001"), T0 + 300_000, T0)
    ex.on_book_ticker(SYMBOL, D("61800.2"), D("2.000"), D("61800.3"), D("2.000"), T0)
    e = ex.engine
    e.drain_reports()

    e.submit("alice", market(Side.BUY, "0.010", "m-1"))
    e.submit(
        "alice",
        OrderRequest(
            symbol=SYMBOL,
            side=Side.SELL,
            type=OrderType.STOP_MARKET,
            quantity=D("0.010"),
            stop_price=D("60000.0"),
            reduce_only=True,
            client_order_id="s-1",
        ),
    )
    reports = [r for _, r in e.drain_reports()]

    fill = next(r for r in reports if isinstance(r, OrderReport) and r.last_qty)
    algo = next(r for r in reports if isinstance(r, AlgoReport))
    assert [str(fill.quantity), str(fill.cum_qty), str(fill.last_qty)] == ["0.010"] * 3
    assert str(algo.quantity) == "0.010"
    assert str(fill.realized_pnl) == "0E-8"  # opening: nothing realized, 8 decimals
