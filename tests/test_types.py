"""Type checking is part of the test suite: mypy reports no error in the project's code.

Runs `mypy.api.run` with pyproject.toml's `[tool.mypy]`: its `files` name every package, the
top-level scripts and the benchmarks (the tests are not checked). The cache lives in the
system temp directory (not in the work tree).
"""

import hashlib
import tempfile
import tomllib
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parent.parent


def _checked() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]


def test_every_package_and_script_is_type_checked() -> None:
    top_level = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    scripts = {p.name for p in ROOT.glob("*.py")}
    assert top_level | scripts <= set(_checked())


def test_mypy_finds_no_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    tag = hashlib.sha1(str(ROOT).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"mypy-cache-{tag}"
    monkeypatch.chdir(ROOT)

    stdout, stderr, status = mypy_api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            "--hide-error-context",
        ]
    )

    assert status == 0, f"mypy on {', '.join(_checked())}:\n{stdout}{stderr}"
