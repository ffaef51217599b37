"""An order of this daemon's prefix under another journal's tag (`e2e-q0q0q0-3`), taken over by
a reconciliation that is not a restart's, with a fill landing between that reconciliation's
open-orders read and its userTrades read: it ends in the exchange's state in the tracker, the
books and the journal, its fill booked once. End to end on the local exchange (the daemon's
parts as `local_exchange_rig` wires them).

- A running session's reconciliation (periodic, after a reconnect): the fill is booked under
  `outside:e2e-q0q0q0-3` (the books do not know the order before the snapshot that takes it
  over) and counted on the order; one that completes it ends it (`OrderReconciled` with
  cause TAKEN_OVER_FILLS). So is one made before the open-orders read whose reports were
  lost (the books had it from nowhere). Before, the fills were only marked seen: the order
  stayed as the open-orders row showed it, open in the tracker and the books while the
  exchange had it filled, and the fills' fees and realized PnL never reached the books.
- A fresh journal's first start: its trade-id baseline is read before the open orders, and
  the reads are taken again when a fill landed in between, so that the order, the position
  and the wallet it adopts agree with one another. Before, the baseline (read after the open
  orders) swallowed the fill: the order was adopted without it and the next read of its
  fills booked it as the order's own, a second time (position and wallet off by it).
- A pass that takes the order over and then fails (a read after the open-orders read,
  HTTP 503), a fill landing before the next: its take-over is undone, the next pass takes
  the order over anew with the fill (a fresh start's: adopted in the position and wallet; a
  running one's: booked under `outside:`). Before, the order stayed tracked and the next
  pass emitted the fill as its own before the books knew the order (ignored there).

The user stream's reports of the racing fill are lost (a gap, as before a reconnect's pass).
Expected values are computed here by hand from what the exchange published (the fills'
prices, the fee rates of `/fapi/v1/commissionRate`), never by the books' arithmetic.
"""

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from core.enums import OrderStatus, ReconcileCause
from core.errors import RetryableError
from core.events import OrderReconciled
from exchange_sim.server import LocalExchange
from tests.trading_engine.local_exchange_rig import (
    ACCOUNT,
    E8,
    EARLIER,
    LIMITS,
    PREFIX,
    QTY,
    SYMBOL,
    TICK,
    Daemon,
    FailsOnce,
    OnceAfter,
    booked,
    exchange_position,
    fills_of,
    start_daemon,
    start_unguarded,
    stepped_exchange,
    until,
    usdt_wallet,
)
from trading_engine.exec_manager import ExecConfig

pytestmark = pytest.mark.asyncio

MAKER = Decimal("0.0002")  # the local exchange's maker fee rate (checked against its answer)
TAKER = Decimal("0.0005")


@pytest.fixture
async def exchange():
    async with stepped_exchange() as ex:
        yield ex


class Long:
    """The first session's 0.010 long at `entry`, the earlier journal's SELL price 3 % above
    it, and each SELL fill's money from them by hand."""

    def __init__(self, ex: LocalExchange, start_wallet: Decimal) -> None:
        [entry] = ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL})
        self.entry = Decimal(entry["price"])
        self.entry_fee = (QTY * self.entry * TAKER).quantize(E8, rounding=ROUND_HALF_UP)
        assert Decimal(entry["commission"]) == self.entry_fee
        self.price = (self.entry * Decimal("1.03") / TICK).to_integral_value() * TICK
        self.start_wallet = start_wallet

    def realized(self, qty: Decimal) -> Decimal:
        return qty * (self.price - self.entry)

    def fee(self, qty: Decimal) -> Decimal:
        return (qty * self.price * MAKER).quantize(E8, rounding=ROUND_HALF_UP)


