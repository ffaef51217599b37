"""A restart books what an order of an earlier journal, still open, filled while the daemon was
down, end to end on the local exchange: the daemon's parts (LiveVenue over REST and the user
stream, ExecManager, BookKeeper, SqliteJournal) restored from their journal as
`trading_engine.daemon` restores them, on a stepped exchange replaying `klines-week`.

The first session buys 0.010 BTC at the market and stops (its order filled, nothing left on
the exchange). While it is down, a LIMIT SELL 0.010 about 3 % above the market rests on the
account under a client id this daemon issues, of another journal (`e2e-q0q0q0-3`: the daemon
run meanwhile on another journal, say), and a trade prints a tick through it for 0.004:
it fills
0.004 as maker and rests with 0.006 to go. The restart adopts the order as its own (its
prefix); the fill it made while the daemon was down is booked under `outside:e2e-q0q0q0-3`
with the exchange's realized PnL and fee, once, also across a second restart; the rest of it,
filled while the daemon runs, is booked under its own id.

Before, that fill was reported as the adopted order's own before the snapshot that adopts it
(an order the books did not know yet: not booked), and the snapshot put the position in the
books without its realized PnL or fee, the wallet as a difference.

Expected values are computed here by hand from what the exchange published (the fills' prices
and quantities, the fee rates of `/fapi/v1/commissionRate`), never by the books' arithmetic.
"""

import logging
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from core.events import OrderFilled, OrderPartiallyFilled
from exchange_sim.server import LocalExchange
from tests.trading_engine.local_exchange_rig import (
    ACCOUNT,
    E8,
    EARLIER,
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
    usdt_wallet,
)

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def exchange():
    async with stepped_exchange() as ex:
        yield ex


async def test_an_earlier_journals_order_still_open_has_what_it_filled_while_down_booked(
    exchange: LocalExchange, tmp_path: Path, caplog
) -> None:
    ex = exchange
    start_wallet = usdt_wallet(ex)
    first = await start_unguarded(ex, tmp_path)
    try:
        await first.buy_at_market(QTY)
        await until(lambda: first.book.position(SYMBOL).qty == QTY, "the long is open")
        rates = await first.rest.call("futures_commission_rate", symbol=SYMBOL)
    finally:
        await first.stop()
    [entry] = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})
    entry_price = Decimal(entry["price"])

    # While it is down (a minute on): the earlier journal's SELL rests 3 % above the entry,
    # and a trade a tick through its price fills 0.004 of it (at its price).
    price = await earlier_sell_filled_while_down(ex, entry_price)
    _, outside_row = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})
    outside_id = int(outside_row["id"])
    # By hand: the entry's taker fee, the maker fill's realized PnL and fee (8 decimals).
    entry_fee = (QTY * entry_price * Decimal(rates["takerCommissionRate"])).quantize(
        E8, rounding=ROUND_HALF_UP
    )
    realized = WHILE_DOWN * (price - entry_price)
    fee = (WHILE_DOWN * price * Decimal(rates["makerCommissionRate"])).quantize(
        E8, rounding=ROUND_HALF_UP
    )
    assert (Decimal(outside_row["realizedPnl"]), Decimal(outside_row["commission"])) == (
        realized,
        fee,
    )
    assert realized > 0 and fee > 0
    wallet = start_wallet - entry_fee + realized - fee
    assert usdt_wallet(ex) == wallet and exchange_position(ex) == QTY - WHILE_DOWN

    caplog.set_level(logging.WARNING, logger="book_keeper.book_keeper")
    caplog.clear()  # the first session's lines (an INFO among them, if a logger was left lower)
    d = await start_unguarded(ex, tmp_path)  # restored from the journal, reconciled
    try:
        booked = [e.fill for e in d.seen if isinstance(e, OrderPartiallyFilled | OrderFilled)]
        assert [(f.trade_id, f.client_order_id) for f in booked] == [
            (outside_id, f"outside:{EARLIER}")
        ]
        assert d.book.position(SYMBOL).qty == QTY - WHILE_DOWN == exchange_position(ex)
        assert d.book.realized_pnl == realized
        assert d.book.fees == {"USDT": entry_fee + fee}
        assert d.book.wallet() == wallet == usdt_wallet(ex)
        # One difference: the order taken over (any earlier journal's is); none of position
        # or wallet, which the booked fill explains.
        said = [
            r.getMessage()
            for r in caplog.records
            if r.levelno >= logging.WARNING and r.getMessage().startswith("books:")
        ]
        assert said == [
            f"books: order {EARLIER} ({SYMBOL} SELL LIMIT 0.010) is open at the exchange but "
            "not in our books; added"
        ]
        assert d.book.differences == 1
        assert list(d.book.orders) == [EARLIER] and d.venue.order(EARLIER) is not None
        d.journal.flush()
        assert fills_of(d, outside_id) == [f"outside:{EARLIER}"]
        assert d.journal.unknown_order_events == 0
    finally:
        await d.stop()

    # A second restart: the fill comes back from the journal, booked once; the order is ours.
    again = await start_unguarded(ex, tmp_path)
    try:
        assert not [e for e in again.seen if isinstance(e, OrderPartiallyFilled | OrderFilled)]
        assert (again.book.realized_pnl, again.book.fees, again.book.wallet()) == (
            realized,
            {"USDT": entry_fee + fee},
            wallet,
        )
        assert again.book.position(SYMBOL).qty == QTY - WHILE_DOWN
        assert again.book.differences == 0
        assert again.venue.stats.outside_fills == 0
        assert fills_of(again, outside_id) == [f"outside:{EARLIER}"]

        # The rest of it fills while the daemon runs: under its own id, as any order of ours.
        rest = QTY - WHILE_DOWN
        ex.engine.on_trade(SYMBOL, price + TICK, rest, False, ex.now_ms())
        ex.flush_user_events()  # on the user stream
        await until(lambda: again.book.position(SYMBOL).qty == 0, "the rest filled")
        [last] = [e for e in again.seen if isinstance(e, OrderFilled)]
        assert (last.fill.client_order_id, last.fill.qty, last.cumulative_qty) == (
            EARLIER,
            rest,
            QTY,
        )
        last_fee = (rest * price * Decimal(rates["makerCommissionRate"])).quantize(
            E8, rounding=ROUND_HALF_UP
        )
        assert again.book.realized_pnl == QTY * (price - entry_price)
        assert again.book.fees == {"USDT": entry_fee + fee + last_fee}
        assert again.book.wallet() == wallet + rest * (price - entry_price) - last_fee
        assert again.book.wallet() == usdt_wallet(ex) and exchange_position(ex) == 0
    finally:
        await again.stop()
