"""The RiskManager: approves, rounds or denies every order, and owns the trading state.

Synchronous and free of I/O except one `stat` of the kill-switch file at most once per second;
time comes from the injected clock (exchange time, ms). Money is Decimal USDT, quantities
Decimal contracts.

Trading state (core.enums.TradingState), as a transition table:
    ACTIVE   -> REDUCING  a portfolio limit breached, the kill switch, the circuit breaker,
                          the exchange closing a position itself (liquidation, ADL, settlement)
    REDUCING -> HALTED    confirm_flat(): every position flat and no order open
    REDUCING -> ACTIVE    reset() by an operator (abandons the flatten), or the daemon's
                          automatic resume at a start (AUTOMATIC_RESET)
    HALTED   -> ACTIVE    reset() by an operator, or the daemon's automatic resume
    HALTED   -> REDUCING  reduce_again(): a position found while halted (a fill that came
                          after the halt, or one the books had missed): flattened again
In REDUCING only reduce-only / closePosition orders pass (the ExecManager cancels all orders
and flattens with reduce-only orders); in HALTED nothing passes. Each denial names the state
and the breach that caused it. A strategy's cancel (`check_cancel`) passes in every state: a
cancel never adds exposure, and refusing one would keep working an order its strategy no
longer wants, halted or not; only the position's protection is not the strategy's to cancel.
"""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol

from core.account import AccountView, Position
from core.clock import Clock
from core.enums import MARKET_LIKE_TYPES, ForcedClose, OrderIntent, OrderType, Side, TradingState
from core.events import AUTOMATIC_RESET, CancelDenied, RiskDenied, TradingStateChanged
from core.instrument import Instrument
from core.orders import CancelProposal, Order, OrderProposal, OrderRequest, forced_close
from risk_manager import pre_trade
from risk_manager.config import RiskConfig
from risk_manager.protection import on_tick_digits, plan_protection, take_profit_order_cap
from risk_manager.window import SlidingWindow

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
DAY_MS = 86_400_000
ORDER_RATE_WINDOW_MS = 60_000
KILL_FILE_CHECK_MS = 1_000  # the kill-switch file is stat'ed at most this often
NEVER_MS = 2**62  # a time no clock reaches
_TAKE_PROFIT_TYPES = frozenset({OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_MARKET})

ACTIVE = TradingState.ACTIVE
REDUCING = TradingState.REDUCING
HALTED = TradingState.HALTED
ORDINARY = OrderIntent.ORDINARY  # an order that uses the entries' budget (see `_budget_exempt`)

STATE_TRANSITIONS: dict[TradingState, frozenset[TradingState]] = {
    ACTIVE: frozenset({REDUCING}),
    REDUCING: frozenset({HALTED, ACTIVE}),
    HALTED: frozenset({ACTIVE, REDUCING}),
}


class IllegalStateTransition(ValueError):
    """The trading state was asked to move where the table (or a precondition) forbids."""

    def __init__(self, current: TradingState, target: TradingState, detail: str = "") -> None:
        text = f"trading state: illegal transition {current} -> {target}"
        super().__init__(f"{text}: {detail}" if detail else text)
        self.current = current
        self.target = target


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitCounts:
    """What the portfolio limits had counted when the last session stopped, as a restart
    restores them (`RiskManager.restore_limits`): counted from the journal at the daemon's
    start (since the last operator reset), and recorded with its session so that the parity
    audit's replay starts from the same counts. Equity is net of transfers, USDT."""

    at_ms: int  # the clock reading they were counted at: the UTC day they are of
    peak_equity: Decimal | None  # the drawdown limit's peak (None: none journaled)
    # our orders that ended having traded since 00:00 UTC (or the reset), by the exchange's
    # time of their end
    trades_today: int
    equity: Decimal | None  # the last equity: what an operator reset re-arms from
    day_start_equity: Decimal | None = None  # None: the first equity of the day, as at a start
    realized_today: Decimal = _ZERO  # today's realized PnL as the books restored it
    realized_base: Decimal = _ZERO  # the part of it an operator reset today accepted
    # what `day_start_equity` holds of the day's `RiskView.carried_in` (one of today: all of
    # it, the careful side; one of the day before: none)
    carried_base: Decimal = _ZERO


