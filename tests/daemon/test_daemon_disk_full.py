"""The disk under journal_dir and the logs fills up while the daemon trades (a real full
filesystem: a 16 MB tmpfs, filled by the test once a position is open; root only, since only
root may mount one, else skipped: tests/trading_engine/test_daemon_journal_failure.py makes
the journal's writes fail in-process instead).

Before: the journal's failure was said as "cannot rollback - no transaction is active"; the
shutdown then died on the stream checkpoint it could not save ("unexpected error, please report
it", no cancels, no closing summary) or printed a dozen tracebacks (the market recording, the
journal's close, `--- Logging error ---` for each line the log file did not take), and the
summary could say "books vs exchange at exit: identical" without having compared anything."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.daemon.harness import (
    ROOT,
    daemon_env,
    exchange_account,
    exchange_process,
    journal_rows,
    start_daemon,
    wait_for,
    write_config,
)
from tests.daemon.test_daemon_books import FAST_TRADING

OPEN_STOP = "SELECT COUNT(*) FROM orders WHERE type = 'STOP_MARKET' AND status = 'NEW'"


@contextlib.contextmanager
def tiny_disk(path: Path, size: str = "16m") -> Iterator[Path]:
    """A tmpfs of `size` at `path`, unmounted afterwards (skip the test where none can be)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    """Write until the filesystem says ENOSPC; the file that filled it."""
    filler = disk / "filler"
    # Unbuffered: a buffered file kept the block the disk refused and raised ENOSPC again
    # when the `with` closed it (seen in CI).
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def _run_until_the_disk_fills(disk: Path, ex) -> tuple[subprocess.Popen, str, str, float, Path]:
    write_config(disk, ex, **FAST_TRADING)
    daemon = start_daemon(disk)
    try:
        wait_for(lambda: journal_rows(disk, OPEN_STOP)[0][0] >= 1, 60, "a position and its stop")
        filled = time.monotonic()
        filler = fill(disk)
        out, err = daemon.communicate(timeout=30)
        took_s = time.monotonic() - filled
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.communicate(timeout=30)
    return daemon, out, err, took_s, filler


def _assert_stopped_in_one_line(daemon, out: str, err: str, took_s: float, venue) -> None:
    assert daemon.returncode == 1, err[-3000:]
    assert took_s <= 10.0, f"stopped {took_s:.1f} s after the disk filled"
    said = [line for line in out.splitlines() if line.startswith("the journal failed")]
    assert len(said) == 1, out[-3000:]
    assert "disk is full" in said[0] or "No space left on device" in said[0], said
    assert "cannot rollback" not in said[0]
    assert "Traceback" not in err and "--- Logging error ---" not in err, err[-3000:]
    assert "closing summary:" in out
    assert (
        "  books vs exchange at exit: not checked: the journal failed, so what the exchange "
        "said since was not booked (the next start recovers it from the exchange)"
    ) in out.splitlines(), out[-2000:]
    assert venue["open_orders"] == []  # the working orders were cancelled
    qty = sum((Decimal(p["positionAmt"]) for p in venue["positions"]), Decimal(0))
    if qty:  # left open: guarded, and said from the exchange's own answer
        assert [o["orderType"] for o in venue["algo_open"]] == ["STOP_MARKET"]
        assert f"position BTCUSDT {qty:f} (the exchange's, read at the stop) left open" in out


def test_a_full_disk_stops_the_daemon_in_one_line_with_its_orders_cancelled(tmp_path):
    with tiny_disk(tmp_path / "disk") as disk, exchange_process(speed=20) as ex:
        daemon, out, err, took_s, _ = _run_until_the_disk_fills(disk, ex)
        venue = asyncio.run(exchange_account(ex))

    _assert_stopped_in_one_line(daemon, out, err, took_s, venue)


@pytest.mark.slow
def test_after_a_full_disk_a_restart_says_so_and_once_freed_recovers_everything(tmp_path):
    """Restarted (by hand, or a supervisor) while the disk is still full: one line, exit 1.
    Freed: the records the journal could not apply come back, the exchange's fills since are
    recovered, and the books equal the exchange."""

    def restart() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "app.py"), "--config", "config.toml", "--duration", "6"],
            cwd=disk,
            env=daemon_env(),
            capture_output=True,
            text=True,
            timeout=90,
        )

    with tiny_disk(tmp_path / "disk") as disk, exchange_process(speed=20) as ex:
        daemon, out, err, took_s, filler = _run_until_the_disk_fills(disk, ex)
        venue = asyncio.run(exchange_account(ex))
        _assert_stopped_in_one_line(daemon, out, err, took_s, venue)
        still_full = restart()
        filler.unlink()
        freed = restart()
        venue = asyncio.run(exchange_account(ex))
        fills = journal_rows(disk, "SELECT COUNT(*) FROM fills")[0][0]

    assert still_full.returncode == 1, still_full.stderr[-2000:]
    last = still_full.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: the journal in {disk / 'journal'} (journal_dir): "), last
    assert "disk is full" in last or "No space left on device" in last, last
    assert "Traceback" not in still_full.stderr
    assert freed.returncode == 0, freed.stderr[-2000:]
    assert "books vs exchange at exit: identical" in freed.stdout, freed.stdout[-2000:]
    assert fills == len(venue["trades"])
