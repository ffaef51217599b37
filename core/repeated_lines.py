"""Log lines of a failure that repeats, said once a minute: an exchange outage (Binance's
maintenance lasts hours) retried a listenKey, a dead-man refresh and two stream connections
every few seconds, ~30 lines a minute on the console, burying what else happened.

`RepeatedLines.say` logs a line at its level the first time its key is seen, and again once
`every_ms` has passed, with the count of the repeats in between; those go to DEBUG
(`--log-level DEBUG` shows every one). `clear` after a success: the next failure is news again.
Standard library only (`core` is a leaf package).
"""

import logging
from dataclasses import dataclass

REPEAT_LINE_MS = 60_000  # a repeating failure is said at its level at most once in this long


@dataclass(slots=True)
class _Said:
    at_ms: int  # when it was last said at its level
    quiet: int = 0  # repeats since then, said at DEBUG only


class RepeatedLines:
    """Per key (a call, a stream): the first line at its level, its repeats within `every_ms`
    at DEBUG, the next line at its level with ` (N more since, at DEBUG)`."""

    def __init__(self, every_ms: int = REPEAT_LINE_MS) -> None:
        if every_ms < 0:
            raise ValueError(f"every_ms must be >= 0, got {every_ms}")
        self.every_ms = every_ms
        self._said: dict[str, _Said] = {}

    def say(
        self, logger: logging.Logger, level: int, key: str, now_ms: int, msg: str, *args: object
    ) -> None:
        """Log `msg % args` for `key` at `level`, or at DEBUG if said less than every_ms ago."""
        said = self._said.get(key)
        if said is not None and now_ms - said.at_ms < self.every_ms:
            said.quiet += 1
            logger.debug(msg, *args)
            return
        quiet = 0 if said is None else said.quiet
        self._said[key] = _Said(at_ms=now_ms)
        if quiet:
            s = "" if quiet == 1 else "s"
            logger.log(
                level, msg + " (%d more such line%s since the last, at DEBUG)", *args, quiet, s
            )
        else:
            logger.log(level, msg, *args)

    def clear(self, key: str) -> None:
        """`key` succeeded: its next failure is said at its level at once."""
        self._said.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self._said
