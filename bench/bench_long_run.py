"""Benchmark: does the daemon's cost per market-data item, or its memory, grow with the run?

A daemon left running for weeks must cost the same per item on day 30 as at minute 1. This
runs the daemon's own objects, wired as `trading_engine/daemon.py` wires them (and as
`bench_tick_to_order.py` does: the ExecManager, BookKeeper, RiskManager, the LiveVenue with its
python-binance client over a fake HTTP session, the SqliteJournal NORMAL applied by its loop
task, the cyclic GC run between items), over the bundled BTCUSDT capture replayed `--passes`
times (times and ids shifted each pass, so every pass is the same market), with what runs on
timers in the daemon on the tape's clock: a full reconciliation over REST every
`--reconcile-s` (open orders, open algo orders, account, positions, userTrades, funding
income: the venue's periodic pass) and the heartbeat's work every `--heartbeat-s` (the status,
`status.json` written, a balance snapshot journaled).

The strategy flips its target between +0.002 and -0.002 BTC on every trade whose aggregate id
is a multiple of `--every` (the same trades each pass): each flip is a MARKET order through
every check, its fill on the user stream, and the stop-loss replaced (a new STOP_MARKET algo
order, the old one cancelled), so a pass of ~21,300 trades (87,746 items) places ~424 orders
at `--every 100`: ~212 market orders and their stop-losses (measured over 60 passes).
The fake exchange fills at the last trade price and answers the reconciliation with the same
account (wallet, position, open stop-loss, fills), so the books find no difference.

Measured per pass: thread CPU per item (the event loop, the venue's tasks, the journal's
applier and the GC included); and, the same on any machine unlike any time on a shared one,
the Python and C function calls per item over the pass's first `--count` items, per
reconciliation and per heartbeat (`sys.setprofile`; a structure scanned per item or per
order shows up as calls that grow; left out: the event loop's own turns and the two tasks
that poll on real time, the journal's applier and the collector); the process's RSS; the
sizes of what the daemon keeps (the venue's tracked orders, the books' ended orders, the
journal's open orders, the GC's objects). Reported: the last 10 % of the passes against the
first 10 % (calls within +2 %; the CPU is shown, not judged: on a machine shared with other
work it moves by +-30 % with their load), and RSS over the last 10 % (within +1 %:
it grows until the bounded memories are full, ~2 KB an order up to the 10,000 ended orders
the venue and the books each remember (pass 24 by default), then by steps of the 50,000
trade ids the books remember per symbol (full at pass 236)).

    python bench/bench_long_run.py [--passes 300] [--every 100] [--count 10000]
                                   [--reconcile-s 60] [--heartbeat-s 10]
"""

import argparse
import asyncio
import gc
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_exec_manager import capture, item_time  # noqa: E402
from bench_tick_to_order import LIMITS, FakeSession, Rig, build  # noqa: E402

from book_keeper.book_keeper import BookKeeper  # noqa: E402
from book_keeper.journal import SqliteJournal, Synchronous, run_applier  # noqa: E402
from core.account import AccountView  # noqa: E402
from core.market import BookTicker, MarkPrice, Trade  # noqa: E402
from core.orders import TargetPosition  # noqa: E402
from runtime.status_file import write_status  # noqa: E402
from trading_engine.exec_manager import BarSource  # noqa: E402
from trading_engine.gc_tuning import collect_between_items, freeze_startup_heap  # noqa: E402
from trading_engine.main_trading_strategy import NO_PROPOSALS, Proposals, StrategyBase  # noqa: E402

SYMBOL = "BTCUSDT"
QTY = Decimal("0.002")
# Every flip pays ~0.12 USDT of taker fee: 300 passes, ~64,000 fills, ~8,000 USDT. The account
# is large enough, and the daily loss limit far enough, for the run to stay ACTIVE (a HALTED
# daemon denies the strategy, and works less: the comparison would be void); every check
# still runs.
START_WALLET = Decimal(1_000_000)
LIMITS_LONG = replace(LIMITS, max_daily_loss_usdt=Decimal(100_000))
ID_SHIFT = 10_000_000  # aggregate ids move on by this much each pass (a multiple of `every`)
CALLS_TOLERANCE = 0.02
RSS_TOLERANCE = 0.01  # over the last 10 % of the passes


