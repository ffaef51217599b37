"""`python app.py` trades, and its books end equal to the exchange's account to the last digit."""

import asyncio
import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from book_keeper.journal_files import journal_venue
from tests.daemon.harness import (
    ROOT,
    assert_stopped_clean,
    exchange_account,
    exchange_process,
    inject_fault,
    journal_rows,
    start_daemon,
    wait_for,
    write_config,
)

D = Decimal
# 1 s bars built from trades and short averages: the daemon trades within seconds. The SMA
# strategy is named: the default is the ML model, which works on 1m bars.
FAST_TRADING = {
    "execution": {"heartbeat_s": 2.0, "bar_source": "trades"},
    "strategy": {
        "name": "sma_crossover",
        "bar_interval": "1s",
        "fast_period": 2,
        "slow_period": 5,
    },
}


def default_app_run(workdir) -> dict[str, Any]:
    """`python app.py --duration 60` in `workdir`: the README's command on the embedded default
    (local exchange child, bundled data); its exit status and output. Also the first of two
    runs in one folder (test_daemon_lifecycle.py), through tests/daemon/conftest.py."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--duration", "60"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=150,
    )
    return {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr}


@pytest.mark.shared_session("default_run")
def test_default_run_places_and_fills_orders_and_ends_identical_to_the_exchange(default_run):
    """The README's command on the embedded default (local exchange child, bundled data)."""
    workdir, result = default_run
    stdout, stderr = result["stdout"], result["stderr"]

    assert result["returncode"] == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    assert "application running |" in stdout
    # Each figure says what it covers: the journal's realized PnL, today's wallet change, and
    # this run's fills.
    assert re.search(
        r"\| realized -?[\d,]+\.\d\d \| today -?[\d,]+\.\d\d net of fees \| "
        r"unrealized -?[\d,]+\.\d\d \| fills \d+ this run \|",
        stdout,
    ), stdout
    summary = json.loads((workdir / "journal" / "summary.json").read_text())
    assert summary["orders_submitted"] >= 1 and summary["fills"] >= 1, stdout
    assert summary["final_differences"] == 0
    assert "books vs exchange at exit: identical" in stdout


def _trade(
    tmp_path,
    seconds: int | None,
    *faults: dict,
    until: Callable[[Path], bool] | None = None,
    **sections: dict,
) -> tuple[str, dict, dict]:
    """Run the daemon for `seconds` (or, with `until`, until `until(workdir)` holds, then stop
    it with SIGTERM: a clean stop as the duration's) against a local exchange (with `faults`
    on, and config `sections` over FAST_TRADING); (its stdout, its summary.json, the
    exchange's account), after checking it made fills and its wallet and position equal the
    exchange's."""
    with exchange_process(speed=20) as ex:
        for spec in faults:
            inject_fault(ex, spec)
        write_config(tmp_path, ex, **{**FAST_TRADING, **sections})
        if until is None:
            daemon = start_daemon(tmp_path, "--duration", str(seconds))
        else:
            daemon = start_daemon(tmp_path)
            try:
                wait_for(lambda: until(tmp_path), 90, "what the test checks")
            finally:
                daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=120)
        assert daemon.returncode == 0, err[-2000:]
        venue = asyncio.run(exchange_account(ex))
    # The journal is bound to the account it records (a restart elsewhere is refused).
    assert journal_venue(tmp_path / "journal") == ex.rest_url

    summary = json.loads((tmp_path / "journal" / "summary.json").read_text())
    assert summary["fills"] >= 2, out
    usdt = next(a for a in venue["account"]["assets"] if a["asset"] == "USDT")
    assert D(summary["wallet"]) == D(usdt["walletBalance"])
    exchange_qty = sum((D(p["positionAmt"]) for p in venue["positions"]), D(0))
    book_qty = sum((D(p["qty"]) for p in summary["positions"]), D(0))
    assert book_qty == exchange_qty
    return out, summary, venue


def _enough_to_check(workdir: Path) -> bool:
    """What the test below checks is in the journal (it ran a fixed 30 s before): four fills
    (twice what it needs), a stop-loss and a take-profit, five balance snapshots."""
    fills = journal_rows(workdir, "SELECT COUNT(*) FROM fills")[0][0]
    types = {t for (t,) in journal_rows(workdir, "SELECT DISTINCT type FROM orders")}
    snapshots = journal_rows(workdir, "SELECT COUNT(*) FROM balance_snapshots")[0][0]
    return fills >= 4 and {"STOP_MARKET", "TAKE_PROFIT_MARKET"} <= types and snapshots >= 5


def test_books_equal_the_exchange_account_to_the_last_decimal_digit(tmp_path):
    """Also with Binance's fills' ACCOUNT_UPDATE sent before their ORDER_TRADE_UPDATE (the
    local exchange's `reorder_user_events` fault, on for the whole run): the books hold the
    update until the fill comes, and nothing is ever adopted as a difference (the plain
    order: the `app.py --duration 60` test above). Its own run: the slow test below."""
    # With a take-profit as well as the stop-loss: the exchange takes one closePosition
    # order per side (-4130), so both must be placed without a refusal.
    risk = {"stop_loss_pct": "0.5", "take_profit_pct": "0.5"}
    reorder = {"fault": "reorder_user_events", "on": True}
    out, summary, venue = _trade(tmp_path, None, reorder, until=_enough_to_check, risk=risk)

    assert summary["final_differences"] == 0
    assert "adopted the exchange's" not in (tmp_path / "logs" / "trading_engine.log").read_text()

    assert D(summary["realized_pnl"]) == sum((D(t["realizedPnl"]) for t in venue["trades"]), D(0))
    fees = sum((D(t["commission"]) for t in venue["trades"]), D(0))
    assert D(summary["fees"]["USDT"]) == fees
    assert summary["fills"] == len(venue["trades"])
    protective = journal_rows(
        tmp_path, "SELECT type, status FROM orders WHERE type LIKE '%MARKET' AND type != 'MARKET'"
    )
    assert {t for t, _ in protective} == {"STOP_MARKET", "TAKE_PROFIT_MARKET"}, protective
    assert journal_rows(tmp_path, "SELECT COUNT(*) FROM orders WHERE status = 'REJECTED'") == [(0,)]
    # A clean stop cancels the working orders; a position left open keeps its stop-loss.
    assert_stopped_clean(venue, out)
    # The heartbeat journals balance snapshots, and logs its status line.
    assert journal_rows(tmp_path, "SELECT COUNT(*) FROM balance_snapshots")[0][0] >= 5
    log = (tmp_path / "logs" / "trading_engine.log").read_text()
    assert "application running | equity" in log


@pytest.mark.slow  # bounded in CI by the test above (the same fault, with a take-profit)
def test_account_updates_sent_before_their_fills_are_not_booked_twice(tmp_path):
    """Binance may send a fill's ACCOUNT_UPDATE before its ORDER_TRADE_UPDATE (the local
    exchange's `reorder_user_events` fault, on for the whole run): the books hold the
    update until the fill comes, and nothing is ever adopted as a difference."""
    _out, summary, _venue = _trade(tmp_path, 25, {"fault": "reorder_user_events", "on": True})

    assert summary["final_differences"] == 0
    log = (tmp_path / "logs" / "trading_engine.log").read_text()
    assert "adopted the exchange's" not in log  # not once during the run either
