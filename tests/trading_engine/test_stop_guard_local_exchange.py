"""A position the daemon leaves open at its stop keeps an exchange-side stop-loss, even when the
exchange removed the one the daemon placed without the daemon hearing of it (the user stream
down: a 429 storm, clock skew; seen in the chaos test, seed 2). End to end on the stepped local
exchange, the daemon's parts wired as `trading_engine.daemon` wires them
(`local_exchange_rig`), its shutdown the daemon's own (`Daemon._shutdown`).

The daemon buys 0.010 BTC at the market; its stop-loss (2 % below the entry, closePosition
SELL STOP_MARKET) is accepted. Then the exchange cancels that stop and its report is lost.
The daemon learns of it only from a reconciliation: the stop's last one (at SIGTERM), or a
periodic one while it runs. Either way a new stop-loss goes out for the position as it is.
"""

import io
import logging
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core.enums import OrderStatus, OrderType
from exchange_sim.server import LocalExchange
from runtime.settings import load_settings
from tests.trading_engine.local_exchange_rig import (
    ACCOUNT,
    LIMITS,
    QTY,
    SYMBOL,
    Daemon,
    start_daemon,
    stepped_exchange,
    until,
)
from trading_engine.daemon import Daemon as TradingDaemon
from trading_engine.daemon import _Parts
from trading_engine.exec_manager import ExecConfig

pytestmark = pytest.mark.asyncio

GUARDED = replace(LIMITS, stop_loss_pct=Decimal(2))


@pytest.fixture
async def exchange():
    async with stepped_exchange() as ex:
        yield ex


def exchange_stops(ex: LocalExchange) -> list[tuple[str, str, bool]]:
    """The exchange's open algo orders of SYMBOL: (type, side, closePosition), read in-process."""
    rows = ex.engine.open_algo_orders(ACCOUNT, {"symbol": SYMBOL})
    return [(r["orderType"], r["side"], r["closePosition"]) for r in rows]


def stop_in_books(d: Daemon) -> Any:
    """The books' open stop-loss of SYMBOL, or None."""
    return next(
        (
            o
            for o in d.book.orders.values()
            if o.symbol == SYMBOL and o.type is OrderType.STOP_MARKET
        ),
        None,
    )


async def long_with_its_stop(ex: LocalExchange, journal_dir: Path) -> Daemon:
    """The daemon, long 0.010 with its stop-loss accepted by the exchange."""
    d = await start_daemon(
        ex,
        journal_dir,
        limits=GUARDED,
        exec_config=ExecConfig(symbols=(SYMBOL,), stale_order_ms=10**9),
        prefix="sg",
    )
    await ex.step(60_000)
    await d.buy_at_market(QTY)
    await until(
        lambda: (stop := stop_in_books(d)) is not None and stop.status is OrderStatus.NEW,
        "the long and its accepted stop-loss",
    )
    assert d.book.position(SYMBOL).qty == QTY
    return d


def cancel_unheard(ex: LocalExchange, client_id: str) -> None:
    """The exchange cancels the stop; its ALGO_UPDATE never reaches the daemon."""
    ex.engine.cancel_algo_order(ACCOUNT, {"symbol": SYMBOL, "clientAlgoId": client_id})
    ex.engine.drain_user_events()


def shutting_down(d: Daemon, journal_dir: Path) -> tuple[TradingDaemon, io.StringIO]:
    """The daemon over the rig's parts (no market-data stream), ready for `_shutdown`."""

    async def stopped(**_kwargs: object) -> None:
        return None

    settings = replace(
        load_settings(None, env_file=None), symbols=(SYMBOL,), journal_dir=str(journal_dir)
    )
    out = io.StringIO()
    daemon = TradingDaemon(settings, out=out, clock=d.venue.clock)
    daemon._parts = _Parts(
        rest=d.rest, market_rest=None, journal=d.journal, book=d.book, risk=d.risk,
        exec_manager=d.em, venue=d.venue,
        stream=SimpleNamespace(stop=stopped, gap_open=lambda _symbol=None: False),
    )  # type: ignore[arg-type]  # fmt: skip
    return daemon, out


async def test_a_stop_loss_the_exchange_removed_unseen_is_placed_again_at_the_stop(
    exchange: LocalExchange, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ex = exchange
    d = await long_with_its_stop(ex, tmp_path)
    daemon, out = shutting_down(d, tmp_path)
    try:
        cancel_unheard(ex, stop_in_books(d).client_order_id)
        assert exchange_stops(ex) == []
        with caplog.at_level(logging.INFO):
            await daemon._shutdown()
    finally:
        await d.rest.close()
        d.journal.close()

    assert exchange_stops(ex) == [("STOP_MARKET", "SELL", True)]
    stop = stop_in_books(d)
    assert stop is not None and stop.status is OrderStatus.NEW  # confirmed by the exchange
    said = out.getvalue()
    assert "position BTCUSDT 0.010 left open, guarded on the exchange by STOP_MARKET" in said
    assert "books vs exchange at exit: " in said
    assert "WARNING" not in said


async def test_a_stop_loss_the_exchange_removed_unseen_is_placed_again_by_a_periodic_pass(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    d = await long_with_its_stop(ex, tmp_path)
    try:
        first = stop_in_books(d).client_order_id
        cancel_unheard(ex, first)

        await d.venue.reconcile("periodic")
        await until(
            lambda: (
                (stop := stop_in_books(d)) is not None
                and stop.client_order_id != first
                and stop.status is OrderStatus.NEW
            ),
            "a new stop-loss accepted",
        )
        assert exchange_stops(ex) == [("STOP_MARKET", "SELL", True)]
    finally:
        await d.stop()


async def test_a_stop_loss_refused_at_the_stop_is_a_warning_naming_the_position(
    exchange: LocalExchange, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ex = exchange
    d = await long_with_its_stop(ex, tmp_path)
    daemon, out = shutting_down(d, tmp_path)
    try:
        cancel_unheard(ex, stop_in_books(d).client_order_id)
        ex.faults.order_rejection(-2019, 1)  # the new stop-loss is turned away
        with caplog.at_level(logging.INFO):
            await daemon._shutdown()
    finally:
        await d.rest.close()
        d.journal.close()

    assert exchange_stops(ex) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    line = "WARNING: position BTCUSDT 0.010 left open WITHOUT an exchange-side stop-loss"
    assert line in out.getvalue()
    assert any(line in w for w in warnings), warnings
