"""The strategy warmed at start-up from REST klines, so that its indicators are ready at once:
the last closed bars it asks for (`warmup_bars`), the newest read once it has settled at the
exchange."""

import logging
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal

from core.clock import Clock
from core.intervals import KLINE_INTERVALS
from core.market import Bar
from gateway.market_rest import MarketDataRest
from trading_engine.exec_manager import ExecManager
from trading_engine.main_trading_strategy import TradingStrategy
from trading_engine.market_recorder import MarketRecorder

log = logging.getLogger("daemon")

# The warm-up reads klines only once the newest closed bar closed this long ago (by our clock).
WARM_SETTLE_MS = 1_000


async def warm_strategy(
    exec_manager: ExecManager,
    strategy: TradingStrategy,
    market_rest: MarketDataRest,
    *,
    symbols: Iterable[str],
    interval: str,
    clock: Clock,
    sleep: Callable[[float], Awaitable[None]],
    recorder: MarketRecorder | None,
) -> dict[str, Decimal]:
    """Feed the strategy the last closed bars so its indicators are ready at once (and the
    session's `recorder` the same, for the parity audit). Returns each symbol's last close
    (none when there was no warm-up), the price the start-up's checks of the size go by."""
    closes: dict[str, Decimal] = {}
    need = int(getattr(strategy, "warmup_bars", 0))
    if need <= 0:
        return closes
    if interval not in KLINE_INTERVALS:
        log.info("no REST klines of %s: the strategy warms on live bars", interval)
        return closes
    for symbol in symbols:
        # One more than asked: the last row is the exchange's current (open) bar, unless
        # our clock is a few ms ahead of the exchange's across a bar's close; then all of
        # them have closed (by our clock) and the strategy gets the newest `need`.
        limit = min(need + 1, 1500)
        closed = await closed_klines(market_rest, symbol, interval, limit, clock)
        # A bar that closed by our clock less than WARM_SETTLE_MS ago may be open at the
        # exchange still, or lack its last trades there (our clock is the exchange's to
        # within half a round trip): read once more after it settled, or the strategy
        # keeps a short bar whose whole version the live stream no longer passes on.
        if closed:
            wait_ms = closed[-1].close_time_ms + WARM_SETTLE_MS - clock.now_ms()
            if wait_ms > 0:
                await sleep(wait_ms / 1000)
                closed = await closed_klines(market_rest, symbol, interval, limit, clock)
        closed = closed[-need:]
        exec_manager.warm(closed)
        if recorder is not None:
            recorder.warm(closed)
        if note := short_warm_note(symbol, len(closed), need):
            log.warning("%s", note)
        else:
            log.info("%s: strategy warmed with %d closed bars", symbol, len(closed))
        if closed:
            closes[symbol] = closed[-1].close
    return closes


def short_warm_note(symbol: str, got: int, asked: int) -> str | None:
    """What to say of a warm-up shorter than the strategy's `warmup_bars`, None when whole: a
    strategy asking 2,000 bars got 1,440 with the same INFO line as a full warm-up, and its
    indicators were not ready when its author thought they were."""
    if got >= asked:
        return None
    why = "one REST read serves at most 1,500 klines" if got >= 1499 else "the exchange has no more"
    return (
        f"{symbol}: strategy warmed with {got} closed bars of the {asked} it asks (warmup_bars): "
        f"{why}; it is not warm until live bars make up the rest"
    )


async def closed_klines(
    market_rest: MarketDataRest, symbol: str, interval: str, limit: int, clock: Clock
) -> list[Bar]:
    """The closed bars (by our clock) among the last `limit` REST klines."""
    bars = await market_rest.klines(symbol, interval, limit=limit, closed_before_ms=clock.now_ms())
    return [b for b in bars if b.closed]
