"""Atomic, durable file replacement: a crash at any moment leaves the old file or the new one.

The new content goes to a temporary file in the same directory (same filesystem, so the rename
is atomic), which is flushed and fsync'ed, renamed over the target with `os.replace`, and then
the directory is fsync'ed so the rename itself survives a power cut. A failed write removes
its temporary file and leaves the target untouched. POSIX semantics (Linux, macOS).
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_writer(path: str | os.PathLike[str], *, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Yield a binary file; on a clean exit it atomically and durably replaces `path`.

    Parent directories are created. The temporary file is `.<name>.<random>.tmp` beside the
    target (a leftover from a crash never matches the target's name or extension).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data`, atomically and durably."""
    with atomic_writer(path, mode=mode) as fh:
        fh.write(data)


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
