"""The folder of a backtest's SQLite journal: marked as a backtest's, so that a rerun replaces
it, and a daemon's journal is never written into nor removed."""

from pathlib import Path

from backtest.output_files import OUTPUT_FILES, is_report_folder
from book_keeper.journal_files import FILE_NAME as JOURNAL_FILE
from book_keeper.journal_files import WAL_SUFFIX, journal_in_use

BACKTEST_MARK = "written-by-backtest"  # in a journal folder a backtest wrote
# The files of a backtest's journal folder: the mark, SQLite's file, our write-ahead log, the
# writer lock, SQLite's own WAL and shared memory (as `fresh_backtest_journal` removes them).
_JOURNAL_FILES = frozenset(
    {
        BACKTEST_MARK,
        JOURNAL_FILE,
        JOURNAL_FILE.rsplit(".", 1)[0] + WAL_SUFFIX,
        f"{JOURNAL_FILE}.lock",
        f"{JOURNAL_FILE}-wal",
        f"{JOURNAL_FILE}-shm",
    }
)


def journal_folder_problem(folder: Path) -> str | None:
    """Why `folder` cannot take a backtest's journal (to follow its path), else None: it is
    new, empty, or an earlier backtest's. A journal no backtest wrote (a daemon's) would get
    this run's records mixed into it; any other file is the user's, which a journal folder
    a rerun replaces is no place for (the first such file by name is named). An earlier
    backtest's journal folder that is also its --out (`--out X --journal X`) holds its report
    too: the backtester's own files (a rerun of that command was refused, "holds equity.csv")."""
    if not folder.is_dir():
        return None
    names = sorted(p.name for p in folder.iterdir())
    if JOURNAL_FILE in names and BACKTEST_MARK not in names:
        return (
            "holds a journal that no backtest wrote (a daemon's?): give a new folder (a "
            "backtest neither writes into nor removes such a journal)"
        )
    mine = _JOURNAL_FILES if BACKTEST_MARK in names else frozenset()
    if mine and is_report_folder(folder):
        mine = mine.union(OUTPUT_FILES)
    other = next((name for name in names if name not in mine), None)
    if other is None:
        return None
    return (
        f"holds {other}, which is not a backtest journal's: give a new or empty folder, or one "
        "an earlier backtest wrote its journal into"
    )


def fresh_backtest_journal(folder: Path) -> None:
    """Make `folder` ready for a backtest's SQLite journal: an earlier backtest's journal there
    (it carries BACKTEST_MARK) is removed, so a rerun of the same command starts afresh; any
    other journal (a daemon's), or a folder of other files, is refused with ValueError
    (`journal_folder_problem`), never written into nor removed."""
    if (problem := journal_folder_problem(folder)) is not None:
        raise ValueError(f"{folder} {problem}")
    folder.mkdir(parents=True, exist_ok=True)
    mark = folder / BACKTEST_MARK
    db = folder / JOURNAL_FILE
    if db.exists():
        if journal_in_use(folder):
            raise ValueError(f"{folder}: another run is writing its journal there")
        wal = db.with_name(db.name.rsplit(".", 1)[0] + WAL_SUFFIX)  # as SqliteJournal names it
        for path in (db, wal, Path(f"{db}.lock"), Path(f"{db}-wal"), Path(f"{db}-shm")):
            path.unlink(missing_ok=True)
    mark.write_text("a backtest's journal: the next backtest into this folder replaces it\n")
