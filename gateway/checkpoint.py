"""Durable per-symbol checkpoint of the last aggregate trade id the consumer processed.

On start the DataStream loads it and backfills everything after it, so a process restart
loses no trade. `StreamCheckpoint` is the small interface the later event journal will
implement; `FileCheckpoint` is the stand-alone implementation: one small JSON file per symbol,
replaced atomically (`core.atomic_file`: write a temporary file, fsync it, rename over the old
one, fsync the directory) so a kill at any moment leaves either the old or the new id, never a
torn file.
"""

import json
import os
import re
from pathlib import Path
from typing import Protocol, runtime_checkable

from core.atomic_file import write_atomic

_SYMBOL_RE = re.compile(r"^[A-Z0-9_]{1,32}$")


@runtime_checkable
class StreamCheckpoint(Protocol):
    def load(self, symbol: str) -> int | None:
        """The last aggregate trade id processed for `symbol`, or None if never saved."""
        ...

    def save(self, symbol: str, last_agg_id: int) -> None:
        """Durably record `last_agg_id` (returns only once it would survive a crash)."""
        ...


class MemoryCheckpoint:
    """A non-durable checkpoint (benchmarks, tests that do not restart)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def load(self, symbol: str) -> int | None:
        return self._ids.get(symbol)

    def save(self, symbol: str, last_agg_id: int) -> None:
        self._ids[symbol] = last_agg_id


class FileCheckpoint:
    """`<directory>/<SYMBOL>.aggtrade.json` holding `{"symbol": .., "last_agg_id": ..}`."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, symbol: str) -> Path:
        if not _SYMBOL_RE.match(symbol):
            raise ValueError(f"bad symbol for a checkpoint file name: {symbol!r}")
        return self.directory / f"{symbol}.aggtrade.json"

    def load(self, symbol: str) -> int | None:
        try:
            raw = self._path(symbol).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        doc = json.loads(raw)
        if doc.get("symbol") != symbol or type(doc.get("last_agg_id")) is not int:
            raise ValueError(f"corrupt checkpoint for {symbol}: {raw!r}")
        return int(doc["last_agg_id"])

    def save(self, symbol: str, last_agg_id: int) -> None:
        payload = json.dumps({"symbol": symbol, "last_agg_id": int(last_agg_id)}).encode()
        write_atomic(self._path(symbol), payload)
