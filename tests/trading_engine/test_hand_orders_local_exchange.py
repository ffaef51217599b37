"""Orders placed by hand while the daemon runs, end to end on the local exchange: the daemon's
parts (LiveVenue over REST and the user stream, ExecManager, RiskManager, BookKeeper,
SqliteJournal) on a stepped exchange replaying `klines-week`; "by hand" is a second REST
connection on the same account (the website's), with client ids web_...

A LIMIT BUY 0.010 rests 20 ticks below the bid; a trade of 0.004 prints below it (partial
fill, as maker), then one of 0.5 (the rest, 0.006); then a MARKET SELL 0.005 takes the bid
(taker, realizing PnL). After each, the daemon's books (wallet, position, realized PnL, fees)
equal the exchange's to the last Decimal digit, with no correction adopted; the fills are
journaled as outside:web_...; the daemon neither tracks nor cancels the hand orders. A
restart on the same journal books none of them again.

Expected values by hand from what the exchange published (the limit price, the sell's fill
price, the fee rates of `/fapi/v1/commissionRate`): fee = qty * price * rate rounded half-up
to 8 decimals; the sell's rp = 0.005 * (its price - the limit price), the long's entry being
the limit price.
"""

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from core.clock import LiveClock
from core.events import OrderFilled, OrderPartiallyFilled, PositionChanged
from exchange_sim.server import LocalExchange
from rest_connect import RestConnection, create_rest_connection
from risk_manager.config import RiskConfig
from tests.trading_engine.local_exchange_rig import (
    ACCOUNT,
    SYMBOL,
    Daemon,
    exchange_position,
    start_daemon,
    stepped_exchange,
    until,
    usdt_wallet,
)
from trading_engine.exec_manager import ExecConfig

pytestmark = pytest.mark.asyncio

D = Decimal
E8 = D("0.00000001")
TICK = D("0.1")
START = D(10_000)
LIMITS = RiskConfig(
    leverage=5,
    max_order_notional_usdt=D(100_000),
    max_position_notional_usdt=D(100_000),
    max_total_notional_usdt=D(100_000),
    stop_loss_pct=D(0),
    max_daily_loss_pct=D(0),
    max_drawdown_pct=D(0),
    max_trades_per_day=0,
    circuit_breaker_errors=0,
)


@pytest.fixture
async def exchange():
    async with stepped_exchange(balance=START) as ex:
        yield ex


async def start(ex: LocalExchange, journal_dir: Path) -> Daemon:
    """The daemon with no strategy orders and no protection of its own (a hand position is
    not its to protect in this test), on `journal_dir`."""
    return await start_daemon(
        ex,
        journal_dir,
        limits=LIMITS,
        exec_config=ExecConfig(symbols=(SYMBOL,), protect_positions=False, stale_order_ms=10**9),
        prefix="hnd",
    )


def fee(qty: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    return (qty * price * rate).quantize(E8, rounding=ROUND_HALF_UP)


def hand_trades(ex: LocalExchange) -> list[dict[str, Any]]:
    """The exchange's record of the account's fills (all by hand here)."""
    return ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL, "limit": "1000"})


async def agreed(d: Daemon, ex: LocalExchange, fills: int) -> None:
    """Wait until the books hold `fills` fills and the exchange's position, then compare the
    books with the exchange: each fill's trade, the realized PnL, fees, wallet, position."""
    await until(lambda: d.book.fill_count == fills, f"{fills} fill(s) booked")
    await until(
        lambda: d.book.position(SYMBOL).qty == exchange_position(ex), "the exchange's position"
    )
    rows = hand_trades(ex)
    assert len(rows) == fills
    assert d.book.realized_pnl == sum((D(r["realizedPnl"]) for r in rows), D(0))
    assert d.book.fees == {"USDT": sum((D(r["commission"]) for r in rows), D(0))}
    assert d.book.wallet() == usdt_wallet(ex)
    [row] = ex.engine.position_risk(ACCOUNT, {"symbol": SYMBOL}, version=3) or [None]
    if row is not None:
        assert d.book.position(SYMBOL).entry_price == D(row["entryPrice"])
    journaled = {(f.trade_id, f.client_order_id) for f in d.journal.load_fills()}
    assert journaled == {
        (int(r["id"]), "outside:web_Ab12" if r["side"] == "BUY" else "outside:web_Cd34")
        for r in rows
    }


