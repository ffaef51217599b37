"""A journal belongs to one exchange account. Restored into another, its books, drawdown peak
and daily loss were that account's: the demo's journal (10,000 USDT) restored into an attached
500 USDT account halted the daemon at its first tick ("max daily loss: lost 9500 USDT today")."""

import io
import sqlite3
from pathlib import Path

import pytest

from book_keeper.journal import SqliteJournal
from book_keeper.journal_files import journal_venue
from runtime.settings import load_settings
from tests.book_keeper.support import BUY, submitted
from trading_engine.daemon import Daemon
from trading_engine.daemon_error import DaemonError
from trading_engine.journal_dir import (
    EARLIER_RUNS,
    LOCAL_VENUE,
    archive_earlier_run,
    moves_last_run,
    venue_of,
)

T = 1_796_000_000_000  # 20,787 days + 3,200 s: 2026-11-30T00:53:20Z
TESTNET = "https://testnet.binancefuture.com"
OTHER = "http://127.0.0.1:18765"


def claim_journal_dir(journal_dir: Path, venue: str, now_ms: int) -> Path | None:
    """The daemon's claim in one step (`Daemon._claim_journal_dir` checks at once and moves
    the last run's journal once the new one opens): the folder it was moved to, if it was."""
    if not moves_last_run(journal_dir, venue):
        return None
    return archive_earlier_run(journal_dir, now_ms)


def _journal(directory: Path, venue: str | None) -> None:
    """A journal with one order in it, bound to `venue` (None: made before the binding)."""
    with SqliteJournal(directory, writer_thread=False) as journal:
        journal.record(submitted("t-1", BUY, "0.001", "60000.0"))
        if venue is not None:
            journal.bind_venue(venue)


def test_a_journal_keeps_the_venue_it_is_bound_to(tmp_path):
    assert journal_venue(tmp_path) is None  # no journal
    _journal(tmp_path, None)
    assert journal_venue(tmp_path) is None  # unbound
    with SqliteJournal(tmp_path, writer_thread=False) as journal:
        assert journal.venue is None
        journal.bind_venue(TESTNET)
    assert journal_venue(tmp_path) == journal_venue(tmp_path / "journal.sqlite3") == TESTNET
    with SqliteJournal(tmp_path, readonly=True) as journal:
        assert journal.venue == TESTNET


def test_the_venue_is_the_rest_url_or_the_embedded_local_exchange():
    local = load_settings(None, env_file=None)
    assert venue_of(local) == LOCAL_VENUE
    attached = load_settings(
        None,
        env_file=None,
        overrides={"endpoints": {"rest_url": OTHER + "/", "ws_url": "ws://127.0.0.1:18765"}},
        needs_keys=False,
    )
    assert venue_of(attached) == OTHER


def test_the_venue_of_a_url_with_a_password_is_the_url_without_it():
    """`user:password@` (a proxy's) is a secret, and not what names the exchange: a journal
    is bound to the URL without it, so a new password keeps the same journal."""
    proxied = load_settings(
        None,
        env_file=None,
        overrides={
            "endpoints": {
                "rest_url": "http://trader:s3cret@127.0.0.1:18765/",
                "ws_url": "ws://trader:s3cret@127.0.0.1:18765",
            }
        },
        needs_keys=False,
    )
    assert venue_of(proxied) == OTHER


@pytest.mark.parametrize(
    "written",
    ["HTTP://127.0.0.1:18765", "http://127.0.0.1:18765/", "https://Testnet.Binancefuture.com:443"],
)
def test_a_journal_is_continued_by_the_same_url_written_otherwise(tmp_path, written):
    """Scheme and host are case-insensitive and a scheme's default port is implied:
    `HTTP://127.0.0.1:18765` was refused as another exchange than `http://127.0.0.1:18765`."""
    venue = OTHER if written.startswith(("HTTP:", "http:")) else TESTNET
    _journal(tmp_path, venue)
    attached = load_settings(
        None,
        env_file=None,
        overrides={"endpoints": {"rest_url": written, "ws_url": "ws://127.0.0.1:18765"}},
        needs_keys=False,
    )

    assert venue_of(attached) == venue
    assert claim_journal_dir(tmp_path, venue_of(attached), T) is None


def test_a_journal_bound_with_a_password_in_its_url_is_continued_by_that_endpoint(tmp_path):
    # An earlier version bound the journal to the REST URL as given, password included.
    _journal(tmp_path, "http://trader:0ld-pw@127.0.0.1:18765")

    assert claim_journal_dir(tmp_path, OTHER, T) is None
    assert not (tmp_path / EARLIER_RUNS).exists()


