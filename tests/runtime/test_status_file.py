"""`python app.py --status`: running, stuck, died, stopped or never run, from status.json and
the journal's writer lock. Times by hand: the status was written at NOW - 4 s, 10 s
heartbeats, the daemon started 62 min before that."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from book_keeper.journal import SqliteJournal
from book_keeper.journal_files import journal_in_use
from runtime.status_file import (
    HostTime,
    StatusExit,
    report,
    status_path,
    unclean_stop_note,
    write_status,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_764_540_004_000  # 2025-11-30 22:00:04 UTC
WRITTEN = NOW - 4_000
RUNNING = {
    "state": "running",
    "pid": 4242,
    "updated_ms": WRITTEN,
    "started_ms": WRITTEN - 62 * 60_000,
    "heartbeat_s": 10.0,
    "venue": "local exchange (klines-week)",
    "symbols": ["BTCUSDT"],
    "strategy": "sma_crossover",
    "trading_state": "ACTIVE",
    "state_reason": "",
    "equity": "10,012.34",
    "wallet": "10,010.00",
    "unrealized_pnl": "2.34",
    "realized_pnl": "10.00",
    "realized_pnl_today": "3.00",
    "positions": {"BTCUSDT": "0.002"},
    "open_orders": 1,
    "orders_submitted": 7,
    "fills": 5,
    "orders_submitted_total": 40,  # restarted on its journal: earlier runs sent 33
    "fills_total": 31,
    "stream_lag_ms": 35,
    "gap_open": False,
}
DETAILS = [
    "venue: local exchange (klines-week); trading BTCUSDT with sma_crossover; trading state ACTIVE",
    "equity 10,012.34 USDT (wallet 10,010.00, unrealized 2.34); realized PnL 10.00 over the "
    "whole journal (before fees); today 3.00 (wallet change since 00:00 UTC: after fees and "
    "funding)",
    "position BTCUSDT 0.002; open orders 1; stream lag 35 ms",
    "this run: orders sent 7, fills 5; whole journal: orders 40, fills 31",
]


def test_a_running_daemon_with_a_fresh_heartbeat_is_running(tmp_path: Path) -> None:
    write_status(tmp_path, RUNNING)

    got = report(tmp_path, journal_held=True, now=HostTime(NOW))

    assert got.exit_status is StatusExit.RUNNING
    assert got.lines == [
        "daemon: running, pid 4242, up 1 h 02 min; last heartbeat 4 s ago "
        "(2025-11-30 22:00:00 UTC)",
        *DETAILS,
    ]


def test_the_exact_amounts_of_status_json_are_shown_to_the_cent(tmp_path: Path) -> None:
    """The daemon writes them exact (a monitor reads numbers); `--status` rounds them as the
    heartbeat does, a loss under half a cent as 0.00. An older file's "10,012.34" shows as
    written (DETAILS, above)."""
    exact = {
        "equity": "10012.34449550000",
        "wallet": "10010.00000000",
        "unrealized_pnl": "2.34449550000",
        "realized_pnl": "10.00000000",
        "realized_pnl_today": "-0.00400000",
    }
    write_status(tmp_path, {**RUNNING, **exact})

    got = report(tmp_path, journal_held=True, now=HostTime(NOW))

    assert got.lines[2] == (
        "equity 10,012.34 USDT (wallet 10,010.00, unrealized 2.34); realized PnL 10.00 over the "
        "whole journal (before fees); today 0.00 (wallet change since 00:00 UTC: after fees and "
        "funding)"
    )


def test_the_uptime_runs_to_now_not_to_the_last_heartbeat(tmp_path: Path) -> None:
    started = NOW - 9_000  # status.json written at start, the first heartbeat not yet due
    write_status(tmp_path, {**RUNNING, "started_ms": started, "updated_ms": started})

    got = report(tmp_path, journal_held=True, now=HostTime(NOW))

    assert got.lines[0] == (
        "daemon: running, pid 4242, up 9 s; last heartbeat 9 s ago (2025-11-30 21:59:55 UTC)"
    )


def test_a_status_file_of_an_older_daemon_shows_this_runs_figures_only(tmp_path: Path) -> None:
    older = {k: v for k, v in RUNNING.items() if not k.endswith("_total")}
    write_status(tmp_path, older)

    got = report(tmp_path, journal_held=True, now=HostTime(NOW))

    assert got.lines[-1] == "this run: orders sent 7, fills 5"


def test_a_margin_call_of_this_run_is_said_with_its_time(tmp_path: Path) -> None:
    write_status(tmp_path, {**RUNNING, "margin_calls": 2, "last_margin_call_ms": WRITTEN - 60_000})

    got = report(tmp_path, journal_held=True, now=HostTime(NOW))

    assert got.exit_status is StatusExit.RUNNING  # a warning, not a state
    assert got.lines[1:] == [
        *DETAILS,
        "MARGIN CALL from the exchange: 2 this run, the last at 2025-11-30 21:59:00 UTC "
        "(liquidation may follow)",
    ]


@pytest.mark.parametrize(
    ("unknown_ids", "hand_orders", "said"),
    [
        (
            2,
            5,
            ["reports of orders not tracked, this run: 2 with an id of ours (not applied: worth "
             "a look), 5 of orders placed by hand (left alone)"],
        ),
        (2, 0, ["reports of orders not tracked, this run: 2 with an id of ours (not applied: "
                "worth a look)"]),
        (0, 0, []),  # the daemon writes 0s: nothing to say
    ],
)  # fmt: skip
def test_reports_of_orders_not_tracked_are_said_by_kind_when_some_came(
    tmp_path: Path, unknown_ids: int, hand_orders: int, said: list[str]
) -> None:
    untracked = {"unknown_client_ids": unknown_ids, "hand_order_reports": hand_orders}
    write_status(tmp_path, {**RUNNING, **untracked})

    got = report(tmp_path, journal_held=True, now=HostTime(NOW))

    assert got.exit_status is StatusExit.RUNNING  # a note, not a state
    assert got.lines[1:] == [*DETAILS, *said]


def test_a_recording_the_size_limit_stopped_is_said_with_its_time_and_limit(
    tmp_path: Path,
) -> None:
    stopped = {"recording_stopped_ms": WRITTEN - 3_600_000, "recording_limit_mb": 500}
    write_status(tmp_path, {**RUNNING, **stopped})

    got = report(tmp_path, journal_held=True, now=HostTime(NOW))

    assert got.exit_status is StatusExit.RUNNING  # a warning, not a state
    assert got.lines[1:] == [
        *DETAILS,
        "recording: stopped at the size limit ([retention] market_sessions_mb = 500) since "
        "2025-11-30 21:00:00 UTC: this session's parity audit refuses it; raise the limit "
        "(0 = none) to record whole sessions",
    ]


def test_a_held_journal_without_heartbeats_for_3_intervals_is_not_responding(
    tmp_path: Path,
) -> None:
    write_status(tmp_path, RUNNING)

    got = report(tmp_path, journal_held=True, now=HostTime(WRITTEN + 31_000))  # > 3 x 10 s

    assert got.exit_status is StatusExit.UNHEALTHY
    assert got.lines[0] == (
        "daemon: not responding: pid 4242 holds the journal, but the last heartbeat was 31 s "
        "ago (2025-11-30 22:00:00 UTC)"
    )


def test_running_in_the_file_but_the_journal_free_means_it_died(tmp_path: Path) -> None:
    write_status(tmp_path, RUNNING)

    got = report(tmp_path, journal_held=False, now=HostTime(NOW))

    assert got.exit_status is StatusExit.UNHEALTHY
    assert got.lines[0] == (
        "daemon: not running: it did not stop cleanly (killed or crashed); last heartbeat 4 s "
        "ago (2025-11-30 22:00:00 UTC), pid 4242"
    )
    assert got.lines[1:] == DETAILS  # what it was doing when it died


def test_a_stopped_daemon_says_why_and_its_exit_status(tmp_path: Path) -> None:
    write_status(
        tmp_path, {**RUNNING, "state": "stopped", "stop_reason": "SIGTERM", "exit_status": 0}
    )

    got = report(tmp_path, journal_held=False, now=HostTime(WRITTEN + 3 * 3_600_000))

    assert got.exit_status is StatusExit.NOT_RUNNING
    assert got.lines[0] == (
        "daemon: stopped 3 h 00 min ago (2025-11-30 22:00:00 UTC): SIGTERM, exit status 0"
    )
    # the books as it left them, but no stream lag: 35 ms three hours ago says nothing now
    assert got.lines[3] == "position BTCUSDT 0.002; open orders 1"


def test_a_stopped_run_of_the_embedded_exchange_says_its_orders_ended_with_it(
    tmp_path: Path,
) -> None:
    """The embedded local exchange stops with the daemon: the stop-loss it left is no
    exchange's; "open orders 1" alone read as a stop still working."""
    stopped = {**RUNNING, "state": "stopped", "stop_reason": "SIGTERM", "exit_status": 0}
    write_status(tmp_path, {**stopped, "exchange_embedded": True})

    got = report(tmp_path, journal_held=False, now=HostTime(WRITTEN + 60_000))

    assert got.lines[3] == (
        "at the stop: position BTCUSDT 0.002, open orders 1; they ended with the embedded "
        "local exchange, which stopped with the daemon"
    )


