"""Exchange-side position protection: which stop-loss / take-profit orders should exist.

Pure: given the position, its entry, the mark and the protective orders already open, return
the proposals to place and the client order ids to cancel. The stop-loss is a `closePosition`
STOP_MARKET: it closes whatever the position is when it fires, so a position that shrinks
needs no new stop. Binance accepts one open closePosition stop or take-profit per symbol and
direction (-4130), so the take-profit is a reduce-only TAKE_PROFIT_MARKET for the position's
quantity, replaced whenever that quantity changes (a position larger than MARKET_LOT_SIZE's
maxQty gets as many take-profit orders at the same level as it needs, up to
`take_profit_order_cap`, and so does the market close of a level already crossed, which takes
no conditional order). A position whose average entry moves (added
to, or flipped) gets its orders replaced at the new levels; a flat one loses them. Replacing a
stop on the same side means cancelling the old one first (`core.orders.close_position_conflict`).

Trigger prices are rounded so the order fires no later than asked (`round_stop_price`): a long's
SELL stop rounds up and its SELL take-profit rounds down; a short's BUY stop rounds down and
its BUY take-profit rounds up. The orders trigger on the last trade price (workingType
CONTRACT_PRICE, Binance's default), and a level that price has already crossed would be
rejected by the exchange (-2021 "Order would immediately trigger"): the position is closed at
the market with a reduce-only order instead. The check is against the same price the exchange
checks: against the mark, a stop the last price had passed was sent and refused.
"""

from collections.abc import Iterable
from decimal import Decimal

from core.account import Position
from core.enums import OrderType, Side
from core.instrument import Instrument
from core.orders import Order, OrderProposal

_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)

# Open conditional (algo) orders, which the stop-loss and take-profit are, one account may hold
# across all its symbols (Binance since 2025-12-29; beyond: -4045 "Reach max stop order limit").
ACCOUNT_ALGO_ORDER_LIMIT = 200


