"""Every REST request the daemon sends, checked against the protocol reference, not against
what the local exchange happens to accept.

The daemon's own code (LiveVenue start, orders of each kind, cancels, cancel-all, the dead-man
switch, reconciliation, funding catch-up, the start-up checks of `trading_engine.daemon`, the
market-data REST client) runs against the local exchange; every request that reaches it is
recorded as sent (method, path, raw query and body, API-key header) and checked here with
rules written from the reference (shared docs, binance-usdm-futures-api.md): the endpoint and
method exist (1.3), only the parameters the reference lists for it are sent (6.2.1, 6.3-6.9,
7.x, 5.x), the mandatory ones are there, values have Binance's form (client ids 6.2.1,
decimals without exponent or sign, booleans "true"/"false", integers), and no combination
Binance refuses (closePosition with quantity or reduceOnly, timeInForce or price on MARKET,
reduceOnly beside a hedge-mode positionSide, fromId with a time range, limits over the
maximum, recvWindow over 60000).
"""

import asyncio
import re
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
import pytest_asyncio

from core.clock import LiveClock
from core.enums import OrderType, Side, TimeInForce
from core.events import OrderAccepted, OrderCanceled, OrderFilled
from core.orders import OrderRequest
from exchange_sim.server import rest as rest_module
from exchange_sim.server.params import parse_params
from gateway.data_stream import DataStream
from gateway.market_rest import MarketDataRest
from gateway.user_stream import UserStream
from rest_connect.rest_factory import build_client
from runtime.settings import DEFAULT_ENDPOINTS
from tests.gateway.venue_harness import SYMBOL, session, start_exchange
from trading_engine.account_checks import check_one_way_mode, check_single_asset_mode

