"""StreamLink: one websocket's typed outcomes, against the loopback fake exchange.

Timers (silence, rotation age, overlap) run on `VirtualTime`: no test waits for a timeout.
"""

import asyncio
import socket
from typing import Any

import pytest

from core.clock import LiveClock
from gateway.stream_link import LinkConfig, LinkEnd, LinkOutcome, StreamLink
from tests.gateway.fake_exchange import FakeBinance, load_agg_trades, wait_for
from tests.gateway.virtual_time import VirtualTime, settle


@pytest.fixture
async def fake():
    async with FakeBinance(load_agg_trades()) as server:
        yield server


def make_link(
    url: str, vt: VirtualTime | None = None, on_frame: Any = None, **config: Any
) -> tuple[StreamLink, list]:
    frames: list = []
    link = StreamLink(
        name="market",
        url=url,
        on_frame=on_frame or frames.append,
        clock=vt.clock if vt is not None else LiveClock(),
        sleep=vt.sleep if vt is not None else asyncio.sleep,
        config=LinkConfig(**{"silence_s": 5.0, "check_s": 0.25, **config}),
    )
    return link, frames


async def test_frames_reach_on_frame_and_a_dropped_connection_ends_as_closed(fake):
    link, frames = make_link(f"{fake.ws_url}/market/stream")
    assert await link.open() is None
    await wait_for(lambda: fake.market_clients())
    watching = asyncio.create_task(link.watch())

    await fake.publish(3)
    await wait_for(lambda: len(frames) == 3)
    fake.drop_all()
    end = await asyncio.wait_for(watching, 5)

    assert end.outcome is LinkOutcome.CLOSED and end.detail.startswith("closed")
    assert link.delivered
    await link.close()
    assert not link.connected


async def test_no_frame_for_longer_than_the_silence_limit_ends_as_silent(fake):
    vt = VirtualTime()
    link, _ = make_link(f"{fake.ws_url}/market/stream", vt)
    await link.open()
    watching = asyncio.create_task(link.watch())
    await settle()

    await vt.advance(5.0)
    assert not watching.done()
    await vt.advance(0.5)

    assert watching.done()
    assert watching.result() == LinkEnd(LinkOutcome.SILENT, "no frame for 5.0 s")
    await link.close()


async def test_a_link_flagged_silent_from_outside_ends_at_the_next_check(fake):
    vt = VirtualTime()
    link, _ = make_link(f"{fake.ws_url}/market/stream", vt)
    await link.open()
    watching = asyncio.create_task(link.watch())
    await settle()

    link.flag_silent("btcusdt@aggTrade silent")
    link.flag_silent("a second reason is ignored")
    await vt.advance(0.25)

    assert watching.result() == LinkEnd(LinkOutcome.SILENT, "btcusdt@aggTrade silent")
    await link.close()


async def test_an_old_connection_is_rotated_to_a_new_one_that_delivers(fake):
    vt = VirtualTime()
    link, frames = make_link(f"{fake.ws_url}/market/stream", vt, max_age_s=60.0)
    await link.open()
    await wait_for(lambda: fake.market_clients())
    watching = asyncio.create_task(link.watch())
    while not watching.done():  # a frame every 4 s: never silent, only old after 60 s
        await fake.publish(1)
        await wait_for(lambda: len(frames) == fake.published)
        await vt.advance(4.0)

    end = watching.result()
    assert end.outcome is LinkOutcome.ROTATE
    rotating = asyncio.create_task(link.rotate())
    await wait_for(lambda: len(fake.market_clients()) == 2)
    await fake.publish(1)  # both sockets get it: the new one has now delivered
    assert await asyncio.wait_for(rotating, 5) is None

    await wait_for(lambda: len(fake.market_clients()) == 1)
    assert fake.ws_connects == 2 and link.frames == 1 and fake.published == 17
    await link.close()


async def test_rotation_keeps_the_old_connection_when_the_new_one_cannot_open(fake):
    vt = VirtualTime()
    link, _ = make_link(f"{fake.ws_url}/market/stream", vt)
    await link.open()
    fake.refuse_ws = True

    end = await link.rotate()

    assert end is not None and end.outcome is LinkOutcome.UNREACHABLE
    assert link.connected and len(fake.market_clients()) == 1
    await link.close()


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (503, LinkOutcome.UNREACHABLE),
        (429, LinkOutcome.UNREACHABLE),
        (418, LinkOutcome.FAILED),
        (400, LinkOutcome.FAILED),
    ],
)
async def test_refused_handshake_is_classified_by_status(fake, status, outcome):
    fake.refuse_ws = True
    fake.refuse_ws_status = status
    link, _ = make_link(f"{fake.ws_url}/market/stream")

    end = await link.open()

    assert end is not None and end.outcome is outcome and str(status) in end.detail
    assert not link.connected


async def test_wrong_path_is_fatal(fake):
    link, _ = make_link(f"{fake.ws_url}/no/such/path")

    end = await link.open()

    assert end is not None and end.outcome is LinkOutcome.FAILED and "404" in end.detail


async def test_refused_tcp_connection_is_worth_retrying():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    link, _ = make_link(f"ws://127.0.0.1:{port}/market/stream")

    end = await link.open()

    assert end is not None and end.outcome is LinkOutcome.UNREACHABLE


async def test_bad_uri_is_fatal():
    link, _ = make_link("http://127.0.0.1:9/market/stream")

    end = await link.open()

    assert end is not None and end.outcome is LinkOutcome.FAILED and "InvalidURI" in end.detail


async def test_an_error_raised_by_on_frame_ends_the_link_as_failed(fake):
    def on_frame(raw: object) -> None:
        raise RuntimeError("consumer bug")

    link, _ = make_link(f"{fake.ws_url}/market/stream", on_frame=on_frame)
    await link.open()
    await wait_for(lambda: fake.market_clients())
    watching = asyncio.create_task(link.watch())

    await fake.publish(1)
    end = await asyncio.wait_for(watching, 5)

    assert end.outcome is LinkOutcome.FAILED and "consumer bug" in end.detail
    await link.close()