def print_trade(ex: LocalExchange, price: Decimal, qty: str) -> None:
    """A public trade at `price` on the exchange (the market passing a resting order)."""
    ex.engine.on_trade(SYMBOL, price, D(qty), True, ex.now_ms())
    ex.flush_user_events()


@pytest.mark.parametrize("account_update_first", [False, True], ids=["in-order", "reordered"])
async def test_hand_orders_filled_while_the_daemon_runs_are_booked_as_the_exchange_did(
    exchange: LocalExchange, tmp_path: Path, account_update_first: bool
) -> None:
    """`reordered`: each fill's ACCOUNT_UPDATE is sent before its ORDER_TRADE_UPDATE, as
    Binance may (the books hold the update until the fill comes and agrees)."""
    ex = exchange
    ex.faults.reorder_user_events(account_update_first)
    d = await start(ex, tmp_path)
    hand: RestConnection = await create_rest_connection(
        rest_url=ex.rest_url, api_key=ex.api_key, api_secret=ex.api_secret, clock=LiveClock()
    )
    try:
        rates = await hand.call("futures_commission_rate", symbol=SYMBOL)
        maker, taker = D(str(rates["makerCommissionRate"])), D(str(rates["takerCommissionRate"]))
        top = await hand.call("futures_orderbook_ticker", symbol=SYMBOL)
        price = D(top["bidPrice"]) - 20 * TICK
        await hand.call(
            "futures_create_order", mutating=True, orders=1, weight=0, symbol=SYMBOL,
            side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.010", price=str(price),
            newClientOrderId="web_Ab12",
        )  # fmt: skip

        # Partly filled: 0.004 of 0.010, as maker at the limit price.
        print_trade(ex, price - TICK, "0.004")
        await agreed(d, ex, fills=1)
        assert d.book.position(SYMBOL).qty == D("0.004")
        assert d.book.fees == {"USDT": fee(D("0.004"), price, maker)}
        assert d.book.realized_pnl == 0
        assert d.book.wallet() == START - fee(D("0.004"), price, maker)
        still = ex.engine.query_order(ACCOUNT, {"symbol": SYMBOL, "origClientOrderId": "web_Ab12"})
        assert still["status"] == "PARTIALLY_FILLED"  # left alone: not cancelled
        assert d.venue.order("web_Ab12") is None  # not tracked as ours

        # Filled: the other 0.006.
        print_trade(ex, price - TICK, "0.5")
        await agreed(d, ex, fills=2)
        bought = fee(D("0.004"), price, maker) + fee(D("0.006"), price, maker)
        assert d.book.position(SYMBOL).qty == D("0.010")
        assert d.book.wallet() == START - bought

        # Half sold at the market: realized PnL against the limit price.
        await hand.call(
            "futures_create_order", mutating=True, orders=1, weight=0, symbol=SYMBOL,
            side="SELL", type="MARKET", quantity="0.005", newClientOrderId="web_Cd34",
        )  # fmt: skip
        await agreed(d, ex, fills=3)
        [sold] = [r for r in hand_trades(ex) if r["side"] == "SELL"]
        sell_price = D(sold["price"])
        realized = D("0.005") * (sell_price - price)
        assert d.book.realized_pnl == realized != 0
        assert d.book.fees == {"USDT": bought + fee(D("0.005"), sell_price, taker)}
        assert d.book.wallet() == START - bought - fee(D("0.005"), sell_price, taker) + realized
        assert d.book.position(SYMBOL).qty == D("0.005")

        # Counted once, nothing adopted, nothing sent by the daemon.
        booked = [e for e in d.seen if isinstance(e, OrderPartiallyFilled | OrderFilled)]
        assert [(type(e).__name__, e.fill.client_order_id, e.cumulative_qty) for e in booked] == [
            ("OrderPartiallyFilled", "outside:web_Ab12", D("0.004")),
            ("OrderFilled", "outside:web_Ab12", D("0.010")),
            ("OrderFilled", "outside:web_Cd34", D("0.005")),
        ]
        moves = [
            "fill" if isinstance(e, OrderPartiallyFilled | OrderFilled) else "update"
            for e in d.seen
            if isinstance(e, OrderPartiallyFilled | OrderFilled | PositionChanged)
        ]
        pair = ["update", "fill"] if account_update_first else ["fill", "update"]
        assert moves == pair * 3  # as the exchange sent them
        assert (d.book.differences, d.book.rejected_events, d.book.rp_mismatches) == (0, 0, 0)
        assert d.journal.unknown_order_events == 0
        assert (d.venue.stats.submitted, d.venue.stats.cancels_sent) == (0, 0)
        assert d.venue.stats.outside_fills == 3
        await d.venue.reconcile("periodic")  # userTrades reads the three: none booked again
        assert d.venue.stats.outside_fills == 3 and d.book.differences == 0
        wallet, fees = d.book.wallet(), dict(d.book.fees)
    finally:
        await hand.close()
        await d.stop()

    # A restart on the same journal: the fills come back from it, none is booked again.
    again = await start(ex, tmp_path)
    try:
        assert not [e for e in again.seen if isinstance(e, OrderPartiallyFilled | OrderFilled)]
        assert (again.book.wallet(), again.book.fees) == (wallet, fees) == (usdt_wallet(ex), fees)
        assert again.book.realized_pnl == realized
        assert again.book.position(SYMBOL).qty == D("0.005") == exchange_position(ex)
        assert again.book.differences == 0 and again.venue.stats.outside_fills == 0
    finally:
        await again.stop()


