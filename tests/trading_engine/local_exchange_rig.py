"""The daemon's parts on a stepped local exchange, for end-to-end tests of one behaviour: a
LiveVenue over REST and the user stream, the ExecManager, RiskManager, BookKeeper and a
SqliteJournal wired as `trading_engine.daemon._start` wires them (without the market-data
streams: the test feeds the ExecManager), and a ScriptedStrategy.

The exchange replays `klines-week` (BTCUSDT, from 2025-05-06) and moves only when the test
steps it; account "demo". Times are ms; quantities in BTC; money in USDT.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from book_keeper.book_keeper import BookKeeper
from book_keeper.journal import SqliteJournal
from core.clock import LiveClock
from core.enums import OrderType, Side, TradingState
from core.errors import RetryableError
from core.events import Event, OrderFilled, OrderPartiallyFilled, VenueSnapshot
from core.market import MarkPrice
from core.orders import ClientOrderIds, OrderProposal
from exchange_sim.engine import EngineConfig
from exchange_sim.server import LocalExchange
from gateway.main_gateway import ExecutorConfig, LiveVenue
from rest_connect import RestConnection, create_rest_connection
from risk_manager.config import RiskConfig
from risk_manager.risk_manager import RiskManager
from tests.gateway.venue_harness import GENEROUS
from tests.trading_engine.support import ScriptedStrategy, make_bar
from trading_engine.account_checks import check_unknown_positions
from trading_engine.exec_manager import ExecConfig, ExecManager
from trading_engine.limits_restore import restore_limits as _restore_limits

SYMBOL = "BTCUSDT"
ACCOUNT = "demo"  # the local exchange's one account
VENUE = ExecutorConfig(
    reconcile_interval_s=0,  # the stream alone, unless a test reconciles
    deadman_countdown_ms=0,  # stepping minutes at a time would fire any countdown
    start_timeout_s=10.0,
    stop_timeout_s=3.0,
)


@contextlib.asynccontextmanager
async def stepped_exchange(
    *, balance: Decimal | None = None, engine_config: EngineConfig | None = None
) -> AsyncIterator[LocalExchange]:
    """A local exchange on 127.0.0.1 replaying `klines-week` one step at a time, stepped 1 min
    (its first synthesized trades and marks of 2025-05-06); rate limits out of the way."""
    options: dict[str, Any] = {} if balance is None else {"balance": balance}
    if engine_config is not None:
        options["engine_config"] = engine_config
    ex = await LocalExchange(
        data="klines-week", symbols=[SYMBOL], speed="step", rate_limits=GENEROUS, **options
    ).start()
    await ex.step(60_000)
    try:
        yield ex
    finally:
        await ex.stop()


@dataclass
class Daemon:
    """The daemon's parts on one journal; `seen`: every venue event, in the order the
    ExecManager got them."""

    rest: RestConnection
    venue: LiveVenue
    journal: SqliteJournal
    book: BookKeeper
    em: ExecManager
    strategy: ScriptedStrategy
    seen: list[Event] = field(default_factory=list)
    risk: RiskManager | None = None  # the ExecManager's (its trades counted today, its state)
    last_bar_open_ms: int = -1  # of the last bar `propose` fed the ExecManager

    async def buy_at_market(self, qty: Decimal) -> None:
        """The strategy buys `qty` at the market (`propose`)."""
        await self.propose(
            OrderProposal(symbol=SYMBOL, side=Side.BUY, type=OrderType.MARKET, quantity=qty)
        )

    async def propose(self, *proposals: OrderProposal) -> None:
        """The strategy proposes `proposals` on a closed 1m bar at the exchange's mark (the
        mark given to the ExecManager first, for the risk's notional)."""
        self.propose_at(await self.mark(), *proposals)

    async def mark(self) -> Decimal:
        """SYMBOL's mark price on the exchange (USDT), read over the daemon's connection."""
        return Decimal((await self.rest.call("futures_mark_price", symbol=SYMBOL))["markPrice"])

    def propose_at(self, mark: Decimal, *proposals: OrderProposal) -> None:
        """`propose` at a `mark` read before: the orders' requests are the only ones. A bar
        opens a minute after the last one at the latest (the ExecManager ignores a bar no
        later than the last), so two proposals within a minute both count."""
        now = self.venue.clock.now_ms()
        self.em.on_item(MarkPrice(SYMBOL, mark, mark, Decimal(0), now + 3_600_000, now, now))
        self.strategy.on_bar_says.append(list(proposals))
        open_ms = max(now - now % 60_000 - 60_000, self.last_bar_open_ms + 60_000)
        self.last_bar_open_ms = open_ms
        self.em.on_item(make_bar(str(mark), open_ms=open_ms))

    async def stop(self) -> None:
        """As the daemon stops with its orders left on the exchange."""
        await self.venue.stop(cancel_orders=False)
        await self.rest.close()
        self.journal.close()


