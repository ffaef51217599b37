"""`Engine`: the matching engine, composed of a book per symbol, a ledger, a trigger book, timers.

Each component keeps its own state and gets its collaborators through its constructor:
- `SymbolBook` (book.py): market state, our resting orders and the recorded liquidity of one
  symbol, in integer ticks and steps; the hot-path thresholds.
- `Ledger` (ledger.py): accounts, wallet, positions, fees, funding, margin checks.
- `TriggerBook` (triggers.py): conditional (algo) orders armed on the last or the mark price.
- `Timers` (timers.py): countdownCancelAll, GTD expiry, funding instants.
- `UserEvents` (events.py): what each account's user-data stream hears.

The engine itself is the order flow between them: accept, match, fill, rest, expire, trigger,
liquidate; and the recorded market data that drives it. Everything runs at the clock's current
time; market-data entry points move the clock forward first (never back).
"""

import re
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np

from core.account import Balance
from core.account import Position as CorePosition
from core.clock import SimClock
from core.enums import (
    TEXT,
    AlgoStatus,
    ExecutionType,
    ExpiryReason,
    MarginType,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from core.events import Event
from core.instrument import Instrument
from core.orders import Fill, OrderRequest
from core.orders import Order as CoreOrder
from exchange_sim.engine.book import SymbolBook
from exchange_sim.engine.config import EngineConfig, FillMode
from exchange_sim.engine.events import OrderUpdate, UserEvents
from exchange_sim.engine.ledger import Ledger
from exchange_sim.engine.reports import AlgoReport, Report, algo_report, report
from exchange_sim.engine.request import NewOrder
from exchange_sim.engine.state import POS, Account, Algo, Income, Order, UserTrade
from exchange_sim.engine.timers import COUNTDOWN, GTD, Timers
from exchange_sim.engine.triggers import TriggerBook
from exchange_sim.engine.typed import core_algo_order, core_events, core_fill, core_order
from exchange_sim.errors import BinanceError

_CHUNK = 8192
_CACHE_LIMIT = 65536
_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_MARKET_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
_PRICED = (OrderType.LIMIT, OrderType.STOP, OrderType.TAKE_PROFIT)
_STOP_PRICED = (
    OrderType.STOP,
    OrderType.STOP_MARKET,
    OrderType.TAKE_PROFIT,
    OrderType.TAKE_PROFIT_MARKET,
)
CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
# What Binance keeps of finished orders (protocol reference 6.4, "Retention"): one CANCELED or
# EXPIRED without a fill is no longer found once 3 days old, any order once 90 days old.
NO_FILL_RETENTION_MS = 3 * 86_400_000
ORDER_RETENTION_MS = 90 * 86_400_000
# userTrades serves "only the last 6 months" (6.9), income "only the last 3 months" (7.8);
# a month taken as 30 days, as the 90 days of orders are.
TRADE_RETENTION_MS = 180 * 86_400_000
INCOME_RETENTION_MS = 90 * 86_400_000
FORGET_EVERY_MS = 3_600_000  # `forget_old_orders` looks at most this often (exchange time)


class Engine:
    """Accounts, matching, margin, funding and liquidation, driven by recorded market data.

    No I/O and no wall clock: time is the injected SimClock.
    """

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        clock: SimClock,
        config: EngineConfig | None = None,
    ) -> None:
        cfg = config or EngineConfig()
        self.config = cfg
        self.clock = clock
        self.triggers = TriggerBook(instruments)
        self.books: dict[str, SymbolBook] = {
            name: SymbolBook(
                inst,
                cfg.brackets_for(name),
                self.triggers.by_symbol[name],
                touch=cfg.fill_mode is FillMode.TOUCH,
                book_ticker_levels=cfg.book_ticker_levels,
            )
            for name, inst in instruments.items()
        }
        self.ledger = Ledger(cfg, self.books)
        self.timers = Timers(clock.now_ms(), cfg.funding_interval_ms)
        self.events = UserEvents(cfg, clock, self.books, self.ledger)
        # Cached copy of timers.next_ms: the hot path compares every trade's time with it.
        self._next_timer_ms = self.timers.next_ms
        self._next_liq_id = 1
        self._client_id_seq = 0
        self._next_forget_ms = clock.now_ms() + FORGET_EVERY_MS

    # --- lookups -----------------------------------------------------------------------------

    def book(self, symbol: str | None) -> SymbolBook:
        """The symbol's book, or BinanceError -1121."""
        b = self.books.get(symbol or "")
        if b is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return b

    def account(self, account_id: str) -> Account:
        return self.ledger.account(account_id)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def create_account(self, account_id: str, wallet: Decimal) -> Account:
        return self.ledger.open_account(account_id, wallet, self.clock.now_ms())

    def open_count(self, acct: Account, symbol: str) -> int:
        """Open orders plus open conditionals of the symbol (MAX_NUM_ORDERS filter)."""
        count = len(acct.open_orders.get(symbol, ()))
        for a in acct.open_algos.values():  # a loop, not sum() over a generator: 2 calls fewer
            if a.symbol == symbol:
                count += 1
        return count

    def find_order(
        self, acct: Account, symbol: str, order_id: int | None, client_id: str | None
    ) -> Order | None:
        if order_id is not None:
            o = self.books[symbol].orders.get(order_id)
        else:
            o = acct.client_orders.get((symbol, client_id or ""))
        if o is None or o.account is not acct:
            return None
        return o

    def generate_client_id(self) -> str:
        """22 alphanumeric chars, as Binance generates; deterministic (no randomness)."""
        self._client_id_seq += 1
        n = self._client_id_seq * 2654435761 + 0x5DEECE66D
        chars = []
        for _ in range(22):
            n, r = divmod(n * 6364136223846793005 + 1442695040888963407, 62)
            chars.append(_ID_ALPHABET[r])
            n %= 1 << 64
        return "".join(chars)

    def client_id_taken(self, acct: Account, symbol: str, client_id: str, *, algo: bool) -> bool:
        """-4116: the id is in use by an open order of the symbol (or an open conditional)."""
        if algo:
            return any(a.client_id == client_id for a in acct.open_algos.values())
        return any(o.client_id == client_id for o in acct.open_orders.get(symbol, {}).values())

    # --- checks before an order is accepted ------------------------------------------------------

    def check_filters(
        self,
        acct: Account,
        b: SymbolBook,
        *,
        side: Side,
        order_type: OrderType,
        quantity: Decimal | None,
        price: Decimal | None,
        stop_price: Decimal | None,
        reduce_only: bool,
        close_position: bool,
    ) -> None:
        """The instrument filters (core.instrument.check_order) at the current mark price."""
        violation = b.inst.check_order(
            side=side,
            order_type=order_type,
            quantity=quantity,
            price=price,
            stop_price=stop_price,
            reduce_only=reduce_only,
            close_position=close_position,
            mark_price=b.ref_price(),
            open_orders=self.open_count(acct, b.inst.symbol),
        )
        if violation is not None:
            raise BinanceError(violation.code, violation.msg)

    def check_trigger(self, req: NewOrder) -> None:
        """-2021 when the stop/take-profit condition already holds at placement."""
        b = req.s
        ref = b.mark if req.working_type is WorkingType.MARK_PRICE else b.last_price()
        if req.type is OrderType.TRAILING_STOP_MARKET:
            self._check_activation(req, ref)
            return
        if ref is None or req.stop_price is None:
            return
        is_stop = req.type in (OrderType.STOP, OrderType.STOP_MARKET)
        rises = is_stop == (req.side is Side.BUY)
        if (rises and ref >= req.stop_price) or (not rises and ref <= req.stop_price):
            raise BinanceError(-2021, "Order would immediately trigger.")

    def _check_activation(self, req: NewOrder, ref: Decimal | None) -> None:
        """Trailing stop: BUY needs activatePrice < latest, SELL > latest (-2021); without one,
        the order activates at the latest price, which must then be known (-1102)."""
        if req.activate_price is None:
            if ref is None:
                raise BinanceError(
                    -1102,
                    "Mandatory parameter 'activatePrice' was not sent, was empty/null, "
                    "or malformed.",
                )
            return
        if req.s.inst.check_price(req.activate_price, "activatePrice") is not None:
            raise BinanceError(-4135, "Invalid activation price.")
        if ref is None:
            return
        if (req.side is Side.BUY and req.activate_price >= ref) or (
            req.side is Side.SELL and req.activate_price <= ref
        ):
            raise BinanceError(-2021, "Order would immediately trigger.")

    def _check_reduce_only(self, acct: Account, req: NewOrder) -> None:
        pos = acct.positions.get(req.s.inst.symbol)
        amt = pos.amt if pos else Decimal(0)
        if amt == 0 or (amt > 0) == (req.side is Side.BUY):
            raise BinanceError(-2022, "ReduceOnly Order is rejected.")

    def _estimate_price(self, req: NewOrder) -> Decimal | None:
        b = req.s
        if req.price is not None:
            return req.price
        best = b.best_opposite(req.side is Side.BUY)
        if best is not None:
            return b.inst.from_ticks(best)
        return b.ref_price()

    def check_reduce_only_or_margin(self, acct: Account, req: NewOrder) -> None:
        """-2022 for a reduce-only order that cannot reduce, else -2027 / -2019 (margin)."""
        if req.reduce_only:
            self._check_reduce_only(acct, req)
            return
        est = self._estimate_price(req)
        if est is not None and req.quantity is not None:
            self.ledger.check_margin(
                acct,
                req.s.inst.symbol,
                req.side is Side.BUY,
                req.quantity,
                est,
                immediate=req.type is OrderType.MARKET,
            )

    def _checks_before_matching(self, acct: Account, req: NewOrder) -> int | None:
        """-4131, -2022, -2019, -5021, -5022 for a LIMIT/MARKET order; returns the MARKET cap."""
        b = req.s
        inst = b.inst
        is_buy = req.side is Side.BUY
        cap = None
        if req.type is OrderType.MARKET:
            cap = b.market_cap(is_buy)
            best = b.best_opposite(is_buy)
            if cap is not None and best is not None and (best > cap if is_buy else best < cap):
                raise BinanceError(
                    -4131,
                    "The counterparty's best price does not meet the PERCENT_PRICE filter limit.",
                )
        self.check_reduce_only_or_margin(acct, req)
        if req.type is OrderType.LIMIT and req.price is not None:
            limit = inst.to_ticks(req.price)
            if req.tif is TimeInForce.FOK:
                steps = inst.to_steps(req.quantity or Decimal(0))
                if b.fillable_steps(is_buy, limit) < steps:
                    raise BinanceError(
                        -5021,
                        "Due to the order could not be filled immediately, the FOK order has "
                        "been rejected. The order will not be recorded in the order history",
                    )
            if req.tif is TimeInForce.GTX:
                best = b.best_opposite(is_buy)
                if best is not None and (best <= limit if is_buy else best >= limit):
                    raise BinanceError(
                        -5022,
                        "Due to the order could not be executed as maker, the Post Only order "
                        "will be rejected. The order will not be recorded in the order history",
                    )
        return cap

    # --- placing orders ------------------------------------------------------------------------

    def place(self, acct: Account, req: NewOrder) -> tuple[Order, Order]:
        """Accept a validated LIMIT/MARKET order (or a legacy conditional) and match it.

        Returns (the order as acknowledged, the order now): the acknowledgement is a copy taken
        right after acceptance, before any fill.
        """
        if req.type.is_conditional:
            o = self._place_legacy_conditional(acct, req)
            return o, o
        b = req.s
        cap = self._checks_before_matching(acct, req)
        o = self._make_order(acct, req, b.inst.to_steps(req.quantity or Decimal(0)))
        self._register(o)
        self.events.order_update(o, ExecutionType.NEW)
        ack = o.snapshot()
        self._execute(o, b, cap)
        return ack, o

    def _make_order(self, acct: Account, req: NewOrder, qty_steps: int) -> Order:
        b = req.s
        inst = b.inst
        price = req.price if req.price is not None else Decimal(0)
        o = Order(
            account=acct,
            symbol=inst.symbol,
            order_id=b.new_order_id(),
            client_id=req.client_id,
            side=TEXT[req.side],
            type=TEXT[req.type],
            tif=TEXT[req.tif],
            price=price,
            price_ticks=inst.to_ticks(price) if req.price is not None else 0,
            qty_steps=qty_steps,
            reduce_only=req.reduce_only,
            now_ms=self.clock.now_ms(),
            stp=req.stp,
            stop_price=req.stop_price or Decimal(0),
            working_type=TEXT[req.working_type],
            price_protect=req.price_protect,
            close_position=req.close_position,
            gtd=req.gtd,
        )
        o.activate_price = req.activate_price
        o.callback_rate = req.callback_rate
        return o

    def _check_one_close_position(self, acct: Account, req: NewOrder) -> None:
        """-4130: one open closePosition stop or take-profit per symbol and direction (Algo
        Order API; the legacy conditionals are not checked).

        Not in our protocol reference; Binance's message and the client code that handles it
        (a take-profit with closePosition refused while a closePosition stop of the same side
        rests, whatever the type) agree that the rule is per side, not per order type.
        """
        if not req.close_position:
            return
        symbol, side = req.s.inst.symbol, TEXT[req.side]
        for a in acct.open_algos.values():
            if a.close_position and a.symbol == symbol and a.side == side:
                raise BinanceError(
                    -4130,
                    "An open stop or take profit order with GTE and closePosition in the "
                    "direction is existing.",
                )

    def _place_legacy_conditional(self, acct: Account, req: NewOrder) -> Order:
        """Pre-2025-12-09 behaviour: the conditional rests as an order (same orderId on trigger)."""
        self.check_trigger(req)
        inst = req.s.inst
        steps = inst.to_steps(req.quantity) if req.quantity is not None else 0
        o = self._make_order(acct, req, steps)
        self._register(o)
        trigger = self._make_algo(acct, req, steps)
        trigger.legacy_order = o
        o.activate_price = trigger.activate_price
        o.algo = trigger
        self._arm(trigger)
        self.events.order_update(o, ExecutionType.NEW)
        return o

    def _register(self, o: Order) -> None:
        self.books[o.symbol].orders[o.order_id] = o
        acct = o.account
        acct.open_in(o.symbol)[o.order_id] = o
        acct.client_orders[(o.symbol, o.client_id)] = o
        history = acct.order_history.get(o.symbol)
        if history is None:
            history = acct.order_history[o.symbol] = []
        history.append(o)

    def _execute(self, o: Order, b: SymbolBook, cap: int | None) -> None:
        """Match a just-accepted LIMIT/MARKET order against the recorded book, then rest/expire."""
        if o.type == "MARKET":
            self._take(o, b, cap)
            if o.is_open:
                self._finish(o, OrderStatus.EXPIRED, ExpiryReason.MARKET_REMAINDER)
            return
        crosses = b.best_opposite(o.is_buy)
        if crosses is not None and (
            crosses <= o.price_ticks if o.is_buy else crosses >= o.price_ticks
        ):
            self._take(o, b, o.price_ticks)
        if not o.is_open:
            return
        if o.tif in ("IOC", "FOK"):
            self._finish(o, OrderStatus.EXPIRED, ExpiryReason.IOC_REMAINDER)
        elif o.reduce_only and self.ledger.closable_steps(o) == 0:
            self._finish(o, OrderStatus.EXPIRED, ExpiryReason.REDUCE_ONLY)
        else:
            b.rest(o)
            if o.gtd:
                self._add_timer(o.gtd, GTD, o)

    # --- canceling and amending ------------------------------------------------------------------

    def cancel(self, o: Order) -> None:
        """Cancel an open order (x=CANCELED)."""
        self._finish(o, OrderStatus.CANCELED)

    def cancel_all(self, acct: Account, symbol: str) -> None:
        for o in sorted(acct.open_orders.get(symbol, {}).values(), key=lambda o: o.order_id):
            self._finish(o, OrderStatus.CANCELED)

    def countdown(self, acct: Account, symbol: str, countdown_ms: int) -> None:
        """Cancel the symbol's open orders after countdown_ms unless called again; 0 stops."""
        key = (acct.account_id, symbol)
        if countdown_ms == 0:
            self.timers.stop_countdown(key)
        else:
            self.timers.set_countdown(key, self.clock.now_ms() + countdown_ms)
            self._next_timer_ms = self.timers.next_ms

    def amend(self, o: Order, new_steps: int, new_ticks: int) -> None:
        """New quantity/price of an open LIMIT order (loses priority); may cross and take."""
        b = self.books[o.symbol]
        best = b.best_opposite(o.is_buy)
        crosses = best is not None and (best <= new_ticks if o.is_buy else best >= new_ticks)
        if new_steps <= o.filled_steps or (o.tif == "GTX" and crosses):
            self._finish(o, OrderStatus.CANCELED)
            return
        b.unrest(o)
        o.qty_steps = new_steps
        o.price = b.inst.from_ticks(new_ticks)
        o.price_ticks = new_ticks
        o.update_time = self.clock.now_ms()
        self.events.order_update(o, ExecutionType.AMENDMENT)
        if crosses:
            self._take(o, b, new_ticks)
        if o.is_open:
            b.rest(o)

    def _close(self, o: Order) -> None:
        """Take a terminal order off the book and the open set."""
        self.books[o.symbol].unrest(o)
        o.account.open_orders.get(o.symbol, {}).pop(o.order_id, None)
        if o.algo is not None:
            if o.algo.legacy_order is o:
                self._drop_trigger(o.algo)
            else:
                self._algo_done(o.algo)

    def _finish(self, o: Order, status: OrderStatus, er: ExpiryReason = ExpiryReason.NONE) -> None:
        """Cancel or expire an open order: ORDER_TRADE_UPDATE x=CANCELED / x=EXPIRED."""
        o.move_to(status, er)
        o.update_time = self.clock.now_ms()
        self._close(o)
        x = ExecutionType.CANCELED if status is OrderStatus.CANCELED else ExecutionType.EXPIRED
        self.events.order_update(o, x)

    # --- fills ---------------------------------------------------------------------------------

    def _fill(
        self,
        o: Order,
        b: SymbolBook,
        price_ticks: int,
        steps: int,
        maker: bool,
        *,
        calculated: bool = False,
    ) -> None:
        """Execute `steps` of `o` at `price_ticks`: ledger, order status, events, sweeps."""
        inst = b.inst
        now = self.clock.now_ms()
        price = inst.from_ticks(price_ticks)
        qty = inst.from_steps(steps)
        booked = self.ledger.book_fill(o, price, qty, maker, now, calculated=calculated)
        o.filled_steps += steps
        o.cum_quote += price * qty
        o.update_time = now
        filled = o.filled_steps >= o.qty_steps
        o.move_to(OrderStatus.FILLED if filled else OrderStatus.PARTIALLY_FILLED)
        if filled:
            o.account.open_orders.get(o.symbol, {}).pop(o.order_id, None)
            b.unrest(o)
        if not calculated:
            self.events.trade_lite(o, steps, price, booked.trade_id, maker)
        self.events.order_update(
            o,
            ExecutionType.CALCULATED if calculated else ExecutionType.TRADE,
            last_steps=steps,
            last_price=price,
            commission=booked.fee,
            trade_id=booked.trade_id,
            maker=maker,
            realized=booked.realized,
        )
        self.events.account_update(o.account, "ORDER", [o.symbol])
        if filled and o.algo is not None:
            self._close(o)
        pos = o.account.positions.get(o.symbol)
        if pos is not None and pos.amt == 0:  # this fill closed the position
            self._expire_close_position(o.account, o.symbol)
        self._reduce_only_sweep(o.account, o.symbol)

    def _expire_close_position(self, acct: Account, symbol: str) -> None:
        """The symbol's position is closed: its waiting closePosition conditionals expire
        (GTE_GTC orders; reference 6.3: EXPIRED, "system-cancelled, e.g. GTE_GTC order whose
        position was closed"), so a stop or take-profit of a closed position cannot close the
        next one; a legacy one's order expires with er 6 (GTE condition unsatisfied). Plain
        reduce-only conditionals stay armed (at trigger they are rejected, see `_fire`)."""
        for a in sorted(acct.open_algos.values(), key=lambda a: a.algo_id):
            if a.symbol == symbol and a.close_position and a.legacy_order is None:
                self._expire_algo(a)
        for o in list(acct.open_orders.get(symbol, {}).values()):
            if o.close_position and o.algo is not None and o.algo.legacy_order is o:
                self._finish(o, OrderStatus.EXPIRED, ExpiryReason.GTE_UNSATISFIED)

    def _expire_algo(self, a: Algo) -> None:
        """The system ends a conditional still waiting for its trigger: ALGO_UPDATE EXPIRED."""
        self._drop_trigger(a)
        a.move_to(AlgoStatus.EXPIRED)
        self.events.algo_update(a)

    def _reduce_only_sweep(self, acct: Account, symbol: str) -> None:
        """Expire resting reduce-only orders that can no longer reduce (er = 4)."""
        for o in list(acct.open_orders.get(symbol, {}).values()):
            if o.reduce_only and o.type == "LIMIT" and self.ledger.closable_steps(o) == 0:
                self._finish(o, OrderStatus.EXPIRED, ExpiryReason.REDUCE_ONLY)

    def _take(self, o: Order, b: SymbolBook, limit: int | None) -> None:
        """Fill `o` as taker against the recorded book up to `limit` ticks (None = no limit)."""
        levels = b.levels(o.is_buy)
        while o.remaining_steps > 0 and levels:
            ticks, available = levels[0]
            if limit is not None and (ticks > limit if o.is_buy else ticks < limit):
                break
            steps = min(o.remaining_steps, available)
            if o.reduce_only:
                steps = min(steps, self.ledger.closable_steps(o))
                if steps <= 0:
                    break
            if available != POS:  # a finite recorded level: eat it
                levels[0][1] -= steps
                if levels[0][1] <= 0:
                    levels.pop(0)
            self._fill(o, b, ticks, steps, maker=False)

    def _match_trade(self, b: SymbolBook, p: int, q: int) -> None:
        """A recorded trade at p ticks for q steps fills resting orders it reaches (maker)."""
        levels = b.reached_levels(p, bids=True)
        if levels:
            q = self._fill_levels(b, b.bids, levels, q)
        if q > 0:
            levels = b.reached_levels(p, bids=False)
            if levels:
                self._fill_levels(b, b.asks, levels, q)

    def _fill_levels(
        self, b: SymbolBook, side: dict[int, list[Order]], levels: list[int], q: int
    ) -> int:
        for k in levels:
            for o in list(side.get(k, ())):
                if q <= 0:
                    return 0
                if not o.is_open:  # expired meanwhile by a reduce-only sweep
                    continue
                steps = min(o.remaining_steps, q)
                if o.reduce_only:
                    steps = min(steps, self.ledger.closable_steps(o))
                    if steps <= 0:
                        self._finish(o, OrderStatus.EXPIRED, ExpiryReason.REDUCE_ONLY)
                        continue
                q -= steps
                self._fill(o, b, k, steps, maker=True)
        return q

    # --- conditional orders --------------------------------------------------------------------

    def new_algo(self, acct: Account, req: NewOrder) -> Algo:
        """Arm a validated conditional (Algo Order API): -4045 beyond max_algo_orders, -4130,
        -2021."""
        if len(acct.open_algos) >= self.config.max_algo_orders:
            raise BinanceError(-4045, "Reach max stop order limit.")
        self._check_one_close_position(acct, req)
        self.check_trigger(req)
        inst = req.s.inst
        steps = inst.to_steps(req.quantity) if req.quantity is not None else 0
        a = self._make_algo(acct, req, steps)
        self._arm(a)
        self.events.algo_update(a)
        return a

    def _make_algo(self, acct: Account, req: NewOrder, qty_steps: int) -> Algo:
        b = req.s
        inst = b.inst
        now = self.clock.now_ms()
        trigger = req.stop_price or Decimal(0)
        a = Algo(
            account=acct,
            algo_id=self.triggers.new_algo_id(),
            client_id=req.client_id,
            order_type=TEXT[req.type],
            symbol=inst.symbol,
            side=TEXT[req.side],
            tif=TEXT[req.tif],
            qty_steps=qty_steps,
            price=req.price or Decimal(0),
            trigger_price=trigger,
            trigger_ticks=inst.to_ticks(trigger),
            working_type=TEXT[req.working_type],
            price_protect=req.price_protect,
            reduce_only=req.reduce_only,
            close_position=req.close_position,
            stp=req.stp,
            create_time=now,
            update_time=now,
            gtd=req.gtd,
            tick=inst.tick_size,
        )
        if req.type is OrderType.TRAILING_STOP_MARKET:
            a.callback_rate = req.callback_rate
            a.activate_price = req.activate_price
            if a.activate_price is None:  # activate at the latest price (checked to be known)
                a.activate_price = b.mark if a.working_type == "MARK_PRICE" else b.last_price()
        return a

    def _arm(self, a: Algo) -> None:
        self.triggers.arm(a)
        if a.working_type != "MARK_PRICE":
            self.books[a.symbol].refresh()

    def _drop_trigger(self, a: Algo) -> None:
        self.triggers.drop(a)
        self.books[a.symbol].refresh()

    def _algo_done(self, a: Algo) -> None:
        """The order a triggered algo placed is terminal: ALGO_UPDATE FINISHED."""
        a.move_to(AlgoStatus.FINISHED)
        self.events.algo_update(a)

    def cancel_algo(self, a: Algo) -> None:
        self._drop_trigger(a)
        a.move_to(AlgoStatus.CANCELED)
        self.events.algo_update(a)

    def cancel_all_algos(self, acct: Account, symbol: str) -> None:
        for a in sorted(acct.open_algos.values(), key=lambda a: a.algo_id):
            if a.symbol == symbol and a.legacy_order is None:
                self.cancel_algo(a)

    def _fire(self, a: Algo) -> None:
        """The trigger condition holds: place the real order (or convert the legacy one)."""
        b = self.books[a.symbol]
        inst = b.inst
        if a.price_protect and b.mark is not None and b.last_ticks is not None:
            gap = abs(b.mark - inst.from_ticks(b.last_ticks)) / b.mark
            if gap > inst.trigger_protect:
                return  # priceProtect: wait while mark and last disagree too much
        self._drop_trigger(a)
        now = self.clock.now_ms()
        a.trigger_time = now
        acct = a.account
        if a.legacy_order is not None:
            self._fire_legacy(a, a.legacy_order)
            return
        a.move_to(AlgoStatus.TRIGGERING)
        self.events.algo_update(a)
        pos = acct.positions.get(a.symbol)
        amt = pos.amt if pos else Decimal(0)
        closes = amt != 0 and (amt > 0) != a.is_buy
        if a.close_position:
            if not closes:
                a.move_to(AlgoStatus.EXPIRED)
                a.reject_reason = "No position to close."
                self.events.algo_update(a)
                return
            a.qty_steps = int(abs(amt) / inst.lot.step_size)
        if a.reduce_only and not closes:
            a.move_to(AlgoStatus.REJECTED)
            a.reject_reason = "Reduce Only reject"
            self.events.algo_update(a)
            return
        is_market = a.order_type in _MARKET_TYPES
        qty = inst.from_steps(a.qty_steps)
        if not a.reduce_only:
            est = a.price if not is_market else b.ref_price()
            try:
                if est:
                    self.ledger.check_margin(
                        acct, a.symbol, a.is_buy, qty, est, immediate=is_market
                    )
            except BinanceError as e:
                a.move_to(AlgoStatus.REJECTED)
                a.reject_reason = e.msg
                self.events.algo_update(a)
                return
        o = Order(
            account=acct,
            symbol=a.symbol,
            order_id=b.new_order_id(),
            client_id=a.client_id,
            side=a.side,
            type="MARKET" if is_market else "LIMIT",
            orig_type=a.order_type,
            tif="GTC" if is_market else a.tif,
            price=Decimal(0) if is_market else a.price,
            price_ticks=0 if is_market else inst.to_ticks(a.price),
            qty_steps=a.qty_steps,
            reduce_only=a.reduce_only,
            now_ms=now,
            stp=a.stp,
            stop_price=a.trigger_price,
            working_type=a.working_type,
            price_protect=a.price_protect,
            close_position=a.close_position,
        )
        o.algo = a
        o.activate_price = a.activate_price if a.is_trailing else None
        o.callback_rate = a.callback_rate
        a.actual_order = o
        a.move_to(AlgoStatus.TRIGGERED)
        self.events.algo_update(a)
        self._register(o)
        self.events.order_update(o, ExecutionType.NEW)
        self._execute(o, b, b.market_cap(o.is_buy) if is_market else None)

    def _fire_legacy(self, a: Algo, o: Order) -> None:
        """Legacy conditional: the same orderId becomes MARKET/LIMIT (`ot` keeps the type)."""
        b = self.books[o.symbol]
        if a.close_position:
            steps = self.ledger.closable_steps(o)
            if steps == 0:
                self._finish(o, OrderStatus.EXPIRED)
                return
            o.qty_steps = steps
        is_market = o.type in _MARKET_TYPES
        o.type = "MARKET" if is_market else "LIMIT"
        o.update_time = self.clock.now_ms()
        o.algo = None
        self.events.order_update(o, ExecutionType.NEW)
        self._execute(o, b, b.market_cap(o.is_buy) if is_market else None)

    # --- typed API: core requests in; core orders, fills and events out ---------------------

    def submit(
        self,
        account_id: str,
        request: OrderRequest,
        *,
        good_till_ms: int = 0,
        legacy: bool | None = None,
        callback_rate: Decimal | None = None,
        activate_price: Decimal | None = None,
    ) -> CoreOrder:
        """Place `request` (LIMIT, MARKET, or a conditional armed on its trigger) and match it.

        Returns the order after matching (a conditional: not placed yet, no order id). Raises
        BinanceError with the code Binance would answer (-1121 unknown symbol, -1102 missing
        price or quantity, -4116 duplicate client id, filters, -2019 margin, -5021/-5022, ...).
        `good_till_ms` is the GTD expiry (ms, with time_in_force GTD). `legacy`: a conditional
        rests as an order (pre-2025-12 /fapi/v1/order) instead of an algo order; None =
        EngineConfig.legacy_conditional_orders. A TRAILING_STOP_MARKET (core's OrderRequest has
        no fields for it) takes `callback_rate` (percent: 0.1..10, 0.1..5 as a legacy order)
        and an optional `activate_price` (default: the latest price).
        """
        placed = self.enter(
            account_id,
            request,
            good_till_ms=good_till_ms,
            legacy=legacy,
            callback_rate=callback_rate,
            activate_price=activate_price,
        )
        inst = self.books[placed.symbol].inst
        if isinstance(placed, Algo):
            return core_algo_order(placed, inst)
        return core_order(placed, inst)

    def enter(
        self,
        account_id: str,
        request: OrderRequest,
        *,
        good_till_ms: int = 0,
        legacy: bool | None = None,
        callback_rate: Decimal | None = None,
        activate_price: Decimal | None = None,
    ) -> Order | Algo:
        """`submit` without building its answer: the engine's own order (or armed algo) as it
        is after matching. For a caller that reads the outcome from the reports (the backtest
        venue), which then pays for no `core.orders.Order` it would throw away."""
        acct = self.ledger.account(account_id)
        b = self.book(request.symbol)
        order_type = request.type
        if order_type is OrderType.LIQUIDATION:
            raise BinanceError(-1116, "Invalid orderType.")
        if legacy is None:
            legacy = self.config.legacy_conditional_orders
        quantity = request.quantity
        close = request.close_position
        if order_type in _PRICED and request.price is None:
            raise _mandatory("price")
        trailing = order_type is OrderType.TRAILING_STOP_MARKET
        if trailing and callback_rate is None:
            raise _mandatory("callbackRate")
        if quantity is None and (trailing or not close):
            raise _mandatory("quantity")
        if order_type.is_conditional and not trailing and request.stop_price is None:
            raise _mandatory("stopPrice")
        if trailing:
            top = Decimal(5) if legacy else Decimal(10)  # legacy order docs vs algo docs
            if callback_rate is None or not Decimal("0.1") <= callback_rate <= top:
                raise BinanceError(-1130, "Data sent for parameter 'callbackRate' is not valid.")
        tif = request.time_in_force or TimeInForce.GTC
        if order_type is OrderType.MARKET:
            tif = TimeInForce.GTC
        _refuse_unused(
            order_type, tif, request.stop_price, callback_rate, activate_price, good_till_ms
        )
        stop_price = request.stop_price
        client_id = request.client_order_id
        check_client_id(client_id, "newClientOrderId")
        symbol = b.inst.symbol
        if self.client_id_taken(acct, symbol, client_id, algo=order_type.is_conditional):
            raise BinanceError(-4116, "ClientOrderId is duplicated.")
        if request.position_side is not PositionSide.BOTH:
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        if close:
            if order_type not in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET):
                raise BinanceError(-1106, "Parameter 'closePosition' sent when not required.")
            if quantity is not None:
                raise BinanceError(-4137, "Quantity must be zero with closePosition equals true.")
        gtd = 0
        if tif is TimeInForce.GTD:
            gtd = good_till_ms // 1000 * 1000
            if gtd <= self.clock.now_ms() + 600_000:
                raise BinanceError(
                    -5040,
                    "goodTillDate timestamp must be greater than current time plus 600 seconds",
                )
        price = request.price if order_type is not OrderType.MARKET else None
        self.check_filters(
            acct,
            b,
            side=request.side,
            order_type=order_type,
            quantity=quantity,
            price=price,
            stop_price=stop_price,
            reduce_only=request.reduce_only,
            close_position=close,
        )
        req = NewOrder(
            s=b,
            side=request.side,
            type=order_type,
            tif=tif,
            quantity=quantity,
            price=price,
            stop_price=stop_price,
            reduce_only=request.reduce_only or close,
            close_position=close,
            client_id=client_id,
            resp_type="RESULT",
            working_type=request.working_type,
            price_protect=False,
            stp=self.config.stp_mode,
            gtd=gtd,
            activate_price=activate_price,
            callback_rate=callback_rate,
        )
        if order_type.is_conditional and not legacy:
            return self.new_algo(acct, req)
        return self.place(acct, req)[1]

    def cancel_order(
        self,
        account_id: str,
        symbol: str,
        *,
        order_id: int | None = None,
        client_order_id: str | None = None,
    ) -> CoreOrder:
        """Cancel an open order (or a conditional still waiting, by client id); -2011 if none."""
        acct = self.ledger.account(account_id)
        b = self.book(symbol)
        if order_id is None and client_order_id is None:
            raise BinanceError(-1102, "Param 'orderId' or 'origClientOrderId' must be sent.")
        o = self.find_order(acct, b.inst.symbol, order_id, client_order_id)
        if o is not None and o.is_open:
            self.cancel(o)
            return core_order(o, b.inst)
        if order_id is None:
            for a in acct.open_algos.values():
                if a.symbol == b.inst.symbol and a.client_id == client_order_id:
                    self.cancel_algo(a)
                    return core_algo_order(a, b.inst)
        raise BinanceError(-2011, "Unknown order sent.")

    def order(
        self,
        account_id: str,
        symbol: str,
        *,
        order_id: int | None = None,
        client_order_id: str | None = None,
    ) -> CoreOrder:
        """One order by exchange id or client id (-2013 if unknown)."""
        acct = self.ledger.account(account_id)
        b = self.book(symbol)
        o = self.find_order(acct, b.inst.symbol, order_id, client_order_id)
        if o is None:
            raise BinanceError(-2013, "Order does not exist.")
        return core_order(o, b.inst)

    def open_orders(self, account_id: str, symbol: str | None = None) -> list[CoreOrder]:
        """Open normal orders (by order id) of one symbol or of all."""
        acct = self.ledger.account(account_id)
        symbols = [self.book(symbol).inst.symbol] if symbol is not None else list(self.books)
        return [
            core_order(o, self.books[s].inst)
            for s in symbols
            for o in sorted(acct.open_orders.get(s, {}).values(), key=lambda o: o.order_id)
        ]

    def fills(self, account_id: str, symbol: str) -> list[Fill]:
        """Every execution of the account on `symbol`, oldest first (the client id of an
        order forgotten since, `forget_old_orders`, is "")."""
        acct = self.ledger.account(account_id)
        b = self.book(symbol)
        orders = b.orders
        return [
            core_fill(t, o.client_id if (o := orders.get(t.order_id)) else "", b.inst)
            for t in acct.trades.get(b.inst.symbol, [])
        ]

    def position(self, account_id: str, symbol: str) -> CorePosition:
        """The one-way position (contracts, signed) and its entry price (USDT)."""
        acct = self.ledger.account(account_id)
        b = self.book(symbol)
        pos = acct.positions.get(b.inst.symbol)
        return CorePosition(
            symbol=b.inst.symbol,
            qty=pos.amt if pos else Decimal(0),
            entry_price=pos.entry if pos else Decimal(0),
            leverage=self.ledger.leverage(acct, b.inst.symbol),
            margin_type=MarginType(acct.margin_type.get(b.inst.symbol, "CROSSED")),
            update_time_ms=pos.update_time if pos else 0,
        )

    def balance(self, account_id: str) -> Balance:
        """USDT wallet and available balance now (cross margin)."""
        acct = self.ledger.account(account_id)
        available = max(Decimal(0), self.ledger.totals(acct).available)
        return Balance(
            asset="USDT",
            wallet_balance=acct.wallet,
            available_balance=available,
            cross_wallet_balance=acct.wallet,
            update_time_ms=acct.update_time,
        )

    def drain_events(self) -> list[tuple[str, Event]]:
        """`core.events` (account_id, event) since the last drain, in order (takes the pending
        records: use either this or the wire adapter's drain, not both)."""
        out: list[tuple[str, Event]] = []
        for ev in self.events.drain():
            inst = self.books[ev.order.symbol].inst if isinstance(ev, OrderUpdate) else None
            out.extend((ev.account_id, e) for e in core_events(ev, inst))
        return out

    def drain_reports(self) -> list[tuple[str, Report]]:
        """Typed user-stream reports (account_id, report) since the last drain, in order: one
        per event the wire adapter would send (orders, algo orders, account updates, and an
        `OtherReport` for the rest), with the values a client reads from that JSON. Takes the
        pending records, like `drain_events` (use one drain only)."""
        books = self.books
        return [(ev.account_id, report(ev, books)) for ev in self.events.drain()]

    def cancel_conditional(
        self,
        account_id: str,
        symbol: str,
        *,
        algo_id: int | None = None,
        client_algo_id: str | None = None,
    ) -> AlgoReport:
        """Cancel a conditional still waiting for its trigger (DELETE /fapi/v1/algoOrder).

        By algo id, or by client algo id (its latest algo order with that id); -2011 unless it
        is still NEW (a triggered one is canceled through its order: `cancel_order`)."""
        acct = self.ledger.account(account_id)
        self.book(symbol)
        a = self.find_algo(acct, algo_id, client_algo_id)
        if a is None or a.status is not AlgoStatus.NEW:
            raise BinanceError(-2011, "Unknown order sent.")
        self.cancel_algo(a)
        return algo_report(a, self.books[a.symbol].inst, a.update_time)

    def conditional(
        self,
        account_id: str,
        *,
        algo_id: int | None = None,
        client_algo_id: str | None = None,
    ) -> AlgoReport:
        """One conditional (algo) order's state now; -2013 if unknown."""
        acct = self.ledger.account(account_id)
        a = self.find_algo(acct, algo_id, client_algo_id)
        if a is None:
            raise BinanceError(-2013, "Order does not exist.")
        return algo_report(a, self.books[a.symbol].inst, a.update_time)

    def open_conditionals(self, account_id: str, symbol: str | None = None) -> list[AlgoReport]:
        """Conditionals still waiting for their trigger (or working), by algo id."""
        acct = self.ledger.account(account_id)
        name = self.book(symbol).inst.symbol if symbol is not None else None
        return [
            algo_report(a, self.books[a.symbol].inst, a.update_time)
            for a in sorted(acct.open_algos.values(), key=lambda a: a.algo_id)
            if (name is None or a.symbol == name) and a.legacy_order is None
        ]

    def find_algo(self, acct: Account, algo_id: int | None, client_id: str | None) -> Algo | None:
        """An algo order by id, else the latest with that client id (as Binance looks it up);
        -1102 when neither is given."""
        if algo_id is None and client_id is None:
            raise BinanceError(
                -1102, "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!"
            )
        if algo_id is not None:
            return acct.algos.get(algo_id)
        matches = acct.algos_by_client.get(client_id or "")
        return matches[-1] if matches else None

    def cancel_open_orders(self, account_id: str, symbol: str) -> list[CoreOrder]:
        """Cancel every open normal order of `symbol` (DELETE /fapi/v1/allOpenOrders; the
        conditionals have `cancel_open_conditionals`). Returns them as canceled."""
        acct = self.ledger.account(account_id)
        b = self.book(symbol)
        orders = sorted(acct.open_orders.get(b.inst.symbol, {}).values(), key=lambda o: o.order_id)
        self.cancel_all(acct, b.inst.symbol)
        return [core_order(o, b.inst) for o in orders]

    def cancel_open_conditionals(self, account_id: str, symbol: str) -> list[AlgoReport]:
        """Cancel every conditional of `symbol` waiting for its trigger
        (DELETE /fapi/v1/algoOpenOrders). Returns them as canceled."""
        acct = self.ledger.account(account_id)
        b = self.book(symbol)
        name = b.inst.symbol
        algos = [a for a in acct.open_algos.values() if a.symbol == name and a.legacy_order is None]
        self.cancel_all_algos(acct, name)
        return [
            algo_report(a, b.inst, a.update_time) for a in sorted(algos, key=lambda a: a.algo_id)
        ]

    # --- market data: trades (hot path) ------------------------------------------------------

    def on_trade(
        self, symbol: str, price: Decimal, qty: Decimal, buyer_is_maker: bool, time_ms: int
    ) -> None:
        """One recorded public trade (price USDT, qty contracts, time ms).

        Decimal -> ticks/steps conversions are memoised per symbol (a tape repeats a few
        hundred distinct prices and sizes), which keeps this path near the int one.
        """
        b = self.books[symbol]
        ticks = b.tick_cache.get(price)
        if ticks is None:
            ticks = _cached(b.tick_cache, price, b.inst.to_ticks(price))
        b.last_ticks = ticks
        b.last_time = time_ms
        if ticks < b.lo or ticks > b.hi or time_ms >= self._next_timer_ms:
            steps = b.step_cache.get(qty)
            if steps is None:
                steps = _cached(b.step_cache, qty, int(qty / b.inst.lot.step_size))
            self._trade_slow(b, ticks, steps, time_ms)

    def on_trade_ticks(
        self, symbol: str, price_ticks: int, qty_steps: int, buyer_is_maker: bool, time_ms: int
    ) -> None:
        """As on_trade with price in ticks and quantity in steps of the instrument (hot path)."""
        b = self.books[symbol]
        b.last_ticks = price_ticks
        b.last_time = time_ms
        if price_ticks < b.lo or price_ticks > b.hi or time_ms >= self._next_timer_ms:
            self._trade_slow(b, price_ticks, qty_steps, time_ms)

    def on_trades_batch(
        self,
        symbol: str,
        price_ticks: np.ndarray,
        qty_steps: np.ndarray,
        buyer_is_maker: np.ndarray,
        time_ms: np.ndarray,
    ) -> None:
        """Many recorded trades of one symbol in time order (int64 ticks/steps/ms, bool maker).

        Equivalent to calling on_trade_ticks for each element, in order: numpy finds the next
        trade needing work, Python runs only those.
        """
        n = len(price_ticks)
        if n == 0:
            return
        b = self.books[symbol]
        start = 0
        while start < n:
            end = min(start + _CHUNK, n)
            pos = start
            while pos < end:
                p = price_ticks[pos:end]
                hit = (p < b.lo) | (p > b.hi) | (time_ms[pos:end] >= self._next_timer_ms)
                first = int(hit.argmax())
                if not hit[first]:
                    break
                i = pos + first
                t = int(time_ms[i])
                ticks = int(price_ticks[i])
                b.last_ticks = ticks
                b.last_time = t
                self._trade_slow(b, ticks, int(qty_steps[i]), t)
                pos = i + 1
            start = end
        b.last_ticks = int(price_ticks[n - 1])
        b.last_time = int(time_ms[n - 1])

    def _trade_slow(self, b: SymbolBook, p: int, q: int, t: int) -> None:
        self._advance_to(t)
        if t >= self._next_timer_ms:
            self._run_timers(t)
        if p < b.lo or p > b.hi:
            self._match_trade(b, p, q)
            if b.triggers.contract:
                fired = self.triggers.fired_by_last(b.inst.symbol, b.inst.from_ticks(p))
                b.refresh()  # trailing stops moved their thresholds
                for a in fired:
                    if a.status is AlgoStatus.NEW:  # not dropped by an earlier trigger's effects
                        self._fire(a)

    # --- market data: book, mark price, time ---------------------------------------------------

    def on_book_ticker(
        self,
        symbol: str,
        bid: Decimal,
        bid_qty: Decimal,
        ask: Decimal,
        ask_qty: Decimal,
        time_ms: int,
    ) -> None:
        """Recorded best bid/ask (USDT, contracts): the liquidity our taker orders take."""
        self.books[symbol].set_touch(bid, bid_qty, ask, ask_qty, time_ms)
        if time_ms >= self._next_timer_ms:
            self._advance_to(time_ms)
            self._run_timers(time_ms)

    def on_depth(
        self,
        symbol: str,
        bids: Sequence[tuple[Decimal, Decimal]],
        asks: Sequence[tuple[Decimal, Decimal]],
        time_ms: int,
    ) -> None:
        """Full recorded book levels (price, qty), best first; replaces the previous book."""
        self.books[symbol].set_depth(bids, asks, time_ms)
        if time_ms >= self._next_timer_ms:
            self._advance_to(time_ms)
            self._run_timers(time_ms)

    def on_mark_price(
        self,
        symbol: str,
        mark: Decimal,
        index: Decimal,
        funding_rate: Decimal,
        next_funding_time_ms: int,
        time_ms: int,
    ) -> None:
        """Recorded mark price update: MARK_PRICE triggers, funding settlement, liquidations.

        A settlement due at or before `time_ms` is paid first, with the mark and rate in force
        before this update.
        """
        b = self.books[symbol]
        self._advance_to(time_ms)
        if time_ms >= self._next_timer_ms:
            self._run_timers(time_ms)
        b.mark = mark
        b.index_price = index
        b.funding_rate = funding_rate
        b.next_funding_time = next_funding_time_ms
        b.mark_time = time_ms
        if b.triggers.mark:
            for a in self.triggers.fired_by_mark(symbol, mark):
                if a.status is AlgoStatus.NEW:
                    self._fire(a)
        self._check_liquidations()

    # --- retention -------------------------------------------------------------------------------

    def forget_old_orders(self, now_ms: int) -> int:
        """Forget the finished orders and algo orders Binance no longer finds (see
        NO_FILL_RETENTION_MS): queries answer -2013 for them and allOrders leaves them out, as
        Binance does, and a local exchange left running for weeks does not keep every order;
        the fills and incomes past what Binance serves go too (`forget_old_history`). Looks at
        most every FORGET_EVERY_MS of exchange time; returns how many orders it forgot."""
        if now_ms < self._next_forget_ms:
            return 0
        self._next_forget_ms = now_ms + FORGET_EVERY_MS
        no_fill_before = now_ms - NO_FILL_RETENTION_MS
        any_before = now_ms - ORDER_RETENTION_MS
        forgotten = 0
        for b in self.books.values():
            orders = b.orders
            old = []
            for order_id, o in orders.items():  # in creation order: the oldest first
                if o.time >= no_fill_before:
                    break
                if not o.is_open and (o.filled_steps == 0 or o.time < any_before):
                    old.append(order_id)
            touched: dict[str, Account] = {}
            for order_id in old:
                o = orders.pop(order_id)
                acct = o.account
                touched[acct.account_id] = acct
                key = (o.symbol, o.client_id)
                if acct.client_orders.get(key) is o:  # not a newer order with its id
                    del acct.client_orders[key]
            symbol = b.inst.symbol
            for acct in touched.values():
                acct.order_history[symbol] = [
                    o for o in acct.order_history.get(symbol, ()) if o.order_id in orders
                ]
            forgotten += len(old)
        algos = self.triggers.algos
        old_algos = []
        for algo_id, a in algos.items():  # by algo id: in creation order
            if a.create_time >= no_fill_before:
                break
            placed = a.actual_order
            if a.algo_id in a.account.open_algos or (placed is not None and placed.is_open):
                continue
            if placed is None or placed.filled_steps == 0 or a.create_time < any_before:
                old_algos.append(algo_id)
        for algo_id in old_algos:
            a = algos.pop(algo_id)
            acct = a.account
            acct.algos.pop(algo_id, None)
            same_id = acct.algos_by_client.get(a.client_id, [])
            if a in same_id:
                same_id.remove(a)
                if not same_id:
                    del acct.algos_by_client[a.client_id]
        self.forget_old_history(now_ms)
        return forgotten + len(old_algos)

    def forget_old_history(self, now_ms: int) -> None:
        """Drop the fills older than TRADE_RETENTION_MS and the incomes older than
        INCOME_RETENTION_MS (both kept in time order: a cut at the front), which userTrades
        and income no longer serve on Binance either; without it they grow for as long as the
        exchange runs."""
        trades_before = now_ms - TRADE_RETENTION_MS
        incomes_before = now_ms - INCOME_RETENTION_MS
        for acct in self.ledger.accounts.values():
            for trades in acct.trades.values():
                if trades and trades[0].time < trades_before:
                    del trades[: bisect_left(trades, trades_before, key=_time_of)]
            incomes = acct.incomes
            if incomes and incomes[0].time < incomes_before:
                del incomes[: bisect_left(incomes, incomes_before, key=_time_of)]

    def on_time(self, now_ms: int) -> None:
        """Time passes without market data: dead-man switches, GTD expiry, funding."""
        self._advance_to(now_ms)
        now = self.clock.now_ms()
        if now >= self._next_timer_ms:
            self._run_timers(now)

    def _advance_to(self, time_ms: int) -> None:
        if time_ms > self.clock.now_ms():
            self.clock.set_ms(time_ms)

    # --- timers ----------------------------------------------------------------------------------

    def _add_timer(self, due_ms: int, kind: str, payload: object) -> None:
        self.timers.add(due_ms, kind, payload)
        self._next_timer_ms = self.timers.next_ms

    def _run_timers(self, now: int) -> None:
        timers = self.timers
        while (item := timers.pop_due(now)) is not None:
            due, kind, payload = item
            if kind == COUNTDOWN:
                account_id, symbol = payload
                acct = self.ledger.accounts[account_id]
                for o in list(acct.open_orders.get(symbol, {}).values()):
                    self._finish(o, OrderStatus.CANCELED)
            elif kind == GTD:
                o = payload
                if o.is_open and o.gtd == due:
                    self._finish(o, OrderStatus.EXPIRED)
        if timers.funding_due(now):
            for acct, symbol, amount, rate in self.ledger.settle_funding(self.clock.now_ms()):
                self.events.funding(acct, symbol, amount, rate)
        timers.reschedule()
        self._next_timer_ms = timers.next_ms

    # --- liquidation -----------------------------------------------------------------------------

    def _check_liquidations(self) -> None:
        for acct, action in self.ledger.margin_states():
            if action == "liquidate":
                self._liquidate(acct)
            else:
                self.events.margin_call(acct)

    def _liquidate(self, acct: Account) -> None:
        """Close every position of the account at its mark price (cross margin exhausted).

        Open orders expire first (er = 5), and so do the conditionals that could only reduce a
        position (reduce-only or closePosition: ALGO_UPDATE EXPIRED), as nothing is left for
        them to reduce; other conditionals stay armed. Each position is closed by an
        `autoclose-` order (LIMIT IOC, reduce-only) filled with x=CALCULATED at the mark price
        rounded to the tick against the account; the clearance fee is
        instrument.liquidationFee * notional, capped at what is left of the wallet; a negative
        wallet is reset to 0 by the insurance fund (INSURANCE_CLEAR income).
        """
        for orders in list(acct.open_orders.values()):
            for o in list(orders.values()):
                self._finish(o, OrderStatus.EXPIRED, ExpiryReason.LIQUIDATION)
        for a in sorted(acct.open_algos.values(), key=lambda a: a.algo_id):
            if a.reduce_only and a.legacy_order is None:  # closePosition ones are reduce-only
                self._expire_algo(a)
        for symbol, pos in list(acct.positions.items()):
            if pos.amt == 0:
                continue
            b = self.books[symbol]
            inst = b.inst
            mark = b.ref_price() or pos.entry
            is_buy = pos.amt < 0
            rounding = ROUND_CEILING if is_buy else ROUND_FLOOR
            ticks = int((mark / inst.tick_size).to_integral_value(rounding=rounding))
            steps = int(abs(pos.amt) / inst.lot.step_size)
            now = self.clock.now_ms()
            o = Order(
                account=acct,
                symbol=symbol,
                order_id=b.new_order_id(),
                client_id=f"autoclose-{now}{self._next_liq_id:04d}",
                side="BUY" if is_buy else "SELL",
                type="LIMIT",
                tif="IOC",
                price=inst.from_ticks(ticks),
                price_ticks=ticks,
                qty_steps=steps,
                reduce_only=True,
                now_ms=now,
                stp="NONE",
            )
            self._next_liq_id += 1
            self._register(o)
            self.events.order_update(o, ExecutionType.NEW)
            self._fill(o, b, ticks, steps, maker=False, calculated=True)
        if self.ledger.insurance_clear(acct, self.clock.now_ms()):
            self.events.account_update(acct, "INSURANCE_CLEAR", [])


