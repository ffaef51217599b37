"""Benchmark: market data through `ExecManager.on_item` with every check on, and tick-to-order.

Real data: the bundled BTCUSDT capture of 2024-08-08 23:54-24:00 (21,313 trades, 66,089
bookTicker updates) merged in time order with one MarkPrice per second, looped with shifted
times and ids up to the requested number of items. Everything is the daemon's own code: the
BookKeeper, the RiskManager (every pre-trade check, portfolio limits armed but not breached,
stop-loss protection, a kill-switch file that does not exist and is stat'ed once a second),
the strategy and the ExecManager; only the venue is an in-process stand-in that accepts every
order, fills MARKET orders at the last trade price and confirms cancels, all from inside the
call (the re-entrant path). Parsing (the DataStream) and HTTP signing (the venue) are not in
the figures.

1. Throughput: items/s through on_item. Strategy: SmaCrossover(10, 50) on 1s bars built from
   the trades, so it trades often and a position is open most of the time (equity is then
   re-checked on every item). Target >= 50,000 items/s. Measured with the MemoryJournal, and
   again with the SqliteJournal (synchronous=NORMAL) in a temporary directory.
2. Tick-to-order latency: a strategy that flips its target between +0.002 and -0.002 BTC on
   every 50th trade (each flip is one MARKET order through every entry check). Time from
   on_item being called with the trade to venue.submit receiving the approved request
   (perf_counter_ns); the venue's answers are processed after the measurement. Target p50 <=
   50 us, p99 <= 250 us. Measured with the MemoryJournal, then with the SqliteJournal
   (synchronous=NORMAL) committing each record, and committing a decision together with its
   OrderSubmitted (`record_many`, sketched below for the book keeper).

    python bench/bench_exec_manager.py [--items 500000] [--orders 5000] [--no-sqlite]
"""

import argparse
import csv
import gc
import gzip
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from itertools import count
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from book_keeper.book_keeper import BookKeeper  # noqa: E402
from book_keeper.journal import SqliteJournal, Synchronous  # noqa: E402
from core.account import AccountView  # noqa: E402
from core.clock import SimClock  # noqa: E402
from core.enums import OrderType, Side  # noqa: E402
from core.events import (  # noqa: E402
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
)
from core.journal import Journal, MemoryJournal  # noqa: E402
from core.market import BookTicker, MarkPrice, Trade  # noqa: E402
from core.orders import ClientOrderIds, Fill, OrderRequest, TargetPosition  # noqa: E402
from exchange_sim.replay.grid import load_instruments  # noqa: E402
from risk_manager.config import RiskConfig  # noqa: E402
from risk_manager.risk_manager import RiskManager  # noqa: E402
from trading_engine.exec_manager import BarSource, ExecConfig, ExecManager  # noqa: E402
from trading_engine.main_trading_strategy import (  # noqa: E402
    NO_PROPOSALS,
    Proposals,
    StrategyBase,
    TradingStrategy,
)
from trading_engine.strategies.sma_crossover import SmaCrossover  # noqa: E402

DATA = ROOT / "exchange_sim" / "data"
TRADES = DATA / "trades" / "BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"
BOOK = DATA / "bookticker" / "BTCUSDT-um-bookTicker-2024-08-08T2354_2400.csv.gz"
SYMBOL = "BTCUSDT"
THROUGHPUT_TARGET = 50_000
P50_TARGET_US, P99_TARGET_US = 50.0, 250.0
_E8 = Decimal("0.00000001")
_FEE = Decimal("0.0005")

LIMITS = RiskConfig(
    leverage=5,
    max_order_notional_usdt=Decimal(2_000),
    max_position_notional_usdt=Decimal(5_000),
    max_total_notional_usdt=Decimal(10_000),
    price_band_pct=Decimal(5),
    max_open_orders=10,
    max_orders_per_minute=100_000,
    stop_loss_pct=Decimal(2),
    max_daily_loss_pct=Decimal(90),
    max_drawdown_pct=Decimal(90),
    max_trades_per_day=0,
    circuit_breaker_errors=1_000,
)


# --- data -----------------------------------------------------------------------------------------


