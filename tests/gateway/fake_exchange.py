"""A tiny real Binance-shaped server on 127.0.0.1:0 for DataStream tests (a fake, not a mock).

It serves the routed combined streams (`/market/stream`, `/public/stream`) over aiohttp
websockets and the REST endpoints the gateway uses (`aggTrades`, `klines`, `time`). Tests drive
it step by step: `publish(n)` makes the next n aggregate trades happen (they become visible over
REST at once and are pushed to connected sockets unless the test says otherwise). Trades come
from real USD-M BTCUSDT trades (fixture) aggregated the way Binance does: consecutive fills at
the same time, price and taker side become one aggregate trade.
"""

import asyncio
import csv
import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
UM_TRADES = FIXTURES / "market" / "BTCUSDT-um-trades-2024-08-08T2354-first4000.csv.gz"
FIRST_AGG_ID = 2_301_000_000


def load_agg_trades(path: Path = UM_TRADES, first_id: int = FIRST_AGG_ID) -> list[dict[str, Any]]:
    """REST-shaped aggTrades rows ({"a","p","q","f","l","T","m"}) from a raw trades CSV."""
    out: list[dict[str, Any]] = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            maker = row["is_buyer_maker"] == "true"
            key = (int(row["time"]), row["price"], maker)
            if out and (out[-1]["T"], out[-1]["p"], out[-1]["m"]) == key:
                last = out[-1]
                last["l"] = int(row["id"])
                last["_qty"].append(row["qty"])
                continue
            out.append(
                {
                    "a": first_id + len(out),
                    "p": row["price"],
                    "_qty": [row["qty"]],
                    "f": int(row["id"]),
                    "l": int(row["id"]),
                    "T": int(row["time"]),
                    "m": maker,
                }
            )
    for agg in out:
        agg["q"] = str(sum((Decimal(q) for q in agg.pop("_qty")), Decimal(0)))
    return out


@dataclass
class _Client:
    ws: web.WebSocketResponse
    request: web.Request
    path: str
    silent: bool = False


