"""The heartbeat prints a status line every `execution.heartbeat_s` until the shutdown
starts: then the closing summary is the last thing on stdout. An operator reset the kill
switch forbids is one clear error."""

import asyncio
import errno
import io
import logging
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import pytest

from core.events import StreamState, StreamStateChanged
from runtime.settings import load_settings
from tests.gateway.fake_exchange import wait_for
from trading_engine.daemon import Daemon


async def _until(condition: Callable[[], bool]) -> None:
    """The heartbeat's 10 ms beats come late on a busy machine: a test waits for the beats it
    counts (10 s at most) instead of a fixed 0.1 s."""
    await wait_for(condition, timeout_s=10.0, step_s=0.005)


def test_the_heartbeat_prints_until_the_shutdown_stops_it() -> None:
    settings = load_settings(None, env_file=None)
    settings = replace(settings, execution=replace(settings.execution, heartbeat_s=0.01))
    out = io.StringIO()
    daemon = Daemon(settings, out=out)

    async def scenario() -> tuple[int, int]:
        daemon._start_heartbeat()
        await _until(lambda: out.getvalue().count("application running") >= 3)
        printed = out.getvalue().count("application running")
        daemon._stop_heartbeat()
        await asyncio.sleep(0.1)
        return printed, out.getvalue().count("application running")

    printed, after = asyncio.run(scenario())

    assert printed >= 3  # one every 10 ms
    assert after == printed


def test_the_heartbeat_shows_a_loss_that_rounds_to_nothing_as_zero() -> None:
    """It said "unrealized -0.00" of a short position a fraction of a cent under water."""
    line = _status_line_of(unrealized_pnl=Decimal("-0.0047"), equity=Decimal("-0.001"))

    assert "| equity 0.00 USDT |" in line and "| unrealized 0.00 |" in line
    assert "-0.00" not in line


def _status_line_of(**status_fields: object) -> str:
    """The heartbeat line of a daemon whose ExecManager reports `status_fields`."""
    from types import SimpleNamespace

    from tests.trading_engine.support import make_rig
    from trading_engine.daemon import _Parts

    rig = make_rig()
    status = replace(rig.em.status(), **status_fields)
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())
    stream = SimpleNamespace(gap_open=lambda _symbol=None: False)
    daemon._parts = _Parts(
        rest=None, market_rest=None, journal=None, book=rig.book, risk=rig.risk,
        exec_manager=SimpleNamespace(status=lambda: status), venue=None, stream=stream,
        strategy=None,
    )  # type: ignore[arg-type]  # fmt: skip
    return daemon.status_line()


def test_the_heartbeat_shows_orders_in_doubt_beside_the_open_orders() -> None:
    """An order whose request timed out (outcome unknown, being resolved) was shown by
    `--status` only: the heartbeat said "open orders 3" as if all three were known."""
    line = _status_line_of(open_orders=3, orders_in_doubt=2)

    assert "| open orders 3 (2 in doubt) |" in line


def test_the_heartbeat_says_nothing_of_doubt_when_no_order_is_in_doubt() -> None:
    line = _status_line_of(open_orders=3, orders_in_doubt=0)

    assert "| open orders 3 |" in line
    assert "doubt" not in line


