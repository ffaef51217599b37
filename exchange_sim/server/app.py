"""The aiohttp application: one port for REST, WebSocket and (optionally) the admin endpoint.

Every request goes through `dispatch`: a WebSocket upgrade goes to the `WsHub`, `/_sim/faults`
to the admin handler when admin mode is on (404 otherwise), anything else to the `RestServer`.
"""

import json

from aiohttp import web

from .faults import Faults
from .rest import RestServer
from .ws import WsHub

ADMIN_PATH = "/_sim/faults"


def build_app(rest: RestServer, hub: WsHub, faults: Faults, *, admin: bool) -> web.Application:
    async def admin_faults(request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.json_response({"code": -1, "msg": "Method not allowed."}, status=405)
        try:
            spec = json.loads(await request.text())
            result = faults.apply(spec)
        except ValueError as exc:
            return web.json_response({"code": -1102, "msg": str(exc)}, status=400)
        return web.json_response({"ok": True, "result": _jsonable(result)})

    async def dispatch(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await hub.handle(request)
        if admin and request.path == ADMIN_PATH:
            return await admin_faults(request)
        return await rest.handle(request)

    app = web.Application(client_max_size=1 << 20)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)
