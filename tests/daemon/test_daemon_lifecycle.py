"""Stopping the daemon, and the one-line errors a user sees for bad keys or a dead venue."""

import asyncio
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.harness import (
    ROOT,
    Exchange,
    assert_stopped_clean,
    daemon_env,
    exchange_account,
    exchange_process,
    journal_rows,
    start_daemon,
    wait_for,
    write_config,
)
from tests.daemon.shared_runs import RESULT, run_once
from tests.daemon.test_daemon_books import FAST_TRADING
from trading_engine.market_recorder import read_session, session_files

OPEN_STOP = "SELECT COUNT(*) FROM orders WHERE type = 'STOP_MARKET' AND status = 'NEW'"


def _run_until_a_stop_rests(workdir, *args: str) -> subprocess.Popen:
    daemon = start_daemon(workdir, *args)
    wait_for(lambda: journal_rows(workdir, OPEN_STOP)[0][0] >= 1, 60, "a resting stop-loss")
    return daemon


def _status(workdir) -> subprocess.CompletedProcess:
    """`python app.py --status` for the daemon of `workdir`'s config."""
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--config", "config.toml", "--status"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _sigterm_once_a_stop_rests(workdir) -> dict[str, Any]:
    """A FAST_TRADING session stopped by SIGTERM once a stop-loss rests, `--status` asked while
    it ran and after; what the tests below read of it (its files stay in `workdir`)."""
    with exchange_process(speed=20) as ex:
        write_config(workdir, ex, **FAST_TRADING)
        daemon = _run_until_a_stop_rests(workdir)
        running = _status(workdir)
        asked = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=30)
        took_s = time.monotonic() - asked
        venue = asyncio.run(exchange_account(ex))
    stopped = _status(workdir)
    return {
        "pid": daemon.pid,
        "returncode": daemon.returncode,
        "out": out,
        "err": err,
        "took_s": took_s,
        "venue": venue,
        "running": [running.returncode, running.stdout, running.stderr],
        "stopped": [stopped.returncode, stopped.stdout, stopped.stderr],
    }


