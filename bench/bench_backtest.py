"""The SMA-crossover backtest through the full live pipeline on 500,000 1m bars.

Run: `python bench/bench_backtest.py [n_bars]` (default 500,000; `--profile` adds a cProfile
table of the first 50,000 bars). The bundled real week of BTCUSDT 1m klines (10,080 bars) is
repeated, each copy shifted by a week, to n bars; the backtest is `backtest.runner
.run_backtest` with the CLI's defaults (SMA 10/50, 1,000 USDT, VIP 0 fees, the RiskManager's
protective stops, no latency, no slippage): the daemon's ExecManager, RiskManager, BookKeeper
and strategy against the in-process matching engine, each bar driving 4 engine trades, a
mark price and the closed bar.

Prints: bars/s (target 200,000), peak resident memory of the process (target < 300 MiB), and
the cost per simulated order with SMA 1/2 (a flip about every other bar, zero fees so the
wallet lasts) at about 1,000 and about 100,000 orders (target: flat).
"""

import argparse
import cProfile
import pstats
import resource
import sys
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backtest.data import Klines, load_klines  # noqa: E402
from backtest.runner import BacktestConfig, backtest_risk, run_backtest  # noqa: E402

KLINES = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
TARGET_BARS_PER_S = 200_000
TARGET_MIB = 300


def bars(n: int) -> Klines:
    """`n` bars: the bundled week repeated, each copy a week later (price strings shared)."""
    week = load_klines(KLINES)
    span = week.open_time[-1] - week.open_time[0] + 60_000
    out = Klines([], [], [], [], [], [])
    copy = 0
    while len(out) < n:
        take = min(len(week), n - len(out))
        shift = copy * span
        out.open_time.extend(t + shift for t in week.open_time[:take])
        for name in ("open", "high", "low", "close", "volume"):
            getattr(out, name).extend(getattr(week, name)[:take])
        copy += 1
    return out


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def config(*, fees: bool = True, **params: object) -> BacktestConfig:
    """The CLI's defaults, with 1,000,000 USDT to start (the SMA loses money on these
    weeks and must keep its margin for the whole run) and the portfolio limits (drawdown,
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
    )
    return base if fees else replace(base, maker_fee=Decimal(0), taker_fee=Decimal(0))


def timed(data: Klines, *, fees: bool = True, **params: object) -> tuple[float, int, int]:
    """(seconds, orders submitted, fills) of one backtest."""
    t = time.perf_counter()
    result = run_backtest(data, config(fees=fees, **params))
    wall = time.perf_counter() - t
    assert result.counters["book_differences"] == 0
    c = result.counters
    if c["denied"] or c["rejected_orders"]:
        print(
            f"  ({c['denied']:,} proposals denied by the RiskManager, "
            f"{c['rejected_orders']:,} orders rejected by the engine)"
        )
    return wall, c["submitted"], c["fills"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("n", nargs="?", type=int, default=500_000)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    print(f"resident memory after imports: {rss_mib():.0f} MiB")
    data = bars(args.n)
    print(f"{len(data):,} bars built; resident memory {rss_mib():.0f} MiB")

    wall, orders, fills = timed(data)
    rate = len(data) / wall
    print(
        f"SMA 10/50 on {len(data):,} 1m bars: {wall:.1f} s, {rate:,.0f} bars/s "
        f"(target {TARGET_BARS_PER_S:,}; {rate / TARGET_BARS_PER_S:.0%}), {orders:,} orders, "
        f"{fills:,} fills, {wall / len(data) * 1e6:.1f} us/bar"
    )
    peak = rss_mib()
    print(f"peak resident memory: {peak:.0f} MiB (target < {TARGET_MIB} MiB)")

    # Cost per order: SMA 1/2 flips on about every other bar (a market order, then the
    # protective stop replaced: ~1 order per bar). The same mix at 1k and 100k orders: the
    # cost per order (bars included) stays flat if nothing grows with the order history.
    for n_bars in (1_000, min(args.n, 100_000)):
        w, n_orders, n_fills = timed(bars(n_bars), fees=False, fast=1, slow=2)
        print(
            f"SMA 1/2, {n_orders:,} orders ({n_fills:,} fills) over {n_bars:,} bars in "
            f"{w:.2f} s: {w / n_orders * 1e6:.0f} us per order, bar included"
        )

    print(f"peak resident memory after the 100k-order run: {rss_mib():.0f} MiB")

    if args.profile:
        prof = cProfile.Profile()
        sample = bars(min(args.n, 50_000))
        prof.enable()
        run_backtest(sample, config())
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
