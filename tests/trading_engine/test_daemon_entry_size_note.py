"""A strategy sized (order_notional_usdt) under one lot or under the exchange's minimum notional
at the warm-up's last close is warned about at start: such a target rounds to no order, and
the daemon ran without ever trading and without a word."""

import asyncio
import io
from decimal import Decimal as D

from core.market import Bar
from runtime.settings import load_settings
from tests.trading_engine.support import INSTRUMENTS, MINUTE, T0, make_rig
from trading_engine.daemon import Daemon
from trading_engine.strategies.sma_crossover import SmaCrossover
from trading_engine.strategy_setup import entry_size_note


class Clock:
    def now_ms(self) -> int:
        return T0 + 30_000


class FlatKlines:
    """REST klines all closing at `close`; the last row is the exchange's open bar."""

    def __init__(self, close: str) -> None:
        self.close = D(close)

    async def klines(
        self, symbol: str, interval: str, *, limit: int, closed_before_ms: int
    ) -> list[Bar]:
        starts = range(T0 - (limit - 1) * MINUTE, T0 + 1, MINUTE)
        return [
            self._bar(symbol, interval, t0, t0 + MINUTE - 1 < closed_before_ms) for t0 in starts
        ]

    def _bar(self, symbol: str, interval: str, t0: int, closed: bool) -> Bar:
        c = self.close
        return Bar(
            symbol, interval, t0, t0 + MINUTE - 1, c, c, c, c, D(1), c, D(0), D(0), 1, closed
        )


def _started(notional: int, close: str) -> str:
    """What the daemon's warm-up printed for an SMA strategy of `notional` USDT."""
    strategy = SmaCrossover(fast=2, slow=3, order_notional_usdt=notional, instruments=INSTRUMENTS)
    rig = make_rig(strategy=strategy)
    out = io.StringIO()
    daemon = Daemon(load_settings(None, env_file=None), out=out, clock=Clock())  # type: ignore[arg-type]
    asyncio.run(daemon._warm(rig.em, strategy, FlatKlines(close), INSTRUMENTS))  # type: ignore[arg-type]
    return out.getvalue()


def test_a_size_under_one_lot_is_warned_about_at_start():
    # 50 / 60,000 = 0.00083 BTC, floored to the 0.001 step: 0; one lot is 0.001 x 60,000 = 60
    printed = _started(50, "60000.0")

    assert printed == (
        "WARNING: BTCUSDT: strategy.order_notional_usdt = 50 USDT is 0.000 BTC at the last close"
        " 60000.0, less than the smallest order, 0.001 BTC: the strategy can take no position"
        " (no order is sent); at that price it needs at least 60 USDT\n"
    )


def test_a_size_fit_to_trade_says_nothing():
    assert _started(200, "60000.0") == ""


def test_a_size_under_the_minimum_notional_names_it_and_what_is_needed():
    # 5 / 1819.20 = 0.00275 ETH -> 0.002, worth 3.64 USDT < 10; 10 USDT needs
    # ceil(10 / 1819.20 / 0.001) = 6 steps, 0.006 x 1819.20 = 10.92 -> 11 USDT
    note = entry_size_note("ETHUSDT", D(5), D("1819.20"), INSTRUMENTS["ETHUSDT"])

    assert note == (
        "ETHUSDT: strategy.order_notional_usdt = 5 USDT is 0.002 ETH at the last close 1819.20,"
        " below the exchange's minimum notional of 10 USDT: the strategy can take no position"
        " (no order is sent); at that price it needs at least 11 USDT"
    )


def test_a_size_just_at_the_minimum_notional_passes():
    # 0.006 ETH x 1819.20 = 10.9152 >= 10
    assert entry_size_note("ETHUSDT", D(11), D("1819.20"), INSTRUMENTS["ETHUSDT"]) is None


def test_no_price_to_size_at_says_nothing_rather_than_failing_the_start():
    assert entry_size_note("BTCUSDT", D(50), D(0), INSTRUMENTS["BTCUSDT"]) is None
