"""How long a restart takes to read back a journal that grew for weeks.

Run: `python bench/bench_journal_restore.py [n_orders ...] [--dir DIR]` (default 10,000 and
100,000 orders). Builds a journal the way a daemon trading SMA on 1s bars fills it (with the
daemon's defaults: a reconciliation every 60 s, a balance snapshot every 10 s heartbeat): each
flip is a DecisionMade + MARKET OrderSubmitted, its OrderAccepted and OrderFilled, the
ACCOUNT_UPDATE (BalanceChanged, PositionChanged), the old stop-loss cancelled and a new
STOP_MARKET submitted and accepted; a flip every 30 s, so two orders, one VenueSnapshot and six
balance snapshots per minute (100,000 orders: ~17 days of such a daemon). Wallet, position and
realized PnL are consistent, as the exchange's would be.

Then it times what the daemon's start-up reads of the journal (`trading_engine/daemon.py`
`_start`, in that order): opening it, `BookKeeper.restore`, the client id sequence, the
trading-state history and the limits (`trading_engine/limits_restore.py`), the venue's restore
(open orders and their journaled trade ids, last trade ids, last record time) and the last
fill's order; and the peak resident memory of the process. Prints the size of the journal and
each step's wall and CPU time (the CPU time is the figure to compare on a machine shared with
other work).
"""

import argparse
import gc
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from book_keeper import BookKeeper  # noqa: E402
from book_keeper.checkpoint import EVERY_RECORDS  # noqa: E402
from book_keeper.journal import SqliteJournal, Synchronous  # noqa: E402
from core.account import Balance, Position  # noqa: E402
from core.clock import SimClock  # noqa: E402
from core.enums import OrderStatus, OrderType, Side  # noqa: E402
from core.events import (  # noqa: E402
    BalanceChanged,
    DecisionMade,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderSubmitted,
    PositionChanged,
    VenueSnapshot,
)
from core.orders import Fill, Order, OrderRequest  # noqa: E402
from exchange_sim.replay.grid import load_instruments  # noqa: E402
from risk_manager.config import RiskConfig  # noqa: E402
from risk_manager.risk_manager import RiskManager  # noqa: E402
from trading_engine.limits_restore import restore_limits  # noqa: E402

SYMBOL = "BTCUSDT"
T0 = 1_764_547_200_000  # 2025-12-01 00:00 UTC
FLIP_MS = 30_000
QTY = Decimal("0.002")
FEE_RATE = Decimal("0.0005")


@dataclass
class Tape:
    """Where the journal's story stands, so that more of it can be appended later."""

    flips: int = 0
    wallet: Decimal = Decimal(10_000)
    qty: Decimal = Decimal(0)
    entry: Decimal = Decimal(0)
    stop: Order | None = None
    trade_id: int = 5_000_000_000