def test_a_killed_run_of_the_embedded_exchange_says_its_orders_ended_with_it(
    tmp_path: Path,
) -> None:
    """A `kill -9` of the daemon ends its embedded exchange within a second too: "position
    BTCUSDT 0.002; open orders 1" under "did not stop cleanly" read as a position and a stop
    still held somewhere."""
    write_status(tmp_path, {**RUNNING, "exchange_embedded": True})

    got = report(tmp_path, journal_held=False, now=HostTime(NOW))

    assert got.lines[0].startswith("daemon: not running: it did not stop cleanly")
    assert got.lines[3] == (
        "at its last heartbeat: position BTCUSDT 0.002, open orders 1; they ended with the "
        "embedded local exchange, which stopped with the daemon; stream lag 35 ms"
    )


def test_a_running_or_attached_or_flat_run_says_its_orders_as_before(tmp_path: Path) -> None:
    stopped = {**RUNNING, "state": "stopped", "stop_reason": "SIGTERM", "exit_status": 0}
    cases = {
        "running": ({**RUNNING, "exchange_embedded": True}, True),
        "attached": ({**stopped, "exchange_embedded": False}, False),
        "flat": ({**stopped, "exchange_embedded": True, "positions": {}, "open_orders": 0}, False),
    }
    got = {}
    for name, (status, held) in cases.items():
        write_status(tmp_path, status)
        got[name] = report(tmp_path, journal_held=held, now=HostTime(NOW)).lines[3]

    assert got == {
        "running": "position BTCUSDT 0.002; open orders 1; stream lag 35 ms",
        "attached": "position BTCUSDT 0.002; open orders 1",
        "flat": "position flat; open orders 0",
    }