class RiskView(AccountView, Protocol):
    """The books as the RiskManager reads them: the AccountView plus open-order exposure."""

    def open_order_qty(self, symbol: str, side: Side) -> Decimal:
        """Remaining contracts of open orders on `side` that can grow the position: not
        reduce-only, not closePosition; PENDING_SUBMIT and UNKNOWN orders included."""
        ...

    def order_exposure(
        self, symbol: str, side: Side
    ) -> tuple[Decimal, Decimal | None, int, Decimal]:
        """(position qty, mark price, open order count, `open_order_qty(symbol, side)`) of
        `symbol` in one call: what `check` reads of every order (see BookKeeper)."""
        ...

    def equity_and_available(self) -> tuple[Decimal, Decimal]:
        """(`equity()`, `available_balance()`) in one call (see BookKeeper)."""
        ...

    def last_price(self, symbol: str) -> Decimal | None:
        """The last trade price (what a CONTRACT_PRICE stop triggers on); the mark (or the
        book's mid) before the first trade."""
        ...

    def carried_in(self, now_ms: int) -> Decimal:
        """The equity moved on the UTC day of `now_ms` by fills the exchange made on an
        earlier day (see BookKeeper), USDT."""
        ...

    @property
    def orders(self) -> Mapping[str, Order]:
        """Our orders that are or may be live, by client order id (what `open_order_count`
        counts): read only when an entry reaches `max_open_orders`, to leave out those that
        do not use the entries' budget."""
        ...


