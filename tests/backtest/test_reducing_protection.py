"""REDUCING on the backtests' venue (`backtest.venue.InProcessVenue` over the matching engine):
the position's stop-loss and take-profit stay on the exchange until it is flat, then go, then
HALTED; a stop that fires during the flatten closes the position without a flip.

The ExecManager, RiskManager and BookKeeper as a backtest wires them, one account of 10,000
USDT. BTCUSDT (tick 0.10, step 0.001, marketTakeBound 0.30) trades at 60000.0; the strategy
buys 0.100 at the market (taker fee 0.05 %: 3 USDT); the stop-loss is 2 % below (58800.0,
closePosition), the take-profit 2 % above (61200.0, reduce-only 0.100). Expected values by hand.
"""

from decimal import Decimal as D

from backtest.venue import VenueConfig
from core.enums import OrderType, Side, TradingState
from core.events import CANCEL_ALL, CANCEL_ALL_BUT_PROTECTION
from core.orders import OrderProposal
from tests.trading_engine.engine_rig import SYMBOL, EngineRig

REDUCING, HALTED = TradingState.REDUCING, TradingState.HALTED
PROTECTION = [
    ("STOP_MARKET", True, D(0), D("58800.0")),
    ("TAKE_PROFIT_MARKET", False, D("0.100"), D("61200.0")),
]


class Rig(EngineRig):
    """The engine rig (tests/trading_engine/engine_rig.py): 10,000 USDT, stop-loss and
    take-profit 2 %, each request reaching the engine `latency_ms` after it was made."""

    def __init__(self, latency_ms: int = 0) -> None:
        super().__init__(
            venue_config=VenueConfig(latency_ms=latency_ms),
            stop_loss_pct=D(2),
            take_profit_pct=D(2),
        )

    def go_long(self) -> None:
        """Long 0.100 at 60000.0, its stop-loss and take-profit at the engine (after as many
        trades, 100 ms apart, as the latency takes)."""
        self.tick()
        self.target("0.100")
        for _ in range(10):
            self.tick()
            if self.protection():
                break
        assert self.engine_position() == self.book.position(SYMBOL).qty == D("0.100")
        assert self.protection() == PROTECTION

    def assert_halted_flat_and_equal_to_the_engine(self, wallet: str) -> None:
        assert self.em.trading_state is HALTED
        assert self.engine_position() == self.book.position(SYMBOL).qty == 0
        assert self.protection() == [] and not self.book.orders
        assert self.engine.open_orders("a", {"symbol": SYMBOL}) == []
        assert self.book.wallet() == self.engine_wallet() == D(wallet)
        assert all(q >= 0 for q in self.positions)  # never short: no flip


def test_a_refused_flatten_leaves_the_stop_and_the_retry_flattens_then_cancels_it():
    rig = Rig()
    rig.go_long()
    rig.touch("41000.0", "60000.1")  # bids gone: a SELL at the market may go no lower than
    # 60000 x (1 - 0.30) = 42000.0, so the exchange refuses it (-4131)

    rig.em.kill("operator")

    assert rig.rejections() == [-4131] and rig.em.trading_state is REDUCING
    assert rig.engine_position() == D("0.100") and rig.protection() == PROTECTION
    rig.touch("59990.0", "60000.0")  # the book is back
    rig.tick(at_ms=rig.clock.now_ms() + 1_000)
    assert rig.engine_position() == D("0.100")  # the retry waits for flatten_retry_ms (2 s)
    rig.tick(at_ms=rig.clock.now_ms() + 1_000)

    # 10000 - 3 (entry fee) - 1.00 (0.100 x (59990 - 60000)) - 2.9995 (5999 x 0.05 %)
    rig.assert_halted_flat_and_equal_to_the_engine("9993.0005")
    assert rig.cancels() == [CANCEL_ALL_BUT_PROTECTION, CANCEL_ALL]


def test_a_flatten_still_unanswered_leaves_the_stop_on_the_exchange():
    rig = Rig(latency_ms=300)  # each request reaches the engine 300 ms after it was made
    rig.go_long()
    killed = rig.clock.now_ms()

    rig.em.kill("operator")
    rig.tick(at_ms=killed + 200)  # the flatten is on its way: no answer yet

    assert rig.engine_position() == D("0.100") and rig.protection() == PROTECTION
    assert rig.em.trading_state is REDUCING
    rig.tick(at_ms=killed + 400)  # flattened at 60000.0; the protection's cancel is on its way
    # The flat position took its closePosition stop with it (GTE_GTC, reference 6.3: EXPIRED);
    # the reduce-only take-profit waits for the cancel.
    assert rig.engine_position() == 0 and rig.protection() == PROTECTION[1:]
    rig.tick(at_ms=killed + 800)

    # 10000 - 3 - 3 (the flatten's fee at 60000.0, no loss)
    rig.assert_halted_flat_and_equal_to_the_engine("9994")


def test_a_stop_that_fires_while_the_flatten_is_on_its_way_leaves_the_position_flat():
    rig = Rig(latency_ms=300)
    rig.go_long()
    killed = rig.clock.now_ms()

    rig.em.kill("operator")
    rig.tick("58700.0", at_ms=killed + 100)  # through the stop (58800.0): it fires at once

    assert rig.engine_position() == rig.book.position(SYMBOL).qty == 0
    assert rig.em.trading_state is REDUCING  # the flatten is still to be answered
    rig.tick("58700.0", at_ms=killed + 400)  # it arrives: reduce-only, nothing left to close
    assert rig.rejections() == [-2022]
    rig.tick("58700.0", at_ms=killed + 800)  # the take-profit's cancel has been through

    # 10000 - 3 - 130 (0.100 x (58700 - 60000)) - 2.935 (5870 x 0.05 %)
    rig.assert_halted_flat_and_equal_to_the_engine("9864.065")


def test_the_kill_switch_on_a_flat_account_with_only_entries_halts_at_once():
    rig = Rig()
    rig.tick()
    rig.say(
        OrderProposal(
            symbol=SYMBOL,
            side=Side.BUY,
            type=OrderType.LIMIT,
            quantity=D("0.010"),
            price=D("59000.0"),
        )
    )
    assert len(rig.engine.open_orders("a", {"symbol": SYMBOL})) == 1

    rig.em.kill("operator")

    rig.assert_halted_flat_and_equal_to_the_engine("10000")
    assert rig.cancels() == [CANCEL_ALL_BUT_PROTECTION]
