"""core.atomic_file: replace a file atomically and durably, or leave it untouched."""

import os

import pytest

from core import atomic_file
from core.atomic_file import atomic_writer, write_atomic


def test_write_creates_the_file_and_its_directories(tmp_path):
    target = tmp_path / "a" / "b" / "state.json"

    write_atomic(target, b'{"x": 1}')

    assert target.read_bytes() == b'{"x": 1}'
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]


def test_write_replaces_the_old_content_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "state.json"
    write_atomic(target, b"old")

    write_atomic(target, b"new")

    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_failure_mid_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "state.json"
    write_atomic(target, b"old")

    with pytest.raises(RuntimeError), atomic_writer(target) as fh:
        fh.write(b"half of the new")
        raise RuntimeError("killed mid-write")

    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_file_and_directory_are_fsynced_before_and_after_the_rename(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")
        real_fsync(fd)

    def replace(src: str, dst: object) -> None:
        calls.append("replace")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(atomic_file.os, "fsync", fsync)
    monkeypatch.setattr(atomic_file.os, "replace", replace)

    write_atomic(target, b"data")

    assert calls == ["file", "replace", "dir"]


def test_the_new_file_gets_the_requested_mode(tmp_path):
    target = tmp_path / "state.json"

    write_atomic(target, b"data", mode=0o600)

    assert target.stat().st_mode & 0o777 == 0o600


@pytest.fixture
def private_umask():
    old = os.umask(0o077)
    yield
    os.umask(old)


def test_a_new_file_honours_the_umask(tmp_path, private_umask):
    # A user with umask 077 expects status.json and the like readable by nobody else.
    target = tmp_path / "status.json"

    write_atomic(target, b"data")

    assert target.stat().st_mode & 0o777 == 0o600


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "status.json"
    write_atomic(target, b"old")
    target.chmod(0o640)

    write_atomic(target, b"new")

    assert target.stat().st_mode & 0o777 == 0o640
