"""A failed start's exit status says whether starting again, unchanged, can succeed: 1 for
what may clear by itself (a supervisor restarts it), 2 for what needs the user (it must not:
each restart would fail the same way)."""

import errno

import pytest

from book_keeper.journal_errors import JournalTooNew
from core.errors import FatalError, RetryableError
from gateway.user_stream import EndpointRefused
from runtime.exchange_process import ExchangeStartError
from runtime.settings import EndpointSettings, Settings
from trading_engine.daemon_error import DaemonError, StartFailure, needs_the_user
from trading_engine.journal_dir import dir_refused
from trading_engine.main_trading_strategy import StrategyError
from trading_engine.start_errors import start_failures_in_one_line

MAY_CLEAR, NEEDS_THE_USER = StartFailure.MAY_CLEAR, StartFailure.NEEDS_THE_USER


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (FatalError("HTTP 401, -2015: Invalid API-key, IP, or permissions"), NEEDS_THE_USER),
        (JournalTooNew("the journal in ./journal was written by a newer version"), NEEDS_THE_USER),
        (RetryableError("HTTP 503"), MAY_CLEAR),
        (ConnectionRefusedError(111, "Connection refused"), MAY_CLEAR),
        (TimeoutError(), MAY_CLEAR),
        (EndpointRefused("the user data stream cannot connect", may_pass=True), MAY_CLEAR),
        # Binance's own URL (no [endpoints] ws_url): not the user's to fix, whatever it says
        (EndpointRefused("the user data stream cannot connect", may_pass=False), MAY_CLEAR),
        (ExchangeStartError("port 8080 is in use"), MAY_CLEAR),
        # the strategy's own bug: a restart runs the same code on the same closed bars
        (StrategyError("strategy x: warm(1500 bars) raised ValueError"), NEEDS_THE_USER),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v.name,
)
def test_each_start_failure_says_whether_a_restart_can_help(
    error: Exception, failure: StartFailure
) -> None:
    with pytest.raises(DaemonError) as raised, start_failures_in_one_line(Settings()):
        raise error
    assert raised.value.failure is failure


def test_the_exit_statuses_are_1_and_2() -> None:
    assert (int(MAY_CLEAR), int(NEEDS_THE_USER)) == (1, 2)


def test_a_refusal_raised_inside_keeps_its_kind() -> None:
    """The account checks raise their own refusals (Hedge Mode, a symbol not listed) inside
    the translation, which passes them on as they are."""
    with pytest.raises(DaemonError) as raised, start_failures_in_one_line(Settings()):
        raise needs_the_user("the account is in Hedge Mode")
    assert (str(raised.value), raised.value.failure) == (
        "the account is in Hedge Mode",
        NEEDS_THE_USER,
    )
    assert DaemonError("cannot reach the exchange").failure is MAY_CLEAR


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), NEEDS_THE_USER),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory"), NEEDS_THE_USER),
        (OSError(errno.EROFS, "Read-only file system"), NEEDS_THE_USER),
        (OSError(errno.ENOSPC, "No space left on device"), MAY_CLEAR),
        (OSError(errno.EIO, "Input/output error"), MAY_CLEAR),
    ],
    ids=lambda v: errno.errorcode[v.errno] if isinstance(v, OSError) else v.name,
)
def test_a_journal_dir_the_os_refuses_is_retried_only_when_it_may_clear(
    error: OSError, failure: StartFailure
) -> None:
    """journal_dir's permissions or shape stay as they are until the user changes them; a
    full disk or an I/O error may clear by itself (a supervisor tries again)."""
    refused = dir_refused("./journal", error, "the last run's: ")
    assert refused.failure is failure
    assert str(refused).endswith(f"the last run's: {error.strerror}")


ATTACHED = Settings(
    endpoints=EndpointSettings(rest_url="http://127.0.0.1:8080", ws_url="ws://127.0.0.1:8081")
)


@pytest.mark.parametrize(
    ("said", "may_pass", "failure"),
    [
        ("connection refused (nothing listens at that host and port)", True, MAY_CLEAR),
        ("no such host (Name or service not known)", False, NEEDS_THE_USER),
        ("answered HTTP 404 instead of a websocket (a wrong path or host?)", False, NEEDS_THE_USER),
    ],
    ids=["nothing_listens", "no_such_host", "http_404"],
)
def test_a_ws_url_of_ones_own_that_is_refused_needs_the_user_unless_it_may_pass(
    said: str, may_pass: bool, failure: StartFailure
) -> None:
    """REST answered and the user's own `[endpoints] ws_url` is refused: a name that does not
    exist, TLS the wrong way round or a 4xx answer fail the same way until the URL is
    changed (exit 2); nothing listening at that port may be the endpoint restarting (1)."""
    refused = EndpointRefused(
        f"the user data stream at ws://127.0.0.1:8081 cannot connect: {said} (3 attempts)",
        may_pass=may_pass,
    )
    with pytest.raises(DaemonError) as raised, start_failures_in_one_line(ATTACHED):
        raise refused
    assert raised.value.failure is failure
    assert str(raised.value) == f"{refused}; check [endpoints] ws_url"
