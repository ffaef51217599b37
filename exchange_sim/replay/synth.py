"""Synthesized intra-minute trades that reproduce recorded 1m klines exactly.

Used where only 1m OHLCV bars exist (the kline data set, and to keep a run going after a trade
capture ends). For each bar the trades:

* start at the bar's open, visit its high and its low (in a seeded order), end at its close;
* add a seeded number of extra trades at prices on the tick grid between those waypoints, so
  no trade leaves [low, high];
* split the bar's volume into positive step multiples that sum to it exactly;
* get sorted times inside the bar, and taker sides from the price moves (up = taker buy).

So rebuilding bars from the trades gives the source open/high/low/close/volume exactly.
Everything is deterministic per (seed, symbol, bar open time), independent of chunking.
The tapes are flagged `synthesized=True`; none of this is recorded Binance data.
"""

import random
from dataclasses import dataclass

import numpy as np

from exchange_sim.replay.grid import WireGrid
from exchange_sim.replay.tapes import MARKET, KlineBars, TradeTape

DEFAULT_SEED = 20240808
DEFAULT_MAX_EXTRA = 40  # extra trades per bar beyond the 1-4 waypoints


@dataclass(frozen=True, slots=True)
class SynthConfig:
    """seed: any int; max_extra: upper bound of extra trades per bar (uniformly drawn)."""

    seed: int = DEFAULT_SEED
    max_extra: int = DEFAULT_MAX_EXTRA


def _bar_rng(seed: int, symbol: str, open_time: int) -> random.Random:
    # str seeds are hashed with SHA-512 by `random`: stable across processes and platforms.
    return random.Random(f"{seed}:{symbol}:{open_time}")


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """`parts` positive integers summing to `total` exactly (total >= parts)."""
    weights = [rng.expovariate(1.0) for _ in range(parts)]
    scale = (total - parts) / sum(weights)
    sizes = [1 + int(w * scale) for w in weights]
    sizes[max(range(parts), key=sizes.__getitem__)] += total - sum(sizes)
    return sizes


def _bar_trades(
    o: int, h: int, lo: int, c: int, v: int, rng: random.Random, max_extra: int
) -> tuple[list[int], list[int]]:
    """(prices, qtys) of one bar's trades, in ticks and steps."""
    order = [o, h, lo, c] if rng.random() < 0.5 else [o, lo, h, c]
    waypoints = [order[0]]
    for p in order[1:]:
        if p != waypoints[-1]:
            waypoints.append(p)
    if v < len(waypoints):
        raise ValueError(f"volume of {v} steps cannot carry {len(waypoints)} distinct prices")
    extra = rng.randint(0, min(max_extra, v - len(waypoints)))
    # distribute the extra trades over the legs between waypoints (or after the only one)
    legs = max(1, len(waypoints) - 1)
    per_leg = [0] * legs
    for _ in range(extra):
        per_leg[rng.randrange(legs)] += 1
    prices = [waypoints[0]]
    for i in range(legs):
        a = waypoints[i]
        b = waypoints[i + 1] if i + 1 < len(waypoints) else a
        low, high = min(a, b), max(a, b)
        inner = sorted(rng.randint(low, high) for _ in range(per_leg[i]))
        prices.extend(inner if b >= a else inner[::-1])
        if i + 1 < len(waypoints):
            prices.append(b)
    return prices, _split(v, len(prices), rng)


