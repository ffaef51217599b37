"""A strategy that reads the bars' taker flow is warned about on the local exchange, whose
taker columns are synthesized (`exchange_sim.replay.synth.with_details`), and only there."""

from dataclasses import replace

import pytest

from runtime.settings import Mode
from tests.trading_engine.test_strategies_logistic_regression import momentum_model
from trading_engine.main_trading_strategy import StrategyBase
from trading_engine.strategies.logistic_regression import LogisticRegressionStrategy
from trading_engine.strategies.sma_crossover import SmaCrossover
from trading_engine.strategy_setup import synthesized_flow_note


class MyFlow(StrategyBase):
    uses_taker_flow = True


def test_a_flow_model_on_the_local_exchange_is_named_with_what_is_synthesized():
    flow = LogisticRegressionStrategy(model=replace(momentum_model(), flow=True))

    note = synthesized_flow_note(Mode.LOCAL, flow)

    assert note == (
        "strategy logistic_regression uses the taker-flow features (taker buy volume, trade "
        "count), and the local exchange synthesizes them: its bars' taker columns come from "
        "trades made up from 1m OHLCV (exchange_sim.replay.synth.with_details), but for a "
        "recorded trade capture (minutes in the bundled data). What the strategy does here "
        "says nothing about those features; judge it on Binance's own data (--mode testnet)"
    )


def test_a_strategy_of_ones_own_that_reads_taker_flow_says_so_and_is_warned_about():
    note = synthesized_flow_note(Mode.LOCAL, MyFlow())
    assert note is not None and note.startswith("strategy MyFlow uses the taker-flow features")


@pytest.mark.parametrize("mode", [Mode.TESTNET, Mode.LIVE])
def test_binances_own_venues_are_not_warned_about(mode):
    flow = LogisticRegressionStrategy(model=replace(momentum_model(), flow=True))
    assert synthesized_flow_note(mode, flow) is None


def test_strategies_without_taker_flow_are_not_warned_about():
    plain = LogisticRegressionStrategy(model=momentum_model())
    assert synthesized_flow_note(Mode.LOCAL, plain) is None
    assert synthesized_flow_note(Mode.LOCAL, SmaCrossover(fast=2, slow=5)) is None
