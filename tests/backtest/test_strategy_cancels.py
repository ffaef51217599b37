"""A strategy cancelling its own resting order in a backtest: the same ExecManager path as
live (view.open_orders, CancelProposal, RiskManager, journal, venue cancel), against the
in-process engine, on the bundled week of real BTCUSDT 1m klines."""

from decimal import ROUND_DOWN
from decimal import Decimal as D

import pytest

from backtest.data import Klines, load_klines
from backtest.runner import BacktestConfig, run_backtest
from core.enums import OrderType, Side, TimeInForce
from core.market import Bar
from core.orders import CancelProposal, OrderProposal
from tests.backtest.test_reference_loop import KLINES
from trading_engine.main_trading_strategy import NO_PROPOSALS, Proposals, StrategyBase


class BidThenCancel(StrategyBase):
    """At its first bar a LIMIT BUY 0.002 two percent under the close (it never fills here);
    at the next bar, every order its view lists is cancelled. Notes the statuses it saw."""

    name = "bid_then_cancel"

    def __init__(self, **common: object) -> None:
        super().__init__(**common)  # type: ignore[arg-type]
        self.bars = 0
        self.seen: list[list[str]] = []

    def on_bar(self, bar: Bar, view) -> Proposals:  # type: ignore[no-untyped-def]
        self.bars += 1
        open_orders = view.open_orders(bar.symbol)
        self.seen.append([str(o.status) for o in open_orders])
        if self.bars == 1:
            price = (bar.close * D("0.98")).quantize(D("0.1"), rounding=ROUND_DOWN)
            return (
                OrderProposal(
                    symbol=bar.symbol,
                    side=Side.BUY,
                    type=OrderType.LIMIT,
                    quantity=D("0.002"),
                    price=price,
                    time_in_force=TimeInForce.GTC,
                    reason="bid",
                ),
            )
        if self.bars == 2:
            return tuple(
                CancelProposal(symbol=bar.symbol, client_order_id=o.client_order_id, reason="done")
                for o in open_orders
            )
        return NO_PROPOSALS


@pytest.fixture(scope="module")
def five_bars() -> Klines:
    week = load_klines(KLINES)
    return Klines(*(getattr(week, c)[:5] for c in week.__slots__))


def run(data: Klines, latency_ms: int = 0):
    config = BacktestConfig(
        strategy=f"{__name__}:BidThenCancel",
        strategy_params={"order_notional_usdt": D(1000)},
        latency_ms=latency_ms,
        stale_order_ms=3_600_000,  # the bid rests until the strategy cancels it
    )
    return run_backtest(data, config)


def test_a_strategy_cancels_its_resting_order_in_a_backtest(five_bars):
    result = run(five_bars)

    [order] = result.journal.orders.values()
    assert (order.client_order_id, order.status, order.filled_qty) == ("bt-1", "CANCELED", 0)
    assert result.counters["strategy_cancels"] == 1 and result.counters["cancels_denied"] == 0
    assert result.journal.counts["DecisionMade"] == 2  # the bid, then its cancel


def test_the_strategy_sees_its_order_open_then_gone(five_bars, built_strategies):
    made = built_strategies

    run(five_bars)

    assert made[0].seen[:3] == [[], ["NEW"], []]


def test_an_order_still_on_its_way_to_the_engine_is_cancelled_once_it_gets_there(five_bars):
    """With 90 s of latency, the bid sent at the first close reaches the engine in the third
    bar; the cancel, sent at the second close while the bid is PENDING_SUBMIT, follows it."""
    result = run(five_bars, latency_ms=90_000)

    [order] = result.journal.orders.values()
    assert order.status == "CANCELED"
    assert result.counters["strategy_cancels"] == 1
