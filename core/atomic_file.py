"""Atomic, durable file replacement: a crash at any moment leaves the old file or the new one.

The new content goes to a temporary file in the same directory (same filesystem, so the rename
is atomic), which is flushed and fsync'ed, renamed over the target with `os.replace`, and then
the directory is fsync'ed so the rename itself survives a power cut. A failed write removes
its temporary file and leaves the target untouched. POSIX semantics (Linux, macOS).

`write_problem` says beforehand, in one line, why no file could be written in a directory
(the daemon's journal and log directories, the model commands' outputs).

Permissions: a replaced file keeps its own; a new one gets what `open()` would have given it
(0o666 less the umask), so a user whose umask keeps their files private gets a private
status.json too. `mode` sets them explicitly.
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from core.redaction import shown_path


@contextmanager
def atomic_writer(
    path: str | os.PathLike[str], *, mode: int | None = None, durable: bool = True
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
        os.chmod(tmp, _mode_for(target) if mode is None else mode)
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(target.parent)


def write_atomic(
    path: str | os.PathLike[str], data: bytes, *, mode: int | None = None, durable: bool = True
) -> None:
    """Replace `path` with `data`, atomically (and durably, unless `durable` is False)."""
    with atomic_writer(path, mode=mode, durable=durable) as fh:
        fh.write(data)


def _mode_for(target: Path) -> int:
    """The permission bits of the file `target` replaces, else those of a new file."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process's umask, read without changing it (`os.umask` can only set it, and setting
    it even for a moment would apply to files other threads create meanwhile)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc (macOS): the only other way to read it
    os.umask(mask)
    return mask


def keep_new_files_private() -> None:
    """From now on this process creates files only its user can read or write (0600, directories
    0700), whatever the umask allowed: for the commands whose files hold account data (the
    daemon's journal, its logs and status.json; an export of the journal). The other bits of
    the umask are kept; files that exist already keep their permissions."""
    os.umask(current_umask() | 0o077)


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


def directory_problem(directory: Path) -> str | None:
    """Why `directory` is not, and cannot become, a directory (it, or the nearest part of its
    path that exists, is a file), or None."""
    if directory.exists() and not directory.is_dir():
        return f"{shown_path(directory)} is not a directory"
    base = _nearest_existing(directory)
    if not base.is_dir():
        return f"{shown_path(base)} is not a directory"
    return None


def write_problem(directory: Path) -> str | None:
    """Why no file can be created in `directory` (made first if missing), or None. Probes the
    nearest existing ancestor with a temporary file that is removed at once: the permission
    bits say nothing for root, and /proc or a read-only mount only fail at the write."""
    if problem := directory_problem(directory):
        return problem
    base = _nearest_existing(directory)
    try:
        fd, name = tempfile.mkstemp(dir=base, prefix=".write-check-")
    except OSError as e:
        return f"cannot write in {shown_path(base)} ({e.strerror or e})"
    os.close(fd)
    os.unlink(name)
    return None
