"""Two copies of the daemon on one journal_dir: a user starting it twice by mistake, or a
supervisor starting a new one while the old one lingers. Exactly one runs; the other is
refused in one line (exit 1) before it does anything: no exchange started, nothing sent to
the venue, the running one's status.json left alone.

Before, two copies started together both found the journal free, both started a local
exchange (or set the leverage on the attached one), and the second was refused only when it
opened the journal, seconds later, after writing "stopped (start failed)" over the first
one's status.json, so `--status` said the running daemon was stopped."""

import json
import signal
import subprocess
import sys
import time

from tests.daemon.harness import ROOT, daemon_env, wait_for

IN_USE = "is in use by another process (a daemon running? `python app.py --status`)"


def test_two_daemons_started_together_on_one_journal_dir_one_runs_the_other_is_refused(tmp_path):
    (tmp_path / "config.toml").write_text('mode = "local"\n[execution]\nheartbeat_s = 1.0\n')
    command = [sys.executable, str(ROOT / "app.py"), "--config", "config.toml"]

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            command,
            cwd=tmp_path,
            env=daemon_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    copies = [start(), start()]
    status = tmp_path / "journal" / "status.json"
    states: list[tuple[str, int]] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and all(p.poll() is None for p in copies):
            time.sleep(0.05)
        refused = next(p for p in copies if p.poll() is not None)
        running = next(p for p in copies if p is not refused)

        def seen_running() -> bool:
            data = json.loads(status.read_text())
            states.append((data["state"], data["pid"]))
            return data["state"] == "running"

        wait_for(seen_running, 60, "the other copy running", every_s=0.05)
    finally:
        for p in copies:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        outputs = {p.pid: p.communicate(timeout=30) for p in copies}

    out, err = outputs[refused.pid]
    assert refused.returncode == 1, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last == f"error: the journal in ./journal (journal_dir) {IN_USE}"
    assert "Traceback" not in err
    assert "starting the local exchange" not in out  # refused before anything was started
    assert running.returncode == 0, outputs[running.pid][1][-2000:]
    assert {pid for _, pid in states} == {running.pid}  # status.json was the runner's alone
    assert "stopped" not in {state for state, _ in states}