async def start_daemon(
    ex: LocalExchange,
    journal_dir: Path,
    *,
    limits: RiskConfig,
    exec_config: ExecConfig,
    prefix: str,
    leverage: int | None = None,
    on_event: Callable[[Event], None] | None = None,
    wrap_rest: Callable[[RestConnection], Any] | None = None,
    restore_limits: bool = False,
    start_attempts: int = 1,
    venue_config: ExecutorConfig = VENUE,
    check_positions: bool = False,
) -> Daemon:
    """The daemon started on `journal_dir`: the books restored from it, a HALTED or REDUCING
    state it holds restored, the venue restored from it as the daemon's `_start` does (open
    orders with their journaled trade ids, last trade id, funding and outside fills from the
    last record on), the client ids going on after its highest, then the start-up
    reconciliation; the books journal their new peaks and drawdowns. `leverage`: the books'
    for SYMBOL (None: their default); `on_event`: called with each venue event before the
    ExecManager sees it (a test's hand on the exchange at that moment); `wrap_rest`: what
    the venue calls REST through, made from the connection (a test's hand on the exchange
    between two of the start-up's reads); `restore_limits`: the limits' counts restored
    from the journal as the daemon's start restores them (today's trades, the peak);
    `start_attempts`: how often the venue's start is tried while it fails retryably (the same
    venue, tracker and books each time); `venue_config`: the venue's (its client id prefix
    set to `prefix`); `check_positions`: the start refuses a position the journal does not
    explain above `limits.max_position_notional_usdt`, as the daemon's start does
    (`check_unknown_positions` as the venue's `vet`; a refusal raises its DaemonError). A
    start that fails closes the connection and the journal."""
    clock = LiveClock()  # the exchange's time once the connection learnt its offset
    rest = await create_rest_connection(
        rest_url=ex.rest_url, api_key=ex.api_key, api_secret=ex.api_secret, clock=clock
    )
    instruments = {SYMBOL: ex.instruments[SYMBOL]}
    journal = SqliteJournal(journal_dir)
    book = BookKeeper(
        starting_balances=None,
        instruments=instruments,
        clock=clock,
        leverage=None if leverage is None else {SYMBOL: leverage},
    )
    replay = book.restore(journal)
    book.journal_extremes(journal)
    risk = RiskManager(config=limits, instruments=instruments, clock=clock, view=book)
    changes = [e for _, e in journal.load_events(["TradingStateChanged"])]
    if restore_limits:
        _restore_limits(journal, changes, risk, book, clock.now_ms(), replay)
    if changes and changes[-1].current is not TradingState.ACTIVE:
        risk.restore_state(changes[-1].current, changes[-1].reason)
    strategy = ScriptedStrategy()
    seen: list[Event] = []

    def listener(event: Event) -> None:
        seen.append(event)
        if on_event is not None:
            on_event(event)
        em.on_event(event)

    venue = LiveVenue(
        rest=rest if wrap_rest is None else wrap_rest(rest),
        ws_url=ex.ws_url,
        symbols=[SYMBOL],
        instruments=instruments,
        clock=clock,
        journal=journal,
        listener=listener,
        config=replace(venue_config, client_id_prefix=prefix),  # as the daemon's: its own ids
    )
    last_record_ms = replay.last_record_ms(journal)
    venue.restore(
        journal.open_orders(),
        trade_ids=journal.open_order_trade_ids(),
        last_trade_ids={SYMBOL: tid} if (tid := journal.last_trade_id(SYMBOL)) else None,
        funding_since_ms=last_record_ms,
        funding_booked=book.funding_settlements,
        outside_since_ms=last_record_ms,  # as the daemon: hand fills while down are booked
        seen_trade_ids=journal.last_snapshot_trade_ids(),
        seen_until_ms=journal.last_exchange_ms(),
        taken_over=journal.taken_over_qtys(),
    )
    em = ExecManager(
        venue=venue,
        book=book,
        risk=risk,
        strategy=strategy,
        journal=journal,
        clock=clock,
        instruments=instruments,
        ids=ClientOrderIds(prefix, journal.max_client_seq(prefix) + 1),
        config=exec_config,
        gap_open=lambda _symbol: False,
        clock_offset_ms=lambda: 0,
    )

    async def vet(snapshot: VenueSnapshot, recovered: Sequence[Event]) -> None:
        books = {SYMBOL: book.position(SYMBOL).qty}
        limit = limits.max_position_notional_usdt
        await check_unknown_positions(venue.rest, snapshot, books, limit, recovered)

    try:
        for attempt in range(1, start_attempts + 1):
            try:
                with em.reconciling():
                    await venue.start(vet=vet if check_positions else None)
                break
            except RetryableError:
                if attempt == start_attempts:
                    raise
    except BaseException:
        await rest.close()
        journal.close()
        raise
    return Daemon(rest, venue, journal, book, em, strategy, seen, risk)


