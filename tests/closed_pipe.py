"""A command run as `cmd | head -1` that the reader left early: its stdout closed before the
first line is written (a BrokenPipeError traceback once ended several commands so)."""

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def run_with_reader_gone(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> tuple[int, str]:
    """Run `argv` with its stdout's reader gone at once: (exit status, stderr)."""
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read()
    proc.wait(timeout=timeout)
    return proc.returncode, err
