"""The run's journal directory: claimed before anything starts (its lock, the venue it is
bound to), an earlier local run's journal moved to `earlier/` (the oldest of those pruned) only
as this run's journal is opened in it; a refusal is one DaemonError line naming the directory."""

import errno
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from book_keeper.journal import SqliteJournal, Synchronous
from book_keeper.journal_errors import JournalError, JournalTooNew, journal_dir_refusal
from book_keeper.journal_files import JournalLock, journal_in_use, journal_venue
from book_keeper.journal_format import check_readable
from core.redaction import shown_path, url_without_userinfo
from runtime.retention import keep_newest
from runtime.settings import Settings
from trading_engine.daemon_error import DaemonError, StartFailure, needs_the_user

log = logging.getLogger("daemon")

EARLIER_RUNS = "earlier"  # <journal_dir>/earlier/<UTC time>/: journals of earlier local runs
# What a run leaves in journal_dir about its account (status.json stays: it is the daemon's).
_RUN_FILES = (
    "journal.sqlite3",
    "journal.sqlite3-wal",
    "journal.sqlite3-shm",
    "journal.wal",
    "stream",
    "market",
    "features.csv",
    "features.csv.1",
    "summary.json",
)


LOCAL_VENUE = "local exchange (embedded)"  # the venue of `python app.py` without endpoints


def venue_of(settings: Settings) -> str:
    """The exchange this run trades, as journals are bound to it: the REST URL without its
    userinfo (a proxy's `user:password@`: a secret, and not what names the exchange), or
    LOCAL_VENUE for the embedded local exchange (a new one, on a new port, each run)."""
    return bound_form(settings.rest_url) if settings.attaches else LOCAL_VENUE


# A URL's port that its scheme implies: `https://host:443` names `https://host`.
_DEFAULT_PORTS = {"http": 80, "https": 443}


def bound_form(venue: str) -> str:
    """A venue as a journal is bound to it: an earlier version stored the REST URL as given,
    userinfo included, which names the same exchange as the URL without it. Scheme and host
    are case-insensitive (RFC 3986 6.2.2.1) and a scheme's default port is implied:
    `HTTP://127.0.0.1:18080` was refused as another exchange than `http://127.0.0.1:18080`."""
    url = url_without_userinfo(venue).rstrip("/")
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return url  # LOCAL_VENUE, or no URL: as it is
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return url  # not a port: the settings refuse such a URL before this is asked
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


def moves_last_run(journal_dir: Path, venue: str) -> bool:
    """Whether this run starts a journal of its own in `journal_dir`, the one there (if any)
    moved to `earlier/` once the start opens the new one (`archive_earlier_run`): a start that
    fails before (a busy port, an exchange that refuses the keys) leaves it where it was.

    A journal belongs to one exchange account: restored into another, its books, drawdown
    peak and daily loss would be that account's (a demo's 10,000 USDT restored into a 500 USDT
    account halted it at once, "lost 9500 USDT today").

    - the embedded local exchange's journal (a demo account that ended with its exchange) is
      moved by any run, and so is an unbound one (made before journals were bound) by a local
      run;
    - another exchange's journal is refused with a DaemonError (one line; nothing is moved);
    - this exchange's, or an unbound one when attaching, stays: this run continues it."""
    bound = journal_venue(journal_dir)
    if bound is not None:
        bound = bound_form(bound)
    if venue != LOCAL_VENUE and bound in (None, venue):
        return False
    if bound not in (None, LOCAL_VENUE):
        here = "the local exchange" if venue == LOCAL_VENUE else venue
        raise needs_the_user(
            f"journal_dir {shown_path(journal_dir)} holds the journal of {bound}, and this run "
            f"trades {here}: a journal belongs to one exchange account. Give this run its own "
            "journal_dir (or move that journal away to start afresh)"
        )
    return True


def earlier_runs(journal_dir: Path) -> list[Path]:
    """The archived runs in `<journal_dir>/earlier/`, oldest first (by their UTC stamp, then
    the `-n` of a second run in the same second)."""
    folder = journal_dir / EARLIER_RUNS
    if not folder.is_dir():
        return []

    def when(path: Path) -> tuple[str, int]:
        stamp, _, n = path.name.partition("Z-")
        return stamp.rstrip("Z"), int(n) if n.isdigit() else 1

    return sorted((p for p in folder.iterdir() if p.is_dir()), key=when)


def archive_earlier_run(journal_dir: Path, now_ms: int, *, held: bool = False) -> Path | None:
    """Move an earlier run's journal to `<journal_dir>/earlier/<UTC time>/`; its folder, or
    None when there is none (or a running daemon holds it: its open says so, in one line;
    `held`: this process holds the journal's lock, so no other does)."""
    if (
        not (journal_dir / "journal.sqlite3").exists()
        and not (journal_dir / "journal.wal").exists()
    ):
        return None
    if not held and journal_in_use(journal_dir):
        return None
    stamp = datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%Y%m%d-%H%M%SZ")
    target = journal_dir / EARLIER_RUNS / stamp
    n = 1
    while target.exists():  # two runs in one second
        n += 1
        target = journal_dir / EARLIER_RUNS / f"{stamp}-{n}"
    target.mkdir(parents=True)
    for name in _RUN_FILES:
        if (journal_dir / name).exists():
            os.replace(journal_dir / name, target / name)
    return target


