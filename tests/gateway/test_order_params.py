"""OrderRequest -> REST parameters: exact strings, the right endpoint, refusals before sending."""

from decimal import Decimal

import pytest

from core.enums import OrderType, PositionSide, Side, TimeInForce, WorkingType
from core.instrument import Instrument
from core.orders import OrderRequest
from gateway.main_gateway import ExecutorConfig
from gateway.order_params import CREATE_ALGO_ORDER, CREATE_ORDER, create_method, order_params


@pytest.fixture
def btc(btcusdt_entry_2022) -> Instrument:
    return Instrument.from_exchange_info(btcusdt_entry_2022)  # tick 0.10, step 0.001


def request(**kwargs) -> OrderRequest:
    base = {
        "symbol": "BTCUSDT",
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "quantity": Decimal("0.002"),
        "price": Decimal("60000.1"),
        "time_in_force": TimeInForce.GTC,
        "client_order_id": "bfd-7",
    }
    return OrderRequest(**{**base, **kwargs})


@pytest.mark.parametrize("tif", [TimeInForce.GTC, TimeInForce.GTX, TimeInForce.IOC])
def test_limit_order_parameters(btc, tif):
    params = order_params(request(time_in_force=tif), btc)

    assert params == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "newClientOrderId": "bfd-7",
        "quantity": "0.002",
        "price": "60000.1",
        "timeInForce": tif.value,
    }
    assert create_method(request()) == CREATE_ORDER


def test_reduce_only_market_order_parameters(btc):
    params = order_params(
        request(type=OrderType.MARKET, side=Side.SELL, price=None, time_in_force=None,
                quantity=Decimal("0.01"), reduce_only=True),
        btc,
    )  # fmt: skip

    assert params == {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "MARKET",
        "newClientOrderId": "bfd-7",
        "quantity": "0.010",
        "reduceOnly": "true",
    }


def test_close_position_stop_goes_to_the_algo_api(btc):
    stop = request(
        type=OrderType.STOP_MARKET,
        side=Side.SELL,
        quantity=None,
        price=None,
        time_in_force=None,
        stop_price=Decimal("58000"),
        close_position=True,
        working_type=WorkingType.MARK_PRICE,
    )

    assert order_params(stop, btc) == {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_MARKET",
        "algoType": "CONDITIONAL",
        "clientAlgoId": "bfd-7",
        "triggerPrice": "58000.0",
        "workingType": "MARK_PRICE",
        "closePosition": "true",
    }
    assert create_method(stop) == CREATE_ALGO_ORDER


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"price": Decimal("60000.15")}, "more decimals"),
        ({"quantity": Decimal("0.0025")}, "more decimals"),
        ({"quantity": Decimal(0)}, "quantity"),
        ({"price": None}, "needs a price"),
        ({"type": OrderType.MARKET, "time_in_force": None}, "takes no price"),
        ({"stop_price": Decimal("58000")}, "LIMIT order takes no stop price"),
        (
            {
                "type": OrderType.MARKET,
                "time_in_force": None,
                "price": None,
                "stop_price": Decimal(1),
            },
            "MARKET order takes no stop price",
        ),
        ({"type": OrderType.STOP_MARKET, "price": None}, "stop price"),
        ({"close_position": True}, "closePosition"),
        ({"type": OrderType.TRAILING_STOP_MARKET, "price": None}, "not supported"),
        ({"time_in_force": TimeInForce.GTD}, "time in force"),
        # Hedge Mode, reference 6.2.1: reduceOnly with LONG/SHORT is -1106; closePosition
        # BUY+LONG / SELL+SHORT is refused
        ({"position_side": PositionSide.LONG, "reduce_only": True}, "hedge-mode"),
        (
            {
                "type": OrderType.STOP_MARKET,
                "side": Side.SELL,
                "quantity": None,
                "price": None,
                "stop_price": Decimal("58000"),
                "close_position": True,
                "position_side": PositionSide.SHORT,
            },
            "would open",
        ),
    ],
)
def test_requests_that_must_not_be_sent_are_refused(btc, changes, why):
    with pytest.raises(ValueError, match=why):
        order_params(request(**changes), btc)


def test_executor_config_refuses_nonsense():
    with pytest.raises(ValueError, match="deadman_refresh_s"):
        ExecutorConfig(deadman_refresh_s=0)
    with pytest.raises(ValueError, match="trades_page_limit"):
        ExecutorConfig(trades_page_limit=5000)