class PassFlip(StrategyBase):
    """Flips its target on the trades whose aggregate id is a multiple of `every` (the same
    trades in every pass of the capture: the passes are alike, decisions included)."""

    name = "pass_flip"

    def __init__(self, every: int) -> None:
        self.every = every

    def on_trade(self, trade: Trade, view: AccountView) -> Proposals:
        a = trade.agg_id
        if a % self.every:
            return NO_PROPOSALS
        qty = QTY if (a // self.every) % 2 else -QTY
        return (TargetPosition(symbol=trade.symbol, qty=qty, reason="flip"),)


@dataclass
class ReconcilingSession(FakeSession):
    """`bench_tick_to_order.FakeSession` that also answers what a reconciliation reads, from
    the same account: the wallet after every fill's realized PnL and fee, the position, the
    open algo orders (stop-losses placed and not cancelled) and the recent fills."""

    wallet: Decimal = START_WALLET
    open_algos: dict[str, dict[str, Any]] = field(default_factory=dict)
    trades: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=5_000))
    reads: int = 0  # reconciliation requests answered

    def _answer(self, method: str, path: str, p: dict[str, str], now: int) -> Any:
        if method == "GET":
            read = self._read(path, p)
            if read is not None:
                self.reads += 1
                return read
        answer = super()._answer(method, path, p, now)
        if path == "/fapi/v1/algoOrder" and isinstance(answer, dict):
            if method == "POST":
                self.open_algos[p["clientAlgoId"]] = answer
            else:
                self.open_algos.pop(p["clientAlgoId"], None)
        return answer

    def _read(self, path: str, p: dict[str, str]) -> Any:
        wallet = f"{self.wallet:f}"
        if path == "/fapi/v1/openOrders":
            return []  # MARKET orders only: filled at once
        if path == "/fapi/v1/openAlgoOrders":
            return list(self.open_algos.values())
        if path == "/fapi/v2/account":
            balance = {"asset": "USDT", "walletBalance": wallet, "availableBalance": wallet}
            return {"assets": [balance], "positions": [{"symbol": SYMBOL, "leverage": 3}]}
        if path == "/fapi/v3/positionRisk":
            a = self.account
            entry = f"{a.entry:f}" if a.qty else "0"
            return [{"symbol": SYMBOL, "positionAmt": f"{a.qty:f}", "entryPrice": entry}]
        if path == "/fapi/v1/userTrades":
            after = int(p.get("fromId", "0"))
            limit = int(p.get("limit", "500"))
            rows = [t for t in self.trades if t["id"] >= after]
            return rows[:limit] if "fromId" in p else rows[-limit:]
        if path == "/fapi/v1/income":
            return []
        return None

    def _fill_frame(self, row: dict[str, Any], now: int) -> bytes:
        frame = super()._fill_frame(row, now)
        body = _fill_fields(frame)
        rp, fee = Decimal(body["rp"]), Decimal(body["n"])
        self.wallet += rp - fee
        self.trades.append(
            {
                "symbol": SYMBOL,
                "id": body["t"],
                "orderId": body["i"],
                "side": body["S"],
                "positionSide": "BOTH",
                "price": body["L"],
                "qty": body["l"],
                "realizedPnl": body["rp"],
                "commission": body["n"],
                "commissionAsset": "USDT",
                "maker": False,
                "time": now,
            }
        )
        return frame


def _fill_fields(frame: bytes) -> dict[str, Any]:
    import orjson

    return orjson.loads(frame)["o"]  # type: ignore[no-any-return]


def shifted(one: Sequence[object], n: int, span_ms: int) -> list[object]:
    """Pass `n` of the capture: times shifted by `n` spans, aggregate ids by `n` ID_SHIFTs (a
    copy for the first pass too: every pass holds the same memory)."""
    shift, ids = n * span_ms, n * ID_SHIFT
    out: list[object] = []
    for item in one:
        if item.__class__ is Trade:
            t: Trade = item  # type: ignore[assignment]
            a = t.agg_id + ids
            out.append(
                replace(
                    t,
                    agg_id=a,
                    first_trade_id=a,
                    last_trade_id=a,
                    trade_time_ms=t.trade_time_ms + shift,
                    event_time_ms=t.event_time_ms + shift,
                )
            )
        elif item.__class__ is BookTicker:
            b: BookTicker = item  # type: ignore[assignment]
            out.append(
                replace(
                    b,
                    event_time_ms=b.event_time_ms + shift,
                    transaction_time_ms=b.transaction_time_ms + shift,
                )
            )
        else:
            m: MarkPrice = item  # type: ignore[assignment]
            out.append(replace(m, event_time_ms=m.event_time_ms + shift))
    return out


