"""How many events per second the durable journal records (one committed transaction each).

Run: `python bench/bench_journal.py [n_orders] [--dir DIR]` (default 2,000 orders; a temporary
directory next to the system temp dir otherwise). Each order is the event flow of one order the
daemon trades: DecisionMade, OrderSubmitted, OrderAccepted, OrderPartiallyFilled, OrderFilled
(5 records). Prints records/s and the per-record latency for synchronous=FULL (the default:
every commit fsyncs the WAL) and synchronous=NORMAL (durable against a killed process only).
The figures depend on the disk's fsync latency: run it on the disk the journal will live on.
"""

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from book_keeper.journal import SqliteJournal, Synchronous  # noqa: E402
from core.enums import OrderType, Side, TimeInForce  # noqa: E402
from core.events import (  # noqa: E402
    DecisionMade,
    Event,
    OrderAccepted,
    OrderFilled,
    OrderPartiallyFilled,
    OrderSubmitted,
)
from core.orders import Fill, OrderRequest  # noqa: E402

T0 = 1_723_161_256_322
SYMBOL = "BTCUSDT"


def order_flow(n: int) -> list[Event]:
    events: list[Event] = []
    for k in range(1, n + 1):
        t = T0 + k * 1000
        cid = f"bench-{k}"
        side = Side.BUY if k % 2 else Side.SELL
        price = Decimal("61800.0") + k % 50
        request = OrderRequest(
            symbol=SYMBOL,
            side=side,
            type=OrderType.LIMIT,
            quantity=Decimal("0.010"),
            client_order_id=cid,
            price=price,
            time_in_force=TimeInForce.GTC,
        )
        fills = [
            Fill(
                symbol=SYMBOL,
                order_id=4_000_000_000 + k,
                client_order_id=cid,
                trade_id=5_000_000_000 + 2 * k + part,
                side=side,
                price=price,
                qty=Decimal("0.005"),
                commission=Decimal("0.06180000"),
                commission_asset="USDT",
                realized_pnl=Decimal("0"),
                is_maker=True,
                trade_time_ms=t + 10 + part,
                recv_time_ms=t + 11 + part,
            )
            for part in (0, 1)
        ]
        events += [
            DecisionMade(
                event_time_ms=t,
                recv_time_ms=t,
                symbol=SYMBOL,
                strategy="bench",
                action=f"{side.lower()} 0.010 @ {price}",
                reason="benchmark",
            ),
            OrderSubmitted(event_time_ms=t, recv_time_ms=t, request=request),
            OrderAccepted(
                event_time_ms=t + 5,
                recv_time_ms=t + 6,
                symbol=SYMBOL,
                client_order_id=cid,
                order_id=4_000_000_000 + k,
            ),
            OrderPartiallyFilled(
                event_time_ms=t + 10,
                recv_time_ms=t + 11,
                fill=fills[0],
                cumulative_qty=Decimal("0.005"),
                avg_price=price,
            ),
            OrderFilled(
                event_time_ms=t + 11,
                recv_time_ms=t + 12,
                fill=fills[1],
                cumulative_qty=Decimal("0.010"),
                avg_price=price,
            ),
        ]
    return events


def run(events: list[Event], directory: Path, synchronous: Synchronous) -> list[float]:
    latencies = []
    with SqliteJournal(directory, synchronous=synchronous) as journal:
        clock = time.perf_counter
        for event in events:
            start = clock()
            journal.record(event)
            latencies.append(clock() - start)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("orders", nargs="?", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="where to create the journals")
    args = parser.parse_args()
    events = order_flow(args.orders)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-journal-") as tmp:
        print(f"{len(events):,} records ({args.orders:,} orders x 5 events) in {tmp}")
        for mode in (Synchronous.FULL, Synchronous.NORMAL):
            latencies = run(events, Path(tmp) / mode.value.lower(), mode)
            total = sum(latencies)
            q = statistics.quantiles(latencies, n=100)
            print(
                f"synchronous={mode.value:<6} {len(events) / total:>10,.0f} records/s  "
                f"p50 {q[49] * 1e6:>7.0f} us  p99 {q[98] * 1e6:>7.0f} us"
            )


if __name__ == "__main__":
    main()
