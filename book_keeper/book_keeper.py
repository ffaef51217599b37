"""The daemon's books: wallet, one-way positions, realized and unrealized PnL, commissions,
funding, equity with its peak, drawdown and curve, and the book of orders that are or may be
live. Money in USDT (the margin asset), quantities in contracts, all Decimal.

The arithmetic is Binance's, written exactly as the local exchange writes it
(`exchange_sim/engine/state.py` `Position.apply`, `ledger.py` `_fill`), so both agree to the
last Decimal digit:
- a fill that opens or adds: entry = (|old| * entry + |qty| * price) / |new| (full precision);
- a fill that reduces: rp = closed * (price - entry) * (+1 long, -1 short), rounded half-up to
  8 decimals; the entry stays; flat resets it to 0; a flip closes the old position and opens
  the remainder at the fill price;
- wallet = start + sum(rp) - sum(commission in the margin asset) + sum(funding)
  (+ transfers and adopted corrections, see below); a fee paid in another asset (BNB) is
  counted in the fee totals, and that asset's wallet is the one the exchange last reported;
- unrealized PnL = qty * (mark - entry), mark = the last MarkPrice, else the last trade, else
  the book-ticker mid; equity = wallet + unrealized PnL.
- peak equity and max drawdown are of equity net of transfers (equity - transfers), as the
  RiskManager's drawdown limit measures it (a deposit is no gain to draw down from, a
  withdrawal no loss), sampled at every mark price and every booked event.

The exchange is the authority. Each fill's own `rp` is compared with ours; every
`BalanceChanged`, `PositionChanged` and `VenueSnapshot` is compared with what we computed, and
every difference is logged, counted (`differences`) and resolved by adopting the exchange's
value. A snapshot is compared only for what did not change after its `event_time_ms`, so
a fill that raced the REST reads is not undone. A position or balance update (reason ORDER)
that disagrees is held first: Binance can send it before the fills it reports; it is dropped
once they arrive and agree, else adopted 2 s later (event time) or settled by a snapshot; one
older than a fill the books hold (delivered after that fill's report) is how things stood
before it: not held, not adopted. A
fill made by the exchange's time an adopted position (or wallet) holds (an account update's
ms included: its own fill; a snapshot's excluded), whose report comes after the adoption
(lost on the stream, read back over REST), is in it: booked in the totals, the position
left as adopted, the wallet's correction it explains taken back. Of several fills of an
account update's own ms (one order's, in one match), it holds those that make up the
difference from what the books had, in the exchange's order; the rest are stepped on. An
update of that ms that disagrees, later on the stream, is adopted at once, not held.
Funding: `FundingPaid` books its amount (once per symbol and settlement: those of the 7 days
up to the newest booked are remembered, an older one counts as booked); `BalanceChanged`
with reason FUNDING_FEE books its balance change `bc` (the settlement's amount) as funding
and compares its wallet as a fill's update is compared (held, or older than a fill booked:
not adopted), since the stream may deliver it before or after the reports of a fill made
next to it; one without a `bc` books the wallet difference as funding; a `FundingPaid` of a
settlement already booked from a balance update (within a minute of its time, of the same
amount: several symbols settle at one time) is not booked twice, nor the reverse; an update
delivered twice (same time, `bc` and wallet) is booked once. Funding is of its settlement's
UTC day (00:00 UTC: the day it begins): one of a day before learnt later is that day's, as a
late fill is (today's PnL leaves it out, `carried_in` holds it). A
`BalanceChanged` with reason INSURANCE_CLEAR (the insurance fund resetting the wallet a
liquidation left negative to 0) is booked as an adjustment, not counted as a difference. The
venue should emit fills recovered over REST before the `VenueSnapshot` of the same
reconciliation (a fill arriving after a snapshot that already contains it would be counted
twice until the next snapshot corrects it).

Bad input changes nothing: an event for a symbol without an instrument, a fill or order event
of an order the daemon never sent (except the exchange's own liquidation orders) are logged
and counted in `rejected_events`. Fills are applied once per (symbol, trade id), and in the
exchange's order: a fill that arrives after fills with higher trade ids (a stop's fill late on
a silent user stream, a fill recovered over REST after the order's own answer) is booked
before them, as the exchange booked it, so the entry price is the exchange's, not an average
taken in arrival order (`RESEQUENCE_FILLS` per symbol are kept for that).

`mark()` runs on every market-data item: it stores a reference and compares one integer. A
mark price also samples the peak and drawdown; the equity curve gets one point per minute.

`BookKeeper` composes parts that each have a module of their own: `symbol_book` (one symbol's
position and totals, the fills kept to re-sequence a late one, the position arithmetic),
`order_book` (the orders that are or may be live, the ended ones, the order totals),
`funding` (the settlements booked, once each), `held_updates` (the account updates held
ahead of their fills), `margin` (the initial margin of open orders) and `summary` (the
closing summary). What runs per event and per market-data item (`apply`, `mark`, the reads of
the order path) stays here: moved out, each would cost a call more.
"""

import logging
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from book_keeper.carried_in import CarriedIn
from book_keeper.checkpoint import Replay
from book_keeper.funding import FundingSettlements
from book_keeper.held_updates import HeldUpdates
from book_keeper.margin import holds_margin, open_order_margin
from book_keeper.order_book import OrderBook
from book_keeper.summary import BookSummary
from book_keeper.symbol_book import (
    ZERO,
    Applied,
    SymbolBook,
    agrees,
    held_by_adoption,
    position_step,
    rewind,
)
from core.account import Balance, Position
from core.clock import Clock
from core.enums import Side
from core.events import (
    BalanceChanged,
    Event,
    FundingPaid,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
    OrderRejected,
    OrderStatusUnknown,
    OrderSubmitted,
    PositionChanged,
    VenueSnapshot,
)
from core.instrument import Instrument
from core.market import BookTicker, MarkPrice, Trade
from core.orders import Fill, Order, forced_close, outside_order

if TYPE_CHECKING:
    from book_keeper.journal import SqliteJournal

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
DAY_MS = 86_400_000
# ACCOUNT_UPDATE reasons that move money in or out of the account: booked as transfers.
TRANSFER_REASONS = frozenset(
    {
        "DEPOSIT",
        "WITHDRAW",
        "WITHDRAW_REJECT",
        "ADMIN_DEPOSIT",
        "ADMIN_WITHDRAW",
        "MARGIN_TRANSFER",
        "ASSET_TRANSFER",
    }
)
FUNDING_REASON = "FUNDING_FEE"
# After a liquidation the insurance fund resets a negative wallet to 0: money the books could
# not have computed from any fill, booked as an adjustment, not a difference.
INSURANCE_REASON = "INSURANCE_CLEAR"
ORDER_REASON = "ORDER"  # an ACCOUNT_UPDATE caused by fills
START_SNAPSHOT = "snapshot start"  # the start-up reconciliation (`VenueSnapshot.reason` "start")


