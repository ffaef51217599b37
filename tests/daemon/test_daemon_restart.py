"""`kill -9` of the daemon mid-trading while the exchange keeps running, then a restart: no fill
is lost, position and orders are reconciled, and the log says what was recovered."""

import asyncio
import json
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
STOP_RESTING = "SELECT COUNT(*) FROM orders WHERE type = 'STOP_MARKET' AND status = 'NEW'"


def test_kill_9_then_restart_loses_no_fill_and_reconciles(tmp_path):
    # A tight exchange-side stop-loss on a fast replay: it fires while the daemon is dead.
    config = {
        **FAST_TRADING,
        "risk": {"stop_loss_pct": 0.01},
        "execution": {
            **FAST_TRADING["execution"],
            "deadman_countdown_ms": 10000,
            "deadman_refresh_s": 1.0,
        },
    }
    with exchange_process(speed=100) as ex:
        write_config(tmp_path, ex, **config)
        first = start_daemon(tmp_path)
        try:
            wait_for(
                lambda: journal_rows(tmp_path, "SELECT COUNT(*) FROM fills")[0][0] >= 2
                and journal_rows(tmp_path, STOP_RESTING)[0][0] >= 1,
                timeout_s=60,
                what="two fills and a resting stop-loss in the journal",
            )
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        killed_ms = int(time.time() * 1000)
        fills_before = journal_rows(tmp_path, "SELECT COUNT(*) FROM fills")[0][0]
        time.sleep(12)  # the exchange trades on; the dead-man countdown (10 s) runs out
        restarted_ms = int(time.time() * 1000)

        second = start_daemon(tmp_path, "--duration", "6")
        _out, err = second.communicate(timeout=90)
        assert second.returncode == 0, err[-2000:]
        venue = asyncio.run(exchange_account(ex))

    journal_trade_ids = {row[0] for row in journal_rows(tmp_path, "SELECT trade_id FROM fills")}
    exchange_trade_ids = {t["id"] for t in venue["trades"]}
    assert journal_trade_ids == exchange_trade_ids  # no fill lost, none invented
    assert len(journal_trade_ids) >= fills_before
    while_down = [t for t in venue["trades"] if killed_ms <= t["time"] <= restarted_ms]
    assert while_down, "the stop-loss did not fire while the daemon was down"
    recovered = journal_rows(
        tmp_path,
        f"SELECT client_order_id FROM fills WHERE trade_id = {while_down[0]['id']}",
    )
    assert recovered and recovered[0][0].startswith("bfd-")  # attributed to our stop order
    summary = json.loads((tmp_path / "journal" / "summary.json").read_text())
    book_qty = sum((D(p["qty"]) for p in summary["positions"]), D(0))
    assert book_qty == sum((D(p["positionAmt"]) for p in venue["positions"]), D(0))
    assert summary["final_differences"] == 0
    log = (tmp_path / "logs" / "trading_engine.log").read_text()
    # The restart's log names what the reconciliation recovered: the stop-loss fill made while
    # the daemon was down, with its trade id.
    assert f"recovered at start-up: fill BTCUSDT trade {while_down[0]['id']} " in log
    assert "start-up reconciliation with the exchange" in log
