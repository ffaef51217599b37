"""Audit export: `python -m book_keeper.export --journal DIR --out DIR` writes orders.csv and
fills.csv from a journal (read-only; safe while the daemon runs). Exit 2 with one line on a bad
path. The files it creates (the account's orders and fills) are readable by its user only."""

import argparse
import sqlite3
import sys
from pathlib import Path

from book_keeper.journal import JournalError, SqliteJournal, journal_file
from core.atomic_file import keep_new_files_private
from runtime.flags import SecretSafeParser


def build_parser() -> argparse.ArgumentParser:
    parser = SecretSafeParser(
        prog="python -m book_keeper.export",
        description="Write orders.csv and fills.csv of a trading journal for audit.",
    )
    parser.add_argument(
        "--journal", required=True, help="journal directory (or its journal.sqlite3)"
    )
    parser.add_argument("--out", required=True, help="directory to write the CSV files into")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    source = journal_file(args.journal)
    out = Path(args.out)
    if not source.is_file():
        print(f"{parser.prog}: error: no journal at {source}", file=sys.stderr)
        return 2
    if out.exists() and not out.is_dir():
        print(f"{parser.prog}: error: --out {out} exists and is not a directory", file=sys.stderr)
        return 2
    try:
        journal = SqliteJournal(source, readonly=True)
    except JournalError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    try:
        paths = journal.export_csv(out)
    except (OSError, sqlite3.Error) as e:
        print(f"{parser.prog}: error: cannot export to {out}: {e}", file=sys.stderr)
        return 2
    finally:
        journal.close()
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    keep_new_files_private()  # the command's, not main()'s: callers keep their own umask
    sys.exit(main())