@pytest.fixture
def sigterm_session(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """One such session for this run (two tests read it): shared_runs."""
    return run_once(tmp_path_factory, "sigterm-once-a-stop-rests", _sigterm_once_a_stop_rests)


@pytest.mark.shared_session("sigterm_session")
def test_sigterm_cancels_open_orders_prints_a_summary_and_exits_0_within_5_s(sigterm_session):
    workdir, run = sigterm_session
    out, err, venue = run["out"], run["err"], run["venue"]
    running_rc, running_out, running_err = run["running"]
    stopped_rc, stopped_out, stopped_err = run["stopped"]

    assert run["returncode"] == 0, err[-2000:]
    assert run["took_s"] <= 5.0, f"stop took {run['took_s']:.2f} s"
    assert "closing summary:" in out and "final position:" in out
    assert_stopped_clean(venue, out)  # a position left open keeps its stop-loss
    assert "Traceback" not in err
    # --status while it ran (exit 0), and after (exit 3, with the reason it stopped)
    assert running_rc == 0, running_out + running_err
    assert running_out.startswith(f"daemon: running, pid {run['pid']}, up ")
    assert "trading BTCUSDT with sma_crossover; trading state ACTIVE" in running_out
    assert stopped_rc == 3, stopped_out + stopped_err
    assert stopped_out.startswith("daemon: stopped ")
    assert ": SIGTERM, exit status 0" in stopped_out.splitlines()[0]
    # this run's counts and the journal's, each labeled (they differ after a restart)
    summary = json.loads((workdir / "journal" / "summary.json").read_text())
    assert stopped_out.splitlines()[-2].endswith(
        f"; whole journal: orders {summary['orders_submitted']}, fills {summary['fills']}"
    ), stopped_out
    # and, last, that it stopped settled: the stop's reconciliation seconds ago, no difference
    assert re.fullmatch(
        r"orders in doubt 0; last reconciliation \d+ s ago, no difference",
        stopped_out.splitlines()[-1],
    ), stopped_out
    # the run's market-data items and CPU, read together (bench_daemon_memory's cost per item)
    status = json.loads((workdir / "journal" / "status.json").read_text())
    assert status["items"] > 0 and status["cpu_s"] > 0, status
    # the sink rehearsed the order path (every 50 items or 200 ms), with no trace elsewhere
    assert status["order_rehearsals"] > 0, status
    # settled at the stop: nothing in doubt, and the stop's reconciliation found no difference
    assert status["orders_in_doubt"] == 0, status
    assert status["last_reconciled_ms"] >= status["started_ms"], status
    assert status["last_reconcile_differences"] == 0, status


def test_keep_orders_leaves_them_on_the_exchange(tmp_path):
    with exchange_process(speed=20) as ex:
        write_config(tmp_path, ex, **FAST_TRADING)
        daemon = _run_until_a_stop_rests(tmp_path, "--keep-orders")
        daemon.send_signal(signal.SIGINT)
        out, err = daemon.communicate(timeout=30)
        venue = asyncio.run(exchange_account(ex))

    assert daemon.returncode == 0, err[-2000:]
    assert "open orders were left on the exchange (--keep-orders)" in out
    assert venue["algo_open"]  # the exchange-side stop-loss still protects the position


def _run_app(workdir, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--config", str(workdir / "config.toml")],
        cwd=workdir,
        env=env or daemon_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_keys_exit_2_with_one_clear_line(tmp_path):
    """Exit 2, not 1: starting again with the same keys fails the same way, so a supervisor
    must not restart it (deploy/binance-futures-daemon.service: RestartPreventExitStatus=2)."""
    with exchange_process(speed=1, admin=False) as ex:
        write_config(tmp_path, ex)
        env = daemon_env()
        env["BINANCE_API_KEY"] = "x" * 64
        result = _run_app(tmp_path, env)

    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the exchange refused us:"), result.stderr
    assert "Traceback" not in result.stderr and "x" * 64 not in result.stderr
    status = json.loads((tmp_path / "journal" / "status.json").read_text())  # --status says so
    assert (status["state"], status["exit_status"]) == ("stopped", 2)
    assert status["stop_reason"] == "start failed: " + last.removeprefix("error: ")


def test_unreachable_venue_exits_1_with_one_clear_line(tmp_path):
    (tmp_path / "config.toml").write_text(
        'mode = "local"\n[endpoints]\nrest_url = "http://127.0.0.1:9"\nws_url = "ws://127.0.0.1:9"\n'
        f'[logging]\ndir = "{tmp_path / "logs"}"\n'
    )
    result = _run_app(tmp_path)

    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot reach the exchange at http://127.0.0.1:9"), last
    assert "Traceback" not in result.stderr


def test_a_ws_url_where_nothing_listens_fails_the_start_in_seconds_and_holds_no_halt(tmp_path):
    """REST answers, the websocket URL is dead: the start waited 30 s for the user stream; it
    now gives up after three refused attempts, in one line naming ws_url. And that failed start
    leaves no REDUCING behind: started again with the right ws_url, the daemon trades."""
    with exchange_process(speed=20, admin=False) as ex:
        write_config(tmp_path, Exchange(ex.proc, ex.rest_url, "ws://127.0.0.1:9"), **FAST_TRADING)
        started = time.monotonic()
        refused = _run_app(tmp_path)
        took_s = time.monotonic() - started
        write_config(tmp_path, ex, **FAST_TRADING)
        fixed = start_daemon(tmp_path, "--duration", "3")
        out, err = fixed.communicate(timeout=120)

    assert refused.returncode == 1, refused.stderr[-2000:]
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: the user data stream at ws://127.0.0.1:9 cannot connect: connection refused "
        "(nothing listens at that host and port) (3 attempts); check [endpoints] ws_url"
    )
    assert took_s < 20, took_s  # Python, REST, the warm-up and ~1 s of attempts, not 30 s more
    assert "Traceback" not in refused.stderr
    assert fixed.returncode == 0, err[-2000:]
    assert "trading state restored" not in out + err
    assert "application running: trading BTCUSDT" in out


def test_a_ws_url_with_a_wrong_path_exits_2_with_one_clear_line_and_holds_no_halt(tmp_path):
    """REST answers and the websocket endpoint answers HTTP 404 (a wrong path in
    `[endpoints] ws_url`): every start fails the same way until the URL is changed, so exit
    2 (a supervisor does not restart it: RestartPreventExitStatus=2); it was 1 and retried
    every 30 s without end. Nothing listening at the port stays 1 (above): it may be the
    endpoint restarting."""
    with exchange_process(speed=20, admin=False) as ex:
        write_config(tmp_path, Exchange(ex.proc, ex.rest_url, f"{ex.ws_url}/nope"))
        refused = _run_app(tmp_path)

    assert refused.returncode == 2, refused.stderr[-2000:]
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: the user data stream at {ex.ws_url}/nope cannot connect: answered HTTP 404 "
        "instead of a websocket (a wrong path or host?) (3 attempts); check [endpoints] ws_url"
    )
    assert "Traceback" not in refused.stderr
    states = "SELECT COUNT(*) FROM events WHERE kind = 'TradingStateChanged'"
    assert journal_rows(tmp_path, states) == [(0,)]  # no REDUCING left behind


