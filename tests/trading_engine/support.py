"""The ExecManager under test: the real BookKeeper and RiskManager, a MemoryJournal, the
FakeVenue, a SimClock and a scripted strategy, plus builders for market data.

Instruments are the bundled exchangeInfo entries (BTCUSDT: tick 0.10, step 0.001, minimum
notional 10 USDT). Limits are round numbers so that every expected value can be worked out by
hand; portfolio limits, protection and the circuit breaker are off unless a test turns them on.
"""

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal as D
from typing import Any

from book_keeper.book_keeper import BookKeeper
from core.account import AccountView
from core.clock import SimClock
from core.enums import Side
from core.journal import MemoryJournal
from core.market import Bar, BookTicker, MarkPrice, Trade
from core.orders import ClientOrderIds
from exchange_sim.replay.grid import load_instruments
from risk_manager.config import RiskConfig
from risk_manager.risk_manager import RiskManager
from tests.trading_engine.fake_venue import FakeVenue
from trading_engine.exec_manager import ExecConfig, ExecManager
from trading_engine.main_trading_strategy import NO_PROPOSALS, Proposal, Proposals, StrategyBase

INSTRUMENTS = load_instruments()
T0 = 1_723_118_400_000  # 2024-08-08T12:00:00Z, a whole minute
MINUTE = 60_000
PREFIX = "te"

LIMITS = RiskConfig(
    leverage=5,
    max_order_notional_usdt=D(10_000),
    max_position_notional_usdt=D(20_000),
    max_total_notional_usdt=D(30_000),
    price_band_pct=D(5),
    max_open_orders=5,
    max_orders_per_minute=100,
    stop_loss_pct=D(0),
    take_profit_pct=D(0),
    max_daily_loss_usdt=D(0),
    max_daily_loss_pct=D(0),
    max_drawdown_pct=D(0),
    max_trades_per_day=0,
    circuit_breaker_errors=0,
)


class ScriptedStrategy(StrategyBase):
    """Says what the test queued: one list of proposals per closed bar / trade, in order."""

    name = "scripted"

    def __init__(self) -> None:
        self.on_bar_says: deque[Sequence[Proposal]] = deque()
        self.on_trade_says: deque[Sequence[Proposal]] = deque()
        self.bars: list[Bar] = []
        self.warmed: list[Bar] = []

    def warm(self, bars: Sequence[Bar]) -> None:
        self.warmed.extend(bars)

    def on_bar(self, bar: Bar, view: AccountView) -> Proposals:
        self.bars.append(bar)
        return self.on_bar_says.popleft() if self.on_bar_says else NO_PROPOSALS

    def on_trade(self, trade: Trade, view: AccountView) -> Proposals:
        return self.on_trade_says.popleft() if self.on_trade_says else NO_PROPOSALS


@dataclass
class Rig:
    clock: SimClock
    journal: MemoryJournal
    book: BookKeeper
    risk: RiskManager
    venue: FakeVenue
    strategy: Any
    em: ExecManager
    gaps: set[str] = field(default_factory=set)
    offset_ms: list[int] = field(default_factory=lambda: [0])  # the venue clock's offset
    agg_id: int = 1_000
    bars_fed: int = 0

    # --- time and market data ------------------------------------------------------------------

    def at(self, ms: int) -> "Rig":
        self.clock.set_ms(ms)
        return self

    def trade(self, price: str, qty: str = "0.010", *, symbol: str = "BTCUSDT") -> Trade:
        self.agg_id += 1
        now = self.clock.now_ms()
        a = self.agg_id
        t = Trade(symbol, a, D(price), D(qty), a, a, False, now, now, now)
        self.em.on_item(t)
        return t

    def mark(self, price: str, *, symbol: str = "BTCUSDT") -> None:
        now = self.clock.now_ms()
        self.em.on_item(MarkPrice(symbol, D(price), D(price), D("0.0001"), now + 1, now, now))

    def book_ticker(self, bid: str, ask: str, *, symbol: str = "BTCUSDT") -> None:
        now = self.clock.now_ms()
        self.em.on_item(BookTicker(symbol, 1, D(bid), D(1), D(ask), D(1), now, now, now))

    def bar(
        self,
        close: str,
        *,
        open_ms: int | None = None,
        closed: bool = True,
        symbol: str = "BTCUSDT",
        interval: str = "1m",
    ) -> Bar:
        """A 1m bar that closed just before now (or the one opening at `open_ms`)."""
        now = self.clock.now_ms()
        start = now - now % MINUTE - MINUTE if open_ms is None else open_ms
        b = make_bar(close, open_ms=start, closed=closed, symbol=symbol, interval=interval)
        self.em.on_item(b)
        return b

    def next_bar(self, close: str = "60000", *, step_ms: int = 1_000) -> Bar:
        """The next closed 1m bar (open times T0 - 100 min, then +1 min each), with the clock
        moved on by only `step_ms`: bars can come quickly without orders going stale."""
        self.clock.advance_ms(step_ms)
        self.bars_fed += 1
        return self.bar(close, open_ms=T0 - 100 * MINUTE + self.bars_fed * MINUTE)

    def say(self, *proposals: Proposal, close: str = "60000") -> None:
        """The strategy says `proposals` on the next bar."""
        self.strategy.on_bar_says.append(list(proposals))
        self.next_bar(close)

    # --- what happened -------------------------------------------------------------------------

    def kinds(self, since: int = 0) -> list[str]:
        return [type(e).__name__ for e in self.journal.events[since:]]

    def journaled(self, kind: type) -> list[Any]:
        return [e for e in self.journal.events if isinstance(e, kind)]

    def last_cid(self) -> str:
        return self.venue.submitted[-1].client_order_id


