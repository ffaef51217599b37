"""`python app.py` on a journal_dir a newer version of the daemon wrote: one line naming the
journal and both formats, exit 1, no traceback; nothing started or written when the format
mark says so, and a restore that finds a value this version does not know stops there
instead of skipping it (a wrong book)."""

import json
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from book_keeper.journal import SqliteJournal
from book_keeper.journal_files import FILE_NAME
from core.account import Position
from core.events import PositionChanged
from tests.book_keeper.support import BUY, T0, submitted
from tests.daemon.harness import ROOT, daemon_env, exchange_process, write_config

REFUSAL = "run that version, or start a new journal_dir"


def _run_app(workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--config", str(workdir / "config.toml")],
        cwd=workdir,
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _sql(journal_dir: Path, statement: str) -> list[tuple]:
    db = sqlite3.connect(journal_dir / FILE_NAME)
    try:
        rows = db.execute(statement).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def test_a_journal_marked_newer_stops_the_daemon_before_it_starts_anything(tmp_path):
    journal_dir = tmp_path / "journal"
    with SqliteJournal(journal_dir) as j:  # an unbound journal: an attached run continues it
        j.record(submitted("t-1", BUY, "0.010", "60000.0"))
    _sql(journal_dir, "UPDATE meta SET value = '3' WHERE key = 'schema_version'")

    with exchange_process(speed=1, admin=False) as ex:
        write_config(tmp_path, ex)
        result = _run_app(tmp_path)

    assert result.returncode == 2, result.stderr  # a restart would fail the same way
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: the journal in {journal_dir} (journal_dir) was written by a newer version of "
        f"this daemon (format 3, this build reads up to 2): {REFUSAL}"
    )
    assert "Traceback" not in result.stderr
    assert not (journal_dir / "status.json").exists()  # refused before the start was written
    assert _sql(journal_dir, "SELECT value FROM meta WHERE key = 'schema_version'") == [("3",)]
    assert _sql(journal_dir, "SELECT value FROM meta WHERE key = 'venue'") == []  # not bound


def test_a_value_the_restore_cannot_decode_stops_the_daemon_with_one_line(tmp_path):
    # Format 2 as marked, but a position event holds a position side this version lacks (a
    # newer version that did not raise the mark): skipped, the books would be wrong.
    journal_dir = tmp_path / "journal"
    position = Position(symbol="BTCUSDT", qty=Decimal("0.010"), entry_price=Decimal("60000.0"))
    with SqliteJournal(journal_dir) as j:
        j.record(
            PositionChanged(event_time_ms=T0, recv_time_ms=T0, position=position, reason="ORDER")
        )
    _sql(journal_dir, "UPDATE events SET payload = replace(payload, '\"BOTH\"', '\"MIDDLE\"')")

    with exchange_process(speed=1, admin=False) as ex:
        write_config(tmp_path, ex)
        result = _run_app(tmp_path)

    line = (
        f"the journal in {journal_dir} (journal_dir) was written by a newer version of this "
        f"daemon (it holds PositionSide 'MIDDLE', unknown to this build, which reads formats up "
        f"to 2): {REFUSAL}"
    )
    assert result.returncode == 2, result.stderr  # a restart would fail the same way
    assert result.stderr.strip().splitlines()[-1] == f"error: {line}"
    assert "Traceback" not in result.stderr
    status = json.loads((journal_dir / "status.json").read_text())  # --status says so
    assert (status["state"], status["exit_status"]) == ("stopped", 2)
    assert status["stop_reason"] == f"start failed: {line}"
