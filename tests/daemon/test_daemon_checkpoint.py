"""A daemon trading the local exchange checkpoints its books in the journal; killed (`kill -9`)
and restarted, it starts from its newest checkpoint, and what it restores from any of them is
what the full replay of the journal gives, to the last field (restart_support)."""

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from exchange_sim.replay.grid import load_instruments
from tests.book_keeper.restart_support import (
    checkpoint_ids,
    copy_up_to_checkpoint,
    start_up_picture,
)
from tests.daemon.harness import (
    exchange_process,
    journal_rows,
    start_daemon,
    wait_for,
    write_config,
)
from tests.daemon.test_daemon_books import FAST_TRADING

BTC = {"BTCUSDT": load_instruments()["BTCUSDT"]}


def _same_from_every_checkpoint(journal_dir: Path, work: Path) -> list[str]:
    """Compare a start-up from each checkpoint of the journal (on copies) with the full
    replay's; the origins, newest checkpoint last."""
    now = int(time.time() * 1000)
    picture = {"now_ms": now, "prefixes": ("bfd",), "leverage": 20}
    full, origin = start_up_picture(journal_dir, BTC, checkpoints=False, **picture)
    assert origin == "replayed from the start of the journal"
    origins = []
    for cp in checkpoint_ids(journal_dir):
        copy = copy_up_to_checkpoint(journal_dir, work / f"at-{cp}", cp)
        restarted, origin = start_up_picture(copy, BTC, checkpoints=True, **picture)
        assert origin.startswith(f"from checkpoint {cp} "), origin
        assert restarted == full, f"the start-up from checkpoint {cp} differs"
        origins.append(origin)
    return origins


# ~36 s of daemon runs; bounded in CI by tests/book_keeper/test_checkpoint.py (a child killed
# with SIGKILL mid-journal) and test_checkpoint_equivalence.py.
@pytest.mark.slow
def test_a_killed_daemon_restarts_from_its_checkpoint_with_the_books_of_the_full_replay(tmp_path):
    config = {
        **FAST_TRADING,
        "execution": {
            **FAST_TRADING["execution"],
            "heartbeat_s": 0.5,  # more rows: a balance snapshot each
            "reconcile_interval_s": 5.0,
            "journal_checkpoint_records": 100,
        },
    }
    journal_dir = tmp_path / "journal"
    with exchange_process(speed=20) as ex:
        write_config(tmp_path, ex, **config)
        first = start_daemon(tmp_path)
        try:
            wait_for(
                lambda: (
                    journal_rows(tmp_path, "SELECT id FROM checkpoints")
                    and len(journal_rows(tmp_path, "SELECT trade_id FROM fills")) >= 2
                ),
                timeout_s=90,
                what="a checkpoint and two fills",
            )
            time.sleep(3)  # rows after the checkpoint, the last maybe not applied yet
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        # What the killed daemon left (its tail included), compared on a copy: the restart
        # below reads the journal as it was left.
        left = tmp_path / "left"
        shutil.copytree(journal_dir, left, ignore=shutil.ignore_patterns("market", "stream"))
        _same_from_every_checkpoint(left, tmp_path / "copies-left")

        second = start_daemon(tmp_path, "--duration", "8")
        _out, err = second.communicate(timeout=90)
        assert second.returncode == 0, err[-2000:]

    log = (tmp_path / "logs" / "trading_engine.log").read_text()
    new = "books: a new journal, nothing to restore"
    starts = [line for line in log.splitlines() if "books restored:" in line or new in line]
    assert len(starts) == 2, starts
    assert new in starts[0], starts[0]
    assert "(from checkpoint " in starts[1], starts[1]  # not the whole journal again
    # The restarted daemon checkpointed at its start (it replayed rows) and at its clean stop.
    origins = _same_from_every_checkpoint(journal_dir, tmp_path / "copies-end")
    assert len(origins) == 3