class CallCount:
    """Python and C function calls while installed (`sys.setprofile`), but those that follow
    real time rather than the daemon's work: the event loop's turns and this script's (how
    many a task waiting on a timer takes depends on the machine), and the tasks in `skip`
    (the journal's applier and the collector, which poll every few ms of real time)."""

    __slots__ = ("calls", "skip")

    def __init__(self, skip: tuple[object, ...] = ()) -> None:
        self.calls = 0
        self.skip = skip

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        if event != "call" and event != "c_call":
            return
        name = frame.f_code.co_filename
        if _LOOP_FILES[0] in name or name.endswith(_LOOP_FILES[1:]):
            return
        if self.skip and asyncio.current_task() in self.skip:
            return
        self.calls += 1


_LOOP_FILES = (
    f"{os.sep}asyncio{os.sep}",
    f"{os.sep}selectors.py",
    f"{os.sep}{Path(__file__).name}",
)


@dataclass(frozen=True, slots=True)
class PassFigures:
    n: int
    items: int
    cpu_us_per_item: float  # the pass but its counted items (everything: timers too)
    calls_per_item: float  # the market data's own, over the pass's first `--count` items
    calls_per_reconcile: float  # each periodic reconciliation's, on average over the pass
    calls_per_heartbeat: float
    rss_mib: float
    orders: int  # sent so far
    fills: int
    tracked: int  # the venue's tracked orders
    ended: int  # the books' ended orders remembered
    trade_ids: int  # the books' trade ids remembered (the symbol's)
    journal_open: int  # the journal's open orders
    gc_objects: int
    reconciles: int
    differences: int
    state: str  # the trading state at the end of the pass (ACTIVE all along, or void)