def test_no_status_file_means_never_run_and_a_broken_one_is_said(tmp_path: Path) -> None:
    never = report(tmp_path, journal_held=False, now=HostTime(NOW))
    status_path(tmp_path).write_text("{not json")
    broken = report(tmp_path, journal_held=False, now=HostTime(NOW))

    assert never.exit_status is StatusExit.NOT_RUNNING
    assert never.lines == [
        f"daemon: never run with journal_dir = {tmp_path} (no {tmp_path / 'status.json'})"
    ]
    assert broken.exit_status is StatusExit.UNHEALTHY
    assert broken.lines[0].startswith(f"daemon: {tmp_path / 'status.json'} is unreadable: ")


def test_the_journal_lock_tells_whether_a_process_holds_the_journal(tmp_path: Path) -> None:
    assert not journal_in_use(tmp_path)
    with SqliteJournal(tmp_path, writer_thread=False):
        assert journal_in_use(tmp_path)
    assert not journal_in_use(tmp_path)


@pytest.mark.parametrize(("state", "exit_status"), [("running", 1), ("stopped", 3)])
def test_app_status_prints_the_report_and_exits_with_its_status(
    tmp_path: Path, state: str, exit_status: int
) -> None:
    journal = tmp_path / "journal"
    (tmp_path / "config.toml").write_text(f'journal_dir = "{journal}"\n')
    write_status(journal, {**RUNNING, "state": state, "stop_reason": "SIGINT", "exit_status": 0})

    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--config", "config.toml", "--status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == exit_status, done.stderr
    assert done.stderr == ""
    first = done.stdout.splitlines()[0]
    assert first.startswith(
        "daemon: not running: it did not stop cleanly" if state == "running" else "daemon: stopped"
    )
    assert json.loads((journal / "status.json").read_text())["pid"] == 4242  # read only


@pytest.mark.parametrize("state", ["HALTED", "REDUCING"])
def test_a_running_daemon_that_does_not_trade_exits_4(tmp_path: Path, state: str) -> None:
    """A loss limit or the kill switch halted it: the process is up, but a check that reads
    exit 0 as "fine" would never tell the operator that it refuses every entry."""
    reason = "max drawdown: 512.00 USDT from the peak"
    write_status(tmp_path, {**RUNNING, "trading_state": state, "state_reason": reason})

    got = report(tmp_path, journal_held=True, now=HostTime(NOW))

    assert got.exit_status is StatusExit.NOT_TRADING
    assert int(got.exit_status) == 4
    assert got.lines[0] == (
        "daemon: running, pid 4242, up 1 h 02 min; last heartbeat 4 s ago "
        f"(2025-11-30 22:00:00 UTC); NOT TRADING: {state}"
    )
    assert f"trading state {state} ({reason})" in got.lines[1]


def test_a_stuck_daemon_that_was_halted_is_unhealthy_first(tmp_path: Path) -> None:
    write_status(tmp_path, {**RUNNING, "trading_state": "HALTED"})

    got = report(tmp_path, journal_held=True, now=HostTime(NOW + 60_000))

    assert got.exit_status is StatusExit.UNHEALTHY


STARTING = {
    "state": "starting",
    "pid": 4242,
    "updated_ms": WRITTEN,
    "started_ms": WRITTEN,
    "heartbeat_s": 10.0,
    "venue": "local exchange (klines-week)",
    "symbols": ["BTCUSDT"],
    "strategy": "sma_crossover",
}


def test_a_daemon_still_starting_is_running_but_not_trading_yet(tmp_path: Path) -> None:
    """A restart once read "stopped" (the last run's file) until the new daemon's first
    heartbeat: a monitoring check raised an alarm at every restart."""
    write_status(tmp_path, {**STARTING, "pid": os.getpid()})  # this process: alive

    got = report(tmp_path, journal_held=False, now=HostTime(NOW))

    assert got.exit_status is StatusExit.NOT_TRADING
    assert got.lines == [
        f"daemon: starting, pid {os.getpid()}, for 4 s (since 2025-11-30 22:00:00 UTC); "
        "not trading yet"
    ]


def test_a_start_says_what_it_waits_on_and_since_when(tmp_path: Path) -> None:
    """An exchange that does not answer at start (a pause, Binance's maintenance) kept
    `--status` at "starting, not trading yet" for minutes, only the log saying why: the
    start now writes each phase, measured from when it began and from when the phase did."""
    phase = "connecting to http://127.0.0.1:9 (symbols, account modes, leverage)"
    write_status(
        tmp_path,
        {
            **STARTING,
            "pid": os.getpid(),
            "started_ms": WRITTEN - 40_000,  # the start began 44 s before NOW
            "updated_ms": WRITTEN,
            "start_phase": phase,
            "start_phase_ms": WRITTEN - 36_000,  # this phase 40 s before NOW
        },
    )

    got = report(tmp_path, journal_held=False, now=HostTime(NOW))

    assert got.exit_status is StatusExit.NOT_TRADING
    assert got.lines == [
        f"daemon: starting, pid {os.getpid()}, for 44 s (since 2025-11-30 21:59:20 UTC); "
        f"not trading yet: {phase} (for 40 s)"
    ]


