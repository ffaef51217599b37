"""`kill -9` of the daemon mid-trading while the exchange keeps running, then a restart: no fill
is lost, position and orders are reconciled, and the log says what was recovered."""

import asyncio
import json
import os
import signal
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from book_keeper.journal_wal import _decode_body, read_wal
from core.events import OrderFilled, OrderPartiallyFilled
from tests.daemon.harness import (
    API_KEY,
    API_SECRET,
    exchange_account,
    exchange_process,
    journal_rows,
    start_daemon,
    wait_for,
    write_config,
)
from tests.daemon.test_daemon_books import FAST_TRADING

D = Decimal
NEAR_STOP = D("0.0001")  # 0.01 % of the price, about 9.5 USDT on the bundled week


def _journal_trade_ids(workdir) -> set[int]:
    """The fills the daemon journaled: in the tables, and in the write-ahead log the daemon's
    loop had not applied to them yet (a record is journaled once it is in the log)."""
    applied = {row[0] for row in journal_rows(workdir, "SELECT trade_id FROM fills")}
    try:
        data = (workdir / "journal" / "journal.wal").read_bytes()
    except FileNotFoundError:
        return applied
    frames, _ = read_wal(data)
    logged = {
        event.fill.trade_id
        for _, body in frames
        for event, _ in _decode_body(body)
        if isinstance(event, OrderFilled | OrderPartiallyFilled)
    }
    return applied | logged


async def _connect(ex) -> Any:
    """A signed REST connection to the local exchange (one time sample: weight 1)."""
    from core.clock import LiveClock
    from rest_connect import create_rest_connection

    return await create_rest_connection(
        rest_url=ex.rest_url,
        api_key=API_KEY,
        api_secret=API_SECRET,
        clock=LiveClock(),
        time_samples=1,
    )


async def _open_algo_orders(ex) -> Any:
    """The exchange's open algo orders of BTCUSDT: 1 of the IP's request weight, where
    exchange_account spends 25 (polled every 0.5 s, that is the daemon's whole budget: see
    _exchange_probe)."""
    conn = await _connect(ex)
    try:
        rows = await conn.call("futures_get_open_algo_orders", weight=1, symbol="BTCUSDT")
    finally:
        await conn.close()
    return rows


async def _exchange_probe(ex, *, trades_only: bool = False) -> dict[str, Any]:
    """The exchange's positions, open algo orders and our trades (or the trades alone), read
    like exchange_account but lighter: 12 (6) of the IP's request weight, not 25. The daemon
    shares the loopback IP's 2400 a minute, and polling the whole account every 0.3-0.5 s
    spent it: the restarted daemon then waited ~25 s for the minute's budget before its
    start-up reconciliation."""
    conn = await _connect(ex)
    try:
        trades = await conn.call("futures_account_trades", weight=5, symbol="BTCUSDT", limit=1000)
        if trades_only:
            return {"trades": trades}
        positions = await conn.call("futures_position_information", weight=5, symbol="BTCUSDT")
        algo_open = await conn.call("futures_get_open_algo_orders", weight=1, symbol="BTCUSDT")
    finally:
        await conn.close()
    return {"positions": positions, "algo_open": algo_open, "trades": trades}