def rss_mib() -> float:
    """Resident set of this process, MiB (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Timed:
    """What runs on the daemon's timers, due on the tape's clock; its calls counted apart
    (how many of them fall among a pass's counted items depends on where the pass starts)."""

    every_ms: int
    job: Callable[[], Any]
    skip: tuple[object, ...] = ()
    due_ms: int = 0
    runs: int = 0
    calls: CallCount = field(default_factory=CallCount)

    def per_run(self) -> float:
        """Calls per run since the last look; starts counting afresh."""
        value = self.calls.calls / self.runs if self.runs else 0.0
        self.runs, self.calls = 0, CallCount(self.skip)
        return value


async def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> list[PassFigures]:
    one, span_ms = capture()
    logging.getLogger().setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        journal = SqliteJournal(
            Path(tmp) / "journal", synchronous=Synchronous.NORMAL, writer_thread=False
        )
        rig = await build(
            strategy=PassFlip(args.every),
            journal=journal,
            start_ms=item_time(one[0]),
            kill_file=Path(tmp) / "KILL",  # never created
            bar_source=BarSource.KLINES,
            bar_interval="1m",
            limits=LIMITS_LONG,
            wallet=START_WALLET,
            make_session=lambda clock: ReconcilingSession(clock=clock),
        )
        try:
            return await _passes(args, rig, journal, one, span_ms, Path(tmp), out)
        finally:
            await rig.rest.close()
            journal.close()


async def _passes(
    args: argparse.Namespace,
    rig: Rig,
    journal: SqliteJournal,
    one: Sequence[object],
    span_ms: int,
    tmp: Path,
    out: Callable[[str], None],
) -> list[PassFigures]:
    em, venue, clock = rig.exec_manager, rig.venue, rig.clock
    session: ReconcilingSession = rig.session  # type: ignore[assignment]
    book: BookKeeper = em._book  # type: ignore[assignment]
    tasks = venue._tasks
    loop_tasks = [
        asyncio.create_task(run_applier(journal)),
        asyncio.create_task(collect_between_items()),
    ]

    def heartbeat() -> None:
        st = em.status()
        write_status(tmp, {"equity": f"{st.equity:f}", "open_orders": st.open_orders})
        book.record_snapshot(journal)

    polling = tuple(loop_tasks)
    reconcile = Timed(int(args.reconcile_s * 1000), lambda: venue.reconcile("periodic"), polling)
    beat = Timed(int(args.heartbeat_s * 1000), heartbeat, polling)
    timed = (reconcile, beat)
    for t in timed:
        t.per_run()  # counting without the polling tasks from the start
    freeze_startup_heap()  # as the daemon does before its first item
    sleep0 = asyncio.sleep
    figures: list[PassFigures] = []
    try:
        for n in range(args.passes):
            items = shifted(one, n, span_ms)  # built before the pass's clock starts
            n_items = len(items)
            counter = CallCount(polling)
            counted = min(args.count, len(items) - 1)
            started = time.thread_time()
            for i, item in enumerate(items):
                if i == counted:
                    started = time.thread_time()
                if item.__class__ is Trade:
                    session.last_price = item.price  # type: ignore[attr-defined]
                now = clock.now = item_time(item)
                if i < counted:
                    sys.setprofile(counter)
                em.on_item(item)
                # As the DataStream's reader between two items: the loop runs the venue's
                # tasks, the fills, the applier and the collector.
                await sleep0(0)
                while tasks or session.pending_frames:
                    await sleep0(0)
                if i < counted:
                    sys.setprofile(None)
                # The balance snapshots kept for the applier (`snapshot_soon`: the books' new
                # peaks and max drawdowns) are written between two items in the daemon; the
                # applier here polls on real time, so a heartbeat due now could find them and
                # count their writing (how many depends on the pass's prices) as its own.
                journal._write_deferred()
                for t in timed:
                    if now >= t.due_ms:
                        t.due_ms = now + t.every_ms
                        t.runs += 1
                        sys.setprofile(t.calls)
                        try:
                            result = t.job()
                            if asyncio.iscoroutine(result):
                                await result
                        finally:
                            sys.setprofile(None)
            cpu = time.thread_time() - started
            del items  # the tape is the benchmark's: out of the daemon's figures below
            f = PassFigures(
                n=n,
                items=n_items,
                cpu_us_per_item=cpu * 1e6 / (n_items - counted),
                calls_per_item=counter.calls / counted,
                calls_per_reconcile=reconcile.per_run(),
                calls_per_heartbeat=beat.per_run(),
                rss_mib=rss_mib(),
                orders=em.counters.submitted,
                fills=em.counters.fills,
                tracked=len(venue.tracker),
                ended=len(book._ended),
                trade_ids=len(book._books[SYMBOL].seen),
                journal_open=len(journal._applier._open_orders) if journal._applier else -1,
                gc_objects=len(gc.get_objects()),
                reconciles=venue.stats.reconciles,
                differences=book.differences,
                state=str(em.trading_state),
            )
            figures.append(f)
            if args.verbose:
                out(pass_line(f))
    finally:
        for task in loop_tasks:
            task.cancel()
        await asyncio.gather(*loop_tasks, return_exceptions=True)
    return figures


def pass_line(f: PassFigures) -> str:
    return (
        f"  pass {f.n:3d}: {f.cpu_us_per_item:6.2f} us CPU and {f.calls_per_item:6.2f} calls per "
        f"item, {f.calls_per_reconcile:,.0f} calls per reconciliation, "
        f"{f.calls_per_heartbeat:,.0f} per heartbeat; RSS {f.rss_mib:6.1f} MiB; orders "
        f"{f.orders:,}, fills {f.fills:,}, trade ids {f.trade_ids:,}, tracked "
        f"{f.tracked:,}, ended {f.ended:,}, journal open {f.journal_open}, gc objects "
        f"{f.gc_objects:,}, reconciliations {f.reconciles}"
    )


def compare(figures: Sequence[PassFigures]) -> tuple[list[str], bool]:
    """The last 10 % of the passes against the first 10 % after pass 0 (medians, at least one
    pass each); memory over the last 10 % (it grows until the bounded memories are full:
    10,000 ended orders in the venue and in the books, ~2 KB an order, and 50,000 trade ids
    per symbol)."""
    k = max(1, len(figures) // 10)
    # Pass 0 warms up (the first orders fill the signing plans' cache, the first
    # reconciliation takes the userTrades baseline): the first group starts after it.
    first, last = figures[1 : k + 1], figures[-k:]

    def med(group: Sequence[PassFigures], name: str) -> float:
        return statistics.median(getattr(f, name) for f in group)

    lines = []
    ok = True
    a, b = med(first, "cpu_us_per_item"), med(last, "cpu_us_per_item")
    lines.append(
        f"CPU per item (us): passes {first[0].n}-{first[-1].n} {a:.2f}, {last[0].n}-{last[-1].n} "
        f"{b:.2f} ({(b - a) / a:+.1%}) [not judged: on a shared machine it moves with the load, "
        "+-30 %; the calls below are the same on any machine]"
    )
    for name, label, tolerance, a_group, b_group, span in (
        ("calls_per_item", "calls per item", CALLS_TOLERANCE, first, last, "10 %"),
        ("calls_per_reconcile", "calls per reconciliation", CALLS_TOLERANCE, first, last, "10 %"),
        ("calls_per_heartbeat", "calls per heartbeat", CALLS_TOLERANCE, first, last, "10 %"),
        ("rss_mib", "RSS (MiB)", RSS_TOLERANCE, last[:1], last[-1:], "last"),
    ):
        a, b = med(a_group, name), med(b_group, name)
        change = (b - a) / a if a else 0.0
        flat = change <= tolerance
        ok = ok and flat
        where = (
            f"passes {first[0].n}-{first[-1].n} {a:,.2f}, {last[0].n}-{last[-1].n} {b:,.2f}"
            if span == "10 %"
            else f"pass {last[0].n} {a:,.1f}, pass {last[-1].n} {b:,.1f} (pass 0: "
            f"{figures[0].rss_mib:,.1f})"
        )
        lines.append(
            f"{label}: {where} ({change:+.1%}) [{'flat' if flat else 'GREW'}: within "
            f"+{tolerance:.0%}]"
        )
    end = figures[-1]
    halted = next((f for f in figures if f.state != "ACTIVE"), None)
    if halted is not None:  # a daemon that stopped trading works less: no comparison
        ok = False
        lines.append(f"VOID: the trading state was {halted.state} after pass {halted.n}")
    lines.append(
        f"at the end: {end.orders:,} orders, {end.fills:,} fills, {end.reconciles} "
        f"reconciliations, {end.differences} difference(s) found by them; kept: tracked orders "
        f"{end.tracked:,}, books' ended orders {end.ended:,}, trade ids {end.trade_ids:,}, "
        f"journal open orders "
        f"{end.journal_open}, gc objects {figures[0].gc_objects:,} after the first pass, "
        f"{end.gc_objects:,} after the last"
    )
    return lines, ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passes", type=int, default=300, help="passes of the capture (~2 s each)")
    parser.add_argument("--every", type=int, default=100, help="flip on aggregate ids %% N == 0")
    parser.add_argument("--count", type=int, default=10_000, help="items per pass, calls counted")
    parser.add_argument("--reconcile-s", type=float, default=60.0, help="tape seconds")
    parser.add_argument("--heartbeat-s", type=float, default=10.0, help="tape seconds")
    parser.add_argument("--verbose", action="store_true", help="a line per pass")
    args = parser.parse_args(argv)
    if args.passes < 2 or args.every < 1 or args.count < 1:
        parser.error("--passes must be >= 2, --every and --count >= 1")
    if ID_SHIFT % args.every:
        parser.error(f"--every must divide {ID_SHIFT} (the passes must flip alike)")
    load = os.getloadavg()
    print(
        f"{args.passes} passes of the BTCUSDT 2024-08-08 capture, flip on every aggregate id % "
        f"{args.every}; reconciliation every {args.reconcile_s:g} s and heartbeat every "
        f"{args.heartbeat_s:g} s of tape; load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    started = time.perf_counter()
    figures = asyncio.run(run(args))
    lines, ok = compare(figures)
    for line in lines:
        print(line)
    load = os.getloadavg()
    items = sum(f.items for f in figures)
    print(
        f"{items:,} items in {time.perf_counter() - started:.0f} s; load average at the end "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {'FLAT' if ok else 'GREW'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
