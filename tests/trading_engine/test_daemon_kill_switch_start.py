"""The kill switch acts without market data and during the start-up: the flag file within a
second on a quiet (or dead) stream, a SIGUSR1 sent while the daemon is still starting once its
books exist (it was dropped), the flag file already there before anything is traded; and the
flatten that follows is retried on the daemon's timer when no market data arrives."""

import asyncio
import io
import time
from dataclasses import replace
from types import SimpleNamespace

from core.enums import TradingState
from runtime.settings import load_settings
from tests.gateway.fake_exchange import wait_for
from tests.trading_engine.support import make_rig
from trading_engine.daemon import Daemon

ACTIVE, REDUCING = TradingState.ACTIVE, TradingState.REDUCING


def _daemon(kill_file: str | None = None, *, out: io.StringIO | None = None) -> Daemon:
    settings = load_settings(None, env_file=None)
    if kill_file is not None:
        settings = replace(settings, risk=replace(settings.risk, kill_switch_file=kill_file))
    return Daemon(settings, out=out or io.StringIO())


def test_the_kill_file_acts_within_a_second_when_no_market_data_arrives(tmp_path) -> None:
    """No item reaches the ExecManager (a quiet market, a dead stream): the daemon's watcher
    still sees the file and the cancel-all goes out within a second."""
    kill = tmp_path / "KILL"
    rig = make_rig(kill_switch_file=str(kill))
    daemon = _daemon(str(kill))
    daemon._parts = SimpleNamespace(exec_manager=rig.em)  # type: ignore[assignment]

    async def scenario() -> float:
        watcher = asyncio.create_task(daemon._watch_kill_file(str(kill)))
        await asyncio.sleep(0.3)
        kill.touch()
        touched = time.monotonic()
        for _ in range(200):  # 2 s at most
            if rig.risk.state is not ACTIVE:
                break
            await asyncio.sleep(0.01)
        reacted = time.monotonic() - touched
        watcher.cancel()
        return reacted

    reacted_s = asyncio.run(scenario())

    # Flat with no order: REDUCING, and HALTED at once.
    assert rig.risk.state is TradingState.HALTED
    assert rig.risk.reason == f"kill switch: file {kill} exists"
    assert reacted_s <= 1.0, f"kill file took {reacted_s:.2f} s"
    assert rig.venue.cancel_alls_keeping_protection == ["BTCUSDT"]


def test_a_sigusr1_sent_while_starting_kills_once_the_books_exist() -> None:
    """Before the ExecManager exists a SIGUSR1 has nothing to act on: it is kept and acts at
    the start of the start-up reconciliation, not dropped without a word."""
    rig = make_rig()
    daemon = _daemon()

    daemon._kill_switch_signal()  # still starting: no books, no ExecManager
    assert rig.risk.state is TradingState.ACTIVE
    with rig.em.reconciling():
        daemon._kill_if_asked(rig.em)
        assert rig.risk.state is REDUCING
        assert rig.venue.cancel_alls_keeping_protection == []  # nothing before the whole picture

    assert rig.risk.reason == "kill switch: SIGUSR1 received during start-up"
    assert rig.venue.cancel_alls_keeping_protection == ["BTCUSDT"]


def test_a_sigusr1_during_the_start_up_reconciliation_kills_at_once() -> None:
    rig = make_rig()
    daemon = _daemon()

    with rig.em.reconciling():
        daemon._kill_if_asked(rig.em)  # nothing asked yet
        assert rig.risk.state is TradingState.ACTIVE
        daemon._kill_switch_signal()
        assert rig.risk.state is REDUCING

    assert rig.risk.reason == "kill switch: SIGUSR1 received"


def test_a_kill_file_already_there_at_start_kills_before_anything_is_traded(tmp_path) -> None:
    kill = tmp_path / "KILL"
    rig = make_rig(kill_switch_file=str(kill))  # (its first mark price looked: no file)
    daemon = _daemon(str(kill))
    kill.touch()  # e.g. while the daemon was stopped

    with rig.em.reconciling():
        daemon._kill_if_asked(rig.em)
        assert rig.risk.state is REDUCING

    assert rig.risk.reason == f"kill switch: file {kill} exists"


def test_the_daemon_calls_the_exec_managers_timer_without_market_data(monkeypatch) -> None:
    """REDUCING's flatten retries do not wait for market data: the daemon ticks the ExecManager
    (ExecManager.on_timer) on its own, here every 10 ms instead of every second."""
    import trading_engine.daemon as daemon_module

    monkeypatch.setattr(daemon_module, "EXEC_TIMER_S", 0.01)
    ticks: list[int] = []
    daemon = _daemon()
    daemon._parts = SimpleNamespace(  # type: ignore[assignment]
        exec_manager=SimpleNamespace(on_timer=lambda: ticks.append(1))
    )

    async def scenario() -> None:
        task = asyncio.create_task(daemon._exec_timer())
        # ~50 ms; a busy machine's ticks come later: until 5 came, not for a fixed 0.2 s
        await wait_for(lambda: len(ticks) >= 5, timeout_s=10.0, step_s=0.005)
        task.cancel()

    asyncio.run(scenario())

    assert len(ticks) >= 5


def _started(daemon: Daemon, out: io.StringIO) -> list[str]:
    """The lines the start prints once it runs."""
    daemon._say_running()
    return [line for line in out.getvalue().splitlines() if line]


def test_a_local_start_with_the_kill_file_there_says_so_under_the_running_line(tmp_path) -> None:
    """The embedded local exchange (a new account and journal at each start): halted for this
    run; the file is what stops the next one too."""
    kill = tmp_path / "KILL"
    rig = make_rig(kill_switch_file=str(kill))
    out = io.StringIO()
    daemon = _daemon(str(kill), out=out)
    kill.touch()
    with rig.em.reconciling():
        daemon._kill_if_asked(rig.em)

    lines = _started(daemon, out)

    assert lines[0].startswith("application running: trading BTCUSDT")
    assert lines[1] == (
        f"kill switch file {kill} present: trading HALTED for this run (no new entries); "
        f"remove {kill} before the next start"
    )


def test_an_attached_start_with_the_kill_file_there_says_what_lifts_it(tmp_path) -> None:
    kill = tmp_path / "KILL"
    rig = make_rig(kill_switch_file=str(kill))
    out = io.StringIO()
    daemon = _daemon(str(kill), out=out)
    settings = daemon.settings
    daemon.settings = replace(
        settings, endpoints=replace(settings.endpoints, rest_url="http://127.0.0.1:1")
    )
    kill.touch()
    with rig.em.reconciling():
        daemon._kill_if_asked(rig.em)

    assert _started(daemon, out)[1] == (
        f"kill switch file {kill} present: trading HALTED until {kill} is removed and the "
        "daemon is restarted with --reset-halt"
    )


def test_a_start_without_the_kill_file_says_only_that_it_runs(tmp_path) -> None:
    kill = tmp_path / "KILL"
    rig = make_rig(kill_switch_file=str(kill))
    out = io.StringIO()
    daemon = _daemon(str(kill), out=out)
    with rig.em.reconciling():
        daemon._kill_if_asked(rig.em)

    assert len(_started(daemon, out)) == 1
    assert rig.risk.state is ACTIVE