def capture() -> tuple[list[object], int]:
    """One pass of the capture as domain items in time order; and its length in ms."""
    items: list[tuple[int, int, object]] = []
    with gzip.open(TRADES, "rt") as fh:
        for r in csv.DictReader(fh):
            t, i = int(r["time"]), int(r["id"])
            trade = Trade(
                SYMBOL,
                i,
                Decimal(r["price"]),
                Decimal(r["qty"]),
                i,
                i,
                r["is_buyer_maker"] == "true",
                t,
                t,
                t,
            )
            items.append((t, 1, trade))
    with gzip.open(BOOK, "rt") as fh:
        for r in csv.DictReader(fh):
            t = int(r["event_time"])
            tick = BookTicker(
                SYMBOL,
                int(r["update_id"]),
                Decimal(r["best_bid_price"]),
                Decimal(r["best_bid_qty"]),
                Decimal(r["best_ask_price"]),
                Decimal(r["best_ask_qty"]),
                int(r["transaction_time"]),
                t,
                t,
            )
            items.append((t, 0, tick))
    items.sort(key=lambda x: (x[0], x[1]))
    out: list[object] = []
    next_second = items[0][0] - items[0][0] % 1000 + 1000
    last_price = None
    for t, _, item in items:
        while t >= next_second and last_price is not None:
            out.append(
                MarkPrice(
                    SYMBOL,
                    last_price,
                    last_price,
                    Decimal("0.0001"),
                    next_second + 3_600_000,
                    next_second,
                    next_second,
                )
            )
            next_second += 1000
        if isinstance(item, Trade):
            last_price = item.price
        out.append(item)
    span = items[-1][0] - items[0][0] + 1000
    return out, span - span % 1000 + 1000


def tape(n: int) -> list[object]:
    """`n` items: the capture looped, times (and ids) shifted so that they only increase."""
    one, span = capture()
    out: list[object] = []
    loop = 0
    while len(out) < n:
        shift = loop * span
        for item in one:
            if isinstance(item, Trade):
                a = item.agg_id + loop * 10_000_000
                out.append(
                    replace(
                        item,
                        agg_id=a,
                        first_trade_id=a,
                        last_trade_id=a,
                        trade_time_ms=item.trade_time_ms + shift,
                        event_time_ms=item.event_time_ms + shift,
                    )
                )
            elif isinstance(item, BookTicker):
                out.append(
                    replace(
                        item,
                        event_time_ms=item.event_time_ms + shift,
                        transaction_time_ms=item.transaction_time_ms + shift,
                    )
                )
            else:
                assert isinstance(item, MarkPrice)
                out.append(replace(item, event_time_ms=item.event_time_ms + shift))
            if len(out) == n:
                break
        loop += 1
    return out


def item_time(item: object) -> int:
    return item.trade_time_ms if isinstance(item, Trade) else item.event_time_ms  # type: ignore[attr-defined]


# --- an in-process venue ---------------------------------------------------------------------


