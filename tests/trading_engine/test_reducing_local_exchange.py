"""REDUCING on the local exchange, end to end: the LiveVenue over REST and the user stream, the
ExecManager, RiskManager and BookKeeper as the daemon wires them, on a fresh account of the
local exchange replaying real BTCUSDT trades at real speed.

The strategy buys 0.010 BTC at the market; the position gets its stop-loss (2 % below the
entry, closePosition) and take-profit (2 % above, reduce-only 0.010) on the exchange. Then the
kill switch: the stop-loss must stay on the exchange until the position is flat, whatever
happens to the flatten (refused, in doubt, overtaken by the stop itself), and go once flat;
then HALTED. Expected money is worked out here from the fills the exchange published (price,
quantity; taker fee 0.05 %), never with the books' or the engine's arithmetic.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal
from typing import Any

import pytest
import pytest_asyncio

from book_keeper.book_keeper import BookKeeper
from core.enums import OrderStatus, OrderType, Side, TradingState
from core.events import OrderReconciled, OrderRejected, OrderStatusUnknown
from core.market import MarkPrice
from core.orders import OrderProposal
from exchange_sim.engine import EngineConfig
from exchange_sim.server import LocalExchange
from risk_manager.risk_manager import RiskManager
from tests.gateway.venue_harness import (
    DATASET,
    GENEROUS,
    SYMBOL,
    Session,
    session,
    start_exchange,
)
from tests.trading_engine.support import LIMITS, ScriptedStrategy, make_bar
from trading_engine.exec_manager import ExecConfig, ExecManager

pytestmark = pytest.mark.asyncio(loop_scope="module")

D = Decimal
QTY = D("0.010")
TICK = D("0.1")
TAKER = D("0.0005")
START = D("10000")  # the local exchange's demo balance
HALTED, REDUCING = TradingState.HALTED, TradingState.REDUCING


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ex():
    exchange = await start_exchange()
    yield exchange
    await exchange.stop()


@dataclass
class Rig:
    s: Session
    em: ExecManager
    book: BookKeeper
    strategy: ScriptedStrategy

    @property
    def account(self) -> str:
        return self.s.account

    def protection(self) -> list[tuple[str, bool, Decimal]]:
        """The exchange's open algo orders: (type, closePosition, quantity), read in-process."""
        rows = self.s.ex.engine.open_algo_orders(self.account, {"symbol": SYMBOL})
        return sorted((a["orderType"], a["closePosition"], D(a["quantity"])) for a in rows)

    def exchange_wallet(self) -> Decimal:
        rows = self.s.ex.engine.balance(self.account, {}, version=3)
        return D(next(r["balance"] for r in rows if r["asset"] == "USDT"))

    def exchange_fills(self) -> list[Any]:
        return self.s.ex.engine.engine.fills(self.account, SYMBOL)

    async def until(self, condition: Any, what: str, within_s: float = 15.0) -> None:
        try:
            await self.s.rec.until(condition, within_s=within_s)
        except TimeoutError as exc:
            raise AssertionError(f"not {what} within {within_s} s") from exc


GUARDED = [("STOP_MARKET", True, D(0)), ("TAKE_PROFIT_MARKET", False, QTY)]


@contextlib.asynccontextmanager
async def reducing_rig(ex) -> AsyncIterator[Rig]:
    """The daemon's parts on a fresh account; the daemon's one-second timer runs faster here
    (every 0.1 s: REDUCING's retries without market data)."""
    async with session(ex, start=False, prefix="rd") as s:
        clock = s.venue.clock
        instruments = {SYMBOL: ex.instruments[SYMBOL]}
        book = BookKeeper(starting_balances=None, instruments=instruments, clock=clock)
        limits = replace(LIMITS, stop_loss_pct=D(2), take_profit_pct=D(2))
        risk = RiskManager(config=limits, instruments=instruments, clock=clock, view=book)
        strategy = ScriptedStrategy()
        em = ExecManager(
            venue=s.venue,
            book=book,
            risk=risk,
            strategy=strategy,
            journal=s.journal,
            clock=clock,
            instruments=instruments,
            ids=s.ids,
            config=ExecConfig(symbols=(SYMBOL,), stale_order_ms=10**9),
            gap_open=lambda _symbol: False,
            clock_offset_ms=lambda: 0,
        )
        record = s.rec

        def listener(event: Any) -> None:
            em.on_event(event)
            record(event)

        s.venue.listener = listener
        with em.reconciling():
            await s.venue.start()

        async def timer() -> None:
            while True:
                await asyncio.sleep(0.1)
                em.on_timer()

        ticking = asyncio.create_task(timer())
        try:
            yield Rig(s, em, book, strategy)
        finally:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking


