"""Type checking is part of the test suite: mypy reports no error in the trading core.

Runs `mypy.api.run` on every package of the core that exists (core/, gateway/, rest_connect/,
book_keeper/, risk_manager/, trading_engine/). The configuration is pyproject.toml's
`[tool.mypy]` once it has one; until then the same settings from `FALLBACK_CONFIG` below.
The cache lives in the system temp directory (not in the work tree).
"""

import hashlib
import tempfile
import tomllib
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "gateway", "rest_connect", "book_keeper", "risk_manager", "trading_engine")

FALLBACK_CONFIG = """\
[mypy]
python_version = 3.11
warn_redundant_casts = True
strict_equality = True
check_untyped_defs = True

[mypy-pandas.*,pyarrow.*,binance.*]
ignore_missing_imports = True
"""


def _config_file(tmp_path: Path) -> Path:
    pyproject = ROOT / "pyproject.toml"
    if "mypy" in tomllib.loads(pyproject.read_text()).get("tool", {}):
        return pyproject
    fallback = tmp_path / "mypy.ini"
    fallback.write_text(FALLBACK_CONFIG)
    return fallback


def test_mypy_finds_no_errors_in_the_trading_core(tmp_path, monkeypatch):
    packages = [name for name in PACKAGES if (ROOT / name / "__init__.py").is_file()]
    tag = hashlib.sha1(str(ROOT).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"mypy-cache-{tag}"
    monkeypatch.chdir(ROOT)

    stdout, stderr, status = mypy_api.run(
        [
            "--config-file",
            str(_config_file(tmp_path)),
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            "--hide-error-context",
            *packages,
        ]
    )

    assert status == 0, f"mypy on {', '.join(packages)}:\n{stdout}{stderr}"