@dataclass
class FakeBinance:
    trades: list[dict[str, Any]]
    symbol: str = "BTCUSDT"
    klines: list[list[Any]] = field(default_factory=list)
    published: int = 0  # number of trades that have happened
    refuse_ws: bool = False
    refuse_ws_status: int = 503  # HTTP status of a refused websocket handshake
    rest_fail_next: int = 0  # answer the next N REST requests with 500
    rate_limit_next: int = 0  # answer the next N REST requests with 429 + Retry-After
    retry_after_s: int = 1
    drop_next: int = 0  # cut the next N REST responses after half the body
    banned: bool = False  # answer 418
    reject_rest: tuple[int, int, str] | None = None  # (status, code, msg), e.g. 400 -1121
    fault_plan: dict[int, str] = field(default_factory=dict)  # REST call no. -> "429"/"drop"
    weight_used: int = 0  # reported in X-MBX-USED-WEIGHT-1M (never resets: tests are short)
    ban_after_requests: int | None = None  # start answering 418 after this many REST calls
    server_time_ms: int | None = None  # /time answer; default: the last published trade
    ws_connects: int = 0
    ws_refusals: int = 0
    rest_calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._clients: list[_Client] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> "FakeBinance":
        app = web.Application()
        app.router.add_get("/market/stream", self._ws)
        app.router.add_get("/public/stream", self._ws)
        app.router.add_get("/fapi/v1/aggTrades", self._agg_trades)
        app.router.add_get("/fapi/v1/klines", self._klines)
        app.router.add_get("/fapi/v1/time", self._time)
        app.router.add_get("/fapi/v1/exchangeInfo", self._exchange_info)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in list(self._clients):
            await client.ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def market_clients(self) -> list[_Client]:
        return [c for c in self._clients if c.path == "/market/stream" and not c.ws.closed]

    # --- test controls ------------------------------------------------------------------------

    def ids(self, start: int = 0, stop: int | None = None) -> list[int]:
        return [t["a"] for t in self.trades[start : self.published if stop is None else stop]]

    async def publish(self, n: int, *, skip_ws: Iterable[int] = ()) -> None:
        """The next `n` trades happen; the ones at offsets `skip_ws` are lost on the socket."""
        skip = set(skip_ws)
        for k in range(n):
            trade = self.trades[self.published]
            self.published += 1
            if k not in skip:
                await self.send_market(self.frame(trade))

    def frame(self, trade: dict[str, Any]) -> str:
        data = {"e": "aggTrade", "E": trade["T"] + 1, "s": self.symbol, **trade}
        data["nq"] = data["q"]
        return json.dumps({"stream": f"{self.symbol.lower()}@aggTrade", "data": data})

    async def send_market(self, text: str) -> None:
        for client in self.market_clients():
            if not client.silent:
                await client.ws.send_str(text)

    async def send_public(self, text: str) -> None:
        for client in self._clients:
            if client.path == "/public/stream" and not client.ws.closed and not client.silent:
                await client.ws.send_str(text)

    def drop_all(self) -> None:
        """Cut every websocket abruptly (no close frame)."""
        for client in self._clients:
            if client.request.transport is not None:
                client.request.transport.abort()
        self._clients.clear()

    def silence_all(self) -> None:
        """Keep current sockets open but stop sending on them."""
        for client in self._clients:
            client.silent = True

    # --- handlers -----------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_ws:
            self.ws_refusals += 1
            return web.json_response(
                {"code": -1, "msg": "unavailable"}, status=self.refuse_ws_status
            )
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self.ws_connects += 1
        client = _Client(ws, request, request.path)
        self._clients.append(client)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            if client in self._clients:
                self._clients.remove(client)
        return ws

    def _rest_fault(self) -> web.Response | None:
        planned = self.fault_plan.pop(len(self.rest_calls), None)
        if planned == "429":
            self.rate_limit_next += 1
        elif planned == "drop":
            self.drop_next += 1
        if self.ban_after_requests is not None and len(self.rest_calls) > self.ban_after_requests:
            self.banned = True
        if self.banned:
            body = {"code": -1003, "msg": "Way too many requests; IP banned until 1."}
            return web.json_response(body, status=418)
        if self.reject_rest is not None:
            status, code, msg = self.reject_rest
            return web.json_response({"code": code, "msg": msg}, status=status)
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return web.json_response(
                {"code": -1003, "msg": "Too many requests"},
                status=429,
                headers={"Retry-After": str(self.retry_after_s)},
            )
        if self.rest_fail_next > 0:
            self.rest_fail_next -= 1
            return web.json_response({"code": -1001, "msg": "Internal error"}, status=500)
        return None

    async def _answer(self, request: web.Request, body: Any, weight: int) -> web.StreamResponse:
        self.weight_used += weight
        headers = {"X-MBX-USED-WEIGHT-1M": str(self.weight_used)}
        if self.drop_next > 0:
            self.drop_next -= 1
            raw = json.dumps(body).encode()
            resp = web.StreamResponse(headers=headers)
            resp.content_type = "application/json"
            resp.content_length = len(raw)
            await resp.prepare(request)
            await resp.write(raw[: len(raw) // 2])
            assert request.transport is not None
            request.transport.abort()
            return resp
        return web.json_response(body, headers=headers)

    async def _agg_trades(self, request: web.Request) -> web.StreamResponse:
        self.rest_calls.append(request.path_qs)
        fault = self._rest_fault()
        if fault is not None:
            return fault
        q = request.query
        limit = min(int(q.get("limit", 500)), 1000)
        visible = self.trades[: self.published]
        if "fromId" in q:
            start = int(q["fromId"])
            rows = [t for t in visible if t["a"] >= start][:limit]
        elif "startTime" in q:
            start = int(q["startTime"])
            end = int(q.get("endTime", start + 3_600_000 - 1))
            rows = [t for t in visible if start <= t["T"] <= end][:limit]
        else:
            rows = visible[-limit:]
        return await self._answer(request, rows, 20)

    async def _klines(self, request: web.Request) -> web.StreamResponse:
        self.rest_calls.append(request.path_qs)
        fault = self._rest_fault()
        if fault is not None:
            return fault
        q = request.query
        start = int(q.get("startTime", 0))
        end = int(q.get("endTime", 2**62))
        limit = min(int(q.get("limit", 500)), 1500)
        rows = [k for k in self.klines if start <= k[0] <= end][:limit]
        return await self._answer(request, rows, 10)

    async def _time(self, request: web.Request) -> web.StreamResponse:
        self.rest_calls.append(request.path_qs)
        fault = self._rest_fault()
        if fault is not None:
            return fault
        if self.server_time_ms is not None:
            now = self.server_time_ms
        else:
            now = self.trades[max(self.published - 1, 0)]["T"]
        return await self._answer(request, {"serverTime": now}, 1)

    async def _exchange_info(self, request: web.Request) -> web.Response:
        return web.json_response({"symbols": [{"symbol": self.symbol}]})


async def wait_for(predicate: Any, timeout_s: float = 5.0, step_s: float = 0.01) -> None:
    """Poll `predicate()` until true; TimeoutError after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if predicate():
            return
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(step_s)


BUNDLED_KLINES = (
    Path(__file__).resolve().parents[2]
    / "exchange_sim"
    / "data"
    / "klines"
    / "BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
)


def load_ohlcv_klines(path: Path = BUNDLED_KLINES, rows: int | None = None) -> list[list[Any]]:
    """12-column kline rows from a real OHLCV file; fields the file lacks are "0"/0 here."""
    out: list[list[Any]] = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            t = int(r["open_time"])
            out.append(
                [t, r["open"], r["high"], r["low"], r["close"], r["volume"], t + 59_999,
                 "0", 0, "0", "0", "0"]
            )  # fmt: skip
            if rows is not None and len(out) >= rows:
                break
    return out
