"""The file behind `journal.wal`, written through a shared memory map.

A record is durable against the death of the process once its frame is in the kernel's page
cache. `os.write` put it there through a system call that also updated the file's size and
modification time (with ext4, a metadata journal transaction): with the CPU's caches cold, as
before a live order, ~15 us of an order's ~90 (`bench/bench_tick_to_order.py`). Here the file
is extended and its blocks reserved ahead (`RESERVE_BYTES` at a time), then mapped
(`MAP_SHARED`): appending a frame is a copy into pages the kernel owns, which a `kill -9`
cannot take back. What the file holds past the frames is zeros: `read_wal` stops at the first
bytes that are not an intact frame, and a reader tells a torn last write (some bytes that are
not zero) from the unused reserve (`torn_tail`).

The blocks are reserved (`posix_fallocate`) before a byte is stored in them: a store into a
file hole on a full disk would kill the process (SIGBUS); a full disk is an OSError when the
log grows, before the record, which then is not written. With synchronous=FULL each frame is
flushed to the disk (`msync`, as `fdatasync` before) before `append` returns.

Only where a reserved block stays reserved: on a copy-on-write file system (btrfs, ZFS, APFS)
a store into a reserved block still needs a new one, and on a full disk the page fault would
kill the process (SIGBUS) instead of failing a record. So the map is used on the file systems
of `MAPPED_FILE_SYSTEMS` (read from /proc/self/mountinfo), and elsewhere, or where the map is
refused, the frames are written with `pwrite`, as before the map.
"""

import contextlib
import errno
import logging
import mmap
import os
from pathlib import Path

log = logging.getLogger("book_keeper.journal")  # one logger for all the journal's modules

RESERVE_BYTES = 2 << 20  # reserved and mapped at a time (the log rotates at 1 MiB once applied)
_ZEROS = bytes(64 << 10)
# In place, no copy on write: a block `posix_fallocate` reserved is the one a store fills
MAPPED_FILE_SYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "tmpfs", "overlay"})
PREFAULT_PAGES = 4  # pages after the next frame's that `prefault` maps in


