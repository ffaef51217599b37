"""A restart on an existing journal meets a position opened while the daemon was down, end to
end on the local exchange (the daemon's parts as `local_exchange_rig` wires them, the start's
position check as `trading_engine.daemon._reconcile_at_start` passes it to the venue).

The journal holds 0.002 BTC long (its own MARKET BUY). While it is down the user buys by hand
(`web_Hand1`): 0.100 BTC, about 9,500 USDT at the week's prices, is above
max_position_notional_usdt = 5000, and the restart is refused as a first start is, none of
what it recovered journaled; 0.010 (0.012 held, about 1,140 USDT) is adopted, its fill booked
as outside. An order of the daemon's own that filled while it was down is the journal's,
whatever its size.

Before, the start booked the hand fill (`outside:web_Hand1`) and then compared the books, which
held it already: the 0.100 was adopted, and the strategy's first target sold it at market.
"""

from collections.abc import Callable
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from book_keeper.journal import SqliteJournal
from core.enums import OrderType, Side, TimeInForce
from core.errors import RetryableError
from core.orders import OrderProposal
from exchange_sim.server import LocalExchange
from rest_connect import RestConnection
from tests.trading_engine.local_exchange_rig import (
    ACCOUNT,
    LIMITS,
    PREFIX,
    SYMBOL,
    TICK,
    Daemon,
    FailsOnce,
    booked,
    exchange_position,
    start_daemon,
    stepped_exchange,
    until,
    usdt_wallet,
)
from trading_engine.daemon_error import DaemonError, StartFailure
from trading_engine.exec_manager import ExecConfig

pytestmark = pytest.mark.asyncio

OURS = Decimal("0.002")  # the journal's long
BIG = Decimal("0.100")  # by hand while down: 0.102 * ~95,000 = ~9,700 USDT > 5000
SMALL = Decimal("0.010")  # by hand while down: 0.012 * ~95,000 = ~1,140 USDT <= 5000
HAND, CLOSE = "web_Hand1", "web_Hand2"


@pytest.fixture
async def exchange():
    async with stepped_exchange() as ex:
        yield ex


async def start(
    ex: LocalExchange,
    journal_dir: Path,
    limit: Decimal = Decimal(5000),
    wrap_rest: Callable[[RestConnection], Any] | None = None,
) -> Daemon:
    """The daemon checking positions at its start as the daemon does, with
    max_position_notional_usdt (and max_order_notional_usdt) = `limit`; no stop-loss of its
    own (no order but the test's). `wrap_rest`: as `start_daemon`'s."""
    return await start_daemon(
        ex,
        journal_dir,
        limits=replace(LIMITS, max_order_notional_usdt=limit, max_position_notional_usdt=limit),
        exec_config=ExecConfig(symbols=(SYMBOL,), protect_positions=False, stale_order_ms=10**9),
        prefix=PREFIX,
        check_positions=True,
        wrap_rest=wrap_rest,
    )


async def a_journal_holding_ours(ex: LocalExchange, journal_dir: Path) -> None:
    """The first session buys OURS at the market and stops; a minute passes."""
    first = await start(ex, journal_dir)
    try:
        await first.buy_at_market(OURS)
        await until(lambda: first.book.position(SYMBOL).qty == OURS, "the long is open")
    finally:
        await first.stop()
    await ex.step(60_000)


def by_hand(ex: LocalExchange, side: str, qty: Decimal, client_id: str) -> None:
    """A MARKET order placed on the exchange while no daemon listens (the website's)."""
    ex.engine.new_order(
        ACCOUNT,
        {"symbol": SYMBOL, "side": side, "type": "MARKET", "quantity": str(qty),
         "newClientOrderId": client_id},
    )  # fmt: skip
    ex.flush_user_events()


def journaled_fills(journal_dir: Path) -> list[str]:
    """The client ids of the journal's fills, in its order."""
    journal = SqliteJournal(journal_dir)
    try:
        return [f.client_order_id for f in journal.load_fills()]
    finally:
        journal.close()


def sent_orders(ex: LocalExchange) -> list[str]:
    """The client ids of every order the account ever had, in the exchange's order."""
    return [o["clientOrderId"] for o in ex.engine.all_orders(ACCOUNT, {"symbol": SYMBOL})]