def build(journal: SqliteJournal, n_orders: int, tape: Tape | None = None) -> tuple[int, Tape]:
    """Journal `n_orders` orders (half entries, half stop-losses), from the start or on from
    `tape`; the time of the last record and where the story stands."""
    start = tape is None
    tape = tape or Tape()
    wallet, qty, entry, stop, trade_id = (
        tape.wallet,
        tape.qty,
        tape.entry,
        tape.stop,
        tape.trade_id,
    )
    t = T0 + tape.flips * FLIP_MS
    if start:
        journal.record(
            VenueSnapshot(
                event_time_ms=t,
                recv_time_ms=t,
                balances=(Balance(asset="USDT", wallet_balance=wallet, available_balance=wallet),),
                positions=(),
                open_orders=(),
                reason="start",
                symbols=(SYMBOL,),
            )
        )
    for k in range(tape.flips, tape.flips + n_orders // 2):
        t = T0 + (k + 1) * FLIP_MS
        price = Decimal(90_000) + Decimal(k * 37 % 2_000) / 10
        side = Side.BUY if qty <= 0 else Side.SELL
        target = QTY if side is Side.BUY else -QTY
        trade_qty = abs(target - qty)
        cid = f"bfd-{2 * k + 1}"
        request = OrderRequest(
            symbol=SYMBOL, side=side, type=OrderType.MARKET, quantity=trade_qty, client_order_id=cid
        )
        journal.record_many(
            (
                DecisionMade(
                    event_time_ms=t,
                    recv_time_ms=t,
                    symbol=SYMBOL,
                    strategy="sma_crossover",
                    action=f"target {target} (market)",
                    reason="sma2 > sma5: long" if side is Side.BUY else "sma2 < sma5: short",
                ),
                OrderSubmitted(event_time_ms=t, recv_time_ms=t, request=request),
            )
        )
        journal.record(
            OrderAccepted(
                event_time_ms=t + 1,
                recv_time_ms=t + 2,
                symbol=SYMBOL,
                client_order_id=cid,
                order_id=4_000_000_000 + k,
            )
        )
        closed = min(abs(qty), trade_qty)
        rp = (price - entry) * closed * (1 if qty > 0 else -1) if closed else Decimal(0)
        fee = (price * trade_qty * FEE_RATE).quantize(Decimal("0.00000001"))
        trade_id += 1
        fill = Fill(
            symbol=SYMBOL,
            order_id=4_000_000_000 + k,
            client_order_id=cid,
            trade_id=trade_id,
            side=side,
            price=price,
            qty=trade_qty,
            commission=fee,
            commission_asset="USDT",
            realized_pnl=rp,
            is_maker=False,
            trade_time_ms=t + 1,
            recv_time_ms=t + 3,
        )
        journal.record(
            OrderFilled(
                event_time_ms=t + 1,
                recv_time_ms=t + 3,
                fill=fill,
                cumulative_qty=trade_qty,
                avg_price=price,
            )
        )
        wallet += rp - fee
        qty, entry = target, price
        stop_side = Side.SELL if qty > 0 else Side.BUY
        stop_price = (price * (Decimal("0.98") if qty > 0 else Decimal("1.02"))).quantize(
            Decimal("0.1")
        )
        journal.record_many(
            (
                DecisionMade(
                    event_time_ms=t + 4,
                    recv_time_ms=t + 4,
                    symbol=SYMBOL,
                    strategy="exec_manager",
                    action=f"{stop_side} close-position STOP_MARKET stop {stop_price}",
                    reason=f"stop-loss 2% from entry {price}",
                ),
            )
        )
        for event in (
            BalanceChanged(
                event_time_ms=t + 1,
                recv_time_ms=t + 4,
                balance=Balance(
                    asset="USDT",
                    wallet_balance=wallet,
                    available_balance=wallet,
                    cross_wallet_balance=wallet,
                    update_time_ms=t + 1,
                ),
                reason="ORDER",
            ),
            PositionChanged(
                event_time_ms=t + 1,
                recv_time_ms=t + 4,
                position=Position(
                    symbol=SYMBOL, qty=qty, entry_price=entry, leverage=3, update_time_ms=t + 1
                ),
                reason="ORDER",
            ),
        ):
            journal.record(event)
        if stop is not None:
            journal.record(
                OrderCanceled(
                    event_time_ms=t + 6,
                    recv_time_ms=t + 6,
                    symbol=SYMBOL,
                    client_order_id=stop.client_order_id,
                    order_id=stop.order_id,
                )
            )
        stop_request = OrderRequest(
            symbol=SYMBOL,
            side=stop_side,
            type=OrderType.STOP_MARKET,
            quantity=None,
            client_order_id=f"bfd-{2 * k + 2}",
            stop_price=stop_price,
            close_position=True,
        )
        journal.record(
            OrderSubmitted(event_time_ms=t + 5, recv_time_ms=t + 5, request=stop_request)
        )
        journal.record(
            OrderAccepted(
                event_time_ms=t + 7,
                recv_time_ms=t + 7,
                symbol=SYMBOL,
                client_order_id=stop_request.client_order_id,
                order_id=1_000_000_000_000 + k,
            )
        )
        stop = Order.from_request(stop_request, t + 5)
        stop = Order(
            **{
                **{f: getattr(stop, f) for f in stop.__dataclass_fields__},
                "status": OrderStatus.NEW,
                "order_id": 1_000_000_000_000 + k,
            }
        )
        # a heartbeat snapshot every 10 s, a reconciliation every 60 s
        for h in range(3):
            journal.snapshot(
                time_ms=t + 10_000 * h + 9,
                equity=wallet,
                wallet=wallet,
                unrealized_pnl=Decimal(0),
            )
        if k % 2:
            journal.record(
                VenueSnapshot(
                    event_time_ms=t + 20_000,
                    recv_time_ms=t + 20_010,
                    balances=(
                        Balance(
                            asset="USDT",
                            wallet_balance=wallet,
                            available_balance=wallet - Decimal(60),
                            cross_wallet_balance=wallet,
                            update_time_ms=t + 1,
                        ),
                    ),
                    positions=(
                        Position(
                            symbol=SYMBOL, qty=qty, entry_price=entry, leverage=3, update_time_ms=t
                        ),
                    ),
                    open_orders=(stop,),
                    reason="periodic",
                    symbols=(SYMBOL,),
                )
            )
        if k % 200 == 0:
            journal.flush()
    journal.flush()
    flips = tape.flips + n_orders // 2
    return t + FLIP_MS, Tape(flips, wallet, qty, entry, stop, trade_id)


def timed(steps: list[tuple[str, float, float]], name: str, fn: Callable[[], Any]) -> Any:
    started, cpu = time.perf_counter(), time.process_time()
    out = fn()
    steps.append((name, time.perf_counter() - started, time.process_time() - cpu))
    return out


def restart(path: Path, now_ms: int, *, checkpoints: bool) -> list[tuple[str, float, float]]:
    """The daemon's start-up reads, timed step by step (`checkpoints=False`: the whole journal
    replayed, as before checkpoints, and as at the first start of a version that has them)."""
    steps: list[tuple[str, float, float]] = []
    clock = SimClock(now_ms)
    insts = {SYMBOL: load_instruments()[SYMBOL]}
    gc.collect()  # the last restart's garbage is not this one's to collect
    journal = timed(
        steps,
        "open",
        lambda: SqliteJournal(path, synchronous=Synchronous.NORMAL, writer_thread=False),
    )
    try:
        book = BookKeeper(
            starting_balances=None,
            instruments=insts,
            clock=clock,
            leverage=dict.fromkeys(insts, 3),
        )
        replay = timed(
            steps, "BookKeeper.restore", lambda: book.restore(journal, checkpoints=checkpoints)
        )
        timed(steps, "symbols", lambda: replay.symbols)
        timed(steps, "max_client_seq", lambda: replay.max_client_seq(journal, "bfd"))
        risk = RiskManager(config=RiskConfig(), instruments=insts, clock=clock, view=book)

        def limits() -> None:
            changes = [e for _, e in journal.load_events(["TradingStateChanged"])]
            restore_limits(journal, changes, risk, book, now_ms, replay)

        timed(steps, "trading state + limits", limits)

        def venue_restore() -> None:
            journal.open_orders()
            journal.open_order_trade_ids()
            journal.last_trade_id(SYMBOL)
            replay.last_record_ms(journal)

        timed(steps, "venue restore reads", venue_restore)
        timed(steps, "last_fill_order", lambda: journal.last_fill_order(SYMBOL))
        timed(steps, "open_orders", journal.open_orders)
        if checkpoints:  # the daemon checkpoints from here on, at once after a long replay
            timed(steps, "keep_checkpoints", lambda: journal.keep_checkpoints(replay))
    finally:
        journal.close()
    return steps


def append_without_checkpoint(path: Path, tape: Tape, rows: int) -> int:
    """Journal about `rows` more rows (the story on from `tape`) after the checkpoint a clean
    stop left, and end as a `kill -9` would: no checkpoint of them. The time of the last."""
    journal = SqliteJournal(path, synchronous=Synchronous.NORMAL, writer_thread=False)
    try:
        book = BookKeeper(
            starting_balances=None,
            instruments={SYMBOL: load_instruments()[SYMBOL]},
            clock=SimClock(T0),
            leverage={SYMBOL: 3},
        )
        journal.keep_checkpoints(book.restore(journal), every_records=10**9)
        before = journal.end_position()
        flips = rows * 2 // ROWS_PER_TWO_FLIPS
        end_ms, _ = build(journal, 2 * flips, tape)
        after = journal.end_position()
        assert journal._applier is not None
        journal._applier.replay = None  # killed: no checkpoint at close
    finally:
        journal.close()
    grown = sum(after) - sum(before)
    print(f"  (appended {2 * flips:,} orders, {grown:,} rows, after the last checkpoint)")
    return end_ms


# Rows of two flips (4 orders): each has 2 orders rows, 1 fill, 7 events and 3 balance
# snapshots, and every other one a VenueSnapshot.
ROWS_PER_TWO_FLIPS = 27


def report(title: str, steps: list[tuple[str, float, float]]) -> None:
    total = sum(s for _, s, _ in steps)
    cpu = sum(c for _, _, c in steps)
    print(f"  {title}: {total:.3f} s ({cpu:.3f} s CPU)")
    for name, s, c in steps:
        print(f"    {name:24s} {s * 1000:9.1f} ms ({c * 1000:.1f} ms CPU)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("orders", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--dir", default=None, help="where the temporary journals go")
    parser.add_argument(
        "--tail-rows",
        type=int,
        default=EVERY_RECORDS,
        help="rows journaled after the last checkpoint in the kill -9 case (default: the "
        "daemon's checkpoint interval, the most a restart replays)",
    )
    args = parser.parse_args(argv)
    for n in args.orders:
        with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-restore-") as tmp:
            path = Path(tmp) / "journal"
            started = time.perf_counter()
            with SqliteJournal(path, synchronous=Synchronous.NORMAL, writer_thread=False) as j:
                end_ms, tape = build(j, n)
            built = time.perf_counter() - started
            size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
            days = (end_ms - T0) / 86_400_000
            print(
                f"{n:,} orders ({days:.1f} days at one flip per 30 s; built in {built:.0f} s), "
                f"journal {size / 1e6:.1f} MB"
            )
            report("full replay (no checkpoint)", restart(path, end_ms + 60_000, checkpoints=False))
            report(
                "the first start with checkpoints (full replay, then one written)",
                restart(path, end_ms + 60_000, checkpoints=True),
            )
            report(
                "from the checkpoint a clean stop left",
                restart(path, end_ms + 60_000, checkpoints=True),
            )
            end_ms = append_without_checkpoint(path, tape, args.tail_rows)
            report(
                "after a kill -9 just before the next checkpoint",
                restart(path, end_ms + 60_000, checkpoints=True),
            )
            rows = journal_rows(path)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"  checkpoints: {rows}; peak RSS {rss:.0f} MiB")
    return 0


def journal_rows(path: Path) -> str:
    """The checkpoints kept, with their sizes."""
    db = sqlite3.connect(f"file:{path / 'journal.sqlite3'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id, seq, length(state) FROM checkpoints ORDER BY id").fetchall()
    finally:
        db.close()
    return ", ".join(f"#{i} at seq {seq:,} ({size / 1e3:.0f} KB)" for i, seq, size in rows)


if __name__ == "__main__":
    sys.exit(main())
