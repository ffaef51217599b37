"""A position larger than one order may be (MARKET_LOT_SIZE maxQty, -4005), against the
in-process matching engine (`backtest.venue.InProcessVenue`, the backtests' venue): the
strategy's target is reached in orders of maxQty, its take-profit is as many orders at one
level, and REDUCING flattens it with as many reduce-only market orders, all at once, until the
engine holds no position. BTCUSDT with its market lot cut to maxQty 0.050 (step 0.001), at a
flat 60000.0: 0.125 BTC is 0.050 + 0.050 + 0.025."""

from dataclasses import replace
from decimal import Decimal as D

from core.enums import OrderType, Side, TradingState
from core.events import OrderRejected, RiskDenied
from core.instrument import Instrument, LotSize
from core.orders import ClientOrderIds, OrderProposal
from exchange_sim.engine import EngineConfig
from tests.trading_engine.engine_rig import BTC, SYMBOL, EngineRig

SMALL_LOT = replace(BTC, market_lot=LotSize(D("0.001"), D("0.050"), D("0.001")))


class Rig(EngineRig):
    """The engine rig (tests/trading_engine/engine_rig.py) with 100,000 USDT and BTCUSDT's
    market lot cut to maxQty 0.050 unless `instruments` (test_exec_manager_risk_reducing
    passes the real one)."""

    def __init__(
        self,
        instruments: dict[str, Instrument] | None = None,
        engine_config: EngineConfig | None = None,
        **limits: object,
    ) -> None:
        super().__init__(
            instruments=instruments or {SYMBOL: SMALL_LOT},
            balance=D(100_000),
            engine_config=engine_config,
            ids=ClientOrderIds("bfd", tag="k3x9q2"),
            **limits,
        )

    def buy_in_three(self) -> None:
        """A long 0.125 from three market orders the strategy sends itself."""
        self.say(
            *(
                OrderProposal(symbol=SYMBOL, side=Side.BUY, type=OrderType.MARKET, quantity=D(q))
                for q in ("0.050", "0.050", "0.025")
            )
        )
        self.tick()


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

    assert rig.protection() == [
        ("STOP_MARKET", True, D(0), D("58800.0")),
        ("TAKE_PROFIT_MARKET", False, D("0.025"), D("60600.0")),
        ("TAKE_PROFIT_MARKET", False, D("0.050"), D("60600.0")),
        ("TAKE_PROFIT_MARKET", False, D("0.050"), D("60600.0")),
    ]
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

    assert rig.engine_position() == rig.book.position(SYMBOL).qty == D("0.480")
    assert rig.protection() == [
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