def lock_journal_dir(journal_dir: str | Path) -> JournalLock:
    """The journal's lock, taken before anything is started (the journal takes it over when
    it opens): a second daemon started with this one is refused here, before it starts an
    exchange, touches the venue or writes status.json, not at the journal's opening."""
    try:
        return JournalLock(journal_dir)
    except JournalError:
        raise DaemonError(
            f"the journal in {shown_path(journal_dir)} (journal_dir) is in use by another "
            "process (a daemon running? `python app.py --status`)"
        ) from None
    except OSError as exc:
        raise dir_refused(journal_dir, exc) from None


# OS errors a restart would meet again: the folder's permissions or shape are the user's to fix
# (a disk full, an I/O error may clear: a supervisor tries again).
_LASTING_ERRNOS = frozenset(
    {errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.EROFS, errno.ENOENT}
)


def dir_refused(journal_dir: str | Path, exc: OSError, prefix: str = "") -> DaemonError:
    """`journal_dir_refusal` of an OS error, its exit status by whether it lasts."""
    reason = exc.strerror or exc
    failure = (
        StartFailure.NEEDS_THE_USER if exc.errno in _LASTING_ERRNOS else StartFailure.MAY_CLEAR
    )
    return DaemonError(journal_dir_refusal(journal_dir, f"{prefix}{reason}"), failure=failure)


def check_claim(journal_dir: str | Path, venue: str) -> bool:
    """`moves_last_run` before anything is started, its failure the user's directory's, not
    the exchange's: whether this run starts a journal of its own (`archive_for_run` then)."""
    try:
        return moves_last_run(Path(journal_dir), venue)
    except OSError as exc:
        raise dir_refused(journal_dir, exc, "the last run's: ") from None


def archive_for_run(journal_dir: str | Path, now_ms: int) -> Path | None:
    """`archive_earlier_run` under this process's lock, as the start opens this run's
    journal; its failure the user's directory's. The folder the last run's journal was moved
    to, if any."""
    try:
        return archive_earlier_run(Path(journal_dir), now_ms, held=True)
    except OSError as exc:
        raise dir_refused(journal_dir, exc, "the last run's: ") from None


def refuse_newer(journal_dir: str | Path) -> None:
    """A journal a newer version wrote: refused in one line before anything is started."""
    try:
        check_readable(journal_dir)
    except JournalTooNew as exc:
        raise needs_the_user(str(exc)) from None


def prune_earlier_runs(journal_dir: str | Path, keep: int) -> None:
    """`[retention] earlier_runs`: the oldest archived runs go."""
    dropped = keep_newest(earlier_runs(Path(journal_dir)), keep)
    if dropped:
        log.info(
            "retention.earlier_runs = %d: deleted %d older run(s) from %s",
            keep,
            len(dropped),
            Path(journal_dir) / EARLIER_RUNS,
        )


# Free space the daemon wants under journal_dir before it opens the journal: SQLite's own
# -wal (checkpointed every ~4 MB), the books' checkpoints, the logs and the market recording.
# The journal's log reserves its own 2 MiB ahead, so it could start and trade on a full disk
# until SQLite or the logs failed; a daemon (re)started there is refused in one line instead.
MIN_FREE_BYTES = 8 << 20


def free_bytes(journal_dir: Path) -> int | None:
    """Bytes free to this user on the file system of `journal_dir` (None: not known)."""
    try:
        st = os.statvfs(journal_dir)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def open_journal(
    journal_dir: Path, synchronous: Synchronous, lock: JournalLock | None
) -> SqliteJournal:
    """The journal, applied to its tables by the daemon's loop between market-data items, not
    by a thread that would compete with the order path for the GIL (book_keeper.journal); a
    failure to open it is the user's directory's, in one line, as is a disk too full to
    journal on (`MIN_FREE_BYTES`)."""
    free = free_bytes(journal_dir)
    if free is not None and free < MIN_FREE_BYTES:
        raise DaemonError(
            journal_dir_refusal(
                journal_dir,
                f"the disk is full: {free / 2**20:.1f} MiB free, the daemon needs "
                f"{MIN_FREE_BYTES >> 20} MiB to journal and log safely",
            )
        )
    try:
        return SqliteJournal(journal_dir, synchronous=synchronous, writer_thread=False, lock=lock)
    except JournalTooNew as exc:  # its one line says which journal_dir
        raise needs_the_user(str(exc)) from None
    except OSError as exc:  # the user's directory, not the exchange
        raise dir_refused(journal_dir, exc) from None
    except JournalError as exc:
        raise DaemonError(journal_dir_refusal(journal_dir, exc)) from None
