"""A real liquidation on the local exchange, end to end: the daemon's parts (LiveVenue over
REST and the user stream, ExecManager, BookKeeper, RiskManager, SqliteJournal) wired as
`trading_engine.daemon` wires them, on a stepped exchange replaying the `klines-week` data.

The ExecManager buys 0.100 BTC at 125x on an 80 USDT account (as
tests/exchange_sim/test_server_money.py does); BTCUSDT falls ~0.5 % in the first two hours of
2025-05-06 and the exchange liquidates the long (margin balance <= maintenance margin). On
the way the exchange sends MARGIN_CALL (its threshold set to a margin ratio of 80 %).

Expected values are computed here by hand from what the exchange published (fill prices and
quantities of the fills, the fee rates of `/fapi/v1/commissionRate`, the symbol's
`liquidationFee` of exchangeInfo) with the reference's formulas (section 11.6 and the
engine's clearance-fee rule as tests/exchange_sim/test_server_money.py states it), never by
calling the books' or the engine's arithmetic.
"""

from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from core.enums import Side, TradingState
from core.events import MarginCalled, OrderFilled, TradingStateChanged
from exchange_sim.engine import EngineConfig
from exchange_sim.server import LocalExchange
from rest_connect import RestConnection
from risk_manager.config import RiskConfig
from tests.trading_engine.local_exchange_rig import (
    SYMBOL,
    Daemon,
    exchange_position,
    start_daemon,
    stepped_exchange,
    until,
)
from trading_engine.exec_manager import ExecConfig

pytestmark = pytest.mark.asyncio

E8 = Decimal("0.00000001")
BALANCE = Decimal("80")
LEVERAGE = 125
QTY = Decimal("0.100")
STEP_MS = 10 * 60_000
MAX_STEPS = 18  # 3 h of replay: the dip reaches the liquidation price in ~1 h 45
PREFIX = "e2e"

LIMITS = RiskConfig(
    leverage=LEVERAGE,
    max_order_notional_usdt=Decimal(20_000),
    max_position_notional_usdt=Decimal(20_000),
    max_total_notional_usdt=Decimal(20_000),
    stop_loss_pct=Decimal(0),
    max_daily_loss_pct=Decimal(0),
    max_drawdown_pct=Decimal(0),
    max_trades_per_day=0,
    circuit_breaker_errors=0,
)


async def start(ex: LocalExchange, journal_dir: Path) -> Daemon:
    """The daemon at 125x with no stop-loss of its own (the exchange's liquidation is the
    point), on `journal_dir` (a restart when it holds an earlier run's)."""
    return await start_daemon(
        ex,
        journal_dir,
        limits=LIMITS,
        exec_config=ExecConfig(symbols=(SYMBOL,), protect_positions=False, stale_order_ms=10**9),
        prefix=PREFIX,
        leverage=LEVERAGE,
    )


@pytest.fixture
async def exchange() -> AsyncIterator[LocalExchange]:
    # Funding off (settlements would move the wallet and the liquidation price); MARGIN_CALL
    # once the margin ratio (maintenance margin / margin balance) reaches 80 %.
    config = EngineConfig(fixed_funding_rate=Decimal(0), margin_call_ratio=Decimal("0.8"))
    async with stepped_exchange(balance=BALANCE, engine_config=config) as ex:
        yield ex


async def go_long(d: Daemon) -> OrderFilled:
    """The strategy buys 0.100 at the market on a closed bar, at the exchange's mark."""
    await d.rest.call("futures_change_leverage", symbol=SYMBOL, leverage=LEVERAGE, mutating=True)
    await d.buy_at_market(QTY)
    await until(lambda: d.book.position(SYMBOL).qty == QTY, "the long is open")
    [entry] = [e for e in d.journal.load_fills() if e.client_order_id.startswith(PREFIX)]
    return OrderFilled(
        event_time_ms=entry.trade_time_ms,
        recv_time_ms=entry.recv_time_ms,
        fill=entry,
        cumulative_qty=QTY,
        avg_price=entry.price,
    )


async def step_until_liquidated(ex: LocalExchange, rest: RestConnection | None) -> None:
    """Step 10 min at a time until the exchange shows the long gone. After each step the
    connection learns the exchange's clock again (its -1021 resync would, one request late)
    and the listenKey is kept alive (as the venue's keepalive would in real time)."""
    for _ in range(MAX_STEPS):
        await ex.step(STEP_MS)
        if rest is not None:
            await rest.sync_time()
            key = await rest.call("futures_stream_get_listen_key")
            await rest.call("futures_stream_keepalive", listenKey=key)
        if exchange_position(ex) == 0:
            return
    raise AssertionError(f"not liquidated within {MAX_STEPS} steps")