_AUTH = frozenset({"timestamp", "recvWindow", "signature"})
_ORDER = frozenset(
    {
        "symbol", "side", "positionSide", "type", "timeInForce", "quantity", "reduceOnly",
        "price", "newClientOrderId", "stopPrice", "closePosition", "activationPrice",
        "callbackRate", "workingType", "priceProtect", "newOrderRespType", "priceMatch",
        "selfTradePreventionMode", "goodTillDate",
    }
)  # fmt: skip
_ALGO = frozenset(
    {
        "algoType", "symbol", "side", "positionSide", "type", "timeInForce", "quantity",
        "price", "triggerPrice", "workingType", "priceMatch", "closePosition", "priceProtect",
        "reduceOnly", "activatePrice", "callbackRate", "clientAlgoId", "newOrderRespType",
        "selfTradePreventionMode", "goodTillDate",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Spec:
    """What the reference allows on one endpoint."""

    signed: bool  # TRADE / USER_DATA: timestamp + signature (2.1)
    key: bool  # X-MBX-APIKEY needed (SIGNED and USER_STREAM)
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    one_of: frozenset[str] = frozenset()  # at least one of them (-1102 otherwise)
    max_limit: int | None = None


def _spec(signed: bool, required: str = "", optional: str = "", **kw: object) -> Spec:
    return Spec(
        signed=signed,
        key=signed or bool(kw.pop("key", False)),
        required=frozenset(required.split()),
        optional=frozenset(optional.split()),
        **kw,  # type: ignore[arg-type]
    )


REFERENCE: dict[tuple[str, str], Spec] = {
    # 5.x market data (security NONE)
    ("GET", "/fapi/v1/time"): _spec(False),
    ("GET", "/fapi/v1/exchangeInfo"): _spec(False),
    ("GET", "/fapi/v1/klines"): _spec(
        False, "symbol interval", "startTime endTime limit", max_limit=1500
    ),
    ("GET", "/fapi/v1/aggTrades"): _spec(
        False, "symbol", "fromId startTime endTime limit", max_limit=1000
    ),
    ("GET", "/fapi/v1/fundingRate"): _spec(
        False, "", "symbol startTime endTime limit", max_limit=1000
    ),
    # 7.9 listenKey (USER_STREAM: key, no signature; clients may send listenKey)
    ("POST", "/fapi/v1/listenKey"): _spec(False, key=True),
    ("PUT", "/fapi/v1/listenKey"): _spec(False, "", "listenKey", key=True),
    ("DELETE", "/fapi/v1/listenKey"): _spec(False, "", "listenKey", key=True),
    # 6.2 / 6.3 new orders
    ("POST", "/fapi/v1/order"): Spec(
        True, True, frozenset({"symbol", "side", "type"}), _ORDER - {"symbol", "side", "type"}
    ),
    ("POST", "/fapi/v1/algoOrder"): Spec(
        True,
        True,
        frozenset({"algoType", "symbol", "side", "type"}),
        _ALGO - {"algoType", "symbol", "side", "type"},
    ),
    # 6.4 / 6.5 query and cancel one order
    ("GET", "/fapi/v1/order"): _spec(
        True,
        "symbol",
        "orderId origClientOrderId",
        one_of=frozenset({"orderId", "origClientOrderId"}),
    ),
    ("DELETE", "/fapi/v1/order"): _spec(
        True,
        "symbol",
        "orderId origClientOrderId",
        one_of=frozenset({"orderId", "origClientOrderId"}),
    ),
    ("GET", "/fapi/v1/algoOrder"): _spec(
        True, "", "algoId clientAlgoId", one_of=frozenset({"algoId", "clientAlgoId"})
    ),
    ("DELETE", "/fapi/v1/algoOrder"): _spec(
        True, "", "algoId clientAlgoId", one_of=frozenset({"algoId", "clientAlgoId"})
    ),
    ("GET", "/fapi/v1/openOrders"): _spec(True, "", "symbol"),
    ("GET", "/fapi/v1/openAlgoOrders"): _spec(True, "", "algoType symbol algoId"),
    # 6.8 cancel-all and dead-man switch
    ("DELETE", "/fapi/v1/allOpenOrders"): _spec(True, "symbol"),
    ("DELETE", "/fapi/v1/algoOpenOrders"): _spec(True, "symbol"),
    ("POST", "/fapi/v1/countdownCancelAll"): _spec(True, "symbol countdownTime"),
    # 6.9, 7.x account
    ("GET", "/fapi/v1/userTrades"): _spec(
        True, "symbol", "orderId startTime endTime fromId limit", max_limit=1000
    ),
    ("GET", "/fapi/v2/account"): _spec(True),
    ("GET", "/fapi/v3/positionRisk"): _spec(True, "", "symbol"),
    ("GET", "/fapi/v1/income"): _spec(
        True, "", "symbol incomeType startTime endTime page limit", max_limit=1000
    ),
    ("GET", "/fapi/v1/positionSide/dual"): _spec(True),
    ("GET", "/fapi/v1/accountConfig"): _spec(True),
    ("POST", "/fapi/v1/leverage"): _spec(True, "symbol leverage"),
}

CLIENT_ID = re.compile(r"[\.A-Z\:/a-z0-9_-]{1,36}")  # 6.2.1, also clientAlgoId (6.3)
CLIENT_ID_PARAMS = ("newClientOrderId", "origClientOrderId", "clientAlgoId")
DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")  # a plain decimal: no sign, exponent or blanks
DECIMAL_PARAMS = ("quantity", "price", "stopPrice", "triggerPrice", "activatePrice")
INTEGER = re.compile(r"[0-9]+")
INTEGER_PARAMS = (
    "timestamp", "recvWindow", "orderId", "algoId", "fromId", "startTime", "endTime", "limit",
    "countdownTime", "leverage", "page", "goodTillDate",
)  # fmt: skip
BOOLEAN_PARAMS = ("reduceOnly", "closePosition", "priceProtect")
ENUMS = {
    "side": {"BUY", "SELL"},
    "positionSide": {"BOTH", "LONG", "SHORT"},
    "timeInForce": {"GTC", "IOC", "FOK", "GTX", "GTD"},
    "workingType": {"CONTRACT_PRICE", "MARK_PRICE"},
    "algoType": {"CONDITIONAL"},
    "incomeType": {"FUNDING_FEE"},  # the one income type the daemon reads
    "interval": {"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d"},
}
CONDITIONAL = {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    query: str
    body: str
    api_key: bool

    def pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True) + parse_qsl(
            self.body, keep_blank_values=True
        )

    def __str__(self) -> str:
        return f"{self.method} {self.path}?{self.query} body={self.body!r}"


def problems(sent: Sent) -> list[str]:
    """Every way `sent` departs from the reference (empty: it conforms)."""
    spec = REFERENCE.get((sent.method, sent.path))
    if spec is None:
        return [f"{sent.method} {sent.path} is not an endpoint of the reference"]
    out: list[str] = []
    pairs = sent.pairs()
    names = [n for n, _ in pairs]
    params = dict(pairs)
    if len(names) != len(set(names)):
        out.append(f"a parameter sent twice: {names}")  # -1101
    if spec.key and not sent.api_key:
        out.append("no X-MBX-APIKEY header")
    auth = _AUTH & set(params)
    if spec.signed:
        if {"timestamp", "signature"} - auth:
            out.append("signed endpoint without timestamp/signature")
        if names[-1] != "signature":
            out.append("signature is not the last parameter")  # 2.2
        if int(params.get("recvWindow", "5000")) > 60000:
            out.append("recvWindow over 60000")  # 2.3
    elif auth:
        out.append(f"unsigned endpoint given {sorted(auth)}")
    given = set(params) - _AUTH
    if missing := spec.required - given:
        out.append(f"mandatory parameter(s) missing: {sorted(missing)}")
    if unknown := given - spec.required - spec.optional:
        out.append(f"parameter(s) the endpoint does not take: {sorted(unknown)}")
    if spec.one_of and not spec.one_of & given:
        out.append(f"none of {sorted(spec.one_of)}")
    for name, value in params.items():
        if name in CLIENT_ID_PARAMS and not CLIENT_ID.fullmatch(value):
            out.append(f"{name}={value!r} breaks ^[\\.A-Z\\:/a-z0-9_-]{{1,36}}$")
        if name in DECIMAL_PARAMS and not DECIMAL.fullmatch(value):
            out.append(f"{name}={value!r} is not a plain decimal")
        if name in INTEGER_PARAMS and not INTEGER.fullmatch(value):
            out.append(f"{name}={value!r} is not an integer")
        if name in BOOLEAN_PARAMS and value not in ("true", "false"):
            out.append(f"{name}={value!r} is not true/false")
        if name in ENUMS and value not in ENUMS[name]:
            out.append(f"{name}={value!r} not one of {sorted(ENUMS[name])}")
        if name == "symbol" and value != value.upper():
            out.append("symbol not upper-case")
    if spec.max_limit is not None and int(params.get("limit", "0")) > spec.max_limit:
        out.append(f"limit over {spec.max_limit}")
    if "fromId" in params and ({"startTime", "endTime"} & set(params)):
        out.append("fromId with a time range")  # 5.5, 6.9
    window = {"startTime", "endTime"} <= set(params)
    hour = window and int(params["endTime"]) - int(params["startTime"]) >= 3_600_000
    if sent.path == "/fapi/v1/aggTrades" and hour:
        out.append("aggTrades window of an hour or more (-1127)")
    if sent.path in ("/fapi/v1/order", "/fapi/v1/algoOrder") and sent.method == "POST":
        out += _order_problems(sent.path, params)
    return out


def _order_problems(path: str, p: Mapping[str, str]) -> list[str]:
    """6.2.1 mandatory parameters by type and the combinations Binance refuses; 6.3 names."""
    out: list[str] = []
    kind = p.get("type", "")
    algo = path.endswith("algoOrder")
    if algo != (kind in CONDITIONAL):
        out.append(f"type {kind} sent to {path} (-4120 / -1116)")
    trigger = "triggerPrice" if algo else "stopPrice"
    close = p.get("closePosition") == "true"
    needs = {
        "LIMIT": {"timeInForce", "quantity", "price"},
        "MARKET": {"quantity"},
        "STOP": {"quantity", "price", trigger},
        "TAKE_PROFIT": {"quantity", "price", trigger},
        "STOP_MARKET": {trigger} | (set() if close else {"quantity"}),
        "TAKE_PROFIT_MARKET": {trigger} | (set() if close else {"quantity"}),
    }.get(kind)
    if needs is None:
        out.append(f"order type {kind!r} the daemon should not send")
    elif missing := needs - set(p):
        out.append(f"{kind} without {sorted(missing)}")
    if kind == "MARKET" and {"price", "timeInForce"} & set(p):
        out.append("MARKET with price/timeInForce (-1106)")
    if kind in ("STOP_MARKET", "TAKE_PROFIT_MARKET") and "price" in p:
        out.append(f"{kind} with a price")
    # Parameters the type or timeInForce does not use: the local exchange refuses them (-1106,
    # priceMatch -5037/-5038) where the reference does not say that Binance ignores them.
    if trigger in p and kind not in ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"):
        out.append(f"{kind} with {trigger}")
    for name in ("activationPrice", "activatePrice", "callbackRate"):
        if name in p:
            out.append(f"{kind} with {name} (the daemon sends no trailing stop)")
    if "goodTillDate" in p and p.get("timeInForce") != "GTD":
        out.append("goodTillDate without timeInForce=GTD")
    if p.get("priceMatch", "NONE") != "NONE":
        out.append("priceMatch (the daemon always sends its price)")
    if close:
        if kind not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
            out.append("closePosition on a type other than STOP_MARKET/TAKE_PROFIT_MARKET")
        if "quantity" in p:
            out.append("closePosition with quantity (-4137)")
        if "reduceOnly" in p:
            out.append("closePosition with reduceOnly")
    if "reduceOnly" in p and p.get("positionSide", "BOTH") != "BOTH":
        out.append("reduceOnly with a hedge-mode positionSide (-1106)")
    return out


class Recording:
    """Keeps every request the local exchange receives, as sent (its raw query and body, as
    the exchange's parser gets them), before the exchange acts on it."""

    def __init__(self, ex: object, monkeypatch: pytest.MonkeyPatch) -> None:
        rest = ex.rest  # type: ignore[attr-defined]
        self.sent: list[Sent] = []
        current: ContextVar[tuple[str, str, bool] | None] = ContextVar("sent", default=None)
        handle = rest.handle

        async def recording(request):  # type: ignore[no-untyped-def]
            current.set((request.method, request.path, "X-MBX-APIKEY" in request.headers))
            return await handle(request)

        def parse(raw_query: str, raw_body: str) -> dict[str, str]:
            where = current.get()
            if where is not None:
                method, path, key = where
                self.sent.append(Sent(method, path, raw_query, raw_body, key))
            return parse_params(raw_query, raw_body)

        monkeypatch.setattr(rest, "handle", recording)
        monkeypatch.setattr(rest_module, "parse_params", parse)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ex():
    exchange = await start_exchange()
    yield exchange
    await exchange.stop()


# --- the checker itself, on requests written from the reference --------------------------------


def _post(path: str, body: str) -> Sent:
    return Sent("POST", path, "", body + "&recvWindow=5000&timestamp=1&signature=ab", True)


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (
            _post("/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1E-3"),
            "not a plain decimal",
        ),
        (
            _post("/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001"
                  "&timeInForce=GTC"),
            "MARKET with price/timeInForce",
        ),
        (
            _post("/fapi/v1/algoOrder", "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL"
                  "&type=STOP_MARKET&stopPrice=60000.1&closePosition=true"),
            "does not take: ['stopPrice']",
        ),
        (
            _post("/fapi/v1/algoOrder", "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL"
                  "&type=STOP_MARKET&triggerPrice=60000.1&closePosition=true&reduceOnly=true"),
            "closePosition with reduceOnly",
        ),
        (
            _post("/fapi/v1/order", "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.001"
                  "&positionSide=LONG&reduceOnly=true"),
            "hedge-mode positionSide",
        ),
        (
            _post("/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001"
                  "&newClientOrderId=caf%C3%A9-1"),
            "breaks",
        ),
        (
            _post("/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001"
                  "&reduceOnly=True"),
            "is not true/false",
        ),
        (
            _post("/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.001"
                  "&price=60000.1&timeInForce=GTC&stopPrice=59000.0"),
            "LIMIT with stopPrice",
        ),
        (
            _post("/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.001"
                  "&price=60000.1&timeInForce=GTC&goodTillDate=253402300798000"),
            "goodTillDate without timeInForce=GTD",
        ),
        (
            _post("/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.001"
                  "&timeInForce=GTC&priceMatch=QUEUE"),
            "priceMatch",
        ),
        (
            _post("/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001"
                  "&callbackRate=1"),
            "MARKET with callbackRate",
        ),
    ],
)  # fmt: skip
def test_the_checker_finds_what_the_reference_forbids(sent, expected):
    assert any(expected in p for p in problems(sent)), problems(sent)


