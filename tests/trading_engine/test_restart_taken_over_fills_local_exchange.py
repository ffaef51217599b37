"""An order taken over from an earlier journal has its fills from before the take-over booked
by nobody here, at any later read of its fills, also after a restart: end to end on the local
exchange, the daemon's parts restored from their journal as `trading_engine.daemon` restores
them (`local_exchange_rig`).

A first journal buys 0.010 BTC at the market. Its directory is then moved away: a LIMIT SELL
0.010 of this daemon's prefix under another journal's tag (`e2e-q0q0q0-3`) rests about 3 %
above the entry and fills 0.004 (that journal's session: its fill, its books). A fresh journal
starts: it adopts the order as it stands (0.004 filled; that fill older than where a fresh
start reads) and the position from the snapshot. Then 0.003 more fills with the user stream's
reports of it lost (a gap): the executor's query of the order sees 0.007 filled, more than
the 0.004 it holds, and reads the order's fills from the first. After a restart, 0.002 more
fills the same way.

Before, each such read booked the 0.004 fill of the earlier journal's session too (no trade id
of it was counted on the order: the start-up did not read it, and the restart's trade ids are
this journal's only): the position went 0.004 short of the exchange's, the realized PnL and
fees off by that fill's. The take-over now records what the order had filled (0.004, the
journal's `orders.taken_over_qty`): the order's first fills up to it are counted, not booked.

Expected values are computed here by hand from what the exchange published (the fills' prices
and quantities, the fee rates of `/fapi/v1/commissionRate`), never by the books' arithmetic.
"""

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from exchange_sim.server import LocalExchange
from tests.trading_engine.local_exchange_rig import (
    ACCOUNT,
    E8,
    EARLIER,
    QTY,
    SYMBOL,
    TICK,
    Daemon,
    booked,
    earlier_sell_filled_while_down,
    exchange_position,
    fills_of,
    start_unguarded,
    stepped_exchange,
    until,
    usdt_wallet,
)

pytestmark = pytest.mark.asyncio

TAKEN_OVER = Decimal("0.004")  # filled in the earlier journal's session
THEN = Decimal("0.003")  # filled after the take-over, its stream reports lost
AFTER_RESTART = Decimal("0.002")  # filled after a restart, the same way


@pytest.fixture
async def exchange():
    async with stepped_exchange() as ex:
        yield ex


async def fill_unreported(ex: LocalExchange, d: Daemon, price: Decimal, qty: Decimal) -> int:
    """A trade a tick through the SELL fills `qty` of it at its price; the user stream's
    reports of it are lost (a gap). The executor then queries the order (as a follow-up or a
    reconciliation's sweep does): it shows more filled than held, and its fills are read.
    Returns the fill's trade id."""
    ex.engine.on_trade(SYMBOL, price + TICK, qty, False, ex.now_ms())
    ex.engine.drain_user_events()  # lost: never on the stream
    tracked = d.venue.tracker.get(EARLIER)
    assert tracked is not None
    await d.venue.sync.refresh(tracked)
    return max(int(r["id"]) for r in ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL}))


async def test_fills_made_before_the_take_over_are_never_booked_by_a_later_read(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    first = await start_unguarded(ex, tmp_path / "first")
    try:
        await first.buy_at_market(QTY)
        await until(lambda: first.book.position(SYMBOL).qty == QTY, "the long is open")
        rates = await first.rest.call("futures_commission_rate", symbol=SYMBOL)
    finally:
        await first.stop()
    [entry] = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})
    entry_price = Decimal(entry["price"])
    maker = Decimal(rates["makerCommissionRate"])

    # The earlier journal's SELL, 0.004 of it filled in that journal's session.
    price = await earlier_sell_filled_while_down(ex, entry_price, TAKEN_OVER)
    _, before_row = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})
    before_id = int(before_row["id"])

    # By hand: each later fill's realized PnL (the long reduced at `price`) and maker fee.
    def realized(qty: Decimal) -> Decimal:
        return qty * (price - entry_price)

    def fee(qty: Decimal) -> Decimal:
        return (qty * price * maker).quantize(E8, rounding=ROUND_HALF_UP)

    # A fresh journal: the order adopted as it stands, the position and wallet from the
    # snapshot (what its books start from).
    d = await start_unguarded(ex, tmp_path / "second")
    try:
        tracked = d.venue.tracker.get(EARLIER)
        assert tracked is not None and tracked.taken_over_qty == TAKEN_OVER
        assert d.book.position(SYMBOL).qty == QTY - TAKEN_OVER == exchange_position(ex)
        start_wallet = usdt_wallet(ex)
        assert d.book.wallet() == start_wallet and d.book.realized_pnl == 0

        then_id = await fill_unreported(ex, d, price, THEN)

        assert booked(d) == [(then_id, EARLIER)]
        assert d.book.position(SYMBOL).qty == QTY - TAKEN_OVER - THEN == exchange_position(ex)
        assert d.book.realized_pnl == realized(THEN) > 0
        assert d.book.fees == {"USDT": fee(THEN)}
        assert d.book.wallet() == start_wallet + realized(THEN) - fee(THEN) == usdt_wallet(ex)
        d.journal.flush()
        assert d.journal.taken_over_qtys() == {EARLIER: TAKEN_OVER}
    finally:
        await d.stop()

    # A restart: the order comes back as ours with what it had filled when taken over.
    again = await start_unguarded(ex, tmp_path / "second")
    try:
        assert not booked(again)  # nothing new at the start-up
        tracked = again.venue.tracker.get(EARLIER)
        assert tracked is not None and tracked.taken_over_qty == TAKEN_OVER
        assert before_id in tracked.trade_ids  # counted as seen by the start-up's read

        last_id = await fill_unreported(ex, again, price, AFTER_RESTART)

        assert booked(again) == [(last_id, EARLIER)]
        left = QTY - TAKEN_OVER - THEN - AFTER_RESTART
        assert again.book.position(SYMBOL).qty == left == exchange_position(ex)
        assert again.book.realized_pnl == realized(THEN) + realized(AFTER_RESTART)
        assert again.book.fees == {"USDT": fee(THEN) + fee(AFTER_RESTART)}
        assert again.book.wallet() == (
            start_wallet + realized(THEN + AFTER_RESTART) - fee(THEN) - fee(AFTER_RESTART)
        )
        assert again.book.wallet() == usdt_wallet(ex)
        again.journal.flush()
        assert fills_of(again, before_id) == []  # the earlier journal's, not this one's
        assert fills_of(again, then_id) == [EARLIER]
        assert fills_of(again, last_id) == [EARLIER]
    finally:
        await again.stop()
