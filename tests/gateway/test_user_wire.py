"""User-data parsers on real captured Binance messages (and documented examples), and their
refusal of malformed ones. Expected values are read off the fixture files by hand."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from core.account import PositionAtRisk
from core.enums import (
    ExecutionType,
    MarginType,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
)
from core.orders import Order
from gateway.user_wire import (
    AccountConfigUpdate,
    AccountUpdate,
    AlgoStatus,
    AlgoUpdate,
    IgnoredEvent,
    ListenKeyExpired,
    MalformedMessage,
    MarginCall,
    OrderUpdate,
    decode_user_frame,
    order_of,
    parse_account,
    parse_account_update,
    parse_funding_income,
    parse_position_risk,
    parse_rest_algo_order,
    parse_rest_order,
    parse_user_event,
    parse_user_trade,
    waiting_algo_order_of,
)

API = Path(__file__).resolve().parents[1] / "fixtures" / "binance_api"


def raw(folder: str, name: str) -> bytes:
    return (API / folder / name).read_bytes()


def rest(name: str):
    return json.loads(raw("rest", name))


def event(folder: str, name: str, recv_ms: int = 99):
    return parse_user_event(decode_user_frame(raw(folder, name)), recv_ms)


# --- ORDER_TRADE_UPDATE ------------------------------------------------------------------------


def test_partial_fill_update_carries_the_fill():
    u = event("ws_user", "ORDER_TRADE_UPDATE__TRADE_partial__docs_derived.json")

    assert isinstance(u, OrderUpdate)
    assert (u.symbol, u.client_order_id, u.order_id) == ("BTCUSDT", "TEST", 8886774)
    assert (u.execution, u.status) == (ExecutionType.TRADE, OrderStatus.PARTIALLY_FILLED)
    assert (u.type, u.orig_type, u.time_in_force) == (
        OrderType.LIMIT,
        OrderType.LIMIT,
        TimeInForce.GTC,
    )
    assert (u.quantity, u.price, u.cum_qty) == (
        Decimal("0.001"),
        Decimal("7100.50"),
        Decimal("0.001"),
    )
    fill = u.fill
    assert fill is not None
    assert (fill.trade_id, fill.price, fill.qty) == (12345678, Decimal("7100.50"), Decimal("0.001"))
    assert (fill.commission, fill.commission_asset, fill.realized_pnl) == (
        Decimal("0.01000000"),
        "USDT",
        Decimal("12.34"),
    )
    assert fill.is_maker is True and fill.side is Side.BUY
    assert fill.position_side is PositionSide.LONG
    assert (fill.trade_time_ms, fill.recv_time_ms) == (1568879465651, 99)


def test_new_order_update_has_no_fill():
    u = event("ws_user", "ORDER_TRADE_UPDATE__NEW_trailing_stop__docs.json")

    assert isinstance(u, OrderUpdate)
    assert (u.execution, u.status, u.type) == (
        ExecutionType.NEW,
        OrderStatus.NEW,
        OrderType.TRAILING_STOP_MARKET,
    )
    assert u.stop_price == Decimal("7103.04")
    assert u.fill is None


def test_liquidation_execution_is_a_fill_of_a_foreign_client_id():
    u = event("upstream_constructed", "ORDER_TRADE_UPDATE__liquidation_CALCULATED.json")

    assert isinstance(u, OrderUpdate)
    assert u.client_order_id == "autoclose-1234567890"
    assert u.execution is ExecutionType.CALCULATED and u.status is OrderStatus.FILLED
    assert u.fill is not None and u.fill.realized_pnl == Decimal("-5.67")


def test_an_auto_deleveraging_in_status_new_adl_is_a_filled_fill():
    # X = NEW_ADL is not in the reference's status list (6.2.4); q = z = 0.005: all done.
    u = event("upstream_constructed", "ORDER_TRADE_UPDATE__ADL.json")

    assert isinstance(u, OrderUpdate)
    assert u.client_order_id == "adl_autoclose_12345"
    assert (u.execution, u.status) == (ExecutionType.CALCULATED, OrderStatus.FILLED)
    fill = u.fill
    assert fill is not None
    assert (fill.side, fill.qty, fill.price) == (Side.BUY, Decimal("0.005"), Decimal("42000.00"))
    assert (fill.realized_pnl, fill.commission, fill.commission_asset) == (
        Decimal("-2.50"),
        Decimal("0.10500000"),
        "USDT",
    )
    assert (fill.order_id, fill.trade_id, fill.position_side) == (
        8887001,
        12346001,
        PositionSide.SHORT,
    )


def test_a_liquidation_in_status_new_insurance_is_a_filled_fill():
    u = event("upstream_constructed", "ORDER_TRADE_UPDATE__insurance.json")

    assert isinstance(u, OrderUpdate)
    assert u.client_order_id == "autoclose-insurance-5678"
    assert (u.execution, u.status) == (ExecutionType.CALCULATED, OrderStatus.FILLED)
    fill = u.fill
    assert fill is not None
    assert (fill.side, fill.qty, fill.price) == (Side.SELL, Decimal("0.020"), Decimal("45000.00"))
    assert (fill.realized_pnl, fill.commission) == (Decimal("-8.00"), Decimal("0.45000000"))


def test_a_delisting_settlement_is_a_trade_of_the_exchanges_own_order():
    u = event("upstream_constructed", "ORDER_TRADE_UPDATE__settlement.json")

    assert isinstance(u, OrderUpdate)
    assert u.client_order_id == "settlement_autoclose-9999"
    assert (u.execution, u.status) == (ExecutionType.TRADE, OrderStatus.FILLED)
    assert u.fill is not None and u.fill.realized_pnl == Decimal("-10.00")


@pytest.mark.parametrize(
    ("status", "cum", "expected"),
    [
        ("NEW_ADL", "0", OrderStatus.NEW),  # announced, nothing done yet
        ("NEW_ADL", "0.002", OrderStatus.PARTIALLY_FILLED),  # 0.002 of 0.005
        ("NEW_INSURANCE", "0.005", OrderStatus.FILLED),
    ],
)
def test_new_adl_and_new_insurance_take_the_status_their_quantities_make(status, cum, expected):
    data = json.loads(raw("upstream_constructed", "ORDER_TRADE_UPDATE__ADL.json"))
    data["o"].update({"X": status, "z": cum})

    u = parse_user_event(data, 99)

    assert isinstance(u, OrderUpdate) and u.status is expected


def test_a_rest_order_object_in_status_new_insurance_is_read_too():
    row = rest("GET_fapi_v1_openOrder__LTCUSDT_GTX_2024-02-14__ccxt.json")
    row.update({"clientOrderId": "autoclose-1", "status": "NEW_INSURANCE", "executedQty": "0"})

    u = parse_rest_order(row, 5)

    assert u.status is OrderStatus.NEW and u.client_order_id == "autoclose-1"


# --- ALGO_UPDATE -------------------------------------------------------------------------------


def test_algo_update_new_from_the_docs():
    u = event("ws_user", "ALGO_UPDATE__NEW__BNBUSDT__docs.json")

    assert isinstance(u, AlgoUpdate)
    assert (u.client_algo_id, u.algo_id, u.symbol) == ("Q5xaq5EGKgXXa0fD7fs0Ip", 2148719, "BNBUSDT")
    assert (u.status, u.order_type, u.side) == (AlgoStatus.NEW, OrderType.TAKE_PROFIT, Side.SELL)
    assert (u.quantity, u.trigger_price, u.price) == (
        Decimal("0.01"),
        Decimal("750"),
        Decimal("750"),
    )
    assert u.actual_order_id is None  # "ai": "" before the trigger
    assert u.reason == "Reduce Only reject"
    assert (u.event_time_ms, u.recv_time_ms) == (1750515742303, 99)


def test_real_algo_update_sequence_in_the_combined_envelope():
    names = ("TRIGGERING", "TRIGGERED", "FINISHED")
    updates = [
        event("ws_user", f"ALGO_UPDATE__{n}__DOGEUSDT_2025-12-11__nautilus.json") for n in names
    ]

    assert [u.status for u in updates if isinstance(u, AlgoUpdate)] == [
        AlgoStatus.TRIGGERING,
        AlgoStatus.TRIGGERED,
        AlgoStatus.FINISHED,
    ]
    triggering, triggered, finished = updates
    assert isinstance(triggering, AlgoUpdate) and isinstance(finished, AlgoUpdate)
    assert isinstance(triggered, AlgoUpdate)
    assert triggering.actual_order_id is None
    assert triggered.actual_order_id == finished.actual_order_id == 88937381063
    assert finished.client_algo_id == "O-20251211-053131-TEST-000-1"
    assert (finished.filled_qty, finished.quantity) == (Decimal("38"), Decimal("38"))


# --- ACCOUNT_UPDATE and friends ----------------------------------------------------------------


def test_account_update_balances_and_positions():
    u = parse_user_event(
        decode_user_frame(raw("ws_user", "ACCOUNT_UPDATE__ORDER__docs.json")), 5, {"BTCUSDT": 20}
    )

    assert isinstance(u, AccountUpdate)
    assert u.reason == "ORDER"
    (balance,) = u.balances
    assert (balance.asset, balance.wallet_balance, balance.cross_wallet_balance) == (
        "USDT",
        Decimal("122624.12345678"),
        Decimal("100.12345678"),
    )
    assert [(p.position_side, p.qty, p.entry_price) for p in u.positions] == [
        (PositionSide.BOTH, Decimal("0"), Decimal("0.00000")),
        (PositionSide.LONG, Decimal("20"), Decimal("6563.6")),
        (PositionSide.SHORT, Decimal("-10"), Decimal("6563.8")),
    ]
    assert all(p.margin_type is MarginType.ISOLATED and p.leverage == 20 for p in u.positions)
    assert u.positions[0].update_time_ms == 1564745798939


def test_a_funding_account_updates_balance_change_is_the_settlements_amount():
    frame = {
        "e": "ACCOUNT_UPDATE", "E": 1716019200050, "T": 1716019200000,
        "a": {"m": "FUNDING_FEE", "B": [
            {"a": "USDT", "wb": "9989.94991900", "cw": "9989.94991900", "bc": "-1.67507600"},
        ], "P": []},
    }  # fmt: skip

    u = parse_user_event(frame, 5)
    without_bc = parse_account_update({**frame, "a": {**frame["a"], "B": [
        {"a": "USDT", "wb": "9989.94991900", "cw": "9989.94991900"},
    ]}}, 5)  # fmt: skip

    assert isinstance(u, AccountUpdate)
    assert u.balances[0].balance_change == Decimal("-1.67507600")
    assert without_bc.balances[0].balance_change is None


def test_an_account_update_of_a_credit_asset_is_its_own_balance():
    # A real BNFCR (Binance's futures credit) update: another asset than USDT, no position.
    u = event("ws_user", "ACCOUNT_UPDATE__BNFCR_2026-06-16__nautilus.json")

    assert isinstance(u, AccountUpdate)
    assert (u.reason, u.positions) == ("ORDER", ())
    (balance,) = u.balances
    assert (balance.asset, balance.wallet_balance, balance.cross_wallet_balance) == (
        "BNFCR",
        Decimal("5001.28983031"),
        Decimal("5001.28983031"),
    )


# The MARGIN_CALL example of the reference (section 10.6).
MARGIN_CALL = {
    "e": "MARGIN_CALL", "E": 1716050000000, "cw": "3.16812045",
    "p": [{"s": "ETHUSDT", "ps": "LONG", "pa": "1.327", "mt": "CROSSED", "iw": "0",
           "mp": "187.17127", "up": "-1.166074", "mm": "1.614445"}],
}  # fmt: skip


def test_a_margin_call_names_the_positions_at_risk():
    u = parse_user_event(MARGIN_CALL, 5)

    assert u == MarginCall(
        cross_wallet_balance=Decimal("3.16812045"),
        positions=(
            PositionAtRisk(
                symbol="ETHUSDT",
                position_side=PositionSide.LONG,
                qty=Decimal("1.327"),
                margin_type=MarginType.CROSSED,
                mark_price=Decimal("187.17127"),
                unrealized_pnl=Decimal("-1.166074"),
                maintenance_margin=Decimal("1.614445"),
                isolated_wallet=Decimal("0"),
            ),
        ),
        event_time_ms=1716050000000,
        recv_time_ms=5,
    )


def test_a_margin_call_of_isolated_positions_only_has_no_cross_wallet():
    data = {**MARGIN_CALL, "p": [{**MARGIN_CALL["p"][0], "mt": "ISOLATED", "iw": "2.5"}]}
    del data["cw"]

    u = parse_user_event(data, 5)

    assert isinstance(u, MarginCall) and u.cross_wallet_balance is None
    assert (u.positions[0].margin_type, u.positions[0].isolated_wallet) == (
        MarginType.ISOLATED,
        Decimal("2.5"),
    )


def test_trade_lite_is_recognised_and_ignored():
    u = event("ws_user", "TRADE_LITE__ETHUSDT_2024-09-30__nautilus.json")

    assert u == IgnoredEvent(event_type="TRADE_LITE", event_time_ms=1727683915920)


def test_listen_key_expired_and_leverage_change():
    expired = parse_user_event({"e": "listenKeyExpired", "E": 7, "listenKey": "abc"}, 8)
    config = parse_user_event(
        {"e": "ACCOUNT_CONFIG_UPDATE", "E": 9, "T": 9, "ac": {"s": "BTCUSDT", "l": 25}}, 10
    )

    assert expired == ListenKeyExpired(listen_key="abc", event_time_ms=7)
    assert config == AccountConfigUpdate(symbol="BTCUSDT", leverage=25, event_time_ms=9)


# --- REST rows ---------------------------------------------------------------------------------


def test_rest_order_object_with_quoted_ids():
    u = parse_rest_order(rest("GET_fapi_v1_openOrder__LTCUSDT_GTX_2024-02-14__ccxt.json"), 3)

    assert (u.symbol, u.order_id, u.client_order_id) == (
        "LTCUSDT",
        664082074,
        "x-xcKtGhcu68f8383451844295b3e8b9",
    )
    assert (u.status, u.time_in_force, u.price, u.quantity, u.cum_qty) == (
        OrderStatus.NEW,
        TimeInForce.GTX,
        Decimal("50.00"),
        Decimal("0.200"),
        Decimal("0.000"),
    )
    assert u.execution is None and u.fill is None
    assert u.event_time_ms == 1707907323991


def test_rest_algo_order_object():
    row = {
        "algoId": 2146760,
        "clientAlgoId": "x-Cb7ytekJ77aa11bb22cc33dd44ee55",
        "algoType": "CONDITIONAL",
        "orderType": "STOP_MARKET",
        "symbol": "BTCUSDT",
        "side": "SELL",
        "positionSide": "BOTH",
        "timeInForce": "GTC",
        "quantity": "0.250",
        "algoStatus": "NEW",
        "triggerPrice": "65500.00",
        "price": "0.00",
        "icebergQuantity": None,
        "reduceOnly": True,
        "closePosition": False,
        "activatePrice": "",
        "callbackRate": "",
        "createTime": 1716000002000,
        "updateTime": 1716000002000,
        "triggerTime": 0,
        "actualOrderId": "",
    }  # section 6.3 of the protocol reference

    u = parse_rest_algo_order(row, 1)

    assert (u.algo_id, u.status, u.order_type) == (2146760, AlgoStatus.NEW, OrderType.STOP_MARKET)
    assert (u.quantity, u.trigger_price, u.reduce_only) == (
        Decimal("0.250"),
        Decimal("65500.00"),
        True,
    )
    assert u.actual_order_id is None


def test_user_trades_rows():
    first, second = (
        parse_user_trade(r, 4)
        for r in rest("GET_fapi_v1_userTrades__ETHUSDT_2022-02-27__nautilus.json")
    )

    assert (first.trade_id, first.order_id, first.side, first.qty) == (
        82357626,
        831238666,
        Side.SELL,
        Decimal("0.005"),
    )
    assert (second.price, second.realized_pnl, second.commission) == (
        Decimal("2779"),
        Decimal("-0.00325000"),
        Decimal("0.00555800"),
    )
    fill = second.to_fill("ours-7")
    assert (fill.client_order_id, fill.trade_id, fill.trade_time_ms) == (
        "ours-7",
        82357629,
        1645930333910,
    )
    assert fill.is_maker is False


def test_position_risk_v2_and_v3():
    v2 = parse_position_risk(rest("GET_fapi_v2_positionRisk__one_way__docs.json")[0])
    v3 = parse_position_risk(
        rest("GET_fapi_v3_positionRisk__BTCUSDT_2024-07-28__ccxt.json")[0], {"BTCUSDT": 50}
    )

    assert (v2.qty, v2.leverage, v2.margin_type) == (Decimal("0.000"), 10, MarginType.ISOLATED)
    assert (v3.qty, v3.entry_price, v3.leverage, v3.margin_type) == (
        Decimal("0.009"),
        Decimal("67445.9"),
        50,
        MarginType.CROSSED,
    )
    assert v3.update_time_ms == 1722161166529


def test_account_snapshot_has_the_available_balance_and_leverage():
    snap = parse_account(rest("GET_fapi_v2_account__nautilus.json"))

    usdt = next(b for b in snap.balances if b.asset == "USDT")
    assert (usdt.wallet_balance, usdt.available_balance) == (
        Decimal("23.72469206"),
        Decimal("23.72469206"),
    )
    assert snap.leverage["BTCUSDT"] == 100
    assert snap.margin_type["BTCUSDT"] is MarginType.CROSSED


def test_funding_income_row():
    row = {
        "symbol": "BTCUSDT",
        "incomeType": "FUNDING_FEE",
        "income": "-1.67507600",
        "asset": "USDT",
        "info": "FUNDING_FEE",
        "time": 1716019200000,
        "tranId": 91837466230,
        "tradeId": "",
    }  # section 7.8 of the protocol reference

    income = parse_funding_income(row)

    assert (income.amount, income.tran_id, income.time_ms) == (
        Decimal("-1.67507600"),
        91837466230,
        1716019200000,
    )


# --- malformed input ---------------------------------------------------------------------------


def _otu() -> dict:
    return json.loads(raw("ws_user", "ORDER_TRADE_UPDATE__TRADE_partial__docs_derived.json"))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: d["o"].pop("c"),
        lambda d: d["o"].update(q=0.001),  # a number where Binance sends a decimal string
        lambda d: d["o"].update(X="SOMETHING"),
        lambda d: d["o"].update(i=True),
        lambda d: d["o"].update(i="--1"),  # str.isdigit() of what lstrip("-") leaves
        lambda d: d["o"].update(i="\u00b2"),  # "²": a digit to str.isdigit(), not to int()
        lambda d: d["o"].update(i=" 12"),
        lambda d: d["o"].update(L="NaN"),
        lambda d: d.update(o=[]),
    ],
)
def test_malformed_order_updates_are_refused(mangle):
    data = _otu()
    mangle(data)

    with pytest.raises(MalformedMessage):
        parse_user_event(data, 1)


@pytest.mark.parametrize("frame", [b"{not json", b"[1, 2]", b'"text"'])
def test_frames_that_are_not_objects_are_refused(frame):
    with pytest.raises(MalformedMessage):
        decode_user_frame(frame)


def test_unknown_event_type_is_refused():
    with pytest.raises(MalformedMessage):
        parse_user_event({"e": "SOMETHING_NEW", "E": 1}, 1)


def test_account_update_with_a_non_list_is_refused():
    with pytest.raises(MalformedMessage):
        parse_user_event({"e": "ACCOUNT_UPDATE", "E": 1, "T": 1, "a": {"m": "ORDER", "B": 5}}, 1)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: d["p"][0].pop("mm"),
        lambda d: d["p"][0].update(pa=1.327),  # a number where Binance sends a string
        lambda d: d["p"][0].update(mt="PORTFOLIO"),
        lambda d: d.update(p=5),
        lambda d: d.update(cw="lots"),
    ],
)
def test_malformed_margin_calls_are_refused(mangle):
    data = json.loads(json.dumps(MARGIN_CALL))
    mangle(data)

    with pytest.raises(MalformedMessage):
        parse_user_event(data, 1)


@pytest.mark.parametrize(
    "parse",
    [
        lambda row: parse_rest_order(row, 1),
        lambda row: parse_rest_algo_order(row, 1),
        lambda row: parse_user_trade(row, 1),
        lambda row: parse_position_risk(row),
        parse_account,
        parse_funding_income,
    ],
)
@pytest.mark.parametrize("row", [None, [], "text", 5])
def test_rest_rows_that_are_not_objects_are_refused(parse, row):
    with pytest.raises(MalformedMessage, match="expected an object"):
        parse(row)


@pytest.mark.parametrize("ai", ["\u00b3", "-5", "1.0", "12a"])
def test_an_algo_update_whose_actual_order_id_is_not_an_id_is_refused(ai):
    data = json.loads(raw("ws_user", "ALGO_UPDATE__NEW__BNBUSDT__docs.json"))
    data["o"]["ai"] = ai

    with pytest.raises(MalformedMessage, match="actual order id"):
        parse_user_event(data, 1)


# --- the core Order a report describes (order_of, waiting_algo_order_of) ------------------------


def test_order_of_a_rest_open_order_row():
    """Binance's documented openOrders row: a trailing stop of the SHORT side, not triggered."""
    (row,) = rest("GET_fapi_v1_openOrders__docs.json")

    o = order_of(parse_rest_order(row, 99))

    assert o == Order(
        client_order_id="abc",
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.TRAILING_STOP_MARKET,
        quantity=Decimal("0.40"),
        price=None,  # "0"
        time_in_force=TimeInForce.GTC,
        status=OrderStatus.NEW,
        created_ms=1579276756075,  # updateTime: the row does not say more
        updated_ms=1579276756075,
        order_id=1917641,
        filled_qty=Decimal("0"),
        avg_price=Decimal("0.00000"),
        stop_price=Decimal("9300"),
        reduce_only=False,
        close_position=False,
        position_side=PositionSide.SHORT,
    )


