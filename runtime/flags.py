"""Command-line helpers shared by the project's tools (no import but `core`: any CLI may use
it)."""

import argparse
import os
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

from core.redaction import hide_secret_like, one_line, redact_userinfo


def print_lines(lines: Iterable[str]) -> None:
    """Lines on stdout; a reader that goes away early (`| head -1`, `| grep -q running`) is
    fine: the exit status still says what it says, without a BrokenPipeError traceback."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing at exit either


def exit_status(main: Callable[[], int]) -> int:
    """`main()`'s exit status, as a command's `__main__` passes it to `sys.exit`, with no
    BrokenPipeError traceback when the reader of its output goes away early (`| head -1`: the
    backtester printed one after its first line). A command the closed pipe stopped midway
    exits as SIGPIPE stops a Unix tool, with the shell's status for that (141); one that had
    finished keeps its own, as `print_lines` does. Either way stdout then goes to /dev/null,
    so that the exit's flush raises nothing."""
    status = 128 + signal.SIGPIPE
    try:
        status = main()
        sys.stdout.flush()  # the lines still buffered: a pipe closed before them breaks here
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return status


def shown_argument_error(message: str) -> str:
    """argparse's error `message` as it may be printed: it quotes the value it refused
    (`invalid choice: '...'`), which may be an API key pasted into the wrong flag; a value
    that looks like a secret and a URL's `user:password@` are not shown, as in a config
    error."""
    return hide_secret_like(redact_userinfo(message))


def tool_name(prog: str) -> str:
    """The name a tool's error lines start with: its file (`fetch_historical.py`) or its module
    (`model.train` for `python -m model.train`, whose usage line keeps the `python -m`)."""
    return prog.removeprefix("python -m ")


def error_line(prog: str, message: str) -> str:
    """The one form of every tool's error line, `tool: error: message`, whether argparse
    refused a flag or the tool refused an input or failed: the backtester said
    `... error: ...` for a flag and `...: message` for the rest, `python -m analysis.pnl:
    error:` beside `model.train: error:`. `message` is shown as `shown_argument_error`."""
    return f"{tool_name(prog)}: error: {one_line(shown_argument_error(message))}"


def interrupted_line(prog: str, what: str) -> str:
    """The line a tool says Ctrl+C in: `tool: interrupted: what` (what was kept or lost)."""
    return f"{tool_name(prog)}: interrupted: {what}"


def path_text(text: str) -> str:
    """A file or folder flag's value, refused when empty: `--out "$OUT"` with OUT unset
    names the working directory (Path("") is Path(".")), where a tool would read or replace
    files nobody meant."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path (a file or folder name was expected)")
    return text


def nonempty_path(text: str) -> Path:
    """`path_text` as a Path."""
    return Path(path_text(text))


class SecretSafeParser(argparse.ArgumentParser):
    """argparse's parser whose error line never echoes a secret-shaped value: `--mode <key>`
    printed the key on the terminal, in the shell's scrollback and in a supervisor's log.
    Subclasses change how the error is told by overriding `fail`, not `error`."""

    def error(self, message: str) -> NoReturn:
        self.fail(shown_argument_error(message))

    def fail(self, message: str) -> NoReturn:
        """argparse's own way: the usage, then `prog: error: message`, exit status 2."""
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


class OneLineParser(SecretSafeParser):
    """A parser whose usage error is its one line `prog: error: message` (exit status 2),
    without the usage before it: a tool with many options printed ~20 lines of usage that
    pushed the line saying what was wrong off a small terminal. `--help` still shows it."""

    def fail(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


class ToolParser(OneLineParser):
    """A `OneLineParser` whose flag error starts as the tool's other errors do (`error_line`:
    `backtest.parity: error: ...`, not `python -m backtest.parity: error: ...`)."""

    def fail(self, message: str) -> NoReturn:
        # `message` went through shown_argument_error already (SecretSafeParser.error).
        self.exit(2, f"{tool_name(self.prog)}: error: {message}\n")


class StoreOnce(argparse.Action):
    """A flag that takes one value: given twice, argparse's default keeps the last one in
    silence (`--data a.csv --data b.csv` ran on b.csv alone); this says so and exits 2."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, self.dest, None) is not self.default:
            parser.error(f"{option_string} given twice: it takes one value")
        setattr(namespace, self.dest, values)
