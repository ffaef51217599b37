"""`OrderRequest` -> the REST parameters of a new order (the outgoing half of the boundary).

LIMIT, MARKET (and reduce-only variants) go to `POST /fapi/v1/order` with `newClientOrderId`;
conditional types (STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET, `closePosition`) go to
`POST /fapi/v1/algoOrder` with `algoType=CONDITIONAL`, `clientAlgoId` and `triggerPrice`.
Prices and quantities are exact strings with the symbol's decimals; a value that would change
when printed (more decimals than the tick or step allows) is refused, never rounded here: the
RiskManager rounds, the executor only sends what was approved.
"""

from collections.abc import Callable
from decimal import Decimal

from core.enums import CONDITIONAL_TYPES, OrderType, PositionSide, Side, TimeInForce
from core.instrument import Instrument
from core.orders import OrderRequest

CREATE_ORDER = "futures_create_order"
CREATE_ALGO_ORDER = "futures_create_algo_order"

_LIMIT_TIFS = frozenset({TimeInForce.GTC, TimeInForce.GTX, TimeInForce.IOC, TimeInForce.FOK})
_PRICED = (OrderType.LIMIT, OrderType.STOP, OrderType.TAKE_PROFIT)
_CLOSE_POSITION = (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)


def create_method(request: OrderRequest) -> str:
    """The python-binance method that places `request`."""
    return CREATE_ALGO_ORDER if request.type in CONDITIONAL_TYPES else CREATE_ORDER


def order_params(request: OrderRequest, inst: Instrument) -> dict[str, str]:
    """The REST parameters of a new order; ValueError for a request that must not be sent."""
    # str() of a StrEnum is its value, without `.value`'s Python-level descriptor calls
    params = {
        "symbol": request.symbol,
        "side": str(request.side),
        "type": str(request.type),
    }
    hedge = request.position_side is not PositionSide.BOTH
    if hedge:
        params["positionSide"] = request.position_side.value
        # Hedge Mode (reference 6.2.1): a position side's closing orders are reduce-only by
        # nature and Binance refuses the flag (-1106); closePosition only closes (SELL a LONG,
        # BUY a SHORT).
        if request.reduce_only and not request.close_position:
            raise ValueError("reduceOnly cannot be sent with a hedge-mode positionSide")
        opening = (request.side is Side.BUY) == (request.position_side is PositionSide.LONG)
        if request.close_position and opening:
            raise ValueError(
                f"closePosition {request.side} {request.position_side} would open, not close"
            )
    conditional = request.type in CONDITIONAL_TYPES  # is_conditional, without its call
    if request.type is OrderType.TRAILING_STOP_MARKET or request.type is OrderType.LIQUIDATION:
        raise ValueError(f"order type {request.type} is not supported")
    if conditional:
        if request.stop_price is None:
            raise ValueError(f"{request.type} needs a stop price")
        params["algoType"] = "CONDITIONAL"
        params["clientAlgoId"] = request.client_order_id
        params["triggerPrice"] = exact(inst.format_price, request.stop_price, "stop price")
        params["workingType"] = request.working_type.value
    else:
        if request.stop_price is not None:
            # Binance's behaviour is not in the reference; the local exchange refuses it
            # (-1106). Dropping it would send a plain LIMIT/MARKET the strategy did not ask for.
            raise ValueError(f"a {request.type} order takes no stop price")
        params["newClientOrderId"] = request.client_order_id
    if request.close_position:
        if request.type not in _CLOSE_POSITION:
            raise ValueError("closePosition needs STOP_MARKET or TAKE_PROFIT_MARKET")
        params["closePosition"] = "true"
    else:
        if request.quantity is None or request.quantity <= 0:
            raise ValueError("quantity must be > 0")
        # `exact(inst.format_qty, ...)` written out: two calls fewer on the order path
        qty = request.quantity
        params["quantity"] = text = inst.format_qty(qty)
        if Decimal(text) != qty:
            raise ValueError(f"quantity {qty} has more decimals than the symbol allows")
        if request.reduce_only:
            params["reduceOnly"] = "true"
    if request.type in _PRICED:
        if request.price is None:
            raise ValueError(f"{request.type} needs a price")
        params["price"] = exact(inst.format_price, request.price, "price")
        tif = request.time_in_force or TimeInForce.GTC
        if tif not in _LIMIT_TIFS:
            raise ValueError(f"time in force {tif} is not supported")
        params["timeInForce"] = tif.value
    elif request.price is not None:
        raise ValueError(f"a {request.type} order takes no price")
    return params


def exact(fmt: Callable[[Decimal], str], value: Decimal, what: str) -> str:
    """`value` as the wire string; ValueError if printing would change it (off the grid)."""
    text = fmt(value)
    if Decimal(text) != value:
        raise ValueError(f"{what} {value} has more decimals than the symbol allows")
    return text
