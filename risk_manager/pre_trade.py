"""Pure pre-trade checks: each returns None when the order passes, or the denial reason.

Amounts are Decimal USDT, quantities Decimal contracts (signed for positions: + long, - short),
percentages Decimal percent, times ms. No function here reads a clock, a file or the books:
the RiskManager gathers the inputs and decides which checks an order must pass.

Which checks apply to which order (the RiskManager's policy):
- every order: trading state, the exchange's instrument filters (LOT_SIZE / MARKET_LOT_SIZE,
  PRICE_FILTER, PERCENT_PRICE, MIN_NOTIONAL), a reduce-only order that really reduces;
- every order but the daemon's own risk-reducing ones (`RiskManager.check(risk_reducing=True)`
  with reduce-only or closePosition: a flatten while REDUCING, the position's stop-loss /
  take-profit and the market close of a level already crossed, the reduce-only order that
  closes toward a strategy's target): the price band, the orders-per-minute limit (which they
  do not count toward either) and our own count for MAX_NUM_ORDERS. Those are our soft limits
  against a runaway strategy; an order that takes risk away goes out whenever the exchange
  would take it (the exchange's own rate limits stay with the REST layer's rate governor). A
  strategy's own reduce-only `OrderProposal` is not exempt: its loop can repeat it at will,
  which is what the limit guards against;
- entries only (skipped by reduce-only / closePosition orders, which can only shrink a
  position): no market-data gap, no market data read late (a backlog), clock offset, max open
  orders (counting neither the position's stop-loss / take-profit nor the daemon's other
  risk-reducing orders nor the exchange's own: the entries' budget), order notional, position
  notional per symbol and in total, effective leverage, available margin.
"""

from decimal import Decimal

from core.enums import OrderType, Side
from core.instrument import FilterViolation, Instrument

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


# --- exposure arithmetic ----------------------------------------------------------------------


def exposure_after(
    position_qty: Decimal, side: Side, quantity: Decimal, open_same_side_qty: Decimal
) -> tuple[Decimal, Decimal]:
    """(`exposure_increase`, `projected_position`) of one order, in one call: what the
    RiskManager reads of every entry."""
    if side is Side.BUY:
        held = position_qty + open_same_side_qty  # the position once the open buys filled
        projected = held + quantity
        closable = -held  # the short left to close first
    else:
        held = position_qty - open_same_side_qty
        projected = held - quantity
        closable = held
    if closable <= 0:
        return quantity, projected
    opening = quantity - closable
    return (opening if opening > 0 else _ZERO), projected


def projected_position(
    position_qty: Decimal, side: Side, quantity: Decimal, open_same_side_qty: Decimal
) -> Decimal:
    """Signed position if this order and every open order on its side filled (worst case)."""
    return exposure_after(position_qty, side, quantity, open_same_side_qty)[1]


def exposure_increase(
    position_qty: Decimal, side: Side, quantity: Decimal, open_same_side_qty: Decimal
) -> Decimal:
    """Contracts of this order that open exposure on its side (0 if it only closes).

    A buy against a short first closes the short; only the rest (the flip) opens a long, and
    only that part needs new initial margin, as on Binance. Open orders on the same side are
    assumed filled first (worst case).
    """
    return exposure_after(position_qty, side, quantity, open_same_side_qty)[0]


# --- checks on every order -----------------------------------------------------------------------


def check_filters(
    instrument: Instrument,
    *,
    side: Side,
    order_type: OrderType,
    quantity: Decimal | None,
    price: Decimal | None,
    stop_price: Decimal | None,
    reduce_only: bool,
    close_position: bool,
    mark_price: Decimal | None,
    open_orders: int,
) -> str | None:
    """The exchange's own symbol filters (core.instrument), with Binance's code in the reason."""
    violation = instrument.check_order(
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=price,
        stop_price=stop_price,
        reduce_only=reduce_only,
        close_position=close_position,
        mark_price=mark_price,
        open_orders=open_orders,
    )
    return None if violation is None else filter_reason(violation)


def filter_reason(violation: FilterViolation) -> str:
    """The denial reason of an instrument filter's violation, with Binance's code."""
    return f"instrument filter {violation.filter_type} ({violation.code}): {violation.msg}"


def check_price_band(price: Decimal, mark_price: Decimal, band_pct: Decimal) -> str | None:
    """A limit price no further than `band_pct` percent from the mark: a fat-finger guard."""
    distance = abs(price - mark_price)
    if distance * _HUNDRED <= band_pct * mark_price:
        return None
    off_pct = distance * _HUNDRED / mark_price
    return f"price band: limit {price} is {off_pct:.2f}% from mark {mark_price} (max {band_pct}%)"


def check_reduces(side: Side, position_qty: Decimal, *, close_position: bool) -> str | None:
    """A reduce-only order must face an open position (a closePosition order may wait flat)."""
    if position_qty == 0:
        if close_position:
            return None
        return f"reduce-only {side} with no position to reduce"
    if (position_qty > 0) == (side is Side.BUY):
        held = "long" if position_qty > 0 else "short"
        return f"reduce-only {side} would increase the {held} position {position_qty}"
    return None


