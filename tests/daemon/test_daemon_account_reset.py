"""The local exchange restarted under a running daemon on the same port with the same key (as a
Binance testnet reset): a new account whose order and trade ids start again from the first.

Before: the daemon took it for the same account; its reconciliation read userTrades from the
last trade id known + 1 and found nothing, and the new account's fills, reusing trade ids the
books held, were dropped as booked already: the books drifted from the exchange without a word,
and a restart on the same journal did the same. Now the first reconciliation after the reset
(the one that follows the user stream's reconnect) finds the journal's last fill missing from
the account's trades: the daemon stops (exit 2, nothing more sent to the account) with one line
saying what was seen and what to do, and a start on that journal is refused in one line."""

import json
import re
import signal
import time
from urllib.parse import urlsplit

from book_keeper import codec
from tests.daemon.harness import (
    exchange_process,
    journal_rows,
    start_daemon,
    wait_for,
    write_config,
)
from tests.daemon.test_daemon_books import FAST_TRADING

SETTINGS = {**FAST_TRADING, "execution": {**FAST_TRADING["execution"], "reconcile_interval_s": 1}}


def _snapshots(workdir) -> list[dict]:
    rows = journal_rows(workdir, "SELECT payload FROM events WHERE kind = 'VenueSnapshot'")
    return [json.loads(payload) for (payload,) in rows]


def _read_back(workdir) -> bool:
    """A reconciliation has read the journal's first fill back from userTrades."""
    first = _fills(workdir)[0][0]
    rows = journal_rows(
        workdir,
        "SELECT kind, payload FROM events WHERE kind = 'VenueSnapshot' ORDER BY seq DESC LIMIT 1",
    )
    return bool(rows) and dict(codec.loads(*rows[0]).trade_ids).get("BTCUSDT", 0) >= first


def _fills(workdir) -> list[tuple[int, int]]:
    return journal_rows(workdir, "SELECT trade_id, order_id FROM fills ORDER BY trade_id")


def test_an_exchange_reset_under_the_daemon_stops_it_and_its_journal_is_refused(tmp_path):
    with exchange_process(speed=20, admin=False) as first:
        write_config(tmp_path, first, **SETTINGS)
        port = urlsplit(first.rest_url).port
        daemon = start_daemon(tmp_path)
        try:
            wait_for(lambda: _fills(tmp_path), 90, "a fill journaled")
            # a reconciliation that read it back from userTrades (as each minute by default)
            wait_for(lambda: _read_back(tmp_path), 30, "the fill read back by a reconciliation")
        except BaseException:
            daemon.kill()
            raise
    before = _fills(tmp_path)
    last_id, last_order = before[-1]
    snapshots = len(_snapshots(tmp_path))
    with exchange_process(speed=20, admin=False, port=port or 0) as reset:
        try:
            out, err = daemon.communicate(timeout=90)
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                daemon.communicate(timeout=30)
        # A minute after the journal's last fill (a fill missing sooner may not be served
        # yet: that start would fail with exit 1 and ask again)
        (made_ms,) = journal_rows(tmp_path, "SELECT MAX(time_ms) FROM fills")[0]
        time.sleep(max(0.0, made_ms / 1000 + 61 - time.time()))
        restarted = start_daemon(tmp_path)
        _, err2 = restarted.communicate(timeout=90)
        assert reset.rest_url == first.rest_url

    said = (
        f"the account at the exchange at {first.rest_url} is not the one the journal in "
        f"{tmp_path / 'journal'} records: BTCUSDT's last fill known, trade {last_id} of order "
        f"{last_order} "
    )
    assert daemon.returncode == 2, err[-3000:]
    assert said in out, out[-3000:]
    assert re.search(
        r"is not among the account's trades: it lists no trade from that id on\. The account "
        r"was reset .*Start with a new journal_dir \(or move that journal away\)\. Nothing more "
        r"is sent to it: stopping, its orders and positions left as they are",
        out,
    ), out[-3000:]
    # Nothing of the new account was booked or adopted as the old one's.
    assert _fills(tmp_path)[: len(before)] == before
    assert all(trade_id <= last_id for trade_id, _ in _fills(tmp_path))
    assert len(_snapshots(tmp_path)) == snapshots
    # The restart on that journal: refused in one line, before anything is traded.
    assert restarted.returncode == 2, err2[-3000:]
    last_line = err2.strip().splitlines()[-1]
    assert last_line.startswith(f"error: {said}"), err2[-3000:]
    assert last_line.endswith("Start with a new journal_dir (or move that journal away)")
    assert "Traceback" not in err2
    assert _fills(tmp_path)[: len(before)] == before
