"""Benchmark: tick-to-order in-process, every check on, down to the signed HTTP request.

From a parsed `core.market.Trade` entering the daemon's market-data sink (`ItemSink`: the
pause watch's tick, the stream lag, then `ExecManager.on_item`) to the moment the signed order
request is handed to the HTTP layer: python-binance signs inside `AsyncClient._request` and then
calls `session.post(...)`; the client's aiohttp session is replaced by `FakeSession`, whose
`post/get/delete/put` record `time.perf_counter_ns()` first and then answer with canned Binance
JSON (with the rate-limit headers). Everything between is the daemon's own code, wired as in
`trading_engine/daemon.py`:

- `ExecManager.on_item` with the real `BookKeeper`, `RiskManager` (every pre-trade check;
  portfolio limits armed; a kill-switch file that does not exist, stat'ed once a second;
  stop-loss protection on), the `SqliteJournal` in a temporary directory (synchronous NORMAL,
  the daemon's default, and FULL; applied to its tables by a task of this loop, `run_applier`,
  and the cyclic GC run by `collect_between_items`, both as the daemon runs them; the
  restart's replay kept and checkpointed by the applier and new drawdown peaks journaled, as
  the daemon does, unless `--without-checkpoints`) and the strategy;
- `LiveVenue.submit` -> `order_params` -> `RestConnection.sign` (the request python-binance's
  `futures_create_order` -> `_request` would send, byte for byte, HMAC-SHA256 signed) ->
  `RestConnection.start` (`RateGovernor.try_acquire`, then `session.post` at once, inside
  `on_item`); when the governor would make it wait, the venue's submit task sends it after a
  loop hop instead (`RestConnection.send`), and that hop is part of the figure.

After the answer, the fake exchange fills each MARKET order at the last trade price with an
ORDER_TRADE_UPDATE frame handed to the venue's user-stream callback (`LiveVenue._on_frame`,
what its websocket task calls), so the books, the fills, the stop-loss placement (POST
algoOrder) and its replacement (DELETE algoOrder) all run for real between the measured
ticks. The venue is marked running without `start()`: no user-stream socket, dead-man loop or
periodic reconciliation (none of them is on the tick path).

Strategy: `flip` (default) sets a target of +/-0.002 BTC, flipped on every `--every`th trade
(50), so that many ticks order (each a MARKET order of 0.004 BTC through every entry check);
`sma` is the daemon's real SmaCrossover(10, 50) on 1s bars built from the trades (few ticks
order, so few samples). Runs: the warm run (`--every 50`, `--orders 2000`) with the journal
in each `--journals` mode: SqliteJournal NORMAL (the daemon's default), FULL, and MEMORY
(`core.journal.MemoryJournal`: the path without the SQLite commit); then a cold run
(`--cold-every 2000`, `--cold-orders 300`): one order per ~8,000 items, about one a minute of
this market, as the daemon's strategies order, so the CPU caches hold the market-data loop and
not the order path when the order comes (this is the figure a live order sees).

Reported per run: tick-to-order p50/p99/p99.9/max (wall clock), the same spans in thread CPU
time (without preemption by other processes and without I/O waits: on a loaded machine the
wall-clock tail is mostly the scheduler), the part spent inside on_item, and the on_item cost
of the ticks that do not order, by item type. Times: the ExecManager, books, risk, venue,
governor and fake exchange follow the replayed trade times (a `LiveClock` pinned to the
tape), so the governor and the per-minute limits see the market's order rate, not the
benchmark's compressed one; python-binance signs with the wall clock, as it always does.

This machine's speed moves by up to 2x from one day to the next, so a figure alone cannot say
whether the code got better. The lean reference loop of `bench_reference_loop.py` (issue 7's
yardstick: 11/43 us p50/p99 on the machine its target was set on; its order signed by
python-binance, which reproduces those figures) runs in this process before
and after the timed runs (`--reference-orders`, 20,000 ordering ticks), and each run's p50 and
p99 are printed as multiples of the loop's (the mean of before and after), beside the target's
own: 50/11 = 4.55x, 250/43 = 5.81x. A run at another order rate (the cold run's one order in
2,000 trades) is set against the loop timed at that rate too, over about as many trades.
`--repeat N` makes N rounds of the runs, alternating the journal modes, and prints the median
and the spread of each mode's p50s: a figure with its noise.

Data: the bundled BTCUSDT capture of 2024-08-08 (trades, book tickers and one MarkPrice per
second; `bench_exec_manager.capture`), looped with shifted times and ids.

The sink rehearses the order path every 50th item (or after 200 ms of the tape), as the
daemon's does (`execution.rehearse_every_items` and `rehearse_every_ms`,
`trading_engine/order_rehearsal.py`: the pre-trade checks, the journal's encoding and the
signed request, with no effect), so that the order finds it warm; `--rehearse-every 0`
measures without, and a list (`50,0`) runs both, alternating. A rehearsal's cost lands on the
non-ordering items (their rate is printed).

Last, `--calls N` ordering ticks (50) run under `sys.setprofile` (a `CallCounter`, no timing,
no rehearsal): how many Python and C functions an ordering tick calls before its request
reaches the session, by module (the median of N, after a first one reported apart: it also
plans the signing of its request shape, once per process). With the caches cold between
orders that count is what the latency follows. `--opcodes N` counts the bytecodes each Python
function runs in N ordering ticks (`sys.settrace`, an `OpcodeCounter`): a deterministic
measure of a change to the order path's Python code, where an A/B of times needs several
alternating runs to see 1 us.

    python bench/bench_tick_to_order.py [--orders 2000] [--every 50] [--journals NORMAL,FULL,MEMORY]
        [--cold-every 2000] [--cold-orders 300] [--cold-journals NORMAL,MEMORY] [--strategy sma]
        [--calls 50 [--trace]] [--opcodes 20] [--stages 300] [--without-checkpoints] [--repeat 1]
        [--rehearse-every 50[,0]] [--reference-orders 20000] [--plot tick_to_order.png]

`--plot PATH` draws each run's times as a CDF with the targets (a PNG): where each run
crosses 0.5 is its p50, and the vertical lines are what the issue allows.
"""

import argparse
import asyncio
import gc
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_reference_loop as reference  # noqa: E402
from bench_exec_manager import FlipStrategy, capture, item_time  # noqa: E402

from book_keeper.book_keeper import BookKeeper  # noqa: E402
from book_keeper.journal import SqliteJournal, Synchronous, run_applier  # noqa: E402
from core.clock import LiveClock  # noqa: E402
from core.events import Event  # noqa: E402
from core.journal import Journal, MemoryJournal  # noqa: E402
from core.market import BookTicker, MarkPrice, Trade  # noqa: E402
from core.orders import ClientOrderIds  # noqa: E402
from exchange_sim.replay.grid import load_instruments  # noqa: E402
from gateway.main_gateway import ExecutorConfig, LiveVenue  # noqa: E402
from rest_connect.connection import RestConnection  # noqa: E402
from rest_connect.rate_governor import RateGovernor  # noqa: E402
from rest_connect.rest_factory import build_client  # noqa: E402
from risk_manager.config import RiskConfig  # noqa: E402
from risk_manager.risk_manager import RiskManager  # noqa: E402
from runtime.settings import ExecutionSettings  # noqa: E402
from trading_engine.exec_manager import BarSource, ExecConfig, ExecManager  # noqa: E402
from trading_engine.gc_tuning import collect_between_items  # noqa: E402
from trading_engine.item_sink import ItemSink  # noqa: E402
from trading_engine.main_trading_strategy import TradingStrategy  # noqa: E402
from trading_engine.pause_watch import PauseWatch  # noqa: E402
from trading_engine.strategies.sma_crossover import SmaCrossover  # noqa: E402

