"""The SMA-crossover backtest through the full live pipeline: 1m bars, trade ticks, orders.

Run (one phase per process, so that each peak memory is its own):
  python bench/bench_backtest.py 500000 --orders ''           500,000 bars (target 200,000/s)
  python bench/bench_backtest.py 0 --trades 1000000 --orders ''   trade ticks (1,000,000/s)
  python bench/bench_backtest.py 0 --orders 1000,10000,100000   cost per order (flat)
Options: `--no-fast-path` (every bar / trade through the pipeline: the reference loop),
`--check N` (fast path == plain loop on N bars, and on 20 N trades with --trades: every
output compared), `--profile` (cProfile of up to 100,000 bars; it ends with the count of
Python and C calls per order, deterministic where the times are not).

Bars: the real BTCUSDT USD-M 1m months in `../shared/data/market/klines/BTCUSDT-um-1m-*.csv.gz`
when present (about 160,000 bars), else the bundled real week (10,080 bars); concatenated and
repeated, each copy shifted to follow the one before. Trades: the largest real BTCUSDT USD-M
trade capture of `../shared/data/market/trades` (else of the bundled ones) repeated, each copy
a whole number of minutes after the one before; 1m bars built from the trades. The backtest is
`backtest.runner.run_backtest` with the CLI's defaults (SMA 10/50, 1,000 USDT, VIP 0 fees, the
RiskManager's protective stops, no latency, no slippage): the daemon's ExecManager,
RiskManager, BookKeeper and strategy against the in-process matching engine. With the fast
path (the default) the quiet bars / trades are taken vectorized and only the rest (a regime
flip, a stop reached, a day roll, funding...) go through the engine and the pipeline.

What is timed: `run_backtest` alone (its numpy conversion of the price columns included);
reading and building the series is timed apart and printed. Printed: the rate, the run's wall
and CPU time (the CPU time moves less with the machine's other work), how many bars or trades
went through the pipeline, the orders, peak resident memory of the process (target < 300 MiB).
Cost per order: SMA 1/2 (a flip about every other bar, zero fees: about one order
per bar) at about 1,000, 10,000 and 100,000 orders; the cost per order, bars included, should
not grow with the order history.

The machine's speed moves by up to 2x from one day to the next, so the script first times the
lean reference loop of `bench_reference_loop.py` (`--reference-orders`, 20,000 ordering ticks,
its order signed by python-binance)
in this process and prints its p50, and each rate also as the time per bar (or tick) in
multiples of that p50: a figure to compare across days.
"""

import argparse
import cProfile
import pstats
import resource
import sys
import time
from array import array
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_reference_loop as reference  # noqa: E402

from backtest.data import Klines, Trades, load, load_klines  # noqa: E402
from backtest.runner import BacktestConfig, BacktestResult, backtest_risk, run_backtest  # noqa: E402

BUNDLED = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
SHARED = ROOT.parent / "shared/data/market/klines"
TARGET_BARS_PER_S = 200_000
TARGET_MIB = 300


def sources() -> list[Path]:
    found = sorted(SHARED.glob("BTCUSDT-um-1m-*.csv.gz")) if SHARED.is_dir() else []
    return found or [BUNDLED]


def real_bars() -> Klines:
    """The real months, one after the other, each shifted to start a minute after the last
    bar of the one before (prices untouched)."""
    out = Klines([], [], [], [], [], [])
    for path in sources():
        part = load_klines(path)
        shift = 0
        if out.open_time:
            shift = out.open_time[-1] + 60_000 - part.open_time[0]
        out.open_time.extend(t + shift for t in part.open_time)
        for name in ("open", "high", "low", "close", "volume"):
            getattr(out, name).extend(getattr(part, name))
    return out


def bars(n: int, base: Klines | None = None) -> Klines:
    """`n` bars: the real series repeated, each copy following the last (strings shared)."""
    real = base if base is not None else real_bars()
    span = real.open_time[-1] - real.open_time[0] + 60_000
    # Times as a compact int64 array (indexes as ints, as the runner needs): 500,000 Python
    # ints would cost 16 MB of the memory budget.
    out = Klines(array("q"), [], [], [], [], [])  # type: ignore[arg-type]
    copy = 0
    while len(out) < n:
        take = min(len(real), n - len(out))
        shift = copy * span
        out.open_time.extend(t + shift for t in real.open_time[:take])
        for name in ("open", "high", "low", "close", "volume"):
            getattr(out, name).extend(getattr(real, name)[:take])
        copy += 1
    return out


TRADES_BUNDLED = ROOT / "exchange_sim/data/trades"
TRADES_SHARED = ROOT.parent / "shared/data/market/trades"


