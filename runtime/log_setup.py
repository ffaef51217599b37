"""Logging for the daemon and the tools: readable console, rotating file, optional JSON lines.

Every handler carries a `RedactionFilter`, so no secret, request signature or listenKey reaches
a console, a file or a log shipper, whatever code logged it (ours, python-binance, aiohttp);
what it replaces is `core.redaction`'s.
"""

import contextlib
import json
import logging
import logging.handlers
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.redaction import redact

LOG_FILE_NAME = "trading_engine.log"
LOG_MAX_BYTES = 10 * 1024 * 1024  # a log file rotates at this size ...
LOG_BACKUPS = 5  # ... keeping this many older ones (.1 to .5)
_CONSOLE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RedactionFilter(logging.Filter):
    """Renders each record once and replaces known secrets and secret-looking values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if s and len(s) >= 8)

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time (ISO, UTC), level, logger, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def _not_file_only(record: logging.LogRecord) -> bool:
    """Records logged with `extra=FILE_ONLY` (already told to the user) skip the console."""
    return getattr(record, "console", True)


FILE_ONLY = {"console": False}


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created)) + (
            f".{int(record.msecs):03d}Z"
        )


def configure_logging(
    level: str = "INFO",
    log_dir: Path | None = Path("logs"),
    json_lines: bool = False,
    secrets: Iterable[str] = (),
    stream=None,
    redaction: RedactionFilter | None = None,
) -> RedactionFilter:
    """Install console and rotating-file handlers on the root logger; return the redaction filter.

    Call once at start. `secrets` are the raw values to scrub (API key and secret), added to
    `redaction` when one is given (it may know some already).
    """
    if redaction is None:
        redaction = RedactionFilter()
    redaction.add_secrets(secrets)
    formatter: logging.Formatter = (
        JsonLinesFormatter() if json_lines else _UtcFormatter(_CONSOLE_FORMAT)
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(stream or sys.stderr)
    console.addFilter(_not_file_only)
    handlers: list[logging.Handler] = [console]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(rotating_file(log_dir / LOG_FILE_NAME))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(redaction)
        root.addHandler(handler)
    root.setLevel(level)
    # Chatty libraries stay at WARNING unless we debug.
    for name in ("websockets", "aiohttp.access", "asyncio", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)
    return redaction


class LogFile(logging.handlers.RotatingFileHandler):
    """A rotating log file that a full disk (or any OSError) does not turn into a traceback
    per log line: logging's own handler prints `--- Logging error ---` and the whole call
    stack to stderr for every record it could not write, dozens of lines each, on the
    console an operator reads. Said once on stderr instead (lines still reach the console
    handler), and again after the file could be written in between."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failing = False  # the last record could not be written
        self._failed = False  # ... this one

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        super().emit(record)  # its failure comes back through handleError
        if not self._failed:
            self.failing = False

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)  # a bug (a bad format): logging's own report
            return
        self._failed = True
        if self.failing:
            return
        self.failing = True
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(
                f"log file {self.baseFilename} cannot be written ({error.strerror or error}): "
                "log lines reach the console only, until it can\n"
            )
            sys.stderr.flush()


def rotating_file(path: Path, max_bytes: int = LOG_MAX_BYTES) -> LogFile:
    """The file handler of every log the daemon writes: `path` moves to `path.1` (and so on,
    LOG_BACKUPS of them) when it would grow past `max_bytes`."""
    return LogFile(path, maxBytes=max_bytes, backupCount=LOG_BACKUPS, encoding="utf-8")
