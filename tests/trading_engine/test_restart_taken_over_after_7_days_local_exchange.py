"""A restart more than 7 days after an earlier journal's order was taken over books what the
order filled while the daemon was down, end to end on the local exchange (`local_exchange_rig`).

The first session buys 0.010 BTC at the market and stops. While it is down, a LIMIT SELL 0.010
of this daemon's prefix under another journal's tag (`e2e-q0q0q0-3`) rests about 3 % above the
entry and fills 0.004. The restart takes the order over (0.004 filled then, booked under
`outside:e2e-q0q0q0-3`) and stops. The exchange's clock then jumps 8 days, and the rest, 0.006,
fills. The next restart must book that fill, once, and its books must hold the exchange's flat
position.

`GET /fapi/v1/userTrades` with `orderId` and no time reads the last 7 days only (reference 6.9,
"No times -> last 7 days"). The restart counted the order's first fills, up to the 0.004 it had
at the take-over, as seen, reading them that way: the 0.004 fill, 8 days old, was not in the
answer, so the 0.006 fill counted as one of them, never booked, and the books kept 0.006 long
while the exchange was flat.
"""

from decimal import Decimal
from pathlib import Path

import pytest

from core.events import OrderFilled, OrderPartiallyFilled
from exchange_sim.server import LocalExchange
from tests.trading_engine.local_exchange_rig import (
    ACCOUNT,
    QTY,
    SYMBOL,
    TICK,
    WHILE_DOWN,
    earlier_sell_filled_while_down,
    exchange_position,
    fills_of,
    start_unguarded,
    stepped_exchange,
    until,
)

pytestmark = pytest.mark.asyncio

DAY_MS = 24 * 3_600_000


@pytest.fixture
async def exchange():
    async with stepped_exchange() as ex:
        yield ex


async def test_a_taken_over_orders_fill_made_8_days_after_its_first_is_booked_at_the_restart(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    first = await start_unguarded(ex, tmp_path)
    try:
        await first.buy_at_market(QTY)
        await until(lambda: first.book.position(SYMBOL).qty == QTY, "the long is open")
    finally:
        await first.stop()
    [entry] = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})
    price = await earlier_sell_filled_while_down(ex, Decimal(entry["price"]))
    taking_over = await start_unguarded(ex, tmp_path)
    await taking_over.stop()
    assert taking_over.book.position(SYMBOL).qty == QTY - WHILE_DOWN

    # 8 days later (the clock alone: no replayed trade may touch the SELL), the rest fills.
    assert ex.clock.sim is not None
    ex.clock.sim.advance_ms(8 * DAY_MS)
    ex.engine.on_trade(SYMBOL, price + TICK, QTY - WHILE_DOWN, False, ex.now_ms())
    ex.flush_user_events()  # published while nobody listens
    last = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})[-1]
    assert Decimal(last["qty"]) == QTY - WHILE_DOWN and exchange_position(ex) == 0

    d = await start_unguarded(ex, tmp_path)
    try:
        fills = [e.fill for e in d.seen if isinstance(e, OrderPartiallyFilled | OrderFilled)]
        assert [(f.trade_id, f.qty) for f in fills] == [(int(last["id"]), QTY - WHILE_DOWN)]
        assert d.book.position(SYMBOL).qty == 0 == exchange_position(ex)
        d.journal.flush()
        assert len(fills_of(d, int(last["id"]))) == 1
    finally:
        await d.stop()