async def go_long(rig: Rig) -> Decimal:
    """A market BUY of 0.010 on a closed bar; waits for the fill and the protection's
    acceptance. Returns the entry price the exchange filled at."""
    mark = await first_mark(rig)
    now = rig.s.venue.clock.now_ms()
    rig.em.on_item(MarkPrice(SYMBOL, mark, mark, D(0), now + 3_600_000, now, now))
    rig.strategy.on_bar_says.append(
        [OrderProposal(symbol=SYMBOL, side=Side.BUY, type=OrderType.MARKET, quantity=QTY)]
    )
    rig.em.on_item(make_bar(str(mark), open_ms=now - now % 60_000 - 60_000))
    await rig.until(
        lambda: sum(o.status is OrderStatus.NEW and o.is_protective for o in orders(rig)) == 2,
        "long with its stop-loss and take-profit accepted",
    )
    entry = entry_price(rig.exchange_fills())
    assert rig.protection() == GUARDED
    stop = next(o for o in orders(rig) if o.type is OrderType.STOP_MARKET)
    # 2 % below the entry, rounded up to the tick (a SELL stop fires no later than asked)
    assert stop.stop_price == (entry * D("0.98") / TICK).to_integral_value(ROUND_CEILING) * TICK
    return entry


async def first_mark(rig: Rig, within_s: float = 10.0) -> Decimal:
    """The exchange's mark price, waiting for the replay's first one: an exchange started just
    before (as some tests here do) may not have published it yet on a busy machine."""
    book = rig.s.ex.engine.engine.books[SYMBOL]
    for _ in range(int(within_s / 0.05)):
        if book.mark is not None:
            return book.mark
        await asyncio.sleep(0.05)
    raise AssertionError(f"the local exchange had no mark price within {within_s} s")


def orders(rig: Rig) -> list[Any]:
    return list(rig.book.orders.values())


def entry_price(fills: list[Any]) -> Decimal:
    """The long's entry: the quantity-weighted average price of its BUY fills."""
    bought = [f for f in fills if f.side is Side.BUY]
    return sum((f.price * f.qty for f in bought), D(0)) / sum((f.qty for f in bought), D(0))


def sold(fills: list[Any]) -> Decimal:
    return sum((f.qty for f in fills if f.side is Side.SELL), D(0))


def wallet_after(fills: list[Any]) -> Decimal:
    """10000 USDT - each fill's fee (price x qty x 0.05 %: exact at tick 0.1, step 0.001) +
    the realized PnL of the closing fills (qty x (exit - entry) for the long)."""
    if not fills:
        return START
    entry = entry_price(fills)
    fees = sum((f.price * f.qty * TAKER for f in fills), D(0))
    pnl = sum((f.qty * (f.price - entry) for f in fills if f.side is Side.SELL), D(0))
    return START - fees + pnl


def assert_halted_flat_and_equal(rig: Rig) -> None:
    ex = rig.s.ex
    assert rig.em.trading_state is HALTED
    assert rig.s.exchange_position() == rig.book.position(SYMBOL).qty == 0
    assert rig.protection() == [] and not rig.book.orders
    assert ex.engine.open_orders(rig.account, {"symbol": SYMBOL}) == []
    assert rig.book.wallet() == rig.exchange_wallet() == wallet_after(rig.exchange_fills())


async def test_a_refused_flatten_leaves_the_stop_on_the_exchange_until_the_retry_has_filled(ex):
    async with reducing_rig(ex) as rig:
        await go_long(rig)
        ex.faults.order_rejection(-4131, count=1)

        rig.em.kill("operator")
        refused = await rig.s.rec.wait_for(OrderRejected)
        await asyncio.sleep(1.0)  # the retry comes flatten_retry_ms (2 s) after the first

        assert refused.code == -4131 and rig.em.trading_state is REDUCING
        assert rig.s.exchange_position() == QTY and rig.protection() == GUARDED
        await rig.until(lambda: rig.em.trading_state is HALTED, "HALTED")
        assert sold(rig.exchange_fills()) == QTY  # the retried flatten
        assert_halted_flat_and_equal(rig)


