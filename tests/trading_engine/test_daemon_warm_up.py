"""The daemon's warm-up hands the strategy exactly the `warmup_bars` it asked for: the last
closed bars of REST klines, never one more."""

import asyncio
from decimal import Decimal as D

from core.market import Bar
from runtime.settings import load_settings
from tests.trading_engine.support import MINUTE, T0, ScriptedStrategy, make_rig
from trading_engine.daemon import Daemon


class FixedClock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


class KlinesRest:
    """`MarketDataRest.klines` of an exchange whose clock reads `exchange_now_ms`: the last
    `limit` 1m klines up to its current (open) one, each marked closed when it closed before
    `closed_before_ms` (our clock), as the real client marks them."""

    def __init__(self, exchange_now_ms: int) -> None:
        self.exchange_now_ms = exchange_now_ms
        self.asked: list[int] = []

    async def klines(
        self, symbol: str, interval: str, *, limit: int, closed_before_ms: int
    ) -> list[Bar]:
        self.asked.append(limit)
        current = self.exchange_now_ms - self.exchange_now_ms % MINUTE
        out = []
        for i in range(limit - 1, -1, -1):
            t0 = current - i * MINUTE
            c = D(60_000 + t0 // MINUTE % 100)
            closed = t0 + MINUTE - 1 < closed_before_ms
            out.append(Bar(symbol, interval, t0, t0 + MINUTE - 1, c, c, c, c, D(1), c,
                           D(0), D(0), 1, closed))  # fmt: skip
        return out


def _warm(our_now_ms: int, exchange_now_ms: int, warmup_bars: int) -> tuple[list[Bar], list[int]]:
    """(the bars the strategy was warmed with, the limits asked of REST)."""
    strategy = ScriptedStrategy()
    strategy.warmup_bars = warmup_bars
    rig = make_rig(strategy=strategy)
    settings = load_settings(None, env_file=None)
    daemon = Daemon(settings, clock=FixedClock(our_now_ms))  # type: ignore[arg-type]
    rest = KlinesRest(exchange_now_ms)
    asyncio.run(daemon._warm(rig.em, strategy, rest))  # type: ignore[arg-type]
    return strategy.warmed, rest.asked


def test_the_warm_up_is_the_last_closed_bars_when_the_exchange_sends_its_open_one():
    now = T0 + 30_000  # 30 s into the bar opening at T0

    warmed, asked = _warm(now, now, warmup_bars=3)

    assert asked == [4]
    assert [b.open_time_ms for b in warmed] == [T0 - 3 * MINUTE, T0 - 2 * MINUTE, T0 - MINUTE]


def test_the_warm_up_is_not_one_bar_more_when_every_row_has_closed_by_our_clock():
    """Our clock 5 ms past the minute, the exchange's 5 ms before it: its last row (still
    open there) has closed by ours, so REST's 4 rows are all closed. The strategy asked for 3:
    it gets the last 3."""
    warmed, _ = _warm(T0 + 5, T0 - 5, warmup_bars=3)

    assert [b.open_time_ms for b in warmed] == [T0 - 3 * MINUTE, T0 - 2 * MINUTE, T0 - MINUTE]
