"""The typed API's conditional (algo) orders, cancel-all and typed reports.

`Engine.submit` arms a STOP_MARKET / TAKE_PROFIT_MARKET (closePosition too) as an algo order;
`cancel_conditional`, `conditional`, `open_conditionals`, `cancel_open_orders`,
`cancel_open_conditionals` and `drain_reports` are checked against hand-set expectations and
against the wire adapter's JSON for the same engine activity (parsed by gateway.user_wire, as
a client reads it): the typed reports carry the same values, Decimal exponents included.
Account "alice", 10000 USDT; mark 61800.0, touch 61800.2 / 61800.3 (test_engine_support).
"""

from decimal import Decimal
from typing import Any

import pytest

from core.enums import AlgoStatus, ExecutionType, OrderStatus, OrderType, Side, TimeInForce
from core.orders import OrderRequest
from exchange_sim.engine.reports import AccountReport, AlgoReport, OrderReport, OtherReport
from exchange_sim.errors import BinanceError
from gateway.user_wire import AccountUpdate, AlgoUpdate, OrderUpdate, parse_user_event
from tests.exchange_sim.test_engine_support import T0, make_exchange

D = Decimal
SYMBOL = "BTCUSDT"


def req(cid: str, side: Side, kind: OrderType, qty: str | None, **kw: Any) -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL,
        side=side,
        type=kind,
        quantity=D(qty) if qty is not None else None,
        client_order_id=cid,
        **kw,
    )


def activity(e: Any) -> None:
    """Orders, fills, conditionals armed, canceled, triggered; cancel-all."""
    e.submit("alice", req("m1", Side.BUY, OrderType.MARKET, "0.010"))
    e.submit(
        "alice",
        req(
            "l1",
            Side.BUY,
            OrderType.LIMIT,
            "0.003",
            price=D("61000.0"),
            time_in_force=TimeInForce.GTC,
        ),
    )
    e.submit(
        "alice",
        req(
            "sl",
            Side.SELL,
            OrderType.STOP_MARKET,
            None,
            stop_price=D("61500.0"),
            close_position=True,
        ),
    )
    e.submit(
        "alice",
        req(
            "tp",
            Side.SELL,
            OrderType.TAKE_PROFIT_MARKET,
            "0.004",
            stop_price=D("63000.0"),
            reduce_only=True,
        ),
    )
    e.cancel_conditional("alice", SYMBOL, client_algo_id="tp")
    e.on_trade(SYMBOL, D("61500.0"), D("0.100"), True, T0 + 1000)  # the stop-loss fires
    e.submit(
        "alice",
        req(
            "l2",
            Side.SELL,
            OrderType.LIMIT,
            "0.002",
            price=D("65000.0"),
            time_in_force=TimeInForce.GTC,
        ),
    )
    e.submit(
        "alice", req("sl2", Side.SELL, OrderType.STOP_MARKET, "0.001", stop_price=D("60000.0"))
    )
    e.cancel_open_orders("alice", SYMBOL)
    e.cancel_open_conditionals("alice", SYMBOL)


def run(typed: bool) -> list[Any]:
    ex, _ = make_exchange()
    e = ex.engine
    ex.drain_user_events()
    activity(e)
    if typed:
        return [r for _, r in e.drain_reports()]
    return [parse_user_event(d, 0) for _, d in ex.drain_user_events()]


def test_reports_carry_what_the_wire_json_says() -> None:
    wire, typed = run(False), run(True)
    assert len(wire) == len(typed) > 15
    same_values(wire, typed)


def same_values(wire: list[Any], typed: list[Any]) -> None:
    pairs = {OrderUpdate: OrderReport, AlgoUpdate: AlgoReport, AccountUpdate: AccountReport}
    for w, t in zip(wire, typed, strict=True):
        if type(w) not in pairs:
            assert isinstance(t, OtherReport)
            continue
        assert isinstance(t, pairs[type(w)])
        if isinstance(w, AccountUpdate):
            assert isinstance(t, AccountReport)
            assert (t.reason, t.event_time_ms) == (w.reason, w.event_time_ms)
            assert [repr(b.wallet_balance) for b in w.balances] == [repr(t.wallet)]
            got = [(p.symbol, repr(p.qty), repr(p.entry_price), p.margin_type) for p in t.positions]
            want = [
                (p.symbol, repr(p.qty), repr(p.entry_price), p.margin_type) for p in w.positions
            ]
            assert got == want
            continue
        for name in type(t).__dataclass_fields__:
            if name == "expiry_reason":
                assert t.expiry_reason.value == w.expiry_reason
            elif name == "status" and isinstance(t, AlgoReport):
                assert t.status.value == w.status.value
            else:
                assert repr(getattr(t, name)) == repr(getattr(w, name)), name


