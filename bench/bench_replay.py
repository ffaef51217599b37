"""How fast the replay layer is: loading, aggregation, synthesis, event pulling, store queries.

Run: `python bench/bench_replay.py [synth_hours]` (default 24). Prints one line per figure.
The replay must keep up with real time by orders of magnitude and run an "as fast as possible"
week in seconds to minutes; REST queries must stay far below a millisecond.
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exchange_sim.replay import loaders  # noqa: E402
from exchange_sim.replay.agg_trade_store import AggTradeStore  # noqa: E402
from exchange_sim.replay.aggregate import aggregate_trades  # noqa: E402
from exchange_sim.replay.catalog import BUNDLED, load_dataset  # noqa: E402
from exchange_sim.replay.events import AggTradeEvent  # noqa: E402
from exchange_sim.replay.grid import DATA_DIR, load_grids  # noqa: E402
from exchange_sim.replay.kline_store import KlineStore  # noqa: E402
from exchange_sim.replay.synth import synthesize_trades  # noqa: E402
from exchange_sim.replay.timeline import MINUTE_MS, MarketReplay  # noqa: E402

_LAST = [0.0]  # duration of the last _timed call, s


def _timed(label: str, fn, count: int | None = None, unit: str = "items"):
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    _LAST[0] = dt
    n = count if count is not None else (len(out) if hasattr(out, "__len__") else 0)
    rate = f", {n / dt:,.0f} {unit}/s" if n else ""
    print(f"{label:<48} {dt * 1000:9.1f} ms{rate}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("synth_hours", nargs="?", type=int, default=24, help="hours to synthesize")
    hours = parser.parse_args().synth_hours
    grids = load_grids()
    btc = grids["BTCUSDT"]
    trades = _timed(
        "load trades CSV (BTCUSDT 2024-08-08)",
        lambda: loaders.load_trades_csv(
            DATA_DIR / "trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz", btc
        ),
        unit="trades",
    )
    _timed("aggregate trades -> aggTrades", lambda: aggregate_trades(trades), len(trades), "trades")
    ds = _timed(
        "load data set btcusdt-2024-08-08", lambda: load_dataset(BUNDLED["btcusdt-2024-08-08"]), 1
    )
    week = ds.klines["BTCUSDT"]
    _timed("synthesize one kline week (BTCUSDT)", lambda: synthesize_trades(week, first_trade_id=1))

    replay = _timed("MarketReplay(btcusdt-2024-08-08)", lambda: MarketReplay(ds), 1)
    recorded = _timed(
        "pull the recorded capture (events)",
        lambda: replay.events_until(replay.start_ms + 6 * MINUTE_MS),
        unit="events",
    )
    synth = _timed(
        f"pull {hours} h of synthesized continuation",
        lambda: replay.events_until(replay.start_ms + hours * 60 * MINUTE_MS),
        unit="events",
    )
    speedup = hours * 3600 / _LAST[0]
    print(f"{'synthesized replay speed vs real time':<48} {speedup:9.0f} x ({len(synth):,} events)")

    store = AggTradeStore(["BTCUSDT"])
    kstore = KlineStore(grids)
    events = [e for e in recorded + synth if isinstance(e, AggTradeEvent) and e.symbol == "BTCUSDT"]

    def fill() -> list:
        for e in events:
            store.append(e, trade_time_ms=e.trade_time_ms)
            kstore.add_trade(
                "BTCUSDT",
                time_ms=e.trade_time_ms,
                price_ticks=btc.ticks_of(e.price),
                qty_steps=btc.steps_of(e.qty),
                buyer_is_maker=e.buyer_is_maker,
                first_trade_id=e.first_trade_id,
                last_trade_id=e.last_trade_id,
            )
        return events

    _timed("fill AggTradeStore + KlineStore", fill, unit="aggTrades")
    now = events[-1].trade_time_ms
    start = events[len(events) // 2].trade_time_ms
    n = 2000
    _timed(
        "aggTrades query (startTime, limit 1000)",
        lambda: [store.rest_rows("BTCUSDT", start_time=start, limit=1000) for _ in range(n // 10)],
        n // 10,
        "queries",
    )
    _timed(
        "klines query 1m limit 500",
        lambda: [kstore.klines("BTCUSDT", "1m", now_ms=now) for _ in range(n // 10)],
        n // 10,
        "queries",
    )
    _timed(
        "klines query 1h limit 24",
        lambda: [kstore.klines("BTCUSDT", "1h", now_ms=now, limit=24) for _ in range(n)],
        n,
        "queries",
    )


if __name__ == "__main__":
    main()