async def until(condition: Callable[[], bool], what: str, within_s: float = 10.0) -> None:
    """Poll `condition` (events arrive on the venue's own tasks) until it holds."""
    for _ in range(int(within_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not {what} within {within_s} s")


def exchange_position(ex: LocalExchange) -> Decimal:
    """SYMBOL's position on the exchange's books (BTC, signed), read from the engine."""
    rows = ex.engine.position_risk(ACCOUNT, {"symbol": SYMBOL}, version=3)
    return sum((Decimal(r["positionAmt"]) for r in rows), Decimal(0))


def usdt_wallet(ex: LocalExchange) -> Decimal:
    """The account's USDT wallet balance on the exchange's books, read from the engine."""
    [usdt] = [b for b in ex.engine.balance(ACCOUNT, {}, version=3) if b["asset"] == "USDT"]
    return Decimal(usdt["balance"])


def fills_of(d: Daemon, trade_id: int) -> list[str]:
    """The client ids the journal's fills table holds trade `trade_id` under."""
    return [f.client_order_id for f in d.journal.load_fills() if f.trade_id == trade_id]


def booked(d: Daemon) -> list[tuple[int, str]]:
    """(trade id, client id) of each fill the venue emitted, in order."""
    return [
        (e.fill.trade_id, e.fill.client_order_id)
        for e in d.seen
        if isinstance(e, OrderPartiallyFilled | OrderFilled)
    ]


class OnceAfter:
    """A REST connection that, the first time `method` has answered, runs `action` (a test's
    hand on the exchange between two of a reconciliation's reads); `fired` says it ran."""

    def __init__(self, rest: Any, method: str, action: Callable[[], None]) -> None:
        self._rest = rest
        self._method = method
        self._action = action
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rest, name)

    async def call(self, method: str, /, **kw: Any) -> Any:
        answer = await self._rest.call(method, **kw)
        if method == self._method and not self.fired:
            self.fired = True
            self._action()
        return answer


class FailsOnce:
    """A REST connection whose first call of `method` fails retryably (HTTP 503) after
    running `action` (a test's hand on the exchange at that moment); `failed` says it did."""

    def __init__(self, rest: Any, method: str, action: Callable[[], None]) -> None:
        self._rest = rest
        self._method = method
        self._action = action
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rest, name)

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == self._method and not self.failed:
            self.failed = True
            self._action()
            raise RetryableError(f"{method}: HTTP 503")
        return await self._rest.call(method, **kw)


# --- the take-over tests: an order of an earlier journal of this daemon -------------------------

E8 = Decimal("0.00000001")
TICK = Decimal("0.1")
QTY = Decimal("0.010")
WHILE_DOWN = Decimal("0.004")  # of the earlier journal's SELL, filled while the daemon was down
PREFIX = "e2e"
EARLIER = "e2e-q0q0q0-3"  # this prefix, another journal's tag
LIMITS = RiskConfig(
    leverage=5,
    max_order_notional_usdt=Decimal(5_000),
    max_position_notional_usdt=Decimal(5_000),
    max_total_notional_usdt=Decimal(5_000),
    stop_loss_pct=Decimal(0),
    max_daily_loss_pct=Decimal(0),
    max_drawdown_pct=Decimal(0),
    max_trades_per_day=0,
    circuit_breaker_errors=0,
)


async def start_unguarded(ex: LocalExchange, journal_dir: Path) -> Daemon:
    """The take-over tests' daemon: prefix `PREFIX`, no stop-loss of its own (the position is
    the earlier journal's order's)."""
    return await start_daemon(
        ex,
        journal_dir,
        limits=LIMITS,
        exec_config=ExecConfig(symbols=(SYMBOL,), protect_positions=False, stale_order_ms=10**9),
        prefix=PREFIX,
    )


async def earlier_sell_filled_while_down(
    ex: LocalExchange, entry_price: Decimal, filled: Decimal = WHILE_DOWN
) -> Decimal:
    """While the daemon is down (a minute on): the earlier journal's SELL of QTY (`EARLIER`)
    rests 3 % above `entry_price`, on the tick grid, and a trade a tick through its price
    fills `filled` of it (at its price); its reports are published while nobody listens.
    Returns its price."""
    await ex.step(60_000)
    price = (entry_price * Decimal("1.03") / TICK).to_integral_value() * TICK
    ex.engine.new_order(
        ACCOUNT,
        {"symbol": SYMBOL, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": str(QTY), "price": str(price), "newClientOrderId": EARLIER},
    )  # fmt: skip
    ex.engine.on_trade(SYMBOL, price + TICK, filled, False, ex.now_ms())
    ex.flush_user_events()
    return price