class BookKeeper:
    """Implements `core.account.AccountView`; fed by `apply(event)` and `mark(item)`.

    `starting_balances` is the wallet per asset when the books begin (None: learn it from the
    first BalanceChanged / VenueSnapshot, which is then not a difference). `leverage` per symbol
    (default 20, Binance's default) values the initial margin in `available_balance`; a
    VenueSnapshot's positions update it. `curve_points` bounds the equity curve (one per minute).
    `revalue_eagerly` (live) computes equity and the available balance right after each event
    and mark price, off the order path; a backtest, where nothing waits, computes them only
    when read (the same values, fewer computations).
    """

    def __init__(
        self,
        *,
        starting_balances: Mapping[str, Decimal] | None,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        leverage: Mapping[str, int] | None = None,
        default_leverage: int = 20,
        curve_points: int = 7 * 24 * 60,
        remember_orders: int = 10_000,
        revalue_eagerly: bool = True,
    ) -> None:
        self._clock = clock
        self._eager = revalue_eagerly
        self._curve_points = curve_points
        self.instruments = dict(instruments)
        assets = {inst.margin_asset for inst in self.instruments.values()}
        self.asset = assets.pop() if len(assets) == 1 else "USDT"
        lev = dict(leverage or {})
        self._books = {
            s: SymbolBook(inst, lev.get(s, default_leverage))
            for s, inst in self.instruments.items()
        }
        self._wallets: dict[str, Decimal] = dict(starting_balances or {})
        self._given_balances = dict(self._wallets)  # as given, for a restore's replay twin
        self.starting_balances: dict[str, Decimal] = dict(self._wallets)
        self._wallet_known = self.asset in self._wallets
        self._wallet_ms = 0
        # The exchange's time (ms) up to which the margin wallet adopted last (booked as an
        # adjustment) holds every fill: one made before it whose report comes later is in it.
        self._wallet_adopted_ms = 0
        self._wallet_adopted_update_ms = 0  # that of an account update (`_of_the_adopted_ms`)
        # The wallet an account update of ms `at` made the books adopt and the one they had,
        # moved by the fills made by then booked since: (at, wallet, adopted wallet); None
        # after a snapshot's adoption (`_held_by_wallet`).
        self._wallet_step: tuple[int, Decimal, Decimal] | None = None
        self._order_book = OrderBook(
            clock=clock,
            traded=self._books,
            remember=remember_orders,
            reject=self._reject,
            difference=self._difference,
        )
        # The order book's live orders and ended ones (never rebound), read here directly: on
        # every fill and every order's risk check, a call fewer.
        self._orders = self._order_book.live
        self._ended = self._order_book.ended
        # Orders that are or may be live, by client order id: the same dict, read-only for
        # readers (an attribute, not a property: read on every target order).
        self.orders: Mapping[str, Order] = self._orders
        # The funding settlements booked: each is booked once, however often it is read.
        self._funding = FundingSettlements()
        # Fills restored of symbols no longer traded, by (symbol, trade id): booked once.
        self._untraded_seen: set[tuple[str, int]] = set()
        # ACCOUNT_UPDATEs (reason ORDER) that disagree with us, held until the fills they may
        # be ahead of arrive (then they agree: nothing to adopt) or HOLD_AHEAD_MS passes.
        self._held = HeldUpdates()
        self._curve: deque[tuple[int, Decimal]] = deque(maxlen=curve_points)
        self._next_sample_ms = 0
        # A restore's replay twin (`_replay_twin`): books journal rows as a restart reads them
        # back. `_journal_knows`: whether the journal has an orders row for the fill replayed.
        self._restoring = False
        self._journal_knows = False
        # Every change that can move equity or the available balance bumps `_version` (apply,
        # reconcile, restore, a mark that moves a valuation price); both are cached per version.
        self._version = 0
        self._equity_at = self._available_at = -1
        self._equity = self._available = ZERO
        self._day = -1  # UTC day (ms // DAY_MS) of the last wallet change
        self._day_base = ZERO  # wallet - transfers when that day began
        self._day_fills = 0
        self._carried = CarriedIn()  # what the exchange did on a day before it reached us
        # totals since the books began (restored history included)
        self.fill_count = 0
        self.maker_fills = 0
        self.restored_fills = 0
        self.volume = ZERO
        self.fees: dict[str, Decimal] = {}
        self.realized_pnl = ZERO
        self.funding = ZERO
        self.transfers = ZERO  # USDT in (+) and out (-): another asset's moves are not counted
        self.adjustments = ZERO  # USDT corrections adopted from the exchange
        self.peak_equity: Decimal | None = None  # net of transfers (equity - transfers)
        self.max_drawdown = ZERO
        # Called at each new peak or new max drawdown (`journal_extremes`): a restart rebuilds
        # both from the balance snapshots, and the ones between two heartbeats were lost.
        self._on_extreme: Callable[[], None] | None = None
        # things that went wrong, each also logged
        self.differences = 0
        self.rp_mismatches = 0
        self.duplicate_fills = 0
        self.rejected_events = 0
        on_order_event = self._order_book.on_order_event
        self._handlers: dict[type, Any] = {
            OrderSubmitted: self._order_book.on_submitted,
            OrderPartiallyFilled: self._on_fill_event,
            OrderFilled: self._on_fill_event,
            OrderAccepted: on_order_event,
            OrderRejected: on_order_event,
            OrderCanceled: on_order_event,
            OrderExpired: on_order_event,
            OrderAmended: on_order_event,
            OrderStatusUnknown: on_order_event,
            OrderReconciled: on_order_event,
            PositionChanged: self._on_position,
            BalanceChanged: self._on_balance,
            FundingPaid: self._on_funding,
            VenueSnapshot: self.reconcile,
        }

    # --- AccountView -------------------------------------------------------------------------

    def position(self, symbol: str) -> Position:
        book = self._books.get(symbol)
        if book is None:
            return Position(symbol=symbol, qty=ZERO, entry_price=ZERO)
        p = book.position
        if p is None:
            p = book.position = Position(
                symbol=symbol,
                qty=book.qty,
                entry_price=book.entry,
                leverage=book.leverage,
                update_time_ms=book.update_ms,
            )
        return p

    def mark_price(self, symbol: str) -> Decimal | None:
        book = self._books.get(symbol)
        if book is None:
            return None
        mark = book.mark  # `ref_price`'s first choice, without its call once a mark is known
        return mark if mark is not None else book.ref_price()

    def last_price(self, symbol: str) -> Decimal | None:
        """The last trade price; before the first trade the mark (or the mid)."""
        book = self._books.get(symbol)
        if book is None:
            return None
        return book.last if book.last is not None else book.ref_price()

    def wallet(self, asset: str | None = None) -> Decimal:
        return self._wallets.get(asset or self.asset, ZERO)

    def unrealized_pnl(self) -> Decimal:
        total = ZERO
        for book in self._books.values():
            if book.qty:
                ref = book.ref_price()
                if ref is not None:
                    total += book.qty * (ref - book.entry)
        return total

    @property
    def wallet_known(self) -> bool:
        """Whether the margin asset's wallet is known (set, or learnt from the exchange)."""
        return self._wallet_known

    def equity(self) -> Decimal:
        """Wallet + unrealized PnL (Binance's margin balance), USDT. Computed once per state
        of the books (`_version`): the risk check reads it on every order."""
        if self._equity_at == self._version:
            return self._equity
        value = self.wallet() + self.unrealized_pnl()
        self._equity, self._equity_at = value, self._version
        return value

    def available_balance(self) -> Decimal:
        """Equity minus the initial margin of positions and of orders that are or may be live
        (as the local exchange computes it: non reduce-only LIMIT orders, the part of each
        side that would add exposure, the larger side counting), USDT. Computed once per
        state of the books (`_version`)."""
        if self._available_at == self._version:
            return self._available
        value = self._compute_available_balance()
        self._available, self._available_at = value, self._version
        return value

    def equity_and_available(self) -> tuple[Decimal, Decimal]:
        """(`equity()`, `available_balance()`) in one call (USDT): what the risk check of an
        entry reads, from the cache when the books have not changed since they were valued."""
        version = self._version
        if self._available_at == version and self._equity_at == version:
            return self._equity, self._available
        return self.equity(), self.available_balance()

    def _revalue(self) -> None:
        """Compute equity and the available balance of the new state now (after an event or a
        mark price, off the order path), so the next order's risk check finds them cached."""
        if self._eager:
            self.available_balance()  # computes equity() on the way

    def _compute_available_balance(self) -> Decimal:
        position_im = open_order_im = ZERO
        for book in self._books.values():
            if book.qty:
                ref = book.ref_price() or book.entry
                position_im += abs(book.qty) * ref / book.leverage
        # Only LIMIT orders that may add exposure hold margin: the symbols with none (only
        # protective stops or a MARKET order in flight) would add exactly 0.
        orders = self._orders.values()
        for symbol in {o.symbol for o in orders if holds_margin(o)}:
            open_order_im += open_order_margin(orders, self._books[symbol])
        return self.equity() - position_im - open_order_im

    def open_order_count(self, symbol: str | None = None) -> int:
        """Orders that are or may be live (NEW, PARTIALLY_FILLED, PENDING_SUBMIT, UNKNOWN)."""
        if symbol is None:
            return len(self._orders)
        count = 0  # a loop, not sum() over a generator: no generator frame per order
        for o in self._orders.values():
            if o.symbol == symbol:
                count += 1
        return count

    def open_order_qty(self, symbol: str, side: Side) -> Decimal:
        """Remaining quantity of our orders on `side` that could grow the position (not
        reduce-only, not closePosition; PENDING_SUBMIT and UNKNOWN count), contracts."""
        total = ZERO
        for o in self._orders.values():
            if o.symbol == symbol and o.side is side and not (o.reduce_only or o.close_position):
                total += o.quantity - o.filled_qty
        return total

    def position_prices(self, symbol: str) -> tuple[Decimal, Decimal | None, Decimal | None]:
        """(`position(symbol).qty`, `mark_price(symbol)`, `last_price(symbol)`) in one call:
        what the ExecManager reads of a symbol to work its target, once per order."""
        book = self._books.get(symbol)
        if book is None:
            return ZERO, None, None
        mark, last = book.mark, book.last
        if mark is None or last is None:
            ref = book.ref_price()  # each one's fallback before the first mark / trade
            if mark is None:
                mark = ref
            if last is None:
                last = ref
        return book.qty, mark, last

    def order_exposure(
        self, symbol: str, side: Side
    ) -> tuple[Decimal, Decimal | None, int, Decimal]:
        """What the risk check of a `side` order on `symbol` reads, in one call and one pass
        over the open orders (each call on the order path costs ~1.5-2 us with the caches
        cold): the signed position (contracts), the mark price (`mark_price`), the open
        order count (`open_order_count(symbol)`) and the open quantity on `side` that could
        grow the position (`open_order_qty(symbol, side)`)."""
        book = self._books.get(symbol)
        if book is None:
            qty, mark = ZERO, None
        else:
            qty, mark = book.qty, book.mark
            if mark is None:
                mark = book.ref_price()
        count = 0
        same = ZERO
        for o in self._orders.values():
            if o.symbol == symbol:
                count += 1
                if o.side is side and not (o.reduce_only or o.close_position):
                    same += o.quantity - o.filled_qty
        return qty, mark, count, same

    # --- more views ----------------------------------------------------------------------

    @property
    def orders_submitted(self) -> int:
        """Orders submitted since the books began (restored history included)."""
        return self._order_book.submitted

    @orders_submitted.setter
    def orders_submitted(self, count: int) -> None:  # as a restore would set it (tests do)
        self._order_book.submitted = count

    @property
    def orders_by_status(self) -> Mapping[str, int]:
        """Ended orders by terminal status (restored history included)."""
        return self._order_book.by_status

    @property
    def orders_not_sent(self) -> Mapping[str, int]:
        """This run's orders that never reached the exchange, by why (`NotSent`)."""
        return self._order_book.not_sent

    @property
    def illegal_transitions(self) -> int:
        """Order events the order-state table refused (logged, not applied)."""
        return self._order_book.illegal_transitions

    @illegal_transitions.setter
    def illegal_transitions(self, count: int) -> None:  # a checkpoint's count (`_REPLAY_COUNTS`)
        self._order_book.illegal_transitions = count

    @property
    def remember_orders(self) -> int:
        """How many ended orders the books remember (the newest)."""
        return self._order_book.remember

    @property
    def _ended_ms(self) -> Mapping[str, int]:
        """When each ended order remembered ended (`OrderBook.ended_ms`), as tests read it."""
        return self._order_book.ended_ms

    def positions(self) -> list[Position]:
        return [self.position(s) for s in self._books]

    def drawdown(self) -> Decimal:
        """Peak equity minus equity now (>= 0), both net of transfers, USDT."""
        net = self.equity() - self.transfers
        peak = self.peak_equity if self.peak_equity is not None else net
        return max(ZERO, peak - net)

    def pnl_today(self, now_ms: int) -> Decimal:
        """Wallet change since 00:00 UTC of `now_ms` without transfers: realized PnL - fees +
        funding (+ adopted corrections), USDT. Survives a restart (rebuilt by `restore`)."""
        if now_ms // DAY_MS != self._day:
            return ZERO
        return self.wallet() - self.transfers - self._day_base

    def fills_today(self, now_ms: int) -> int:
        """Fills booked since 00:00 UTC of `now_ms` (by trade time)."""
        return self._day_fills if now_ms // DAY_MS == self._day else 0

    def carried_in(self, now_ms: int) -> Decimal:
        """The equity (USDT, net of transfers: fills move none) moved on the UTC day of
        `now_ms` (our clock) by fills the exchange made, and funding it settled, on an earlier
        day: the day before's loss or gain, learnt today. The daily-loss limit's day start
        takes it (`RiskManager`): its equity before 00:00 lacked them."""
        return self._carried.total(now_ms)

    def carried_learnt_ms(self, now_ms: int) -> int | None:
        """When (ms, our clock) the last of the fills (and adopted updates) `carried_in(now_ms)`
        sums reached us; None without one. Not funding: its amount is exact, a replay books
        what the running daemon did, so the day's last equity before 00:00 plus it is the
        day's start (from a snapshot journaled after a restart read it back, the day's loss
        while the daemon was down was forgiven at the next restart)."""
        return self._carried.learnt_ms(now_ms)

    def carried_since(self, now_ms: int, since_ms: int) -> tuple[Decimal, Decimal]:
        """Of `carried_in(now_ms)`, the part that reached us after `since_ms` (our clock: a
        balance snapshot's time, which does not hold it): (equity, wallet), USDT."""
        return self._carried.since(now_ms, since_ms)

    def _roll_day(self, time_ms: int) -> None:
        """Call before the wallet changes at `time_ms`: a new UTC day starts from here."""
        day = time_ms // DAY_MS
        if day > self._day:
            self._day = day
            self._day_base = self.wallet() - self.transfers
            self._day_fills = 0

    def equity_curve(self) -> list[tuple[int, Decimal]]:
        """(minute start ms, equity USDT), one point per minute with market data, oldest first."""
        return list(self._curve)

    def summary(self) -> BookSummary:
        equity = self.equity()
        net = equity - self.transfers
        held = tuple(p for p in self.positions() if p.qty)
        return BookSummary(
            orders_submitted=self.orders_submitted,
            orders_by_status=dict(self.orders_by_status),
            orders_not_sent=dict(self.orders_not_sent),
            open_orders=len(self._orders),
            fills=self.fill_count,
            maker_fills=self.maker_fills,
            volume=self.volume,
            fees=dict(self.fees),
            realized_pnl=self.realized_pnl,
            funding=self.funding,
            transfers=self.transfers,
            adjustments=self.adjustments,
            wallet=self.wallet(),
            unrealized_pnl=self.unrealized_pnl(),
            equity=equity,
            peak_equity=max(self.peak_equity, net) if self.peak_equity is not None else net,
            max_drawdown=self.max_drawdown,
            positions=held,
            differences=self.differences,
            rejected_events=self.rejected_events,
            entries_shown={
                p.symbol: self.instruments[p.symbol].format_price(p.entry_price)
                for p in held
                if p.symbol in self.instruments
            },
        )

    # --- market data (hot path) ------------------------------------------------------------

    def mark(self, item: Trade | MarkPrice | BookTicker) -> None:
        """Take the latest price of a symbol; once a minute, sample equity for the curve."""
        book = self._books.get(item.symbol)
        if book is None:
            return
        cls = item.__class__
        # A new state of the books (`_version`) only when the price the books value the
        # position at (`SymbolBook.ref_price`: mark, else last trade, else mid) can move.
        if cls is Trade:
            if book.mark is None:
                self._version += 1
            book.last = item.price  # type: ignore[union-attr]
            t = item.trade_time_ms  # type: ignore[union-attr]
        elif cls is MarkPrice:
            t = item.event_time_ms
            held = self._held
            if held.positions or held.balance is not None:
                self._release_held(t)  # once a second, with or without events
            self._version += 1
            book.mark = item.mark_price  # type: ignore[union-attr]
            self._revalue()
            if self._wallet_known:
                self._sample()  # the peak and drawdown at every mark, as the limits see them
        else:
            if book.mark is None and book.last is None:
                self._version += 1
            book.bid = item.bid_price  # type: ignore[union-attr]
            book.ask = item.ask_price  # type: ignore[union-attr]
            t = item.event_time_ms
        if t >= self._next_sample_ms:
            self._sample_minute(t)

    def _sample_minute(self, now_ms: int) -> None:
        minute = now_ms - now_ms % MINUTE_MS
        self._next_sample_ms = minute + MINUTE_MS
        if not self._wallet_known:
            return
        equity = self._sample()
        curve = self._curve
        if curve and curve[-1][0] == minute:
            curve[-1] = (minute, equity)
        else:
            curve.append((minute, equity))

    def _sample(self) -> Decimal:
        """Update peak equity and max drawdown (net of transfers); return equity now. A new
        one of either is journaled (`journal_extremes`). Not while a position has no price
        yet (after a restart, in a replay): its unrealized PnL would count as 0, a made-up
        peak or drawdown."""
        equity = self.equity()
        net = equity - self.transfers
        peak = self.peak_equity
        if peak is not None and net <= peak and peak - net <= self.max_drawdown:
            return equity  # the common case, on every mark price: nothing new
        if not self._valued():
            return equity
        if peak is None or net > peak:
            self.peak_equity = peak = net
        if peak - net > self.max_drawdown:
            self.max_drawdown = peak - net
        if self._on_extreme is not None:
            self._on_extreme()
        return equity

    def _valued(self) -> bool:
        """Whether every open position has a price to value it at."""
        return all(book.ref_price() is not None for book in self._books.values() if book.qty)

    def journal_extremes(self, journal: "SqliteJournal") -> None:
        """From now on, journal a balance snapshot at each new peak equity and each new max
        drawdown (`snapshot_soon`: off the tick path, at most one per mark price or booked
        event, none while neither moves). A restart rebuilds both from the snapshots
        (`checkpoint.Marks`): at a new peak the snapshot's equity net of transfers is the
        peak, at a new max drawdown it is the trough, so the running peak and drawdown over
        the snapshots are what these books ended with. Call after `restore`."""
        self._on_extreme = lambda: self.record_snapshot(journal, soon=True)

    # --- events ------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Book one venue or order event; events that are not about the books are ignored."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            self._version += 1
            try:
                held = self._held
                if held.positions or held.balance is not None:
                    self._release_held(event.event_time_ms)
                handler(event)
            finally:
                self._version += 1  # also after: a read inside may have cached a half state
            if self._eager:  # `_revalue`, inline: a call fewer per event
                self.available_balance()

    def _reject(self, event: Event | Fill, why: str) -> None:
        if self._restoring:  # rejected when it first came: not news
            log.debug("books (restore): ignored %s: %s", type(event).__name__, why)
            return
        self.rejected_events += 1
        log.warning("books: ignored %s: %s", type(event).__name__, why)

    def _difference(self, sentence: str) -> None:
        if self._restoring:
            log.debug("books (restore): %s", sentence)
            return
        self.differences += 1
        log.warning("books: %s", sentence)

    # orders (`OrderBook`), their fills

    def _on_fill_event(self, event: OrderPartiallyFilled | OrderFilled) -> None:
        f = event.fill
        if not self._book_fill(f):
            return
        order = self._orders.get(f.client_order_id)
        if order is not None:
            self._order_book.advance(order, event)

    def _known_order(self, client_order_id: str) -> bool:
        """A fill to book: of an order of ours, of the exchange's own (a liquidation), or of
        an order placed outside the daemon (by hand: `outside_order`)."""
        if self._restoring:  # a journaled fill: of an order the journal has, or the exchange's
            return (
                self._journal_knows
                or forced_close(client_order_id) is not None
                or outside_order(client_order_id)
            )
        return (
            client_order_id in self._orders
            or client_order_id in self._ended
            or forced_close(client_order_id) is not None
            or outside_order(client_order_id)
        )

    def _book_fill(self, f: Fill) -> bool:
        """`_apply_fill`; for a fill the exchange made on a UTC day before the one it reached
        us on, the equity it moved is remembered (`carried_in`)."""
        day = f.recv_time_ms // DAY_MS
        if f.trade_time_ms // DAY_MS >= day:
            return self._apply_fill(f)
        book = self._books.get(f.symbol)
        before = self._value_at(book, f.price)
        wallet_before = self.wallet()
        if not self._apply_fill(f):
            return False
        moved = self._value_at(book, f.price) - before
        self._carry(moved, f.recv_time_ms, wallet=self.wallet() - wallet_before)
        return True

    def _carry(self, moved: Decimal, recv_ms: int, *, wallet: Decimal, valued: bool = True) -> None:
        """Count `moved` (USDT of equity, moved by what the exchange did on a UTC day before
        the one of `recv_ms`, when it reached us; `wallet` of it the wallet's) into
        `carried_in`. `valued`: a move valued at a mark a replay does not have (a fill, an
        adoption), which `carried_learnt_ms` tells; funding's is exact (False)."""
        self._carried.add(moved, recv_ms, wallet=wallet, valued=valued)

    def _value_at(self, book: SymbolBook | None, price: Decimal) -> Decimal:
        """The margin wallet plus `book`'s unrealized PnL at its valuation price (none yet, as
        in a restore's replay: at `price`), USDT: what a fill of that symbol moves of equity."""
        value = self.wallet()
        if book is not None and book.qty:
            value += book.qty * ((book.ref_price() or price) - book.entry)
        return value

    def _apply_fill(self, f: Fill) -> bool:
        """Book one fill; False when it was rejected or already booked."""
        book = self._books.get(f.symbol)
        if book is None:
            if self._restoring and self._known_order(f.client_order_id):
                return self._apply_untraded_fill(f)
            self._reject(f, f"fill {f.trade_id} for {f.symbol}, not traded")
            return False
        if not self._known_order(f.client_order_id):
            self._reject(f, f"fill {f.symbol} {f.trade_id} of unknown order {f.client_order_id}")
            return False
        if f.trade_id in book.seen:
            self.duplicate_fills += 1
            log.debug("books: fill %s %s already booked", f.symbol, f.trade_id)
            return False
        book.seen.add(f.trade_id)
        # A snapshot's time is exclusive: a fill of its ms may have come after the read (a
        # stepped clock); an account update's inclusive (`_update_holds_before`)
        price = f.price
        signed = f.qty if f.side is Side.BUY else -f.qty
        if f.trade_time_ms < book.adopted_ms and held_by_adoption(
            book, f.trade_time_ms, signed, price
        ):
            return self._book_adopted_fill(book, f)
        recent = book.recent
        later = rewind(book, f.trade_id) if recent and f.trade_id < recent[-1].trade_id else ()
        old, old_entry = book.qty, book.entry
        book.qty, book.entry, realized = position_step(old, old_entry, signed, price)
        rp_differs = realized != f.realized_pnl
        recent.append(
            Applied(
                f.trade_id,
                signed,
                price,
                old,
                old_entry,
                f.realized_pnl,
                rp_differs and not self._restoring,
            )
        )
        if later:
            log.info(
                "books: fill %s %s arrived after %d fill(s) the exchange made later; "
                "booked in the exchange's order",
                f.symbol,
                f.trade_id,
                len(later),
            )
            self._reapply(book, later)
        if rp_differs:
            if not self._restoring:
                self.rp_mismatches += 1
            self._difference(
                f"fill {f.symbol} {f.trade_id}: realized PnL ours {realized:f}, exchange "
                f"{f.realized_pnl:f}; adopted the exchange's"
            )
            realized = f.realized_pnl
        return self._book_totals(book, f, realized)

    def _book_adopted_fill(self, book: SymbolBook, f: Fill) -> bool:
        """Book a fill made before the time of the exchange's position the books adopted last
        (`adopted_ms`): its report came after that (lost on the stream, read back over REST
        seconds later), so the position adopted holds it already and stays as it is; its
        realized PnL (the exchange's: the books cannot step a position that holds it) and fee
        count as any fill's. Stepped onto that position, it was booked twice: the books held
        a position the exchange did not, and traded on it, until the next reconciliation."""
        log.info(
            "books: fill %s %s arrived after the exchange's position that holds it was adopted; "
            "booked, the position left as adopted",
            f.symbol,
            f.trade_id,
        )
        return self._book_totals(book, f, f.realized_pnl)

    def _book_totals(self, book: SymbolBook, f: Fill, realized: Decimal) -> bool:
        """A fill's realized PnL, fee and count into the symbol's totals and the wallet, once
        its position step (or none: `_book_adopted_fill`) is done."""
        book.realized += realized
        if f.commission_asset == self.asset:
            book.fees += f.commission
        book.fills += 1
        book.position = None
        book.update_ms = max(book.update_ms, f.trade_time_ms)
        self._book_money(f, realized)
        return True

    def _apply_untraded_fill(self, f: Fill) -> bool:
        """At a restore, a journaled fill of a symbol no longer traded (removed from the
        config): its position is not kept here (the daemon refuses to start while the exchange
        holds one), but its realized PnL (the exchange's `rp`) and fee moved the wallet, and
        count in the totals like every other fill; left out, the wallet's first snapshot
        would adopt them as money moved out."""
        key = (f.symbol, f.trade_id)
        if key in self._untraded_seen:
            self.duplicate_fills += 1
            return False
        self._untraded_seen.add(key)
        self._book_money(f, f.realized_pnl)
        return True

    def _book_money(self, f: Fill, realized: Decimal) -> None:
        """The account's side of a fill: realized PnL and fee in the wallet, the totals."""
        price = f.price
        # A fill of an earlier UTC day that arrives after the day rolled (late on the stream,
        # or recovered over REST) belongs to that day: today's PnL and fills leave it out.
        late = f.trade_time_ms // DAY_MS < self._day
        wallet_before = self._wallets.get(self.asset, ZERO)
        self._roll_day(f.trade_time_ms)
        if not late:
            self._day_fills += 1
        self.realized_pnl += realized
        fee = f.commission
        fee_asset = f.commission_asset
        self.fees[fee_asset] = self.fees.get(fee_asset, ZERO) + fee
        wallets = self._wallets
        # A fee in another asset (BNB) leaves the margin wallet alone; that asset's wallet is
        # the exchange's word (see _compare_balance), not computed here.
        moved = realized - fee if fee_asset == self.asset else realized
        if f.trade_time_ms < self._wallet_adopted_ms and self._held_by_wallet(f, moved):
            # In the wallet adopted already (its report came later): what that adoption
            # booked as a correction was this fill's
            self.adjustments -= moved
        else:
            wallets[self.asset] = wallets.get(self.asset, ZERO) + moved
        if late:
            self._day_base += wallets[self.asset] - wallet_before
        self._wallet_ms = max(self._wallet_ms, f.trade_time_ms)
        self.fill_count += 1
        if f.is_maker:
            self.maker_fills += 1
        self.volume += price * f.qty
        held = self._held
        if held.positions or held.balance is not None:
            held.after_fill(f, realized, self._books, wallets[self.asset])
        if self._wallet_known:
            self._sample()

    def _held_by_wallet(self, f: Fill, moved: Decimal) -> bool:
        """Whether fill `f` (moving the wallet by `moved`, USDT), made before the time of the
        wallet adopted last, is in it: as `symbol_book.held_by_adoption` tells it of a
        position, by the wallet the books had moved by the fills before."""
        step = self._wallet_step
        if step is None:
            return True
        at, wallet, held = step
        if f.trade_time_ms == at and wallet == held:
            self._wallet_step = (at, wallet + moved, held + moved)  # as `held_by_adoption`
            return False
        self._wallet_step = (at, wallet + moved, held)
        return True

    def _reapply(self, book: SymbolBook, later: list[Applied]) -> None:
        """Apply again, after a late fill, the fills the exchange made after it: the position
        and entry move; their realized PnL and fees stand as booked (the exchange's rp). An
        rp difference counted in arrival order that agrees in the exchange's order is taken
        back: it was the order of arrival, not a difference with the exchange."""
        for a in later:
            q0, e0 = book.qty, book.entry
            book.qty, book.entry, realized = position_step(q0, e0, a.signed, a.price)
            differed = a.rp_differed
            if differed and realized == a.exchange_rp:
                differed = False
                self.rp_mismatches -= 1
                self.differences -= 1
                log.info(
                    "books: fill %s %s: its realized PnL agrees in the exchange's order; "
                    "the difference counted for it is withdrawn",
                    book.symbol,
                    a.trade_id,
                )
            book.recent.append(a._replace(qty_before=q0, entry_before=e0, rp_differed=differed))

    # account

    def _on_funding(self, event: FundingPaid) -> None:
        book = self._books.get(event.symbol)
        if book is None and not self._restoring:
            self._reject(event, f"funding for {event.symbol}, not traded")
            return
        # Restoring, the funding of a symbol no longer traded moved the wallet all the same.
        if not self._funding.take(event.symbol, event.event_time_ms):
            return
        if book is not None:
            book.funding += event.amount
        if self._funding.from_balance(event.event_time_ms, event.amount):
            log.debug(
                "books: funding %s at %s already booked from the balance",
                event.symbol,
                event.event_time_ms,
            )
            return
        self._funding.note_paid(event.event_time_ms, event.amount)
        self._book_funding(event.amount, event.event_time_ms, event.recv_time_ms)
        self._funding_booked()
        if self._wallet_known:
            self._sample()

    def _book_funding(self, amount: Decimal, time_ms: int, recv_ms: int) -> None:
        """Book `amount` (USDT, signed) of funding settled at `time_ms` (the exchange's), learnt
        at `recv_ms` (our clock). A settlement of a UTC day before the books' (read back after
        a restart) is that day's, as a late fill's money (`_book_money`): today's PnL leaves it
        out; one of a day before the one it reached us on moves `carried_in`. A settlement at
        00:00:00 UTC is the day it begins (the day is [00:00, 24:00) of the time stamped)."""
        late = time_ms // DAY_MS < self._day
        self._roll_day(time_ms)
        self.funding += amount
        self._wallets[self.asset] = self.wallet() + amount
        self._wallet_ms = max(self._wallet_ms, time_ms)
        if late:
            self._day_base += amount
        if time_ms // DAY_MS < recv_ms // DAY_MS:
            self._carry(amount, recv_ms, wallet=amount, valued=False)

    @property
    def funding_settlements(self) -> frozenset[tuple[str, int]]:
        """(symbol, settlement time ms) of the FundingPaid booked (those of
        FUNDING_PAID_WINDOW_MS up to the newest): a restart's income read skips them."""
        return frozenset(self._funding.paid)

    @property
    def _funding_paid(self) -> set[tuple[str, int]]:
        """The FundingPaid settlements remembered (`FundingSettlements.paid`), as tests read
        them (read-only)."""
        return self._funding.paid

    def _on_balance(self, event: BalanceChanged) -> None:
        b = event.balance
        reason = event.reason
        statement = reason == ORDER_REASON
        if reason == FUNDING_REASON and b.balance_change and b.asset == self.asset:
            # The settlement's own amount (`bc`). Its wallet may hold a fill whose report comes
            # later, or lack one booked before it (the user stream orders events of one type
            # only): the difference from ours, booked as funding, took that fill's money with
            # it. (A `bc` absent or 0 says nothing of the amount, as the update comes only when
            # the wallet moved: then the difference it is.)
            if self._funding.repeated_update(
                event.event_time_ms, b.balance_change, b.wallet_balance
            ):
                # The update seen already, whole: its wallet was compared then. Compared again,
                # a second symbol's update of that ms since made it look ahead of a fill, and
                # 2 s on the wallet before that update was adopted back.
                log.log(
                    logging.DEBUG if self._restoring else logging.INFO,
                    "books: the funding update at %s (bc %s) came again: booked once",
                    event.event_time_ms,
                    b.balance_change,
                )
                return
            self._book_funding_change(b.balance_change, event.event_time_ms, event.recv_time_ms)
            statement = True  # the wallet as of its time, compared as a fill's update is
        if statement and b.asset == self.asset and self._wallet_known:
            if b.wallet_balance != self.wallet():
                if event.event_time_ms < self._wallet_ms:
                    self._stale_update(event, f"{b.asset} wallet")
                    return
                if not _of_the_adopted_ms(
                    event.event_time_ms, self._wallet_adopted_update_ms, self._wallet_adopted_ms
                ):
                    # ahead of its fills?
                    self._held.balance = (b, event.event_time_ms, event.recv_time_ms)
                    return
            self._held.balance = None
        time_ms = event.event_time_ms
        self._compare_balance(
            b,
            ORDER_REASON if statement else reason,
            time_ms,
            as_of_ms=time_ms,
            recv_ms=event.recv_time_ms,
        )

    def _book_funding_change(self, amount: Decimal, time_ms: int, recv_ms: int) -> None:
        """Book a FUNDING_FEE update's `bc` (USDT, signed) as funding, unless a `FundingPaid`
        of that settlement (within FUNDING_MATCH_MS, of that amount: the update names no
        symbol) was booked first (an income read that came before the update). A duplicate
        of an update seen (same time, `bc` and wallet: a replayed message) does not come here
        (`_on_balance`)."""
        if not self._wallet_known:
            return  # the wallet learnt from this update holds it
        if self._funding.paid_near(time_ms, amount):
            log.debug("books: funding at %s already booked from the income history", time_ms)
            return
        self._book_funding(amount, time_ms, recv_ms)
        self._funding.note_balance(time_ms, amount)
        self._funding_booked()
        self._sample()

    def _funding_booked(self) -> None:
        """A balance update held (ahead of this settlement) that the wallet now agrees with is
        settled: nothing to adopt."""
        held = self._held.balance
        if held is not None and held[0].wallet_balance == self.wallet():
            self._held.balance = None

    # An ACCOUNT_UPDATE (reason ORDER) that disagrees with the books is held, not adopted at
    # once (`held_updates`): Binance may send it before the fills it reports.

    def _release_held(self, now_ms: int) -> None:
        """Compare and adopt the held updates HOLD_AHEAD_MS old at `now_ms` (event time)."""
        positions, balance = self._held.due(now_ms)
        for p, at, recv in positions:
            self._compare_position(self._books[p.symbol], p, ORDER_REASON, at, recv)
        if balance is not None:
            b, at, recv = balance
            self._compare_balance(b, ORDER_REASON, at, as_of_ms=at, recv_ms=recv)

    @property
    def _held_positions(self) -> Mapping[str, tuple[Position, int, int]]:
        """The positions held (`HeldUpdates.positions`), as tests read them (read-only)."""
        return self._held.positions

    @property
    def _held_balance(self) -> tuple[Balance, int, int] | None:
        """The balance held (`HeldUpdates.balance`), as tests read it (read-only)."""
        return self._held.balance

    def _compare_balance(
        self, b: Balance, reason: str, time_ms: int, *, as_of_ms: int = 0, recv_ms: int = 0
    ) -> str | None:
        """Adopt the exchange's wallet balance of one asset; the difference sentence, if any.
        `as_of_ms`: the exchange's time the balance holds every fill up to (an account
        update's event time), besides the balance's own `update_time_ms`; 0: that alone (a
        snapshot's time is our clock's, which a skew of the exchange's puts off). `recv_ms`: when
        that update reached us (our clock; 0: unsaid): one of a UTC day before, adopted, moved
        the equity by the day before's fills (`carried_in`), as their own reports would have."""
        asset = b.asset
        theirs = b.wallet_balance
        ours = self._wallets.get(asset)
        if asset != self.asset:
            # Another asset (BNB paying fees, a USDC transfer) is not margin here: its wallet is
            # what the exchange last said. Computing it from fills would drift by a fee each
            # time Binance's ACCOUNT_UPDATE comes before the fill it reports, and a fee taken
            # before the asset's first sighting would leave a wallet below zero.
            self._wallets[asset] = theirs
            if reason in TRANSFER_REASONS and ours is not None and ours != theirs:
                log.info("books: %s %s %s", reason.lower(), theirs - ours, asset)
            return None
        if not self._wallet_known:
            self._wallets[asset] = theirs
            self.starting_balances.setdefault(asset, theirs)
            self._wallet_known = True
            self._wallet_ms = max(self._wallet_ms, time_ms)
            self._day = time_ms // DAY_MS
            self._day_base = theirs - self.transfers
            # Replaying the journal at a restart, this is an old balance, not the exchange's
            # now (the start-up reconciliation says that): not a line of its own.
            log.log(
                logging.DEBUG if self._restoring else logging.INFO,
                "books: %s wallet %s from the exchange (%s)",
                asset,
                theirs,
                reason,
            )
            self._sample()
            return None
        if ours == theirs:
            return None
        diff = theirs - (ours or ZERO)
        # of a UTC day before the books' (adopted late): that day's, as a late fill's money
        late = time_ms // DAY_MS < self._day
        self._roll_day(time_ms)
        self._wallets[asset] = theirs
        self._wallet_ms = max(self._wallet_ms, time_ms)
        sentence = None
        if reason == FUNDING_REASON:
            self.funding += diff
            self._funding.note_balance(time_ms)
            if late:  # as `_book_funding`
                self._day_base += diff
            if time_ms // DAY_MS < recv_ms // DAY_MS:
                self._carry(diff, recv_ms, wallet=diff, valued=False)
        elif reason in TRANSFER_REASONS:
            self.transfers += diff
            log.info("books: %s %s %s", reason.lower(), diff, asset)
        elif reason == INSURANCE_REASON:
            self.adjustments += diff
            self._wallet_adopted(b, as_of_ms, ours or ZERO)
            log.warning(
                "books: the insurance fund cleared a negative %s wallet of %s after a "
                "liquidation (+%s %s, booked as an adjustment)",
                asset,
                ours,
                diff,
                asset,
            )
        elif reason == START_SNAPSHOT and asset == self.asset:
            # While no daemon ran: its fills and funding were recovered before this snapshot,
            # so what they leave unexplained is money moved in or out (a withdrawal or deposit
            # that no stream told us of). A transfer, not a loss or gain: counted as one, a
            # withdrawal of profits while stopped halted the restart on "max daily loss".
            self.transfers += diff
            sentence = (
                f"{asset} wallet balance: ours {ours or ZERO:f}, exchange {theirs:f} "
                f"(difference {diff:f}, {reason}); adopted the exchange's, as money moved in "
                "or out while the daemon was stopped (not a loss or gain for the risk limits)"
            )
            self._difference(sentence)
        else:
            self.adjustments += diff
            self._wallet_adopted(b, as_of_ms, ours or ZERO)
            if late:
                self._day_base += diff
            if as_of_ms // DAY_MS < recv_ms // DAY_MS:
                self._carry(diff, recv_ms, wallet=diff)
            sentence = (
                f"{asset} wallet balance: ours {ours or ZERO:f}, exchange {theirs:f} "
                f"(difference {diff:f}, {reason}); adopted the exchange's"
            )
            self._difference(sentence)
        self._sample()
        return sentence

    def _wallet_adopted(self, b: Balance, as_of_ms: int, ours: Decimal) -> None:
        """The margin wallet was set to the exchange's `b` (from `ours`), held to be as of
        `as_of_ms`: a fill made before then that is booked later leaves it as it is
        (`_book_money`), one of its very ms only if it is in it (`_held_by_wallet`)."""
        before = self._wallet_adopted_ms
        step = self._wallet_step
        if as_of_ms and step is not None and step[0] == as_of_ms:
            ours = step[1]  # a newer update of that ms (as `_compare_position`)
        self._wallet_adopted_ms = max(before, _update_holds_before(as_of_ms), b.update_time_ms)
        if as_of_ms and self._wallet_adopted_ms == _update_holds_before(as_of_ms):
            self._wallet_step = (as_of_ms, ours, b.wallet_balance)
        elif self._wallet_adopted_ms != before:
            self._wallet_step = None
        if as_of_ms:
            self._wallet_adopted_update_ms = as_of_ms

    def _stale_update(self, event: BalanceChanged | PositionChanged, what: str) -> None:
        """An account update (reason ORDER) older than a fill the books hold, which it does
        not: the stream delivered it after that fill's report (reordered, or late on a
        reconnect). It says how things stood before that fill: not held, never adopted. Held,
        it was adopted 2 s on over the later fill, and the daemon traded on a position the
        exchange had left (a fill it may hold that the books lack: the next snapshot)."""
        log.info(
            "books: %s of an account update of %d, older than a fill booked: not adopted",
            what,
            event.event_time_ms,
        )

    def _on_position(self, event: PositionChanged) -> None:
        p = event.position
        book = self._books.get(p.symbol)
        if book is None:
            if p.qty:
                self._reject(event, f"position {p.qty} in {p.symbol}, not traded")
            return
        if event.reason == ORDER_REASON:
            held = self._held.positions
            if not agrees(book, p):
                if event.event_time_ms < book.update_ms:
                    self._stale_update(event, f"{p.symbol} position")
                    return
                if not _of_the_adopted_ms(
                    event.event_time_ms, book.adopted_update_ms, book.adopted_ms
                ):
                    # ahead of fills?
                    held[p.symbol] = (p, event.event_time_ms, event.recv_time_ms)
                    return
            held.pop(p.symbol, None)
        self._compare_position(book, p, event.reason, event.event_time_ms, event.recv_time_ms)

    def _compare_position(
        self, book: SymbolBook, p: Position, reason: str, as_of_ms: int = 0, recv_ms: int = 0
    ) -> str | None:
        """Adopt the exchange's position `p` when it is not ours; the difference sentence, if
        any. `as_of_ms`: the exchange's time `p` holds every fill up to, that ms included (an
        account update's event time), besides its own `update_time_ms` (before it); 0: that
        alone (as `_compare_balance`). A fill made by then that comes later leaves the
        position adopted as it is. `recv_ms`: as `_compare_balance`'s."""
        if agrees(book, p):
            return None
        sentence = (
            f"{book.symbol} position: ours {book.qty:f} @ {book.entry:f}, exchange "
            f"{p.qty:f} @ {p.entry_price:f} ({reason}); adopted the exchange's"
        )
        self._difference(sentence)
        step = book.adopted_step
        if as_of_ms and step is not None and step[0] == as_of_ms:
            # A newer update of the ms adopted last: the fills of that ms still to come are
            # told from what the books had before it, not from the position adopted then
            # (which holds fills whose reports may come after this update's own)
            ours = step[:3]
        else:
            ours = (as_of_ms, book.qty, book.entry)
        carried = as_of_ms // DAY_MS < recv_ms // DAY_MS
        if carried:  # valued as a fill's move is (`_value_at`): at the mark, else this price
            value_before = self._value_at(book, p.entry_price or book.entry)
        book.qty = p.qty
        book.entry = p.entry_price if p.qty else ZERO
        book.recent.clear()  # the fills before no longer lead to this position
        book.position = None
        before = book.adopted_ms
        book.adopted_ms = max(before, _update_holds_before(as_of_ms), p.update_time_ms)
        if as_of_ms and book.adopted_ms == _update_holds_before(as_of_ms):
            book.adopted_step = (*ours, book.qty, book.entry)  # `held_by_adoption`
        elif book.adopted_ms != before:
            book.adopted_step = None
        if as_of_ms:
            book.adopted_update_ms = as_of_ms
        if carried:
            moved = self._value_at(book, p.entry_price or ours[2]) - value_before
            self._carry(moved, recv_ms, wallet=ZERO)
        return sentence

    # --- reconciliation ------------------------------------------------------------------

    def reconcile(self, snapshot: VenueSnapshot) -> list[str]:
        """Compare the books with what the venue says; adopt the venue's positions, balances
        and open orders; return each difference as a sentence (each also logged)."""
        self._version += 1
        try:
            return self._reconcile(snapshot, orders=True)
        finally:
            self._version += 1

    def _reconcile(self, snapshot: VenueSnapshot, *, orders: bool) -> list[str]:
        at = snapshot.event_time_ms
        why = f"snapshot {snapshot.reason}"
        out: list[str] = []
        symbols = snapshot.symbols or tuple(self._books)
        out.extend(self._settle_at_snapshot(symbols, at, snapshot.fills_read_recv_ms))
        theirs = {p.symbol: p for p in snapshot.positions}
        for symbol in symbols:
            book = self._books.get(symbol)
            if book is None:
                p = theirs.get(symbol)
                if p is not None and p.qty:
                    out.append(f"{symbol} position {p.qty:f} at the exchange is not traded here")
                    self._difference(out[-1])
                continue
            p = theirs.get(symbol) or Position(symbol=symbol, qty=ZERO, entry_price=ZERO)
            if symbol in theirs and p.leverage > 1 and p.leverage != book.leverage:
                book.leverage = p.leverage
                book.position = None
            if book.update_ms > at:
                log.debug("books: %s changed after the snapshot; not compared", symbol)
                continue
            if (sentence := self._compare_position(book, p, why)) is not None:
                out.append(sentence)
        if self._wallet_ms <= at:
            for balance in snapshot.balances:
                if (sentence := self._compare_balance(balance, why, at)) is not None:
                    out.append(sentence)
        if orders:
            out.extend(self._order_book.reconcile(snapshot, symbols))
        return out

    def _settle_at_snapshot(
        self, symbols: tuple[str, ...], at: int, fills_read_recv: int | None
    ) -> list[str]:
        """Adopt the held updates a snapshot of `symbols` (reads begun at `at`; of fills at
        `fills_read_recv`, our clock) cannot compare (`HeldUpdates.settled_at_snapshot`); the
        difference sentences."""
        positions, balance = self._held.settled_at_snapshot(
            symbols, at, fills_read_recv, self._books, self._wallet_ms
        )
        adopted = [
            self._compare_position(book, p, ORDER_REASON, t, recv) for book, p, t, recv in positions
        ]
        if balance is not None:
            b, t, recv = balance
            adopted.append(self._compare_balance(b, ORDER_REASON, t, as_of_ms=t, recv_ms=recv))
        return [sentence for sentence in adopted if sentence is not None]

    # --- restore -----------------------------------------------------------------------------

    def restore(self, journal: "SqliteJournal", *, checkpoints: bool = True) -> Replay:
        """Rebuild the books from the journal: every fill and account event replayed in journal
        order (so positions, entry prices, wallet and totals are what they were), then the
        orders that are or may be live. Reconcile with the venue afterwards.

        The replay starts from the newest checkpoint the journal holds for these symbols
        (`book_keeper.checkpoint`; `checkpoints=False`: from the start of the journal) and
        goes through the rows after it: the same books either way. Returns the replay, at the
        end of the journal: what the rest of a restart reads (client ids, limits, last record
        time) and what `SqliteJournal.keep_checkpoints` checkpoints from then on."""
        self._version += 1
        try:
            replay = Replay.begin(journal, self, use_checkpoints=checkpoints)
            replay.catch_up(journal)
            self._load_replay_state(replay.books._replay_state())
            self._finish_restore(journal, replay)
        finally:
            self._version += 1
        if not self.orders_submitted and replay.last_record_ms(journal) is None:
            # A wallet of 0 here read as the account's, before the exchange's came in.
            log.info(
                "books: a new journal, nothing to restore (the wallet and positions come from "
                "the exchange's first answer)"
            )
            return replay
        log.info(
            "books restored: %d orders (%d open), %d fills, wallet %s %s (%s)",
            self.orders_submitted,
            len(self._orders),
            self.restored_fills,
            self.wallet(),
            self.asset,
            replay.origin,
        )
        return replay

    def _finish_restore(self, journal: "SqliteJournal", replay: Replay) -> None:
        """After the replay: the order totals, the newest ended orders (bounded) and the open
        ones from the journal's rows, the peak and max drawdown from its balance snapshots
        (the higher of those and the replay's)."""
        ledger = replay.ledger
        self._order_book.restore(
            submitted=ledger.rows,
            by_status=dict(ledger.by_status),
            newest_ended=ledger.newest_ended(),  # at most `remember_orders`, oldest first
            open_orders=journal.open_orders(),
        )
        marks = replay.marks
        peak = marks.peak_all
        if peak is not None and (self.peak_equity is None or peak > self.peak_equity):
            self.peak_equity = peak
        if marks.max_drawdown_all is not None and marks.max_drawdown_all > self.max_drawdown:
            self.max_drawdown = marks.max_drawdown_all
        self._version += 1  # what the replay cached is of a half-restored state
        if self._wallet_known:
            self._sample()

    def _replay_twin(self) -> "BookKeeper":
        """Empty books like these (symbols, margin asset, starting balances) that book journal
        rows as a restore reads them back (`_replay`), for `book_keeper.checkpoint.Replay`.
        Their leverage is 0 until a snapshot says one, so a checkpoint tells a leverage the
        exchange reported from the configured one (which may change between runs)."""
        twin = BookKeeper(
            starting_balances=self._given_balances,
            instruments=self.instruments,
            clock=self._clock,
            leverage=dict.fromkeys(self.instruments, 0),
            curve_points=self._curve_points,
            remember_orders=self.remember_orders,
            revalue_eagerly=False,
        )
        twin._restoring = twin._order_book.restoring = True
        return twin

    def _replay(self, item: Fill | Event, known: bool = False) -> None:
        """Book one journal row of a restore's replay (these books are a `_replay_twin`): a
        fill (`known`: the journal has an orders row for its client order id) or an account
        event (balance, position, funding, venue snapshot). A new state of the books for each
        (`_version`), as `apply` makes: the peak and drawdown sampled on the way must not
        read an equity cached before the row (the full replay did, until checkpoints, which
        do not hold such caches, showed it)."""
        self._version += 1
        try:
            if isinstance(item, Fill):
                self._journal_knows = known
                try:
                    if self._book_fill(item):
                        self.restored_fills += 1
                finally:
                    self._journal_knows = False
            elif isinstance(item, VenueSnapshot):
                self._reconcile(item, orders=False)
            else:
                self.apply(item)
        finally:
            self._version += 1

    def _replay_state(self) -> dict[str, Any]:
        """What replaying the journal builds in these books, as plain JSON values (Decimals as
        `str`: exact, exponent kept): the books' part of a checkpoint. Everything a replay can
        change is here; the open and ended orders and the order totals are not (they come from
        the journal's rows when a restore finishes)."""
        return {
            "wallets": _texts(self._wallets),
            "starting_balances": _texts(self.starting_balances),
            "wallet_known": self._wallet_known,
            "wallet_ms": self._wallet_ms,
            "wallet_adopted_ms": self._wallet_adopted_ms,
            "wallet_adopted_update_ms": self._wallet_adopted_update_ms,
            "wallet_step": None
            if self._wallet_step is None
            else [self._wallet_step[0], str(self._wallet_step[1]), str(self._wallet_step[2])],
            **self._funding.to_state(),  # funding_times, funding_paid
            "untraded_seen": sorted([s, t] for s, t in self._untraded_seen),
            **self._held.to_state(),  # held_positions, held_balance
            "day": self._day,
            "day_base": str(self._day_base),
            "day_fills": self._day_fills,
            **self._carried.to_state(),  # carried_day, carried, carried_learnt_ms, _steps
            "counts": {name: getattr(self, name) for name in _REPLAY_COUNTS},
            "amounts": {name: str(getattr(self, name)) for name in _REPLAY_AMOUNTS},
            "fees": _texts(self.fees),
            "peak_equity": None if self.peak_equity is None else str(self.peak_equity),
            "books": {symbol: book.to_state() for symbol, book in self._books.items()},
        }

    def _load_replay_state(self, state: dict[str, Any]) -> None:
        """Take the state `_replay_state` gave (of books with the same symbols). A book's
        leverage is taken only when a snapshot said one (else the configured one stays)."""
        self._wallets = _decimals(state["wallets"])
        self.starting_balances = _decimals(state["starting_balances"])
        self._wallet_known = bool(state["wallet_known"])
        self._wallet_ms = int(state["wallet_ms"])
        # absent from a checkpoint an older daemon wrote: no wallet adopted holds a late fill
        self._wallet_adopted_ms = int(state.get("wallet_adopted_ms", 0))
        self._wallet_adopted_update_ms = int(state.get("wallet_adopted_update_ms", 0))
        step = state.get("wallet_step")  # absent from an older checkpoint: none
        self._wallet_step = (
            None if step is None else (int(step[0]), Decimal(step[1]), Decimal(step[2]))
        )
        self._funding.load_state(state)
        self._untraded_seen = {(s, int(t)) for s, t in state["untraded_seen"]}
        self._held.load_state(state)
        self._day = int(state["day"])
        self._day_base = Decimal(state["day_base"])
        self._day_fills = int(state["day_fills"])
        self._carried.load_state(state)
        for name in _REPLAY_COUNTS:
            setattr(self, name, int(state["counts"][name]))
        for name in _REPLAY_AMOUNTS:
            setattr(self, name, Decimal(state["amounts"][name]))
        self.fees = _decimals(state["fees"])
        peak = state["peak_equity"]
        self.peak_equity = None if peak is None else Decimal(peak)
        if set(state["books"]) != set(self._books):
            raise ValueError(f"books of {sorted(state['books'])}, not of {sorted(self._books)}")
        for symbol, data in state["books"].items():
            self._books[symbol].load_state(data)
        self._version += 1  # nothing cached before holds

    def record_snapshot(self, journal: "SqliteJournal", *, soon: bool = False) -> None:
        """Journal the balance snapshot (equity, wallet, unrealized PnL) of now: at once, or
        (`soon`: a new high of the equity, found on the order path) by the journal's applier
        between two market-data items (`SqliteJournal.snapshot_soon`)."""
        upnl = self.unrealized_pnl()
        wallet = self.wallet()
        write = journal.snapshot_soon if soon else journal.snapshot
        write(
            time_ms=self._clock.now_ms(),
            equity=wallet + upnl,
            wallet=wallet,
            unrealized_pnl=upnl,
            transfers=self.transfers,
        )


