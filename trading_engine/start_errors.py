"""The start-up's failures as one DaemonError line each (`app.py` prints it as `error: ...`,
without a traceback): the local exchange that did not start, a websocket URL refused, a
journal of a newer version, a strategy whose warm-up raised, the exchange refusing us or out
of reach."""

from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

from book_keeper.journal_errors import JournalTooNew
from core.errors import FatalError, RetryableError
from core.redaction import redact, shown_path
from gateway.user_stream import EndpointRefused
from gateway.venue_sync import AccountChanged, NotServedYet
from runtime.exchange_process import ExchangeStartError
from runtime.settings import Settings
from trading_engine.daemon_error import DaemonError, needs_the_user
from trading_engine.main_trading_strategy import StrategyError


@contextmanager
def start_failures_in_one_line(settings: Settings) -> Iterator[None]:
    """Translates what the start raises into a DaemonError naming what to check."""
    try:
        yield
    except DaemonError:
        raise
    except ExchangeStartError as exc:
        raise DaemonError(str(exc)) from None
    except EndpointRefused as exc:  # REST answered: the websocket URL is the wrong one
        if not settings.endpoints.ws_url:  # the mode's own (Binance's): not the user's to fix
            raise DaemonError(str(exc)) from None
        # The user's ws_url: a start a little later can only help if the endpoint may be
        # down for a moment (nothing listens there yet); no such host, TLS the wrong way
        # round or a 4xx answer fail the same way until the URL is changed.
        line = f"{exc}; check [endpoints] ws_url"
        raise (DaemonError(line) if exc.may_pass else needs_the_user(line)) from None
    except JournalTooNew as exc:  # a row of a newer version's, found by the restore
        raise needs_the_user(str(exc)) from None
    except StrategyError as exc:  # its warm-up raised: trading on unwarmed indicators is not
        # The strategy's own bug: a restart runs the same code on the same closed bars.
        raise needs_the_user(f"{exc}; the daemon does not start with it") from None
    except AccountChanged as exc:  # before FatalError: not a refusal, another account
        raise needs_the_user(account_changed_line(exc, settings)) from None
    except NotServedYet as exc:  # before RetryableError: reached, but asked too soon
        raise DaemonError(
            f"{exc} (it can take a moment): a start a minute later finds it there, or finds "
            "the account reset"
        ) from None
    except FatalError as exc:
        raise needs_the_user(f"the exchange refused us: {exc}") from None
    except (RetryableError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise DaemonError(f"cannot reach {endpoint_hint(settings)}: {exc}") from None


def account_changed_line(exc: AccountChanged, settings: Settings) -> str:
    """What was seen (`AccountChanged`) and what to do: the journal records another account."""
    return (
        f"the account at {endpoint_hint(settings)} is not the one the journal in "
        f"{shown_path(settings.journal_dir)} records: {exc}. Start with a new journal_dir (or "
        "move that journal away)"
    )


def endpoint_hint(settings: Settings) -> str:
    url = redact(settings.rest_url)  # a proxy's user:password@ is not shown
    return f"the exchange at {url}" if url else "the local exchange"
