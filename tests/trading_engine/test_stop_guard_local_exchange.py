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

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core.enums import OrderStatus, OrderType, TradingState
from core.events import Event, OrderExpired, VenueSnapshot
from exchange_sim.server import LocalExchange
from gateway.main_gateway import ExecutorConfig
from runtime.settings import load_settings
from tests.trading_engine.local_exchange_rig import (
    ACCOUNT,
    LIMITS,
    QTY,
    SYMBOL,
    VENUE,
    Daemon,
    start_daemon,
    stepped_exchange,
    until,
)
from trading_engine.daemon import SHUTDOWN_BUDGET_S, _Parts
from trading_engine.daemon import Daemon as TradingDaemon
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


async def long_with_its_stop(
    ex: LocalExchange,
    journal_dir: Path,
    venue_config: ExecutorConfig = VENUE,
    on_event: Callable[[Event], None] | None = None,
) -> Daemon:
    """The daemon, long 0.010 with its stop-loss accepted by the exchange; `on_event`: the
    rig's (called with each venue event before the ExecManager)."""
    d = await start_daemon(
        ex,
        journal_dir,
        limits=GUARDED,
        exec_config=ExecConfig(symbols=(SYMBOL,), stale_order_ms=10**9),
        prefix="sg",
        venue_config=venue_config,
        on_event=on_event,
    )
    await ex.step(60_000)
    await d.buy_at_market(QTY)
    await until(
        lambda: (stop := stop_in_books(d)) is not None and stop.status is OrderStatus.NEW,
        "the long and its accepted stop-loss",
    )
    assert d.book.position(SYMBOL).qty == QTY
    return d


@contextlib.asynccontextmanager
async def in_real_time(ex: LocalExchange) -> AsyncIterator[None]:
    """The stepped exchange's clock kept with the wall clock meanwhile (a stop of a few
    seconds: a frozen exchange clock would refuse our timestamps as ahead of it, -1021)."""

    async def tick() -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.05)
            now = loop.time()
            await ex.step(round((now - last) * 1000))
            last = now

    ticking = asyncio.get_running_loop().create_task(tick())
    try:
        yield
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking


def cancel_unheard(ex: LocalExchange, client_id: str) -> None:
    """The exchange cancels the stop; its ALGO_UPDATE never reaches the daemon."""
    ex.engine.cancel_algo_order(ACCOUNT, {"symbol": SYMBOL, "clientAlgoId": client_id})
    ex.engine.drain_user_events()


def shutting_down(
    d: Daemon, journal_dir: Path, market_stop_s: float = 0.0
) -> tuple[TradingDaemon, io.StringIO]:
    """The daemon over the rig's parts (no market-data stream), ready for `_shutdown`;
    `market_stop_s`: how long its market streams' stop takes (a socket whose close hangs
    until the stop gives up on it)."""

    async def stopped(timeout_s: float = 0.0) -> None:
        await asyncio.sleep(min(market_stop_s, timeout_s))  # a close that never completes

    settings = replace(
        load_settings(None, env_file=None), symbols=(SYMBOL,), journal_dir=str(journal_dir)
    )
    out = io.StringIO()
    daemon = TradingDaemon(settings, out=out, clock=d.venue.clock)
    daemon._parts = _Parts(
        rest=d.rest, market_rest=None, journal=d.journal, book=d.book, risk=d.risk,
        exec_manager=d.em, venue=d.venue,
        stream=SimpleNamespace(stop=stopped, gap_open=lambda _symbol=None: False), strategy=None,
    )  # type: ignore[arg-type]  # fmt: skip
    return daemon, out


async def stop_with_its_stop_loss_gone(
    ex: LocalExchange,
    journal_dir: Path,
    caplog: pytest.LogCaptureFixture,
    *,
    before: Callable[[], None] | None = None,
    at_snapshot: Callable[[], None] | None = None,
) -> tuple[Daemon, str]:
    """The daemon long with its stop-loss, which the exchange then cancels unheard, shut down
    (`_shutdown`, logs captured from INFO); `before`: run just before the shutdown;
    `at_snapshot`: run at each venue snapshot after the cancel (the stop's last reconciliation
    among them: a fault armed for the stop-loss it sends). The rig's daemon and what the
    shutdown printed."""
    stopping = False

    def on_event(event: Event) -> None:
        if stopping and at_snapshot is not None and isinstance(event, VenueSnapshot):
            at_snapshot()

    d = await long_with_its_stop(ex, journal_dir, on_event=on_event)
    daemon, out = shutting_down(d, journal_dir)
    try:
        cancel_unheard(ex, stop_in_books(d).client_order_id)
        assert exchange_stops(ex) == []
        stopping = True
        if before is not None:
            before()
        with caplog.at_level(logging.INFO):
            await daemon._shutdown()
    finally:
        await d.rest.close()
        d.journal.close()
    return d, out.getvalue()