def check_close_position_type(order_type: OrderType) -> str | None:
    """closePosition exists only on STOP_MARKET / TAKE_PROFIT_MARKET; on anything else the
    flag would let an order skip the entry checks, and Binance refuses it anyway (-1106)."""
    if order_type is OrderType.STOP_MARKET or order_type is OrderType.TAKE_PROFIT_MARKET:
        return None
    return f"closePosition on a {order_type} order (-1106): only STOP_MARKET or TAKE_PROFIT_MARKET"


def check_order_rate(orders_in_window: int, max_per_minute: int) -> str | None:
    """`orders_in_window`: our orders counted toward the limit in the last 60 s, this one not
    included: it may be the `max_per_minute`-th."""
    if orders_in_window < max_per_minute:
        return None
    return f"max orders per minute: {orders_in_window} sent in the last 60 s (max {max_per_minute})"


# --- checks on entries only ----------------------------------------------------------------------


def check_gap(gap_open: bool) -> str | None:
    """No entries on prices we may have missed: wait until the gap is backfilled."""
    return "market-data gap open: no new entries until it is healed" if gap_open else None


def check_data_lag(lag_ms: int, max_lag_ms: int) -> str | None:
    """No entries on a view of the market `lag_ms` behind the exchange's clock: a backlog of
    market data being caught up (a daemon that was suspended or starved reads what the
    exchange sent meanwhile), or books not yet reconciled after such a pause, is not the
    market now. The reason does not quote the lag, which changes at every item: the same
    denial of a target's order is journaled once, not once an item."""
    if lag_ms <= max_lag_ms:
        return None
    return (
        f"the daemon's view is more than {max_lag_ms} ms behind the exchange (market data "
        "being caught up, or a reconciliation after a pause awaited): no new entries until "
        "it is current"
    )


def check_view_current(
    gap_open: bool, lag_ms: int, max_lag_ms: int, offset_ms: int, max_offset_ms: int
) -> str | None:
    """`check_gap`, `check_data_lag` and `check_clock_offset` (the first denial, in that
    order) in one call: the entries' checks on how current the daemon's view is."""
    return (
        check_gap(gap_open)
        or check_data_lag(lag_ms, max_lag_ms)
        or check_clock_offset(offset_ms, max_offset_ms)
    )


def check_clock_offset(offset_ms: int, max_offset_ms: int) -> str | None:
    if abs(offset_ms) <= max_offset_ms:
        return None
    return f"clock offset {offset_ms} ms exceeds {max_offset_ms} ms: no new entries"


def check_mark_known(symbol: str, mark_price: Decimal | None) -> str | None:
    """Entries are valued at the mark; without one nothing can be checked."""
    return None if mark_price is not None and mark_price > 0 else f"no mark price for {symbol} yet"


def check_open_orders(symbol: str, open_orders: int, max_open_orders: int) -> str | None:
    if open_orders < max_open_orders:
        return None
    return f"max open orders: {open_orders} open on {symbol} (max {max_open_orders})"


def check_order_notional(notional: Decimal, max_notional: Decimal) -> str | None:
    if notional <= max_notional:
        return None
    return f"order notional {notional:.2f} USDT exceeds max {max_notional} USDT"


def check_position_notional(
    symbol: str, projected_qty: Decimal, notional: Decimal, max_notional: Decimal
) -> str | None:
    """The symbol's worst-case position after the order, at the mark."""
    if notional <= max_notional:
        return None
    return (
        f"position notional {notional:.2f} USDT ({symbol} {projected_qty} incl. open orders) "
        f"exceeds max {max_notional} USDT"
    )


def check_total_notional(notional: Decimal, max_notional: Decimal) -> str | None:
    if notional <= max_notional:
        return None
    return f"total notional {notional:.2f} USDT exceeds max {max_notional} USDT"


def check_leverage(total_notional: Decimal, equity: Decimal, max_leverage: int) -> str | None:
    """Effective leverage of the account after the order: total notional / equity."""
    if equity <= 0:
        return f"leverage: equity {equity} USDT is not positive"
    if total_notional <= equity * max_leverage:
        return None
    return (
        f"leverage {total_notional / equity:.2f}x (total notional {total_notional:.2f} USDT "
        f"on equity {equity:.2f} USDT) exceeds max {max_leverage}x"
    )


def check_margin(
    required: Decimal, available: Decimal, reserve: Decimal, leverage: int
) -> str | None:
    """Initial margin of the order (notional / leverage) must fit, keeping `reserve` free."""
    if required + reserve <= available:
        return None
    return (
        f"insufficient margin: order needs {required:.2f} USDT at {leverage}x, available "
        f"{available:.2f} USDT (reserve {reserve} USDT)"
    )
