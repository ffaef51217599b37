"""orders.csv says why each order was sent and why it was cancelled (`why_sent`,
`why_cancelled`: the decision journaled before it), on the bundled real week: a strategy's
own cancel, the stale-order watch's, and the stop-loss replaced at each SMA flip."""

import csv
import re
from decimal import Decimal as D
from pathlib import Path

from backtest.data import Klines
from backtest.outputs import write_outputs
from backtest.runner import BacktestConfig, run_backtest
from tests.backtest.test_strategy_cancels import BidThenCancel, five_bars  # noqa: F401
from trading_engine.main_trading_strategy import NO_PROPOSALS, Proposals


class BidAndWait(BidThenCancel):
    """The same bid two percent under the close, never cancelled by the strategy."""

    name = "bid_and_wait"

    def on_bar(self, bar, view) -> Proposals:  # type: ignore[no-untyped-def]
        proposals = super().on_bar(bar, view)
        return proposals if self.bars == 1 else NO_PROPOSALS


def orders_csv(data: Klines, strategy: str, stale_order_ms: int, tmp: Path) -> list[dict]:
    config = BacktestConfig(
        strategy=f"{__name__}:{strategy}",
        strategy_params={"order_notional_usdt": D(1000)},
        stale_order_ms=stale_order_ms,
    )
    write_outputs(run_backtest(data, config), tmp)
    with (tmp / "orders.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_a_strategys_cancel_names_its_reason(five_bars, tmp_path):  # noqa: F811
    [order] = orders_csv(five_bars, "BidThenCancel", 3_600_000, tmp_path)
    assert order["status"] == "CANCELED"
    assert (order["why_sent"], order["why_cancelled"]) == (
        "bid_then_cancel: bid",
        "bid_then_cancel: done",
    )


def test_the_stale_order_watch_names_its_cancel(five_bars, tmp_path):  # noqa: F811
    """The bid sent at the first bar's close is a minute old at the second's: cancelled by the
    watch (60 s), which says so."""
    [order] = orders_csv(five_bars, "BidAndWait", 60_000, tmp_path)
    assert order["status"] == "CANCELED" and order["why_sent"] == "bid_and_wait: bid"
    assert order["why_cancelled"] == "exec_manager: stale: open 60000 ms (max 60000 ms)"


def test_each_flip_names_the_crossing_and_the_stop_it_replaced(tmp_path):
    from tests.backtest.test_cli import rows, run

    out = run(tmp_path, "--end", "2025-05-06", "--no-html", "--no-progress")
    orders = rows(out / "orders.csv")
    markets = [o for o in orders if o["type"] == "MARKET"]
    stops = [o for o in orders if o["type"] == "STOP_MARKET"]
    assert len(markets) > 10 and len(stops) == len(markets)
    for o in markets:
        side = {"BUY": "long", "SELL": "short"}[o["side"]]
        assert re.fullmatch(rf"sma_crossover: sma10=[\d.]+ sma50=[\d.]+: {side}", o["why_sent"]), o
        assert o["why_cancelled"] == ""
    for o in stops:
        assert o["why_sent"].startswith("exec_manager: stop-loss 2% from entry "), o
        if o["status"] == "CANCELED":  # replaced at the next flip by the new position's stop
            assert o["why_cancelled"].startswith(
                "exec_manager: replaced: the position is now BTCUSDT "
            ), o
        else:
            assert o["why_cancelled"] == "", o
    assert sum(o["status"] == "CANCELED" for o in stops) >= len(stops) - 1