class HungUpTerminal(io.StringIO):
    """stdout after the ssh session that started the daemon dropped: every write is EIO."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        raise OSError(errno.EIO, "Input/output error")


def test_the_heartbeat_outlives_a_terminal_that_hung_up() -> None:
    """It once died at its first line (EIO), so status.json went stale and `--status` said
    "not responding" of a daemon that was trading."""
    settings = load_settings(None, env_file=None)
    settings = replace(settings, execution=replace(settings.execution, heartbeat_s=0.01))
    out = HungUpTerminal()
    daemon = Daemon(settings, out=out)

    async def scenario() -> bool:
        daemon._start_heartbeat()
        await _until(lambda: out.writes >= 3)
        task = daemon._heartbeat_task
        alive = task is not None and not task.done()
        daemon._stop_heartbeat()
        return alive

    alive = asyncio.run(scenario())

    assert alive
    assert out.writes >= 3  # one beat every 10 ms, each line tried


def test_reset_halt_while_the_kill_file_exists_is_one_clear_error(tmp_path) -> None:
    """A daemon journaled HALTED by the kill switch, restarted with --reset-halt while the
    kill-switch file is still there: a DaemonError (one line from app.py), no traceback."""
    from core.enums import TradingState
    from core.events import TradingStateChanged
    from tests.trading_engine.support import T0, make_rig
    from trading_engine.daemon_error import DaemonError

    kill = tmp_path / "KILL"
    kill.touch()
    rig = make_rig(kill_switch_file=str(kill))
    halted = TradingStateChanged(
        event_time_ms=T0,
        recv_time_ms=T0,
        previous=TradingState.REDUCING,
        current=TradingState.HALTED,
        reason=f"kill switch: file {kill} exists",
    )
    daemon = Daemon(load_settings(None, env_file=None), reset_halt=True, out=io.StringIO())

    with pytest.raises(DaemonError) as e:
        daemon._restore_trading_state([halted], rig.risk, rig.em)

    assert str(e.value).startswith("--reset-halt refused: trading state: illegal transition ")
    assert str(e.value).endswith(f"remove the kill-switch file {kill} first")


def test_reset_halt_on_an_active_journal_while_the_kill_file_exists_is_refused(tmp_path) -> None:
    """A new local run (its journal ACTIVE) with --reset-halt and the KILL file of the last
    run still there said "nothing to reset", then halted by the kill switch at once."""
    from tests.trading_engine.support import make_rig
    from trading_engine.daemon_error import DaemonError

    kill = tmp_path / "KILL"
    kill.touch()
    rig = make_rig(kill_switch_file=str(kill))
    out = io.StringIO()
    daemon = Daemon(load_settings(None, env_file=None), reset_halt=True, out=out)

    with pytest.raises(DaemonError) as e:
        daemon._restore_trading_state([], rig.risk, rig.em)

    assert str(e.value) == f"--reset-halt refused: remove the kill-switch file {kill} first"
    assert out.getvalue() == ""


def test_reset_halt_journals_the_balance_the_limits_were_rearmed_from(tmp_path) -> None:
    """The daily-loss limit re-armed by --reset-halt starts from the equity then: journaled as
    a balance snapshot at once, so a restart later that day restores that base."""
    from core.enums import TradingState
    from core.events import TradingStateChanged
    from tests.trading_engine.support import T0, make_rig

    rig = make_rig()
    halted = TradingStateChanged(
        event_time_ms=T0,
        recv_time_ms=T0,
        previous=TradingState.REDUCING,
        current=TradingState.HALTED,
        reason="max daily loss: lost 600.00 USDT today (max 500 USDT)",
    )
    daemon = Daemon(load_settings(None, env_file=None), reset_halt=True, out=io.StringIO())
    snapshots: list[TradingState] = []

    daemon._restore_trading_state(
        [halted], rig.risk, rig.em, snapshot=lambda: snapshots.append(rig.risk.state)
    )

    assert snapshots == [TradingState.ACTIVE]  # taken once, after the reset


def test_reset_halt_on_a_daemon_that_is_active_says_there_is_nothing_to_reset() -> None:
    """It printed nothing: the operator could not tell whether the flag was looked at."""
    from tests.trading_engine.support import make_rig

    rig = make_rig()
    out = io.StringIO()
    daemon = Daemon(load_settings(None, env_file=None), reset_halt=True, out=out)
    daemon._restore_trading_state([], rig.risk, rig.em)
    quiet = io.StringIO()
    Daemon(load_settings(None, env_file=None), out=quiet)._restore_trading_state(
        [], rig.risk, rig.em
    )

    assert out.getvalue() == "--reset-halt: trading state is ACTIVE already, nothing to reset\n"
    assert quiet.getvalue() == ""
    assert rig.risk.state.value == "ACTIVE"


def _user_stream(state: str) -> StreamStateChanged:
    return StreamStateChanged(
        event_time_ms=1, recv_time_ms=1, stream="user", state=StreamState(state), detail=""
    )


def test_the_user_stream_down_is_in_streams_down_and_the_heartbeat() -> None:
    """The listenKey websocket down: the daemon hears of no fill until it reconnects. It was
    in no status: the venue's stream events went to the ExecManager only."""
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())
    handed_on: list[object] = []
    watch = daemon._user_stream_watch(lambda item, now: handed_on.append(item))
    down = _user_stream("disconnected")

    watch(down, 5)

    assert handed_on == [down]  # the ExecManager still gets it
    assert daemon.streams_down == {"user stream": "disconnected"}
    assert daemon._down_note() == " | user stream DISCONNECTED (disconnected): fills not heard"

    watch(_user_stream("connected"), 6)

    assert daemon.streams_down == {}
    assert daemon._down_note() == ""


def test_market_data_and_user_stream_down_are_told_apart() -> None:
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())
    market = StreamStateChanged(
        event_time_ms=1, recv_time_ms=1, stream="market", state=StreamState.SILENT
    )

    daemon._stream_state(market)
    daemon._stream_state(_user_stream("failed"))

    assert daemon._down_note() == (
        " | market data DISCONNECTED (market silent)"
        " | user stream DISCONNECTED (failed): fills not heard"
    )