# What a replay counts and sums besides the books per symbol (`_replay_state`).
_REPLAY_COUNTS = (
    "fill_count",
    "maker_fills",
    "restored_fills",
    "differences",
    "rp_mismatches",
    "duplicate_fills",
    "rejected_events",
    "illegal_transitions",
)
_REPLAY_AMOUNTS = ("volume", "realized_pnl", "funding", "transfers", "adjustments", "max_drawdown")


def _update_holds_before(as_of_ms: int) -> int:
    """The exchange's time before which every fill is in an account update of `as_of_ms` (its
    `T`, the time of the fill it reports: the gateway's event time), 0 for none: its own ms
    too. Its own fill, whose reports were lost and read back after the update was adopted,
    is made at that very ms; taken as after it, it was stepped onto the position a second
    time. (A snapshot's `update_time_ms` stays exclusive: a fill of its ms may come after
    the read.)"""
    return as_of_ms + 1 if as_of_ms else 0


def _of_the_adopted_ms(time_ms: int, update_ms: int, adopted_ms: int) -> bool:
    """Whether an account update (reason ORDER) of `time_ms` that disagrees with the books is
    of the ms of the account update whose position (or wallet) they adopted last
    (`update_ms`), which holds every fill up to and in that ms (`adopted_ms` is its next):
    adopted at once, not held for fills it may be ahead of: this update, later on the stream,
    is the exchange's newer word on that ms, and a fill of it whose report comes later is
    taken as held by it when it makes up the difference (`held_by_adoption`,
    `_held_by_wallet`). Held, a second fill of that ms
    left the books without it for 2 s more of the exchange's time, and the daemon traded on
    that: on Binance after a sweep of several levels (its fills share one ms), on the local
    exchange for as long as its clock is skewed back (its engine's time waits in one ms, never
    going back). A snapshot's adoption holds the fills before its ms only: an update of the
    ms before it is older than its read, not adopted at once."""
    return update_ms > 0 and time_ms == update_ms and adopted_ms == time_ms + 1


def _texts(amounts: Mapping[str, Decimal]) -> dict[str, str]:
    return {k: str(v) for k, v in amounts.items()}


def _decimals(texts: Mapping[str, str]) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in texts.items()}


__all__ = ["BookKeeper", "BookSummary"]