async def expected_wallet(ex: LocalExchange, rest: RestConnection, entry, liquidation) -> Decimal:
    """80 USDT - the entry's taker fee + realized PnL - the clearance fee (capped at what is
    left of the wallet), section 11.6 and the engine's liquidation rule."""
    rates = await rest.call("futures_commission_rate", symbol=SYMBOL)
    taker = Decimal(str(rates["takerCommissionRate"]))
    info = await rest.call("futures_exchange_info")
    [symbol] = [s for s in info["symbols"] if s["symbol"] == SYMBOL]
    liquidation_fee = Decimal(symbol["liquidationFee"])
    wallet = BALANCE - (entry.qty * entry.price * taker).quantize(E8, rounding=ROUND_HALF_UP)
    realized = QTY * (liquidation.price - entry.price)
    clearance = (QTY * liquidation.price * liquidation_fee).quantize(E8, rounding=ROUND_HALF_UP)
    clearance = min(clearance, max(Decimal(0), wallet + realized))
    assert (liquidation.realized_pnl, liquidation.commission) == (realized, clearance)
    return max(Decimal(0), wallet + realized - clearance)


async def test_a_liquidation_on_the_user_stream_is_booked_journaled_and_halts(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    d = await start(exchange, tmp_path)
    try:
        entry = (await go_long(d)).fill

        await step_until_liquidated(exchange, d.rest)
        await until(lambda: d.em.trading_state is TradingState.HALTED, "halted")

        fills = d.journal.load_fills()
        [liquidation] = [f for f in fills if f.client_order_id.startswith("autoclose-")]
        wallet = await expected_wallet(exchange, d.rest, entry, liquidation)
        exchange_wallet = next(
            Decimal(b["balance"])
            for b in await d.rest.call("futures_account_balance")
            if b["asset"] == "USDT"
        )
        assert (liquidation.side, liquidation.qty) == (Side.SELL, QTY)
        assert [f.trade_id for f in fills] == [entry.trade_id, liquidation.trade_id]
        assert d.book.position(SYMBOL).is_flat
        assert d.book.wallet() == wallet == exchange_wallet
        assert (d.book.differences, d.book.rejected_events) == (0, 0)
        assert d.journal.unknown_order_events == 0
        reducing, halted = [e for _, e in d.journal.load_events(["TradingStateChanged"])]
        assert isinstance(reducing, TradingStateChanged)
        assert reducing.reason == (
            f"liquidation: {SYMBOL} liquidated by the exchange: SELL 0.100 @ "
            f"{liquidation.price} (order {liquidation.client_order_id}, trade "
            f"{liquidation.trade_id})"
        )
        assert halted.current is TradingState.HALTED
        # one MARGIN_CALL each time the ratio crossed 80 % on its way up (the marks go up
        # and down): each journaled, all before the liquidation, each naming the long
        calls = [e for _, e in d.journal.load_events(["MarginCalled"])]
        assert calls and all(isinstance(c, MarginCalled) for c in calls)
        assert {tuple((p.symbol, p.qty) for p in c.positions) for c in calls} == {((SYMBOL, QTY),)}
        assert max(c.event_time_ms for c in calls) <= liquidation.trade_time_ms
        assert (d.em.counters.forced_fills, d.em.counters.margin_calls) == (1, len(calls))
    finally:
        await d.stop()


async def test_a_liquidation_while_the_daemon_was_down_is_recovered_at_the_restart(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    first = await start(exchange, tmp_path)
    try:
        entry = (await go_long(first)).fill
    finally:
        await first.stop()

    await step_until_liquidated(exchange, None)  # nobody listening
    d = await start(exchange, tmp_path)  # restored from the journal, reconciled
    try:
        await until(lambda: d.em.trading_state is TradingState.HALTED, "halted")

        fills = d.journal.load_fills()
        [liquidation] = [f for f in fills if f.client_order_id.startswith("autoclose-")]
        wallet = await expected_wallet(exchange, d.rest, entry, liquidation)
        assert [f.trade_id for f in fills] == [entry.trade_id, liquidation.trade_id]
        assert d.book.position(SYMBOL).is_flat and d.book.wallet() == wallet
        assert (d.book.differences, d.book.rejected_events) == (0, 0)
        assert d.journal.unknown_order_events == 0
        assert d.venue.stats.foreign_trades == 0  # recognised as the exchange's own order
        [reducing, _] = [e for _, e in d.journal.load_events(["TradingStateChanged"])]
        assert isinstance(reducing, TradingStateChanged)
        assert reducing.reason.startswith(f"liquidation: {SYMBOL} liquidated by the exchange")
    finally:
        await d.stop()
