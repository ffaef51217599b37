"""What the log says of an order placed by hand (another REST connection on the daemon's
account, client ids web_...) that is not a fill: once per order, at INFO, what it is and
what the daemon does about it; nothing at its later reports (cancelled), nor when a
reconciliation lists it resting. A report of an id this daemon issues that it does not track
is still a WARNING and counted as unknown.

Before: each report of a hand order (accepted, cancelled; an algo order's too) logged
"OrderUpdate for web_..., not one of our orders: ignored" at WARNING and counted it in
`unknown_client_ids`, though its fills are booked as outside:<client id>.
"""

import logging
from dataclasses import replace
from decimal import Decimal

import pytest
import pytest_asyncio

from core.enums import Side
from core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
)
from exchange_sim.server import connected_client
from tests.gateway.venue_harness import FAST, SYMBOL, session, start_exchange

pytestmark = pytest.mark.asyncio(loop_scope="module")

ORDER_EVENTS = (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ex():
    exchange = await start_exchange()
    yield exchange
    await exchange.stop()


async def test_a_hand_order_is_named_once_and_an_untracked_id_of_ours_is_warned(ex, caplog):
    caplog.set_level(logging.INFO, logger="gateway")
    config = replace(FAST, client_id_prefix="t")  # the session's ids are t-<n>
    async with (
        session(ex, config=config) as s,
        connected_client(ex, s.creds.api_key, s.creds.api_secret) as hand,
    ):
        bid, ask = s.top()
        rules = ex.instruments[SYMBOL]
        frames = s.venue.stream.stats.frames
        await hand.futures_create_order(
            symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.010",
            price=str(rules.round_price(bid * Decimal("0.9"), Side.BUY)),
            newClientOrderId="web_Gh78",
        )  # fmt: skip
        stop = await hand.futures_create_order(
            symbol=SYMBOL, side="BUY", type="STOP_MARKET", quantity="0.010",
            stopPrice=str(rules.round_price(ask * Decimal("1.1"), Side.SELL)),
            clientAlgoId="web_Ij90",
        )  # fmt: skip
        await s.rec.until(lambda: s.venue.stream.stats.frames >= frames + 2)  # both accepted
        await s.venue.reconcile("periodic")  # lists both resting: named already
        await hand.futures_cancel_order(symbol=SYMBOL, origClientOrderId="web_Gh78")
        # An algo order is cancelled by its id alone (reference 6.3; a `symbol` is -1104)
        await hand.futures_cancel_order(algoId=stop["algoId"], conditional=True)
        await s.rec.until(lambda: s.venue.stream.stats.frames >= frames + 4)  # both cancelled
        # A report of an id this daemon issues that it does not track: unknown indeed.
        now = ex.now_ms()
        ex.hub.publish_user(
            s.venue.stream.listen_key,
            {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": {
                "s": SYMBOL, "c": "t-99", "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "0.002",
                "p": "50000.00", "ap": "0", "sp": "0", "x": "CANCELED", "X": "CANCELED",
                "i": 99, "l": "0", "z": "0", "L": "0", "T": now, "t": 0, "m": False,
                "R": False, "wt": "CONTRACT_PRICE", "ot": "LIMIT", "ps": "BOTH", "cp": False,
                "rp": "0"}},
        )  # fmt: skip
        await s.rec.until(lambda: s.venue.stream.stats.frames >= frames + 5)

        said = [
            (r.levelname, r.getMessage())
            for r in caplog.records
            if r.name.startswith("gateway") and "web_" in r.getMessage()
        ]
        assert said == [
            ("INFO", "order BTCUSDT web_Gh78 was placed outside this daemon: left alone, its "
                     "fills booked as outside:web_Gh78"),
            ("INFO", "algo order BTCUSDT web_Ij90 was placed outside this daemon: left alone, "
                     "its fills booked as outside:web_Ij90"),
        ]  # fmt: skip
        unknown = [r.getMessage() for r in caplog.records if "not one of our" in r.getMessage()]
        assert unknown == ["OrderUpdate for t-99, not one of our orders: ignored"]
        stats = s.venue.stats
        assert (stats.outside_reports, stats.unknown_client_ids, stats.outside_fills) == (4, 1, 0)
        # the tracker's: the four stream reports and the reconciliation's two rows of the hand
        # orders apart from t-99's report (before, all seven were unknown_client_ids)
        tracked = s.venue.tracker.stats
        assert (tracked.hand_order_reports, tracked.unknown_client_ids) == (6, 1)
        assert s.rec.of(ORDER_EVENTS) == []  # nothing applied, nothing booked