async def long_then_earlier_sell(ex: LocalExchange, d: Daemon) -> Long:
    """`d` buys 0.010 at the market; then the earlier journal's LIMIT SELL 0.010 rests 3 % above
    the entry (its stream reports lost: `d` does not know it)."""
    start_wallet = usdt_wallet(ex)
    await d.buy_at_market(QTY)
    await until(lambda: d.book.position(SYMBOL).qty == QTY, "the long is open")
    rates = await d.rest.call("futures_commission_rate", symbol=SYMBOL)
    assert (Decimal(rates["makerCommissionRate"]), Decimal(rates["takerCommissionRate"])) == (
        MAKER, TAKER,
    )  # fmt: skip
    long = Long(ex, start_wallet)
    await ex.step(60_000)
    ex.engine.new_order(
        ACCOUNT,
        {"symbol": SYMBOL, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": str(QTY), "price": str(long.price), "newClientOrderId": EARLIER},
    )  # fmt: skip
    ex.engine.drain_user_events()  # lost
    return long


def fill(ex: LocalExchange, price: Decimal, qty: Decimal) -> None:
    """A trade a tick through the SELL fills `qty` of it; its stream reports are lost."""
    ex.engine.on_trade(SYMBOL, price + TICK, qty, False, ex.now_ms())
    ex.engine.drain_user_events()


def last_trade_id(ex: LocalExchange) -> int:
    return max(int(r["id"]) for r in ex.engine.user_trades(ACCOUNT, {"symbol": SYMBOL}))


async def reconcile_with_fill_after_open_orders_read(
    ex: LocalExchange, d: Daemon, price: Decimal, qty: Decimal
) -> int:
    """A running session's reconciliation whose open-orders read is followed at once by a
    fill of `qty` of the SELL; returns its trade id."""
    sync = d.venue.sync
    plain = sync.rest
    racing = OnceAfter(plain, "futures_get_open_orders", lambda: fill(ex, price, qty))
    sync.rest = racing  # type: ignore[assignment]  # RestConnection's call, wrapped
    try:
        await d.venue.reconcile("periodic")
    finally:
        sync.rest = plain
    assert racing.fired
    return last_trade_id(ex)


async def test_a_running_pass_books_once_a_fill_made_during_its_reads_of_an_order_it_takes_over(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    before, late = Decimal("0.002"), Decimal("0.004")
    filled = before + late
    d = await start_unguarded(ex, tmp_path)
    try:
        m = await long_then_earlier_sell(ex, d)
        entry_fills = booked(d)
        fill(ex, m.price, before)  # before the pass, its reports (account update too) lost
        before_id = last_trade_id(ex)

        late_id = await reconcile_with_fill_after_open_orders_read(ex, d, m.price, late)

        # Both booked once (the books heard of neither), the order taken over with both.
        assert booked(d) == [
            *entry_fills,
            (before_id, f"outside:{EARLIER}"),
            (late_id, f"outside:{EARLIER}"),
        ]
        tracked = d.venue.tracker.get(EARLIER)
        assert tracked is not None
        assert (tracked.status, tracked.fill_qty, tracked.taken_over_qty) == (
            OrderStatus.PARTIALLY_FILLED, filled, filled,
        )  # fmt: skip
        assert not tracked.needs_fills
        ours = d.book.orders[EARLIER]
        assert (ours.status, ours.filled_qty) == (OrderStatus.PARTIALLY_FILLED, filled)
        assert d.book.position(SYMBOL).qty == QTY - filled == exchange_position(ex)
        assert d.book.realized_pnl == m.realized(before) + m.realized(late)
        assert d.book.fees == {"USDT": m.entry_fee + m.fee(before) + m.fee(late)}
        wallet = m.start_wallet - m.entry_fee + m.realized(filled) - m.fee(before) - m.fee(late)
        assert d.book.wallet() == wallet == usdt_wallet(ex)

        # A later pass: the order's query finds nothing missing, nothing is booked again.
        await d.venue.reconcile("periodic")
        assert len(booked(d)) == len(entry_fills) + 2 and not tracked.needs_fills
        d.journal.flush()
        assert fills_of(d, before_id) == fills_of(d, late_id) == [f"outside:{EARLIER}"]
        assert d.journal.taken_over_qtys() == {EARLIER: filled}
        [row] = [o for o in d.journal.open_orders() if o.client_order_id == EARLIER]
        assert (row.status, row.filled_qty) == (OrderStatus.PARTIALLY_FILLED, filled)
    finally:
        await d.stop()


async def test_a_running_pass_ends_an_order_it_takes_over_that_a_fill_during_its_reads_completed(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    d = await start_unguarded(ex, tmp_path)
    try:
        m = await long_then_earlier_sell(ex, d)
        entry_fills = booked(d)

        late_id = await reconcile_with_fill_after_open_orders_read(ex, d, m.price, QTY)

        assert booked(d) == [*entry_fills, (late_id, f"outside:{EARLIER}")]
        tracked = d.venue.tracker.get(EARLIER)
        assert tracked is not None and tracked.status is OrderStatus.FILLED
        assert d.venue.tracker.open_orders() == []
        [ended] = [e for e in d.seen if isinstance(e, OrderReconciled)]
        assert (ended.client_order_id, ended.status, ended.cause) == (
            EARLIER, OrderStatus.FILLED, ReconcileCause.TAKEN_OVER_FILLS,
        )  # fmt: skip
        # Two orders traded today, once each: the BUY, and the SELL at its end (its fill,
        # booked as outside, ends no order of the books and counts nothing by itself).
        assert d.risk is not None and d.risk.trades_today == 2
        assert EARLIER not in d.book.orders
        assert d.book.position(SYMBOL).qty == 0 == exchange_position(ex)
        assert d.book.realized_pnl == m.realized(QTY)
        assert d.book.fees == {"USDT": m.entry_fee + m.fee(QTY)}
        wallet = m.start_wallet - m.entry_fee + m.realized(QTY) - m.fee(QTY)
        assert d.book.wallet() == wallet == usdt_wallet(ex)
        d.journal.flush()
        assert [o.client_order_id for o in d.journal.open_orders()] == []
        assert fills_of(d, late_id) == [f"outside:{EARLIER}"]
    finally:
        await d.stop()


async def fresh_start_with_fill_after_open_orders_read(
    ex: LocalExchange, journal_dir: Path, price: Decimal, qty: Decimal
) -> Daemon:
    """A fresh journal's start whose open-orders read is followed at once by a fill of `qty`
    of the SELL."""
    racing: list[OnceAfter] = []

    def wrap(rest: object) -> OnceAfter:
        racing.append(OnceAfter(rest, "futures_get_open_orders", lambda: fill(ex, price, qty)))
        return racing[0]

    d = await start_daemon(
        ex,
        journal_dir,
        limits=LIMITS,
        exec_config=ExecConfig(symbols=(SYMBOL,), protect_positions=False, stale_order_ms=10**9),
        prefix=PREFIX,
        wrap_rest=wrap,
    )
    assert racing[0].fired
    return d


async def test_a_fresh_start_adopts_a_fill_made_during_its_reads_with_the_order_it_takes_over(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    before, late = Decimal("0.004"), Decimal("0.003")
    first = await start_unguarded(ex, tmp_path / "first")
    try:
        m = await long_then_earlier_sell(ex, first)
    finally:
        await first.stop()
    fill(ex, m.price, before)  # the earlier journal's session's, before the fresh start

    d = await fresh_start_with_fill_after_open_orders_read(ex, tmp_path / "second", m.price, late)
    try:
        # Nothing booked (a fresh journal adopts what the account holds); the order taken over
        # with both fills, as the exchange has it; position and wallet the exchange's.
        assert booked(d) == []
        tracked = d.venue.tracker.get(EARLIER)
        assert tracked is not None
        assert (tracked.status, tracked.fill_qty, tracked.taken_over_qty) == (
            OrderStatus.PARTIALLY_FILLED, before + late, before + late,
        )  # fmt: skip
        ours = d.book.orders[EARLIER]
        assert (ours.status, ours.filled_qty) == (OrderStatus.PARTIALLY_FILLED, before + late)
        wallet = m.start_wallet - m.entry_fee + m.realized(before + late)
        wallet -= m.fee(before) + m.fee(late)
        assert d.book.position(SYMBOL).qty == QTY - before - late == exchange_position(ex)
        assert d.book.wallet() == wallet == usdt_wallet(ex)

        # A later pass reads the order's fills: none of them is booked as its own.
        await d.venue.reconcile("periodic")
        assert booked(d) == [] and not tracked.needs_fills
        assert d.book.position(SYMBOL).qty == QTY - before - late == exchange_position(ex)
        assert d.book.wallet() == wallet == usdt_wallet(ex)
        assert (d.book.realized_pnl, d.book.fees) == (0, {})
        d.journal.flush()
        assert d.journal.taken_over_qtys() == {EARLIER: before + late}
    finally:
        await d.stop()


async def test_a_fresh_start_does_not_take_over_an_order_a_fill_during_its_reads_completed(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    before = Decimal("0.004")
    first = await start_unguarded(ex, tmp_path / "first")
    try:
        m = await long_then_earlier_sell(ex, first)
    finally:
        await first.stop()
    fill(ex, m.price, before)

    d = await fresh_start_with_fill_after_open_orders_read(
        ex, tmp_path / "second", m.price, QTY - before
    )
    try:
        # FILLED before the start's reads were over: not open, so nothing to take over.
        assert booked(d) == []
        assert d.venue.tracker.get(EARLIER) is None and EARLIER not in d.book.orders
        wallet = m.start_wallet - m.entry_fee + m.realized(QTY) - m.fee(before)
        wallet -= m.fee(QTY - before)
        assert d.book.position(SYMBOL).qty == 0 == exchange_position(ex)
        assert d.book.wallet() == wallet == usdt_wallet(ex)

        await d.venue.reconcile("periodic")
        assert booked(d) == []
        assert d.book.position(SYMBOL).qty == 0 and d.book.wallet() == usdt_wallet(ex)
        d.journal.flush()
        assert d.journal.open_orders() == [] and d.journal.taken_over_qtys() == {}
    finally:
        await d.stop()


async def test_a_fresh_start_whose_pass_failed_after_a_take_over_takes_the_order_over_anew(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    """The fresh start's first pass takes the SELL over, then its income read (its last) fails
    and a fill of the SELL lands before the start is tried again (on the same venue: its
    next pass, on the user stream's second connection, is a reconnect's). The failed pass's
    take-over is undone: the next pass takes the order over with that fill, as the exchange
    lists it, and the position and wallet it adopts hold the fill. Before, the tracker kept
    the order from the failed pass: the next pass read the fill as the order's own and
    emitted it before the snapshot that brings the order into the books (the ExecManager
    ignored it, "order not ours"), and the tracker held 0.004 as taken over where the
    snapshot and the journal have 0.007."""
    ex = exchange
    before, late = Decimal("0.004"), Decimal("0.003")
    first = await start_unguarded(ex, tmp_path / "first")
    try:
        m = await long_then_earlier_sell(ex, first)
    finally:
        await first.stop()
    fill(ex, m.price, before)  # the earlier journal's session's, before the fresh start
    failing: list[FailsOnce] = []

    def wrap(rest: object) -> FailsOnce:
        failing.append(FailsOnce(rest, "futures_income_history", lambda: fill(ex, m.price, late)))
        return failing[0]

    d = await start_daemon(
        ex,
        tmp_path / "second",
        limits=LIMITS,
        exec_config=ExecConfig(symbols=(SYMBOL,), protect_positions=False, stale_order_ms=10**9),
        prefix=PREFIX,
        wrap_rest=wrap,
        start_attempts=2,
    )
    try:
        assert failing[0].failed
        assert booked(d) == []  # a fresh journal books nothing of what came before it
        tracked = d.venue.tracker.get(EARLIER)
        assert tracked is not None
        assert (tracked.status, tracked.fill_qty, tracked.taken_over_qty) == (
            OrderStatus.PARTIALLY_FILLED, before + late, before + late,
        )  # fmt: skip
        ours = d.book.orders[EARLIER]
        assert (ours.status, ours.filled_qty) == (OrderStatus.PARTIALLY_FILLED, before + late)
        wallet = m.start_wallet - m.entry_fee + m.realized(before + late)
        wallet -= m.fee(before) + m.fee(late)
        assert d.book.position(SYMBOL).qty == QTY - before - late == exchange_position(ex)
        assert d.book.wallet() == wallet == usdt_wallet(ex)
        assert (d.book.realized_pnl, d.book.fees) == (0, {})

        # A later pass reads the order's fills: none of them is booked as its own.
        await d.venue.reconcile("periodic")
        assert booked(d) == [] and not tracked.needs_fills
        assert d.book.position(SYMBOL).qty == QTY - before - late == exchange_position(ex)
        assert d.book.wallet() == wallet == usdt_wallet(ex)
        d.journal.flush()
        assert d.journal.taken_over_qtys() == {EARLIER: before + late}
    finally:
        await d.stop()


async def test_a_running_pass_that_failed_after_a_take_over_leaves_the_next_to_book_its_fill(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    """A running session's pass takes the SELL over, then its income read fails; a fill of the
    SELL lands meanwhile, its stream reports lost. The next pass takes the order over anew
    and books the fill under `outside:e2e-q0q0q0-3` with its realized PnL and fee, counted
    on the order. Before, the failed pass's take-over stood: the next pass's trades read
    emitted the fill as the order's own before its snapshot brought the order into the books
    (the ExecManager ignored it, "order not ours"), and the snapshot adopted the position
    and wallet without its realized PnL and fee."""
    ex = exchange
    late = Decimal("0.003")
    d = await start_unguarded(ex, tmp_path)
    try:
        m = await long_then_earlier_sell(ex, d)
        entry_fills = booked(d)
        sync = d.venue.sync
        plain = sync.rest
        failing = FailsOnce(plain, "futures_income_history", lambda: fill(ex, m.price, late))
        sync.rest = failing  # type: ignore[assignment]  # RestConnection's call, wrapped
        try:
            with pytest.raises(RetryableError):
                await d.venue.reconcile("periodic")
        finally:
            sync.rest = plain
        late_id = last_trade_id(ex)

        await d.venue.reconcile("periodic")

        assert booked(d) == [*entry_fills, (late_id, f"outside:{EARLIER}")]
        tracked = d.venue.tracker.get(EARLIER)
        assert tracked is not None
        assert (tracked.status, tracked.fill_qty, tracked.taken_over_qty) == (
            OrderStatus.PARTIALLY_FILLED, late, late,
        )  # fmt: skip
        assert d.book.orders[EARLIER].filled_qty == late
        assert d.book.position(SYMBOL).qty == QTY - late == exchange_position(ex)
        assert d.book.realized_pnl == m.realized(late)
        assert d.book.fees == {"USDT": m.entry_fee + m.fee(late)}
        wallet = m.start_wallet - m.entry_fee + m.realized(late) - m.fee(late)
        assert d.book.wallet() == wallet == usdt_wallet(ex)
    finally:
        await d.stop()


async def test_a_take_over_retried_after_a_failed_pass_warns_once_about_the_order(
    exchange: LocalExchange, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The pass that takes the SELL over fails (its income read, HTTP 503) and the next takes
    it over anew: one WARNING names the order as an earlier journal's; the retry says so at
    INFO. Before, each pass logged the WARNING, as if a second order had been found."""
    ex = exchange
    d = await start_unguarded(ex, tmp_path)
    try:
        await long_then_earlier_sell(ex, d)
        sync = d.venue.sync
        plain = sync.rest
        failing = FailsOnce(plain, "futures_income_history", lambda: None)
        sync.rest = failing  # type: ignore[assignment]  # RestConnection's call, wrapped
        try:
            with caplog.at_level("INFO", logger="gateway.venue_sync"):
                with pytest.raises(RetryableError):
                    await d.venue.reconcile("periodic")
                sync.rest = plain
                await d.venue.reconcile("periodic")
        finally:
            sync.rest = plain

        sync_log = [r for r in caplog.records if r.name == "gateway.venue_sync"]
        about = [r for r in sync_log if EARLIER in r.getMessage()]
        warned = [r.getMessage() for r in about if r.levelname == "WARNING"]
        assert len(warned) == 1 and "placed by this daemon under an earlier journal" in warned[0]
        assert [r.getMessage() for r in about if r.levelname == "INFO"] == [
            f"order {EARLIER}: its take-over is undone with the failed pass",
            f"order {EARLIER}: taken over again by the next pass",
        ]
        assert d.venue.tracker.get(EARLIER) is not None and EARLIER in d.book.orders
    finally:
        await d.stop()
