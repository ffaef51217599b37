"""Fixtures shared by the backtest tests."""

from typing import Any

import pytest

from backtest import runner


@pytest.fixture
def built_strategies(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The strategies the backtests of the test build, in order: a test reads what its
    strategy saw (the runner builds it from its name)."""
    made: list[Any] = []
    build = runner.make_strategy

    def keep(name, **params):  # type: ignore[no-untyped-def]
        made.append(build(name, **params))
        return made[-1]

    monkeypatch.setattr(runner, "make_strategy", keep)
    return made