def test_the_checker_passes_the_references_own_order_example():
    # 6.2.3, LIMIT GTC as python-binance sends it
    sent = Sent(
        "POST",
        "/fapi/v1/order",
        "",
        "newClientOrderId=x-Cb7ytekJ1a2b3c4d5e6f7a8b9c0d1e&price=60000.0&quantity=0.002"
        "&recvWindow=10000&side=BUY&symbol=BTCUSDT&timeInForce=GTC&timestamp=1716000000000"
        "&type=LIMIT&signature=80bf8dee4165d1c1fc545c0e853fc307795c10ba947e17f0cc71656d9dcb1abd",
        True,
    )
    assert problems(sent) == []


# --- the daemon's requests ---------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="module")
async def test_every_request_of_a_trading_session_conforms_to_the_reference(ex, monkeypatch):
    recording = Recording(ex, monkeypatch)
    inst = ex.instruments[SYMBOL]
    async with session(ex) as s:
        rest = s.venue.rest
        # trading_engine.daemon start-up: exchangeInfo, position mode, asset mode, leverage
        await rest.call("futures_exchange_info")
        await check_one_way_mode(rest)
        await check_single_asset_mode(rest)
        await rest.call("futures_change_leverage", symbol=SYMBOL, leverage=5, mutating=True)

        entry = s.market(Side.BUY, qty="0.002")
        s.venue.submit(entry)
        await s.rec.wait_for(OrderFilled, entry.client_order_id)
        last = ex.engine.last_price(SYMBOL)
        assert last is not None
        resting = [s.limit(Side.BUY), s.limit(Side.SELL, tif=TimeInForce.GTX)]
        stops = [
            OrderRequest(  # protective stop closing the whole position
                symbol=SYMBOL,
                side=Side.SELL,
                type=OrderType.STOP_MARKET,
                quantity=None,
                stop_price=inst.round_price(last * Decimal("0.8"), Side.SELL),
                close_position=True,
                client_order_id=s.ids.next(),
            ),
            OrderRequest(  # reduce-only take-profit with a quantity
                symbol=SYMBOL,
                side=Side.SELL,
                type=OrderType.TAKE_PROFIT_MARKET,
                quantity=Decimal("0.001"),
                stop_price=inst.round_price(last * Decimal("1.2"), Side.SELL),
                reduce_only=True,
                client_order_id=s.ids.next(),
            ),
            OrderRequest(  # a priced stop (LIMIT once triggered)
                symbol=SYMBOL,
                side=Side.BUY,
                type=OrderType.STOP,
                quantity=Decimal("0.002"),
                price=inst.round_price(last * Decimal("1.04"), Side.BUY),  # PERCENT_PRICE
                stop_price=inst.round_price(last * Decimal("1.03"), Side.BUY),
                time_in_force=TimeInForce.GTC,
                client_order_id=s.ids.next(),
            ),
        ]
        for request in [*resting, *stops]:
            s.venue.submit(request)
        for request in [*resting, *stops]:
            await s.rec.wait_for(OrderAccepted, request.client_order_id)
        s.venue.cancel(SYMBOL, resting[0].client_order_id)
        s.venue.cancel(SYMBOL, stops[1].client_order_id)
        await s.rec.wait_for(OrderCanceled, resting[0].client_order_id)
        await s.rec.wait_for(OrderCanceled, stops[1].client_order_id)
        closing = s.market(Side.SELL, qty="0.002", reduce_only=True)
        s.venue.submit(closing)
        await s.rec.wait_for(OrderFilled, closing.client_order_id)
        await s.venue.reconcile("test")
        for request in (closing, stops[0]):  # the order queries of a resolver / a cancel race
            tracked = s.venue.tracker.get(request.client_order_id)
            assert tracked is not None
            await s.venue.sync.refresh(tracked)
        key = s.venue.stream.listen_key
        await rest.call("futures_stream_keepalive", listenKey=key)  # what the keepalive sends
        sync = s.venue.sync
        sync.funding_since_ms = s.venue.rest.clock.now_ms() - 8 * 3_600_000
        await sync.catch_up_funding()
        await sync._funding_rate(SYMBOL, s.venue.rest.clock.now_ms())
        s.venue.cancel_all(SYMBOL)
        await s.rec.wait_for(OrderCanceled, resting[1].client_order_id)
        await asyncio.sleep(1.2)  # one dead-man refresh (FAST: every 1 s)
    # the market-data client of the data stream and the warm-up
    async with MarketDataRest(ex.rest_url, clock=LiveClock()) as market:
        newest = await market.agg_trades(SYMBOL, limit=1)
        await market.agg_trades(SYMBOL, from_id=newest[-1].agg_id - 5, limit=1000)
        await market.klines(SYMBOL, "1m", limit=1500, closed_before_ms=int(time.time() * 1000))

    sent = recording.sent
    seen = {(r.method, r.path) for r in sent}
    expected = {
        ("POST", "/fapi/v1/order"),
        ("POST", "/fapi/v1/algoOrder"),
        ("DELETE", "/fapi/v1/order"),
        ("DELETE", "/fapi/v1/algoOrder"),
        ("DELETE", "/fapi/v1/allOpenOrders"),
        ("DELETE", "/fapi/v1/algoOpenOrders"),
        ("POST", "/fapi/v1/countdownCancelAll"),
        ("POST", "/fapi/v1/listenKey"),
        ("PUT", "/fapi/v1/listenKey"),
        ("DELETE", "/fapi/v1/listenKey"),
        ("GET", "/fapi/v1/order"),
        ("GET", "/fapi/v1/algoOrder"),
        ("GET", "/fapi/v1/openOrders"),
        ("GET", "/fapi/v1/openAlgoOrders"),
        ("GET", "/fapi/v2/account"),
        ("GET", "/fapi/v3/positionRisk"),
        ("GET", "/fapi/v1/userTrades"),
        ("GET", "/fapi/v1/income"),
        ("GET", "/fapi/v1/fundingRate"),
        ("GET", "/fapi/v1/time"),
        ("GET", "/fapi/v1/exchangeInfo"),
        ("GET", "/fapi/v1/positionSide/dual"),
        ("GET", "/fapi/v1/accountConfig"),
        ("POST", "/fapi/v1/leverage"),
        ("GET", "/fapi/v1/aggTrades"),
        ("GET", "/fapi/v1/klines"),
    }
    assert seen == expected, (sorted(expected - seen), sorted(seen - expected))
    bad = [f"{r}: {'; '.join(p)}" for r in sent if (p := problems(r))]
    assert bad == []