def test_order_of_a_captured_limit_row_with_ids_and_times_as_strings():
    """ccxt's capture of a GTX LIMIT (ids and times stored as strings); stopPrice "0.00"."""
    o = order_of(
        parse_rest_order(rest("GET_fapi_v1_openOrder__LTCUSDT_GTX_2024-02-14__ccxt.json"), 1)
    )

    assert (o.client_order_id, o.symbol, o.side, o.type) == (
        "x-xcKtGhcu68f8383451844295b3e8b9",
        "LTCUSDT",
        Side.BUY,
        OrderType.LIMIT,
    )
    assert (o.quantity, o.price, o.stop_price, o.time_in_force) == (
        Decimal("0.200"),
        Decimal("50.00"),
        None,
        TimeInForce.GTX,
    )
    assert (o.status, o.order_id, o.filled_qty, o.created_ms) == (
        OrderStatus.NEW,
        664082074,
        Decimal("0.000"),
        1707907323991,
    )


def test_order_of_a_stream_report_keeps_the_type_as_placed():
    """ORDER_TRADE_UPDATE of a new trailing stop (documented example): type from `ot`, stop
    price `sp`, made and updated at the report's event time `E`."""
    u = event("ws_user", "ORDER_TRADE_UPDATE__NEW_trailing_stop__docs.json")
    assert isinstance(u, OrderUpdate)

    o = order_of(u)

    assert (o.type, o.price, o.stop_price, o.position_side) == (
        OrderType.TRAILING_STOP_MARKET,
        None,
        Decimal("7103.04"),
        PositionSide.LONG,
    )
    assert (o.status, o.order_id, o.created_ms, o.updated_ms) == (
        OrderStatus.NEW,
        8886774,
        1568879465651,
        1568879465651,
    )


