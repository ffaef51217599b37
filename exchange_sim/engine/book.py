"""`SymbolBook`: one symbol's market state and our resting orders, in integer ticks and steps.

It answers "what does this price reach" and "what liquidity can a taker take"; it never books a
fill itself (the engine does, through the ledger). Resting orders are kept per price level in
time priority; the recorded book (depth or bookTicker) is what our taker orders eat.

`lo`/`hi` are the hot-path thresholds: a trade at price p (ticks) needs work only when p < lo (it
reaches a resting bid or a falling trigger) or p > hi (a resting ask or a rising trigger). They
are recomputed (`refresh`) whenever resting orders or CONTRACT_PRICE triggers change.
"""

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from core.instrument import Instrument
from exchange_sim.engine.config import Bracket
from exchange_sim.engine.fmt import ZERO
from exchange_sim.engine.state import NEG, POS, Order
from exchange_sim.engine.triggers import SymbolTriggers


class SymbolBook:
    """Per-symbol market state, our resting book and the recorded liquidity (ticks, steps)."""

    __slots__ = (
        "ask_levels",
        "asks",
        "bid_levels",
        "bids",
        "book_ticker_levels",
        "book_time",
        "book_touch",
        "brackets",
        "depth_known",
        "funding_rate",
        "hi",
        "index_price",
        "inst",
        "last_ticks",
        "last_time",
        "lo",
        "mark",
        "mark_time",
        "next_funding_time",
        "next_order_id",
        "next_trade_id",
        "orders",
        "recorded_top",
        "step_cache",
        "tick_cache",
        "touch",
        "triggers",
    )

    def __init__(
        self,
        inst: Instrument,
        brackets: tuple[Bracket, ...],
        triggers: SymbolTriggers,
        *,
        touch: bool,
        book_ticker_levels: int,
    ) -> None:
        self.inst = inst
        self.brackets = brackets
        self.triggers = triggers  # this symbol's armed conditionals (owned by the TriggerBook)
        self.touch = touch  # fill_mode "touch": a trade at our price fills us
        self.book_ticker_levels = book_ticker_levels
        self.orders: dict[int, Order] = {}  # every order of the symbol, by orderId (history)
        self.bids: dict[int, list[Order]] = {}
        self.asks: dict[int, list[Order]] = {}
        self.lo = NEG
        self.hi = POS
        self.last_ticks: int | None = None
        self.last_time = 0
        self.mark: Decimal | None = None
        self.index_price: Decimal | None = None
        self.funding_rate = ZERO
        self.next_funding_time = 0
        self.mark_time = 0
        # Recorded book for taker fills: [[ticks, steps], ...], bids descending, asks ascending.
        self.bid_levels: list[list[int]] = []
        self.ask_levels: list[list[int]] = []
        self.book_touch: tuple[int, int, int, int] | None = None  # bookTicker, expanded lazily
        self.depth_known = False
        self.recorded_top: tuple[Decimal, Decimal, Decimal, Decimal] | None = None
        self.book_time = 0
        self.tick_cache: dict[Decimal, int] = {}  # recorded price -> ticks
        self.step_cache: dict[Decimal, int] = {}  # recorded quantity -> steps
        self.next_order_id = 4_000_000_001
        self.next_trade_id = 5_000_000_001

    # --- ids and prices ------------------------------------------------------------------------

    def new_order_id(self) -> int:
        self.next_order_id += 1
        return self.next_order_id - 1

    def new_trade_id(self) -> int:
        self.next_trade_id += 1
        return self.next_trade_id - 1

    def last_price(self) -> Decimal | None:
        return None if self.last_ticks is None else self.inst.from_ticks(self.last_ticks)

    def ref_price(self) -> Decimal | None:
        """Mark price, else the last trade price: what margin and notional checks value at."""
        if self.mark is not None:
            return self.mark
        if self.last_ticks is not None:
            return self.inst.from_ticks(self.last_ticks)
        return None

    def market_cap(self, is_buy: bool) -> int | None:
        """Worst price (ticks) a MARKET order may reach: mark * (1 +- marketTakeBound)."""
        if self.mark is None:
            return None
        inst = self.inst
        bound = inst.market_take_bound
        if bound:
            factor = (1 + bound) if is_buy else (1 - bound)
        else:
            factor = inst.multiplier_up if is_buy else inst.multiplier_down
            if not factor:
                return None
        rounding = ROUND_FLOOR if is_buy else ROUND_CEILING
        return int((self.mark * factor / inst.tick_size).to_integral_value(rounding=rounding))

    # --- our resting orders ----------------------------------------------------------------------

    def best_bid(self) -> int:
        return max(self.bids) if self.bids else NEG

    def best_ask(self) -> int:
        return min(self.asks) if self.asks else POS

    def rest(self, o: Order) -> None:
        book = self.bids if o.is_buy else self.asks
        book.setdefault(o.price_ticks, []).append(o)
        self.refresh()

    def unrest(self, o: Order) -> None:
        book = self.bids if o.is_buy else self.asks
        queue = book.get(o.price_ticks)
        if queue and o in queue:
            queue.remove(o)
            if not queue:
                del book[o.price_ticks]
            self.refresh()

    def refresh(self) -> None:
        """Recompute the hot-path thresholds from resting orders and CONTRACT_PRICE triggers."""
        bid = self.best_bid()
        ask = self.best_ask()
        if self.touch:
            lo = bid + 1 if bid != NEG else NEG
            hi = ask - 1 if ask != POS else POS
        else:
            lo, hi = bid, ask
        for algo in self.triggers.contract:
            algo_lo, algo_hi = algo.thresholds()
            lo = max(lo, algo_lo)
            hi = min(hi, algo_hi)
        self.lo = lo
        self.hi = hi

    def reached_levels(self, p: int, *, bids: bool) -> list[int]:
        """Resting price levels a recorded trade at p ticks fills, best first (maker fills)."""
        touch = self.touch
        if bids:
            if not self.bids or not (p <= self.best_bid() if touch else p < self.best_bid()):
                return []
            return sorted((k for k in self.bids if (k >= p if touch else k > p)), reverse=True)
        if not self.asks or not (p >= self.best_ask() if touch else p > self.best_ask()):
            return []
        return sorted(k for k in self.asks if (k <= p if touch else k < p))

    # --- recorded liquidity for takers -----------------------------------------------------------

    def set_touch(
        self, bid: Decimal, bid_qty: Decimal, ask: Decimal, ask_qty: Decimal, time_ms: int
    ) -> None:
        """A recorded bookTicker (USDT, contracts); expanded into levels when a taker needs it."""
        inst = self.inst
        step = inst.lot.step_size
        self.book_touch = (
            inst.to_ticks(bid),
            int(bid_qty / step),
            inst.to_ticks(ask),
            int(ask_qty / step),
        )
        self.recorded_top = (bid, bid_qty, ask, ask_qty)
        self.book_time = time_ms

    def set_depth(
        self,
        bids: Sequence[tuple[Decimal, Decimal]],
        asks: Sequence[tuple[Decimal, Decimal]],
        time_ms: int,
    ) -> None:
        """Full recorded book levels (price, qty), best first; replaces the previous book."""
        inst = self.inst
        step = inst.lot.step_size
        self.bid_levels = [[inst.to_ticks(p), int(q / step)] for p, q in bids if q > 0]
        self.ask_levels = [[inst.to_ticks(p), int(q / step)] for p, q in asks if q > 0]
        self.bid_levels.sort(key=lambda lv: -lv[0])
        self.ask_levels.sort(key=lambda lv: lv[0])
        self.book_touch = None
        self.depth_known = True
        if self.bid_levels and self.ask_levels:
            b, a = self.bid_levels[0], self.ask_levels[0]
            self.recorded_top = (
                inst.from_ticks(b[0]),
                inst.from_steps(b[1]),
                inst.from_ticks(a[0]),
                inst.from_steps(a[1]),
            )
        self.book_time = time_ms

    def levels(self, taker_is_buy: bool) -> list[list[int]]:
        """The recorded opposite side as [[ticks, steps], ...], best first (mutable: we eat it)."""
        if self.book_touch is not None:
            self._apply_touch()
        levels = self.ask_levels if taker_is_buy else self.bid_levels
        if not levels and not self.depth_known and self.last_ticks is not None:
            # No book data at all: the last trade price with unlimited quantity.
            return [[self.last_ticks, POS]]
        return levels

    def _apply_touch(self) -> None:
        touch = self.book_touch
        assert touch is not None
        bid_t, bid_q, ask_t, ask_q = touch
        self.book_touch = None
        if self.depth_known:
            self.bid_levels = _merge_top(self.bid_levels, bid_t, bid_q, descending=True)
            self.ask_levels = _merge_top(self.ask_levels, ask_t, ask_q, descending=False)
            return
        n = self.book_ticker_levels
        self.bid_levels = [[bid_t - k, bid_q] for k in range(n)] if bid_q > 0 else []
        self.ask_levels = [[ask_t + k, ask_q] for k in range(n)] if ask_q > 0 else []

    def best_opposite(self, taker_is_buy: bool) -> int | None:
        levels = self.levels(taker_is_buy)
        return levels[0][0] if levels else None

    def fillable_steps(self, is_buy: bool, limit: int | None) -> int:
        total = 0
        for ticks, steps in self.levels(is_buy):
            if limit is not None and (ticks > limit if is_buy else ticks < limit):
                break
            total += steps
        return total


def _merge_top(
    levels: list[list[int]], ticks: int, steps: int, *, descending: bool
) -> list[list[int]]:
    """Put a bookTicker touch on top of a depth side: drop better levels, set the touch qty."""
    if descending:
        kept = [lv for lv in levels if lv[0] < ticks]
    else:
        kept = [lv for lv in levels if lv[0] > ticks]
    if steps > 0:
        kept.insert(0, [ticks, steps])
    return kept


__all__ = ["SymbolBook"]