def make_bar(
    close: str, *, open_ms: int, closed: bool = True, symbol: str = "BTCUSDT", interval: str = "1m"
) -> Bar:
    c = D(close)
    end = open_ms + MINUTE - 1
    return Bar(symbol, interval, open_ms, end, c, c, c, c, D(1), c, D(0), D(0), 1, closed)


def make_rig(
    *,
    strategy: Any = None,
    limits: RiskConfig = LIMITS,
    config: ExecConfig | None = None,
    balance: str = "10000",
    symbols: tuple[str, ...] = ("BTCUSDT",),
    start_ms: int = T0,
    mark: str | None = "60000",
    journal: MemoryJournal | None = None,
    timer: Callable[[], float] | None = None,
    clock: Any = None,
    recorder: Any = None,
    **limit_overrides: Any,
) -> Rig:
    """`clock`: another clock than a SimClock at `start_ms` (then `Rig.at`, `next_bar` and
    `say`, which move a SimClock, are not for it). `recorder`: a `MarketRecorder` whose
    wrappers record the ExecManager's gap and clock answers, as the daemon's local sessions."""
    clock = clock if clock is not None else SimClock(start_ms)
    journal = journal if journal is not None else MemoryJournal()
    instruments = {s: INSTRUMENTS[s] for s in symbols}
    book = BookKeeper(starting_balances={"USDT": D(balance)}, instruments=instruments, clock=clock)
    risk = RiskManager(
        config=replace(limits, **limit_overrides),
        instruments=instruments,
        clock=clock,
        view=book,
    )
    venue = FakeVenue(clock=clock, journal=journal)
    strategy = strategy or ScriptedStrategy()
    gaps: set[str] = set()
    offset_ms = [0]
    gap_open: Callable[[str], bool] = gaps.__contains__
    clock_offset_ms: Callable[[], int] = lambda: offset_ms[0]  # noqa: E731
    if recorder is not None:
        gap_open, clock_offset_ms = (
            recorder.gap_open(gap_open),
            recorder.clock_offset(clock_offset_ms),
        )
    em = ExecManager(
        venue=venue,
        book=book,
        risk=risk,
        strategy=strategy,
        journal=journal,
        clock=clock,
        instruments=INSTRUMENTS,
        ids=ClientOrderIds(PREFIX),
        config=config or ExecConfig(symbols=symbols),
        gap_open=gap_open,
        clock_offset_ms=clock_offset_ms,
        **({} if timer is None else {"timer": timer}),
    )
    venue.listener = em.on_event
    rig = Rig(clock, journal, book, risk, venue, strategy, em, gaps, offset_ms)
    if mark is not None:
        for s in symbols:
            rig.mark(mark if s == "BTCUSDT" else "4000", symbol=s)
    return rig


BUY, SELL = Side.BUY, Side.SELL
