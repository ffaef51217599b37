"""The one exception the daemon ends on for a problem the user can fix: its own module, so
that the start-up checks, the journal directory's claim and the daemon raise the same one
without importing each other."""

import enum


class StartFailure(enum.IntEnum):
    """A failed start's exit status: whether starting again, unchanged, can succeed. A
    supervisor restarts the first kind and not the second (systemd's `Restart=on-failure`
    with `RestartPreventExitStatus=2`, deploy/binance-futures-daemon.service)."""

    MAY_CLEAR = 1  # the exchange unreachable, the journal in use, the disk full
    # keys, settings (a ws_url refused for good), the account's modes, the journal_dir's
    # contents, the strategy's own code (its warm-up raising)
    NEEDS_THE_USER = 2


class DaemonError(Exception):
    """A problem the user can fix (bad key, unreachable venue, unknown symbol): one line."""

    def __init__(self, message: str, *, failure: StartFailure = StartFailure.MAY_CLEAR) -> None:
        super().__init__(message)
        self.failure = failure


def needs_the_user(message: str) -> DaemonError:
    """A start that would fail the same way until the user changes something."""
    return DaemonError(message, failure=StartFailure.NEEDS_THE_USER)
