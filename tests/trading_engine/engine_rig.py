"""The daemon's ExecManager, RiskManager and BookKeeper on the backtests' venue
(`backtest.venue.InProcessVenue` over the matching engine `exchange_sim.engine.Exchange`), one
account, market data fed as the backtest runner feeds it: each trade to the engine first, then
to the ExecManager. Shared by the tests that need the real exchange's answers (lot limits,
REDUCING's protection) instead of the FakeVenue's scripted ones (`support.make_rig`).

Times are ms. BTCUSDT from the bundled exchangeInfo (tick 0.10, step 0.001) unless a test
passes other instruments; limits are `support.LIMITS` with the test's overrides.
"""

from dataclasses import replace
from decimal import Decimal as D

from backtest.venue import InProcessVenue, VenueConfig
from book_keeper.book_keeper import BookKeeper
from core.clock import SimClock
from core.enums import OrderType, Side
from core.events import DecisionMade, OrderRejected, OrderSubmitted
from core.instrument import Instrument
from core.journal import MemoryJournal
from core.market import MarkPrice, Trade
from core.orders import ClientOrderIds, TargetPosition
from exchange_sim.engine import EngineConfig, Exchange
from exchange_sim.replay.grid import load_instruments
from risk_manager.risk_manager import RiskManager
from tests.trading_engine.support import LIMITS, ScriptedStrategy, make_bar
from trading_engine.exec_manager import ExecConfig, ExecManager
from trading_engine.main_trading_strategy import Proposal

SYMBOL = "BTCUSDT"
T0 = 1_746_403_200_000  # 2025-05-05T00:00:00Z
MINUTE = 60_000
BTC = load_instruments()[SYMBOL]
LEVERAGE = 5


class EngineRig:
    """The objects as a backtest wires them, on account "a" of a fresh engine at T0."""

    def __init__(
        self,
        *,
        instruments: dict[str, Instrument] | None = None,
        balance: D = D(10_000),
        engine_config: EngineConfig | None = None,
        venue_config: VenueConfig | None = None,
        ids: ClientOrderIds | None = None,
        **limits: object,
    ) -> None:
        instruments = instruments or {SYMBOL: BTC}
        self.clock = SimClock(T0)
        self.engine = Exchange(instruments, self.clock, engine_config or EngineConfig())
        self.engine.create_account("a", {"USDT": balance})
        self.engine.change_leverage("a", {"symbol": SYMBOL, "leverage": str(LEVERAGE)})
        self.journal = MemoryJournal()
        self.book = BookKeeper(
            starting_balances={"USDT": balance},
            instruments=instruments,
            clock=self.clock,
            leverage={SYMBOL: LEVERAGE},
        )
        self.risk = RiskManager(
            config=replace(LIMITS, **limits),  # type: ignore[arg-type]
            instruments=instruments,
            clock=self.clock,
            view=self.book,
        )
        self.strategy = ScriptedStrategy()
        self.venue = InProcessVenue(
            engine=self.engine,
            account="a",
            clock=self.clock,
            instruments=instruments,
            config=venue_config,
        )
        self.em = ExecManager(
            venue=self.venue,
            book=self.book,
            risk=self.risk,
            strategy=self.strategy,
            journal=self.journal,
            clock=self.clock,
            instruments=instruments,
            ids=ids or ClientOrderIds("bt"),
            config=ExecConfig(symbols=(SYMBOL,)),
            gap_open=lambda _symbol: False,
            clock_offset_ms=lambda: 0,
        )
        self.venue.listener = self.em.on_event
        self.n = 0  # trades fed
        self.bars = 0  # bars fed
        self.positions: list[D] = []  # the engine's position after each trade

    # --- market data ---------------------------------------------------------------------------

    def tick(self, price: str = "60000.0", at_ms: int | None = None) -> None:
        """One trade of 5 BTC (and the mark) at `price`, 100 ms after the last unless `at_ms`:
        the venue releases what is due, the engine trades, then the ExecManager sees it."""
        self.n += 1
        t = T0 + 100 * self.n if at_ms is None else at_ms
        self.venue.release(t)
        self.clock.set_ms(t)
        p = D(price)
        self.engine.on_mark_price(SYMBOL, p, p, D(0), t + 3_600_000, t)
        self.engine.on_trade(SYMBOL, p, D("5"), False, t)
        self.venue.pump()
        self.em.on_item(MarkPrice(SYMBOL, p, p, D(0), t + 3_600_000, t, t))
        self.em.on_item(Trade(SYMBOL, self.n, p, D("5"), self.n, self.n, False, t, t, t))
        self.positions.append(self.engine_position())

    def bar(self) -> None:
        """The next closed 1m bar at 60000.0 (open times T0 - 99 min, then +1 min each: the
        strategy sees new bars only)."""
        self.bars += 1
        self.em.on_item(make_bar("60000.0", open_ms=T0 - 100 * MINUTE + self.bars * MINUTE))

    def say(self, *proposals: Proposal) -> None:
        """The strategy says `proposals` on the next bar."""
        self.strategy.on_bar_says.append(list(proposals))
        self.bar()

    def target(self, qty: str) -> None:
        self.say(TargetPosition(symbol=SYMBOL, qty=D(qty)))

    def touch(self, bid: str, ask: str) -> None:
        """The recorded book's best bid / ask (10 BTC each) from now on."""
        self.engine.on_book_ticker(SYMBOL, D(bid), D(10), D(ask), D(10), self.clock.now_ms())

    # --- what happened -------------------------------------------------------------------------

    def sent(self) -> list[tuple[Side, OrderType, D | None, bool, bool]]:
        """Our requests as journaled: (side, type, quantity, reduceOnly, closePosition)."""
        return [
            (r.side, r.type, r.quantity, r.reduce_only, r.close_position)
            for e in self.journal.events
            if isinstance(e, OrderSubmitted)
            for r in (e.request,)
        ]

    def cancels(self) -> list[str]:
        return [
            e.action
            for e in self.journal.events
            if isinstance(e, DecisionMade) and e.action.startswith("cancel")
        ]

    def rejections(self) -> list[int]:
        return [e.code for e in self.journal.events if isinstance(e, OrderRejected)]

    def engine_position(self) -> D:
        rows = self.engine.position_risk("a", {"symbol": SYMBOL}, version=3)
        return sum((D(r["positionAmt"]) for r in rows), D(0))

    def engine_wallet(self) -> D:
        [usdt] = [b for b in self.engine.balance("a", {}, version=3) if b["asset"] == "USDT"]
        return D(usdt["balance"])

    def protection(self) -> list[tuple[str, bool, D, D]]:
        """The exchange's open algo orders: (type, closePosition, quantity, trigger), sorted."""
        return sorted(
            (a["orderType"], a["closePosition"], D(a["quantity"]), D(a["triggerPrice"]))
            for a in self.engine.open_algo_orders("a", {"symbol": SYMBOL})
        )