def _freeze_where_a_fill_will_be_missed(daemon, workdir, ex, timeout_s: float) -> tuple[dict, bool]:
    """SIGSTOP the daemon at a moment when the exchange holds a position with our stop-loss
    resting within NEAR_STOP of the mark price (it fires while the daemon is down), or has
    already filled something the frozen journal lacks; otherwise let it run on and try again.

    Freezing first makes the check race-free: a stopped daemon can neither place, cancel nor
    journal anything, while the exchange trades on. (Killing on what the journal said raced
    the fast replay: a stop journaled NEW was not yet on the exchange, or had just filled; and a
    stop the price had run away from need not fire within a fixed downtime.)

    Returns the exchange's account at the freeze, and whether the stop-loss is what the
    daemon will miss (False: a fill it had not journaled yet, e.g. of a market order).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            if len(_journal_trade_ids(workdir)) < 2:
                continue
        except sqlite3.Error:
            continue  # the journal is not created yet
        os.kill(daemon.pid, signal.SIGSTOP)
        journaled = _journal_trade_ids(workdir)
        venue = asyncio.run(_exchange_probe(ex))
        open_qty = sum((D(p["positionAmt"]) for p in venue["positions"]), D(0))
        mark = max((D(p["markPrice"]) for p in venue["positions"]), default=D(0))
        stop_near = any(
            o["orderType"] == "STOP_MARKET" and abs(D(o["triggerPrice"]) - mark) <= mark * NEAR_STOP
            for o in venue["algo_open"]
        )
        already_missed = any(t["id"] not in journaled for t in venue["trades"])
        if (open_qty != 0 and stop_near) or already_missed:
            return venue, not already_missed
        os.kill(daemon.pid, signal.SIGCONT)
    raise AssertionError(f"no moment with a resting stop-loss found in {timeout_s} s")


def _last_read_of_fills_ms(workdir: Path) -> int:
    """When the daemon's last reconciliation (its stop's) began reading the exchange's fills,
    on its estimate of the exchange's clock (this machine's wall clock, the exchange's own): a
    fill before it was read then, if the user stream had not brought it already."""
    [(payload,)] = journal_rows(
        workdir, "SELECT payload FROM events WHERE kind = 'VenueSnapshot' ORDER BY seq DESC LIMIT 1"
    )
    snapshot = json.loads(payload)
    assert snapshot["reason"] == "stop", snapshot["reason"]
    assert snapshot["fills_read_recv_ms"] is not None, snapshot
    return int(snapshot["fills_read_recv_ms"])


def _filled_after_the_last_read(workdir: Path, venue: dict[str, Any], out: str) -> Decimal:
    """Check that every exchange trade the journal lacks was made after the daemon's last read
    of the fills, by the stop-loss its closing summary (`out`) says it left guarding the
    position; return their signed quantity (contracts, + bought).

    A position left open keeps its stop-loss on the exchange; a 0.01 % stop on a 100x replay
    fills within a second, and once the daemon has exited (or closed its user stream) no
    daemon can journal that fill before the test reads the exchange: the next start recovers
    it. Anything else the journal lacks is a fill lost."""
    journaled = _journal_trade_ids(workdir)
    after = [t for t in venue["trades"] if t["id"] not in journaled]
    if not after:
        return D(0)
    read_ms = _last_read_of_fills_ms(workdir)
    client_ids = {o["orderId"]: o["clientOrderId"] for o in venue["orders"]}
    kept = dict(
        journal_rows(
            workdir,
            "SELECT client_order_id, stop_price FROM orders "
            "WHERE type = 'STOP_MARKET' AND status = 'NEW'",
        )
    )
    summary = json.loads((workdir / "journal" / "summary.json").read_text())
    [position] = [p for p in summary["positions"] if D(p["qty"])]
    for t in after:
        assert t["time"] >= read_ms, (t, read_ms)  # not a fill the last read should have seen
        cid = client_ids[t["orderId"]]
        assert cid in kept, (t, cid, kept)  # of the stop-loss the daemon left open
        guarded = (
            f"position {position['symbol']} {D(position['qty']):f} left open, guarded on the "
            f"exchange by STOP_MARKET {D(kept[cid]):f}"
        )
        assert guarded in out, out[-1500:]
    signed = sum((D(t["qty"]) if t["side"] == "BUY" else -D(t["qty"]) for t in after), D(0))
    assert signed == -D(position["qty"]), (after, position)  # it closed the position
    return signed


def _running(status: Path, pid: int) -> bool:
    """status.json says the daemon `pid` runs (written once its start, the start-up
    reconciliation included, is done)."""
    now = json.loads(status.read_text())
    return now["pid"] == pid and now["state"] == "running"


def test_kill_9_then_restart_loses_no_fill_and_reconciles(tmp_path):
    # A tight exchange-side stop-loss (0.01 %) on a fast replay: it fires while the daemon is dead.
    # No re-entry hold after a stop-loss (on by default; also after a crossed level's close
    # now): held flat until the target turned, the daemon spent most of the search below
    # without a position to freeze on (its 60 s ran out once in CI; 30-63 s a run, now 22-30).
    config = {
        **FAST_TRADING,
        "risk": {"stop_loss_pct": 0.01, "reentry_hold": False},
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
            at_freeze, stop_missed = _freeze_where_a_fill_will_be_missed(
                first, tmp_path, ex, timeout_s=60
            )
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        killed_at = time.monotonic()
        journaled_at_kill = _journal_trade_ids(tmp_path)
        # The exchange trades on until the stop-loss has filled; the dead-man countdown (10 s)
        # runs out meanwhile.
        wait_for(
            lambda: any(
                t["id"] not in journaled_at_kill
                for t in asyncio.run(_exchange_probe(ex, trades_only=True))["trades"]
            ),
            timeout_s=60,
            what="the stop-loss to fill while the daemon is down",
            every_s=0.5,
        )
        time.sleep(max(0.0, killed_at + 12 - time.monotonic()))
        restarted_ms = int(time.time() * 1000)

        second = start_daemon(tmp_path)
        status = tmp_path / "journal" / "status.json"
        try:  # running: its start-up reconciliation is done (it ran a fixed 6 s before)
            wait_for(lambda: _running(status, second.pid), 60, "the restart running")
        finally:
            second.send_signal(signal.SIGTERM)
            out, err = second.communicate(timeout=30)
        assert second.returncode == 0, err[-2000:]
        venue = asyncio.run(exchange_account(ex))

    exchange_trade_ids = {t["id"] for t in venue["trades"]}
    assert _journal_trade_ids(tmp_path) <= exchange_trade_ids  # none invented
    # and none lost: what the journal lacks is the stop-loss the restart left guarding its
    # position, filled after the daemon's last read (it once failed here under CPU load)
    late_qty = _filled_after_the_last_read(tmp_path, venue, out)
    assert journaled_at_kill <= exchange_trade_ids
    missed = [
        t for t in venue["trades"] if t["id"] not in journaled_at_kill and t["time"] < restarted_ms
    ]
    assert missed, f"nothing filled while the daemon was down; at the freeze: {at_freeze}"
    orders = dict(journal_rows(tmp_path, "SELECT client_order_id, type FROM orders"))
    recovered_ids = {
        row[0]: row[1]
        for row in journal_rows(tmp_path, "SELECT trade_id, client_order_id FROM fills")
    }
    types = [orders.get(recovered_ids[t["id"]]) for t in missed]
    assert None not in types, missed  # each missed fill is attributed to an order we journaled
    if stop_missed:  # the freeze found our stop-loss about to fire: its fill was recovered
        assert "STOP_MARKET" in types, missed
    assert all(recovered_ids[t["id"]].startswith("bfd-") for t in missed)
    summary = json.loads((tmp_path / "journal" / "summary.json").read_text())
    book_qty = sum((D(p["qty"]) for p in summary["positions"]), D(0))
    # the stop-loss left guarding the position, if it filled since, closed it
    assert book_qty + late_qty == sum((D(p["positionAmt"]) for p in venue["positions"]), D(0))
    assert summary["final_differences"] == 0
    # --status tells the restarted run's fills from the whole journal's (both runs)
    status = json.loads((tmp_path / "journal" / "status.json").read_text())
    assert status["fills_total"] == summary["fills"]
    assert status["fills"] < status["fills_total"], status
    log = (tmp_path / "logs" / "trading_engine.log").read_text()
    # The restart's log names what the reconciliation recovered: each fill made while the
    # daemon was down (or made just before the kill and never journaled), with its trade id.
    for t in missed:
        assert f"recovered at start-up: fill BTCUSDT trade {t['id']} " in log
    assert "start-up reconciliation with the exchange" in log
    # and says the last run was killed (only --status said it)
    assert (
        f"the last run (pid {first.pid}) did not stop cleanly: killed or crashed while running"
        in log
    )
    assert "the journal and the start-up reconciliation with the exchange take up" in log


def _eth_position(ex) -> Decimal:
    return _eth_account(ex)[0]


def _eth_account(ex) -> tuple[Decimal, int]:
    """The exchange's ETHUSDT position and how many algo (stop / take-profit) orders rest."""

    async def read() -> tuple[Decimal, int]:
        from core.clock import LiveClock
        from rest_connect import create_rest_connection
        from tests.daemon.harness import API_KEY, API_SECRET

        conn = await create_rest_connection(
            rest_url=ex.rest_url, api_key=API_KEY, api_secret=API_SECRET, clock=LiveClock()
        )
        try:
            rows = await conn.call("futures_position_information", weight=5, symbol="ETHUSDT")
            algos = await conn.call("futures_get_open_algo_orders", symbol="ETHUSDT")
        finally:
            await conn.close()
        if isinstance(algos, dict):  # some versions wrap the list
            algos = algos.get("orders", [])
        return sum((D(r["positionAmt"]) for r in rows), D(0)), len(algos)

    return asyncio.run(read())


