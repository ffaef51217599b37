"""The commands that read a journal, on one a newer version of the daemon wrote: `--status`, the
CSV export and the parity audit each end with one line naming the journal, exit 2, no
traceback (the daemon itself: tests/daemon/test_daemon_newer_journal.py)."""

import sqlite3
import subprocess
import sys
from pathlib import Path

from book_keeper.journal import SqliteJournal
from book_keeper.journal_files import FILE_NAME
from tests.book_keeper.support import BUY, submitted
from tests.runtime.test_app_cli import run_app

ROOT = Path(__file__).resolve().parents[2]
REFUSAL = "run that version, or start a new journal_dir"


def _journal(journal_dir: Path, *statements: str) -> None:
    """A journal with one open order, then `statements` run on it as the sqlite3 CLI would."""
    with SqliteJournal(journal_dir) as j:
        j.record(submitted("t-1", BUY, "0.010", "60000.0"))
    db = sqlite3.connect(journal_dir / FILE_NAME)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


MARKED_3 = "UPDATE meta SET value = '3' WHERE key = 'schema_version'"
HEDGE = "UPDATE orders SET intent = 'HEDGE'"


def _newer(journal_dir: str | Path) -> str:
    return (
        f"the journal in {journal_dir} (journal_dir) was written by a newer version of this "
        f"daemon (format 3, this build reads up to 2): {REFUSAL}"
    )


def _holding_hedge(journal_dir: str | Path) -> str:
    return (
        f"the journal in {journal_dir} (journal_dir) was written by a newer version of this "
        f"daemon (it holds orders.intent 'HEDGE', unknown to this build, which reads formats "
        f"up to 2): {REFUSAL}"
    )


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_status_of_a_journal_marked_newer_exits_2_with_one_line(tmp_path):
    _journal(tmp_path / "journal", MARKED_3)

    result = run_app("--status", cwd=tmp_path)

    assert result.returncode == 2, result.stdout + result.stderr
    # the default journal_dir, relative: "./journal", not "journal journal was written"
    assert result.stderr.splitlines() == [f"error: {_newer('./journal')}"]
    assert result.stdout == ""


def test_status_reads_the_mark_only_not_the_rows(tmp_path):
    # An unknown value in a row is what the daemon and the readers of rows refuse; --status
    # reads status.json, which this journal_dir has not (never run): it says so.
    _journal(tmp_path / "journal", HEDGE)

    result = run_app("--status", cwd=tmp_path)

    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "daemon: never run with journal_dir = journal (no ./journal/status.json)"
    ]


def test_csv_export_of_a_journal_marked_newer_exits_2_with_one_line(tmp_path):
    _journal(tmp_path / "journal", MARKED_3)
    journal, out = str(tmp_path / "journal"), str(tmp_path / "out")

    result = _run("-m", "book_keeper.export", "--journal", journal, "--out", out, cwd=ROOT)

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"book_keeper.export: error: {_newer(tmp_path / 'journal')}"
    ]
    assert not (tmp_path / "out").exists()


def test_csv_export_copies_a_value_it_does_not_know_as_stored(tmp_path):
    # The export decodes nothing: an intent a newer version wrote is written out as it is.
    _journal(tmp_path / "journal", HEDGE)
    journal, out = str(tmp_path / "journal"), str(tmp_path / "out")

    result = _run("-m", "book_keeper.export", "--journal", journal, "--out", out, cwd=ROOT)

    assert result.returncode == 0, result.stderr
    header, row = (tmp_path / "out" / "orders.csv").read_text().splitlines()[:2]
    assert dict(zip(header.split(","), row.split(","), strict=True))["intent"] == "HEDGE"


def test_parity_audit_of_a_journal_a_newer_version_wrote_exits_2_with_one_line(tmp_path):
    _journal(tmp_path / "marked", MARKED_3)
    _journal(tmp_path / "hedge", HEDGE)
    audit = str(ROOT / "backtest_trading_strategy.py"), "--replay-journal"

    marked = _run(*audit, str(tmp_path / "marked"), cwd=tmp_path)
    hedge = _run(*audit, str(tmp_path / "hedge"), cwd=tmp_path)

    assert (marked.returncode, hedge.returncode) == (2, 2), marked.stderr + hedge.stderr
    said = "backtest_trading_strategy.py: error: "  # as the command's other errors
    assert marked.stderr.splitlines() == [said + _newer(tmp_path / "marked")]
    assert hedge.stderr.splitlines() == [said + _holding_hedge(tmp_path / "hedge")]