async def test_a_large_position_opened_by_hand_while_down_is_refused_then_booked_once_closed(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    await a_journal_holding_ours(ex, tmp_path)
    [ours] = journaled_fills(tmp_path)
    by_hand(ex, "BUY", BIG, HAND)
    mark = ex.engine.mark_price(SYMBOL)
    assert mark is not None
    notional = ((OURS + BIG) * mark).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    with pytest.raises(DaemonError) as refused:
        await start(ex, tmp_path)

    assert refused.value.failure is StartFailure.NEEDS_THE_USER  # exit status 2
    assert str(refused.value) == (
        "the exchange holds a position this daemon's journal does not explain, above "
        f"risk.max_position_notional_usdt = 5000: BTCUSDT 0.102 ({notional} USDT at the mark "
        f"{mark}; the journal holds 0.002). Started, the daemon would trade it as its own (to "
        "its strategy's target, at market): close or reduce it on the exchange, or raise "
        "risk.max_position_notional_usdt, then start again"
    )
    assert journaled_fills(tmp_path) == [ours]  # the hand fill not journaled
    assert sent_orders(ex) == [ours, HAND]  # nothing sent
    assert exchange_position(ex) == OURS + BIG

    # The user closes it by hand; the next start books both hand orders and goes on.
    await ex.step(60_000)
    by_hand(ex, "SELL", BIG, CLOSE)
    again = await start(ex, tmp_path)
    try:
        assert [cid for _, cid in booked(again)] == [f"outside:{HAND}", f"outside:{CLOSE}"]
        assert again.book.position(SYMBOL).qty == exchange_position(ex) == OURS
        assert again.book.wallet("USDT") == usdt_wallet(ex)
        assert again.book.differences == 0  # the fills explain the exchange: none adopted
    finally:
        await again.stop()
    assert journaled_fills(tmp_path) == [ours, f"outside:{HAND}", f"outside:{CLOSE}"]


async def test_a_start_failing_a_read_after_it_found_the_hand_fill_journals_none_of_it(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    """The restart's funding read, its last before the check, fails (HTTP 503) after it read
    the hand fill: the start fails retryably, and the next start refuses the position as the
    first would have. Before, the failed start had journaled the hand fill, and the next one
    took it for the journal's own: the 0.100 was adopted."""
    ex = exchange
    await a_journal_holding_ours(ex, tmp_path)
    [ours] = journaled_fills(tmp_path)
    by_hand(ex, "BUY", BIG, HAND)
    failing: list[FailsOnce] = []

    def income_fails(rest: RestConnection) -> FailsOnce:
        failing.append(FailsOnce(rest, "futures_income_history", lambda: None))
        return failing[-1]

    with pytest.raises(RetryableError):
        await start(ex, tmp_path, wrap_rest=income_fails)

    assert [f.failed for f in failing] == [True]
    assert journaled_fills(tmp_path) == [ours]
    with pytest.raises(DaemonError) as refused:
        await start(ex, tmp_path)
    assert "BTCUSDT 0.102 (" in str(refused.value)
    assert "; the journal holds 0.002)" in str(refused.value)
    assert journaled_fills(tmp_path) == [ours]


async def test_a_small_position_opened_by_hand_while_down_is_adopted_its_fill_booked(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    ex = exchange
    await a_journal_holding_ours(ex, tmp_path)
    by_hand(ex, "BUY", SMALL, HAND)

    again = await start(ex, tmp_path)
    try:
        assert [cid for _, cid in booked(again)] == [f"outside:{HAND}"]
        assert again.book.position(SYMBOL).qty == exchange_position(ex) == OURS + SMALL
        assert again.book.wallet("USDT") == usdt_wallet(ex)
        assert again.book.differences == 0
    finally:
        await again.stop()


async def test_our_own_order_filled_while_down_is_the_journals_above_a_lowered_limit(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    """The first session leaves a LIMIT BUY of 0.050 resting 1 % below the mark (about 4,700
    USDT, within its limit of 5000); it fills while the daemon is down, and the restart runs
    with the limit lowered to 1000: 0.052 long is the journal's own, not refused."""
    ex = exchange
    first = await start(ex, tmp_path)
    try:
        await first.buy_at_market(OURS)
        mark = await first.mark()
        price = (mark * Decimal("0.99") / TICK).to_integral_value() * TICK
        await first.propose(
            OrderProposal(symbol=SYMBOL, side=Side.BUY, type=OrderType.LIMIT,
                          quantity=Decimal("0.050"), price=price, time_in_force=TimeInForce.GTC),
        )  # fmt: skip
        await until(lambda: len(first.book.orders) == 1, "the BUY rests")
        [buy] = first.book.orders
    finally:
        await first.stop()  # its orders left on the exchange
    await ex.step(60_000)
    ex.engine.on_trade(SYMBOL, price - TICK, Decimal("0.050"), True, ex.now_ms())  # it fills
    ex.flush_user_events()  # nobody listens
    assert exchange_position(ex) == Decimal("0.052")

    again = await start(ex, tmp_path, limit=Decimal(1000))
    try:
        assert [cid for _, cid in booked(again)] == [buy]
        assert again.book.position(SYMBOL).qty == Decimal("0.052")
        assert again.book.differences == 0
    finally:
        await again.stop()