def check_client_id(value: str, name: str) -> None:
    """-4015 / -1100 for a client order id Binance would refuse."""
    if len(value) > 36:
        raise BinanceError(-4015, "Client order id length should not be more than 36 chars")
    if not CLIENT_ID.match(value):
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; "
            "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        )


def _refuse_unused(
    order_type: OrderType,
    tif: TimeInForce,
    stop_price: Decimal | None,
    callback_rate: Decimal | None,
    activate_price: Decimal | None,
    good_till_ms: int,
) -> None:
    """-1106 for a value the order's type or time in force does not use (a stop price on a
    LIMIT, MARKET or trailing stop, a callback rate or activation price on anything but a
    trailing stop, an expiry without GTD): the wire path refuses the same parameters
    (`server.wire_adapter.refuse_ignored`), so a caller of either learns it sent one instead of
    trading as if it had not."""
    if stop_price is not None and order_type not in _STOP_PRICED:
        raise _not_required("stopPrice")
    if order_type is not OrderType.TRAILING_STOP_MARKET:
        if callback_rate is not None:
            raise _not_required("callbackRate")
        if activate_price is not None:
            raise _not_required("activationPrice")
    if good_till_ms and tif is not TimeInForce.GTD:
        raise _not_required("goodTillDate")


def _not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def _mandatory(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def _time_of(row: UserTrade | Income) -> int:
    return row.time


def _cached(cache: dict[Decimal, int], key: Decimal, value: int) -> int:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


__all__ = ["CLIENT_ID", "Engine", "check_client_id"]
