"""Where a journal's files are (the SQLite file, its write-ahead log `journal.wal`, the writer
lock), the lock of its one writer, and what a command learns of a journal without opening it
for writing (is a daemon writing it? which venue is it bound to?)."""

import fcntl
import os
import sqlite3
from pathlib import Path

from book_keeper.journal_errors import JournalError
from book_keeper.journal_schema import VENUE_KEY
from core.redaction import shown_path

FILE_NAME = "journal.sqlite3"
WAL_SUFFIX = ".wal"  # journal.sqlite3 -> journal.wal, next to it


def journal_in_use(path: str | os.PathLike[str]) -> bool:
    """Whether a process (a running daemon) holds the writer lock of the journal at `path`
    (a journal directory or file). The OS drops the lock when that process dies."""
    try:
        fd = os.open(lock_file(path), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases a shared lock taken above
    return False


class JournalLock:
    """The exclusive writer lock of a journal (`<journal file>.lock`, flock), taken before a
    daemon does anything else with its journal_dir and handed on to the `SqliteJournal` that
    opens the journal: two daemons started together on one journal_dir both found it free
    when they looked and the second was refused only at the journal's opening, seconds later,
    after it had started an exchange, set the leverage and overwritten the first one's
    status.json. The OS drops the lock when the process dies (`kill -9`): the file left
    behind blocks no restart."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Take the lock of the journal at `path` (a directory or the file); JournalError when
        another process holds it."""
        self.path = journal_file(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalError(
                f"the journal {shown_path(self.path)} is in use by another process"
            ) from None
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def take(self) -> int:
        """The locked descriptor, handed over (its closing releases the lock)."""
        fd = self._fd
        if fd is None:
            raise JournalError(f"the lock of the journal {shown_path(self.path)} was released")
        self._fd = None
        return fd

    def release(self) -> None:
        """Release the lock unless it was handed over (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def journal_venue(path: str | os.PathLike[str]) -> str | None:
    """The venue the journal at `path` (a directory or the file) is bound to, read without
    opening it for writing; None without a journal, without a binding (a journal made before
    journals were bound) or when it cannot be read (opening it says why)."""
    file = journal_file(path)
    if not file.is_file():
        return None
    try:
        db = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (VENUE_KEY,)).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def writer_files(path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The files the journal's writer opens for writing (the SQLite file, its own -wal and
    -shm, the lock, and our `journal.wal`): each must be writable by the user running it."""
    db = journal_file(path)
    wal = db.with_name(db.name.rsplit(".", 1)[0] + WAL_SUFFIX)
    sqlite_side = (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))
    return (db, *sqlite_side, lock_file(path), wal)


def lock_file(path: str | os.PathLike[str]) -> Path:
    """The writer-lock file of the journal at `path` (a directory or the file)."""
    return Path(f"{journal_file(path)}.lock")


def journal_file(path: str | os.PathLike[str]) -> Path:
    """The journal file for a journal directory (or a path that already names the file)."""
    p = Path(path)
    if p.suffix in (".sqlite3", ".sqlite", ".db") or p.is_file():
        return p
    return p / FILE_NAME
