"""The aiohttp application: one port for REST, WebSocket and (optionally) the admin endpoint.

Every request goes through `dispatch`: a WebSocket upgrade goes to the `WsHub`, `/_sim/faults`
to the admin handler when admin mode is on (404 otherwise), anything else to the `RestServer`.

`JsonErrorRunner` replaces aiohttp's text/plain answers to requests its HTTP parser rejects
(they never reach `dispatch`) with Binance-shaped JSON, logs one line instead of a traceback,
and never repeats the request line back:

| what                                              | HTTP | code  |
|---------------------------------------------------|------|-------|
| request line or a header over 8190 bytes          | 400  | -1101 |
| method that is not an HTTP token (e.g. `G\\x01T`)  | 400  | -1020 |
| any other malformed request                       | 400  | -1102 |
| an exception escaping a handler (a bug)           | 500  | -1000 |

Bodies over 16 KiB (413 -1101), unknown paths (404 -5000) and other methods on a known path
(405 -5000) are answered by `rest.RestServer`.
"""

import logging
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from .faults import Faults
from .rest import MAX_BODY_BYTES, RestServer, invalid_path
from .ws import WsHub

log = logging.getLogger(__name__)

ADMIN_PATH = "/_sim/faults"


def build_app(rest: RestServer, hub: WsHub, faults: Faults, *, admin: bool) -> web.Application:
    async def admin_faults(request: web.Request) -> web.Response:
        if request.method != "POST":
            error = invalid_path(request.method, request.path).to_json()
            return web.json_response(error, status=405, headers={"Allow": "POST"})
        try:
            spec = orjson.loads(await request.read())  # depth-limited, rejects NaN
            result = faults.apply(spec)
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"code": -1101, "msg": "Request body too large."}, status=413)
        except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
            return web.json_response({"code": -1130, "msg": str(exc)}, status=400)
        return web.json_response({"ok": True, "result": _jsonable(result)})

    async def dispatch(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await hub.handle(request)
        if admin and request.path == ADMIN_PATH:
            return await admin_faults(request)
        return await rest.handle(request)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def http_error_body(status: int, exc: BaseException | None) -> dict[str, Any]:
    """The JSON body for a request the HTTP layer refused (see the module table)."""
    if status >= 500:
        if status == HTTPStatus.GATEWAY_TIMEOUT:
            return {"code": -1007, "msg": "Timeout waiting for response from backend server."}
        return {"code": -1000, "msg": "An unknown error occurred while processing the request."}
    if isinstance(exc, LineTooLong):
        return {"code": -1101, "msg": "Request line or header too long; the limit is 8190 bytes."}
    if isinstance(exc, BadHttpMethod):
        return {"code": -1020, "msg": "Invalid HTTP method; this operation is not supported."}
    return {"code": -1102, "msg": "Malformed HTTP request."}


class _JsonErrorHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
        else:
            log.info(
                "refused a malformed HTTP request from %s: %s (%d)",
                request.remote,
                type(exc).__name__ if exc is not None else "error",
                status,
            )
        if request.writer.output_size > 0:  # a response was started: nothing sane to add
            raise ConnectionError("response already started; cannot send an error")
        resp = web.Response(
            status=status,
            body=orjson.dumps(http_error_body(status, exc)),
            content_type="application/json",
        )
        resp.force_close()
        return resp


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer HTTP-parser errors with JSON (module table)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # same state, JSON error pages
        return server
