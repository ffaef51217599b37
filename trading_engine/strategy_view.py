"""The account as the ExecManager's strategy sees it (`core.account.StrategyView`): the books'
figures and the strategy's own open orders, none of the orders the daemon or the exchange
placed for it."""

from collections.abc import Callable
from decimal import Decimal

from core.account import Position
from core.enums import OrderIntent
from core.orders import Order, forced_close
from trading_engine.exec_desk import Books

FLATTEN = OrderIntent.FLATTEN  # REDUCING's closes, told from the rest by the books' order


class BooksView:
    """The books' figures (their own methods, bound: no extra call on the way) and the
    strategy's open orders, that is the books' open orders but the RiskManager's stop-loss /
    take-profit, the flatten orders of REDUCING (intent FLATTEN, a restart's too) and the
    orders the exchange placed itself (liquidation)."""

    __slots__ = (
        "_book",
        "available_balance",
        "equity",
        "mark_price",
        "open_order_count",
        "position",
    )

    position: Callable[[str], Position]
    mark_price: Callable[[str], Decimal | None]
    equity: Callable[[], Decimal]
    available_balance: Callable[[], Decimal]
    open_order_count: Callable[..., int]

    def __init__(self, book: Books) -> None:
        self.position = book.position
        self.mark_price = book.mark_price
        self.equity = book.equity
        self.available_balance = book.available_balance
        self.open_order_count = book.open_order_count
        self._book = book

    def open_orders(self, symbol: str | None = None) -> tuple[Order, ...]:
        return tuple(
            o
            for o in self._book.orders.values()
            if (symbol is None or o.symbol == symbol)
            and not o.is_protective
            and forced_close(o.client_order_id) is None
            and o.intent is not FLATTEN
        )