SYMBOL = "BTCUSDT"
P50_TARGET_US, P99_TARGET_US = 50.0, 250.0
MEMORY = "MEMORY"  # core.journal.MemoryJournal: what the path costs without the SQLite commit
# The daemon's default: its sink rehearses the order path every this many items
REHEARSE_EVERY = ExecutionSettings().rehearse_every_items
REHEARSE_EVERY_MS = ExecutionSettings().rehearse_every_ms  # or sooner, on the tape's clock
API_KEY = "bench-key"
API_SECRET = "bench-secret"
REST_URL = "http://127.0.0.1:9"  # never contacted: the session is replaced before any call
_E8 = Decimal("0.00000001")
_FEE = Decimal("0.0005")

# The daemon's default limits (runtime.settings RiskSettings), with the ones a compressed
# benchmark would trip raised: 2,000 flips are 2,000 trades and ~120 orders per replayed minute.
# Every check still runs on every order.
LIMITS = RiskConfig(
    leverage=3,
    max_order_notional_usdt=Decimal(500),
    max_position_notional_usdt=Decimal(1000),
    max_total_notional_usdt=Decimal(2000),
    price_band_pct=Decimal(5),
    max_open_orders=10,
    max_orders_per_minute=1200,
    max_clock_offset_ms=1000,
    stop_loss_pct=Decimal(2),
    max_daily_loss_usdt=Decimal(5000),
    max_daily_loss_pct=Decimal(90),
    max_drawdown_pct=Decimal(90),
    max_trades_per_day=1_000_000,
    circuit_breaker_errors=10,
)