def test_conditional_lifecycle_through_the_typed_api() -> None:
    ex, _ = make_exchange()
    e = ex.engine
    e.submit("alice", req("m1", Side.BUY, OrderType.MARKET, "0.010"))
    e.submit(
        "alice",
        req(
            "sl",
            Side.SELL,
            OrderType.STOP_MARKET,
            None,
            stop_price=D("61500.0"),
            close_position=True,
        ),
    )
    e.submit(
        "alice",
        req(
            "tp",
            Side.SELL,
            OrderType.TAKE_PROFIT_MARKET,
            "0.004",
            stop_price=D("63000.0"),
            reduce_only=True,
        ),
    )
    e.drain_reports()
    armed = e.open_conditionals("alice", SYMBOL)
    assert [(a.client_algo_id, a.status, a.quantity, a.trigger_price) for a in armed] == [
        ("sl", AlgoStatus.NEW, D("0.000"), D("61500.00")),
        ("tp", AlgoStatus.NEW, D("0.004"), D("63000.00")),
    ]
    tp = e.cancel_conditional("alice", SYMBOL, algo_id=armed[1].algo_id)
    assert (tp.client_algo_id, tp.status) == ("tp", AlgoStatus.CANCELED)
    with pytest.raises(BinanceError) as err:  # no longer waiting
        e.cancel_conditional("alice", SYMBOL, client_algo_id="tp")
    assert err.value.code == -2011
    with pytest.raises(BinanceError) as err:
        e.cancel_conditional("alice", SYMBOL)
    assert err.value.code == -1102

    e.on_trade(SYMBOL, D("61500.0"), D("0.100"), True, T0 + 1000)
    sl = e.conditional("alice", client_algo_id="sl")
    # Triggered: a MARKET for the whole position (0.010), filled at the bid 61800.2.
    assert sl.status is AlgoStatus.FINISHED and sl.actual_order_id is not None
    assert sl.filled_qty == D("0.010") and sl.quantity == D("0.010")
    reports = [r for _, r in e.drain_reports()]
    algo = [(r.client_algo_id, r.status) for r in reports if isinstance(r, AlgoReport)]
    assert algo == [
        ("tp", AlgoStatus.CANCELED),
        ("sl", AlgoStatus.TRIGGERING),
        ("sl", AlgoStatus.TRIGGERED),
        ("sl", AlgoStatus.FINISHED),
    ]
    fill = next(r for r in reports if isinstance(r, OrderReport) and r.trade_id)
    assert (fill.client_order_id, fill.type, fill.orig_type) == (
        "sl",
        OrderType.MARKET,
        OrderType.STOP_MARKET,
    )
    assert (fill.execution, fill.status, fill.last_price) == (
        ExecutionType.TRADE,
        OrderStatus.FILLED,
        D("61800.20"),
    )
    # Taker fee 61800.2 * 0.010 * 0.0005 = 0.309001, 8 decimals.
    assert repr(fill.commission) == "Decimal('0.30900100')"
    assert e.position("alice", SYMBOL).qty == 0
    with pytest.raises(BinanceError) as err:
        e.conditional("alice", algo_id=999_999)
    assert err.value.code == -2013


def test_cancel_open_orders_and_conditionals_of_a_symbol() -> None:
    ex, _ = make_exchange()
    e = ex.engine
    e.submit(
        "alice",
        req(
            "l1",
            Side.BUY,
            OrderType.LIMIT,
            "0.003",
            price=D("61000.0"),
            time_in_force=TimeInForce.GTC,
        ),
    )
    e.submit(
        "alice",
        req(
            "l2",
            Side.BUY,
            OrderType.LIMIT,
            "0.001",
            price=D("60000.0"),
            time_in_force=TimeInForce.GTC,
        ),
    )
    e.submit("alice", req("s1", Side.BUY, OrderType.STOP_MARKET, "0.001", stop_price=D("65000.0")))
    orders = e.cancel_open_orders("alice", SYMBOL)
    assert [(o.client_order_id, o.status) for o in orders] == [
        ("l1", OrderStatus.CANCELED),
        ("l2", OrderStatus.CANCELED),
    ]
    assert e.open_orders("alice", SYMBOL) == []
    assert [a.client_algo_id for a in e.open_conditionals("alice")] == ["s1"]
    algos = e.cancel_open_conditionals("alice", SYMBOL)
    assert [(a.client_algo_id, a.status) for a in algos] == [("s1", AlgoStatus.CANCELED)]
    assert e.open_conditionals("alice") == []
    assert e.cancel_open_orders("alice", SYMBOL) == []
    with pytest.raises(BinanceError) as err:
        e.cancel_open_conditionals("alice", "NOPEUSDT")
    assert err.value.code == -1121


