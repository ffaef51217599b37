"""status.json follows what a monitor acts on within about a second, not at the next
heartbeat: here the user stream (the listenKey websocket) going down and coming back, with
heartbeats 60 s apart so that only the prompt rewrite can show either in time."""

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.daemon.harness import (
    ROOT,
    exchange_process,
    inject_fault,
    start_daemon,
    wait_for,
    write_config,
)


def _status_json(workdir: Path) -> dict[str, Any]:
    try:
        status = json.loads((workdir / "journal" / "status.json").read_text())
    except (OSError, ValueError):  # not yet written
        return {}
    return status if isinstance(status, dict) else {}


def _reconnected(status: dict[str, Any], before: dict[str, Any]) -> bool:
    return (
        status.get("streams_down") == {}
        and status.get("last_reconciled_ms", 0) > before["last_reconciled_ms"]
    )


def test_the_user_stream_going_down_and_up_is_in_status_json_within_seconds(tmp_path):
    with exchange_process(speed=20) as ex:
        write_config(tmp_path, ex, execution={"heartbeat_s": 60})
        daemon = start_daemon(tmp_path, "--duration", "120")
        try:
            wait_for(lambda: _status_json(tmp_path).get("state") == "running", 60, "running")
            before = _status_json(tmp_path)
            assert before["streams_down"] == {}
            assert before["orders_in_doubt_since_ms"] is None  # nothing sent: no doubt
            assert before["reconcile_interval_s"] == 60.0
            inject_fault(ex, {"fault": "drop_websockets", "refuse_s": 10})
            wait_for(
                lambda: "user stream" in _status_json(tmp_path).get("streams_down", {}),
                10,
                "status.json saying the user stream is down (heartbeats are 60 s apart)",
                every_s=0.05,
            )
            shown = subprocess.run(
                [sys.executable, str(ROOT / "app.py"), "--config", "config.toml", "--status"],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            # the reconnect's reconciliation (before it, the start's), with the streams up
            wait_for(
                lambda: _reconnected(_status_json(tmp_path), before),
                30,
                "status.json saying every stream is up again and reconciled since",
                every_s=0.05,
            )
            after = _status_json(tmp_path)
        finally:
            daemon.send_signal(signal.SIGTERM)
            _out, err = daemon.communicate(timeout=30)

    assert daemon.returncode == 0, err[-2000:]
    assert shown.returncode == 0, shown.stdout + shown.stderr  # a warning, not a state
    assert any(
        line.startswith("user stream DISCONNECTED (") for line in shown.stdout.splitlines()
    ), shown.stdout
    assert after["updated_ms"] - before["updated_ms"] < 60_000  # no heartbeat wrote these
