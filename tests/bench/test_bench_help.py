"""Each benchmark says what it measures on `--help` instead of running, or failing with a
traceback (a positional count read with `int(sys.argv[1])` took `--help` as the count)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHES = sorted(p.name for p in (ROOT / "bench").glob("bench_*.py"))


@pytest.mark.parametrize("script", BENCHES)
def test_help_prints_the_usage_and_runs_nothing(script, tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {script} ")
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == []
