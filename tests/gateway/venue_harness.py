"""Helpers for the LiveVenue tests: one local exchange per test module (real data, real time),
a fresh exchange account per test (so orders and positions never leak between tests), an
event recorder with `wait_for`, and checks that every order event came exactly once."""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.clock import LiveClock
from core.enums import OrderType, Side, TimeInForce
from core.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
    OrderRejected,
    OrderStatusUnknown,
)
from core.journal import MemoryJournal
from core.orders import ClientOrderIds, OrderRequest
from exchange_sim.server import LocalExchange, RateLimitConfig
from exchange_sim.server.auth import Credentials
from gateway.main_gateway import ExecutorConfig, LiveVenue
from rest_connect import LimitKind, RateGovernor, RateLimit, create_rest_connection

SYMBOL = "BTCUSDT"
DATASET = "btcusdt-2024-08-08"
TICK = Decimal("0.10")

# Many tests share one exchange (and 127.0.0.1): lift the limits so they never slow each other.
GENEROUS = RateLimitConfig(
    weight_limit=1_000_000, orders_10s_limit=100_000, orders_1m_limit=1_000_000
)
GOVERNOR_LIMITS = (
    RateLimit(kind=LimitKind.WEIGHT, limit=10**6, window_ms=60_000, header="X-MBX-USED-WEIGHT-1M"),
    RateLimit(kind=LimitKind.ORDERS, limit=10**5, window_ms=10_000, header="X-MBX-ORDER-COUNT-10S"),
    RateLimit(kind=LimitKind.ORDERS, limit=10**6, window_ms=60_000, header="X-MBX-ORDER-COUNT-1M"),
)

FAST = ExecutorConfig(
    reconcile_interval_s=0,
    deadman_refresh_s=1.0,
    deadman_countdown_ms=60_000,
    recv_window_ms=2000,
    unknown_grace_ms=300,
    resolve_initial_s=0.05,
    resolve_max_s=0.4,
    reconnect_initial_s=0.05,
    reconnect_max_s=0.5,
    ws_open_timeout_s=3.0,
    start_timeout_s=10.0,
    stop_timeout_s=3.0,
)


async def start_exchange() -> LocalExchange:
    return await LocalExchange(
        data=DATASET, symbols=[SYMBOL], speed=1.0, rate_limits=GENEROUS
    ).start()


class Recorder:
    """The venue's listener: keeps every event, lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        # What a timed-out wait reports besides the events (the session sets it: the venue's,
        # stream's and REST counters and the exchange's own record of the order).
        self.describe: Callable[[str | None], str] | None = None

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: Any, cid: str | None = None) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind) and (cid is None or _cid(e) == cid)]

    async def wait_for(
        self, kind: Any, cid: str | None = None, *, where: Callable[[Any], bool] | None = None,
        within_s: float = 10.0,
    ) -> Any:  # fmt: skip
        """The first event of `kind` (for `cid`, matching `where`), waiting if needed.
        On timeout, the TimeoutError says what did arrive (and `describe`'s state)."""
        try:
            async with asyncio.timeout(within_s):
                while True:
                    for e in self.of(kind, cid):
                        if where is None or where(e):
                            return e
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError as exc:
            raise TimeoutError(self._missing(kind, cid, within_s)) from exc

    def _missing(self, kind: Any, cid: str | None, within_s: float) -> str:
        """Why a wait timed out: the events recorded (of `cid`, if given) and `describe`."""
        seen = [e for e in self.events if cid is None or _cid(e) == cid]
        lines = [f"no {getattr(kind, '__name__', kind)} for {cid} within {within_s} s; recorded:"]
        lines += [f"  {e!r}" for e in seen[-30:]]
        if self.describe is not None:
            try:
                lines.append(self.describe(cid))
            except Exception as exc:  # a diagnostic must not hide the timeout
                lines.append(f"(describe failed: {exc!r})")
        return "\n".join(lines)

    async def until(self, condition: Callable[[], bool], *, within_s: float = 10.0) -> None:
        """Wait until `condition()` holds (checked on every event and every 50 ms)."""
        async with asyncio.timeout(within_s):
            while not condition():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)


def _cid(event: Event) -> str | None:
    if isinstance(event, OrderFilled | OrderPartiallyFilled):
        return event.fill.client_order_id
    return getattr(event, "client_order_id", None)


def assert_each_event_once(rec: Recorder) -> None:
    """No order event twice for one order, no fill twice (the exactly-once contract)."""
    once = (
        OrderAccepted,
        OrderCanceled,
        OrderExpired,
        OrderRejected,
        OrderFilled,
        OrderStatusUnknown,
        OrderReconciled,
    )
    keys = Counter(
        (type(e).__name__, _cid(e), getattr(e, "status", None))
        for e in rec.events
        if isinstance(e, once)
    )
    assert [k for k, n in keys.items() if n > 1] == []
    trades = Counter(
        e.fill.trade_id for e in rec.events if isinstance(e, OrderFilled | OrderPartiallyFilled)
    )
    assert [t for t, n in trades.items() if n > 1] == []


@dataclass
class Session:
    """One venue on its own exchange account."""

    ex: LocalExchange
    creds: Credentials
    venue: LiveVenue
    rec: Recorder
    journal: MemoryJournal
    ids: ClientOrderIds
    extra: list[Any] = field(default_factory=list)

    @property
    def account(self) -> str:
        return str(self.creds.account_id)

    def exchange_orders(self) -> list[dict[str, Any]]:
        """Every order of this account at the exchange (read from the engine, no REST)."""
        return self.ex.engine.all_orders(self.account, {"symbol": SYMBOL, "limit": "1000"})

    def exchange_order(self, cid: str) -> dict[str, Any]:
        (row,) = [o for o in self.exchange_orders() if o["clientOrderId"] == cid]
        return row

    def exchange_position(self) -> Decimal:
        rows = self.ex.engine.position_risk(self.account, {"symbol": SYMBOL}, version=3)
        return sum((Decimal(r["positionAmt"]) for r in rows), Decimal(0))

    def top(self) -> tuple[Decimal, Decimal]:
        top = self.ex.engine.book_top(SYMBOL)
        assert top is not None
        return top[0], top[2]

    def limit(
        self,
        side: Side = Side.BUY,
        *,
        qty: str = "0.002",
        offset: str = "0.97",
        tif: TimeInForce = TimeInForce.GTC,
        price: Decimal | None = None,
        reduce_only: bool = False,
    ) -> OrderRequest:
        """A LIMIT order `offset` x the touch (default: far from the market, it rests)."""
        bid, ask = self.top()
        if price is None:
            ref = bid if side is Side.BUY else ask
            factor = Decimal(offset) if side is Side.BUY else 2 - Decimal(offset)
            price = self.ex.instruments[SYMBOL].round_price(ref * factor, side)
        return OrderRequest(
            symbol=SYMBOL,
            side=side,
            type=OrderType.LIMIT,
            quantity=Decimal(qty),
            price=price,
            time_in_force=tif,
            reduce_only=reduce_only,
            client_order_id=self.ids.next(),
        )

    def market(self, side: Side = Side.BUY, *, qty: str = "0.002", reduce_only: bool = False):
        return OrderRequest(
            symbol=SYMBOL,
            side=side,
            type=OrderType.MARKET,
            quantity=Decimal(qty),
            reduce_only=reduce_only,
            client_order_id=self.ids.next(),
        )


@contextlib.asynccontextmanager
async def session(
    ex: LocalExchange,
    *,
    config: ExecutorConfig = FAST,
    timeout_s: float = 5.0,
    recv_window_ms: int = 2000,
    prefix: str = "t",
    creds: Credentials | None = None,
    start: bool = True,
    stop_cancels: bool = True,
    journal: Any = None,
) -> AsyncIterator[Session]:
    """A started LiveVenue on a fresh account; stopped (and faults cleared) on the way out."""
    creds = creds or ex.create_account()
    clock = LiveClock()
    rest = await create_rest_connection(
        rest_url=ex.rest_url,
        api_key=creds.api_key,
        api_secret=creds.api_secret,
        clock=clock,
        recv_window_ms=recv_window_ms,
        timeout_s=timeout_s,
        governor=RateGovernor(clock=clock, limits=GOVERNOR_LIMITS),
    )
    rec = Recorder()
    journal = journal if journal is not None else MemoryJournal()
    venue = LiveVenue(
        rest=rest,
        ws_url=ex.ws_url,
        symbols=[SYMBOL],
        instruments=ex.instruments,
        clock=clock,
        journal=journal,
        listener=rec,
        config=config,
    )
    s = Session(ex, creds, venue, rec, journal, ClientOrderIds(prefix))
    rec.describe = lambda cid: _describe(s, rest, cid)
    try:
        if start:
            await venue.start()
        yield s
    finally:
        ex.faults.clear()
        await venue.stop(cancel_orders=stop_cancels)
        await rest.close()


def _describe(s: Session, rest: Any, cid: str | None) -> str:
    """The state a timed-out wait is read against: was the order executed at the exchange, did
    the user stream drop or the REST layer resync / lose an answer."""
    lines = [
        f"user stream: {s.venue.stream.stats}",
        f"venue: {s.venue.stats}",
        f"rest: {rest.stats}",
    ]
    if cid is not None:
        rows = [o for o in s.exchange_orders() if o["clientOrderId"] == cid]
        lines.append(f"exchange's order {cid}: {rows}")
        tracked = s.venue.order(cid)
        lines.append(f"venue's order {cid}: {tracked}")
    return "\n".join(lines)
