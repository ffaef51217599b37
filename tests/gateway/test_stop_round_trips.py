"""The REST round trips of `LiveVenue.stop`, counted by the local exchange (its request log).

The stop has 5 s, and each round trip to a distant exchange costs 0.2-0.5 s: these tests pin
the requests a clean stop sends, so that a change adding one fails here and says which.

Holding a position, the stop's cancel pass (`keep_protection`) reads the open orders and open
algo orders, and its last reconciliation reads them again. The second read stays: the pass's
read minus what it cancelled is the exchange's state only if nothing else changed in between,
and the exchange changes by itself (a kept stop-loss triggers or is cancelled on the website,
a liquidation or a hand order appears, a create in flight lands late), none of which a cancel's
answer tells. `test_the_stops_snapshot_sees_...` pins that the stop sees such a change.
"""

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from core.enums import OrderType, Side
from core.events import OrderAccepted, OrderFilled, VenueSnapshot
from core.orders import OrderRequest
from tests.gateway.venue_harness import FAST, SYMBOL, Session, session, start_exchange

pytestmark = pytest.mark.asyncio(loop_scope="module")

# No dead-man refresh during a test (the first one is at start): the requests counted are the
# stop's alone.
QUIET = replace(FAST, deadman_refresh_s=3600.0)

# What the last reconciliation reads, then the listenKey's DELETE that closes the stream.
LAST_RECONCILIATION = [
    "GET /fapi/v1/openOrders",
    "GET /fapi/v1/openAlgoOrders",
    "GET /fapi/v2/account",
    "GET /fapi/v3/positionRisk",
    "GET /fapi/v1/userTrades",
    "GET /fapi/v1/income",
    "DELETE /fapi/v1/listenKey",
]
DEADMAN_OFF = ["POST /fapi/v1/countdownCancelAll"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ex():
    exchange = await start_exchange()
    yield exchange
    await exchange.stop()


def stop_loss(s: Session) -> OrderRequest:
    """A closePosition stop-loss of a long, far below the market (it never triggers here)."""
    last = s.ex.engine.last_price(SYMBOL)
    assert last is not None
    return OrderRequest(
        symbol=SYMBOL,
        side=Side.SELL,
        type=OrderType.STOP_MARKET,
        quantity=None,
        stop_price=s.ex.instruments[SYMBOL].round_price(last * Decimal("0.8"), Side.SELL),
        close_position=True,
        client_order_id=s.ids.next(),
    )


async def hold_a_long_with_its_stop_loss(s: Session) -> OrderRequest:
    entry = s.market(Side.BUY)
    s.venue.submit(entry)
    await s.rec.wait_for(OrderFilled, entry.client_order_id)
    protection = stop_loss(s)
    s.venue.submit(protection)
    await s.rec.wait_for(OrderAccepted, protection.client_order_id)
    return protection


async def requests_of_stop(s: Session, *, keep_protection: bool) -> list[str]:
    """The requests the exchange received during `stop`, in order. A reconciliation first
    reads the fills up to now, as a running daemon's has (the stop then reads by trade id)."""
    await s.venue.reconcile("steady")
    server = s.ex.rest
    before = server.request_count
    await s.venue.stop(cancel_orders=True, keep_protection=keep_protection)
    sent = server.request_count - before
    return list(server.request_log)[-sent:] if sent else []


async def test_a_clean_stop_without_a_position_makes_ten_round_trips(ex):
    async with session(ex, config=QUIET) as s:
        sent = await requests_of_stop(s, keep_protection=False)

    cancel_all = ["DELETE /fapi/v1/allOpenOrders", "DELETE /fapi/v1/algoOpenOrders"]
    assert sent == cancel_all + DEADMAN_OFF + LAST_RECONCILIATION
    assert len(sent) == 10


async def test_a_clean_stop_keeping_the_stop_loss_reads_the_open_orders_twice(ex):
    """The cancel pass reads the open orders to cancel all but the protection, one by one (the
    resting entry here); the last reconciliation reads them again, after the cancels."""
    async with session(ex, config=QUIET) as s:
        await hold_a_long_with_its_stop_loss(s)
        entry = s.limit(Side.BUY)
        s.venue.submit(entry)
        await s.rec.wait_for(OrderAccepted, entry.client_order_id)
        sent = await requests_of_stop(s, keep_protection=True)

    cancel_pass = [
        "GET /fapi/v1/openOrders",
        "GET /fapi/v1/openAlgoOrders",
        "DELETE /fapi/v1/order",
    ]
    assert sent == cancel_pass + DEADMAN_OFF + LAST_RECONCILIATION
    assert len(sent) == 11


def just_before(s: Session, method: str, action: Callable[[], Any]) -> None:
    """Run `action` right before the venue's first REST call of `method` (a moment between two
    steps of the stop)."""
    call = s.venue.rest.call
    done = False

    async def call_after_action(name: str, /, **params: Any) -> Any:
        nonlocal done
        if name == method and not done:
            done = True
            action()
        return await call(name, **params)

    s.venue.rest.call = call_after_action  # type: ignore[method-assign]


async def test_the_stops_snapshot_sees_a_stop_loss_gone_after_the_cancel_pass(ex):
    """The stop-loss the cancel pass read and kept is gone before the last reconciliation (it
    triggered, or was cancelled on the website): the stop's snapshot does not list it, and the
    venue holds it closed. Reusing the cancel pass's read would report the position guarded."""
    async with session(ex, config=QUIET) as s:
        protection = await hold_a_long_with_its_stop_loss(s)
        cid = protection.client_order_id
        just_before(
            s,
            "futures_countdown_cancel_all",  # after the cancel pass, before the reconciliation
            lambda: s.ex.engine.cancel_algo_order(s.account, {"clientAlgoId": cid}),
        )
        await s.venue.stop(cancel_orders=True, keep_protection=True)

        last = s.rec.of(VenueSnapshot)[-1]
        assert last.reason == "stop"
        assert [o.client_order_id for o in last.open_orders] == []
        assert [o.client_order_id for o in s.venue.open_orders()] == []


async def test_a_stop_cut_by_its_budget_says_it_timed_out(ex, caplog):
    """Against an exchange slower than the budget allows, the warning says why the stop is
    incomplete (a TimeoutError has no message of its own: the line used to end in ': ')."""
    async with session(ex, config=QUIET) as s:
        ex.faults.latency(rest_s=0.3)
        await s.venue.stop(cancel_orders=True, within_s=0.5)

    lines = [r.getMessage() for r in caplog.records]
    incomplete = [line for line in lines if line.startswith("clean stop incomplete")]
    assert incomplete == ["clean stop incomplete: timed out"]