def file_system_type(path: Path, mountinfo: str | None = None) -> str | None:
    """The type of the file system `path` is on, from /proc/self/mountinfo (or `mountinfo`'s
    text): the mount point that is the longest prefix of its real path. None where unknown."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return None
    target = os.path.realpath(path)
    best, best_type = "", None
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 5:
            continue
        point = fields[4].replace("\\040", " ")
        kind = fields[fields.index("-") + 1] if fields.index("-") + 1 < len(fields) else None
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, kind
    return best_type


def torn_tail(data: bytes, good: int) -> bool:
    """Whether the bytes after the intact frames (`read_wal`'s length) hold a torn write, not
    only the zeros of the unused reserve."""
    return any(data[good:])


class WalFile:
    """`journal.wal`: frames appended through a memory map (see the module docstring). Not
    thread-safe: the journal calls it under its log lock."""

    __slots__ = ("_map", "_ready", "_reserved", "fd", "mapped", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._map: mmap.mmap | None = None
        self._reserved = 0  # bytes of the file reserved on the disk and mapped
        self._ready = False  # emptied once (`reset`): the frames in it before are applied
        kind = file_system_type(path)
        # False: frames go by pwrite (a file system not known to keep reserved blocks, or
        # one that refused the map)
        self.mapped = kind in MAPPED_FILE_SYSTEMS
        if not self.mapped:
            log.info(
                "journal: %s is on %s: records are written with pwrite, not through a memory "
                "map (kept for file systems that write in place: %s)",
                path,
                kind or "a file system of unknown type",
                ", ".join(sorted(MAPPED_FILE_SYSTEMS)),
            )

    def read(self) -> bytes:
        """The whole file (frames and any reserve), as a restart reads it."""
        size = os.fstat(self.fd).st_size
        return os.pread(self.fd, size, 0) if size else b""

    def reset(self, *, fsync: bool = False) -> None:
        """Empty the log (everything in it applied) and reserve a fresh `RESERVE_BYTES`; on a
        full disk it stays empty and unreserved, and the next `append` tries again (and fails
        as a full disk there, before its record)."""
        self._unmap()
        os.ftruncate(self.fd, 0)
        if fsync:
            os.fsync(self.fd)
        self._ready = True
        if self.mapped:
            with contextlib.suppress(OSError):
                self._reserve(RESERVE_BYTES)

    def append(self, at: int, frame: bytes, *, fsync: bool) -> None:
        """Store `frame` at offset `at` (the end of the frames so far); flushed to the disk
        first when `fsync`. OSError (a full disk, an I/O error) leaves nothing of it behind."""
        end = at + len(frame)
        if self.mapped and end > self._reserved:
            self._reserve(max(2 * self._reserved, end + RESERVE_BYTES))
        if not self.mapped:
            self._write(at, frame, fsync=fsync)
            return
        m = self._map
        assert m is not None  # mapped by `_reserve`
        m[at:end] = frame
        if fsync:
            start = at - at % mmap.ALLOCATIONGRANULARITY  # msync's range starts on a page
            try:
                m.flush(start, end - start)  # msync(MS_SYNC): as fdatasync, for these pages
            except OSError:
                m[at:end] = bytes(len(frame))
                raise

    def prefault(self, at: int, length: int = 1) -> None:
        """Store zeros where the next frame goes (`length` bytes at offset `at`, the end of the
        frames: the reserve's zeros) and one at the start of each of the `PREFAULT_PAGES`
        pages after it (an order's burst of records: the order, its fill, the stop-loss, the
        account update): the page faults, the file system's block mapping and the frame's
        cache lines happen now, not in an `append` on the order path. Changes no byte."""
        m = self._map
        if m is None:  # not mapped (yet, or at all)
            return
        reserved = self._reserved
        if length > 1 and at + length <= reserved:
            m[at : at + length] = bytes(length)
        page = mmap.PAGESIZE
        offset = at
        for _ in range(PREFAULT_PAGES + 1):
            if offset >= reserved:
                break
            m[offset] = 0
            offset = (offset // page + 1) * page

    def close(self, keep: int) -> None:
        """Unmap, cut the file to its first `keep` bytes (the frames not applied: 0 after a
        clean stop), close. A log never reset (its opening failed before the records in it
        were applied) is left as it is, for the next opening."""
        if self._ready:
            self._unmap()
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, keep)
        os.close(self.fd)

    def _reserve(self, size: int) -> None:
        """Extend the file to `size` bytes, its blocks reserved, and map all of it."""
        old = os.fstat(self.fd).st_size
        if size > old:
            os.ftruncate(self.fd, size)
            try:
                _allocate(self.fd, old, size - old)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(self.fd, old)
                raise
        self._unmap()
        try:
            self._map = mmap.mmap(self.fd, size)
        except OSError as e:  # a file system without shared writable maps
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, old)
            self.mapped = False
            log.warning(
                "journal: %s cannot be memory-mapped here (%s): records are written with "
                "pwrite instead (~15 us more per order with cold caches)",
                self.path,
                e.strerror or e,
            )
            return
        self._reserved = size

    def _write(self, at: int, frame: bytes, *, fsync: bool) -> None:
        """`append` without the map: the frame written at `at`, all of it (a short write is
        written on, so that a full disk fails as one), fdatasync'ed when `fsync`; on OSError
        the file is cut back to `at`."""
        try:
            view = memoryview(frame)
            done = 0
            while done < len(frame):
                n = os.pwrite(self.fd, view[done:], at + done)
                if n <= 0:
                    raise OSError(errno.EIO, f"short write ({done} of {len(frame)} bytes)")
                done += n
            if fsync:
                os.fdatasync(self.fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, at)
            raise

    def _unmap(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
            self._reserved = 0


def _allocate(fd: int, offset: int, length: int) -> None:
    """Reserve the blocks of a file range: `posix_fallocate`, else (a file system without it,
    or no such call: macOS) zeros written over it."""
    try:
        os.posix_fallocate(fd, offset, length)
        return
    except AttributeError:
        pass
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    end = offset + length
    while offset < end:
        offset += os.pwrite(fd, _ZEROS[: end - offset], offset)
