"""A position larger than one order may be (MARKET_LOT_SIZE maxQty, -4005), against the
in-process matching engine (`backtest.venue.InProcessVenue`, the backtests' venue): the
strategy's target is reached in orders of maxQty, its take-profit is as many orders at one
level, and REDUCING flattens it with as many reduce-only market orders, all at once, until the
engine holds no position. BTCUSDT with its market lot cut to maxQty 0.050 (step 0.001), at a
flat 60000.0: 0.125 BTC is 0.050 + 0.050 + 0.025."""

from dataclasses import replace
from decimal import Decimal as D

from backtest.venue import InProcessVenue
from book_keeper.book_keeper import BookKeeper
from core.clock import SimClock
from core.enums import OrderType, Side, TradingState
from core.events import OrderRejected, OrderSubmitted, RiskDenied
from core.instrument import LotSize
from core.journal import MemoryJournal
from core.market import MarkPrice, Trade
from core.orders import ClientOrderIds, OrderProposal, TargetPosition
from exchange_sim.engine import EngineConfig, Exchange
from exchange_sim.replay.grid import load_instruments
from risk_manager.risk_manager import RiskManager
from tests.trading_engine.support import LIMITS, ScriptedStrategy, make_bar
from trading_engine.exec_manager import ExecConfig, ExecManager

SYMBOL = "BTCUSDT"
T0 = 1_746_403_200_000
BTC = load_instruments()[SYMBOL]
SMALL_LOT = replace(BTC, market_lot=LotSize(D("0.001"), D("0.050"), D("0.001")))
INSTRUMENTS = {SYMBOL: SMALL_LOT}


class Rig:
    """The daemon's ExecManager, RiskManager and BookKeeper on the engine, one account."""

    def __init__(
        self,
        instruments: dict = INSTRUMENTS,
        engine_config: EngineConfig | None = None,
        **limits: object,
    ) -> None:
        self.clock = SimClock(T0)
        self.engine = Exchange(instruments, self.clock, engine_config or EngineConfig())
        self.engine.create_account("a", {"USDT": D(100_000)})
        self.engine.change_leverage("a", {"symbol": SYMBOL, "leverage": "5"})
        self.journal = MemoryJournal()
        self.book = BookKeeper(
            starting_balances={"USDT": D(100_000)},
            instruments=instruments,
            clock=self.clock,
            leverage={SYMBOL: 5},
        )
        self.risk = RiskManager(
            config=replace(LIMITS, **limits),  # type: ignore[arg-type]
            instruments=instruments,
            clock=self.clock,
            view=self.book,
        )
        self.strategy = ScriptedStrategy()
        self.venue = InProcessVenue(
            engine=self.engine, account="a", clock=self.clock, instruments=instruments
        )
        self.em = ExecManager(
            venue=self.venue,
            book=self.book,
            risk=self.risk,
            strategy=self.strategy,
            journal=self.journal,
            clock=self.clock,
            instruments=instruments,
            ids=ClientOrderIds("bfd", tag="k3x9q2"),
            config=ExecConfig(symbols=(SYMBOL,)),
            gap_open=lambda _symbol: False,
            clock_offset_ms=lambda: 0,
        )
        self.venue.listener = self.em.on_event
        self.n = 0  # trades fed
        self.bars = 0  # bars fed

    def tick(self, price: str = "60000.0") -> None:
        """One trade (and the mark) at `price`, 100 ms after the last, to the engine and then
        to the ExecManager, as the backtest runner feeds them."""
        self.n += 1
        t = T0 + 100 * self.n
        self.venue.release(t)
        self.clock.set_ms(t)
        p = D(price)
        self.engine.on_mark_price(SYMBOL, p, p, D(0), t + 3_600_000, t)
        self.engine.on_trade(SYMBOL, p, D("5"), self.n % 2 == 0, t)
        self.venue.pump()
        self.em.on_item(MarkPrice(SYMBOL, p, p, D(0), t + 3_600_000, t, t))
        self.em.on_item(Trade(SYMBOL, self.n, p, D("5"), self.n, self.n, False, t, t, t))

    def buy_in_three(self) -> None:
        """A long 0.125 from three market orders the strategy sends itself."""
        self.strategy.on_bar_says.append(
            [
                OrderProposal(symbol=SYMBOL, side=Side.BUY, type=OrderType.MARKET, quantity=D(q))
                for q in ("0.050", "0.050", "0.025")
            ]
        )
        self.bar()
        self.tick()

    def target(self, qty: str) -> None:
        self.strategy.on_bar_says.append([TargetPosition(symbol=SYMBOL, qty=D(qty))])
        self.bar()

    def bar(self) -> None:
        """The next closed 1m bar (each a minute after the last: the strategy sees new ones
        only), at 60000.0."""
        self.bars += 1
        self.em.on_item(make_bar("60000.0", open_ms=T0 - 100 * 60_000 + self.bars * 60_000))

    def sent(self) -> list[tuple[Side, OrderType, D | None, bool, bool]]:
        return [
            (r.side, r.type, r.quantity, r.reduce_only, r.close_position)
            for e in self.journal.events
            if isinstance(e, OrderSubmitted)
            for r in (e.request,)
        ]

    def engine_position(self) -> D:
        rows = self.engine.position_risk("a", {"symbol": SYMBOL}, version=3)
        return sum((D(r["positionAmt"]) for r in rows), D(0))