def test_another_exchange_bound_with_a_password_is_refused_without_showing_it(tmp_path):
    _journal(tmp_path, "https://trader:0ld-pw@proxy.example:8443")

    with pytest.raises(DaemonError) as refused:
        claim_journal_dir(tmp_path, OTHER, T)

    assert "holds the journal of https://proxy.example:8443, and this run" in str(refused.value)
    assert "0ld-pw" not in str(refused.value)


def test_a_demo_journal_is_moved_away_by_a_run_on_another_exchange(tmp_path):
    _journal(tmp_path, LOCAL_VENUE)

    moved = claim_journal_dir(tmp_path, OTHER, T)

    assert moved == tmp_path / EARLIER_RUNS / "20261130-005320Z"
    assert (moved / "journal.sqlite3").is_file()
    assert not (tmp_path / "journal.sqlite3").exists()


@pytest.mark.parametrize("bound", [None, LOCAL_VENUE])
def test_a_local_run_moves_a_demo_or_unbound_journal_away(tmp_path, bound):
    _journal(tmp_path, bound)

    moved = claim_journal_dir(tmp_path, LOCAL_VENUE, T)

    assert moved is not None and (moved / "journal.sqlite3").is_file()


@pytest.mark.parametrize("bound", [None, OTHER])
def test_an_attached_run_continues_its_own_or_an_unbound_journal(tmp_path, bound):
    _journal(tmp_path, bound)

    assert claim_journal_dir(tmp_path, OTHER, T) is None
    assert (tmp_path / "journal.sqlite3").is_file()
    assert not (tmp_path / EARLIER_RUNS).exists()


@pytest.mark.parametrize("venue", [OTHER, LOCAL_VENUE])
def test_another_exchanges_journal_is_refused_and_left_where_it_is(tmp_path, venue):
    _journal(tmp_path, TESTNET)

    with pytest.raises(DaemonError) as refused:
        claim_journal_dir(tmp_path, venue, T)

    here = OTHER if venue == OTHER else "the local exchange"
    assert str(refused.value) == (
        f"journal_dir {tmp_path} holds the journal of {TESTNET}, and this run trades "
        f"{here}: a journal belongs to one exchange account. Give this run its own journal_dir "
        "(or move that journal away to start afresh)"
    )
    assert journal_venue(tmp_path) == TESTNET
    assert not (tmp_path / EARLIER_RUNS).exists()


def test_the_daemon_says_where_the_demo_journal_went(tmp_path):
    _journal(tmp_path, LOCAL_VENUE)
    settings = load_settings(None, env_file=None, overrides={"journal_dir": str(tmp_path)})
    out = io.StringIO()

    daemon = Daemon(settings, out=out)
    daemon._claim_journal_dir(OTHER)
    assert not (tmp_path / EARLIER_RUNS).exists()  # not before this run opens its own
    daemon._archive_last_run(OTHER)

    (moved,) = (tmp_path / EARLIER_RUNS).iterdir()
    assert out.getvalue() == (
        "the journal in journal_dir was a local demo run's (the embedded exchange's account, "
        f"not this one): moved to {moved}\n"
    )


def _marked_newer(directory: Path) -> None:
    """The journal in `directory` as a version writing format 3 would mark it."""
    db = sqlite3.connect(directory / "journal.sqlite3")
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    db.commit()
    db.close()


def test_a_run_that_would_continue_a_newer_versions_journal_refuses_it(tmp_path):
    _journal(tmp_path, OTHER)
    _marked_newer(tmp_path)
    settings = load_settings(None, env_file=None, overrides={"journal_dir": str(tmp_path)})

    with pytest.raises(DaemonError) as refused:
        Daemon(settings, out=io.StringIO())._claim_journal_dir(OTHER)

    assert str(refused.value) == (
        f"the journal in {tmp_path} (journal_dir) was written by a newer version of this daemon "
        "(format 3, this build reads up to 2): run that version, or start a new journal_dir"
    )
    assert (tmp_path / "journal.sqlite3").is_file() and not (tmp_path / EARLIER_RUNS).exists()


def test_a_local_run_moves_a_newer_versions_journal_away_without_reading_it(tmp_path):
    _journal(tmp_path, LOCAL_VENUE)
    _marked_newer(tmp_path)
    settings = load_settings(None, env_file=None, overrides={"journal_dir": str(tmp_path)})

    daemon = Daemon(settings, out=io.StringIO())
    daemon._claim_journal_dir(LOCAL_VENUE)
    daemon._archive_last_run(LOCAL_VENUE)

    (moved,) = (tmp_path / EARLIER_RUNS).iterdir()
    assert (moved / "journal.sqlite3").is_file()  # this run starts a journal of its own
    assert not (tmp_path / "journal.sqlite3").exists()