BOOM_STRATEGY = """
from trading_engine.main_trading_strategy import NO_PROPOSALS, StrategyBase


class Boom(StrategyBase):
    name = "boom"
    warmup_bars = 20

    def warm(self, bars):
        for bar in bars:
            self.on_bar(bar, None)

    def on_bar(self, bar, view):
        return NO_PROPOSALS if bar.high > bar.low * 2 else bar.extra["high"]
"""


def test_a_strategy_whose_warm_up_raises_exits_2_with_one_line_naming_it(tmp_path):
    """A strategy file (README: Strategies) whose `warm` feeds its bars to `on_bar`, which
    raises: the daemon does not start with it, in one line naming the strategy, the exception
    and the line it was raised at, no traceback; exit 2, not 1: a restart runs the same code on
    the same closed bars (a supervisor restarted it every 30 s without end)."""
    (tmp_path / "boom.py").write_text(BOOM_STRATEGY)
    with exchange_process(speed=20, admin=False) as ex:
        write_config(tmp_path, ex, strategy={"name": "boom.py:Boom"})
        result = _run_app(tmp_path)

    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "error: strategy boom: warm(20 bars) raised AttributeError at boom.py:14: 'Bar' object "
        "has no attribute 'extra'; the daemon does not start with it"
    )
    assert "Traceback" not in result.stderr
    status = json.loads((tmp_path / "journal" / "status.json").read_text())
    assert (status["state"], status["exit_status"]) == ("stopped", 2)


PROXY_PASSWORD = "Pr0xyPassw0rd"


def _with_userinfo(url: str) -> str:
    """`url` through a gateway that wants a user and a password (`scheme://user:pw@host`)."""
    scheme, rest = url.split("://")
    return f"{scheme}://trader:{PROXY_PASSWORD}@{rest}"


def test_a_password_in_the_endpoint_urls_is_in_nothing_the_daemon_shows_or_writes(tmp_path):
    """`[endpoints]` URLs with `user:password@`: the password was in status.json, --status and
    the journal's binding. It is shown as <redacted>; the journal is bound to the URL without
    it, and one an earlier version bound with the password in it is the same endpoint: this
    run continues it (its binding rewritten without the password)."""
    from book_keeper.journal import SqliteJournal
    from book_keeper.journal_files import journal_venue

    with exchange_process(speed=20, admin=False) as ex:
        with SqliteJournal(tmp_path / "journal", writer_thread=False) as earlier:
            earlier.bind_venue(_with_userinfo(ex.rest_url))
        proxied = Exchange(ex.proc, _with_userinfo(ex.rest_url), _with_userinfo(ex.ws_url))
        write_config(tmp_path, proxied, **FAST_TRADING)
        daemon = start_daemon(tmp_path, "--duration", "4")
        out, err = daemon.communicate(timeout=120)
        status = _status(tmp_path)

    assert daemon.returncode == 0, err[-2000:]
    assert journal_venue(tmp_path / "journal") == ex.rest_url
    redacted = ex.rest_url.replace("http://", "http://<redacted>@")
    assert json.loads((tmp_path / "journal" / "status.json").read_text())["venue"] == redacted
    assert f"venue: {redacted};" in status.stdout
    assert PROXY_PASSWORD not in out + err + status.stdout + status.stderr
    written = [p for d in ("journal", "logs") for p in (tmp_path / d).rglob("*") if p.is_file()]
    assert any(p.name == "journal.sqlite3" for p in written)
    for path in written:
        data = path.read_bytes()
        data = gzip.decompress(data) if path.suffix == ".gz" else data
        assert PROXY_PASSWORD.encode() not in data, path


def test_a_journal_in_use_is_said_as_a_journal_problem_not_the_exchanges(tmp_path):
    """A journal_dir another daemon holds: one line naming journal_dir, exit 1 (it once read
    "the exchange refused us")."""
    from book_keeper.journal import SqliteJournal

    with exchange_process(speed=1, admin=False) as ex:
        write_config(tmp_path, ex)
        with SqliteJournal(tmp_path / "journal"):  # the other daemon
            result = _run_app(tmp_path)

    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"error: the journal in {tmp_path / 'journal'} (journal_dir) is in use by another "
        "process (a daemon running? `python app.py --status`)"
    ), last
    assert "Traceback" not in result.stderr