def synthesize_trades(
    bars: KlineBars,
    *,
    first_trade_id: int,
    config: SynthConfig = SynthConfig(),
) -> TradeTape:
    """Trades for every bar of `bars` (zero-volume bars get none), ids from first_trade_id."""
    ids: list[int] = []
    prices: list[int] = []
    qtys: list[int] = []
    times: list[int] = []
    makers: list[bool] = []
    next_id = first_trade_id
    last_price: int | None = None
    for i in range(len(bars)):
        v = int(bars.volume[i])
        o, h, lo, c = (int(bars.open[i]), int(bars.high[i]), int(bars.low[i]), int(bars.close[i]))
        if v == 0:
            if not o == h == lo == c:
                raise ValueError(f"{bars.symbol}: zero-volume bar {i} has a price range")
            continue
        if not lo <= min(o, c) <= max(o, c) <= h:
            raise ValueError(f"{bars.symbol}: bar {i} is not a valid OHLC bar")
        open_time = int(bars.open_time[i])
        rng = _bar_rng(config.seed, bars.symbol, open_time)
        p, q = _bar_trades(o, h, lo, c, v, rng, config.max_extra)
        n = len(p)
        offsets = sorted(rng.randrange(bars.interval_ms) for _ in range(n))
        prev = last_price if last_price is not None else p[0]
        for k in range(n):
            makers.append(p[k] < prev or (p[k] == prev and rng.random() < 0.5))
            prev = p[k]
        last_price = p[-1]
        ids.extend(range(next_id, next_id + n))
        next_id += n
        prices.extend(p)
        qtys.extend(q)
        times.extend(open_time + off for off in offsets)
    time_arr = np.array(times, dtype=np.int64)
    return TradeTape(
        symbol=bars.symbol,
        trade_id=np.array(ids, dtype=np.int64),
        price=np.array(prices, dtype=np.int64),
        qty=np.array(qtys, dtype=np.int64),
        time=time_arr,
        event_time=time_arr.copy(),
        buyer_maker=np.array(makers, dtype=bool),
        trade_type=np.full(len(ids), MARKET, dtype=np.int8),
        recv_time_ns=np.zeros(len(ids), dtype=np.int64),
        synthesized=True,
    )


def rebuild_bars(
    trades: TradeTape, grid: WireGrid, *, open_times: np.ndarray, interval_ms: int = 60_000
) -> KlineBars:
    """Klines of the given open times from MARKET trades (empty bars: previous close, 0 volume).

    The first bar must contain a trade (an empty first bar has no previous close).
    """
    keep = trades.trade_type == MARKET
    price = trades.price[keep]
    qty = trades.qty[keep]
    t = trades.time[keep]
    buy = ~trades.buyer_maker[keep]
    n = len(open_times)
    bucket = np.searchsorted(open_times, t - t % interval_ms)
    out = {
        k: np.zeros(n, dtype=np.int64) for k in ("o", "h", "l", "c", "v", "q", "n", "tbv", "tbq")
    }
    notional = price * grid.tick_units * qty * grid.step_units
    last_close: int | None = None
    starts = np.searchsorted(bucket, np.arange(n), side="left")
    ends = np.searchsorted(bucket, np.arange(n), side="right")
    for i in range(n):
        a, b = starts[i], ends[i]
        if a == b:
            if last_close is None:
                raise ValueError("the first bar has no trades")
            for k in ("o", "h", "l", "c"):
                out[k][i] = last_close
            continue
        out["o"][i] = price[a]
        out["h"][i] = price[a:b].max()
        out["l"][i] = price[a:b].min()
        out["c"][i] = last_close = int(price[b - 1])
        out["v"][i] = qty[a:b].sum()
        out["q"][i] = notional[a:b].sum()
        out["n"][i] = b - a
        out["tbv"][i] = qty[a:b][buy[a:b]].sum()
        out["tbq"][i] = notional[a:b][buy[a:b]].sum()
    return KlineBars(
        symbol=trades.symbol,
        interval_ms=interval_ms,
        open_time=np.asarray(open_times, dtype=np.int64),
        open=out["o"],
        high=out["h"],
        low=out["l"],
        close=out["c"],
        volume=out["v"],
        quote_volume=out["q"],
        trade_count=out["n"],
        taker_buy_volume=out["tbv"],
        taker_buy_quote_volume=out["tbq"],
    )


def with_details(
    bars: KlineBars, grid: WireGrid, *, config: SynthConfig = SynthConfig()
) -> KlineBars:
    """6-column bars completed with quote volume, trade count and taker-buy columns computed
    from their synthesized trades (the same trades a replay of these bars publishes)."""
    if bars.has_details or len(bars) == 0:
        return bars
    trades = synthesize_trades(bars, first_trade_id=1, config=config)
    return rebuild_bars(trades, grid, open_times=bars.open_time, interval_ms=bars.interval_ms)