def test_a_symbol_removed_from_the_config_while_it_holds_a_position_is_refused_at_start(
    tmp_path,
):
    """Trading BTCUSDT and ETHUSDT, `kill -9` with ETHUSDT long or short, restart with
    symbols = ["BTCUSDT"]: the restart ran on BTCUSDT alone, the ETHUSDT position out of its
    heartbeat, summary, equity and limits, with one log line about its orders. Refused now,
    naming the position, and the position stays on the exchange for the user to decide."""
    with exchange_process(speed=20, symbols="BTCUSDT,ETHUSDT") as ex:
        write_config(tmp_path, ex, ("BTCUSDT", "ETHUSDT"), **FAST_TRADING)
        daemon = start_daemon(tmp_path)
        try:
            # Killed once the position's stop-loss rests too (a kill between the entry's fill
            # and its stop would leave no stop for the refusal to name).
            wait_for(
                lambda: (lambda qty, algos: qty != 0 and algos > 0)(*_eth_account(ex)),
                90,
                "an ETHUSDT position and its stop-loss",
            )
        finally:
            daemon.send_signal(signal.SIGKILL)
            daemon.communicate(timeout=30)
        write_config(tmp_path, ex, ("BTCUSDT",), **FAST_TRADING)

        restart = start_daemon(tmp_path, "--duration", "10")
        out, err = restart.communicate(timeout=60)

        assert restart.returncode == 2, out[-1500:]  # not restarted by a supervisor
        assert "Traceback" not in err
        line = next(x for x in (err + out).splitlines() if x.startswith("error:"))
        assert line.startswith("error: symbols: ETHUSDT is no longer in symbols"), line
        assert f"position {_eth_position(ex):f}" in line, line
        assert "STOP_MARKET" in line, line  # its stop-loss, still on the exchange
        assert _eth_position(ex) != 0


