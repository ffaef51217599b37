"""Benchmark: the yardstick of issue 7's tick-to-order target, on this machine, now.

Issue 7 sets tick-to-order p50 <= 50 us and p99 <= 250 us, and gives a reference "measured on
this kind of machine": a lean Python loop with O(1) indicators and a signed request reaches
p50/p99 11/43 us on ticks that order. This machine's speed varies by day (the README's bench
table shows the same code at 73-102 us one day and 150-181 us another), so a tick-to-order
figure means little without the reference taken beside it. This script is that lean loop:

- each real trade of the bundled BTCUSDT capture (2024-08-08, the one `bench_tick_to_order.py`
  replays, looped) updates two O(1) running means of the price (10 and 50 trades) as floats;
- every `--every`th trade (50, as the tick-to-order benchmark's warm run) flips a target of
  +/-0.002 BTC and sends a MARKET order of 0.004 BTC: two float checks (order notional, position
  notional), the request's query string as python-binance would send it (symbol, side, type,
  quantity, newClientOrderId, recvWindow, timestamp), HMAC-SHA256 signed, and handed off (to a
  list, where `bench_tick_to_order.py`'s fake session records its time).

No Decimal, no journal, no books, no risk state, no event loop: the floor a Python order path
stands on, not a design to copy. Its caches stay warm (49 trivial ticks between two orders),
unlike the daemon's, where fills and stop-loss replacements run between orders. Reported:
p50/p99 of the ordering ticks (wall clock and thread CPU) beside the issue's reference, so that
a slow day shows as one.

`bench_tick_to_order.py` and `bench_backtest.py` call `measure` in their own process, so that
each of their figures comes with the machine's speed of that moment beside it.

    python bench/bench_reference_loop.py [--orders 20000] [--every 50]
"""

import argparse
import csv
import gzip
import hashlib
import hmac
import time
from dataclasses import dataclass
from pathlib import Path

TRADES = (
    Path(__file__).resolve().parents[1]
    / "exchange_sim"
    / "data"
    / "trades"
    / "BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"
)
REFERENCE_P50_US = 11.0
REFERENCE_P99_US = 43.0
SECRET = b"reference-loop-key-not-a-secret-0123456789abcdef0123456789abcdef"


def prices() -> list[float]:
    """The capture's trade prices in tape order."""
    with gzip.open(TRADES, "rt") as fh:
        return [float(row["price"]) for row in csv.DictReader(fh)]


def run(tape: list[float], orders: int, every: int) -> tuple[list[int], list[int]]:
    """Wall and thread-CPU nanoseconds of each ordering tick, from the trade to the hand-off."""
    fast_n, slow_n = 10, 50
    fast: list[float] = [0.0] * fast_n
    slow: list[float] = [0.0] * slow_n
    fast_sum = slow_sum = 0.0
    position = 0.0
    sent: list[bytes] = []
    wall: list[int] = []
    cpu: list[int] = []
    perf, thread = time.perf_counter_ns, time.thread_time_ns
    i = 0
    size = len(tape)
    while len(wall) < orders:
        price = tape[i % size]
        t0, c0 = perf(), thread()
        fast_sum += price - fast[i % fast_n]
        fast[i % fast_n] = price
        slow_sum += price - slow[i % slow_n]
        slow[i % slow_n] = price
        i += 1
        if i % every:
            continue
        target = -0.002 if position > 0 else 0.002
        quantity = abs(target - position)
        if quantity * price > 100_000.0 or abs(target) * price > 500_000.0:
            continue
        side = "BUY" if target > position else "SELL"
        query = (
            f"symbol=BTCUSDT&side={side}&type=MARKET&quantity={quantity:.3f}"
            f"&newClientOrderId=ref-{i}&recvWindow=5000&timestamp={int(time.time() * 1000)}"
        )
        signature = hmac.new(SECRET, query.encode(), hashlib.sha256).hexdigest()
        sent.append(f"{query}&signature={signature}".encode())
        wall.append(perf() - t0)
        cpu.append(thread() - c0)
        position = target
        if fast_sum < 0 or slow_sum < 0:  # keeps the means live for the interpreter
            raise AssertionError("negative price")
    return wall, cpu


def percentile(values: list[int], p: float) -> float:
    """The p-th percentile in microseconds (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] / 1000


@dataclass(frozen=True, slots=True)
class Timing:
    """Percentiles of one timed run of the loop's ordering ticks, in microseconds."""

    orders: int
    p50_us: float
    p99_us: float
    cpu_p50_us: float
    cpu_p99_us: float


def measure(orders: int = 20_000, every: int = 50, tape: list[float] | None = None) -> Timing:
    """The loop timed after a short warm-up: the figure other benchmarks print beside theirs."""
    tape = tape if tape is not None else prices()
    run(tape, 200, every)  # warm-up, not reported
    wall, cpu = run(tape, orders, every)
    return Timing(
        orders=orders,
        p50_us=percentile(wall, 0.50),
        p99_us=percentile(wall, 0.99),
        cpu_p50_us=percentile(cpu, 0.50),
        cpu_p99_us=percentile(cpu, 0.99),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description="The lean reference loop of issue 7's tick-to-order target, timed here."
    )
    parser.add_argument("--orders", type=int, default=20_000, help="ordering ticks timed")
    parser.add_argument("--every", type=int, default=50, help="a trade in N orders")
    args = parser.parse_args()
    t = measure(args.orders, args.every)
    print(
        f"lean reference loop, {args.orders:,} ordering ticks (one trade in {args.every}): "
        f"wall p50 {t.p50_us:.1f} us, p99 {t.p99_us:.1f} us; thread CPU p50 {t.cpu_p50_us:.1f} "
        f"us, p99 {t.cpu_p99_us:.1f} us"
    )
    print(f"issue 7's reference: p50/p99 {REFERENCE_P50_US:.0f}/{REFERENCE_P99_US:.0f} us")


if __name__ == "__main__":
    main()