def test_a_local_run_beside_a_running_daemon_refuses_before_starting_an_exchange(tmp_path):
    """A second `python app.py` in the same folder started a whole local exchange (seconds,
    a child process, lines in the log) only to refuse the held journal afterwards."""
    from book_keeper.journal import SqliteJournal

    (tmp_path / "config.toml").write_text('mode = "local"\n')
    with SqliteJournal(tmp_path / "journal"):  # the running daemon's
        result = _run_app(tmp_path)

    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "error: the journal in ./journal (journal_dir) is in use by another process (a daemon "
        "running? `python app.py --status`)"
    ), last  # the default journal_dir, relative: not "journal journal/journal.sqlite3"
    assert "starting the local exchange" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_the_embedded_exchange_does_not_outlive_a_killed_daemon(tmp_path):
    daemon = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")],
        cwd=tmp_path,
        env=daemon_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        log = tmp_path / "logs" / "trading_engine.log"
        wait_for(lambda: "local exchange started (pid" in log.read_text(), 60, "the child")
        child = int(log.read_text().split("local exchange started (pid ")[1].split(")")[0])
        os.kill(child, 0)  # it runs
        status = tmp_path / "journal" / "status.json"
        wait_for(status.exists, 60, "the daemon's first status")
    finally:
        daemon.kill()
        daemon.wait(timeout=10)
    died = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert died.returncode == 1, died.stdout + died.stderr
    assert died.stdout.startswith("daemon: not running: it did not stop cleanly (killed or ")

    def gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{child}/stat") as fh:  # a zombie waiting for init counts as gone
            return fh.read().split()[2] == "Z"

    wait_for(gone, 10, "the orphaned exchange to stop")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_during_start_up_exits_0_within_5_s_even_when_the_venue_never_answers(tmp_path, sig):
    """Ctrl+C / SIGTERM while the daemon still waits on a venue that accepts connections but
    never answers (a firewall, a hung proxy): it once waited ~40 s for the request timeouts
    before it even looked at the signal. SIGHUP (the ssh session's terminal went away) stops
    it the same way; it once killed it on the spot, with no summary and no status."""
    import socket

    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    port = silent.getsockname()[1]
    (tmp_path / "config.toml").write_text(
        f'mode = "local"\njournal_dir = "{tmp_path / "journal"}"\n[endpoints]\n'
        f'rest_url = "http://127.0.0.1:{port}"\nws_url = "ws://127.0.0.1:{port}"\n'
        f'[logging]\ndir = "{tmp_path / "logs"}"\n'
    )
    try:
        daemon = start_daemon(tmp_path)
        status = tmp_path / "journal" / "status.json"
        # "starting" is written once the signal handlers are in place (the imports before
        # them take seconds on a loaded machine: a SIGTERM then is the default one).
        wait_for(lambda: json.loads(status.read_text())["state"] == "starting", 60, "the start")
        time.sleep(1.0)  # now inside the first request to the venue
        # --status says what the start waits on (it said only "not trading yet").
        shown = subprocess.run(
            [sys.executable, str(ROOT / "app.py"), "--status", "--config", "config.toml"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        asked = time.monotonic()
        daemon.send_signal(sig)
        try:
            out, err = daemon.communicate(timeout=30)
        finally:
            daemon.kill()
        took_s = time.monotonic() - asked
    finally:
        silent.close()

    assert took_s <= 5.0, f"stop took {took_s:.2f} s"
    assert daemon.returncode == 0, err[-2000:]
    assert f"stopped during start-up ({sig.name})" in out, out
    assert shown.returncode == 4, shown.stdout + shown.stderr  # running, not trading
    waits_on = f"connecting to http://127.0.0.1:{port} (symbols, account modes, leverage) (for "
    assert f"not trading yet: {waits_on}" in shown.stdout, shown.stdout
    assert "Traceback" not in err and "error:" not in err, err[-2000:]


@pytest.mark.shared_session("default_run")
def test_a_second_run_on_the_embedded_exchange_starts_a_new_journal_and_sees_trades(
    tmp_path, default_run
):
    """Each `python app.py` in local mode starts a new exchange (a new demo account, trade ids
    from the start again). The second run once restored the first run's books, risk limits and
    stream checkpoint against it: it adopted "differences", and dropped every trade up to the
    first run's last id as already seen (no trade for as long as the first run had lasted).
    The first run: the `app.py --duration 60` of test_daemon_books.py, in a copy of its folder."""
    first_dir, run = default_run
    assert run["returncode"] == 0, run["stderr"][-2000:]
    shutil.copytree(first_dir, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns(RESULT))
    first_id = json.loads((tmp_path / "journal/stream/BTCUSDT.aggtrade.json").read_text())
    # ... and keeps one earlier run (`[retention]`): an older one already there goes.
    (tmp_path / "slow.toml").write_text(
        "[execution]\nheartbeat_s = 3\n[retention]\nearlier_runs = 1\n"
    )
    (tmp_path / "journal/earlier/20250101-000000Z").mkdir(parents=True)

    again = subprocess.run(
        # 20 s at speed 1: trades within seconds, even on a loaded machine (12 s once saw
        # none in CI); a restored checkpoint would drop the first run's minute of them
        [sys.executable, str(ROOT / "app.py"), "--duration", "20", "--config", "slow.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )

    assert again.returncode == 0, again.stderr[-2000:]
    moved = [line for line in again.stdout.splitlines() if "the last run's journal" in line]
    assert len(moved) == 1, again.stdout
    earlier = list((tmp_path / "journal" / "earlier").iterdir())
    assert len(earlier) == 1 and (earlier[0] / "journal.sqlite3").is_file()
    assert json.loads((earlier[0] / "stream/BTCUSDT.aggtrade.json").read_text()) == first_id
    assert "adopted the exchange's" not in again.stderr, again.stderr
    assert "reconciliation with the exchange: 0 event(s) recovered, no difference" in again.stderr
    heartbeats = [line for line in again.stdout.splitlines() if "application running |" in line]
    assert any("stream lag -" not in line for line in heartbeats), heartbeats  # trades arrive


def test_the_recorded_sessions_are_kept_within_market_sessions_mb(tmp_path):
    """`[retention] market_sessions_mb = 1`: older sessions of 600 + 300 + 300 kB (1.2 MB)
    are 0.2 MB over once this session starts; the oldest goes, the other two fit beside the
    few kB a 4 s session records."""
    market = tmp_path / "journal" / "market"
    market.mkdir(parents=True)
    for started, size in ((100, 600_000), (200, 300_000), (300, 300_000)):
        (market / f"session-{started}.jsonl.gz").write_bytes(b"x" * size)
    with exchange_process(speed=20) as ex:
        write_config(tmp_path, ex, retention={"market_sessions_mb": 1})
        daemon = start_daemon(tmp_path, "--duration", "4")
        out, err = daemon.communicate(timeout=90)

    assert daemon.returncode == 0, err[-2000:]
    files = session_files(tmp_path / "journal")  # by their start
    assert [p.name for p in files[:2]] == ["session-200.jsonl.gz", "session-300.jsonl.gz"]
    assert len(files) == 3 and read_session(files[-1]).complete
    assert sum(p.stat().st_size for p in files) <= 1_000_000
    assert "deleted 1 older session(s)" in out + err


def _stopped_with_the_exchange_gone(workdir) -> dict[str, Any]:
    """A FAST_TRADING session whose exchange dies once a stop-loss rests; once status.json says
    market data is down, `--status`, then SIGTERM (the operator stopping it)."""
    with exchange_process(speed=20) as ex:
        write_config(workdir, ex, **FAST_TRADING)
        daemon = _run_until_a_stop_rests(workdir)
        try:
            ex.proc.kill()
            ex.proc.wait(timeout=10)
            status = workdir / "journal" / "status.json"
            # market data's links, not the user stream's alone (status.json says each promptly)
            wait_for(
                lambda: set(json.loads(status.read_text()).get("streams_down")) - {"user stream"},
                60,
                "a status saying so",
            )
            # status.json says so within a second, the heartbeat (every 2 s) after it
            log_file = workdir / "logs" / "trading_engine.log"
            wait_for(
                lambda: "| market data DISCONNECTED (" in log_file.read_text(),
                30,
                "a heartbeat saying so",
            )
            running = _status(workdir)
        finally:
            asked = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            out, err = daemon.communicate(timeout=30)
            took_s = time.monotonic() - asked
    return {
        "returncode": daemon.returncode,
        "out": out,
        "err": err,
        "took_s": took_s,
        "running": [running.returncode, running.stdout, running.stderr],
    }


@pytest.fixture
def exchange_gone_session(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """One such session for this run (two tests read it): shared_runs."""
    return run_once(tmp_path_factory, "exchange-gone", _stopped_with_the_exchange_gone)


@pytest.mark.shared_session("exchange_gone_session")
def test_a_stop_with_the_exchange_gone_does_not_claim_the_books_match_it(exchange_gone_session):
    """The exchange dies (or the network does) and the operator stops the daemon: the cancels
    and the last reconciliation fail. The closing summary once still said "books vs exchange
    at exit: identical", a check that never happened."""
    workdir, run = exchange_gone_session
    out, err = run["out"], run["err"]

    assert run["returncode"] == 0, err[-2000:]
    assert run["took_s"] <= 5.0, f"stop took {run['took_s']:.2f} s"
    assert "books vs exchange at exit: identical" not in out, out
    assert (
        "  books vs exchange at exit: not checked: the exchange could not be reached "
        "(orders may still be working there; see the log)"
    ) in out.splitlines(), out
    summary = json.loads((workdir / "journal" / "summary.json").read_text())
    assert summary["checked_at_exit"] is False


@pytest.mark.shared_session("exchange_gone_session")
def test_the_heartbeat_and_status_say_when_market_data_is_disconnected(exchange_gone_session):
    """With the exchange gone, the heartbeat kept printing the last stream lag and state ACTIVE
    and `--status` said all was well: nothing told the operator no data was arriving."""
    _workdir, run = exchange_gone_session
    out, err = run["out"], run["err"]
    running_rc, running_out, running_err = run["running"]

    assert run["returncode"] == 0, err[-2000:]
    heartbeats = [line for line in out.splitlines() if line.startswith("application running |")]
    assert "market data DISCONNECTED (" in heartbeats[-1], heartbeats[-1]
    assert running_rc == 0, running_out + running_err
    assert "market data DISCONNECTED (" in running_out, running_out


@pytest.mark.shared_session("sigterm_session")
def test_the_closing_summary_and_an_unguarded_position_are_in_the_log_file(sigterm_session):
    """On a server stdout is often gone (nohup, a closed terminal); the log file had the
    heartbeats but not the closing summary, nor what guards the position left open."""
    workdir, run = sigterm_session
    out, err = run["out"], run["err"]

    assert run["returncode"] == 0, err[-2000:]
    log = (workdir / "logs" / "trading_engine.log").read_text()
    summary = out[out.index("closing summary:") :].splitlines()
    assert len(summary) > 5
    for line in summary:
        assert line.strip() in log, line
    assert "closing summary" not in err  # the console had it once, on stdout


def test_a_start_that_fails_deletes_no_recorded_session(tmp_path):
    """A start that fails after the session file is open (here the user data stream's
    `ws_url`, where nothing listens) deletes none of the older sessions: a supervisor retrying
    a failing start 10 times once deleted every real session (the count limit ran at the
    file's open). (`--reset-halt` with the kill-switch file still there made it fail so until
    app.py refused that before anything starts.)"""
    from book_keeper.journal import SqliteJournal
    from core.enums import TradingState
    from core.events import TradingStateChanged

    journal = SqliteJournal(tmp_path / "journal", writer_thread=False)
    t = int(time.time() * 1000) - 60_000
    journal.record(
        TradingStateChanged(
            event_time_ms=t,
            recv_time_ms=t,
            previous=TradingState.REDUCING,
            current=TradingState.HALTED,
            reason="kill switch: file KILL exists",
        )
    )
    journal.close()
    market = tmp_path / "journal" / "market"
    market.mkdir()
    older = [market / f"session-{100 * k}.jsonl.gz" for k in range(1, 13)]
    for path in older:
        path.write_bytes(b"x" * 100_000)
    with exchange_process(speed=20) as ex:
        config = write_config(
            tmp_path, ex, retention={"market_sessions": 10, "market_sessions_mb": 1}
        )
        config.write_text(config.read_text().replace(ex.ws_url, "ws://127.0.0.1:9"))
        daemon = start_daemon(tmp_path)
        _out, err = daemon.communicate(timeout=90)

    assert daemon.returncode == 1, err[-2000:]
    assert "error: the user data stream at ws://127.0.0.1:9 cannot connect" in err
    assert all(path.exists() for path in older)  # 2 beyond the count, 0.2 MB beyond the size
    assert session_files(tmp_path / "journal") == older  # the refused start's own: removed
