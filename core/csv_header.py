"""A CSV header line's names as every loader compares them (the backtester's `backtest.data`,
the model and analysis commands' `model.inputs`, the history importers): blanks around a name
(`open_time, open, high`), a byte-order mark (a spreadsheet's "CSV UTF-8" export, or the second
of two such files concatenated) and the case (`Open_Time`) make no difference. One rule, so a
file one of them reads the others read alike, and a header line met again inside a file
(downloads concatenated with their headers) is told from a bad row the same way."""

from collections.abc import Iterable

_BOM = "\ufeff"


def header_names(cells: Iterable[object]) -> list[str]:
    """The names of a header line's `cells`, stripped of blanks and a byte-order mark, in
    lower case."""
    return [str(c).strip().lstrip(_BOM).strip().lower() for c in cells]


def is_data_row(first_cell: str) -> bool:
    """Whether a row whose first cell is `first_cell` holds data (a time or an id: digits,
    maybe signed) rather than names."""
    return first_cell.strip().lstrip(_BOM).lstrip("-").isdigit()