def test_submit_legacy_switch() -> None:
    """`legacy=True` rests the conditional as an order (its own order id), False arms an algo."""
    ex, _ = make_exchange()
    e = ex.engine
    stop = req("s1", Side.BUY, OrderType.STOP_MARKET, "0.001", stop_price=D("65000.0"))
    legacy = e.submit("alice", stop, legacy=True)
    assert legacy.order_id is not None and legacy.status is OrderStatus.NEW
    algo = e.submit(
        "alice",
        req("s2", Side.BUY, OrderType.STOP_MARKET, "0.001", stop_price=D("65000.0")),
        legacy=False,
    )
    assert algo.order_id is None
    assert [a.client_algo_id for a in e.open_conditionals("alice")] == ["s2"]


def trailing_session(typed: bool) -> list[Any]:
    """Long 0.010; a trailing SELL stop (callback 1 %, activating at the latest price 61800.0:
    the last recorded trade) follows the price up to 62500.0 and fires at or below
    62500.0 * 0.99 = 61875.0; the MARKET sell takes the recorded bid 61800.2."""
    ex, _ = make_exchange()
    e = ex.engine
    e.on_trade(SYMBOL, D("61800.0"), D("0.100"), True, T0)
    e.submit("alice", req("m1", Side.BUY, OrderType.MARKET, "0.010"))
    ex.drain_user_events()
    if typed:
        e.submit(
            "alice",
            req("tr", Side.SELL, OrderType.TRAILING_STOP_MARKET, "0.010", reduce_only=True),
            callback_rate=D("1"),
        )
    else:
        ex.new_algo_order(
            "alice",
            {
                "symbol": SYMBOL,
                "side": "SELL",
                "type": "TRAILING_STOP_MARKET",
                "algoType": "CONDITIONAL",
                "quantity": "0.010",
                "callbackRate": "1",
                "reduceOnly": "true",
                "clientAlgoId": "tr",
            },
        )
    for i, price in enumerate(("62000.0", "62500.0", "62000.0", "61875.0")):
        e.on_trade(SYMBOL, D(price), D("0.100"), True, T0 + 1000 * (i + 1))
    if typed:
        return [r for _, r in e.drain_reports()]
    return [parse_user_event(d, 0) for _, d in ex.drain_user_events()]


def test_trailing_stop_through_the_typed_api_as_through_the_wire() -> None:
    wire, typed = trailing_session(False), trailing_session(True)
    same_values(wire, typed)
    algo = [(r.status, r.event_time_ms) for r in typed if isinstance(r, AlgoReport)]
    assert algo == [
        (AlgoStatus.NEW, T0),
        (AlgoStatus.TRIGGERING, T0 + 4000),  # 62000.0 (third trade) is above 61875.0
        (AlgoStatus.TRIGGERED, T0 + 4000),
        (AlgoStatus.FINISHED, T0 + 4000),
    ]
    fill = next(r for r in typed if isinstance(r, OrderReport) and r.trade_id)
    assert (fill.orig_type, fill.last_price, fill.last_qty) == (
        OrderType.TRAILING_STOP_MARKET,
        D("61800.20"),
        D("0.010"),
    )


def test_trailing_stop_refusals() -> None:
    ex, _ = make_exchange()
    e = ex.engine
    trail = req("tr", Side.SELL, OrderType.TRAILING_STOP_MARKET, "0.010")
    codes = []
    for kw in ({}, {"callback_rate": D("0.05")}, {"callback_rate": D("11")}):
        with pytest.raises(BinanceError) as err:
            e.submit("alice", trail, **kw)
        codes.append(err.value.code)
    with pytest.raises(BinanceError) as err:  # legacy orders allow at most 5 %
        e.submit("alice", trail, callback_rate=D("6"), legacy=True)
    codes.append(err.value.code)
    assert codes == [-1102, -1130, -1130, -1130]
