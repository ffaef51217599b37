"""The kill switch's pieces the daemon uses outside the ExecManager: the file looked for (a
stat), how often, and the line saying what a kill at the start-up did and what lifts it."""

import os

KILL_FILE_POLL_S = 0.25


def reset_refused(path: str) -> str:
    """Why `--reset-halt` is refused while the kill-switch file `path` exists (it would halt
    again at once): app.py says it before anything starts, the daemon if the file appears
    during its start."""
    return f"--reset-halt refused: remove the kill-switch file {path} first"


def file_exists(path: str) -> bool:
    """One stat (microseconds): cheap enough for the event loop every quarter second."""
    return os.path.exists(path)


def halted_line(what: str, path: str | None, *, attaches: bool) -> str:
    """What a kill at the start-up did and what lifts it (README): on an account whose
    journal goes on (`attaches`), removing the file and a restart with --reset-halt; the
    embedded local exchange is a new account and journal at each start."""
    if attaches:
        removed = f"{path} is removed and " if path else ""
        return f"{what}: trading HALTED until {removed}the daemon is restarted with --reset-halt"
    remove = f"; remove {path} before the next start" if path else ""
    return f"{what}: trading HALTED for this run (no new entries){remove}"