class TapeClock(LiveClock):
    """A `LiveClock` (what RestConnection expects) pinned to the replayed item times."""

    __slots__ = ("now",)

    def __init__(self, start_ms: int) -> None:
        super().__init__(0)
        self.now = start_ms

    def now_ms(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """A wait on the tape: its time passes at once (the rate governor's pause ends; on the
        wall clock it would never end, the tape's time moving only with the items)."""
        self.now += math.ceil(seconds * 1000)
        await asyncio.sleep(0)


# --- the HTTP layer: a fake aiohttp session over a tiny fake exchange ----------------------------


class FakeResponse:
    """What python-binance reads from an aiohttp response: status, headers, text(), json()."""

    __slots__ = ("_text", "headers", "status")

    def __init__(self, status: int, body: Any, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers
        self._text = json.dumps(body)

    async def text(self) -> str:
        return self._text

    async def json(self) -> Any:
        return json.loads(self._text)

    async def __aenter__(self) -> "FakeResponse":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


@dataclass(slots=True)
class Sent:
    """One request as python-binance handed it to the session."""

    ns: int  # perf_counter_ns() when `session.<method>` was called
    method: str
    path: str
    params: dict[str, str]
    body: str  # the signed form body (or query string of a GET)


@dataclass(slots=True)
class FakeAccount:
    """One-way BTCUSDT position of the fake exchange (fills at the last trade price)."""

    qty: Decimal = Decimal(0)
    entry: Decimal = Decimal(0)

    def fill(self, signed: Decimal, price: Decimal) -> Decimal:
        """Apply a fill; Binance's realized PnL (`rp`) of it."""
        old, new = self.qty, self.qty + signed
        rp = Decimal(0)
        if old == 0 or (old > 0) == (signed > 0):
            self.entry = (abs(old) * self.entry + abs(signed) * price) / abs(new)
        else:
            closed = min(abs(signed), abs(old))
            rp = (closed * (price - self.entry) * (1 if old > 0 else -1)).quantize(
                _E8, rounding=ROUND_HALF_UP
            )
            if new == 0:
                self.entry = Decimal(0)
            elif (new > 0) != (old > 0):
                self.entry = price
        self.qty = new
        return rp


@dataclass
class FakeSession:
    """Stands in for the client's `aiohttp.ClientSession`: records when each request is handed
    over, answers as Binance does, and pushes the fills of MARKET orders through `on_frame`
    (the venue's user-stream callback) on the next loop iteration."""

    clock: TapeClock
    on_frame: Callable[[bytes, int], None] | None = None
    last_price: Decimal = Decimal(0)
    sent: list[Sent] = field(default_factory=list)
    order_posts: int = 0  # POST /fapi/v1/order
    last_order_ns: int = 0
    last_order_cpu_ns: int = 0  # thread CPU time then (preemption and I/O waits excluded)
    pending_frames: int = 0
    unexpected: int = 0
    account: FakeAccount = field(default_factory=FakeAccount)
    closed: bool = False
    _order_ids: Any = field(default_factory=lambda: count(1_000_001))
    _trade_ids: Any = field(default_factory=lambda: count(5_000_001))
    _orders_10s: tuple[int, int] = (-1, 0)  # (window start ms, orders) for the headers
    _orders_1m: tuple[int, int] = (-1, 0)
    _weight_1m: tuple[int, int] = (-1, 0)
    keep_sent: bool = False  # keep every Sent (tests); else only the counters and times

    # aiohttp.ClientSession's request methods, as python-binance calls them
    def post(self, url: Any, **kw: Any) -> FakeResponse:
        return self._request("POST", url, kw)

    def get(self, url: Any, **kw: Any) -> FakeResponse:
        return self._request("GET", url, kw)

    def delete(self, url: Any, **kw: Any) -> FakeResponse:
        return self._request("DELETE", url, kw)

    def put(self, url: Any, **kw: Any) -> FakeResponse:
        return self._request("PUT", url, kw)

    async def close(self) -> None:
        self.closed = True

    def _request(self, method: str, url: Any, kw: dict[str, Any]) -> FakeResponse:
        ns = time.perf_counter_ns()  # the signed request is in our hands: stop the clock
        path = url.path
        data = kw.get("data")
        if isinstance(data, list):  # python-binance hands aiohttp a list of pairs
            body = "&".join(f"{k}={v}" for k, v in data)
            params = dict(data)
        else:
            body = url.query_string if data is None else str(data)
            params = dict(parse_qsl(body))
        if path == "/fapi/v1/order" and method == "POST":
            self.order_posts += 1
            self.last_order_ns = ns
            self.last_order_cpu_ns = time.thread_time_ns()
        if self.keep_sent:
            self.sent.append(Sent(ns, method, path, params, body))
        now = self.clock.now_ms()
        weight = 0 if path in ("/fapi/v1/order", "/fapi/v1/algoOrder") and method == "POST" else 1
        headers = self._headers(now, weight, orders=int(method == "POST" and weight == 0))
        answer = self._answer(method, path, params, now)
        if answer is None:
            self.unexpected += 1
            return FakeResponse(400, {"code": -1100, "msg": f"bench: {method} {path}"}, headers)
        return FakeResponse(200, answer, headers)

    def _headers(self, now: int, weight: int, *, orders: int) -> dict[str, str]:
        def bump(state: tuple[int, int], window: int, amount: int) -> tuple[int, int]:
            start = now - now % window
            return (start, amount + (state[1] if state[0] == start else 0))

        self._weight_1m = bump(self._weight_1m, 60_000, weight)
        self._orders_10s = bump(self._orders_10s, 10_000, orders)
        self._orders_1m = bump(self._orders_1m, 60_000, orders)
        return {
            "Content-Type": "application/json",
            "X-MBX-USED-WEIGHT-1M": str(self._weight_1m[1]),
            "X-MBX-ORDER-COUNT-10S": str(self._orders_10s[1]),
            "X-MBX-ORDER-COUNT-1M": str(self._orders_1m[1]),
        }

    def _answer(self, method: str, path: str, p: dict[str, str], now: int) -> Any:
        if path == "/fapi/v1/order" and method == "POST":
            return self._new_order(p, now)
        if path == "/fapi/v1/algoOrder" and method in ("POST", "DELETE"):
            return self._algo(p, now, "NEW" if method == "POST" else "CANCELED")
        if path == "/fapi/v1/time":
            return {"serverTime": now}
        return None

    def _new_order(self, p: dict[str, str], now: int) -> dict[str, Any]:
        """Binance's answer to POST /fapi/v1/order: NEW, nothing executed yet (as for MARKET
        orders on the real venue); the fill follows on the user stream."""
        oid = next(self._order_ids)
        row = {
            "orderId": oid,
            "symbol": p["symbol"],
            "status": "NEW",
            "clientOrderId": p["newClientOrderId"],
            "price": p.get("price", "0.00"),
            "avgPrice": "0.00",
            "origQty": p["quantity"],
            "executedQty": "0.000",
            "cumQty": "0.000",
            "cumQuote": "0.00000",
            "timeInForce": p.get("timeInForce", "GTC"),
            "type": p["type"],
            "reduceOnly": p.get("reduceOnly", "false") == "true",
            "closePosition": False,
            "side": p["side"],
            "positionSide": "BOTH",
            "stopPrice": "0.00",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": p["type"],
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
            "updateTime": now,
        }
        if p["type"] == "MARKET" and self.on_frame is not None:
            frame = self._fill_frame(row, now)
            self.pending_frames += 1
            asyncio.get_running_loop().call_soon(self._deliver, frame)
        return row

    def _fill_frame(self, row: dict[str, Any], now: int) -> bytes:
        qty = Decimal(row["origQty"])
        price = self.last_price
        signed = qty if row["side"] == "BUY" else -qty
        rp = self.account.fill(signed, price)
        commission = (price * qty * _FEE).quantize(_E8, rounding=ROUND_HALF_UP)
        body = {
            "s": row["symbol"],
            "c": row["clientOrderId"],
            "S": row["side"],
            "o": "MARKET",
            "f": "GTC",
            "q": row["origQty"],
            "p": "0",
            "ap": f"{price:f}",
            "sp": "0",
            "x": "TRADE",
            "X": "FILLED",
            "i": row["orderId"],
            "l": row["origQty"],
            "z": row["origQty"],
            "L": f"{price:f}",
            "N": "USDT",
            "n": f"{commission:f}",
            "T": now,
            "t": next(self._trade_ids),
            "b": "0",
            "a": "0",
            "m": False,
            "R": row["reduceOnly"],
            "wt": "CONTRACT_PRICE",
            "ot": "MARKET",
            "ps": "BOTH",
            "cp": False,
            "rp": f"{rp:f}",
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": 0,
            "er": "0",
        }
        return orjson.dumps({"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": body})

    def _deliver(self, frame: bytes) -> None:
        self.pending_frames -= 1
        assert self.on_frame is not None
        self.on_frame(frame, self.clock.now_ms())

    def _algo(self, p: dict[str, str], now: int, status: str) -> dict[str, Any]:
        return {
            "algoId": next(self._order_ids),
            "clientAlgoId": p["clientAlgoId"],
            "algoType": "CONDITIONAL",
            "orderType": p.get("type", "STOP_MARKET"),
            "symbol": p.get("symbol", SYMBOL),
            "side": p.get("side", "SELL"),
            "positionSide": "BOTH",
            "timeInForce": p.get("timeInForce", "GTC"),
            "quantity": p.get("quantity", "0.000"),
            "algoStatus": status,
            "triggerPrice": p.get("triggerPrice", "0.00"),
            "price": "0.00",
            "icebergQuantity": None,
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": p.get("workingType", "CONTRACT_PRICE"),
            "priceMatch": "NONE",
            "closePosition": p.get("closePosition", "false") == "true",
            "priceProtect": False,
            "reduceOnly": p.get("reduceOnly", "false") == "true",
            "activatePrice": "",
            "callbackRate": "",
            "createTime": now,
            "updateTime": now,
            "triggerTime": 0,
            "goodTillDate": 0,
        }


# --- market data -------------------------------------------------------------------------------


_POST_CODE = FakeSession.post.__code__  # where CallCounter stops


def endless_tape(one: Sequence[object], span_ms: int) -> Iterator[object]:
    """The capture looped for ever, times and trade ids shifted so that they only increase
    (as `bench_exec_manager.tape`, but lazily: a cold run needs millions of items)."""
    loop = 0
    while True:
        if loop == 0:
            yield from one
        else:
            shift, ids = loop * span_ms, loop * 10_000_000
            for item in one:
                if item.__class__ is Trade:
                    t: Trade = item  # type: ignore[assignment]
                    a = t.agg_id + ids
                    yield replace(
                        t,
                        agg_id=a,
                        first_trade_id=a,
                        last_trade_id=a,
                        trade_time_ms=t.trade_time_ms + shift,
                        event_time_ms=t.event_time_ms + shift,
                    )
                elif item.__class__ is BookTicker:
                    b: BookTicker = item  # type: ignore[assignment]
                    yield replace(
                        b,
                        event_time_ms=b.event_time_ms + shift,
                        transaction_time_ms=b.transaction_time_ms + shift,
                    )
                else:
                    m: MarkPrice = item  # type: ignore[assignment]
                    yield replace(m, event_time_ms=m.event_time_ms + shift)
        loop += 1


# --- wiring (as trading_engine/daemon.py) --------------------------------------------------------


@dataclass
class Rig:
    exec_manager: ExecManager
    venue: LiveVenue
    rest: RestConnection
    session: FakeSession
    clock: TapeClock
    journal: Journal


async def build(
    *,
    strategy: TradingStrategy,
    journal: Journal,
    start_ms: int,
    kill_file: Path,
    bar_source: BarSource,
    bar_interval: str,
    checkpoints: bool = True,
    limits: RiskConfig = LIMITS,
    wallet: Decimal = Decimal(10_000),
    make_session: Callable[[TapeClock], FakeSession] = lambda clock: FakeSession(clock=clock),
) -> Rig:
    """The daemon's objects wired as trading_engine/daemon.py wires them; the account starts
    with `wallet` USDT under `limits` (bench_long_run brings a session of its own)."""
    instruments = {SYMBOL: load_instruments()[SYMBOL]}
    clock = TapeClock(start_ms)
    client = build_client(
        rest_url=REST_URL,
        api_key=API_KEY,
        api_secret=API_SECRET,
        recv_window_ms=5000,
        timeout_s=10.0,
    )
    await client.session.close()  # the real aiohttp session: never used
    session = make_session(clock)
    client.session = session
    rest = RestConnection(
        client=client, clock=clock, governor=RateGovernor(clock=clock, sleep=clock.sleep)
    )
    book = BookKeeper(
        starting_balances={"USDT": wallet},
        instruments=instruments,
        clock=clock,
        leverage={SYMBOL: limits.leverage},
    )
    journal_peak = None
    if checkpoints and isinstance(journal, SqliteJournal):
        # As the daemon: restored (an empty journal), its replay checkpointed from then on
        # (fed by the applier between items), and a new drawdown peak journaled, by the
        # equity check and by the books (each new peak and max drawdown).
        journal.keep_checkpoints(book.restore(journal))
        book.journal_extremes(journal)
        sqlite_journal = journal

        def journal_peak() -> None:
            book.record_snapshot(sqlite_journal, soon=True)

    risk = RiskManager(
        config=RiskConfig(**{**_fields(limits), "kill_switch_file": str(kill_file)}),
        instruments=instruments,
        clock=clock,
        view=book,
    )
    listener: list[Callable[[Event], None]] = []
    venue = LiveVenue(
        rest=rest,
        ws_url="ws://127.0.0.1:9",
        symbols=[SYMBOL],
        instruments=instruments,
        clock=clock,
        journal=journal,
        listener=lambda event: listener[0](event),
        config=ExecutorConfig(),
    )
    em = ExecManager(
        venue=venue,
        book=book,
        risk=risk,
        strategy=strategy,
        journal=journal,
        clock=clock,
        instruments=instruments,
        ids=ClientOrderIds("bench"),
        config=ExecConfig(symbols=(SYMBOL,), bar_source=bar_source, bar_interval=bar_interval),
        gap_open=lambda symbol: False,
        clock_offset_ms=lambda: rest.stats.last_rtt_ms // 2,
        journal_peak=journal_peak,
    )
    listener.append(em.on_event)
    venue._running = True  # started without start(): no socket, no background loops
    session.on_frame = venue._on_frame  # the user stream's callback: fills come this way
    return Rig(em, venue, rest, session, clock, journal)


def _raise(exc: BaseException) -> None:
    raise exc


def _fields(config: RiskConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


class CallCounter:
    """How many Python functions and C functions an ordering tick calls before its request
    reaches the HTTP session (`sys.setprofile`, counted per module): deterministic, unlike the
    times, so it shows what a change of code did. It is not what the time follows: cutting the
    ordering tick from 81 to 50 Python calls changed nothing beyond the noise (README,
    "Tick-to-order: what sets it"); `StageTimer` shows where the time goes."""

    def __init__(self, *, trace: bool = False) -> None:
        self.samples: list[Counter[str]] = []
        # With `trace`: every call of the last counted ordering tick, in order, indented by
        # depth ("py module.qualname" / "C name"), to see which ones an order path makes.
        self.trace: list[str] | None = [] if trace else None
        self._tracing: list[str] = []
        # The first ordering tick apart: it also plans the signing of its request shape and
        # builds the URL (once per process: ~30 calls no later order makes).
        self.first: Counter[str] | None = None
        # Python calls of each trade tick that did not order (the strategy said nothing new):
        # the quiet tick every trade between two orders costs.
        self.quiet: list[int] = []
        self._calls: Counter[str] = Counter()
        self._done = False

    # How the counting hook is set and taken off: a C call, not counted itself.
    _set_hook: Callable[[Any], None] = staticmethod(sys.setprofile)

    def start(self) -> None:
        self._calls = Counter()
        self._tracing = []
        self._done = False
        self._set_hook(self._event)

    def stop(self, *, ordered: bool) -> None:
        self._set_hook(None)
        if ordered and self._done:
            if self.first is None:
                self.first = self._calls
            else:
                self.samples.append(self._calls)
                if self.trace is not None:
                    self.trace = self._tracing
        elif not ordered:
            self.quiet.append(sum(n for k, n in self._calls.items() if k.startswith("py ")))

    def _event(self, frame: Any, event: str, arg: Any) -> None:
        if self._done:
            return
        if event == "call":
            code = frame.f_code
            if code is _POST_CODE:
                self._done = True  # handed to the session: stop counting
                return
            if code is _STOP_CODE:
                return  # the counter's own `stop`, after the tick
            module = frame.f_globals.get("__name__", "?")
            self._calls[f"py {module}"] += 1
            if self.trace is not None:
                self._tracing.append(f"{_depth(frame)}py {module}.{code.co_qualname}")
        elif event == "c_call":
            module = (
                getattr(arg, "__module__", None) or type(getattr(arg, "__self__", arg)).__name__
            )
            self._calls[f"C {module}"] += 1
            if self.trace is not None:
                name = getattr(arg, "__qualname__", repr(arg))
                self._tracing.append(f"{_depth(frame)}  C {name}")

    def report(self, out: Callable[[str], None] = print) -> None:
        if not self.samples:
            out("calls before the hand-off: no ordering tick was counted")
            return
        totals = sorted(self.samples, key=lambda c: sum(c.values()))
        median = totals[len(totals) // 2]
        py = sum(n for k, n in median.items() if k.startswith("py "))
        c = sum(n for k, n in median.items() if k.startswith("C "))
        top = ", ".join(f"{k} {n}" for k, n in median.most_common(8))
        out(
            f"calls before the hand-off (median of {len(self.samples)} ordering ticks after "
            f"the first): {py} Python, {c} C; most: {top}"
        )
        if self.trace:
            out("  the calls of the last one, in order (indented by depth):")
            base = min(len(line) - len(line.lstrip()) for line in self.trace)
            for line in self.trace:
                out(f"    {line[base:]}")
        if self.first is not None:
            py = sum(n for k, n in self.first.items() if k.startswith("py "))
            c = sum(n for k, n in self.first.items() if k.startswith("C "))
            out(f"  the process's first ordering tick (plans its signing once): {py} Python, {c} C")
        if self.quiet:
            quiet = sorted(self.quiet)
            out(
                f"  a trade tick that does not order: {quiet[len(quiet) // 2]} Python calls "
                f"(median of {len(quiet)})"
            )


_STOP_CODE = CallCounter.stop.__code__


class OpcodeCounter(CallCounter):
    """How many bytecodes each Python function of an ordering tick runs before the request
    reaches the HTTP session (`sys.settrace` with `f_trace_opcodes`): deterministic like the
    call counts, and closer to what the time follows (2026-12-03: 135 bytecodes fewer, 2,948 ->
    2,813, gave ~1.2 us of p50; bench/HISTORY.md). C functions run no bytecode: orjson, the
    HMAC and Decimal arithmetic are not in it. `start` and `stop` are CallCounter's, with
    `sys.settrace` for the hook."""

    _set_hook: Callable[[Any], None] = staticmethod(sys.settrace)

    def _event(self, frame: Any, event: str, arg: Any) -> Any:  # the trace function
        if self._done:
            return None
        code = frame.f_code
        if event == "call":
            if code is _POST_CODE:
                self._done = True  # handed to the session: stop counting
                return None
            if code is _STOP_CODE:
                return None
            frame.f_trace_opcodes = True
            frame.f_trace_lines = False
            return self._event
        if event == "opcode":
            self._calls[f"{frame.f_globals.get('__name__', '?')}.{code.co_qualname}"] += 1
        return self._event

    def report(self, out: Callable[[str], None] = print) -> None:
        if not self.samples:
            out("bytecodes before the hand-off: no ordering tick was counted")
            return
        ordered = sorted(self.samples, key=lambda c: sum(c.values()))
        median = ordered[len(ordered) // 2]
        top = ", ".join(f"{k} {n}" for k, n in median.most_common(10))
        out(
            f"bytecodes before the hand-off (the ordering tick of median count of "
            f"{len(self.samples)}, after the first): {sum(median.values()):,} in "
            f"{len(median)} Python functions; most: {top}"
        )


class StageTimer:
    """Where an ordering tick's time goes: the stages of the order path timed where they run
    (each method wrapped by a timer for one run), as the offset from the tick's start at which
    each begins and how long it takes until the request reaches the session; and the signing
    again in a tight loop on the last order's parameters, to set the cost in place against the
    cost with warm caches. The wrappers add ~0.3 us a stage."""

    STAGES: tuple[tuple[str, type, str], ...] = (
        ("strategy.on_trade", FlipStrategy, "on_trade"),
        ("ExecManager._decide", ExecManager, "_decide"),
        ("ExecManager._work_target", ExecManager, "_work_target"),
        ("ExecManager._submit", ExecManager, "_submit"),
        ("RiskManager.check", RiskManager, "check"),
        ("journal.record_many", SqliteJournal, "record_many"),
        ("journal._append", SqliteJournal, "_append"),
        ("LiveVenue.submit", LiveVenue, "submit"),
        ("RestConnection.sign", RestConnection, "sign"),
        ("RestConnection.start", RestConnection, "start"),
        ("FakeSession.post", FakeSession, "post"),
    )

    def __init__(self) -> None:
        self._spans: list[tuple[str, int, int]] = []  # (stage, start ns, end ns) of this tick
        self.ticks: list[tuple[int, list[tuple[str, int, int]]]] = []  # (tick start, spans)
        self.last_sign: tuple[RestConnection, str, dict[str, Any]] | None = None
        self._saved: list[tuple[type, str, Any]] = []

    def install(self) -> None:
        for label, cls, name in self.STAGES:
            original = cls.__dict__[name]
            self._saved.append((cls, name, original))
            setattr(cls, name, self._timed(label, original))

    def uninstall(self) -> None:
        for cls, name, original in reversed(self._saved):
            setattr(cls, name, original)
        self._saved.clear()

    def _timed(self, label: str, original: Any) -> Any:
        spans, clock = self._spans, time.perf_counter_ns
        signing = label == "RestConnection.sign"

        def timed(*args: Any, **kwargs: Any) -> Any:
            if signing:
                self.last_sign = (args[0], args[1], kwargs)
            t0 = clock()
            try:
                return original(*args, **kwargs)
            finally:
                spans.append((label, t0, clock()))

        return timed

    def start(self) -> None:
        self._spans.clear()

    def stop(self, t0: int, *, ordered: bool) -> None:
        if ordered:
            self.ticks.append((t0, list(self._spans)))

    def report(self, out: Callable[[str], None] = print) -> None:
        offsets: dict[str, list[float]] = {}
        durations: dict[str, list[float]] = {}
        ends: list[float] = []
        for t0, spans in self.ticks[5:]:  # the first orders plan and build what later reuse
            post = next((a for label, a, _ in spans if label == "FakeSession.post"), None)
            if post is None:
                continue
            ends.append((post - t0) / 1000)
            for label, a, b in spans:
                if a <= post and label != "FakeSession.post":
                    offsets.setdefault(label, []).append((a - t0) / 1000)
                    durations.setdefault(label, []).append((min(b, post) - a) / 1000)
        if not ends:
            out("stages: no ordering tick was timed")
            return
        out(
            f"stages of the ordering tick, in place (median of {len(ends)} ticks; the request "
            f"reached the session at {statistics.median(ends):.1f} us):"
        )
        for label in sorted(offsets, key=lambda k: statistics.median(offsets[k])):
            out(
                f"  {label:26s} starts at {statistics.median(offsets[label]):6.1f} us, takes "
                f"{statistics.median(durations[label]):6.1f} us"
            )
        if self.last_sign is not None:
            rest, method, params = self.last_sign
            sign = self._saved_original(RestConnection, "sign")
            n = 5000
            t = time.perf_counter_ns()
            for _ in range(n):
                sign(rest, method, **params)
            warm = (time.perf_counter_ns() - t) / n / 1000
            out(
                "  RestConnection.sign in a tight loop on the last order's parameters: "
                f"{warm:.1f} us"
            )

    def _saved_original(self, cls: type, name: str) -> Any:
        for c, n, original in self._saved:
            if c is cls and n == name:
                return original
        return getattr(cls, name)


def _depth(frame: Any) -> str:
    """Two spaces per frame below the outermost: the nesting of a traced call."""
    depth = 0
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return "  " * depth


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Result:
    journal: str
    strategy: str
    every: int
    order_us: list[float]  # tick-to-order per ordering tick
    order_sync_us: list[float]  # on_item's own time on those ticks (until it returned)
    order_cpu_us: list[float]  # CPU time of this thread over the same span
    idle_us: dict[str, list[float]]  # on_item time of ticks that did not order, by item type
    items: int
    wall_s: float
    orders_posted: int
    algo_requests: int
    fills: int
    denied: int
    unexpected: int
    rig: Rig | None = None
    handed_in_call: int = 0  # ordering ticks whose request reached the session inside on_item
    checkpoints: int = 0  # the restart's checkpoints the journal's applier wrote meanwhile
    rehearse_every: int = REHEARSE_EVERY  # the sink rehearses the order path every this many
    # items (0: never)
    rehearsals: int = 0


async def measure(
    items: Iterator[object],
    *,
    start_ms: int,
    max_items: int,
    orders: int,
    journal_mode: str,
    strategy_name: str,
    every: int,
    tmp: Path,
    keep_sent: bool = False,
    calls: CallCounter | None = None,
    stages: StageTimer | None = None,
    checkpoints: bool = True,
    rehearse_every: int = REHEARSE_EVERY,
) -> Result:
    if strategy_name == "flip":
        strategy: TradingStrategy = FlipStrategy(every=every, qty=Decimal("0.002"))
        bar_source, bar_interval = BarSource.KLINES, "1m"
    else:
        strategy = SmaCrossover(
            fast=10,
            slow=50,
            order_notional_usdt=Decimal(200),
            instruments=load_instruments(),
        )
        bar_source, bar_interval = BarSource.TRADES, "1s"
    journal: Journal
    if journal_mode == MEMORY:
        journal = MemoryJournal()
    else:
        jdir = tmp / f"journal-{journal_mode}-{strategy_name}"
        # As the daemon opens it: applied to the tables by a task of this loop (run_applier).
        journal = SqliteJournal(jdir, synchronous=Synchronous(journal_mode), writer_thread=False)
    rig = await build(
        strategy=strategy,
        journal=journal,
        start_ms=start_ms,
        kill_file=tmp / "KILL",  # never created
        bar_source=bar_source,
        bar_interval=bar_interval,
        checkpoints=checkpoints,
    )
    em, venue, session, clock = rig.exec_manager, rig.venue, rig.session, rig.clock
    applier = (
        asyncio.create_task(run_applier(journal)) if isinstance(journal, SqliteJournal) else None
    )
    collector = asyncio.create_task(collect_between_items())  # as the daemon runs it
    session.keep_sent = keep_sent
    # What the daemon's DataStream hands each item to: its sink, with an armed pause watch.
    watch = PauseWatch(clock.now_ms, lambda _idle_ms: None)
    watch.arm()
    on_item = ItemSink(
        em.on_item,
        clock=clock,
        tick=watch.tick,
        on_stream_state=lambda _change: None,
        on_journal_error=_raise,
        rehearse=em.rehearse_order,  # as the daemon's sink, every `rehearse_every_items`
        rehearse_every=rehearse_every,
        rehearse_every_ms=REHEARSE_EVERY_MS,
    )
    now_ns = time.perf_counter_ns
    tasks = venue._tasks
    order_us: list[float] = []
    order_sync_us: list[float] = []
    order_cpu_us: list[float] = []
    cpu_ns = time.thread_time_ns
    idle: dict[str, list[float]] = {"Trade": [], "BookTicker": [], "MarkPrice": []}
    sleep0 = asyncio.sleep
    gc.collect()
    gc.freeze()  # the tape is the benchmark's, not the daemon's: keep it out of GC passes
    started = time.perf_counter()
    n = 0
    handed_in_call = 0
    for item in items:
        n += 1
        is_trade = item.__class__ is Trade
        if is_trade:
            session.last_price = item.price  # type: ignore[attr-defined]
        clock.now = max(clock.now, item_time(item))  # behind the tape after a governor's pause
        before = session.order_posts
        submitted = em.counters.submitted
        if calls is not None and is_trade:
            calls.start()
        if stages is not None:
            stages.start()
        c0 = cpu_ns()
        t0 = now_ns()
        on_item(item)
        t1 = now_ns()
        if calls is not None and is_trade:
            calls.stop(ordered=session.order_posts != before)
        if stages is not None:
            stages.stop(t0, ordered=session.order_posts != before)
        if em.counters.submitted != submitted:
            if session.order_posts != before:
                handed_in_call += 1
            # Not handed over yet (the governor made it wait): let the loop run the venue's
            # submit task to session.post.
            while session.order_posts == before and tasks:
                await sleep0(0)
            if session.order_posts != before:
                order_us.append((session.last_order_ns - t0) / 1000)
                order_sync_us.append((t1 - t0) / 1000)
                order_cpu_us.append((session.last_order_cpu_ns - c0) / 1000)
        else:
            idle[type(item).__name__].append((t1 - t0) / 1000)
        # What the DataStream's reader does between two items: await the next message, which
        # lets the loop run the venue's tasks and the fills.
        await sleep0(0)
        while tasks or session.pending_frames:
            await sleep0(0)
        if len(order_us) >= orders or n >= max_items:
            break
    wall = time.perf_counter() - started
    gc.unfreeze()
    result = Result(
        journal=journal_mode,
        strategy=strategy_name,
        every=every,
        order_us=order_us,
        order_sync_us=order_sync_us,
        order_cpu_us=order_cpu_us,
        idle_us=idle,
        handed_in_call=handed_in_call,
        items=n,
        wall_s=wall,
        orders_posted=session.order_posts,
        algo_requests=venue.stats.submitted - session.order_posts,
        fills=em.counters.fills,
        denied=em.counters.denied,
        unexpected=session.unexpected,
        rig=rig,
        checkpoints=journal.checkpoints_written if isinstance(journal, SqliteJournal) else 0,
        rehearse_every=rehearse_every,
        rehearsals=em.rehearsals,
    )
    await rig.rest.close()
    collector.cancel()
    if applier is not None:
        applier.cancel()
    if isinstance(journal, SqliteJournal):
        journal.close()
    return result


def _label(r: "Result") -> str:
    journal = "MemoryJournal" if r.journal == MEMORY else f"SqliteJournal {r.journal}"
    # As the daemon runs (its default rehearsal) unless said otherwise
    if r.rehearse_every == REHEARSE_EVERY:
        warm = ""
    elif r.rehearse_every:
        warm = f", order path rehearsed every {r.rehearse_every} items"
    else:
        warm = ", no rehearsal"
    if r.strategy == "flip":
        return f"flip every {r.every}th trade, {journal}{warm}"
    return f"SmaCrossover 10/50 on 1s bars, {journal}{warm}"


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def report(r: Result, out: Callable[[str], None] = print) -> bool:
    """Print the figures of one run; True when the targets are met."""
    s = r.order_us
    if not s:
        out(f"tick-to-order ({_label(r)}): no ordering tick")
        return False
    p50, p99, p999 = pct(s, 50), pct(s, 99), pct(s, 99.9)
    ok = p50 <= P50_TARGET_US and p99 <= P99_TARGET_US
    sync50 = pct(r.order_sync_us, 50)
    out(
        f"tick-to-order ({_label(r)}; {len(s):,} ordering ticks): "
        f"p50 {p50:.1f} us, p99 {p99:.1f} us, p99.9 {p999:.1f} us, max {max(s):.1f} us, "
        f"mean {statistics.fmean(s):.1f} us [{'under' if ok else 'ABOVE'} the issue's "
        f"p50 <= {P50_TARGET_US:.0f} us, p99 <= {P99_TARGET_US:.0f} us on this machine today; "
        f"the target is the ratio to the lean loop, below]"
    )
    c = r.order_cpu_us
    out(
        f"  CPU time of the same spans (without preemption and I/O waits): p50 "
        f"{pct(c, 50):.1f} us, p99 {pct(c, 99):.1f} us, p99.9 {pct(c, 99.9):.1f} us"
    )
    out(
        f"  handed to the HTTP session inside on_item (no loop hop): {r.handed_in_call:,} of "
        f"{len(s):,}; on_item's whole time on those ticks (incl. the books and the order "
        f"tracking after the hand-off, the answer's task started): p50 {sync50:.1f} us"
    )
    parts = []
    for kind, values in r.idle_us.items():
        if values:
            parts.append(
                f"{kind} p50 {pct(values, 50):.1f} / p99 {pct(values, 99):.1f} / mean "
                f"{statistics.fmean(values):.1f} us ({len(values):,})"
            )
    out("  non-ordering ticks, on_item: " + "; ".join(parts))
    idle_all = [v for values in r.idle_us.values() for v in values]
    if idle_all:
        out(
            f"  non-ordering items through on_item: {1e6 / statistics.fmean(idle_all):,.0f}/s; "
            f"the whole run incl. the event loop and the fills: {r.items / r.wall_s:,.0f} items/s"
        )
    out(
        f"  run: {r.items:,} items, {r.orders_posted:,} orders posted, {r.algo_requests:,} "
        f"stop-loss orders, {r.fills:,} fills, {r.denied:,} denied, {r.unexpected} unexpected "
        f"requests, {r.checkpoints} checkpoints written by the journal, {r.rehearsals:,} "
        "order path rehearsals"
    )
    return ok


REFERENCE_P50_US, REFERENCE_P99_US = reference.REFERENCE_P50_US, reference.REFERENCE_P99_US
REFERENCE_EVERY = 50  # the order rate `reference.measure` times by default


def _mean_timing(before: reference.Timing, after: reference.Timing) -> tuple[float, float]:
    """The loop's p50 and p99 over the runs: the mean of the two taken around them (us)."""
    return (before.p50_us + after.p50_us) / 2, (before.p99_us + after.p99_us) / 2


def compare(
    results: Sequence[Result],
    before: reference.Timing,
    after: reference.Timing,
    out: Callable[[str], None] = print,
    at_rates: Mapping[int, tuple[reference.Timing, reference.Timing]] | None = None,
) -> None:
    """Each run's p50 and p99 as multiples of the lean loop's, measured in this process: a
    ratio that holds across days when the machine's speed does not. `at_rates`: the loop
    timed before and after the runs at another order rate (one order in N trades: its caches
    colder too), for the runs at that rate; the others take `before` and `after`."""
    ref50, ref99 = _mean_timing(before, after)
    out(
        f"against the lean reference loop (bench_reference_loop.py, {before.orders:,} ordering "
        f"ticks, in this process): p50 {before.p50_us:.1f} us before the runs, "
        f"{after.p50_us:.1f} us after; p99 {before.p99_us:.1f} / {after.p99_us:.1f} us; "
        f"ratios against their means, {ref50:.2f} / {ref99:.2f} us"
    )
    rates = dict(at_rates or {})
    for every, (b, a) in rates.items():
        r50, r99 = _mean_timing(b, a)
        out(
            f"  the loop at one order in {every:,} trades ({b.orders:,} ordering ticks): p50 "
            f"{b.p50_us:.1f} / {a.p50_us:.1f} us, p99 {b.p99_us:.1f} / {a.p99_us:.1f} us; "
            f"means {r50:.2f} / {r99:.2f} us, for the runs at that rate"
        )
    target50 = P50_TARGET_US / REFERENCE_P50_US
    target99 = P99_TARGET_US / REFERENCE_P99_US
    for r in results:
        if not r.order_us:
            out(f"  {_label(r)}: no ordering tick")
            continue
        r50, r99 = _mean_timing(*rates[r.every]) if r.every in rates else (ref50, ref99)
        p50, p99 = pct(r.order_us, 50), pct(r.order_us, 99)
        met = p50 / r50 <= target50 and p99 / r99 <= target99
        out(
            f"  {_label(r)}: p50 {p50:.1f} us = {p50 / r50:.2f}x the lean loop's "
            f"{r50:.1f} us, p99 {p99:.1f} us = {p99 / r99:.2f}x its {r99:.1f} us; "
            f"the issue's target is {P50_TARGET_US:.0f}/{REFERENCE_P50_US:.0f} = "
            f"{target50:.2f}x, {P99_TARGET_US:.0f}/{REFERENCE_P99_US:.0f} = {target99:.2f}x "
            f"[{'met' if met else 'NOT MET'}]"
        )


def spread(
    results: Sequence[Result],
    before: reference.Timing,
    after: reference.Timing,
    out: Callable[[str], None] = print,
    at_rates: Mapping[int, tuple[reference.Timing, reference.Timing]] | None = None,
) -> None:
    """Per run kind (journal mode and order rate), the median and range of the repeated runs'
    p50s: how far one run's figure can be trusted on this machine today (`at_rates`: as in
    `compare`)."""
    rates = dict(at_rates or {})
    kinds: dict[str, list[float]] = {}
    every_of: dict[str, int] = {}
    for r in results:
        if r.order_us:
            kinds.setdefault(_label(r), []).append(pct(r.order_us, 50))
            every_of[_label(r)] = r.every
    for label, p50s in kinds.items():
        every = every_of[label]
        ref50, _ = _mean_timing(*rates[every]) if every in rates else _mean_timing(before, after)
        median = statistics.median(p50s)
        low, high = min(p50s), max(p50s)
        out(
            f"{label}, {len(p50s)} runs alternating: p50s "
            + ", ".join(f"{v:.1f}" for v in p50s)
            + f" us; median {median:.1f} us = {median / ref50:.2f}x the lean loop's "
            f"{ref50:.1f} us, spread {low:.1f}-{high:.1f} us "
            f"({(low - median) / median:+.0%} / {(high - median) / median:+.0%} of the median)"
        )


def ecdf(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """The empirical CDF of `values`: each value in order, and the share of them at or below."""
    xs = sorted(values)
    n = len(xs)
    return xs, [(i + 1) / n for i in range(n)]


def plot(results: Sequence[Result], allowed_p50_us: Mapping[int, float], path: Path) -> Any:
    """Each run's tick-to-order times as an empirical CDF on a log axis (where its p50 and p99
    sit is where it crosses 0.5 and 0.99), with the issue's 50 / 250 us and, per order rate,
    the p50 that the ratio target allows there (`allowed_p50_us`: 4.55x the lean loop's p50
    at that rate). Saved as a PNG at `path`; returns the (closed) figure."""
    from matplotlib.ticker import FuncFormatter

    from analysis._common import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(11, 6.5))
    for r in results:
        if r.order_us:
            xs, ys = ecdf(r.order_us)
            p50 = pct(r.order_us, 50)
            ax.step(xs, ys, where="post", label=f"{_label(r)}: p50 {p50:.1f} us")
    ax.axvline(P50_TARGET_US, color="black", linestyle="--", linewidth=1, label="p50 <= 50 us")
    ax.axvline(P99_TARGET_US, color="black", linestyle=":", linewidth=1, label="p99 <= 250 us")
    ratio = P50_TARGET_US / REFERENCE_P50_US
    for every, allowed in sorted(allowed_p50_us.items()):
        ax.axvline(
            allowed,
            color="tab:red" if every == REFERENCE_EVERY else "tab:purple",
            linestyle="-.",
            linewidth=1,
            label=f"p50 allowed at one order in {every:,} trades: {ratio:.2f}x the lean loop = "
            f"{allowed:.1f} us",
        )
    for share in (0.5, 0.99):
        ax.axhline(share, color="grey", linewidth=0.5)
    ax.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 40, 60, 100 rather than 4x10^1
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.set_xlabel("tick-to-order, us (log scale)")
    ax.set_ylabel("share of ordering ticks at or below")
    ax.set_ylim(0, 1.01)
    ax.set_title("Tick-to-order: a parsed trade to the signed request handed to the HTTP session")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    save(fig, path)
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=2000, help="ordering ticks to sample")
    parser.add_argument("--every", type=int, default=50, help="flip: order on every Nth trade")
    parser.add_argument("--strategy", choices=("flip", "sma"), default="flip")
    parser.add_argument(
        "--journals",
        default="NORMAL,FULL,MEMORY",
        help="SqliteJournal synchronous modes to run, and MEMORY (no SQLite)",
    )
    parser.add_argument(
        "--cold-every",
        type=int,
        default=2000,
        help="flip: a second run ordering on every Nth trade only (caches cold, as in the daemon)",
    )
    parser.add_argument("--cold-orders", type=int, default=300, help="0 = no cold run")
    parser.add_argument("--cold-journals", default="NORMAL,MEMORY")
    parser.add_argument("--items", type=int, default=0, help="at most this many items per run")
    parser.add_argument(
        "--calls", type=int, default=50, help="ordering ticks whose calls are counted; 0 = none"
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="with --calls: print the calls of the last counted ordering tick, in order",
    )
    parser.add_argument(
        "--opcodes",
        type=int,
        default=0,
        help="ordering ticks whose bytecodes are counted per function (sys.settrace); 0 = none",
    )
    parser.add_argument(
        "--stages",
        type=int,
        default=0,
        help="ordering ticks (SqliteJournal NORMAL) whose stages are timed in place; 0 = none",
    )
    parser.add_argument(
        "--without-checkpoints",
        action="store_true",
        help="the SqliteJournal without the restart's checkpoints and the new-peak snapshots "
        "(as before them), for comparison",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of the runs, alternating the journal modes; > 1 prints the median and "
        "spread of each mode's p50s",
    )
    parser.add_argument(
        "--rehearse-every",
        default=str(REHEARSE_EVERY),
        help="the sink rehearses the order path every this many items, as the daemon's "
        f"`rehearse_every_items` ({REHEARSE_EVERY}); 0 = never; a comma-separated list runs "
        "each (e.g. 50,0 to compare)",
    )
    parser.add_argument(
        "--reference-orders",
        type=int,
        default=20_000,
        help="ordering ticks of the lean reference loop timed before and after the runs",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="also draw each run's tick-to-order times as a CDF, with the targets, into this PNG",
    )
    args = parser.parse_args(argv)
    if args.plot is not None and args.plot.suffix.lower() != ".png":
        parser.error(f"--plot {args.plot}: expected a .png file name")
    if args.repeat < 1 or args.reference_orders < 1:
        parser.error("--repeat and --reference-orders take a count of at least 1")
    try:
        rehearse_every = [int(v) for v in args.rehearse_every.split(",") if v.strip()]
    except ValueError:
        rehearse_every = [-1]
    if not rehearse_every or min(rehearse_every) < 0:
        parser.error("--rehearse-every takes item counts >= 0, comma-separated")
    logging.basicConfig(level=logging.ERROR)
    runs: list[tuple[str, int, int, int]] = []  # (journal, every, orders, rehearse_every)
    for spec, every, orders in (
        (args.journals, args.every, args.orders),
        (args.cold_journals, args.cold_every, args.cold_orders if args.strategy == "flip" else 0),
    ):
        for mode in (m.strip().upper() for m in spec.split(",") if m.strip()):
            if mode != MEMORY:
                Synchronous(mode)  # ValueError on a typo
            if orders > 0:
                runs.extend((mode, every, orders, warm) for warm in rehearse_every)

    one, span_ms = capture()
    trades = sum(1 for i in one if i.__class__ is Trade)
    per_trade = len(one) / trades
    load = os.getloadavg()
    print(
        f"data: BTCUSDT 2024-08-08 capture, {len(one):,} items a pass ({per_trade:.1f} items per "
        f"trade), looped; strategy {args.strategy}; load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} on {os.cpu_count()} CPUs"
    )
    print(
        "SqliteJournal "
        + (
            "without the restart's checkpoints and new-peak snapshots (--without-checkpoints)"
            if args.without_checkpoints
            else "as the daemon keeps it: the restart's replay fed and checkpointed by its "
            "applier, new drawdown peaks journaled"
        )
    )
    tape = reference.prices()
    before = reference.measure(args.reference_orders, tape=tape)
    # The loop also at each other order rate of the runs (the cold run's one in 2,000 trades),
    # over about as many trades as at one in 50.
    other_rates = sorted({every for _, every, _, _ in runs if every != REFERENCE_EVERY})

    def at_rate(every: int) -> reference.Timing:
        orders = max(200, args.reference_orders * REFERENCE_EVERY // every)
        return reference.measure(orders, every, tape=tape)

    rates_before = {every: at_rate(every) for every in other_rates}
    print(
        f"lean reference loop before the runs: p50 {before.p50_us:.1f} us, p99 "
        f"{before.p99_us:.1f} us ({args.reference_orders:,} ordering ticks, signed by "
        f"python-binance; issue 7's "
        f"{REFERENCE_P50_US:.0f}/{REFERENCE_P99_US:.0f} us)"
    )
    results: list[Result] = []
    # Each run in a directory of its own: a run that found the journal of the one before would
    # restore its orders and position and measure a restart, not the same run again.
    with tempfile.TemporaryDirectory() as tmp:
        for mode, every, orders, warm in runs * args.repeat:
            if args.items:
                max_items = args.items
            elif args.strategy == "flip":
                max_items = int(orders * every * per_trade * 1.5) + 10_000
            else:
                max_items = 1_000_000
            result = asyncio.run(
                measure(
                    endless_tape(one, span_ms),
                    start_ms=item_time(one[0]),
                    max_items=max_items,
                    orders=orders,
                    journal_mode=mode,
                    strategy_name=args.strategy,
                    every=every,
                    tmp=Path(tempfile.mkdtemp(dir=tmp)),
                    checkpoints=not args.without_checkpoints,
                    rehearse_every=warm,
                )
            )
            report(result)
            result.rig = None  # its books and venue would stay in the heap of later runs
            results.append(result)
        after = reference.measure(args.reference_orders, tape=tape)
        at_rates = {every: (rates_before[every], at_rate(every)) for every in other_rates}
        print(
            f"lean reference loop after the runs: p50 {after.p50_us:.1f} us, p99 "
            f"{after.p99_us:.1f} us"
        )
        compare(results, before, after, at_rates=at_rates)
        if args.repeat > 1:
            spread(results, before, after, at_rates=at_rates)
        if args.plot is not None:
            loops = {REFERENCE_EVERY: (before, after), **at_rates}
            allowed = {
                every: P50_TARGET_US / REFERENCE_P50_US * _mean_timing(*loops[every])[0]
                for every in sorted({r.every for r in results if r.order_us})
                if every in loops
            }
            plot(results, allowed, args.plot)
            print(f"tick-to-order distribution drawn in {args.plot}")

        def probe(orders: int, **kw: Any) -> None:
            """A run of `orders` ordering ticks, one in `--every` trades, SqliteJournal NORMAL,
            the flip strategy, that a counter or the stage timer watches (`kw`)."""
            asyncio.run(
                measure(
                    endless_tape(one, span_ms),
                    start_ms=item_time(one[0]),
                    max_items=int(orders * args.every * per_trade * 1.5) + 10_000,
                    orders=orders,
                    journal_mode=Synchronous.NORMAL.value,
                    strategy_name="flip",
                    every=args.every,
                    tmp=Path(tempfile.mkdtemp(dir=tmp)),
                    **kw,
                )
            )

        if args.calls > 0 and args.strategy == "flip":
            counter = CallCounter(trace=args.trace)
            # the first is reported apart; the order path's own calls, never a rehearsal's
            probe(args.calls + 1, calls=counter, rehearse_every=0)
            counter.report()
        if args.opcodes > 0 and args.strategy == "flip":
            opcodes = OpcodeCounter()
            # the first plans its signing: left out; the order path's own bytecodes only
            probe(args.opcodes + 1, calls=opcodes, rehearse_every=0)
            opcodes.report()
        if args.stages > 0 and args.strategy == "flip":
            timer = StageTimer()
            timer.install()
            try:
                probe(args.stages + 5, stages=timer)
                timer.report()
            finally:
                timer.uninstall()
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
