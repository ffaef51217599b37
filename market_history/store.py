"""On-disk history: one Parquet file per symbol, kind and UTC day, written atomically.

Layout: `<root>/<SYMBOL>/<kind key>/<YYYY-MM-DD>.parquet` (kind key `klines-1m`, `aggTrades`).
Each file also records, in its Parquet metadata, which time ranges of that day have been
fetched or imported (`covered`, half-open ms ranges). A time that is covered but has no row is
a real hole in the exchange's data (an outage), so it is reported, not fetched again; a time
that is not covered has simply not been asked for yet. Writes merge with what is stored,
de-duplicate by key (aggregate id, kline open time), and replace the file atomically (write a
temporary file, fsync, rename, fsync the directory: `core.atomic_file`), so a killed download
leaves every file whole.
"""

import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.atomic_file import atomic_writer
from market_history.schema import Kind

DAY_MS = 86_400_000
_META_KEY = b"market_history.covered"

Range = tuple[int, int]


def merge_ranges(ranges: Iterable[Range]) -> list[Range]:
    """Union of half-open ranges, sorted, touching ranges joined."""
    out: list[list[int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def subtract_ranges(want: Range, have: Iterable[Range]) -> list[Range]:
    """Parts of `want` not inside any of `have`."""
    start, end = want
    out: list[Range] = []
    cursor = start
    for a, b in merge_ranges(have):
        if b <= cursor or a >= end:
            continue
        if a > cursor:
            out.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        out.append((cursor, end))
    return out


def day_of(ms: int) -> int:
    return ms - ms % DAY_MS


def day_name(day_ms: int) -> str:
    return datetime.fromtimestamp(day_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


class DamagedFile(Exception):
    """A day file that cannot be read as this kind's Parquet (truncated, overwritten, another
    schema): named, never overwritten, so the user decides what to do with it."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class HistoryStore:
    """Parquet history under one root directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, symbol: str, kind: Kind, day_ms: int) -> Path:
        return self.root / symbol / kind.key / f"{day_name(day_ms)}.parquet"

    def _days(self, start_ms: int, end_ms: int) -> range:
        return range(day_of(start_ms), end_ms, DAY_MS)

    def stored_days(self, symbol: str, kind: Kind, start_ms: int, end_ms: int) -> list[int]:
        """Day starts (ms) of the existing files that overlap [start_ms, end_ms), ascending."""
        folder = self.root / symbol / kind.key
        if not folder.is_dir():
            return []
        days = []
        for path in folder.glob("*.parquet"):
            try:
                day = datetime.strptime(path.stem, "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                continue
            ms = int(day.timestamp() * 1000)
            if ms + DAY_MS > start_ms and ms < end_ms:
                days.append(ms)
        return sorted(days)

    def _load_day(self, symbol: str, kind: Kind, day_ms: int) -> tuple[pa.Table, list[Range]]:
        path = self.path(symbol, kind, day_ms)
        if not path.exists():
            return kind.schema.empty_table(), []
        try:
            table = pq.read_table(path)
            meta = table.schema.metadata or {}
            covered = [tuple(r) for r in json.loads(meta.get(_META_KEY, b"[]"))]
            table = table.replace_schema_metadata(None).select(kind.schema.names)
            return table.cast(kind.schema), covered  # type: ignore[return-value]
        except (pa.ArrowException, KeyError, ValueError, TypeError) as e:
            detail = str(e).replace(f"'{path}': ", "").strip()  # Arrow repeats the path
            raise DamagedFile(path, f"not a readable {kind.key} day file: {detail}") from None

    def covered(self, symbol: str, kind: Kind, start_ms: int, end_ms: int) -> list[Range]:
        """The parts of [start_ms, end_ms) already fetched or imported."""
        ranges: list[Range] = []
        for day in self.stored_days(symbol, kind, start_ms, end_ms):
            ranges.extend(self._load_day(symbol, kind, day)[1])
        clipped = [(max(a, start_ms), min(b, end_ms)) for a, b in ranges]
        return merge_ranges(clipped)

    def missing(self, symbol: str, kind: Kind, start_ms: int, end_ms: int) -> list[Range]:
        """The parts of [start_ms, end_ms) never fetched (what a download must still ask for)."""
        return subtract_ranges((start_ms, end_ms), self.covered(symbol, kind, start_ms, end_ms))

    def read(self, symbol: str, kind: Kind, start_ms: int, end_ms: int) -> pa.Table:
        """Rows with time in [start_ms, end_ms), sorted by key."""
        tables = []
        col = kind.time_column
        for day in self.stored_days(symbol, kind, start_ms, end_ms):
            table, _ = self._load_day(symbol, kind, day)
            if table.num_rows:
                mask = pc.and_(pc.greater_equal(table[col], start_ms), pc.less(table[col], end_ms))
                tables.append(table.filter(mask))
        if not tables:
            return kind.schema.empty_table()
        return pa.concat_tables(tables).sort_by(kind.key_column)

    def last_row(self, symbol: str, kind: Kind, before_ms: int, not_before_ms: int) -> dict | None:
        """The stored row with the greatest key among times in [not_before_ms, before_ms)."""
        for day in reversed(self.stored_days(symbol, kind, not_before_ms, before_ms)):
            table = self.read(symbol, kind, max(day, not_before_ms), min(day + DAY_MS, before_ms))
            if table.num_rows:
                return table.slice(table.num_rows - 1).to_pylist()[0]
        return None

    def write(self, symbol: str, kind: Kind, table: pa.Table, covered: Iterable[Range] = ()) -> int:
        """Merge `table` (and the `covered` ranges) into the day files; returns new rows kept.

        Rows whose key is already stored are dropped (the stored row wins); a duplicate key
        inside `table` keeps its first row.
        """
        table = table.select(kind.schema.names).cast(kind.schema)
        covered = list(covered)
        col = kind.time_column
        days: set[int] = set()
        if table.num_rows:
            times = table[col]
            lo, hi = pc.min(times).as_py(), pc.max(times).as_py()
            days.update(self._days(lo, hi + 1))
        for a, b in covered:
            days.update(self._days(a, b))
        added = 0
        for day in sorted(days):
            part = table
            if table.num_rows:
                mask = pc.and_(pc.greater_equal(table[col], day), pc.less(table[col], day + DAY_MS))
                part = table.filter(mask)
            day_cover = [(max(a, day), min(b, day + DAY_MS)) for a, b in covered]
            added += self._merge_day(symbol, kind, day, part, day_cover)
        return added

    def _merge_day(
        self, symbol: str, kind: Kind, day: int, part: pa.Table, cover: list[Range]
    ) -> int:
        old, old_cover = self._load_day(symbol, kind, day)
        key = kind.key_column
        new_rows = 0
        if part.num_rows:
            known = set(old[key].to_pylist())
            keys = part[key].to_pylist()
            keep = []
            for i, k in enumerate(keys):
                if k not in known:
                    known.add(k)
                    keep.append(i)
            new_rows = len(keep)
            part = part.take(pa.array(keep, type=pa.int64()))
        merged_cover = merge_ranges(old_cover + cover)
        if new_rows == 0 and merged_cover == merge_ranges(old_cover):
            return 0
        table = pa.concat_tables([old, part]).sort_by(key) if new_rows else old
        meta = {_META_KEY: json.dumps([list(r) for r in merged_cover]).encode()}
        self._atomic_write(self.path(symbol, kind, day), table.replace_schema_metadata(meta))
        return new_rows

    @staticmethod
    def _atomic_write(path: Path, table: pa.Table) -> None:
        with atomic_writer(path) as fh:
            pq.write_table(table, fh, compression="zstd")
