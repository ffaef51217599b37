"""Bounded disk use for what the daemon keeps besides its journal (`[retention]` settings).

Earlier local runs (`journal/earlier/`), recorded market sessions (`journal/market/`) and the
live feature log would otherwise grow for as long as the daemon is restarted or left running;
on a small VPS that ends with a full disk, and a full disk stops the journal.
"""

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def keep_within(paths: Sequence[Path], max_bytes: int) -> list[Path]:
    """Delete the oldest of `paths` (given oldest first; files) until the rest take at most
    `max_bytes` together (a budget below zero deletes them all). Returns what was deleted. One
    already gone frees nothing and is skipped (the count limit may have taken it); one that
    cannot be deleted is logged and left, as in `keep_newest`."""
    sizes = [file_size(p) for p in paths]
    total = sum(sizes)
    deleted = []
    for path, size in zip(paths, sizes, strict=True):
        if total <= max_bytes:
            break
        try:
            path.unlink()
        except FileNotFoundError:
            continue  # counted as 0 bytes above
        except OSError as exc:
            log.warning("retention: cannot delete %s: %s", path, exc.strerror or exc)
            continue
        total -= size
        deleted.append(path)
    return deleted


def file_size(path: Path) -> int:
    """Bytes of a file; 0 when it is gone."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def keep_newest(paths: Sequence[Path], keep: int) -> list[Path]:
    """Delete all but the last `keep` of `paths` (given oldest first; files or folders);
    `keep` 0 keeps all. Returns what was deleted. One that cannot be deleted is logged and
    left: retention must never stop the daemon."""
    if keep <= 0 or len(paths) <= keep:
        return []
    deleted = []
    for path in paths[: len(paths) - keep]:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as exc:
            log.warning("retention: cannot delete %s: %s", path, exc.strerror or exc)
            continue
        deleted.append(path)
    return deleted