def test_a_daemon_that_died_while_starting_is_unhealthy(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(gone.stdout)
    write_status(tmp_path, {**STARTING, "pid": pid})

    got = report(tmp_path, journal_held=False, now=HostTime(NOW))

    assert got.exit_status is StatusExit.UNHEALTHY
    assert got.lines == [
        "daemon: not running: it did not stop cleanly (killed or crashed while starting, "
        f"2025-11-30 22:00:00 UTC), pid {pid}"
    ]


def test_a_start_that_failed_is_one_line_with_its_reason(tmp_path: Path) -> None:
    write_status(
        tmp_path,
        {**STARTING, "state": "stopped", "stop_reason": "start failed: bad keys", "exit_status": 1},
    )

    got = report(tmp_path, journal_held=False, now=HostTime(NOW))

    assert got.exit_status is StatusExit.NOT_RUNNING
    assert got.lines == [
        "daemon: stopped 4 s ago (2025-11-30 22:00:00 UTC): start failed: bad keys, exit status 1"
    ]


def test_a_gap_names_the_symbols_whose_entries_it_holds(tmp_path: Path) -> None:
    """Trading BTCUSDT and ETHUSDT, a gap in ETHUSDT's trades holds ETHUSDT's entries only:
    "(gap open)" alone left the user to guess whether BTCUSDT still traded."""
    two = {**RUNNING, "symbols": ["BTCUSDT", "ETHUSDT"], "gap_open": True}
    write_status(tmp_path, {**two, "gap_symbols": ["ETHUSDT"]})

    got = report(tmp_path, journal_held=True, now=HostTime(NOW))

    assert got.lines[3] == (
        "position BTCUSDT 0.002; open orders 1; stream lag 35 ms (gap open: ETHUSDT)"
    )


# Wall-clock steps. The daemon wrote its heartbeat at WRITTEN on the wall clock and at
# STEADY on this boot's steady count (ms since boot); NTP then stepped the wall clock.
BOOT = "a262d93a-5d33-4dd8-9ebf-83695314eea6"
STEADY = 86_400_000  # one day after boot
STEADY_RUNNING = {
    **RUNNING,
    "boot_id": BOOT,
    "updated_steady_ms": STEADY,
    "started_steady_ms": STEADY - 62 * 60_000,
}


def test_a_forward_step_of_the_wall_clock_leaves_a_healthy_daemon_running(
    tmp_path: Path,
) -> None:
    """4 s after the heartbeat, the wall clock is set 10 min ahead: on the wall clock the
    heartbeat looks 10 min 04 s old (> 3 x 10 s), on the steady count it is 4 s old."""
    write_status(tmp_path, STEADY_RUNNING)
    stepped = HostTime(wall_ms=NOW + 600_000, steady_ms=STEADY + 4_000, boot_id=BOOT)

    got = report(tmp_path, journal_held=True, now=stepped)

    assert got.exit_status is StatusExit.RUNNING
    assert got.lines[0] == (
        "daemon: running, pid 4242, up 1 h 02 min; last heartbeat 4 s ago (2025-11-30 22:00:00 UTC)"
    )


def test_a_backward_step_of_the_wall_clock_does_not_hide_a_stuck_daemon(tmp_path: Path) -> None:
    """The heartbeats stopped; 40 s later the wall clock is set 5 min back: on the wall clock
    the last heartbeat is 'in the future' (read as fresh), on the steady count 40 s old."""
    write_status(tmp_path, STEADY_RUNNING)
    stepped = HostTime(wall_ms=WRITTEN + 40_000 - 300_000, steady_ms=STEADY + 40_000, boot_id=BOOT)

    got = report(tmp_path, journal_held=True, now=stepped)

    assert got.exit_status is StatusExit.UNHEALTHY
    assert got.lines[0] == (
        "daemon: not responding: pid 4242 holds the journal, but the last heartbeat was 40 s "
        "ago (2025-11-30 22:00:00 UTC)"
    )


def test_a_status_of_an_earlier_boot_is_measured_on_the_wall_clock(tmp_path: Path) -> None:
    """After a reboot the steady count began again (30 s since this boot): compared with the
    file's it would say -1 day; the wall clock says 3 h."""
    write_status(
        tmp_path, {**STEADY_RUNNING, "state": "stopped", "stop_reason": "SIGTERM", "exit_status": 0}
    )
    rebooted = HostTime(wall_ms=WRITTEN + 3 * 3_600_000, steady_ms=30_000, boot_id="another")

    got = report(tmp_path, journal_held=False, now=rebooted)

    assert got.lines[0] == (
        "daemon: stopped 3 h 00 min ago (2025-11-30 22:00:00 UTC): SIGTERM, exit status 0"
    )


def test_without_a_boot_id_here_the_wall_clock_is_used(tmp_path: Path) -> None:
    """An OS that does not say its boot (not Linux): the steady counts are not compared."""
    write_status(tmp_path, STEADY_RUNNING)
    unknown_boot = HostTime(wall_ms=WRITTEN + 31_000, steady_ms=STEADY + 4_000, boot_id=None)

    got = report(tmp_path, journal_held=True, now=unknown_boot)

    assert got.exit_status is StatusExit.UNHEALTHY  # 31 s on the wall clock, > 3 x 10 s


def test_the_daemon_writes_its_boot_and_steady_count_with_the_wall_clock(tmp_path: Path) -> None:
    from dataclasses import replace

    from runtime.settings import load_settings
    from runtime.status_file import DaemonState, host_time
    from trading_engine.daemon import Daemon

    settings = replace(load_settings(None, env_file=None), journal_dir=str(tmp_path))
    daemon = Daemon(settings)
    before = host_time()

    header = daemon._status_header(DaemonState.STARTING)

    after = host_time()
    assert header["boot_id"] == before.boot_id
    assert before.wall_ms <= header["updated_ms"] <= after.wall_ms
    assert before.steady_ms is not None and after.steady_ms is not None
    assert before.steady_ms <= header["updated_steady_ms"] <= after.steady_ms
    assert header["started_steady_ms"] == header["updated_steady_ms"]  # not started yet


def test_the_daemon_writes_whether_its_exchange_is_the_embedded_one(tmp_path: Path) -> None:
    """For --status of a stopped run: the embedded exchange's orders ended with it."""
    from dataclasses import replace

    from runtime.settings import load_settings
    from runtime.status_file import DaemonState
    from trading_engine.daemon import Daemon

    local = replace(load_settings(None, env_file=None), journal_dir=str(tmp_path))
    attached = replace(
        local, endpoints=replace(local.endpoints, rest_url="http://127.0.0.1:1", ws_url="ws://x")
    )

    embedded = [
        Daemon(s)._status_header(DaemonState.STARTING)["exchange_embedded"]
        for s in (local, attached)
    ]

    assert embedded == [True, False]


@pytest.mark.skipif(not Path("/proc/sys/kernel/random/boot_id").exists(), reason="Linux only")
@pytest.mark.parametrize(
    ("step_ms", "quiet_ms", "exit_status"), [(600_000, 4_000, 0), (-300_000, 40_000, 1)]
)
def test_app_status_measures_on_the_steady_count_across_a_wall_clock_step(
    tmp_path: Path, step_ms: int, quiet_ms: int, exit_status: int
) -> None:
    """The command on this machine's clocks: a heartbeat written `quiet_ms` ago on the steady
    count, the wall clock set `step_ms` since (the file's wall time moved back by it)."""
    from runtime.status_file import host_time

    journal = tmp_path / "journal"
    (tmp_path / "config.toml").write_text(f'journal_dir = "{journal}"\n')
    now = host_time()
    assert now.steady_ms is not None
    written = {
        **RUNNING,
        "boot_id": now.boot_id,
        "updated_ms": now.wall_ms - quiet_ms - step_ms,
        "updated_steady_ms": now.steady_ms - quiet_ms,
    }
    write_status(journal, written)

    with SqliteJournal(journal, writer_thread=False):  # the daemon holds its journal
        done = subprocess.run(
            [sys.executable, str(ROOT / "app.py"), "--config", "config.toml", "--status"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert done.returncode == exit_status, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("daemon: running" if exit_status == 0 else "daemon: not responding")


def test_status_json_does_not_show_a_secret_shaped_setting(tmp_path: Path) -> None:
    """What --check-config does not show, status.json (readable with the journal) does not
    either: a strategy file named by a pasted key, a data set folder named so."""
    from dataclasses import replace

    from runtime.settings import load_settings
    from runtime.status_file import DaemonState
    from trading_engine.daemon import Daemon

    pasted = "aK3mZ9qLp2Xw7RtY5vB8nC1dE4"
    settings = load_settings(None, env_file=None)
    settings = replace(
        settings,
        journal_dir=str(tmp_path),
        strategy=replace(settings.strategy, name=f"strategies/{pasted}.py:Mine"),
        local=replace(settings.local, data=f"data/{pasted}"),
    )

    header = Daemon(settings)._status_header(DaemonState.STARTING)

    assert header["strategy"] == "<not shown: looks like a secret>"
    assert header["venue"] == "local exchange (<not shown: looks like a secret>)"
    assert pasted not in json.dumps(header)


# Settled with the exchange (status.json since d580272): the heartbeat at STEADY, the last
# reconciliation 8 s before it (STEADY - 8 s), now 4 s after the heartbeat: 12 s ago.
SETTLED = {
    **STEADY_RUNNING,
    "orders_in_doubt": 0,
    "last_reconciled_ms": WRITTEN - 8_000,
    "last_reconciled_steady_ms": STEADY - 8_000,
    "last_reconcile_differences": 0,
}


@pytest.mark.parametrize(
    ("differences", "said"), [(0, "no difference"), (1, "1 difference"), (3, "3 differences")]
)
def test_the_orders_in_doubt_and_the_last_reconciliation_are_said_after_the_run(
    tmp_path: Path, differences: int, said: str
) -> None:
    write_status(tmp_path, {**SETTLED, "last_reconcile_differences": differences})

    got = report(tmp_path, journal_held=True, now=HostTime(NOW, STEADY + 4_000, BOOT))

    assert got.exit_status is StatusExit.RUNNING
    assert got.lines[1:] == [*DETAILS, f"orders in doubt 0; last reconciliation 12 s ago, {said}"]


def test_the_last_reconciliation_is_aged_on_the_steady_count_as_the_heartbeat(
    tmp_path: Path,
) -> None:
    """The wall clock set 10 min ahead since: on it the reconciliation looks 10 min 12 s old
    ("10 min"), on the steady count it is 12 s old."""
    write_status(tmp_path, {**SETTLED, "orders_in_doubt": 2})
    stepped = HostTime(wall_ms=NOW + 600_000, steady_ms=STEADY + 4_000, boot_id=BOOT)

    got = report(tmp_path, journal_held=True, now=stepped)

    assert got.lines[-1] == "orders in doubt 2; last reconciliation 12 s ago, no difference"


def test_no_reconciliation_yet_is_said_as_none_yet(tmp_path: Path) -> None:
    """Before the first comparison with the exchange the daemon writes nulls (and no steady
    field): said, not a traceback nor "0 s ago"."""
    nulls = {k: v for k, v in SETTLED.items() if k != "last_reconciled_steady_ms"}
    write_status(
        tmp_path,
        {
            **nulls,
            "orders_in_doubt": 1,
            "last_reconciled_ms": None,
            "last_reconcile_differences": None,
        },
    )

    got = report(tmp_path, journal_held=True, now=HostTime(NOW, STEADY + 4_000, BOOT))

    assert got.lines[-1] == "orders in doubt 1; last reconciliation none yet"


def test_a_status_file_from_before_the_settled_fields_prints_without_their_line(
    tmp_path: Path,
) -> None:
    """An older daemon's file (no orders_in_doubt, no last_reconciled_ms): nothing guessed."""
    write_status(tmp_path, STEADY_RUNNING)

    got = report(tmp_path, journal_held=True, now=HostTime(NOW, STEADY + 4_000, BOOT))

    assert got.exit_status is StatusExit.RUNNING
    assert got.lines == [
        "daemon: running, pid 4242, up 1 h 02 min; last heartbeat 4 s ago "
        "(2025-11-30 22:00:00 UTC)",
        *DETAILS,
    ]


def test_a_reconciliation_time_that_is_not_a_number_is_unknown(tmp_path: Path) -> None:
    write_status(tmp_path, {**SETTLED, "last_reconciled_ms": "soon"})

    got = report(tmp_path, journal_held=True, now=HostTime(NOW, STEADY + 4_000, BOOT))

    assert got.lines[-1] == "orders in doubt 0; last reconciliation unknown"


@pytest.mark.skipif(not Path("/proc/sys/kernel/random/boot_id").exists(), reason="Linux only")
def test_app_status_prints_the_stops_reconciliation(tmp_path: Path) -> None:
    """The command on this machine's clocks: a daemon stopped 5 min ago (SIGTERM), whose stop
    reconciled 5 min 20 s ago and found 2 differences; its whole output, line by line."""
    from runtime.status_file import host_time

    journal = tmp_path / "journal"
    (tmp_path / "config.toml").write_text(f'journal_dir = "{journal}"\n')
    now = host_time()
    assert now.steady_ms is not None
    stopped_wall = 1_764_540_000_000  # 2025-11-30 22:00:00 UTC as the daemon's wall clock read it
    write_status(
        journal,
        {
            **RUNNING,
            "state": "stopped",
            "stop_reason": "SIGTERM",
            "exit_status": 0,
            "boot_id": now.boot_id,
            "updated_ms": stopped_wall,
            "updated_steady_ms": now.steady_ms - 300_000,
            "orders_in_doubt": 0,
            "last_reconciled_ms": stopped_wall - 20_000,
            "last_reconciled_steady_ms": now.steady_ms - 320_000,
            "last_reconcile_differences": 2,
        },
    )

    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--config", "config.toml", "--status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines() == [
        "daemon: stopped 5 min ago (2025-11-30 22:00:00 UTC): SIGTERM, exit status 0",
        *DETAILS[:2],
        "position BTCUSDT 0.002; open orders 1",  # no stream lag after a clean stop
        DETAILS[3],
        "orders in doubt 0; last reconciliation 5 min ago, 2 differences",
    ]


# Trouble that does not clear (status.json since helper-94): the reconciliation interval the
# daemon runs with (60 s: 3 of them and the 60 s margin make 240 s), and since when orders
# have been in doubt without a break. Now is 4 s after the heartbeat (STEADY + 4 s).
CURRENT = {**SETTLED, "reconcile_interval_s": 60.0, "orders_in_doubt_since_ms": None}
AT_NOW = HostTime(NOW, STEADY + 4_000, BOOT)


def _in_doubt_since(before_heartbeat_ms: int, count: int = 2) -> dict[str, object]:
    return {
        **CURRENT,
        "orders_in_doubt": count,
        "orders_in_doubt_since_ms": WRITTEN - before_heartbeat_ms,
        "orders_in_doubt_since_steady_ms": STEADY - before_heartbeat_ms,
    }


def test_orders_in_doubt_for_over_a_minute_are_a_warning_and_unhealthy(tmp_path: Path) -> None:
    """In doubt since 86 s before the heartbeat, 4 s ago: 90 s (> 60 s). A lost answer the
    reconciliation has not settled: --status said `running`, exit 0."""
    write_status(tmp_path, _in_doubt_since(86_000))

    got = report(tmp_path, journal_held=True, now=AT_NOW)

    assert got.exit_status is StatusExit.UNHEALTHY
    assert int(got.exit_status) == 1
    assert got.lines[0].startswith("daemon: running, pid 4242")
    assert got.lines[1] == (
        "WARNING: 2 order(s) in doubt for 90 s (since 2025-11-30 21:58:34 UTC): the exchange "
        "has not said what became of them; see the log"
    )
    assert got.lines[2:] == [
        *DETAILS,
        "orders in doubt 2; last reconciliation 12 s ago, no difference",
    ]


@pytest.mark.parametrize(("before_heartbeat_ms", "exit_status"), [(56_000, 0), (57_000, 1)])
def test_a_doubt_is_trouble_only_after_60_s(
    tmp_path: Path, before_heartbeat_ms: int, exit_status: int
) -> None:
    """56 s before the heartbeat + 4 s since = 60 s: a passing doubt still; 61 s: trouble."""
    write_status(tmp_path, _in_doubt_since(before_heartbeat_ms))

    got = report(tmp_path, journal_held=True, now=AT_NOW)

    assert got.exit_status == exit_status
    assert got.lines[1].startswith("WARNING") is bool(exit_status)


@pytest.mark.parametrize(("before_heartbeat_ms", "exit_status"), [(236_000, 0), (237_000, 1)])
def test_a_reconciliation_older_than_3_intervals_and_a_margin_is_unhealthy(
    tmp_path: Path, before_heartbeat_ms: int, exit_status: int
) -> None:
    """Every 60 s expected: 236 s before the heartbeat + 4 s = 240 s is within 3 x 60 s + 60 s;
    241 s is not (the periodic reconciliation fails)."""
    reconciled = {
        "last_reconciled_ms": WRITTEN - before_heartbeat_ms,
        "last_reconciled_steady_ms": STEADY - before_heartbeat_ms,
    }
    write_status(tmp_path, {**CURRENT, **reconciled})

    got = report(tmp_path, journal_held=True, now=AT_NOW)

    assert got.exit_status == exit_status
    assert got.lines[-1] == "orders in doubt 0; last reconciliation 4 min ago, no difference"
    if exit_status:
        assert got.lines[1] == (
            "WARNING: no reconciliation with the exchange for 4 min (every 60 s expected): the "
            "books are unchecked; see the log"
        )
    else:
        assert got.lines[1:] == [*DETAILS, got.lines[-1]]


def test_both_troubles_are_one_warning_line(tmp_path: Path) -> None:
    stale = {"last_reconciled_ms": WRITTEN - 600_000, "last_reconciled_steady_ms": STEADY - 600_000}
    write_status(tmp_path, {**_in_doubt_since(296_000, count=1), **stale})

    got = report(tmp_path, journal_held=True, now=AT_NOW)

    assert got.exit_status is StatusExit.UNHEALTHY
    assert [line for line in got.lines if "WARNING" in line] == [
        "WARNING: 1 order(s) in doubt for 5 min (since 2025-11-30 21:55:04 UTC): the exchange "
        "has not said what became of them; see the log; no reconciliation with the exchange "
        "for 10 min (every 60 s expected): the books are unchecked; see the log"
    ]


def test_trouble_outranks_not_trading(tmp_path: Path) -> None:
    """HALTED (exit 4) with an order in doubt for 90 s: the doubt needs a person first."""
    write_status(tmp_path, {**_in_doubt_since(86_000), "trading_state": "HALTED"})

    got = report(tmp_path, journal_held=True, now=AT_NOW)

    assert got.exit_status is StatusExit.UNHEALTHY
    assert got.lines[0].endswith("; NOT TRADING: HALTED")


def test_a_short_doubt_and_a_fresh_reconciliation_are_running(tmp_path: Path) -> None:
    """The daemon's new fields, nothing wrong: the output of before, line for line."""
    write_status(tmp_path, _in_doubt_since(10_000))

    got = report(tmp_path, journal_held=True, now=AT_NOW)

    assert got.exit_status is StatusExit.RUNNING
    assert got.lines[1:] == [
        *DETAILS,
        "orders in doubt 2; last reconciliation 12 s ago, no difference",
    ]


def test_an_older_daemons_file_without_since_or_interval_prints_and_exits_as_before(
    tmp_path: Path,
) -> None:
    """No `orders_in_doubt_since_ms`, no `reconcile_interval_s`: 2 in doubt and a 10 min old
    reconciliation are said as before, not guessed into trouble."""
    old = {
        **SETTLED,
        "orders_in_doubt": 2,
        "last_reconciled_ms": WRITTEN - 600_000,
        "last_reconciled_steady_ms": STEADY - 600_000,
    }
    write_status(tmp_path, old)

    got = report(tmp_path, journal_held=True, now=AT_NOW)

    assert got.exit_status is StatusExit.RUNNING
    assert got.lines == [
        "daemon: running, pid 4242, up 1 h 02 min; last heartbeat 4 s ago "
        "(2025-11-30 22:00:00 UTC)",
        *DETAILS,
        "orders in doubt 2; last reconciliation 10 min ago, no difference",
    ]


def test_a_stopped_daemons_last_doubt_is_not_trouble(tmp_path: Path) -> None:
    """Stopped cleanly 3 h ago with an order then in doubt: exit 3 as before (the next start
    reconciles it), no warning."""
    stopped = {**_in_doubt_since(86_000), "state": "stopped", "stop_reason": "SIGTERM"}
    write_status(tmp_path, {**stopped, "exit_status": 0})

    got = report(tmp_path, journal_held=False, now=HostTime(NOW + 3 * 3_600_000))

    assert got.exit_status is StatusExit.NOT_RUNNING
    assert not [line for line in got.lines if "WARNING" in line]


def test_the_user_stream_down_is_said_apart_from_market_data(tmp_path: Path) -> None:
    """The listenKey websocket down: fills go unheard until it reconnects. Said in a line of
    its own, not as "market data"; a warning, not a state (it reconnects by itself)."""
    down = {"market": "disconnected", "user stream": "disconnected"}
    write_status(tmp_path, {**RUNNING, "streams_down": down})

    got = report(tmp_path, journal_held=True, now=HostTime(NOW))

    assert got.exit_status is StatusExit.RUNNING
    assert got.lines[1:] == [
        *DETAILS,
        "market data DISCONNECTED (market disconnected) at the last update",
        "user stream DISCONNECTED (disconnected): fills and order updates are not heard until "
        "it reconnects (a reconciliation over REST follows)",
    ]


def test_a_user_stream_that_failed_for_good_is_not_said_to_reconnect(tmp_path: Path) -> None:
    """A user stream given up (the key revoked: -2015 on the listenKey) is not retried: it
    was said to be heard again "until it reconnects", which only a restart does."""
    write_status(tmp_path, {**RUNNING, "streams_down": {"user stream": "failed"}})

    got = report(tmp_path, journal_held=True, now=HostTime(NOW))

    assert got.lines[-1] == (
        "user stream FAILED: given up (see the log for why); fills and order updates are not "
        "heard until the daemon is restarted"
    )


@pytest.mark.skipif(not Path("/proc/sys/kernel/random/boot_id").exists(), reason="Linux only")
def test_app_status_exits_1_for_an_order_in_doubt_for_5_min(tmp_path: Path) -> None:
    """The command on this machine's clocks: a fresh heartbeat (2 s ago), an order in doubt
    since 5 min ago on the steady count."""
    from runtime.status_file import host_time

    journal = tmp_path / "journal"
    (tmp_path / "config.toml").write_text(f'journal_dir = "{journal}"\n')
    now = host_time()
    assert now.steady_ms is not None
    write_status(
        journal,
        {
            **CURRENT,
            "boot_id": now.boot_id,
            "updated_ms": now.wall_ms - 2_000,
            "updated_steady_ms": now.steady_ms - 2_000,
            "last_reconciled_ms": now.wall_ms - 20_000,
            "last_reconciled_steady_ms": now.steady_ms - 20_000,
            "orders_in_doubt": 1,
            "orders_in_doubt_since_ms": now.wall_ms - 300_000,
            "orders_in_doubt_since_steady_ms": now.steady_ms - 300_000,
        },
    )

    with SqliteJournal(journal, writer_thread=False):  # the daemon holds its journal
        done = subprocess.run(
            [sys.executable, str(ROOT / "app.py"), "--config", "config.toml", "--status"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("daemon: running")
    assert lines[1].startswith("WARNING: 1 order(s) in doubt for 5 min (since "), lines


def test_a_clean_stops_streams_are_not_said_to_be_down(tmp_path: Path) -> None:
    """Stopped: its streams closed with it; "user stream DISCONNECTED" would read as news."""
    down = {"market": "disconnected", "user stream": "disconnected"}
    stopped = {**RUNNING, "state": "stopped", "stop_reason": "SIGTERM", "exit_status": 0}
    write_status(tmp_path, {**stopped, "streams_down": down})

    got = report(tmp_path, journal_held=False, now=HostTime(NOW))

    assert got.exit_status is StatusExit.NOT_RUNNING
    assert not [line for line in got.lines if "DISCONNECTED" in line]


def test_a_status_file_without_a_field_names_the_field(tmp_path: Path) -> None:
    """The KeyError's bare repr was the whole reason: "... is unreadable: 'state'"."""
    status_path(tmp_path).write_text("{}")

    broken = report(tmp_path, journal_held=False, now=HostTime(NOW))

    assert broken.exit_status is StatusExit.UNHEALTHY
    assert broken.lines == [
        f'daemon: {tmp_path / "status.json"} is unreadable: it has no "state" field'
    ]


def test_the_stream_lag_is_said_without_a_minus_sign() -> None:
    """A trade's exchange time a few ms ahead of our estimate of the exchange's clock (its
    error) gave `stream lag -33 ms` (seen by `--status` on an attached exchange)."""
    from runtime.status_file import stream_lag_text

    assert stream_lag_text(None) == "-"  # no trade yet
    assert stream_lag_text(0) == "0 ms"
    assert stream_lag_text(35) == "35 ms"
    assert stream_lag_text(-33) == "~0 ms"


def test_a_model_strategy_s_status_names_the_model_trading(tmp_path: Path) -> None:
    """The model in use (the heartbeat writes it: after a hot swap, the new one): its file,
    registry version and the start of its sha256, under the venue line."""
    model = {
        "path": "models/registry/20261201-0900/model.json",
        "sha256": "1a2b3c4d5e6f7a8b9c0d" + "0" * 44,
        "version": "20261201-0900",
    }
    status = {**RUNNING, "strategy": "logistic_regression", "model": model}
    write_status(tmp_path, status)

    got = report(tmp_path, journal_held=True, now=HostTime(NOW))

    assert got.lines[1].endswith("with logistic_regression; trading state ACTIVE")
    assert got.lines[2] == (
        "model: ./models/registry/20261201-0900/model.json, registry version 20261201-0900 "
        "(sha256 1a2b3c4d5e6f...)"
    )
    assert got.lines[3:] == DETAILS[1:]
    # a model file outside a registry: no version; a strategy without a model: no line
    write_status(tmp_path, {**status, "model": {**model, "version": None}})
    lines = report(tmp_path, journal_held=True, now=HostTime(NOW)).lines
    assert lines[2].endswith("model.json (sha256 1a2b3c4d5e6f...)")
    write_status(tmp_path, {**RUNNING, "model": None})
    assert report(tmp_path, journal_held=True, now=HostTime(NOW)).lines[1:] == DETAILS


def test_a_start_after_a_killed_run_says_so(tmp_path: Path) -> None:
    """A restart after `kill -9` read as after any stop: only `--status` said the last run had
    not stopped cleanly. The start reads it from status.json before writing its own."""
    at = "2025-11-30 22:00:00 UTC"  # WRITTEN
    write_status(tmp_path, RUNNING)
    assert unclean_stop_note(tmp_path) == (
        f"the last run (pid 4242) did not stop cleanly: killed or crashed while running, its "
        f"last status at {at}; the journal and the start-up reconciliation with the exchange "
        "take up what it left"
    )
    write_status(tmp_path, {**RUNNING, "state": "starting", "exchange_embedded": True})
    assert unclean_stop_note(tmp_path) == (
        f"the last run (pid 4242) did not stop cleanly: killed or crashed while starting, its "
        f"last status at {at}; its embedded local exchange ended with it, the position and "
        "orders there too"
    )


def test_a_start_after_a_clean_stop_or_none_says_nothing(tmp_path: Path) -> None:
    assert unclean_stop_note(tmp_path) is None  # never run
    write_status(tmp_path, {**RUNNING, "state": "stopped"})
    assert unclean_stop_note(tmp_path) is None
    status_path(tmp_path).write_text("{not json")
    assert unclean_stop_note(tmp_path) is None  # --status says that one
