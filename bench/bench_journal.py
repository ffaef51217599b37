"""What journaling costs the caller: `record` / `record_many` latency of the durable journal.

Run: `python bench/bench_journal.py [n_orders] [--dir DIR]` (default 2,000 orders; a temporary
directory under DIR, or the system temp dir). Each order is the event flow of one order the
daemon trades, journaled as the ExecManager and the venue do: `record_many((DecisionMade,
OrderSubmitted))` (the tick path, before the order is sent), then `record` of OrderAccepted,
OrderPartiallyFilled and OrderFilled. Prints, for synchronous=NORMAL (the daemon's default:
durable against a killed process) and FULL (an fsync per record: durable against a power loss),
the p50/p99/p99.9 latency of the record_many call and of the single records, records/s, and
how long applying the last backlog took (`flush()`).

A record is one length-prefixed, checksummed frame copied to `journal.wal` through a shared
memory map (`book_keeper/journal_wal_file.py`). The journal
is opened as the daemon opens it (`writer_thread=False`): the records are applied to the SQLite
tables between the timed calls, every 20 orders (in the daemon: by the event loop, between two
market-data items), so the figures are the encoding (orjson) plus the copy (plus the msync
with FULL). The FULL figures depend on the disk's fsync latency: run it on the disk the
journal will live on.
"""

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

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


APPLY_EVERY_ORDERS = 20


def run(events: list[Event], directory: Path, synchronous: Synchronous) -> dict[str, Any]:
    many: list[float] = []
    single: list[float] = []
    clock = time.perf_counter
    with SqliteJournal(directory, synchronous=synchronous, writer_thread=False) as journal:
        record, record_many = journal.record, journal.record_many
        t0 = clock()
        applying = 0.0
        for k in range(0, len(events), 5):
            if k and k % (5 * APPLY_EVERY_ORDERS) == 0:
                start = clock()
                journal.flush()  # the loop's turn between items: not part of any record
                applying += clock() - start
            pair = (events[k], events[k + 1])
            start = clock()
            record_many(pair)
            many.append(clock() - start)
            for event in events[k + 2 : k + 5]:
                start = clock()
                record(event)
                single.append(clock() - start)
        recorded = clock() - t0 - applying
        start = clock()
        journal.flush()
        drain = clock() - start
        assert len(journal.load_orders()) == len(events) // 5
    return {"many": many, "single": single, "recorded": recorded, "drain": drain}


def _spans(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=1000)
    return f"p50 {q[499] * 1e6:6.1f} us  p99 {q[989] * 1e6:7.1f} us  p99.9 {q[998] * 1e6:7.1f} us"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("orders", nargs="?", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="where to create the journals")
    args = parser.parse_args()
    events = order_flow(args.orders)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-journal-") as tmp:
        print(f"{len(events):,} events ({args.orders:,} orders x 5 events) in {tmp}")
        for mode in (Synchronous.NORMAL, Synchronous.FULL):
            r = run(events, Path(tmp) / mode.value.lower(), mode)
            print(
                f"synchronous={mode.value:<6} record_many(DecisionMade, OrderSubmitted) "
                f"{_spans(r['many'])}"
            )
            print(f"{'':19} record(order event / fill)               {_spans(r['single'])}")
            print(
                f"{'':19} {len(events) / r['recorded']:,.0f} events/s recorded; applying the "
                f"last {APPLY_EVERY_ORDERS} orders' records took {r['drain'] * 1e3:.1f} ms"
            )


if __name__ == "__main__":
    main()
