"""Parity audit of real daemon sessions against the local exchange (issue 9 item 5): the
daemon records what its ExecManager was fed; `backtest_trading_strategy.py --replay-journal`
replays it through the backtester against the in-process engine and the diff is empty."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from decimal import Decimal

import pytest

from model import registry
from tests.daemon.harness import (
    ROOT,
    exchange_process,
    journal_rows,
    start_daemon,
    wait_for,
    write_config,
)
from tests.daemon.test_daemon_books import FAST_TRADING
from tests.daemon.test_daemon_kill_switch import _states
from trading_engine.market_recorder import read_session, session_files

# sma_crossover 2/5 on 1 s bars trades within seconds, whatever app.py's default strategy is.
FAST_SMA = {**FAST_TRADING, "strategy": {**FAST_TRADING["strategy"], "name": "sma_crossover"}}


def _audit(journal_dir) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "backtest_trading_strategy.py"),
            "--replay-journal",
            str(journal_dir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


OPEN_STOP = "SELECT COUNT(*) FROM orders WHERE type = 'STOP_MARKET' AND status = 'NEW'"


def _verdict(stdout: str) -> str:
    """The audit's verdict line: the first one (notes on the replay may follow it)."""
    return stdout.strip().splitlines()[0]


@pytest.mark.slow  # CI: the session of a strategy file below (the same SMA, with fills)
def test_a_fast_local_session_replays_to_an_empty_diff(tmp_path):
    with exchange_process(speed=20) as ex:
        write_config(tmp_path, ex, **FAST_SMA)
        daemon = start_daemon(tmp_path, "--duration", "15")
        out, err = daemon.communicate(timeout=120)
    assert daemon.returncode == 0, err[-2000:]
    assert list((tmp_path / "journal" / "market").glob("session-*.jsonl.gz"))

    audit = _audit(tmp_path / "journal")

    assert audit.returncode == 0, audit.stdout + audit.stderr[-2000:]
    line = _verdict(audit.stdout)
    assert line.startswith("parity: identical (")
    decisions, fills = (int(w) for w in line[len("parity: identical (") :].split()[::2][:2])
    assert decisions >= 2 and fills >= 2, out  # the session traded
    assert audit.stderr == ""


def _traded(workdir, strategy: str, count: int) -> bool:
    """The journal holds `count` decisions of `strategy` and `count` fills."""
    decisions = journal_rows(workdir, "SELECT payload FROM events WHERE kind = 'DecisionMade'")
    ours = [p for (p,) in decisions if json.loads(p)["strategy"] == strategy]
    fills = journal_rows(workdir, "SELECT COUNT(*) FROM fills")[0][0]
    return len(ours) >= count and fills >= count


MY_SMA = """
from trading_engine.strategies.sma_crossover import SmaCrossover


class MySma(SmaCrossover):
    name = "my_sma"
"""


def test_a_session_of_a_strategy_file_in_the_daemons_directory_audits_from_elsewhere(tmp_path):
    """`name = "my_sma.py:MySma"`: the daemon (working directory tmp_path) loads the file with
    no PYTHONPATH, and the audit, run from the project directory, loads it from there too. The
    default suite's fresh session audited end to end (decisions and fills, nothing on stderr);
    the same with the SMA named: test_a_fast_local_session_replays_to_an_empty_diff (slow)."""
    (tmp_path / "my_sma.py").write_text(MY_SMA)
    sections = {
        "execution": FAST_SMA["execution"],
        "strategy": {"name": "my_sma.py:MySma", "bar_interval": "1s"},
        "strategy.params": {"fast": 2, "slow": 5},
    }
    with exchange_process(speed=20) as ex:
        write_config(tmp_path, ex, **sections)
        daemon = start_daemon(tmp_path)
        try:  # until it has traded what the audit checks (it ran a fixed 15 s before)
            wait_for(lambda: _traded(tmp_path, "my_sma", 2), 60, "two decisions and two fills")
        finally:
            daemon.send_signal(signal.SIGTERM)
            out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err[-2000:]
    assert "(my_sma.py:MySma)" in out
    assert list((tmp_path / "journal" / "market").glob("session-*.jsonl.gz"))

    audit = _audit(tmp_path / "journal")

    assert audit.returncode == 0, audit.stdout + audit.stderr[-2000:]
    line = _verdict(audit.stdout)
    assert line.startswith("parity: identical (")
    decisions, fills = (int(w) for w in line[len("parity: identical (") :].split()[::2][:2])
    assert decisions >= 2 and fills >= 2, out  # the strategy of the file traded
    assert audit.stderr == ""


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_the_acceptance_session_python_app_py_duration_120_replays_to_an_empty_diff(tmp_path):
    """The issue's acceptance: the README's command on the embedded local exchange."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--duration", "120"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]

    audit = _audit(tmp_path / "journal")

    assert audit.returncode == 0, audit.stdout + audit.stderr[-2000:]
    assert _verdict(audit.stdout).startswith("parity: identical (")


def test_the_audit_of_a_session_started_with_a_position_and_its_stop_prints_only_its_verdict(
    tmp_path,
):
    """The replay's books are seeded with the session's starting positions; the start-up
    snapshot then brings the stop-loss kept on the exchange, which they logged to stderr as
    "books: order bfd-6 (...) is open at the exchange but not in our books; added": the
    seeding's doing, not a finding (nor counted as one)."""
    with exchange_process(speed=20) as ex:
        write_config(tmp_path, ex, **FAST_SMA)
        # The first session stops (SIGTERM) once a position rests with its stop-loss: a clean
        # stop leaves both (a fixed 6 s session once ended flat on a loaded machine).
        first = start_daemon(tmp_path)
        try:
            wait_for(lambda: journal_rows(tmp_path, OPEN_STOP)[0][0] >= 1, 60, "a stop-loss")
        finally:
            first.send_signal(signal.SIGTERM)
            _, err = first.communicate(timeout=30)
        assert first.returncode == 0, err[-2000:]
        daemon = start_daemon(tmp_path, "--duration", "6")
        _, err = daemon.communicate(timeout=120)
        assert daemon.returncode == 0, err[-2000:]
    header = read_session(session_files(tmp_path / "journal")[-1]).header
    assert any(Decimal(p["qty"]) != 0 for p in header["positions"]), header["positions"]

    audit = _audit(tmp_path / "journal")

    assert audit.returncode == 0, audit.stdout + audit.stderr[-2000:]
    assert _verdict(audit.stdout).startswith("parity: identical (")
    assert audit.stderr == ""