class RiskManager:
    """Pre-trade checks on the tick path, portfolio limits, kill switch, circuit breaker."""

    __slots__ = (
        "_carried_base",
        "_clock",
        "_day",
        "_day_start_equity",
        "_errors",
        "_instruments",
        "_last_equity",
        "_last_realized",
        "_order_rate",
        "_others",
        "_peak_equity",
        "_realized_base",
        "_reason",
        "_trades_today",
        "_view",
        "config",
        "file_exists",
        "kill_check_due_ms",
        "max_order_notional_usdt",
        "state",
    )

    def __init__(
        self,
        *,
        config: RiskConfig,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        view: RiskView,
        file_exists: Callable[[str], bool] = os.path.exists,
    ) -> None:
        for needed in (
            "open_order_qty(symbol, side)",
            "order_exposure(symbol, side)",
            "equity_and_available()",
        ):
            if not callable(getattr(view, needed.split("(")[0], None)):
                # Fail at start, not on the first order: the checks need it.
                raise TypeError(
                    f"RiskManager view {type(view).__name__} lacks {needed}: "
                    "see risk_manager.RiskView"
                )
        self.config = config
        # The largest single order (USDT at the mark) `check` lets through: the config's, an
        # attribute for the ExecManager's target orders (read once per order).
        self.max_order_notional_usdt = config.max_order_notional_usdt
        self._instruments = dict(instruments)
        self._clock = clock
        self._view = view
        # For the total-notional check: every other traded symbol, precomputed once.
        self._others = {s: tuple(o for o in self._instruments if o != s) for s in self._instruments}
        # The trading state: read it, never set it (`_move` and `restore_state` do). An
        # attribute, not a property: the ExecManager reads it on every item.
        self.state: TradingState = ACTIVE
        self._reason = ""  # the breach that moved us out of ACTIVE
        self._order_rate = SlidingWindow(
            window_ms=ORDER_RATE_WINDOW_MS, capacity=config.max_orders_per_minute
        )
        self._errors = SlidingWindow(
            window_ms=config.circuit_breaker_window_ms,
            capacity=max(1, config.circuit_breaker_errors),
        )
        self._day: int | None = None  # UTC day number (ms // DAY_MS) of the counters below
        self._day_start_equity: Decimal | None = None
        # What the day's start equity holds of the books' `carried_in` (the day before's fills
        # learnt today): taken at a start or an operator reset, 0 at 00:00.
        self._carried_base = _ZERO
        self._realized_base = _ZERO  # realized_today at the last operator reset (same day)
        self._trades_today = 0
        self._peak_equity: Decimal | None = None
        self._last_equity: Decimal | None = None
        self._last_realized = _ZERO
        # When `check_kill_switch_file` next stats the file (clock ms); never without one. Read
        # by the ExecManager to skip the call on the items in between.
        self.kill_check_due_ms = 0 if config.kill_switch_file is not None else NEVER_MS
        # Whether the kill-switch file exists: a stat, or in a recorded session its answer
        # recorded (the parity audit answers from the recording, not from the disk now).
        self.file_exists = file_exists

    # --- read-only state -------------------------------------------------------------------------

    @property
    def reason(self) -> str:
        """Why the state is not ACTIVE ("" when ACTIVE)."""
        return self._reason

    @property
    def peak_equity(self) -> Decimal | None:
        return self._peak_equity

    @property
    def day_start_equity(self) -> Decimal | None:
        return self._day_start_equity

    @property
    def trades_today(self) -> int:
        return self._trades_today

    # --- per-order check (tick path) -------------------------------------------------------------

    def check(
        self,
        request: OrderRequest,
        *,
        gap_open: bool,
        clock_offset_ms: int,
        risk_reducing: bool = False,
        data_lag_ms: int = 0,
        now_ms: int | None = None,
        count: bool = True,
    ) -> OrderRequest | RiskDenied:
        """The request, rounded to the instrument's grid, or a RiskDenied with the reason.

        `now_ms`: the time of the injected clock the caller read for the item or event this
        order answers (the ExecManager's); None: read here.

        `data_lag_ms`: how far behind the exchange's clock the market data the decision saw
        was read (an entry on a backlog being caught up is denied).

        Quantity is floored to the step; a limit price is snapped away from crossing (BUY down,
        SELL up); a trigger price is snapped so it fires no later than asked. An approved order
        counts toward the orders-per-minute window: call `check` only for orders you will send.

        `risk_reducing`: the order is one the daemon itself sends to take risk away (a
        flatten, the position's stop-loss / take-profit, the reduce-only close of a target;
        see `pre_trade`), and only counts as such when it is reduce-only or closePosition.
        Such an order goes out whenever the exchange would take it: our own soft limits
        (orders per minute, the price band, our count of open orders) do not hold it back,
        and it does not count toward the orders-per-minute window (which is about the orders
        that can add risk); the exchange's filters and the trading state still apply. Sent
        with an intent other than ORDINARY (the ExecManager's REDUCING), it also stays out of
        the entries' budget of `max_open_orders` while the books hold it open.

        `count=False`: nothing counted in the window (`rehearse`).
        """
        now = self._clock.now_ms() if now_ms is None else now_ms
        exempt = risk_reducing and (request.reduce_only or request.close_position)
        result = self._evaluate(request, gap_open, clock_offset_ms, data_lag_ms, now, exempt, count)
        if isinstance(result, str):
            return RiskDenied(event_time_ms=now, recv_time_ms=now, request=request, reason=result)
        # (an approval that is not exempt was counted in the window by `_evaluate`)
        return result

    def rehearse(
        self,
        request: OrderRequest,
        *,
        gap_open: bool,
        clock_offset_ms: int,
        data_lag_ms: int = 0,
        now_ms: int,
    ) -> bool:
        """Every check `check` makes of an entry, by `check`'s own code, without any effect:
        nothing counted in the orders-per-minute window (`trading_engine.order_rehearsal`,
        which keeps this path warm for the next real order). True when `check` would approve
        it."""
        return (
            self.check(
                request,
                gap_open=gap_open,
                clock_offset_ms=clock_offset_ms,
                data_lag_ms=data_lag_ms,
                now_ms=now_ms,
                count=False,
            ).__class__
            is not RiskDenied
        )

    def check_cancel(self, proposal: CancelProposal, order: Order | None) -> CancelDenied | None:
        """None when the strategy may cancel `order`, the open order the books hold under
        `proposal.client_order_id` (None: they hold no such open order), else a CancelDenied
        with the reason. In every trading state, HALTED and REDUCING included (a cancel takes
        exposure away, never adds it), and counting toward no order limit (Binance's order
        rate limits count new orders). Refused: an order that is not open (ended, or never
        ours), one of another symbol, an exchange-side stop-loss / take-profit (the position's
        protection: placed, moved and cancelled by this RiskManager alone), and, while
        REDUCING, a reduce-only order (it is closing the position)."""
        reason = self._cancel_problem(proposal, order)
        if reason is None:
            return None
        now = self._clock.now_ms()
        return CancelDenied(
            event_time_ms=now,
            recv_time_ms=now,
            symbol=proposal.symbol,
            client_order_id=proposal.client_order_id,
            reason=reason,
        )

    def _cancel_problem(self, proposal: CancelProposal, order: Order | None) -> str | None:
        cid = proposal.client_order_id
        if order is None or order.is_terminal:
            return f"no open order {cid}: it ended already, or is not ours"
        if order.symbol != proposal.symbol:
            return f"order {cid} is of {order.symbol}, not {proposal.symbol}"
        if order.is_protective:
            what = "take-profit" if order.type in _TAKE_PROFIT_TYPES else "stop-loss"
            return (
                f"order {cid} is the position's exchange-side {what}: the risk manager places, "
                "moves and cancels it (risk.stop_loss_pct / take_profit_pct), not the strategy"
            )
        if self.state is REDUCING and order.reduce_only:
            return (
                f"order {cid} is reduce-only and trading is REDUCING ({self._reason}): it "
                "closes the position"
            )
        return None

    def _evaluate(
        self,
        request: OrderRequest,
        gap_open: bool,
        clock_offset_ms: int,
        lag_ms: int,
        now: int,
        exempt: bool = False,
        count: bool = True,
    ) -> OrderRequest | str:
        """The checks (see `pre_trade`); `exempt`: a risk-reducing order of the daemon's own,
        reduce-only or closePosition, which our soft limits do not hold back. An approved
        order that is not exempt is counted in the orders-per-minute window here, unless
        `count` is false (a rehearsal)."""
        cfg = self.config
        closing = request.reduce_only or request.close_position
        state = self.state
        if state is not ACTIVE:
            if state is HALTED:
                return f"trading state HALTED ({self._reason}): no orders until an operator reset"
            if not closing:
                return f"trading state REDUCING ({self._reason}): only reduce-only orders pass"
        symbol = request.symbol
        inst = self._instruments.get(symbol)
        if inst is None:
            return f"unknown symbol {symbol}: not one of the traded instruments"
        # Each limit is compared and worded in one place, its `pre_trade` function (README,
        # "Where tick-to-order goes": writing the comparisons out here as well saved no
        # measurable time).
        if not closing and (
            r := pre_trade.check_view_current(
                gap_open, lag_ms, cfg.max_data_lag_ms, clock_offset_ms, cfg.max_clock_offset_ms
            )
        ):
            return r

        req = _rounded(inst, request)
        position_qty, mark, open_orders, open_same = self._view.order_exposure(symbol, req.side)
        if closing and (
            r := (request.close_position and pre_trade.check_close_position_type(req.type))
            or pre_trade.check_reduces(req.side, position_qty, close_position=req.close_position)
        ):
            return r
        limit_price = req.price if req.type is not OrderType.MARKET else None
        if violation := inst.check_order(
            side=req.side,
            order_type=req.type,
            quantity=req.quantity,
            price=limit_price,
            stop_price=req.stop_price,
            reduce_only=req.reduce_only,
            close_position=req.close_position,
            mark_price=mark,
            # Our count holds orders whose cancel is on its way: the exchange counts its own.
            open_orders=0 if exempt else open_orders,
        ):
            return pre_trade.filter_reason(violation)
        if exempt:
            return req  # none of the soft limits below holds back a risk-reducing order
        if (
            limit_price is not None
            and mark is not None
            and (r := pre_trade.check_price_band(limit_price, mark, cfg.price_band_pct))
        ):
            return r
        if not closing and (
            r := self._check_entry(req, position_qty, mark, open_orders, open_same)
        ):
            return r
        # The last check: an order it lets through is approved, and counted in the window now.
        window = self._order_rate
        if r := pre_trade.check_order_rate(window.count(now), cfg.max_orders_per_minute):
            return r
        if count:
            window.record(now)
        return req

    def _budget_exempt(self, symbol: str) -> int:
        """How many of `symbol`'s open orders do not use the entries' budget of
        `max_open_orders`: the position's stop-loss / take-profit (whoever placed them: one
        adopted from an earlier journal too), the daemon's own risk-reducing orders (an
        `intent` other than ORDINARY on the books' order: the OrderSubmitted's, or after a
        restart the journal's `orders.intent`; `check` approved them as such), and the
        exchange's own (a
        liquidation) tracked in the books. A position with 4 take-profits and a stop-loss left
        no entry to a cap of 5. The exchange's limits (MAX_NUM_ORDERS, the algo order limit)
        count every order."""
        exempt = 0
        for cid, o in self._view.orders.items():
            if o.symbol == symbol and (
                o.is_protective or o.intent is not ORDINARY or forced_close(cid) is not None
            ):
                exempt += 1
        return exempt

    def _check_entry(
        self,
        req: OrderRequest,
        position_qty: Decimal,
        mark: Decimal | None,
        open_orders: int,
        open_same: Decimal,
    ) -> str | None:
        """Checks that only an order able to grow a position must pass; `open_same`: the open
        quantity on its side that could grow the position (`open_order_qty`)."""
        cfg = self.config
        symbol = req.symbol
        if r := pre_trade.check_mark_known(symbol, mark):
            return r
        assert mark is not None  # check_mark_known denies an entry without one
        cap = cfg.max_open_orders
        # Every open order counted bounds the entries' count from above: within the cap it
        # settles the check, and only past it are the orders looked at (the common path counts).
        if pre_trade.check_open_orders(symbol, open_orders, cap) and (
            r := pre_trade.check_open_orders(symbol, open_orders - self._budget_exempt(symbol), cap)
        ):
            return r
        qty = req.quantity
        assert qty is not None  # the filters refuse a missing quantity without closePosition
        # What the order pays: its limit, else its trigger, else the mark.
        ref = mark if req.type is OrderType.MARKET else (req.price or req.stop_price or mark)
        if r := pre_trade.check_order_notional(qty * ref, cfg.max_order_notional_usdt):
            return r
        increase, projected = pre_trade.exposure_after(position_qty, req.side, qty, open_same)
        if increase == 0:
            return None  # only closes: exposure caps and margin do not apply
        position_notional = abs(projected) * mark
        if r := pre_trade.check_position_notional(
            symbol, projected, position_notional, cfg.max_position_notional_usdt
        ):
            return r
        total = position_notional
        for other in self._others[symbol]:
            total += self._worst_notional(other)
        if r := pre_trade.check_total_notional(total, cfg.max_total_notional_usdt):
            return r
        equity, available = self._view.equity_and_available()
        if r := pre_trade.check_leverage(total, equity, cfg.leverage):
            return r
        return pre_trade.check_margin(
            increase * ref / cfg.leverage, available, cfg.min_available_margin_usdt, cfg.leverage
        )

    def _worst_notional(self, symbol: str) -> Decimal:
        """Largest notional `symbol` can reach if its open orders on either side fill."""
        view = self._view
        position = view.position(symbol)
        buys = view.open_order_qty(symbol, Side.BUY)
        sells = view.open_order_qty(symbol, Side.SELL)
        worst = max(abs(position.qty + buys), abs(position.qty - sells))
        if worst == 0:
            return _ZERO
        price = view.mark_price(symbol) or position.entry_price
        return worst * price

    # --- portfolio limits ------------------------------------------------------------------------

    def on_equity(self, equity: Decimal, realized_today: Decimal) -> TradingStateChanged | None:
        """Feed the account's equity and today's realized PnL (USDT, fees included, since
        00:00 UTC); returns the state change if a portfolio limit is reached.

        Daily loss is the larger of (a) equity lost since the day began (the last equity seen
        before 00:00 UTC, or the first of the day; moved by what fills the exchange made before
        00:00 and we learnt of after it moved: `RiskView.carried_in`, the day before's) and
        (b) today's realized loss: (b) survives a
        restart through the journal, (a) also counts open losses. Drawdown is measured from
        the highest equity seen. Reaching a limit (>=) trips it.
        """
        now = self._clock.now_ms()
        self._roll_day(now)
        # Yesterday's fills learnt today: the equity the day started from lacked them.
        carried = self._carried_in(now)
        start = self._day_start_equity
        if start is None:
            start = self._day_start_equity = equity
            self._carried_base = carried  # the equity now holds them
        start += carried - self._carried_base
        self._last_equity = equity
        self._last_realized = realized_today
        peak = self._peak_equity
        if peak is None or equity > peak:
            peak = self._peak_equity = equity
        if self.state is not ACTIVE:
            return None
        breach = self._portfolio_breach(equity, realized_today, start=start, peak=peak)
        return None if breach is None else self._move(REDUCING, breach)

    def limit_reached(self, equity: Decimal, realized_today: Decimal) -> str | None:
        """The reason `on_equity(equity, realized_today)` would trip a portfolio limit now
        (None: it would not, or the state is not ACTIVE), recording nothing. For a caller that
        must know whether a limit already reached is still to trip: the ExecManager feeds the
        equity on a schedule, so a fill that reaches a limit trips it at the next check (the
        backtest's fast path asks before it takes bars as quiet). Within the RiskManager's
        current UTC day: the next day's first `on_equity` starts the day's figures again."""
        if self.state is not ACTIVE:
            return None
        start = self._day_start_equity
        peak = self._peak_equity
        carried = self._carried_in(self._clock.now_ms()) - self._carried_base
        return self._portfolio_breach(
            equity,
            realized_today,
            start=equity if start is None else start + carried,
            peak=equity if peak is None or equity > peak else peak,
        )

    def record_trade(self, ended_ms: int) -> TradingStateChanged | None:
        """Count one trade (call once per order that ended having traded, not per fill) on the
        UTC day of `ended_ms`, the exchange's time of the order's end (a filled order's: its
        last fill's trade time), as a restart counts it from the journal
        (`SqliteJournal.orders_filled_since`), not on the day it is learnt of: an order that
        filled at 23:59:50 while the daemon was down, learnt of at 00:00:10, was yesterday's
        trade (Binance's daily figures say so too). One of a day gone counts nothing; one of a
        day our clock has not reached yet (the exchange's a few ms ahead at midnight) starts
        that day now rather than be lost when our clock gets there."""
        self._roll_day(self._clock.now_ms())
        day = ended_ms // DAY_MS
        if self._day is not None and day < self._day:
            return None
        self._roll_day(ended_ms)
        self._trades_today += 1
        if self.state is not ACTIVE or (breach := self._trades_breach()) is None:
            return None
        return self._move(REDUCING, breach)

    def _trades_breach(self) -> str | None:
        """The trades-per-day limit reached (>=; 0: no limit): its one comparison and reason,
        for a trade counted and for an equity update alike."""
        limit = self.config.max_trades_per_day
        if limit == 0 or self._trades_today < limit:
            return None
        return f"max trades per day: {self._trades_today} trades today (max {limit})"

    def _portfolio_breach(
        self,
        equity: Decimal,
        realized_today: Decimal,
        *,
        start: Decimal,
        peak: Decimal,
    ) -> str | None:
        """The portfolio limit `equity` and `realized_today` reach against the day's
        starting equity `start` and the peak `peak` (its reason), else None."""
        cfg = self.config
        loss = max(start - equity, self._realized_base - realized_today)
        if cfg.max_daily_loss_usdt > 0 and loss >= cfg.max_daily_loss_usdt:
            return (
                f"max daily loss: lost {loss:.2f} USDT today (max {cfg.max_daily_loss_usdt} USDT)"
            )
        if (
            cfg.max_daily_loss_pct > 0
            and start > 0
            and loss * _HUNDRED >= cfg.max_daily_loss_pct * start
        ):
            return (
                f"max daily loss: lost {loss:.2f} USDT today, {loss * _HUNDRED / start:.2f}% of "
                f"the day's starting equity {start:.2f} USDT (max {cfg.max_daily_loss_pct}%)"
            )
        if (
            cfg.max_drawdown_pct > 0
            and peak > 0
            and (peak - equity) * _HUNDRED >= cfg.max_drawdown_pct * peak
        ):
            drawdown = (peak - equity) * _HUNDRED / peak
            return (
                f"max drawdown: equity {equity:.2f} USDT is {drawdown:.2f}% below the peak "
                f"{peak:.2f} USDT (max {cfg.max_drawdown_pct}%)"
            )
        return self._trades_breach()

    def _carried_in(self, now_ms: int) -> Decimal:
        """The books' `carried_in` of the day these limits count (`_day`), USDT: a trade
        that ends on the exchange's clock a few ms past 00:00 starts that day before our
        clock does (`record_trade`), and our clock's day's figure is then the day before's,
        which the new day's start equity holds already."""
        if self._day is not None and now_ms // DAY_MS < self._day:
            now_ms = self._day * DAY_MS
        return self._view.carried_in(now_ms)

    def _roll_day(self, now_ms: int) -> None:
        """At the first event of a new UTC day, start the day's loss and trade counters. Only
        forward: a trade can start the day a few ms before our clock does (`record_trade`),
        and the clock's next reading, still of the day before, must not start that again."""
        day = now_ms // DAY_MS
        if self._day is not None and day <= self._day:
            return
        self._day = day
        self._day_start_equity = self._last_equity  # None until the first on_equity
        self._carried_base = _ZERO
        self._realized_base = _ZERO  # the caller's realized_today restarts at 00:00 UTC
        self._last_realized = _ZERO
        self._trades_today = 0

    # --- kill switch and circuit breaker ---------------------------------------------------------

    def kill(self, reason: str) -> TradingStateChanged | None:
        """Stop trading at once: ACTIVE -> REDUCING. None if already REDUCING or HALTED."""
        if self.state is not ACTIVE:
            return None
        return self._move(REDUCING, f"kill switch: {reason}")

    def record_stream_failure(self, stream: str, detail: str) -> TradingStateChanged | None:
        """A stream of the venue failed for good (`detail`: why, e.g. the key refused):
        ACTIVE -> REDUCING as the kill switch does, with the stream as the reason. It read
        "kill switch: stream user failed: ...", and the operator looked for a KILL file or a
        SIGUSR1 nobody sent. None when already REDUCING or HALTED."""
        if self.state is not ACTIVE:
            return None
        return self._move(REDUCING, f"{stream} stream failed: {detail}".rstrip(": "))

    def check_kill_switch_file(self, now_ms: int | None = None) -> TradingStateChanged | None:
        """Kill if the configured file exists; stats it at most once per second (clock ms,
        `kill_check_due_ms`), while ACTIVE. `now_ms`: the caller's reading of the clock (the
        ExecManager's, once per item)."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        if now < self.kill_check_due_ms:
            return None
        path = self.config.kill_switch_file
        if path is None:
            return None
        self.kill_check_due_ms = now + KILL_FILE_CHECK_MS
        if self.state is not ACTIVE or not self.file_exists(path):
            return None
        return self.kill(f"file {path} exists")

    def kill_file_present(self) -> str | None:
        """The configured kill-switch file's path when it exists now (stat'ed now, whatever the
        state): an operator's reset is refused while it is there, as it would kill again
        within a second."""
        path = self.config.kill_switch_file
        return path if path is not None and self.file_exists(path) else None

    def record_error(self, kind: str) -> TradingStateChanged | None:
        """Count one venue error (e.g. "rejected -2019", "timeout"); may trip the breaker."""
        return self._record_fault(kind)

    def record_unknown(self, client_order_id: str = "") -> TradingStateChanged | None:
        """Count one order whose outcome is unknown; may trip the breaker."""
        return self._record_fault(
            f"order {client_order_id} outcome unknown" if client_order_id else "outcome unknown"
        )

    def _record_fault(self, what: str) -> TradingStateChanged | None:
        cfg = self.config
        if cfg.circuit_breaker_errors == 0:
            return None
        count = self._errors.add(self._clock.now_ms())
        if count < cfg.circuit_breaker_errors or self.state is not ACTIVE:
            return None
        self._errors.clear()
        return self._move(
            REDUCING,
            f"circuit breaker: {count} errors or unknown orders within "
            f"{cfg.circuit_breaker_window_ms} ms (last: {what})",
        )

    def record_forced_close(self, kind: ForcedClose, detail: str) -> TradingStateChanged | None:
        """The exchange closed (part of) a position itself: `kind` says how (a liquidation,
        an auto-deleveraging, a delisting settlement), `detail` what (symbol, side, quantity,
        price). ACTIVE -> REDUCING with `detail` as the reason, as for a breached limit: every
        order is cancelled, what is left of the positions is closed, then HALTED until an
        operator resets (`--reset-halt`; the state survives a restart). None when already
        REDUCING or HALTED.

        Why stop rather than trade on: the position the strategy was working is gone, and
        the margin it sized against with it; what let the exchange take over is still there
        (a market that went through the stop-loss, a stop that was missing, leverage too
        high for the volatility, or a market the insurance fund could not absorb, for an
        auto-deleveraging). A strategy re-entering at once can be liquidated again within
        minutes, with nobody having looked. An unattended bot's user expects it to stop and
        say so, not to find a second liquidation in the morning; resetting is one flag."""
        if self.state is not ACTIVE:
            return None
        return self._move(REDUCING, f"{kind.value}: {detail}")

    # --- state transitions -----------------------------------------------------------------------

    def confirm_flat(self) -> TradingStateChanged | None:
        """REDUCING -> HALTED once every position is flat and no order is open (per the books);
        None while that is not yet so. Raises IllegalStateTransition outside REDUCING."""
        if self.state is not REDUCING:
            raise IllegalStateTransition(self.state, HALTED, "only REDUCING can halt")
        view = self._view
        for symbol in self._instruments:
            if not view.position(symbol).is_flat:
                return None
        if view.open_order_count() > 0:
            return None
        return self._move(HALTED, self._reason, note="flat and no open orders; halted after: ")

    def reduce_again(self, found: str) -> TradingStateChanged | None:
        """HALTED -> REDUCING because of `found`, a position the books hold while HALTED, which
        promises flat: a fill that came after the halt (an order's fill racing its cancel), or
        one the books had missed when they halted and a reconciliation brought. Left alone it
        would stay open without a stop-loss (protection is placed only while ACTIVE) until an
        operator looked; it is flattened, then the state is HALTED again. None outside HALTED."""
        if self.state is not HALTED:
            return None
        return self._move(REDUCING, f"{found} while {HALTED} ({self._reason})")

    def reset(self, operator_reason: str) -> TradingStateChanged:
        """An operator's return to ACTIVE. Every limit is re-armed from the current values
        (peak and day-start equity = the last equity, today's realized loss and trade count
        from now), so only a new breach trips again. Refused while ACTIVE, and while the
        kill-switch file exists (it would kill again within a second).

        A reason beginning with AUTOMATIC_RESET is the daemon's own at a start (a halt whose
        cause the start cleared: the user stream's failure), journaled as it is rather than as
        an operator's, and it only lifts the halt: nobody looked at the account and the cause
        was no limit, so every limit counts on what it counted (the drawdown peak, the day's
        starting equity and realized loss base, the day's trades, the circuit breaker's
        errors). A day that had lost 80 of its 100 USDT before the stream failed trips at 20
        more, not at 100 more; a later restart counts through it (`core.events.rearms_limits`)."""
        if self.state is ACTIVE:
            raise IllegalStateTransition(ACTIVE, ACTIVE, "already ACTIVE")
        if (path := self.kill_file_present()) is not None:
            raise IllegalStateTransition(
                self.state, ACTIVE, f"remove the kill-switch file {path} first"
            )
        automatic = operator_reason.startswith(AUTOMATIC_RESET)
        if not automatic:
            if self._last_equity is not None:
                self._peak_equity = self._last_equity
                self._day_start_equity = self._last_equity
                self._carried_base = self._carried_in(self._clock.now_ms())
            self._realized_base = self._last_realized
            self._trades_today = 0
            self._errors.clear()
        event = self._move(
            ACTIVE, operator_reason if automatic else f"operator reset: {operator_reason}"
        )
        self._reason = ""
        return event

    def restore_limits(self, counts: LimitCounts) -> None:
        """After a restart, what the portfolio limits had counted (see `LimitCounts`): the
        daemon's start, and the parity audit's replay of its session, from the same counts.
        Without it a restart would grant a fresh drawdown allowance, trade count and daily
        loss, and `--reset-halt` would count the loss it resets again at once."""
        self._roll_day(counts.at_ms)
        peak = counts.peak_equity
        if peak is not None and (self._peak_equity is None or peak > self._peak_equity):
            self._peak_equity = peak
        self._trades_today = max(self._trades_today, counts.trades_today)
        if counts.equity is not None:
            self._last_equity = counts.equity
        if counts.day_start_equity is not None:
            self._day_start_equity = counts.day_start_equity
            self._carried_base = counts.carried_base
        self._last_realized = counts.realized_today
        self._realized_base = counts.realized_base

    def restore_state(self, state: TradingState, reason: str) -> None:
        """Set the state journaled before a restart (no event: nothing changed)."""
        self.state = state
        self._reason = "" if state is ACTIVE else reason

    def _move(self, target: TradingState, reason: str, *, note: str = "") -> TradingStateChanged:
        previous = self.state
        if target not in STATE_TRANSITIONS[previous]:
            raise IllegalStateTransition(previous, target)
        self.state = target
        self._reason = reason
        now = self._clock.now_ms()
        return TradingStateChanged(
            event_time_ms=now,
            recv_time_ms=now,
            previous=previous,
            current=target,
            reason=note + reason,
        )

    # --- position protection ---------------------------------------------------------------------

    def protective_orders(
        self, position: Position, entry_price: Decimal | None, existing: list[Order]
    ) -> tuple[list[OrderProposal], list[str]]:
        """(proposals to place, client order ids to cancel) for `position`'s stop-loss and
        take-profit: a closePosition STOP_MARKET / a reduce-only TAKE_PROFIT_MARKET at
        stop_loss_pct / take_profit_pct from `entry_price` (None = the position's average
        entry), checked against the last trade price they trigger on. `existing`
        may hold any open orders; only this symbol's closing stops are considered. Call when an
        entry fills and whenever the position changes; see risk_manager.protection. The
        take-profit takes at most `take_profit_order_cap` orders (the traded symbols share the
        account's limit on open conditional orders)."""
        instrument = self._instruments[position.symbol]
        return plan_protection(
            instrument=instrument,
            position=position,
            entry_price=position.entry_price if entry_price is None else entry_price,
            existing=existing,
            stop_loss_pct=self.config.stop_loss_pct,
            take_profit_pct=self.config.take_profit_pct,
            trigger_price=self._view.last_price(position.symbol),
            max_take_profits=take_profit_order_cap(instrument, len(self._instruments)),
        )


def _rounded(inst: Instrument, req: OrderRequest) -> OrderRequest:
    """The request on the instrument's grid; the same object when nothing moved."""
    qty = req.quantity
    if qty is None:
        new_qty = None
    else:
        # On the lot's grid already (the common case): what `floor_qty` returns then, without
        # its call on the order path; anything else is floored by it.
        lot = inst.market_lot if req.type in MARKET_LIKE_TYPES else inst.lot
        step = lot.step_size
        if qty >= lot.min_qty and step and (qty - lot.min_qty) % step == 0:
            new_qty = qty.quantize(step)
        else:
            new_qty = inst.floor_qty(qty, req.type)
    price = req.price
    new_price = None if price is None else inst.round_price(price, req.side)
    stop = req.stop_price
    new_stop = None
    if stop is not None:
        # A take-profit fires on the opposite move of a stop: round as the other side's stop.
        fires_as = req.side.opposite if req.type in _TAKE_PROFIT_TYPES else req.side
        new_stop = inst.round_stop_price(stop, fires_as)
    # Same value: keep the caller's object (no allocation on the common path).
    if new_qty == qty and new_price == price and new_stop == stop:
        return req
    return replace(
        req,
        quantity=new_qty,
        price=None if new_price is None else on_tick_digits(inst, new_price),
        stop_price=None if new_stop is None else on_tick_digits(inst, new_stop),
    )