async def test_a_hand_fill_the_user_stream_lost_is_booked_by_the_next_reconciliation(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    """The user stream delivers nothing while a hand MARKET BUY 0.003 fills (its ORDER_TRADE_UPDATE
    and ACCOUNT_UPDATE lost, as in a reconnect's gap); the next reconciliation finds the fill in
    userTrades and books it as outside:web_Ef56, fee by hand, before the snapshot, which then
    agrees: nothing adopted."""
    ex = exchange
    d = await start(ex, tmp_path)
    hand: RestConnection = await create_rest_connection(
        rest_url=ex.rest_url, api_key=ex.api_key, api_secret=ex.api_secret, clock=LiveClock()
    )
    try:
        rates = await hand.call("futures_commission_rate", symbol=SYMBOL)
        taker = D(str(rates["takerCommissionRate"]))
        key = d.venue.stream.listen_key
        assert key is not None
        ex.faults.silence(None, stream=key)
        # A minute on (the stepped exchange's clock stands still between steps; the daemon's
        # first read by time started at its start): the connection learns the time again.
        await ex.step(60_000)
        await d.rest.sync_time()
        await hand.call(
            "futures_create_order", mutating=True, orders=1, weight=0, symbol=SYMBOL,
            side="BUY", type="MARKET", quantity="0.003", newClientOrderId="web_Ef56",
        )  # fmt: skip
        [row] = hand_trades(ex)
        ex.faults.unsilence()
        assert d.book.fill_count == 0 and d.book.position(SYMBOL).is_flat  # nothing came

        await d.venue.reconcile("periodic")

        booked = [e for e in d.seen if isinstance(e, OrderPartiallyFilled | OrderFilled)]
        assert [(e.fill.client_order_id, e.fill.trade_id) for e in booked] == [
            ("outside:web_Ef56", int(row["id"]))
        ]
        paid = fee(D("0.003"), D(row["price"]), taker)
        assert d.book.fees == {"USDT": paid} and D(row["commission"]) == paid
        assert d.book.wallet() == START - paid == usdt_wallet(ex)
        assert d.book.position(SYMBOL).qty == D("0.003") == exchange_position(ex)
        assert d.book.realized_pnl == 0
        assert (d.book.differences, d.book.rejected_events) == (0, 0)
        assert d.venue.stats.outside_fills == 1
    finally:
        await hand.close()
        await d.stop()
