"""Atomic, durable file replacement: a crash at any moment leaves the old file or the new one.

The new content goes to a temporary file in the same directory (same filesystem, so the rename
is atomic), which is flushed and fsync'ed, renamed over the target with `os.replace`, and then
the directory is fsync'ed so the rename itself survives a power cut. A failed write removes
its temporary file and leaves the target untouched. POSIX semantics (Linux, macOS).

`write_problem` says beforehand, in one line, why no file could be written in a directory
(the daemon's journal and log directories, the model commands' outputs).
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_writer(
    path: str | os.PathLike[str], *, mode: int = 0o644, durable: bool = True
) -> Iterator[BinaryIO]:
    """Yield a binary file; on a clean exit it atomically and durably replaces `path`.

    Parent directories are created. The temporary file is `.<name>.<random>.tmp` beside the
    target (a leftover from a crash never matches the target's name or extension). Without
    `durable` nothing is fsync'ed: still old-or-new for a reader and a killed process, but a
    power cut may lose the replacement (for a view such as a status file, rewritten often).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(target.parent)


def write_atomic(
    path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644, durable: bool = True
) -> None:
    """Replace `path` with `data`, atomically (and durably, unless `durable` is False)."""
    with atomic_writer(path, mode=mode, durable=durable) as fh:
        fh.write(data)


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def write_problem(directory: Path) -> str | None:
    """Why no file can be created in `directory` (made first if missing), or None. Probes the
    nearest existing ancestor with a temporary file that is removed at once: the permission
    bits say nothing for root, and /proc or a read-only mount only fail at the write."""
    if directory.exists() and not directory.is_dir():
        return f"{directory} is not a directory"
    base = _nearest_existing(directory)
    if not base.is_dir():
        return f"{base} is not a directory"
    try:
        fd, name = tempfile.mkstemp(dir=base, prefix=".write-check-")
    except OSError as e:
        return f"cannot write in {base} ({e.strerror or e})"
    os.close(fd)
    os.unlink(name)
    return None
