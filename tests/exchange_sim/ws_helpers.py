"""Reading websocket frames in tests: everything that arrives until the socket goes quiet."""

import asyncio
import json


async def frames_until_quiet(ws, idle_s: float = 0.3) -> list:
    """Raw frames received until nothing arrives for `idle_s` seconds."""
    out = []
    try:
        while True:
            out.append(await asyncio.wait_for(ws.recv(), idle_s))
    except TimeoutError:
        return out


async def events_until_quiet(ws, idle_s: float = 0.3) -> list[dict]:
    """As frames_until_quiet, each frame decoded from JSON."""
    return [json.loads(frame) for frame in await frames_until_quiet(ws, idle_s)]
