"""The books (BookKeeper) and the durable journal (SqliteJournal) of the trading daemon."""

from book_keeper.book_keeper import BookKeeper, BookSummary
from book_keeper.journal import SqliteJournal, Synchronous
from book_keeper.journal_errors import JournalError

__all__ = ["BookKeeper", "BookSummary", "JournalError", "SqliteJournal", "Synchronous"]
