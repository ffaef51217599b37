"""A fill made between the clean stop's position read and its fills read, of an order no event
books, is booked at the restart: end to end on the local exchange, the daemon's parts restored
from their journal as `trading_engine.daemon` restores them (`local_exchange_rig`).

The daemon buys 0.010 BTC at the market and stops. Its stop's reconciliation reads the
position (0.010); right then a MARKET SELL 0.004 fills under a client id of this daemon's
prefix and another journal's tag (`e2e-q0q0q0-5`: the daemon run on another journal, say),
no longer open when the fills are read: a running session neither tracks nor books it as
outside (an id it issues), so no event books it; its user-stream reports come after the
stream closed (lost). The fills read reach its trade.

Before, that snapshot journaled the trade id it read as the bound of what was in the books: the
restart counted the fill as seen and adopted the position (0.006) and the wallet as
differences, without the fill's fee and realized PnL (the wallet's taken as money moved in or
out while the daemon was stopped, not as the loss or gain it was). The bound now stops below it
(`gateway.venue_sync.seen_bound`): the restart books it under `outside:e2e-q0q0q0-5` with the
exchange's realized PnL and fee; books and exchange agree with no difference.

Expected values are computed here by hand from what the exchange published (the fills' prices
and quantities, the fee rates of `/fapi/v1/commissionRate`), never by the books' arithmetic.
"""

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from core.events import OrderFilled, OrderPartiallyFilled
from exchange_sim.server import LocalExchange
from tests.trading_engine.local_exchange_rig import (
    ACCOUNT,
    E8,
    QTY,
    SYMBOL,
    OnceAfter,
    exchange_position,
    fills_of,
    start_unguarded,
    stepped_exchange,
    until,
    usdt_wallet,
)

pytestmark = pytest.mark.asyncio

RACING = Decimal("0.004")
ANOTHER = "e2e-q0q0q0-5"  # this daemon's prefix, another journal's tag


@pytest.fixture
async def exchange():
    async with stepped_exchange() as ex:
        yield ex


def fill_after_position_read(rest: Any, ex: LocalExchange) -> OnceAfter:
    """The venue's REST connection, but right after the position read answers, the SELL
    fills on the exchange and its user-stream reports are dropped (they would come after
    the stream closed)."""

    def fill() -> None:
        ex.engine.new_order(
            ACCOUNT,
            {"symbol": SYMBOL, "side": "SELL", "type": "MARKET", "quantity": str(RACING),
             "newClientOrderId": ANOTHER},
        )  # fmt: skip
        ex.engine.drain_user_events()

    return OnceAfter(rest, "futures_position_information", fill)


async def test_a_fill_between_the_stops_position_and_fills_reads_is_booked_at_the_restart(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    start_wallet = usdt_wallet(ex)
    d = await start_unguarded(ex, tmp_path)
    try:
        await ex.step(60_000)  # a minute on: the exchange's times tell the events apart
        await d.buy_at_market(QTY)
        await until(lambda: d.book.position(SYMBOL).qty == QTY, "the long is open")
        rates = await d.rest.call("futures_commission_rate", symbol=SYMBOL)
        await ex.step(60_000)
        racing = fill_after_position_read(d.venue.sync.rest, ex)
        d.venue.sync.rest = racing
    finally:
        await d.stop()
    assert racing.fired
    entry, *sells = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})
    entry_price = Decimal(entry["price"])
    assert sells and sum((Decimal(r["qty"]) for r in sells), Decimal(0)) == RACING

    # By hand: the entry's taker fee; each SELL fill's realized PnL and taker fee.
    taker = Decimal(rates["takerCommissionRate"])

    def fee(row: dict[str, Any]) -> Decimal:
        return (Decimal(row["qty"]) * Decimal(row["price"]) * taker).quantize(
            E8, rounding=ROUND_HALF_UP
        )

    entry_fee = fee(entry)
    realized = sum(
        (Decimal(r["qty"]) * (Decimal(r["price"]) - entry_price) for r in sells), Decimal(0)
    )
    sell_fees = sum((fee(r) for r in sells), Decimal(0))
    assert [Decimal(r["commission"]) for r in sells] == [fee(r) for r in sells]
    assert sum((Decimal(r["realizedPnl"]) for r in sells), Decimal(0)) == realized
    wallet = start_wallet - entry_fee + realized - sell_fees
    assert usdt_wallet(ex) == wallet and exchange_position(ex) == QTY - RACING

    again = await start_unguarded(ex, tmp_path)  # restored from the journal, reconciled
    try:
        booked = [e.fill for e in again.seen if isinstance(e, OrderPartiallyFilled | OrderFilled)]
        assert sorted((f.trade_id, f.client_order_id) for f in booked) == sorted(
            (int(r["id"]), f"outside:{ANOTHER}") for r in sells
        )
        assert again.book.position(SYMBOL).qty == QTY - RACING == exchange_position(ex)
        assert again.book.realized_pnl == realized
        assert again.book.fees == {"USDT": entry_fee + sell_fees}
        assert again.book.wallet() == wallet == usdt_wallet(ex)
        assert again.book.differences == 0  # nothing adopted: the fills explain the snapshot
        again.journal.flush()
        assert [fills_of(again, int(r["id"])) for r in sells] == [[f"outside:{ANOTHER}"]] * len(
            sells
        )
    finally:
        await again.stop()
