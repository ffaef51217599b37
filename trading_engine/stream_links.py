"""Which market-data links and whether the user stream are down, for the heartbeat, status.json
and `--status`: without it they went on showing the last stream lag as if data still arrived,
and said nothing while fills went unheard (the user stream down)."""

import logging

from core.events import StreamState, StreamStateChanged
from gateway.data_stream import MARKET
from gateway.main_gateway import STREAM as USER_STREAM_ID
from runtime.status_file import USER_STREAM

log = logging.getLogger("daemon")


class StreamLinks:
    """The links down (market-data link or USER_STREAM -> its state), with when each went
    down; a drop and a reconnection are each said once in the log."""

    def __init__(self) -> None:
        self.down: dict[str, str] = {}
        self._down_since_ms: dict[str, int] = {}

    def changed(self, change: StreamStateChanged) -> None:
        """A link's new state (the market data's through the sink, the user stream's among the
        venue events)."""
        name = USER_STREAM if change.stream == USER_STREAM_ID else change.stream
        if change.state is StreamState.CONNECTED:
            if self.down.pop(name, None) is not None:
                since = self._down_since_ms.pop(name, change.event_time_ms)
                down_s = (change.event_time_ms - since) / 1000
                log.info("%s reconnected after %.1f s down", name, down_s)
        else:
            if name not in self.down:
                self._down_since_ms[name] = change.event_time_ms
                _log_down(name, change)
            self.down[name] = change.state.value

    def note(self) -> str:
        """The heartbeat's ` | market data DISCONNECTED (market disconnected)` and
        ` | user stream DISCONNECTED (disconnected)`, "" while all are up."""
        down = dict(self.down)
        user = down.pop(USER_STREAM, None)
        note = ""
        if down:
            note += (
                " | market data DISCONNECTED ("
                + ", ".join(f"{k} {v}" for k, v in down.items())
                + ")"
            )
        if user is not None:
            note += f" | user stream DISCONNECTED ({user}): fills not heard"
        return note


def _log_down(name: str, change: StreamStateChanged) -> None:
    """One WARNING when a link goes down (the heartbeat only showed it while it lasted, and
    the log said nothing of a drop or a silence), saying what the daemon does meanwhile. A
    FAILED link is the ExecManager's to log: it flattens."""
    if change.state is StreamState.FAILED:
        return
    why = f"{change.state.value}{': ' + change.detail if change.detail else ''}"
    doing = ""
    if name == USER_STREAM:
        doing = "; fills are not heard until it is back, then read by a reconciliation"
    elif name == MARKET:
        doing = "; entries wait while the trades missed are backfilled"
    log.warning("%s DISCONNECTED (%s): reconnecting%s", name, why, doing)