@pytest.mark.slow
def test_a_second_session_in_the_same_journal_starting_with_a_position_replays_identical(tmp_path):
    """A clean stop leaves the position open: the next session starts with it (and its books
    restored from the journal); the audit of that newest session is empty too."""
    with exchange_process(speed=20) as ex:
        write_config(tmp_path, ex, **FAST_SMA)
        for _ in range(2):
            daemon = start_daemon(tmp_path, "--duration", "15")
            _, err = daemon.communicate(timeout=120)
            assert daemon.returncode == 0, err[-2000:]
    sessions = session_files(tmp_path / "journal")
    assert len(sessions) == 2
    started_with = read_session(sessions[-1]).header["positions"]
    assert any(Decimal(p["qty"]) != 0 for p in started_with)  # sma_crossover is always in

    audit = _audit(tmp_path / "journal")

    assert audit.returncode == 0, audit.stdout + audit.stderr[-2000:]
    assert _verdict(audit.stdout).startswith("parity: identical (")
    assert audit.stderr == ""


def _decided_and_filled(workdir) -> bool:
    """The model made a decision (its first comes at the warm-up's last bar) and an order
    filled: a session another model's replay diverges from at its first bar."""
    decisions = journal_rows(workdir, "SELECT payload FROM events WHERE kind = 'DecisionMade'")
    ours = [p for (p,) in decisions if json.loads(p)["strategy"] == "logistic_regression"]
    return bool(ours) and journal_rows(workdir, "SELECT COUNT(*) FROM fills")[0][0] >= 1


def test_a_model_session_audits_with_the_model_it_traded_not_the_one_promoted_since(tmp_path):
    """The session traded the registry's promoted version. Since then another version (the
    same model, its BUY intercept raised by 50: it buys at every bar) was promoted: the audit
    rebuilds the session with the file the session traded, named in its header with the
    sha256 of its bytes (before, with whatever the registry promoted: a divergence at the
    first bar). That file changed in place: exit 2, naming both hashes."""
    reg = tmp_path / "models" / "btcusdt-1m"
    shutil.copytree(ROOT / "models" / "btcusdt-1m", reg)
    traded_id = registry.promoted_id(reg)
    assert traded_id is not None
    traded = registry.version_dir(reg, traded_id) / registry.MODEL_FILE
    (tmp_path / "config.toml").write_text(
        f'[strategy]\nname = "logistic_regression"\nmodel_path = "{reg}"\n'
    )
    daemon = start_daemon(tmp_path)
    try:  # until the model has decided and its order filled (it ran a fixed 25 s before)
        wait_for(lambda: _decided_and_filled(tmp_path), 60, "the model's decision and a fill")
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err[-2000:]
    header = read_session(session_files(tmp_path / "journal")[-1]).header
    sha = hashlib.sha256(traded.read_bytes()).hexdigest()
    assert header["model"] == {"path": str(traded), "sha256": sha, "version": traded_id}

    doc = json.loads(traded.read_text())
    doc["linear"]["intercept"][doc["classes"].index(1)] += 50.0
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc))
    registry.promote(reg, registry.add(reg, other), "a test: another model promoted")
    audit = _audit(tmp_path / "journal")
    assert audit.returncode == 0, audit.stdout + audit.stderr[-2000:]
    assert _verdict(audit.stdout).startswith("parity: identical (")

    traded.write_bytes(traded.read_bytes() + b"\n")
    audit = _audit(tmp_path / "journal")
    assert audit.returncode == 2, audit.stdout + audit.stderr[-2000:]
    now = hashlib.sha256(traded.read_bytes()).hexdigest()
    said = audit.stdout + audit.stderr
    assert f"sha256 {sha[:12]}" in said and f"it holds {now[:12]} now" in said


