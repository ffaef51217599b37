"""The daemon's warm-up hands the strategy exactly the `warmup_bars` it asked for: the last
closed bars of REST klines, never one more, and the newest of them whole (read once it has
settled at the exchange)."""

import asyncio
from decimal import Decimal as D

from core.market import Bar
from runtime.settings import load_settings
from tests.trading_engine.support import MINUTE, T0, ScriptedStrategy, make_rig
from trading_engine.daemon import Daemon
from trading_engine.warm_up import short_warm_note


class FixedClock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


class KlinesRest:
    """`MarketDataRest.klines` of an exchange whose clock reads `exchange_now_ms`: the last
    `limit` 1m klines up to its current (open) one, each marked closed when it closed before
    `closed_before_ms` (our clock), as the real client marks them. The exchange's open bar
    has half the volume it ends with (its last trades are still to come)."""

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
            volume = D("0.5") if t0 == current else D(1)
            out.append(Bar(symbol, interval, t0, t0 + MINUTE - 1, c, c, c, c, volume, c,
                           D(0), D(0), 1, closed))  # fmt: skip
        return out


def _warm(
    our_now_ms: int, exchange_now_ms: int, warmup_bars: int, slept: list[float] | None = None
) -> tuple[list[Bar], list[int]]:
    """(the bars the strategy was warmed with, the limits asked of REST); the daemon's
    sleeps go to `slept` and move both clocks on."""
    strategy = ScriptedStrategy()
    strategy.warmup_bars = warmup_bars
    rig = make_rig(strategy=strategy)
    settings = load_settings(None, env_file=None)
    clock = FixedClock(our_now_ms)
    rest = KlinesRest(exchange_now_ms)

    async def sleep(seconds: float) -> None:
        (slept if slept is not None else []).append(seconds)
        clock.now += round(seconds * 1000)
        rest.exchange_now_ms += round(seconds * 1000)

    daemon = Daemon(settings, clock=clock, sleep=sleep)  # type: ignore[arg-type]
    asyncio.run(daemon._warm(rig.em, strategy, rest))  # type: ignore[arg-type]
    return strategy.warmed, rest.asked


def test_the_warm_up_is_the_last_closed_bars_when_the_exchange_sends_its_open_one():
    now = T0 + 30_000  # 30 s into the bar opening at T0

    slept: list[float] = []
    warmed, asked = _warm(now, now, warmup_bars=3, slept=slept)

    assert (asked, slept) == ([4], [])
    assert [b.open_time_ms for b in warmed] == [T0 - 3 * MINUTE, T0 - 2 * MINUTE, T0 - MINUTE]


def test_the_warm_up_is_not_one_bar_more_when_every_row_has_closed_by_our_clock():
    """Our clock 5 ms past the minute, the exchange's 5 ms before it: its last row (still
    open there) has closed by ours, so REST's 4 rows are all closed. The strategy asked for 3:
    it gets the last 3."""
    warmed, _ = _warm(T0 + 5, T0 - 5, warmup_bars=3)

    assert [b.open_time_ms for b in warmed] == [T0 - 3 * MINUTE, T0 - 2 * MINUTE, T0 - MINUTE]


def test_a_bar_that_closed_by_our_clock_moments_ago_is_read_again_once_it_settled():
    """The case above: the bar opening at T0 - 1 min closed 6 ms ago by our clock, and is
    still open at the exchange (half its volume so far). Read now, the strategy would keep that
    short bar, and the live stream would not pass its whole version on (it is not newer than
    the warm-up). The daemon waits until 1 s after its close (T0 - 1 + 1000 - (T0 + 5) = 994
    ms) and reads again: the bar is whole."""
    slept: list[float] = []
    warmed, asked = _warm(T0 + 5, T0 - 5, warmup_bars=3, slept=slept)

    assert (asked, slept) == ([4, 4], [0.994])
    assert [b.open_time_ms for b in warmed] == [T0 - 3 * MINUTE, T0 - 2 * MINUTE, T0 - MINUTE]
    assert [b.volume for b in warmed] == [D(1), D(1), D(1)]


class ShortHistoryRest(KlinesRest):
    """An exchange with only `have` klines of history (the local exchange's day: 1,440)."""

    def __init__(self, exchange_now_ms: int, have: int) -> None:
        super().__init__(exchange_now_ms)
        self.have = have

    async def klines(
        self, symbol: str, interval: str, *, limit: int, closed_before_ms: int
    ) -> list[Bar]:
        return await super().klines(
            symbol, interval, limit=min(limit, self.have), closed_before_ms=closed_before_ms
        )


def test_a_warm_up_shorter_than_the_strategy_asks_is_a_warning_saying_so(caplog):
    # It was the INFO line of a whole warm-up: "strategy warmed with 5 closed bars".
    strategy = ScriptedStrategy()
    strategy.warmup_bars = 20
    rig = make_rig(strategy=strategy)
    now = T0 + 30_000
    daemon = Daemon(load_settings(None, env_file=None), clock=FixedClock(now))  # type: ignore[arg-type]

    with caplog.at_level("INFO", logger="daemon"):
        asyncio.run(daemon._warm(rig.em, strategy, ShortHistoryRest(now, have=6)))  # type: ignore[arg-type]

    assert len(strategy.warmed) == 5
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == [
        "BTCUSDT: strategy warmed with 5 closed bars of the 20 it asks (warmup_bars): the "
        "exchange has no more; it is not warm until live bars make up the rest"
    ]


def test_a_warm_up_longer_than_one_rest_read_says_so():
    assert short_warm_note("BTCUSDT", 1499, 2000) == (
        "BTCUSDT: strategy warmed with 1499 closed bars of the 2000 it asks (warmup_bars): one "
        "REST read serves at most 1,500 klines; it is not warm until live bars make up the rest"
    )
    assert short_warm_note("BTCUSDT", 20, 20) is None