def take_profit_order_cap(instrument: Instrument, symbols: int) -> int:
    """How many take-profit orders one position may have, so that its protection stays within
    Binance's limits on open conditional orders (-4045: per symbol while exchangeInfo carries
    MAX_NUM_ALGO_ORDERS, else ACCOUNT_ALGO_ORDER_LIMIT for the account, of which each of the
    `symbols` traded gets an equal share) and on open orders per symbol (MAX_NUM_ORDERS, -2025).

    A replacement places the new plan while the old one's cancels are on their way (a flip's
    stop on the other side, take-profits of a new size): both plans, each a stop and its
    take-profits, must fit at once, so (limit - 2) // 2, at least 1. The exchange refusing the
    rest would count each refusal toward the circuit breaker, and halt the daemon."""
    limit = min(ACCOUNT_ALGO_ORDER_LIMIT // max(1, symbols), instrument.max_num_orders)
    if instrument.max_num_algo_orders is not None:
        limit = min(limit, instrument.max_num_algo_orders)
    return max(1, (limit - 2) // 2)


def is_protective(order: Order) -> bool:
    """A live closing stop or take-profit: the kind of order this module manages."""
    return order.is_protective and not order.is_terminal


def on_tick_digits(instrument: Instrument, price: Decimal) -> Decimal:
    """`price` (already on the grid) with exactly the tick's decimals: 58800.00 -> 58800.0 for
    a 0.10 tick, so that str(price) is what Binance expects."""
    return price.quantize(Decimal(1).scaleb(-instrument.price_decimals))


def stop_loss_price(
    instrument: Instrument, *, long: bool, entry_price: Decimal, pct: Decimal
) -> Decimal:
    """Stop trigger `pct` percent against the position, rounded to fire no later than asked."""
    if long:
        price = instrument.round_stop_price(entry_price * (_ONE - pct / _HUNDRED), Side.SELL)
    else:
        price = instrument.round_stop_price(entry_price * (_ONE + pct / _HUNDRED), Side.BUY)
    return on_tick_digits(instrument, price)


def take_profit_price(
    instrument: Instrument, *, long: bool, entry_price: Decimal, pct: Decimal
) -> Decimal:
    """Take-profit trigger `pct` percent in favour, rounded toward the entry (fires no later).

    The take-profit triggers on the opposite move of a stop, so it rounds as a stop of the
    other side would.
    """
    if long:
        price = instrument.round_stop_price(entry_price * (_ONE + pct / _HUNDRED), Side.BUY)
    else:
        price = instrument.round_stop_price(entry_price * (_ONE - pct / _HUNDRED), Side.SELL)
    return on_tick_digits(instrument, price)


def plan_protection(
    *,
    instrument: Instrument,
    position: Position,
    entry_price: Decimal,
    existing: Iterable[Order],
    stop_loss_pct: Decimal,
    take_profit_pct: Decimal,
    trigger_price: Decimal | None,
    max_take_profits: int | None = None,
) -> tuple[list[OrderProposal], list[str]]:
    """(proposals to place, client order ids to cancel) so the position is protected.
    `trigger_price`: the price the orders trigger on (the last trade price), if known.
    `max_take_profits` (`take_profit_order_cap`): a position that would need more take-profit
    orders of maxQty than that gets that many, each of maxQty (the largest the lot filter
    allows): the rest of it has no take-profit, and its closePosition stop-loss guards it all."""
    mine = [o for o in existing if o.symbol == position.symbol and is_protective(o)]
    if position.is_flat:
        return [], [o.client_order_id for o in mine]
    if entry_price <= 0:
        raise ValueError(f"{position.symbol}: position {position.qty} has no entry price")
    long = position.qty > 0
    close_side = Side.SELL if long else Side.BUY
    size = abs(position.qty)
    # said to the tick: an average of fills does not end ("from entry 94190.33333333333333...")
    entry = instrument.format_price(entry_price)
    wanted: list[tuple[OrderType, Decimal, str]] = []
    if stop_loss_pct > 0:
        stop = stop_loss_price(instrument, long=long, entry_price=entry_price, pct=stop_loss_pct)
        wanted.append((OrderType.STOP_MARKET, stop, f"stop-loss {stop_loss_pct}%"))
    if take_profit_pct > 0:
        target = take_profit_price(
            instrument, long=long, entry_price=entry_price, pct=take_profit_pct
        )
        wanted.append((OrderType.TAKE_PROFIT_MARKET, target, f"take-profit {take_profit_pct}%"))

    if trigger_price is not None:
        for order_type, trigger, label in wanted:
            if already_crossed(order_type, long=long, trigger=trigger, price=trigger_price):
                why = (
                    f"{label} level {trigger} from entry {entry} already crossed "
                    f"(last price {trigger_price}): close at market"
                )
                closes = [
                    OrderProposal(
                        symbol=position.symbol,
                        side=close_side,
                        type=OrderType.MARKET,
                        quantity=part,
                        reduce_only=True,
                        reason=why,
                    )
                    for part in instrument.split_qty(size, OrderType.MARKET)
                ]
                return closes, [o.client_order_id for o in mine]

    proposals: list[OrderProposal] = []
    keep: set[str] = set()
    for order_type, trigger, label in wanted:
        # The stop closes the whole position; the take-profit has the position's quantity, in
        # as many orders as MARKET_LOT_SIZE's maxQty asks for.
        whole = order_type is OrderType.STOP_MARKET
        sizes = [] if whole else instrument.split_qty(size, order_type)
        if max_take_profits is not None and len(sizes) > max_take_profits:
            sizes = sizes[:max_take_profits]  # of maxQty each: the remainder came last
            label = (
                f"{label} for {sum(sizes)} of {size} (at most {max_take_profits} take-profit "
                "orders: open conditional orders are limited)"
            )
        parts: list[Decimal | None] = [None] if whole else list(sizes)
        same = [
            o
            for o in mine
            if o.type is order_type
            and o.side is close_side
            and o.close_position is whole
            and o.stop_price == trigger
        ]
        if whole and same:
            keep.add(same[0].client_order_id)
            continue
        if not whole and sorted(o.quantity for o in same) == sorted(sizes):
            keep.update(o.client_order_id for o in same)
            continue
        proposals.extend(
            OrderProposal(
                symbol=position.symbol,
                side=close_side,
                type=order_type,
                quantity=part,
                stop_price=trigger,
                reduce_only=True,
                close_position=whole,
                reason=f"{label} from entry {entry}",
            )
            for part in parts
        )
    cancels = [o.client_order_id for o in mine if o.client_order_id not in keep]
    return proposals, cancels


def already_crossed(order_type: OrderType, *, long: bool, trigger: Decimal, price: Decimal) -> bool:
    """True if the exchange fires this order at `price` (placed now: at once, -2021)."""
    if order_type is OrderType.STOP_MARKET:
        return price <= trigger if long else price >= trigger
    return price >= trigger if long else price <= trigger


def fired_at(order: Order, price: Decimal) -> bool:
    """A protective order the exchange fires at `price` (its position's side: a SELL one
    protects a long): the position it guards is closing."""
    stop = order.stop_price
    if stop is None:
        return False
    # `already_crossed(order.type, long=order.side is Side.SELL, ...)` written out: the
    # ExecManager asks this of the position's stop on every target order.
    if order.type is OrderType.STOP_MARKET:
        return price <= stop if order.side is Side.SELL else price >= stop
    return price >= stop if order.side is Side.SELL else price <= stop
