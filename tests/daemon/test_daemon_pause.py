"""The daemon process stopped with SIGSTOP, then continued (a VM live migration or a laptop's
sleep does the same to it), against the local exchange, which went on trading meanwhile.

Against this exchange the sockets survive the stop: the daemon read 15 s of buffered trades in
~50 ms after SIGCONT and traded them as if live (four target flips and a market order 34 ms
after it, on prices 15 s old), said nothing, and learnt what the exchange had done meanwhile at
its next periodic reconciliation."""

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.daemon.harness import (
    exchange_account,
    exchange_process,
    inject_fault,
    journal_rows,
    start_daemon,
    wait_for,
    write_config,
)
from tests.daemon.test_daemon_books import FAST_TRADING

PAUSE_LINE = "WARNING: the daemon did not run for "
RESUMED = "resumed after a pause"


def _stopped_for(daemon: subprocess.Popen, seconds: float, meanwhile=lambda: None) -> int:
    """SIGSTOP the daemon for `seconds` (`meanwhile` done at the exchange then); the
    wall-clock ms at its SIGCONT."""
    daemon.send_signal(signal.SIGSTOP)
    meanwhile()
    time.sleep(seconds)
    resumed_ms = time.time_ns() // 1_000_000
    daemon.send_signal(signal.SIGCONT)
    return resumed_ms


def _resync_ms(workdir: Path, since_ms: int) -> int | None:
    """When the daemon journaled the first snapshot of the reconciliation after the pause."""
    rows = journal_rows(
        workdir,
        "SELECT recv_time_ms, payload FROM events WHERE kind = 'VenueSnapshot' "
        f"AND recv_time_ms >= {since_ms} ORDER BY seq",
    )
    return next((ms for ms, payload in rows if json.loads(payload)["reason"] == RESUMED), None)


def test_a_stopped_daemon_says_so_reconciles_and_enters_nothing_on_what_it_missed(tmp_path):
    """SIGSTOP 6 s with a position open, its listenKey expired meanwhile (as after an hour):
    one line says it; no entry is sent between SIGCONT and the reconciliation's snapshot (the
    backlog of trades is read, not traded); the user stream comes back on a new key; the run
    ends with the books equal to the exchange."""
    with exchange_process(speed=20) as ex:
        write_config(tmp_path, ex, **FAST_TRADING)
        daemon = start_daemon(tmp_path)
        try:
            wait_for(
                lambda: journal_rows(tmp_path, "SELECT COUNT(*) FROM fills")[0][0] >= 1,
                60,
                "a first fill",
            )
            expire = lambda: inject_fault(ex, {"fault": "expire_listen_key"})  # noqa: E731
            resumed_ms = _stopped_for(daemon, 6.0, meanwhile=expire)
            wait_for(lambda: _resync_ms(tmp_path, resumed_ms), 15, "the reconciliation")
            time.sleep(1.0)  # trading again on current data
        finally:
            daemon.send_signal(signal.SIGTERM)
            out, err = daemon.communicate(timeout=30)
        venue = asyncio.run(exchange_account(ex))

    assert daemon.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    said = [line for line in out.splitlines() if line.startswith(PAUSE_LINE)]
    assert len(said) == 1, out[-3000:]
    seconds = float(said[0].removeprefix(PAUSE_LINE).split(" s ")[0])
    assert 5.0 <= seconds <= 9.0, said
    resync_ms = _resync_ms(tmp_path, resumed_ms)
    assert resync_ms is not None
    entries = journal_rows(
        tmp_path,
        "SELECT client_order_id, created_ms FROM orders WHERE reduce_only = 0 "
        f"AND close_position = 0 AND created_ms >= {resumed_ms} AND created_ms < {resync_ms}",
    )
    assert entries == []
    back = journal_rows(
        tmp_path,
        "SELECT payload FROM events WHERE kind = 'StreamStateChanged' "
        f"AND recv_time_ms >= {resumed_ms} ORDER BY seq",
    )
    user = [json.loads(p)["state"] for (p,) in back if json.loads(p)["stream"] == "user"]
    assert user and user[-1] == "connected", user  # on a new listenKey
    assert "books vs exchange at exit: identical" in out, out[-2000:]
    summary = json.loads((tmp_path / "journal" / "summary.json").read_text())
    assert summary["fills"] == len(venue["trades"])


CANCELLED_BY_THE_EXCHANGE = """
from decimal import Decimal

from core.enums import OrderType, Side, TimeInForce
from core.orders import OrderProposal
from trading_engine.main_trading_strategy import NO_PROPOSALS, StrategyBase


class OneRestingBuy(StrategyBase):
    name = "one_resting_buy"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sent = False

    def on_trade(self, trade, view):
        if self.sent:
            return NO_PROPOSALS
        self.sent = True
        price = (trade.price * Decimal("0.97")).quantize(Decimal("0.1"))
        return [OrderProposal(symbol=trade.symbol, side=Side.BUY, type=OrderType.LIMIT,
                              quantity=Decimal("0.002"), price=price,
                              time_in_force=TimeInForce.GTC, reason="rests")]
"""


@pytest.mark.slow
def test_orders_the_dead_man_switch_cancelled_during_a_stop_are_known_at_once(tmp_path):
    """SIGSTOP 12 s, longer than the dead-man switch's countdown (10 s): the exchange cancels
    the resting order; after SIGCONT the journal says so within seconds, not a minute later."""
    (tmp_path / "resting.py").write_text(CANCELLED_BY_THE_EXCHANGE)
    with exchange_process(speed=20) as ex:
        write_config(
            tmp_path,
            ex,
            execution={"heartbeat_s": 2.0, "deadman_countdown_ms": 10_000, "deadman_refresh_s": 2},
            strategy={"name": "resting.py:OneRestingBuy"},
            risk={"stale_order_ms": 600_000},
        )
        daemon = start_daemon(tmp_path)
        resting = "SELECT client_order_id, status FROM orders WHERE type = 'LIMIT'"
        try:
            wait_for(lambda: [s for _, s in journal_rows(tmp_path, resting)] == ["NEW"], 60, "it")
            (cid, _), *_ = journal_rows(tmp_path, resting)
            _stopped_for(daemon, 12.0)
            known = time.monotonic()
            wait_for(
                lambda: journal_rows(tmp_path, resting) == [(cid, "CANCELED")], 10, "the cancel"
            )
            took_s = time.monotonic() - known
        finally:
            daemon.send_signal(signal.SIGTERM)
            out, err = daemon.communicate(timeout=30)
        venue = asyncio.run(exchange_account(ex))

    assert daemon.returncode == 0, err[-2000:]
    assert took_s < 5.0
    assert venue["open_orders"] == []
    assert [o["status"] for o in venue["orders"] if o["clientOrderId"] == cid] == ["CANCELED"]
    assert sum(line.startswith(PAUSE_LINE) for line in out.splitlines()) == 1, out[-2000:]
    assert "books vs exchange at exit: identical" in out, out[-2000:]
