"""Exact trading rules of one USD-M symbol, built from its exchangeInfo entry.

One implementation serves both sides: the daemon's risk checks and the local exchange's order
validation, so they agree by construction. All arithmetic is Decimal; prices are in the quote
asset (USDT), quantities in contracts (base asset).

Rounding policy:
- Limit prices round *away from crossing*: a BUY rounds down and a SELL rounds up to the tick
  grid, so a rounded order never pays more (or receives less) than the strategy asked.
- Quantities are floored to the step, so rounding never increases exposure.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from core.enums import MARKET_LIKE_TYPES, OrderType, Side

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class FilterViolation:
    """Why an order breaks a symbol filter: the Binance filter, error code and message."""

    filter_type: str
    code: int
    msg: str


@dataclass(frozen=True, slots=True)
class LotSize:
    min_qty: Decimal
    max_qty: Decimal
    step_size: Decimal
    # maxQty floored onto the grid (min_qty + k * step): the largest quantity one order may
    # have (`Instrument.max_qty`), a constant of the filter, read on every target order.
    grid_max_qty: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        top = _snap(self.max_qty, self.min_qty, self.step_size, ROUND_FLOOR)
        object.__setattr__(self, "grid_max_qty", top)


class InstrumentError(ValueError):
    """An exchangeInfo symbol entry is missing or malformed."""


def _decimals(step: Decimal) -> int:
    """Number of decimal places of a tick or step size (0.10 -> 1, 0.001 -> 3, 1 -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _decimal_places(value: Decimal) -> int:
    """Significant decimal places of a value ("60000.10" -> 1, "60000" -> 0)."""
    if value == 0:
        return 0
    exponent = value.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _is_multiple(value: Decimal, base: Decimal, step: Decimal) -> bool:
    if step == 0:
        return True
    return (value - base) % step == 0


def _snap(value: Decimal, base: Decimal, step: Decimal, rounding: str) -> Decimal:
    """Move `value` onto the grid base + k*step in the given rounding direction."""
    if step == 0:
        return value
    k = ((value - base) / step).to_integral_value(rounding=rounding)
    return (base + k * step).quantize(step)


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    symbol: str
    base_asset: str
    quote_asset: str
    margin_asset: str
    status: str
    contract_type: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    lot: LotSize
    market_lot: LotSize
    min_notional: Decimal
    max_num_orders: int
    max_num_algo_orders: int | None
    multiplier_up: Decimal
    multiplier_down: Decimal
    multiplier_decimal: int
    price_precision: int  # display precision from exchangeInfo, not the tick
    quantity_precision: int
    trigger_protect: Decimal
    liquidation_fee: Decimal
    market_take_bound: Decimal
    # Decimal places of the tick and of both lot steps, derived once: the filters never change,
    # and these are read on every order check and every formatted price or quantity.
    _price_decimals: int = field(init=False, repr=False, compare=False)
    _lot_decimals: int = field(init=False, repr=False, compare=False)
    _market_lot_decimals: int = field(init=False, repr=False, compare=False)
    # Per lot filter: a quantity on its grid (min_qty + k * step) has no more decimals than the
    # step, because min_qty has none more (true of every Binance symbol; checked, not assumed):
    # then the precision check (-1111) cannot fail for it (check_qty's fast path).
    _lot_grid_exact: bool = field(init=False, repr=False, compare=False)
    _market_lot_grid_exact: bool = field(init=False, repr=False, compare=False)
    # The same of the price filter (min_price + k * tick): check_price's fast path.
    _price_grid_exact: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_price_decimals", _decimals(self.tick_size))
        object.__setattr__(self, "_lot_decimals", _decimals(self.lot.step_size))
        object.__setattr__(self, "_market_lot_decimals", _decimals(self.market_lot.step_size))
        object.__setattr__(self, "_lot_grid_exact", _grid_exact(self.lot))
        object.__setattr__(self, "_market_lot_grid_exact", _grid_exact(self.market_lot))
        object.__setattr__(
            self,
            "_price_grid_exact",
            self.tick_size > 0
            and (self.min_price == 0 or _decimal_places(self.min_price) <= self._price_decimals),
        )

    # --- construction -------------------------------------------------------------------

    @classmethod
    def from_exchange_info(cls, entry: Mapping[str, Any]) -> "Instrument":
        """Build from one element of exchangeInfo `symbols`; raise InstrumentError if malformed."""
        symbol = entry.get("symbol", "?")
        try:
            filters = {f["filterType"]: f for f in entry["filters"]}
            price = filters["PRICE_FILTER"]
            lot = filters["LOT_SIZE"]
            market_lot = filters.get("MARKET_LOT_SIZE", lot)
            percent = filters.get("PERCENT_PRICE", {})
            algo = filters.get("MAX_NUM_ALGO_ORDERS")
            return cls(
                symbol=entry["symbol"],
                base_asset=entry["baseAsset"],
                quote_asset=entry["quoteAsset"],
                margin_asset=entry.get("marginAsset", entry["quoteAsset"]),
                status=entry.get("status", "TRADING"),
                contract_type=entry.get("contractType", "PERPETUAL"),
                tick_size=Decimal(price["tickSize"]),
                min_price=Decimal(price["minPrice"]),
                max_price=Decimal(price["maxPrice"]),
                lot=_lot(lot),
                market_lot=_lot(market_lot),
                min_notional=Decimal(filters.get("MIN_NOTIONAL", {}).get("notional", "0")),
                max_num_orders=int(filters.get("MAX_NUM_ORDERS", {}).get("limit", 200)),
                max_num_algo_orders=int(algo["limit"]) if algo else None,
                multiplier_up=Decimal(percent.get("multiplierUp", "0")),
                multiplier_down=Decimal(percent.get("multiplierDown", "0")),
                multiplier_decimal=int(percent.get("multiplierDecimal", 4)),
                price_precision=int(entry.get("pricePrecision", 8)),
                quantity_precision=int(entry.get("quantityPrecision", 8)),
                trigger_protect=Decimal(entry.get("triggerProtect", "0")),
                liquidation_fee=Decimal(entry.get("liquidationFee", "0")),
                market_take_bound=Decimal(entry.get("marketTakeBound", "0")),
            )
        except (KeyError, TypeError, InvalidOperation, ValueError) as e:
            raise InstrumentError(
                f"exchangeInfo entry for {symbol} is malformed: {type(e).__name__}: {e}"
            ) from e

    # --- grid arithmetic ------------------------------------------------------------------

    @property
    def price_decimals(self) -> int:
        return self._price_decimals

    @property
    def qty_decimals(self) -> int:
        return self._lot_decimals

    def lot_for(self, order_type: OrderType) -> LotSize:
        """MARKET_LOT_SIZE for market-like orders, LOT_SIZE for the rest (as Binance)."""
        return self.market_lot if order_type in MARKET_LIKE_TYPES else self.lot

    def round_price(self, price: Decimal, side: Side) -> Decimal:
        """Snap a limit price to the tick grid without crossing more than asked."""
        rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
        return _snap(price, self.min_price, self.tick_size, rounding)

    def round_stop_price(self, price: Decimal, side: Side) -> Decimal:
        """Snap a stop trigger so it fires no later than asked: a BUY stop down, a SELL stop up."""
        return self.round_price(price, side)

    def floor_qty(self, qty: Decimal, order_type: OrderType = OrderType.LIMIT) -> Decimal:
        """Floor a quantity to the step of the lot filter that applies to `order_type`."""
        lot = self.market_lot if order_type in MARKET_LIKE_TYPES else self.lot  # lot_for's
        if qty <= 0:
            return _ZERO.quantize(lot.step_size)
        step = lot.step_size
        if qty >= lot.min_qty and step and (qty - lot.min_qty) % step == 0:
            return qty.quantize(step)  # already on the grid (the common case): what _snap gives
        return (
            _snap(qty, lot.min_qty, lot.step_size, ROUND_FLOOR)
            if qty >= lot.min_qty
            else (_snap(qty, _ZERO, lot.step_size, ROUND_FLOOR))
        )

    def max_qty(self, order_type: OrderType = OrderType.LIMIT) -> Decimal:
        """The largest quantity one `order_type` order may have: the lot filter's maxQty,
        floored onto its step grid (computed once, with the instrument)."""
        return (self.market_lot if order_type in MARKET_LIKE_TYPES else self.lot).grid_max_qty

    def split_qty(self, qty: Decimal, order_type: OrderType = OrderType.LIMIT) -> list[Decimal]:
        """`qty`, floored to the step, as the quantities of as few `order_type` orders as the
        lot filter allows: orders of maxQty (`max_qty`) and the rest last. A position larger
        than maxQty cannot be closed by one order (-4005). A rest below minQty takes what it
        lacks from the order before it (then both are on the grid and within the filter).
        Empty for less than one step."""
        lot = self.lot_for(order_type)
        total = self.floor_qty(qty, order_type)
        if total <= 0:
            return []
        top = self.max_qty(order_type)
        if total <= top or top <= 0:
            return [total]
        whole, rest = divmod(total, top)
        pieces = [top] * int(whole)
        if rest > 0:
            if rest < lot.min_qty:
                lack = lot.min_qty - rest
                pieces[-1] -= lack
                rest += lack
            pieces.append(rest.quantize(lot.step_size))
        return pieces

    def format_price(self, price: Decimal) -> str:
        """Fixed-point string with the tick's decimals, never exponent notation."""
        return f"{price:.{self._price_decimals}f}"  # price_decimals, without its call

    @property
    def wire_price_decimals(self) -> int:
        """Decimals Binance prints prices with in order and trade bodies: `pricePrecision`, at
        least the tick's (BTCUSDT, tick 0.10 and pricePrecision 2: "110001.00")."""
        return max(self.price_decimals, self.price_precision)

    def format_wire_price(self, price: Decimal) -> str:
        """A price as the exchange prints it in responses and events (see wire_price_decimals)."""
        return f"{price:.{self.wire_price_decimals}f}"

    def format_qty(self, qty: Decimal) -> str:
        return f"{qty:.{self._lot_decimals}f}"  # qty_decimals, without the property's call

    def to_ticks(self, price: Decimal) -> int:
        """Price as an integer number of ticks; raises if off the grid."""
        ticks, rest = divmod(price, self.tick_size)
        if rest != 0:
            raise ValueError(f"{self.symbol}: price {price} is not a multiple of {self.tick_size}")
        return int(ticks)

    def from_ticks(self, ticks: int) -> Decimal:
        return (self.tick_size * ticks).quantize(self.tick_size)

    def to_steps(self, qty: Decimal) -> int:
        steps, rest = divmod(qty, self.lot.step_size)
        if rest != 0:
            raise ValueError(
                f"{self.symbol}: quantity {qty} is not a multiple of {self.lot.step_size}"
            )
        return int(steps)

    def from_steps(self, steps: int) -> Decimal:
        return (self.lot.step_size * steps).quantize(self.lot.step_size)

    # --- validation -------------------------------------------------------------------------

    def check_price(self, price: Decimal, field: str = "price") -> FilterViolation | None:
        """PRICE_FILTER for a limit or stop price."""
        # The common case first (as check_qty): in range and on the grid passes every check
        # below, the precision one too when the grid is exact, without counting decimals.
        if (
            self._price_grid_exact
            and price > 0
            and (not self.min_price or price >= self.min_price)
            and (not self.max_price or price <= self.max_price)
            and (price - self.min_price) % self.tick_size == 0  # _is_multiple
        ):
            return None
        stop = field != "price"
        if _decimal_places(price) > self.price_decimals:
            return FilterViolation(
                "PRICE_FILTER", -1111, "Precision is over the maximum defined for this asset."
            )
        if price <= 0:
            if stop:
                return FilterViolation("PRICE_FILTER", -4006, "Stop price less than zero.")
            return FilterViolation("PRICE_FILTER", -4001, "Price less than 0.")
        if self.min_price and price < self.min_price:
            return FilterViolation("PRICE_FILTER", -4013, "Price less than min price.")
        if self.max_price and price > self.max_price:
            if stop:
                return FilterViolation("PRICE_FILTER", -4007, "Stop price greater than max price.")
            return FilterViolation("PRICE_FILTER", -4002, "Price greater than max price.")
        if not _is_multiple(price, self.min_price, self.tick_size):
            return FilterViolation("PRICE_FILTER", -4014, "Price not increased by tick size.")
        return None

    def check_qty(
        self, qty: Decimal, order_type: OrderType = OrderType.LIMIT
    ) -> FilterViolation | None:
        """LOT_SIZE (or MARKET_LOT_SIZE for market-like orders)."""
        market = order_type in MARKET_LIKE_TYPES
        lot = self.market_lot if market else self.lot
        # The common case first: within [min_qty, max_qty] and on the grid passes every check
        # below (the precision one too, when the grid is exact), without counting decimals.
        if (
            0 < lot.min_qty <= qty <= lot.max_qty
            and (self._market_lot_grid_exact if market else self._lot_grid_exact)
            and (not lot.step_size or (qty - lot.min_qty) % lot.step_size == 0)  # _is_multiple
        ):
            return None
        name = "MARKET_LOT_SIZE" if market else "LOT_SIZE"
        step_decimals = self._market_lot_decimals if market else self._lot_decimals
        if _decimal_places(qty) > step_decimals:
            return FilterViolation(
                name, -1111, "Precision is over the maximum defined for this asset."
            )
        if qty <= 0:
            return FilterViolation(name, -4003, "Quantity less than or equal to zero.")
        if lot.min_qty and qty < lot.min_qty:
            return FilterViolation(name, -4004, "Quantity less than min quantity.")
        if lot.max_qty and qty > lot.max_qty:
            return FilterViolation(name, -4005, "Quantity greater than max quantity.")
        if not _is_multiple(qty, lot.min_qty, lot.step_size):
            return FilterViolation(name, -4023, "Quantity not increased by step size.")
        return None

    def check_percent_price(
        self, side: Side, price: Decimal, mark_price: Decimal
    ) -> FilterViolation | None:
        """PERCENT_PRICE: a BUY may not exceed mark*up, a SELL may not go below mark*down."""
        if side is Side.BUY and self.multiplier_up:
            cap = mark_price * self.multiplier_up
            if price > cap:
                shown = self.format_price(_snap(cap, _ZERO, self.tick_size, ROUND_FLOOR))
                return FilterViolation(
                    "PERCENT_PRICE", -4016, f"Limit price can't be higher than {shown}."
                )
        if side is Side.SELL and self.multiplier_down:
            floor = mark_price * self.multiplier_down
            if price < floor:
                shown = self.format_price(_snap(floor, _ZERO, self.tick_size, ROUND_CEILING))
                return FilterViolation(
                    "PERCENT_PRICE", -4024, f"Limit price can't be lower than {shown}."
                )
        return None

    def check_min_notional(self, notional: Decimal) -> FilterViolation | None:
        if self.min_notional and notional < self.min_notional:
            return FilterViolation(
                "MIN_NOTIONAL",
                -4164,
                f"Order's notional must be no smaller than {self.min_notional} "
                "(unless you choose reduce only).",
            )
        return None

    def check_order(
        self,
        *,
        side: Side,
        order_type: OrderType,
        quantity: Decimal | None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
        reduce_only: bool = False,
        close_position: bool = False,
        mark_price: Decimal | None = None,
        open_orders: int = 0,
    ) -> FilterViolation | None:
        """The first filter an order violates, in the order Binance checks them; None if valid.

        `mark_price` enables PERCENT_PRICE and the MARKET notional check; `open_orders` is the
        account's open-order count on this symbol (normal + algo) for MAX_NUM_ORDERS.
        """
        if price is not None and (v := self.check_price(price)):
            return v
        if stop_price is not None and (v := self.check_price(stop_price, "stopPrice")):
            return v
        if not close_position:
            if quantity is None:
                return FilterViolation(
                    "LOT_SIZE",
                    -1102,
                    "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
                )
            if v := self.check_qty(quantity, order_type):
                return v
        if (
            price is not None
            and mark_price is not None
            and order_type is not OrderType.MARKET
            and (v := self.check_percent_price(side, price, mark_price))
        ):
            return v
        if not reduce_only and not close_position and quantity is not None:
            reference = price if price is not None else mark_price
            if reference is not None and (v := self.check_min_notional(reference * quantity)):
                return v
        if open_orders >= self.max_num_orders:
            return FilterViolation("MAX_NUM_ORDERS", -2025, "Reach max open order limit.")
        return None


def _grid_exact(lot: LotSize) -> bool:
    """Whether every quantity on the lot's grid has at most the step's decimals."""
    return lot.min_qty == 0 or _decimal_places(lot.min_qty) <= _decimals(lot.step_size)


def _lot(f: Mapping[str, Any]) -> LotSize:
    return LotSize(
        min_qty=Decimal(f["minQty"]), max_qty=Decimal(f["maxQty"]), step_size=Decimal(f["stepSize"])
    )
