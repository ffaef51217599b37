"""Kill switch and portfolio limits on the running daemon: cancel all, flatten, HALTED."""

import asyncio
import os
import signal
import time
from decimal import Decimal

from tests.daemon.harness import (
    exchange_account,
    exchange_process,
    journal_rows,
    start_daemon,
    wait_for,
    write_config,
)
from tests.daemon.test_daemon_books import FAST_TRADING

D = Decimal
STATES = "SELECT payload FROM events WHERE kind = 'TradingStateChanged' ORDER BY seq"


def _states(workdir) -> list[str]:
    return [row[0] for row in journal_rows(workdir, STATES)]


def _denied_as_halted(workdir) -> bool:
    """The strategy proposed again after HALTED and the risk manager denied it, saying why."""
    denied = journal_rows(
        workdir, "SELECT payload FROM events WHERE kind = 'RiskDenied' ORDER BY seq DESC LIMIT 1"
    )
    return bool(denied) and "HALTED" in denied[0][0]


def _halted_and_flat(workdir, ex) -> None:
    states = _states(workdir)
    assert any('"REDUCING"' in s for s in states) and '"HALTED"' in states[-1], states
    venue = asyncio.run(exchange_account(ex))
    assert all(D(p["positionAmt"]) == 0 for p in venue["positions"])
    assert venue["open_orders"] == [] and not venue["algo_open"]
    assert _denied_as_halted(workdir)  # later signals are denied, with the reason


def test_kill_switch_file_cancels_flattens_and_halts_within_a_second(tmp_path):
    with exchange_process(speed=20) as ex:
        write_config(tmp_path, ex, **FAST_TRADING)
        daemon = start_daemon(tmp_path)
        try:
            wait_for(
                lambda: journal_rows(tmp_path, "SELECT COUNT(*) FROM fills")[0][0] >= 1,
                timeout_s=60,
                what="a first fill",
            )
            (tmp_path / "KILL").touch()
            touched = time.monotonic()
            wait_for(lambda: any('"REDUCING"' in s for s in _states(tmp_path)), 5, "REDUCING")
            reacted_s = time.monotonic() - touched
            wait_for(lambda: '"HALTED"' in (_states(tmp_path) or [""])[-1], 20, "HALTED")
            # The strategy keeps proposing: each proposal is denied (until then, not a fixed
            # wait: the exchange's and the books' state is checked after the stop).
            wait_for(lambda: _denied_as_halted(tmp_path), 20, "a proposal denied as HALTED")
        finally:
            daemon.send_signal(signal.SIGTERM)
            _out, err = daemon.communicate(timeout=30)
        assert daemon.returncode == 0, err[-2000:]
        assert reacted_s <= 1.0, f"kill switch took {reacted_s:.2f} s"
        _halted_and_flat(tmp_path, ex)


def test_sigusr1_kills_and_a_drawdown_breach_halts(tmp_path):
    with exchange_process(speed=20) as ex:
        # A 0.001 % drawdown limit: the first entry's fee breaches it.
        write_config(tmp_path, ex, **{**FAST_TRADING, "risk": {"max_drawdown_pct": 0.001}})
        daemon = start_daemon(tmp_path)
        try:
            wait_for(lambda: '"HALTED"' in (_states(tmp_path) or [""])[-1], 60, "HALTED")
            wait_for(lambda: _denied_as_halted(tmp_path), 20, "a proposal denied as HALTED")
        finally:
            daemon.send_signal(signal.SIGTERM)
            _out, err = daemon.communicate(timeout=30)
        assert daemon.returncode == 0, err[-2000:]
        assert "drawdown" in _states(tmp_path)[0]
        _halted_and_flat(tmp_path, ex)

    with exchange_process(speed=20) as ex:
        other = tmp_path / "usr1"
        other.mkdir()
        write_config(other, ex, **FAST_TRADING)
        daemon = start_daemon(other)
        try:
            wait_for(
                lambda: journal_rows(other, "SELECT COUNT(*) FROM fills")[0][0] >= 1, 60, "a fill"
            )
            os.kill(daemon.pid, signal.SIGUSR1)
            wait_for(lambda: '"HALTED"' in (_states(other) or [""])[-1], 20, "HALTED")
            wait_for(lambda: _denied_as_halted(other), 20, "a proposal denied as HALTED")
        finally:
            daemon.send_signal(signal.SIGTERM)
            _out, err = daemon.communicate(timeout=30)
        assert daemon.returncode == 0, err[-2000:]
        assert "SIGUSR1" in _states(other)[0]
        _halted_and_flat(other, ex)
