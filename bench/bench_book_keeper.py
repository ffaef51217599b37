"""Cost of the BookKeeper on the tick path and on fills.

Run: `python bench/bench_book_keeper.py [n_ticks]` (default 1,000,000). Prints ns per call of
`mark()` for trades and mark prices (runs on every market-data item), of `equity()` and
`position()` (what risk checks read), and fills/s of `apply()` for a fill event, plus the
memory `mark()` allocates per call (tracemalloc, net, over 100,000 calls: should be ~0).
Ticks are the bundled real BTCUSDT trades (exchange_sim/data/trades) parsed once up front.
"""

import argparse
import csv
import gzip
import sys
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from book_keeper import BookKeeper  # noqa: E402
from core.clock import SimClock  # noqa: E402
from core.enums import OrderType, Side  # noqa: E402
from core.events import Event, OrderFilled, OrderSubmitted  # noqa: E402
from core.market import MarkPrice, Trade  # noqa: E402
from core.orders import Fill, OrderRequest  # noqa: E402
from exchange_sim.replay.grid import load_instruments  # noqa: E402

SYMBOL = "BTCUSDT"
DATA = ROOT / "exchange_sim" / "data"


def real_trades(limit: int) -> list[Trade]:
    path = next(p for p in sorted((DATA / "trades").glob(f"{SYMBOL}*")))
    out: list[Trade] = []
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as f:
        for k, row in enumerate(csv.DictReader(f)):
            t = int(row["time"])
            out.append(
                Trade(
                    SYMBOL,
                    k,
                    Decimal(row["price"]),
                    Decimal(row["qty"]),
                    k,
                    k,
                    row["is_buyer_maker"] == "true",
                    t,
                    t,
                    t,
                )
            )
            if len(out) >= limit:
                break
    return out


def books_with_a_position() -> BookKeeper:
    bk = BookKeeper(
        starting_balances={"USDT": Decimal("10000")},
        instruments={SYMBOL: load_instruments()[SYMBOL]},
        clock=SimClock(0),
    )
    request = OrderRequest(
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.MARKET,
        quantity=Decimal("0.010"),
        client_order_id="b-0",
    )
    bk.apply(OrderSubmitted(event_time_ms=0, recv_time_ms=0, request=request))
    bk.apply(fill_event(0, Side.BUY, "b-0"))
    return bk


def fill_event(k: int, side: Side, cid: str) -> OrderFilled:
    f = Fill(
        symbol=SYMBOL,
        order_id=k,
        client_order_id=cid,
        trade_id=k,
        side=side,
        price=Decimal("61800.0"),
        qty=Decimal("0.010"),
        commission=Decimal("0.309"),
        commission_asset="USDT",
        realized_pnl=Decimal(0),
        is_maker=False,
        trade_time_ms=k,
        recv_time_ms=k,
    )
    return OrderFilled(
        event_time_ms=k, recv_time_ms=k, fill=f, cumulative_qty=f.qty, avg_price=f.price
    )


def per_call_ns(fn, items) -> float:
    start = time.perf_counter_ns()
    for item in items:
        fn(item)
    return (time.perf_counter_ns() - start) / len(items)


def main(n: int) -> None:
    base = real_trades(min(n, 200_000))
    trades = (base * (n // len(base) + 1))[:n]
    span = trades[-1].trade_time_ms - trades[0].trade_time_ms
    print(f"{len(trades):,} real trades ({len(base):,} distinct, {span / 60_000:.0f} min of tape)")
    bk = books_with_a_position()
    print(f"mark(Trade)       {per_call_ns(bk.mark, trades):>8.0f} ns/call")
    marks = [
        MarkPrice(SYMBOL, t.price, t.price, Decimal("0.0001"), 0, t.event_time_ms, t.recv_time_ms)
        for t in trades[:200_000]
    ]
    print(f"mark(MarkPrice)   {per_call_ns(bk.mark, marks):>8.0f} ns/call")
    reps = [None] * 200_000
    print(f"equity()          {per_call_ns(lambda _: bk.equity(), reps):>8.0f} ns/call")
    print(f"position()        {per_call_ns(lambda _: bk.position(SYMBOL), reps):>8.0f} ns/call")
    print(f"open_order_count  {per_call_ns(lambda _: bk.open_order_count(), reps):>8.0f} ns/call")

    fill_books = books_with_a_position()  # long 0.010: sells close it, buys reopen it
    events: list[Event] = []
    for k in range(1, 50_001):
        cid = f"b-{k}"
        side = Side.SELL if k % 2 else Side.BUY
        events.append(
            OrderSubmitted(
                event_time_ms=k,
                recv_time_ms=k,
                request=OrderRequest(
                    symbol=SYMBOL,
                    side=side,
                    type=OrderType.MARKET,
                    quantity=Decimal("0.010"),
                    client_order_id=cid,
                ),
            )
        )
        events.append(fill_event(k, side, cid))
    ns = per_call_ns(fill_books.apply, events)
    print(f"apply(submit + fill) {2e9 / ns / 2:>10,.0f} orders/s  ({2 * ns / 1000:.1f} us/order)")

    sample = trades[:100_000]
    bk.mark(sample[0])
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for t in sample:
        bk.mark(t)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    print(f"mark() net allocation: {grown / len(sample):.2f} bytes/call over {len(sample):,} calls")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n_ticks", nargs="?", type=int, default=1_000_000, help="ticks to mark")
    main(parser.parse_args().n_ticks)
