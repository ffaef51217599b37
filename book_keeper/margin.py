"""The initial margin open orders hold, as the local exchange computes it (USDT): only priced,
non reduce-only LIMIT orders; per side, the part that would add exposure beyond what closes the
position; the larger side counts; divided by the symbol's leverage."""

from collections.abc import Iterable
from decimal import Decimal

from book_keeper.symbol_book import ZERO, SymbolBook
from core.enums import OrderType, Side
from core.orders import Order


def holds_margin(o: Order) -> bool:
    """A priced, non reduce-only LIMIT order: what the exchange counts as open-order margin."""
    return o.type is OrderType.LIMIT and not o.reduce_only and o.price is not None


def open_order_margin(orders: Iterable[Order], book: SymbolBook) -> Decimal:
    """The initial margin `orders` (those that are or may be live) hold on `book`'s symbol."""
    buy_qty = buy_notional = sell_qty = sell_notional = ZERO
    for o in orders:
        price = o.price
        if o.symbol != book.symbol or price is None or not holds_margin(o):
            continue
        remaining = o.quantity - o.filled_qty
        if o.side is Side.BUY:
            buy_qty += remaining
            buy_notional += remaining * price
        else:
            sell_qty += remaining
            sell_notional += remaining * price
    buy = _side_margin(buy_qty, buy_notional, max(ZERO, -book.qty))
    sell = _side_margin(sell_qty, sell_notional, max(ZERO, book.qty))
    return max(buy, sell) / book.leverage


def _side_margin(qty: Decimal, notional: Decimal, closable: Decimal) -> Decimal:
    """Notional of the part of one side's orders that would add exposure (price-averaged)."""
    if qty <= closable or qty == 0:
        return ZERO
    return notional * (qty - closable) / qty
