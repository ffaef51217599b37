"""Audit export: `python -m book_keeper.export --journal DIR --out DIR` writes orders.csv and
fills.csv from a journal (read-only; safe while the daemon runs). Exit 2 with one line on a bad
path, or on a journal a newer version of the daemon wrote (its format mark: `JournalTooNew`);
the values are copied as stored, an enum member this version does not know included. The
files it creates (the account's orders and fills) are readable by its user only."""

import argparse
import sqlite3
import sys
from pathlib import Path

from book_keeper.journal import SqliteJournal
from book_keeper.journal_errors import JournalError
from book_keeper.journal_files import journal_file
from core.atomic_file import keep_new_files_private
from core.redaction import shown_path
from runtime.flags import ToolParser, error_line, path_text


def build_parser() -> argparse.ArgumentParser:
    parser = ToolParser(
        prog="python -m book_keeper.export",
        description="Write orders.csv and fills.csv of a trading journal for audit.",
    )
    parser.add_argument(
        "--journal",
        required=True,
        type=path_text,
        help="journal directory (or its journal.sqlite3)",
    )
    parser.add_argument(
        "--out", required=True, type=path_text, help="directory to write the CSV files into"
    )
    return parser


def _error(prog: str, message: str) -> int:
    """One line on stderr (`book_keeper.export: error: ...`, as every tool's), exit status
    2; a path it names may be a key pasted into a flag."""
    print(error_line(prog, message), file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    source = journal_file(args.journal)
    out = Path(args.out)
    if not source.is_file():
        return _error(parser.prog, f"no journal at {shown_path(source)}")
    if out.exists() and not out.is_dir():
        return _error(parser.prog, f"--out {shown_path(out)} exists and is not a directory")
    try:
        journal = SqliteJournal(source, readonly=True)
    except JournalError as e:
        return _error(parser.prog, str(e))
    try:
        paths = journal.export_csv(out)
    except (OSError, sqlite3.Error) as e:
        return _error(parser.prog, f"cannot export to {shown_path(out)}: {e}")
    finally:
        journal.close()
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    keep_new_files_private()  # the command's, not main()'s: callers keep their own umask
    sys.exit(main())
