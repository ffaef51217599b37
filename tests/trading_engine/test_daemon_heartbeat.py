"""The heartbeat prints a status line every `execution.heartbeat_s` until the shutdown
starts: then the closing summary is the last thing on stdout. An operator reset the kill
switch forbids is one clear error."""

import asyncio
import errno
import io
from dataclasses import replace

import pytest

from runtime.settings import load_settings
from trading_engine.daemon import Daemon


def test_the_heartbeat_prints_until_the_shutdown_stops_it() -> None:
    settings = load_settings(None, env_file=None)
    settings = replace(settings, execution=replace(settings.execution, heartbeat_s=0.01))
    out = io.StringIO()
    daemon = Daemon(settings, out=out)

    async def scenario() -> tuple[int, int]:
        daemon._start_heartbeat()
        await asyncio.sleep(0.1)
        printed = out.getvalue().count("application running")
        daemon._stop_heartbeat()
        await asyncio.sleep(0.1)
        return printed, out.getvalue().count("application running")

    printed, after = asyncio.run(scenario())

    assert printed >= 3  # ~10 lines in 0.1 s
    assert after == printed


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
        await asyncio.sleep(0.1)
        task = daemon._heartbeat_task
        alive = task is not None and not task.done()
        daemon._stop_heartbeat()
        return alive

    alive = asyncio.run(scenario())

    assert alive
    assert out.writes >= 3  # ~10 beats in 0.1 s, each line tried


def test_reset_halt_while_the_kill_file_exists_is_one_clear_error(tmp_path) -> None:
    """A daemon journaled HALTED by the kill switch, restarted with --reset-halt while the
    kill-switch file is still there: a DaemonError (one line from app.py), no traceback."""
    from core.enums import TradingState
    from core.events import TradingStateChanged
    from tests.trading_engine.support import T0, make_rig
    from trading_engine.daemon import DaemonError

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
