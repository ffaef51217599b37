"""What must never be committed stays out of git, and `.env.example` names every key the
settings read, with no value."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRIVATE = [
    ".env",
    ".env.live",  # a second keys file (`--env-file .env.live`)
    "journal/journal.sqlite3",
    "my-account/journal.sqlite3",  # another journal_dir
    "my-account/journal.sqlite3-wal",
    "my-account/journal.wal",
    "my-account/status.json",
    "logs/trading_engine.log",
    "daemon.log",
    "daemon.log.1",
    "out/bt/summary.json",
    "audit/fills.csv",
    "models/BTCUSDT-1m-logreg-2025-05-04_2025-06-10.json",  # python -m model.train --out models/
    "models/registry/PROMOTED",
    ".venv/bin/python",
    "venv/bin/python",
    "env/bin/python",
    "KILL",
]
TRACKED = [".env.example", "models/btcusdt-1m/PROMOTED", "config.example.toml"]


def _ignored(paths: list[str]) -> set[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=ROOT,
        input="\n".join(paths),
        capture_output=True,
        text=True,
        check=False,
    )
    return set(result.stdout.split())


def test_keys_journals_logs_outputs_and_venvs_are_ignored() -> None:
    assert set(PRIVATE) - _ignored(PRIVATE) == set()


def test_the_shipped_examples_and_model_are_not_ignored() -> None:
    assert _ignored(TRACKED) == set()


def test_env_example_names_every_key_and_holds_no_value() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    entries = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    settings = (ROOT / "runtime" / "settings.py").read_text()

    assert set(entries) == set(re.findall(r'"(BINANCE_API_\w+)"', settings))
    assert all(value == "" for value in entries.values())
