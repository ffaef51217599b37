"""The daemon's log file on a full disk: logging's own handler printed `--- Logging error ---`
and a call stack of ~30 lines to stderr for every record it could not write, on the console
an operator reads. Now one line says it, once, and again only after the file took a record
in between; the console handler goes on as before."""

import errno
import io
import logging
from pathlib import Path

import pytest

from runtime.log_setup import LogFile


class FullDisk(io.StringIO):
    """A file on a disk that fills up and is freed: `full` decides."""

    full = False

    def write(self, text: str) -> int:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(text)


def test_a_log_file_that_cannot_be_written_is_said_once_not_a_traceback_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = LogFile(tmp_path / "trading_engine.log", maxBytes=0, encoding="utf-8")
    disk = handler.stream = FullDisk()
    logger = logging.getLogger("test_log_file")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("written")
        disk.full = True
        for n in range(5):
            logger.warning("lost %d", n)
        said = capsys.readouterr().err
        disk.full = False
        logger.warning("written again")
        disk.full = True
        logger.warning("lost again")
        said_again = capsys.readouterr().err
        kept = disk.getvalue()
    finally:
        logger.removeHandler(handler)
        handler.close()

    line = (
        f"log file {tmp_path / 'trading_engine.log'} cannot be written (No space left on "
        "device): log lines reach the console only, until it can\n"
    )
    assert said == line
    assert said_again == line  # a new outage is news again
    assert kept == "written\nwritten again\n"


def test_a_bug_in_a_log_call_is_still_reported_by_logging(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = LogFile(tmp_path / "x.log", encoding="utf-8")
    logger = logging.getLogger("test_log_file_bug")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("%d apples", "three")  # a wrong format: our mistake, not the disk's
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert "--- Logging error ---" in capsys.readouterr().err