def test_order_of_an_exchange_liquidation_report():
    """The liquidation order (constructed upstream): FILLED at once, 0.014 @ 9910.12 avg."""
    u = event("upstream_constructed", "ORDER_TRADE_UPDATE__liquidation_CALCULATED.json")
    assert isinstance(u, OrderUpdate)

    o = order_of(u)

    assert (o.client_order_id, o.side, o.type, o.time_in_force) == (
        "autoclose-1234567890",
        Side.SELL,
        OrderType.LIMIT,
        TimeInForce.IOC,
    )
    assert (o.quantity, o.price, o.status, o.filled_qty, o.avg_price) == (
        Decimal("0.014"),
        Decimal("9910.00"),
        OrderStatus.FILLED,
        Decimal("0.014"),
        Decimal("9910.12"),
    )
    assert (o.reduce_only, o.stop_price, o.position_side) == (True, None, PositionSide.LONG)


def test_waiting_algo_order_of_an_algo_update():
    """Binance's documented ALGO_UPDATE of a new TAKE_PROFIT: the algoId is the order id, the
    trigger price its stop price."""
    a = event("ws_user", "ALGO_UPDATE__NEW__BNBUSDT__docs.json")
    assert isinstance(a, AlgoUpdate)

    o = waiting_algo_order_of(a)

    assert o == Order(
        client_order_id="Q5xaq5EGKgXXa0fD7fs0Ip",
        symbol="BNBUSDT",
        side=Side.SELL,
        type=OrderType.TAKE_PROFIT,
        quantity=Decimal("0.01"),
        price=Decimal("750"),
        time_in_force=TimeInForce.GTC,
        status=OrderStatus.NEW,
        created_ms=1750515742303,
        updated_ms=1750515742303,
        order_id=2148719,
        stop_price=Decimal("750"),
        reduce_only=False,
        close_position=False,
        position_side=PositionSide.BOTH,
    )