# --- where the requests go: the reference's URLs (1.1, 8.1, 10.1) ------------------------------


@pytest.mark.parametrize(
    ("mode", "rest_base", "ws_base"),
    [
        ("testnet", "https://testnet.binancefuture.com", "wss://fstream.binancefuture.com"),
        ("live", "https://fapi.binance.com", "wss://fstream.binance.com"),
    ],
)
@pytest.mark.asyncio
async def test_the_default_endpoints_are_the_references_urls(mode, rest_base, ws_base):
    rest_url, ws_url = DEFAULT_ENDPOINTS[mode]
    client = build_client(  # sends nothing
        rest_url=rest_url, api_key="", api_secret="", recv_window_ms=5000, timeout_s=1.0
    )
    await client.close_connection()
    data = DataStream(ws_url=ws_url, rest=None, symbols=["BTCUSDT"], clock=LiveClock())  # type: ignore[arg-type]
    user = UserStream(
        rest=None,  # type: ignore[arg-type]
        ws_url=ws_url,
        on_frame=lambda raw, ms: None,
        on_connected=lambda n: None,
        on_state=lambda state, detail: None,
        clock=LiveClock(),
    )
    user.listen_key = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"

    assert (rest_url, ws_url) == (rest_base, ws_base)
    assert client._create_futures_api_uri("order") == f"{rest_base}/fapi/v1/order"
    assert client._create_futures_api_uri("account", version=2) == f"{rest_base}/fapi/v2/account"
    assert data.stream_urls() == {
        "market": f"{ws_base}/market/stream?streams="
        "btcusdt@aggTrade/btcusdt@kline_1m/btcusdt@markPrice@1s",
        "public": f"{ws_base}/public/stream?streams=btcusdt@bookTicker",
    }
    assert user.url == f"{ws_base}/private/ws?listenKey={user.listen_key}"