async def test_a_stop_loss_the_exchange_removed_unseen_is_placed_again_at_the_stop(
    exchange: LocalExchange, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ex = exchange
    d, said = await stop_with_its_stop_loss_gone(ex, tmp_path, caplog)

    assert exchange_stops(ex) == [("STOP_MARKET", "SELL", True)]
    stop = stop_in_books(d)
    assert stop is not None and stop.status is OrderStatus.NEW  # confirmed by the exchange
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

    def turned_away() -> None:
        ex.faults.order_rejection(-2019, 1)  # the new stop-loss is turned away

    _, said = await stop_with_its_stop_loss_gone(ex, tmp_path, caplog, before=turned_away)

    assert exchange_stops(ex) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    line = "WARNING: position BTCUSDT 0.010 left open WITHOUT an exchange-side stop-loss"
    assert line in said
    assert any(line in w for w in warnings), warnings


async def test_a_slow_exchange_s_stop_fits_the_budget_the_daemon_gives_the_venue(
    exchange: LocalExchange, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The market streams' stop used its whole second and every REST answer takes 0.2 s: the
    venue is given what is left of the daemon's budget, not its own 5 s, and its last
    reconciliation (which places the stop-loss again) and its closing fit in it."""
    ex = exchange
    d = await long_with_its_stop(ex, tmp_path, venue_config=replace(VENUE, stop_timeout_s=5.0))
    daemon, out = shutting_down(d, tmp_path, market_stop_s=1.0)
    given: list[float | None] = []
    stop = d.venue.stop

    async def recorded_stop(**kwargs: Any) -> None:
        given.append(kwargs.get("within_s"))
        await stop(**kwargs)

    d.venue.stop = recorded_stop  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    try:
        cancel_unheard(ex, stop_in_books(d).client_order_id)
        ex.faults.latency(rest_s=0.2)
        started = loop.time()
        with caplog.at_level(logging.INFO):
            async with in_real_time(ex):
                await daemon._shutdown()
        took_s = loop.time() - started
    finally:
        ex.faults.latency(rest_s=0.0)
        await d.rest.close()
        d.journal.close()

    [within_s] = given
    assert within_s is not None and within_s <= SHUTDOWN_BUDGET_S - 1.0
    assert took_s <= SHUTDOWN_BUDGET_S
    assert "venue did not stop in time" not in caplog.text
    assert exchange_stops(ex) == [("STOP_MARKET", "SELL", True)]
    assert "books vs exchange at exit: identical" in out.getvalue()


async def test_the_venue_s_stop_ends_within_the_time_it_is_given_its_reconciliation_done(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    """Every REST answer takes 0.1 s; the stop is given 1.5 s of its 5: the cancel-all's
    reads, the last reconciliation, the stop-loss it places again and the user stream's close
    end within them."""
    ex = exchange
    d = await long_with_its_stop(ex, tmp_path, venue_config=replace(VENUE, stop_timeout_s=5.0))
    loop = asyncio.get_running_loop()
    reconciles = d.venue.stats.reconciles
    try:
        d.em.stop_trading()
        cancel_unheard(ex, stop_in_books(d).client_order_id)
        ex.faults.latency(rest_s=0.1)
        started = loop.time()
        async with in_real_time(ex):
            await d.venue.stop(cancel_orders=True, keep_protection=True, within_s=1.5)
        took_s = loop.time() - started
    finally:
        ex.faults.latency(rest_s=0.0)
        await d.rest.close()
        d.journal.close()

    assert took_s <= 1.5 + 0.05  # a few ms past its last step, at most
    assert d.venue.stats.reconciles == reconciles + 1
    assert exchange_stops(ex) == [("STOP_MARKET", "SELL", True)]


async def test_a_stop_loss_refused_rate_limited_at_the_stop_is_sent_once_more(
    exchange: LocalExchange, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The stop-loss the stop's last reconciliation places again is answered 429 (-1003) more
    often than the connection waits one out (10 times): certain not to have executed, it is
    sent once more, under the same client id, and the position stays guarded."""
    ex = exchange

    def rate_limited() -> None:
        ex.faults.rest_rate_limit(count=11, retry_after_s=0)  # the next request's

    d, said = await stop_with_its_stop_loss_gone(ex, tmp_path, caplog, at_snapshot=rate_limited)

    assert ex.faults.rest_429_next == 0  # the 11 answers were the stop-loss's
    assert exchange_stops(ex) == [("STOP_MARKET", "SELL", True)]
    stop = stop_in_books(d)
    assert stop is not None and stop.status is OrderStatus.NEW
    assert "still rate limited after 10 waits" in caplog.text
    assert "sent once more" in caplog.text
    assert "position BTCUSDT 0.010 left open, guarded on the exchange by STOP_MARKET" in said
    assert "WARNING" not in said


async def test_a_stop_loss_refused_by_an_ip_ban_at_the_stop_is_sent_once_more_after_it(
    exchange: LocalExchange, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The stop-loss the stop's last reconciliation places again is answered 418 (an IP ban of
    0.5 s): not executed, and nothing may be sent before the ban's end, which comes within
    the stop's budget; it is sent once more after it, and the position stays guarded."""
    ex = exchange

    def banned() -> None:
        ex.faults.rest_ban(seconds=0.5)  # from the next request on: the stop-loss's

    d, said = await stop_with_its_stop_loss_gone(ex, tmp_path, caplog, at_snapshot=banned)

    assert ex.faults.rest_ban_hits == 1
    assert exchange_stops(ex) == [("STOP_MARKET", "SELL", True)]
    stop = stop_in_books(d)
    assert stop is not None and stop.status is OrderStatus.NEW
    assert "sent once more" in caplog.text
    assert "position BTCUSDT 0.010 left open, guarded on the exchange by STOP_MARKET" in said


async def test_a_stop_loss_whose_outcome_is_unknown_at_the_stop_is_not_sent_again(
    exchange: LocalExchange, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The stop-loss placed again at the stop is answered 503 (the exchange executed nothing,
    but a 503 does not prove it): its outcome is unknown, so it is looked up, never sent
    again, and the summary warns that the position may be unguarded."""
    ex = exchange

    def unavailable() -> None:
        ex.faults.order_failure("unavailable_before", count=1)

    _, said = await stop_with_its_stop_loss_gone(ex, tmp_path, caplog, at_snapshot=unavailable)

    assert ex.faults.order_mode is None  # the one 503 was the stop-loss's
    assert exchange_stops(ex) == []
    assert "outcome unknown" in caplog.text
    assert "sent once more" not in caplog.text
    assert "WARNING: position BTCUSDT 0.010 left open" in said


async def test_the_stop_loss_of_a_position_a_flatten_closed_ends_expired_by_the_exchange(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    """The kill switch flattens the long: its fill closes the position, and the exchange ends
    the closePosition stop-loss itself, EXPIRED (Binance's own end of it, reference 6.3), before
    the daemon would cancel it. The books count it expired, as the exchange says, and the
    summary says who ended it."""
    ex = exchange
    d = await long_with_its_stop(ex, tmp_path)
    try:
        stop = stop_in_books(d).client_order_id
        d.em.kill("operator")
        await until(lambda: d.em.trading_state is TradingState.HALTED, "HALTED, flat")
    finally:
        await d.stop()

    assert [type(e) for e in d.seen if getattr(e, "client_order_id", None) == stop][-1] is (
        OrderExpired
    )
    assert d.book.orders_by_status == {"FILLED": 2, "EXPIRED": 1}
    assert d.book.summary().lines()[0] == (
        "orders: 3 submitted (expired 1, filled 2), 0 open; expired: ended by the exchange (a "
        "stop-loss / take-profit whose position closed, or an order's unfilled rest), not "
        "cancelled by the daemon"
    )