def test_a_link_going_down_and_coming_back_is_logged_once_each(caplog) -> None:
    """A dropped or silent stream was in the heartbeat while it lasted and nowhere in the log:
    an operator reading the log after a night could not tell it happened. One WARNING when it
    goes down (a second DISCONNECTED before the reconnect adds nothing), one line when back."""
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())

    def market(state: StreamState, at_ms: int, detail: str = "") -> StreamStateChanged:
        return StreamStateChanged(
            event_time_ms=at_ms, recv_time_ms=at_ms, stream="market", state=state, detail=detail
        )

    with caplog.at_level(logging.INFO, logger="daemon"):
        daemon._stream_state(market(StreamState.SILENT, 1_000, "no frame for 10 s"))
        daemon._stream_state(market(StreamState.DISCONNECTED, 2_000))
        daemon._stream_state(market(StreamState.CONNECTED, 5_500, "reconnected"))
        daemon._stream_state(_user_stream("disconnected"))

    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "market DISCONNECTED (silent: no frame for 10 s): reconnecting; entries wait while "
            "the trades missed are backfilled",
        ),
        ("INFO", "market reconnected after 4.5 s down"),
        (
            "WARNING",
            "user stream DISCONNECTED (disconnected): reconnecting; fills are not heard until it "
            "is back, then read by a reconciliation",
        ),
    ]


def test_orders_in_doubt_since_is_when_the_count_left_0_and_null_at_0() -> None:
    """`orders_in_doubt_since_ms`: kept while the count stays above 0 (one order settled,
    another in doubt: no break), null once it is 0, new at the next doubt."""
    from runtime.status_file import host_time

    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())
    before = host_time()

    first = daemon._note_doubt(2)
    after = host_time()

    assert before.wall_ms <= first["orders_in_doubt_since_ms"] <= after.wall_ms
    assert before.steady_ms is not None and after.steady_ms is not None
    assert before.steady_ms <= first["orders_in_doubt_since_steady_ms"] <= after.steady_ms
    assert daemon._note_doubt(1) == first
    assert daemon._note_doubt(0) == {
        "orders_in_doubt_since_ms": None,
        "orders_in_doubt_since_steady_ms": None,
    }
    assert daemon._note_doubt(0)["orders_in_doubt_since_ms"] is None


def test_the_stop_cancels_the_status_watch_with_the_heartbeat() -> None:
    """The stop's status.json must be the last written: a watch left running could write
    `running` after it."""
    settings = load_settings(None, env_file=None)
    daemon = Daemon(settings, out=io.StringIO())

    async def scenario() -> tuple[bool, bool]:
        daemon._start_heartbeat()
        watch = daemon._status_watch_task
        await asyncio.sleep(0)
        running = watch is not None and not watch.done()
        daemon._stop_heartbeat()
        await asyncio.sleep(0)
        return running, watch is not None and watch.cancelled()

    running, cancelled = asyncio.run(scenario())

    assert running and cancelled
    assert daemon._status_watch_task is None


class _ExecManagerWithABug:
    """What the status watch reads of the ExecManager, its count raising (a bug)."""

    trading_state = "ACTIVE"

    def orders_in_doubt(self) -> int:
        raise ZeroDivisionError("a bug")


def test_a_bug_in_the_status_watch_is_logged_once_and_ends_the_watch_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a task dying unseen ("exception was never retrieved"): one line in the log; the
    heartbeat goes on (it keeps status.json fresh)."""
    import types

    import trading_engine.daemon as daemon_module

    monkeypatch.setattr(daemon_module, "STATUS_WATCH_S", 0.01)
    settings = load_settings(None, env_file=None)
    daemon = Daemon(settings, out=io.StringIO())
    daemon._parts = types.SimpleNamespace(exec_manager=_ExecManagerWithABug())  # type: ignore[assignment]

    async def scenario() -> tuple[bool, bool]:
        daemon._start_heartbeat()
        watch = daemon._status_watch_task
        await _until(lambda: watch is None or watch.done())
        beat = daemon._heartbeat_task
        ended = watch is not None and watch.done() and watch.exception() is None
        beating = beat is not None and not beat.done()
        daemon._stop_heartbeat()
        return ended, beating

    ended, beating = asyncio.run(scenario())

    assert ended and beating
    said = [r for r in caplog.records if "no longer rewritten on a change" in r.getMessage()]
    assert len(said) == 1


def test_what_the_status_watch_rewrites_status_json_for() -> None:
    """A change of the trading state, of a stream, of orders in doubt from 0 to some or back,
    or a reconciliation done: each rewrites status.json at once. 2 in doubt becoming 3 does
    not (the doubt's start is what `--status` ages), nor does anything else between
    heartbeats (equity, counts)."""
    from core.enums import TradingState
    from runtime.status_file import HostTime

    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())
    active = TradingState.ACTIVE
    calm = daemon._watched(active, 0)

    assert daemon._watched(active, 0) == calm
    assert daemon._watched(active, 2) != calm
    assert daemon._watched(active, 3) == daemon._watched(active, 2)
    assert daemon._watched(TradingState.HALTED, 0) != calm
    daemon._stream_state(_user_stream("disconnected"))
    assert daemon._watched(active, 0) != calm
    daemon._stream_state(_user_stream("connected"))
    assert daemon._watched(active, 0) == calm
    daemon._reconciled.at = HostTime(1_764_540_000_000, 86_400_000, "boot")
    assert daemon._watched(active, 0) != calm
