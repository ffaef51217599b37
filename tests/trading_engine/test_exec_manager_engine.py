"""The ExecManager trading the in-process matching engine on real recorded trades.

The bundled BTCUSDT capture (2024-08-08 23:54-24:00, 21,313 trades) drives both the engine and
the daemon's pipeline (SmaCrossover 5/20 on 1s bars built from the trades, the real
RiskManager, BookKeeper and SqliteJournal). At the end the books equal the engine's account to
the last Decimal digit, and the journal's orders match the engine's orders one to one.
"""

import csv
import gzip
from decimal import Decimal as D
from pathlib import Path

from book_keeper.book_keeper import BookKeeper
from book_keeper.journal import SqliteJournal, Synchronous
from core.clock import SimClock
from core.enums import TradingState
from core.market import MarkPrice, Trade
from core.orders import ClientOrderIds
from exchange_sim.engine import Exchange
from risk_manager.risk_manager import RiskManager
from tests.trading_engine.engine_venue import EngineVenue
from tests.trading_engine.support import INSTRUMENTS, LIMITS
from trading_engine.exec_manager import BarSource, ExecConfig, ExecManager
from trading_engine.strategies.sma_crossover import SmaCrossover

TRADES = (
    Path(__file__).resolve().parents[2]
    / "exchange_sim/data/trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"
)
SYMBOL = "BTCUSDT"


def recorded_trades() -> list[Trade]:
    out = []
    with gzip.open(TRADES, "rt") as fh:
        for r in csv.DictReader(fh):
            i, t, maker = int(r["id"]), int(r["time"]), r["is_buyer_maker"] == "true"
            out.append(Trade(SYMBOL, i, D(r["price"]), D(r["qty"]), i, i, maker, t, t, t))
    return out


def run(trades: list[Trade], journal: SqliteJournal, clock: SimClock, kill_after: int = 0):
    """Feed `trades` (and a mark per second) to the engine and the ExecManager; with
    `kill_after`, call the kill switch once that many orders were sent and a position is open."""
    instruments = {SYMBOL: INSTRUMENTS[SYMBOL]}
    engine = Exchange(instruments, clock)
    engine.create_account("me", {"USDT": D(10_000)})
    book = BookKeeper(starting_balances={"USDT": D(10_000)}, instruments=instruments, clock=clock)
    risk = RiskManager(config=LIMITS, instruments=instruments, clock=clock, view=book)
    venue = EngineVenue(engine, "me", clock)
    em = ExecManager(
        venue=venue,
        book=book,
        risk=risk,
        strategy=SmaCrossover(
            fast=5, slow=20, order_notional_usdt=D(2_000), instruments=instruments
        ),
        journal=journal,
        clock=clock,
        instruments=instruments,
        ids=ClientOrderIds("it"),
        config=ExecConfig(symbols=(SYMBOL,), bar_source=BarSource.TRADES, bar_interval="1s"),
        gap_open=lambda symbol: False,
        clock_offset_ms=lambda: 0,
    )
    venue.listener = em.on_event
    next_mark = trades[0].trade_time_ms
    for t in trades:
        if t.trade_time_ms >= next_mark:  # a mark each second: the last trade price
            mark = MarkPrice(SYMBOL, t.price, t.price, D("0.0001"), 0, next_mark, next_mark)
            engine.on_mark_price(SYMBOL, t.price, t.price, D("0.0001"), 0, next_mark)
            em.on_item(mark)
            next_mark += 1_000
        engine.on_trade(SYMBOL, t.price, t.qty, t.buyer_is_maker, t.trade_time_ms)
        venue.pump()  # resting orders the trade filled
        em.on_item(t)
        if kill_after and em.counters.submitted >= kill_after and book.position(SYMBOL).qty:
            em.kill("test")
            kill_after = 0
    return engine, book, em


def test_books_and_journal_equal_the_engine_after_trading_real_data(tmp_path):
    trades = recorded_trades()
    clock = SimClock(trades[0].trade_time_ms - 1)
    with SqliteJournal(tmp_path, synchronous=Synchronous.NORMAL) as journal:
        engine, book, em = run(trades, journal, clock)
        journal_orders = {o.client_order_id: o for o in journal.load_orders()}
        journal_fills = journal.load_fills()

    engine_orders = {o["clientOrderId"]: o for o in engine.all_orders("me", {"symbol": SYMBOL})}
    engine_fills = engine.user_trades("me", {"symbol": SYMBOL, "limit": "1000"})
    [balance] = engine.balance("me", {}, version=3)
    [position] = engine.position_risk("me", {"symbol": SYMBOL}, version=3)

    assert em.counters.submitted >= 4 and em.counters.denied == 0
    assert set(journal_orders) == set(engine_orders)  # every intent sent once, none lost
    assert all(journal_orders[c].status == o["status"] for c, o in engine_orders.items())
    assert len(journal_fills) == len(engine_fills) == em.counters.fills
    assert book.wallet() == D(balance["balance"])
    assert book.position(SYMBOL).qty == D(position["positionAmt"])
    assert book.position(SYMBOL).entry_price == D(position["entryPrice"])
    assert book.realized_pnl == sum((D(f["realizedPnl"]) for f in engine_fills), D(0))
    assert book.fees["USDT"] == sum((D(f["commission"]) for f in engine_fills), D(0))
    assert book.differences == 0 and book.rejected_events == 0


def test_the_kill_switch_leaves_the_engine_flat_and_the_daemon_halted(tmp_path):
    trades = recorded_trades()
    clock = SimClock(trades[0].trade_time_ms - 1)
    with SqliteJournal(tmp_path, synchronous=Synchronous.NORMAL) as journal:
        engine, book, em = run(trades, journal, clock, kill_after=3)
        denied = journal.load_events(["RiskDenied"])
    positions = engine.position_risk("me", {"symbol": SYMBOL}, version=3)  # v3: non-flat only
    assert em.trading_state is TradingState.HALTED
    assert positions == [] and book.position(SYMBOL).is_flat
    assert engine.open_orders("me", {"symbol": SYMBOL}) == [] and not book.orders
    assert denied and all("HALTED" in e.reason for _, e in denied[1:])