def test_a_target_beyond_max_qty_is_reached_in_orders_of_max_qty():
    rig = Rig()
    rig.tick()
    rig.target("0.125")
    for _ in range(3):
        rig.tick()

    buy = (Side.BUY, OrderType.MARKET)
    assert rig.sent() == [
        (*buy, D("0.050"), False, False),
        (*buy, D("0.050"), False, False),
        (*buy, D("0.025"), False, False),
    ]
    assert rig.engine_position() == rig.book.position(SYMBOL).qty == D("0.125")
    assert rig.journal.events and not any(isinstance(e, RiskDenied) for e in rig.journal.events)


def test_reducing_flattens_a_position_beyond_max_qty_with_several_reduce_only_orders_at_once():
    rig = Rig()
    rig.tick()
    rig.buy_in_three()
    assert rig.engine_position() == D("0.125")
    before = len(rig.sent())

    rig.em.kill("operator")
    flatten = rig.sent()[before:]  # sent together, before any further market data
    rig.tick()

    sell = (Side.SELL, OrderType.MARKET)
    assert flatten == [
        (*sell, D("0.050"), True, False),
        (*sell, D("0.050"), True, False),
        (*sell, D("0.025"), True, False),
    ]
    assert rig.engine_position() == rig.book.position(SYMBOL).qty == D(0)
    assert rig.em.trading_state is TradingState.HALTED  # flat and nothing open
    assert rig.em.counters.flatten_orders == 3
    assert not any(isinstance(e, RiskDenied) for e in rig.journal.events)


def test_a_take_profit_beyond_max_qty_is_as_many_orders_at_one_level():
    """take_profit_pct 1 %: 60600.0 for the long from 60000.0; the stop-loss (2 %: 58800.0)
    closes the whole position by itself (closePosition has no quantity)."""
    rig = Rig(stop_loss_pct=D(2), take_profit_pct=D(1))
    rig.tick()
    rig.buy_in_three()
    rig.tick()

    algos = rig.engine.open_algo_orders("a", {"symbol": SYMBOL})
    take_profits = sorted(
        (D(a["quantity"]), D(a["triggerPrice"]))
        for a in algos
        if a["orderType"] == "TAKE_PROFIT_MARKET"
    )
    stops = [
        (a["closePosition"], D(a["triggerPrice"])) for a in algos if a["orderType"] == "STOP_MARKET"
    ]
    assert take_profits == [
        (D("0.025"), D("60600.0")),
        (D("0.050"), D("60600.0")),
        (D("0.050"), D("60600.0")),
    ]
    assert stops == [(True, D("58800.0"))]
    assert not any(isinstance(e, RiskDenied) for e in rig.journal.events)


def test_take_profits_beyond_max_qty_are_capped_within_the_open_conditional_order_limit():
    """A long 0.480 (maxQty 0.050) would take 10 take-profit orders (9 x 0.050 + 0.030) and a
    stop: 11 conditional orders, where the exchange holds 10 (BTCUSDT's MAX_NUM_ALGO_ORDERS;
    the engine set to refuse the 11th with -4045, a refusal that counts toward the circuit
    breaker). Capped at (10 - 2) // 2 = 4 take-profits of 0.050 (0.200 at 60600.0) and the
    closePosition stop (58800.0): nothing is refused."""
    rig = Rig(
        engine_config=EngineConfig(max_algo_orders=10),
        stop_loss_pct=D(2),
        take_profit_pct=D(1),
        max_open_orders=20,  # ours count the stop and take-profits: not what is tested here
        max_position_notional_usdt=D(30_000),  # 0.480 x 60000 = 28800
    )
    rig.tick()
    rig.target("0.480")  # in orders of 0.050, each re-planning the protection when it fills
    for _ in range(10):
        rig.tick()

    algos = rig.engine.open_algo_orders("a", {"symbol": SYMBOL})
    assert rig.engine_position() == rig.book.position(SYMBOL).qty == D("0.480")
    assert sorted(
        (a["orderType"], a["closePosition"], D(a["quantity"]), D(a["triggerPrice"])) for a in algos
    ) == [
        ("STOP_MARKET", True, D(0), D("58800.0")),
        *[("TAKE_PROFIT_MARKET", False, D("0.050"), D("60600.0"))] * 4,
    ]
    assert not any(isinstance(e, OrderRejected | RiskDenied) for e in rig.journal.events)


def test_a_target_to_go_flat_closes_beyond_max_qty_in_reduce_only_orders():
    rig = Rig()
    rig.tick()
    rig.buy_in_three()
    before = len(rig.sent())

    rig.target("0")
    for _ in range(3):
        rig.tick()

    sell = (Side.SELL, OrderType.MARKET)
    assert rig.sent()[before:] == [
        (*sell, D("0.050"), True, False),
        (*sell, D("0.050"), True, False),
        (*sell, D("0.025"), True, False),
    ]
    assert rig.engine_position() == rig.book.position(SYMBOL).qty == D(0)