async def test_a_flatten_in_doubt_leaves_the_stop_on_the_exchange(ex):
    """The flatten is answered 503 without being executed: in doubt until the exchange says
    it never had it (its recvWindow passed), then flattened again."""
    async with reducing_rig(ex) as rig:
        await go_long(rig)
        ex.faults.order_failure("unavailable_before", count=1)

        rig.em.kill("operator")
        doubt = await rig.s.rec.wait_for(OrderStatusUnknown)

        assert rig.s.exchange_position() == QTY and rig.protection() == GUARDED
        never = await rig.s.rec.wait_for(OrderReconciled, doubt.client_order_id)
        assert never.status is OrderStatus.REJECTED
        assert rig.s.exchange_position() == QTY and rig.protection() == GUARDED
        await rig.until(lambda: rig.em.trading_state is HALTED, "HALTED")
        assert_halted_flat_and_equal(rig)


async def test_a_stop_that_fires_while_the_flatten_is_on_its_way_leaves_it_flat_no_flip(ex):
    """Every REST request waits 0.5 s at the exchange: the flatten is still on its way when a
    trade through the stop fires it; the flatten then finds nothing to close (-2022)."""
    async with reducing_rig(ex) as rig:
        entry = await go_long(rig)
        ex.faults.latency(rest_s=0.5)

        rig.em.kill("operator")
        ex.engine.on_trade(SYMBOL, (entry * D("0.97")).quantize(TICK), D(1), False, ex.now_ms())
        ex.flush_user_events()
        await rig.until(lambda: rig.book.position(SYMBOL).qty == 0, "the stop's fill booked")

        assert rig.s.exchange_position() == 0 and rig.em.trading_state is REDUCING
        refused = await rig.s.rec.wait_for(OrderRejected)
        assert refused.code == -2022  # reduce-only: nothing left to close, no short
        await rig.until(lambda: rig.em.trading_state is HALTED, "HALTED")
        assert sold(rig.exchange_fills()) == QTY  # by the stop alone
        assert_halted_flat_and_equal(rig)


async def test_the_kill_switch_on_a_flat_account_with_only_an_entry_halts_as_before(ex):
    async with reducing_rig(ex) as rig:
        mark = await first_mark(rig)
        rig.strategy.on_bar_says.append(
            [
                OrderProposal(
                    symbol=SYMBOL,
                    side=Side.BUY,
                    type=OrderType.LIMIT,
                    quantity=QTY,
                    price=(mark * D("0.97")).quantize(TICK),
                )
            ]
        )
        now = rig.s.venue.clock.now_ms()
        rig.em.on_item(MarkPrice(SYMBOL, mark, mark, D(0), now + 3_600_000, now, now))
        rig.em.on_item(make_bar(str(mark), open_ms=now - now % 60_000 - 60_000))
        await rig.until(lambda: any(o.status is OrderStatus.NEW for o in orders(rig)), "resting")

        rig.em.kill("operator")

        await rig.until(lambda: rig.em.trading_state is HALTED, "HALTED")
        assert rig.exchange_fills() == []
        assert_halted_flat_and_equal(rig)


async def test_the_stop_stays_while_reducing_when_cancel_all_also_takes_algo_orders():
    """Whether Binance's `DELETE allOpenOrders` also cancels the conditional orders is UNSURE
    (the reference's problem 11). On an exchange whose does, the position's stop-loss and
    take-profit stay through REDUCING's cancel-all all the same (it cancels each order but
    them by itself): a flatten refused once leaves the position guarded until the retry
    fills."""
    ex = await LocalExchange(
        data=DATASET,
        symbols=[SYMBOL],
        speed=1.0,
        rate_limits=GENEROUS,
        engine_config=EngineConfig(cancel_all_takes_algos=True),
    ).start()
    try:
        async with reducing_rig(ex) as rig:
            await go_long(rig)
            ex.faults.order_rejection(-4131, count=1)

            rig.em.kill("operator")
            refused = await rig.s.rec.wait_for(OrderRejected)
            await asyncio.sleep(1.0)  # the retry comes flatten_retry_ms (2 s) after the first

            assert refused.code == -4131 and rig.em.trading_state is REDUCING
            assert rig.s.exchange_position() == QTY and rig.protection() == GUARDED
            await rig.until(lambda: rig.em.trading_state is HALTED, "HALTED")
            assert_halted_flat_and_equal(rig)
    finally:
        await ex.stop()