def trade_tape(n: int) -> tuple[Trades, list[str]]:
    """`n` trades: the largest real BTCUSDT USD-M trade capture (../shared, else bundled)
    repeated, each copy a whole number of minutes after the one before (prices and sizes
    untouched); and the capture's name."""
    folder = TRADES_SHARED if TRADES_SHARED.is_dir() else TRADES_BUNDLED
    # The largest capture alone: captures of other years sit at other prices, and a seam
    # between them (a 50 % jump) is no market the strategy would see.
    paths = sorted(folder.glob("BTCUSDT-um-trades-*.csv.gz"), key=lambda p: p.stat().st_size)
    paths = paths[-1:]
    parts = []
    for path in paths:
        part = load(path)
        assert isinstance(part, Trades)
        parts.append(part)
    out = Trades(array("q"), [], [], [])  # type: ignore[arg-type]
    shift = 0
    while len(out) < n:
        for part in parts:
            take = min(len(part), n - len(out))
            if take <= 0:
                break
            first_minute = part.time[0] // 60_000 * 60_000
            start = 0 if not out.time else (out.time[-1] // 60_000 + 1) * 60_000
            shift = start - first_minute
            out.time.extend(t + shift for t in part.time[:take])
            out.price.extend(part.price[:take])
            out.qty.extend(part.qty[:take])
            out.buyer_is_maker.extend(part.buyer_is_maker[:take])
    return out, [p.name for p in paths]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def config(*, fees: bool = True, fast_path: bool = True, **params: object) -> BacktestConfig:
    """The CLI's defaults, with 1,000,000 USDT to start (the SMA loses money on these
    months and must keep its margin for the whole run) and the portfolio limits (drawdown,
    daily loss, trades per day) off, so that it trades to the end instead of halting on the
    first breach; without `fees` the fees are 0."""
    risk = replace(
        backtest_risk(Decimal(1000)),
        max_drawdown_pct=Decimal(0),
        max_daily_loss_pct=Decimal(0),
        max_trades_per_day=0,
        max_orders_per_minute=10_000,
    )
    base = BacktestConfig(
        strategy_params={"order_notional_usdt": Decimal(1000), **params},
        risk=risk,
        starting_balance=Decimal(1_000_000),  # the losing SMA must not run out of margin
        fast_path=fast_path,
    )
    return base if fees else replace(base, maker_fee=Decimal(0), taker_fee=Decimal(0))


def timed(data: Klines | Trades, cfg: BacktestConfig) -> tuple[float, BacktestResult]:
    t = time.perf_counter()
    result = run_backtest(data, cfg)
    wall = time.perf_counter() - t
    assert result.counters["book_differences"] == 0
    c = result.counters
    if c["denied"] or c["rejected_orders"]:
        print(
            f"  ({c['denied']:,} proposals denied by the RiskManager, "
            f"{c['rejected_orders']:,} orders rejected by the engine)"
        )
    return wall, result


def same(a: BacktestResult, b: BacktestResult) -> bool:
    return (
        list(a.times_ms) == list(b.times_ms)
        and list(a.equity) == list(b.equity)
        and list(a.positions) == list(b.positions)
        and list(a.prices) == list(b.prices)
        and a.journal.fills == b.journal.fills
        and list(a.journal.orders.items()) == list(b.journal.orders.items())
        and a.journal.counts == b.journal.counts
        and a.counters == b.counters
        and a.summary_dict() == b.summary_dict()
    )


def per_item(rate: float, ref_p50_us: float) -> str:
    """A rate as the time per item in multiples of the lean loop's p50 of this process."""
    us = 1e6 / rate
    return f"{us:.1f} us each = {us / ref_p50_us:.1f}x the lean loop's p50 {ref_p50_us:.1f} us"


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("n", nargs="?", type=int, default=500_000, help="bars; 0 = none")
    p.add_argument("--no-fast-path", action="store_true", help="every bar through the pipeline")
    p.add_argument("--check", type=int, default=0, help="fast == plain on the first N bars")
    p.add_argument("--orders", default="1000,10000,100000", help="order counts; '' = skip")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--trades", type=int, default=0, help="also N trade ticks (e.g. 2000000)")
    p.add_argument(
        "--reference-orders",
        type=int,
        default=20_000,
        help="ordering ticks of the lean reference loop timed first (the machine's speed now)",
    )
    args = p.parse_args(argv)
    if args.reference_orders < 1:
        p.error("--reference-orders takes a count of at least 1")
    ref = reference.measure(args.reference_orders)
    print(
        f"lean reference loop (bench_reference_loop.py, {ref.orders:,} ordering ticks): p50 "
        f"{ref.p50_us:.1f} us, p99 {ref.p99_us:.1f} us: the machine's speed now (issue 7's "
        f"{reference.REFERENCE_P50_US:.0f}/{reference.REFERENCE_P99_US:.0f} us)"
    )
    print(f"resident memory after imports: {rss_mib():.0f} MiB")
    fast = not args.no_fast_path
    real: Klines | None = None
    if args.n:
        t = time.perf_counter()
        real = real_bars()
        data = bars(args.n, real)
        load_s = time.perf_counter() - t
        names = ", ".join(s.name for s in sources())
        print(
            f"{len(data):,} bars from {len(real):,} real ones ({names}) read and built in "
            f"{load_s:.1f} s (not timed below); resident memory {rss_mib():.0f} MiB"
        )
        # CPU time beside the wall time: on a machine shared with other work, six runs of the
        # same code within minutes took 7.0-10.4 s of wall time but 5.9-6.6 s of CPU (the
        # process waits for a core; 2026-12-02, load 5).
        cpu = time.process_time()
        wall, result = timed(data, config(fast_path=fast))
        cpu = time.process_time() - cpu
        rate = len(data) / wall
        c = result.counters
        live = len(data) - result.fast_path_bars
        print(
            f"SMA 10/50 on {len(data):,} 1m bars, fast path {'on' if fast else 'off'}: "
            f"{wall:.1f} s ({cpu:.1f} s CPU), {rate:,.0f} bars/s (target {TARGET_BARS_PER_S:,}; "
            f"{rate / TARGET_BARS_PER_S:.0%}); {len(data) / (wall + load_s):,.0f} bars/s with "
            f"the load; {per_item(rate, ref.p50_us)}"
        )
        print(
            f"  {live:,} bars through the pipeline ({live / len(data):.1%}; "
            f"{result.fast_path_skips:,} skips), {c['submitted']:,} orders, {c['fills']:,} "
            f"fills: {wall / max(1, c['submitted']) * 1e6:,.0f} us of run per order "
            f"({cpu / max(1, c['submitted']) * 1e6:,.0f} us of CPU)"
        )
        print(f"peak resident memory: {rss_mib():.0f} MiB (target < {TARGET_MIB} MiB)")
        del data, result

    if args.trades:
        t = time.perf_counter()
        tape, tape_files = trade_tape(args.trades)
        load_t = time.perf_counter() - t
        print(
            f"{len(tape):,} trades from {', '.join(tape_files)} read and built in {load_t:.1f} s "
            f"(not timed below); resident memory {rss_mib():.0f} MiB"
        )
        wall_t, rt = timed(tape, config(fast_path=fast))
        rate_t = len(tape) / wall_t
        print(
            f"SMA 10/50 on 1m bars from {len(tape):,} trades, fast path {'on' if fast else 'off'}"
            f": {wall_t:.1f} s, {rate_t:,.0f} ticks/s (target 1,000,000; "
            f"{rate_t / 1_000_000:.0%}); {len(tape) - rt.fast_path_bars:,} trades through the "
            f"pipeline ({rt.fast_path_skips:,} skips), {rt.counters['submitted']:,} orders; "
            f"{per_item(rate_t, ref.p50_us)}"
        )
        print(f"peak resident memory: {rss_mib():.0f} MiB (target < {TARGET_MIB} MiB)")
        if args.check:
            sub_tape = Trades(*(getattr(tape, f)[: args.check * 20] for f in tape.__slots__))
            w_fast, r_fast = timed(sub_tape, config())
            w_plain, r_plain = timed(sub_tape, config(fast_path=False))
            print(
                f"check on {len(sub_tape):,} trades: fast path {len(sub_tape) / w_fast:,.0f} "
                f"ticks/s, plain {len(sub_tape) / w_plain:,.0f} ticks/s; identical results: "
                f"{same(r_fast, r_plain)}"
            )
        del tape, rt

    if real is None and (args.check or args.orders or args.profile):
        real = real_bars()
    if args.check:
        assert real is not None
        sub = bars(args.check, real)
        w_fast, r_fast = timed(sub, config())
        w_plain, r_plain = timed(sub, config(fast_path=False))
        print(
            f"check on {len(sub):,} bars: fast path {len(sub) / w_fast:,.0f} bars/s, plain "
            f"{len(sub) / w_plain:,.0f} bars/s; identical results: {same(r_fast, r_plain)}"
        )

    # Cost per order: SMA 1/2 flips on about every other bar (a market order, then the
    # protective stop replaced: ~1 order per bar). The same mix at each size: the cost per
    # order (its bars included) stays flat if nothing grows with the order history.
    for n_orders in [int(x) for x in args.orders.split(",") if x]:
        assert real is not None
        sub = bars(n_orders + n_orders // 40, real)
        w, r = timed(sub, config(fees=False, fast=1, slow=2))
        n_sub = r.counters["submitted"]
        print(
            f"SMA 1/2, {n_sub:,} orders ({r.counters['fills']:,} fills) over {len(sub):,} bars "
            f"in {w:.2f} s: {w / n_sub * 1e6:.0f} us per order, bar included"
        )
    if args.orders:
        print(f"peak resident memory after the order runs: {rss_mib():.0f} MiB")

    if args.profile:
        assert real is not None
        prof = cProfile.Profile()
        sample = bars(min(args.n or 100_000, 100_000), real)
        prof.enable()
        profiled = run_backtest(sample, config(fast_path=fast))
        prof.disable()
        stats = pstats.Stats(prof)
        stats.sort_stats("tottime").print_stats(25)
        # Deterministic, unlike the times: the same code and data give the same count.
        orders = max(1, profiled.counters["submitted"])
        calls: int = stats.total_calls  # type: ignore[attr-defined]
        print(
            f"profiled run: {len(sample):,} bars, {orders:,} orders, {calls:,} Python and C "
            f"calls: {calls / orders:,.0f} per order, bars included"
        )


if __name__ == "__main__":
    main()
