"""A restart after 8 days down reads the fills made meanwhile as Binance requires, end to end on
the stepped local exchange (`local_exchange_rig`), which refuses a `userTrades` window over 7
days (-4165, reference 6.9) and answers `limit` rows at most.

The first session starts on a fresh journal (no fill) and stops. The exchange's clock jumps 8
days; three MARKET BUYs placed by hand (`web_*`) fill. The restart has no journaled trade id:
it reads the fills by time from a minute before the journal's last record, in windows of at
most 7 days (the first is empty), then on by trade id, 2 rows a page. Every fill is booked once,
under `outside:<its client id>`, and the books' position is the exchange's.
"""

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exchange_sim.server import LocalExchange
from gateway.venue_sync import TRADES_WINDOW_MS
from tests.trading_engine.local_exchange_rig import (
    ACCOUNT,
    LIMITS,
    PREFIX,
    SYMBOL,
    VENUE,
    booked,
    exchange_position,
    start_daemon,
    start_unguarded,
    stepped_exchange,
    usdt_wallet,
)
from trading_engine.exec_manager import ExecConfig

pytestmark = pytest.mark.asyncio

DAY_MS = 24 * 3_600_000
HAND = ("web_a1", "web_b2", "web_c3")


class TradesAsked:
    """The venue's REST connection, recording the parameters of each userTrades read."""

    def __init__(self, rest: Any) -> None:
        self._rest = rest
        self.asked: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rest, name)

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == "futures_account_trades":
            self.asked.append(kw)
        return await self._rest.call(method, **kw)


@pytest.fixture
async def exchange():
    async with stepped_exchange() as ex:
        yield ex


async def test_fills_made_8_days_into_a_downtime_are_read_by_7_day_windows_and_pages(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    first = await start_unguarded(ex, tmp_path)
    await first.stop()

    assert ex.clock.sim is not None
    ex.clock.sim.advance_ms(8 * DAY_MS)  # no replayed trade: the book stays as it was
    ex.engine.on_time(ex.now_ms())  # the matching engine's clock too (fills are made now)
    for cid in HAND:
        ex.engine.new_order(
            ACCOUNT,
            {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.002",
             "newClientOrderId": cid},
        )  # fmt: skip
    ex.flush_user_events()  # published while nobody listens
    made = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})
    assert len(made) >= 3 and exchange_position(ex) == Decimal("0.006")

    recorder: list[TradesAsked] = []

    def record(rest: Any) -> TradesAsked:
        recorder.append(TradesAsked(rest))
        return recorder[0]

    d = await start_daemon(
        ex,
        tmp_path,
        limits=LIMITS,
        exec_config=ExecConfig(symbols=(SYMBOL,), protect_positions=False, stale_order_ms=10**9),
        prefix=PREFIX,
        wrap_rest=record,
        venue_config=replace(VENUE, trades_page_limit=2),
    )
    try:
        orders = ex.engine.all_orders(ACCOUNT, {"symbol": SYMBOL})
        cid_of = {o["orderId"]: o["clientOrderId"] for o in orders}
        assert booked(d) == [(t["id"], f"outside:{cid_of[t['orderId']]}") for t in made]
        assert {cid_of[t["orderId"]] for t in made} == set(HAND)
        assert d.book.position(SYMBOL).qty == exchange_position(ex)
        assert d.book.wallet() == usdt_wallet(ex) and d.book.differences == 0
        windows = [kw for kw in recorder[0].asked if "startTime" in kw]
        assert len(windows) >= 2  # the first 7 days held none of them
        assert all(kw["endTime"] - kw["startTime"] <= TRADES_WINDOW_MS for kw in windows)
        assert all(kw["limit"] == 2 for kw in recorder[0].asked)
    finally:
        await d.stop()
