"""The folder of a backtest's SQLite journal: marked as a backtest's, so that a rerun replaces
it, and a daemon's journal is never written into nor removed."""

from pathlib import Path

from book_keeper.journal_files import FILE_NAME as JOURNAL_FILE
from book_keeper.journal_files import WAL_SUFFIX, journal_in_use

BACKTEST_MARK = "written-by-backtest"  # in a journal folder a backtest wrote


def fresh_backtest_journal(folder: Path) -> None:
    """Make `folder` ready for a backtest's SQLite journal: an earlier backtest's journal there
    (it carries BACKTEST_MARK) is removed, so a rerun of the same command starts afresh; any
    other journal (a daemon's) is refused with ValueError, never written into nor removed."""
    folder.mkdir(parents=True, exist_ok=True)
    mark = folder / BACKTEST_MARK
    db = folder / JOURNAL_FILE
    if db.exists():
        if not mark.exists():
            raise ValueError(
                f"{folder} holds a journal that no backtest wrote (a daemon's?): give a new "
                "folder (a backtest neither writes into nor removes such a journal)"
            )
        if journal_in_use(folder):
            raise ValueError(f"{folder}: another run is writing its journal there")
        wal = db.with_name(db.name.rsplit(".", 1)[0] + WAL_SUFFIX)  # as SqliteJournal names it
        for path in (db, wal, Path(f"{db}.lock"), Path(f"{db}-wal"), Path(f"{db}-shm")):
            path.unlink(missing_ok=True)
    mark.write_text("a backtest's journal: the next backtest into this folder replaces it\n")
