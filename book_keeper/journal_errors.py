"""The journal's errors, and the one-line refusals of a journal that cannot be used (written by
a newer version, locked by another process, unreadable): the daemon and the offline tools say
them as they are, without a traceback."""

import os

from core.errors import FatalError
from core.redaction import shown_path


class JournalError(FatalError):
    """The journal cannot be opened or written: stop trading (nothing may happen unjournaled)."""


class JournalTooNew(JournalError):
    """The journal was written by a newer version of the daemon (its format mark is newer than
    FORMAT, or it holds a value this version does not know): reading it would misread it, and
    writing it could spoil it for the version that made it. One line, said as is."""


def too_new_message(journal_dir: str | os.PathLike[str], found: str) -> str:
    """The one line that refuses a newer version's journal; `found`: what gave it away."""
    return (
        f"the journal in {shown_path(journal_dir)} (journal_dir) was written by a newer version "
        f"of this daemon ({found}): run that version, or start a new journal_dir"
    )


def journal_dir_refusal(journal_dir: str | os.PathLike[str], reason: object) -> str:
    """The one line that refuses a journal_dir (locked by another process, unreadable, a full
    disk): the directory as messages name it (`shown_path`), then why."""
    return f"the journal in {shown_path(journal_dir)} (journal_dir): {reason}"