def _killed_session(workdir, how: str) -> None:
    """A FAST_SMA session whose kill switch is pulled after its first fill (`how`: "usr1" a
    SIGUSR1, "file" the kill-switch file), stopped by SIGTERM once HALTED."""
    with exchange_process(speed=20) as ex:
        _run_killed(workdir, ex, how)


def _run_killed(workdir, ex, how: str) -> None:
    write_config(workdir, ex, **FAST_SMA)
    daemon = start_daemon(workdir)
    try:
        wait_for(
            lambda: journal_rows(workdir, "SELECT COUNT(*) FROM fills")[0][0] >= 1, 60, "a fill"
        )
        if how == "usr1":
            os.kill(daemon.pid, signal.SIGUSR1)
        else:
            (workdir / "KILL").touch()
        wait_for(lambda: '"HALTED"' in (_states(workdir) or [""])[-1], 20, "HALTED")
    finally:
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err[-2000:]


# CI keeps the file (the restart test below pulls SIGUSR1); the SIGUSR1 audit is slow.
@pytest.mark.parametrize(
    "how",
    [
        pytest.param("usr1", marks=pytest.mark.slow),
        pytest.param("file", marks=pytest.mark.shared_session("kill_file")),
    ],
)
def test_a_session_whose_kill_switch_fired_replays_to_an_empty_diff(tmp_path, request, how):
    """The kill switch pulled on the running daemon (SIGUSR1, or the file its watch or tick
    path finds): recorded at the clock reading the daemon used, pulled there by the replay;
    the audit is empty (the file still on disk changes nothing). The file's session is the
    one test_daemon_kill_switch.py checks (tests/daemon/conftest.py)."""
    if how == "file":
        workdir, run = request.getfixturevalue("kill_file")
        assert run["returncode"] == 0, run["err"][-2000:]
    else:
        workdir = tmp_path
        _killed_session(workdir, how)
    states = _states(workdir)
    assert ("SIGUSR1" if how == "usr1" else "KILL exists") in states[0], states
    session = read_session(session_files(workdir / "journal")[-1])
    assert [e for e in session.entries if e[0] in ("k", "f")], "the kill is recorded"

    audit = _audit(workdir / "journal")

    assert audit.returncode == 0, audit.stdout + audit.stderr[-2000:]
    assert _verdict(audit.stdout).startswith("parity: identical ("), audit.stdout
    assert audit.stderr == ""


# CI keeps the reset (its session restores HALTED first, then resets); plain HALTED is slow.
@pytest.mark.parametrize(
    "reset",
    [
        pytest.param(False, marks=pytest.mark.slow),
        pytest.param(True, marks=pytest.mark.shared_session("usr1_then_reset_halt")),
    ],
    ids=["halted", "reset_halt"],
)
def test_a_restart_after_the_kill_switch_audits_identical_with_or_without_reset_halt(
    tmp_path, request, reset
):
    """The session after a SIGUSR1 kill: the daemon restores HALTED from the journal (no
    entry all session), or `--reset-halt` makes it ACTIVE and it trades again. The restored
    state and the reset are recorded; the audit of that second session is empty. The reset's
    sessions are the ones test_daemon_kill_switch.py checks the kill of (conftest.py)."""
    if reset:
        workdir, run = request.getfixturevalue("usr1_then_reset_halt")
        killed = run["killed"]
        assert killed["returncode"] == 0, killed["err"][-2000:]
        returncode, out, err = (run["restart"][k] for k in ("returncode", "out", "err"))
    else:
        workdir = tmp_path
        with exchange_process(speed=20) as ex:
            _run_killed(workdir, ex, "usr1")
            daemon = start_daemon(workdir, "--duration", "12")
            out, err = daemon.communicate(timeout=120)
        returncode = daemon.returncode
    assert returncode == 0, err[-2000:]
    session = read_session(session_files(workdir / "journal")[-1])
    restored = [e for e in session.entries if e[0] == "x"]
    assert [e[1] for e in restored] == ["HALTED"], restored
    assert [e[2] for e in session.entries if e[0] == "X"] == (["--reset-halt"] if reset else [])

    audit = _audit(workdir / "journal")

    assert audit.returncode == 0, audit.stdout + audit.stderr[-2000:]
    line = _verdict(audit.stdout)
    assert line.startswith("parity: identical ("), audit.stdout
    fills = int(line[len("parity: identical (") :].split()[2])
    assert (fills >= 1) == reset, out  # traded again only after the reset
    assert audit.stderr == ""