TAG_QUERY = "SELECT value FROM meta WHERE key = 'client_id_tag'"


# ~30 s of daemon runs; bounded in CI by tests/gateway/test_main_gateway_journals.py (the
# same take-over against the local exchange, in-process).
@pytest.mark.slow
def test_a_new_journal_on_an_account_with_the_earlier_journals_stop_loss_takes_it_over(tmp_path):
    """The user moves the journal away and restarts on the same account, which still holds
    the position and its stop-loss the first run left (a clean stop keeps them). The second
    journal issues ids of its own tag (`bfd-<tag>-<n>`: before tags it issued bfd-1, bfd-2 ...
    again, -4116 once it reached the earlier stop's number, and a query by such an id found
    the earlier order), and it takes the earlier stop-loss over as its own: kept while it
    guards the position, cancelled when the position moves (before, "cancel: ... is not one
    of our orders", and the new stop could not be placed beside it: -4130)."""
    with exchange_process(speed=20) as ex:
        write_config(tmp_path, ex, **FAST_TRADING, risk={"stop_loss_pct": 0.5})
        first = start_daemon(tmp_path)
        try:
            wait_for(
                lambda: asyncio.run(_open_algo_orders(ex)),
                timeout_s=60,
                what="the first run's stop-loss",
                every_s=0.5,
            )
        finally:
            first.send_signal(signal.SIGTERM)
            first.communicate(timeout=60)
        left = asyncio.run(exchange_account(ex))
        [(first_tag,)] = journal_rows(tmp_path, TAG_QUERY)
        (tmp_path / "journal").rename(tmp_path / "journal-moved")

        second = start_daemon(tmp_path, "--duration", "20")
        out, err = second.communicate(timeout=120)
        venue = asyncio.run(exchange_account(ex))

    assert first.returncode == 0 and second.returncode == 0, err[-2000:]
    [stop] = left["algo_open"]  # the position left open kept its stop-loss
    assert stop["clientAlgoId"].startswith(f"bfd-{first_tag}-")
    [(second_tag,)] = journal_rows(tmp_path, TAG_QUERY)
    assert second_tag != first_tag
    ids = [row[0] for row in journal_rows(tmp_path, "SELECT client_order_id FROM orders")]
    # Every id this journal issued has its own tag; the earlier stop it took over has a row
    # too (adopted orders are known to the journal: their events are not "unknown order").
    issued = [cid for cid in ids if cid != stop["clientAlgoId"]]
    assert issued and all(cid.startswith(f"bfd-{second_tag}-") for cid in issued), ids
    assert stop["clientAlgoId"] in ids, ids
    log = (tmp_path / "logs" / "trading_engine.log").read_text()
    assert (
        f"open algo order BTCUSDT {stop['clientAlgoId']} ({stop['side']} STOP_MARKET "
        "close-position) was placed by this daemon under an earlier journal" in log
    )
    assert "is not one of our orders" not in log and "is not ours" not in log
    assert "-4116" not in log and "-4130" not in log
    assert "books vs exchange at exit: identical" in out
    # Whatever the second run did with it, the earlier stop is on the exchange only if it
    # still guards the position (the closing summary names the stops left).
    left_open = [o["clientAlgoId"] for o in venue["algo_open"]]
    assert len(left_open) <= 1, venue["algo_open"]
