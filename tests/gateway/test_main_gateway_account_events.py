"""The account events a real Binance account sends besides our own orders, through the
TradeExecutor's user stream on the local exchange: the exchange's own liquidation, ADL and
insurance-fund orders (their fills come out once each, nothing else: nobody sent them), and
MARGIN_CALL (a MarginCalled event). The frames are the upstream fixtures and the reference's
example, published on the account's user stream as the exchange would."""

import json
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from core.account import PositionAtRisk
from core.enums import MarginType, PositionSide, Side
from core.events import MarginCalled, OrderFilled
from tests.gateway.venue_harness import session, start_exchange

pytestmark = pytest.mark.asyncio(loop_scope="module")
CONSTRUCTED = Path(__file__).resolve().parents[1] / "fixtures" / "binance_api"
CONSTRUCTED /= "upstream_constructed"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ex() -> AsyncIterator[Any]:
    exchange = await start_exchange()
    yield exchange
    await exchange.stop()


def frame(name: str) -> dict[str, Any]:
    return json.loads((CONSTRUCTED / f"ORDER_TRADE_UPDATE__{name}.json").read_bytes())


async def test_the_exchanges_liquidation_adl_and_insurance_fills_come_out_once_each(ex, caplog):
    async with session(ex) as s:
        key = s.venue.stream.listen_key
        assert key is not None
        names = ("liquidation_CALCULATED", "ADL", "insurance")
        before = len(s.rec.events)
        with caplog.at_level(logging.WARNING, logger="gateway.venue_sync"):
            for name in (*names, "liquidation_CALCULATED"):  # the first one sent twice
                ex.hub.publish_user(key, frame(name))
            await s.rec.until(lambda: s.venue.stream.stats.frames >= 4, within_s=5)

        fills = [e.fill for e in s.rec.of(OrderFilled)]
        assert [(f.client_order_id, f.side, f.qty, f.price, f.realized_pnl) for f in fills] == [
            ("autoclose-1234567890", Side.SELL, Decimal("0.014"), Decimal("9910.12"),
             Decimal("-5.67")),
            ("adl_autoclose_12345", Side.BUY, Decimal("0.005"), Decimal("42000.00"),
             Decimal("-2.50")),
            ("autoclose-insurance-5678", Side.SELL, Decimal("0.020"), Decimal("45000.00"),
             Decimal("-8.00")),
        ]  # fmt: skip
        # no OrderAccepted / OrderCanceled for orders nobody sent
        assert [type(e).__name__ for e in s.rec.events[before:]] == ["OrderFilled"] * 3
        stats = s.venue.stats
        assert (stats.malformed_events, stats.unknown_client_ids) == (0, 0)
        assert s.venue.tracker.stats.exchange_orders == 3
        assert s.venue.tracker.stats.duplicate_fills == 1
        # Its own logger's: what else the log holds depends on the levels an earlier test in
        # this worker left (a DEBUG root once gave websockets' lines first).
        warned = [r.getMessage() for r in caplog.records if r.name == "gateway.venue_sync"]
        assert warned[0] == (
            "BTCUSDT: the exchange's own liquidation order autoclose-1234567890 on our "
            "account: SELL 0.014 LIMIT, FILLED"
        )
        assert "auto-deleverage order adl_autoclose_12345" in warned[1]


async def test_a_margin_call_on_the_user_stream_becomes_a_margin_called_event(ex):
    async with session(ex) as s:
        key = s.venue.stream.listen_key
        assert key is not None
        # the reference's example (section 10.6)
        ex.hub.publish_user(
            key,
            {"e": "MARGIN_CALL", "E": 1716050000000, "cw": "3.16812045",
             "p": [{"s": "ETHUSDT", "ps": "LONG", "pa": "1.327", "mt": "CROSSED", "iw": "0",
                    "mp": "187.17127", "up": "-1.166074", "mm": "1.614445"}]},
        )  # fmt: skip

        called = await s.rec.wait_for(MarginCalled, within_s=5)  # ETHUSDT: not traded, named

        assert called.cross_wallet_balance == Decimal("3.16812045")
        assert called.positions == (
            PositionAtRisk(
                symbol="ETHUSDT",
                position_side=PositionSide.LONG,
                qty=Decimal("1.327"),
                margin_type=MarginType.CROSSED,
                mark_price=Decimal("187.17127"),
                unrealized_pnl=Decimal("-1.166074"),
                maintenance_margin=Decimal("1.614445"),
                isolated_wallet=Decimal("0"),
            ),
        )
        assert (s.venue.stats.margin_calls, s.venue.stats.ignored_events) == (1, 0)