class InstantVenue:
    """Accepts every order, fills MARKET orders at the last trade price, confirms cancels:
    all from inside the call, as a synchronous in-process venue would."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.listener = None
        self.last_price = Decimal(0)
        self.open: dict[str, OrderRequest] = {}
        self.submit_ns = 0
        self.submits = 0
        self._ids = count(1)
        self._trades = count(1)
        self._qty = Decimal(0)
        self._entry = Decimal(0)

    def _emit(self, event: Event) -> None:
        self.listener(event)  # type: ignore[misc]

    def submit(self, request: OrderRequest) -> None:
        if not self.submit_ns:  # the first order of the step: what the strategy asked for
            self.submit_ns = time.perf_counter_ns()
        self.submits += 1
        now = self.clock.now_ms()
        oid = next(self._ids)
        cid = request.client_order_id
        self._emit(
            OrderAccepted(
                event_time_ms=now,
                recv_time_ms=now,
                symbol=request.symbol,
                client_order_id=cid,
                order_id=oid,
            )
        )
        if request.type is not OrderType.MARKET:
            self.open[cid] = request
            return
        assert request.quantity is not None
        price, qty = self.last_price, request.quantity
        fill = Fill(
            symbol=request.symbol,
            order_id=oid,
            client_order_id=cid,
            trade_id=next(self._trades),
            side=request.side,
            price=price,
            qty=qty,
            commission=(price * qty * _FEE).quantize(_E8, rounding=ROUND_HALF_UP),
            commission_asset="USDT",
            realized_pnl=self._rp(request.side, qty, price),
            is_maker=False,
            trade_time_ms=now,
            recv_time_ms=now,
        )
        self._emit(
            OrderFilled(
                event_time_ms=now, recv_time_ms=now, fill=fill, cumulative_qty=qty, avg_price=price
            )
        )

    def cancel(self, symbol: str, client_order_id: str) -> None:
        if self.open.pop(client_order_id, None) is not None:
            now = self.clock.now_ms()
            self._emit(
                OrderCanceled(
                    event_time_ms=now,
                    recv_time_ms=now,
                    symbol=symbol,
                    client_order_id=client_order_id,
                    order_id=None,
                )
            )

    def cancel_all(self, symbol: str, *, keep_protection: bool = False) -> None:
        for cid in list(self.open):  # it places no stop-loss / take-profit: nothing to keep
            self.cancel(symbol, cid)

    def reconcile_soon(self, reason: str) -> None:
        """Nothing is overdue: every answer comes from inside the call."""

    def _rp(self, side: Side, qty: Decimal, price: Decimal) -> Decimal:
        signed = qty if side is Side.BUY else -qty
        old, new = self._qty, self._qty + signed
        rp = Decimal(0)
        if old == 0 or (old > 0) == (signed > 0):
            self._entry = (abs(old) * self._entry + abs(signed) * price) / abs(new)
        else:
            closed = min(abs(signed), abs(old))
            rp = (closed * (price - self._entry) * (1 if old > 0 else -1)).quantize(
                _E8, rounding=ROUND_HALF_UP
            )
            self._entry = (
                Decimal(0) if new == 0 else (price if (new > 0) != (old > 0) else self._entry)
            )
        self._qty = new
        return rp


class FlipStrategy(StrategyBase):
    """Flips its target between +qty and -qty on every `every`-th trade."""

    name = "flip"

    def __init__(self, every: int, qty: Decimal) -> None:
        self.every = every
        self.qty = qty
        self.n = 0
        self.ordering = False  # True on the trade that makes a new target

    def on_trade(self, trade: Trade, view: AccountView) -> Proposals:
        self.n += 1
        if self.n % self.every:
            self.ordering = False
            return NO_PROPOSALS
        self.ordering = True
        sign = 1 if (self.n // self.every) % 2 else -1
        return (TargetPosition(symbol=trade.symbol, qty=self.qty * sign, reason="flip"),)


# --- wiring ---------------------------------------------------------------------------------------


def build(
    strategy: TradingStrategy, journal: Journal, config: ExecConfig, start_ms: int, kill: Path
) -> tuple[ExecManager, InstantVenue, SimClock]:
    instruments = {SYMBOL: load_instruments()[SYMBOL]}
    clock = SimClock(start_ms)
    book = BookKeeper(
        starting_balances={"USDT": Decimal(10_000)}, instruments=instruments, clock=clock
    )
    risk = RiskManager(
        config=replace(LIMITS, kill_switch_file=str(kill)),
        instruments=instruments,
        clock=clock,
        view=book,
    )
    venue = InstantVenue(clock)
    em = ExecManager(
        venue=venue,
        book=book,
        risk=risk,
        strategy=strategy,
        journal=journal,
        clock=clock,
        instruments=instruments,
        ids=ClientOrderIds("bench"),
        config=config,
        gap_open=lambda symbol: False,
        clock_offset_ms=lambda: 0,
    )
    venue.listener = em.on_event  # type: ignore[assignment]
    return em, venue, clock


def throughput(items: Sequence[object], journal: Journal, kill: Path) -> tuple[float, ExecManager]:
    strategy = SmaCrossover(
        fast=10, slow=50, order_notional_usdt=Decimal(500), instruments=load_instruments()
    )
    config = ExecConfig(symbols=(SYMBOL,), bar_source=BarSource.TRADES, bar_interval="1s")
    em, venue, clock = build(strategy, journal, config, item_time(items[0]), kill)
    on_item, set_ms = em.on_item, clock.set_ms
    gc.collect()
    started = time.perf_counter()
    for item in items:
        if isinstance(item, Trade):
            venue.last_price = item.price
            set_ms(item.trade_time_ms)
        else:
            set_ms(item.event_time_ms)  # type: ignore[attr-defined]
        on_item(item)
    elapsed = time.perf_counter() - started
    return len(items) / elapsed, em


def latency(
    items: Sequence[object], orders: int, journal: Journal, kill: Path
) -> tuple[list[float], float, ExecManager]:
    """(tick-to-order samples in us, items/s of the whole run, the manager)."""
    strategy = FlipStrategy(every=50, qty=Decimal("0.002"))
    config = ExecConfig(symbols=(SYMBOL,))
    em, venue, clock = build(strategy, journal, config, item_time(items[0]), kill)
    on_item, set_ms, now_ns = em.on_item, clock.set_ms, time.perf_counter_ns
    samples: list[float] = []
    gc.collect()
    started = time.perf_counter()
    n = 0
    for item in items:
        n += 1
        if isinstance(item, Trade):
            venue.last_price = item.price
            set_ms(item.trade_time_ms)
        else:
            set_ms(item.event_time_ms)  # type: ignore[attr-defined]
        before = venue.submits
        venue.submit_ns = 0
        t0 = now_ns()
        on_item(item)
        if strategy.ordering and venue.submits > before:
            samples.append((venue.submit_ns - t0) / 1000)
            if len(samples) == orders:
                break
    return samples, n / (time.perf_counter() - started), em


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=500_000)
    parser.add_argument("--orders", type=int, default=5_000)
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    items = tape(args.items)
    kinds = {
        k: sum(1 for i in items if type(i).__name__ == k)
        for k in ("Trade", "BookTicker", "MarkPrice")
    }
    print(f"items: {len(items):,} ({', '.join(f'{k} {v:,}' for k, v in kinds.items())})")
    with tempfile.TemporaryDirectory() as tmp:
        kill = Path(tmp) / "KILL"  # never created: stat'ed once a second
        rate, em = throughput(items, MemoryJournal(), kill)
        c = em.counters
        verdict = "OK" if rate >= THROUGHPUT_TARGET else "BELOW TARGET"
        print(
            f"throughput (MemoryJournal): {rate:,.0f} items/s [{verdict}, target "
            f">= {THROUGHPUT_TARGET:,}]; bars {c.bars:,}, decisions {c.decisions:,}, orders "
            f"{c.submitted:,}, fills {c.fills:,}, cancels {c.cancels:,}"
        )
        if not args.no_sqlite:
            with SqliteJournal(Path(tmp) / "j", synchronous=Synchronous.NORMAL) as journal:
                rate, em = throughput(items, journal, kill)
            print(
                f"throughput (SqliteJournal NORMAL): {rate:,.0f} items/s; orders "
                f"{em.counters.submitted:,}, events {em.counters.events:,}"
            )
        per_order = len(items) / max(1, kinds["Trade"]) * 50 * 1.05
        flips = tape(int(args.orders * per_order))
        samples, rate, em = latency(flips, args.orders, MemoryJournal(), kill)
        report("MemoryJournal", samples, rate, em)
        if not args.no_sqlite:
            orders = min(args.orders, 1_000)
            with SqliteJournal(Path(tmp) / "k", synchronous=Synchronous.NORMAL) as journal:
                samples, rate, em = latency(flips, orders, journal, kill)
            report("SqliteJournal NORMAL (decision + order in one record_many)", samples, rate, em)


def report(journal: str, samples: list[float], rate: float, em: ExecManager) -> None:
    p50, p99 = pct(samples, 50), pct(samples, 99)
    ok = p50 <= P50_TARGET_US and p99 <= P99_TARGET_US
    print(
        f"tick-to-order ({journal}, {len(samples):,} orders): p50 {p50:.1f} us, "
        f"p90 {pct(samples, 90):.1f} us, p99 {p99:.1f} us, max {max(samples):.1f} us, "
        f"mean {statistics.fmean(samples):.1f} us [{'OK' if ok else 'ABOVE TARGET'}, target "
        f"p50 <= {P50_TARGET_US:.0f} us, p99 <= {P99_TARGET_US:.0f} us]; the run: "
        f"{rate:,.0f} items/s, {em.counters.submitted:,} orders incl. "
        f"{em.counters.protective_submitted:,} stop-losses, {em.counters.denied} denied"
    )


if __name__ == "__main__":
    main()
