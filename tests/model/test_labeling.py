"""Labels by hand, and the rule that keeps them off the live path: nothing under
trading_engine/ imports model.labeling."""

import ast
import math

import numpy as np
import pytest

from model.labeling import BUY, HOLD, SELL, forward_return_labels, peak_trough_labels
from tests.model.support import ROOT

nan = math.nan


def test_forward_return_labels_by_hand():
    c = np.array([100, 101, 103, 102, 99, 98, 100, 104, 103, 101.0])
    # log(103/100)=+2.96% BUY, log(102/101)=+0.99% HOLD (< 1%), log(99/103) SELL, ...
    got = forward_return_labels(c, horizon=2, threshold=0.01)
    np.testing.assert_array_equal(got, [BUY, HOLD, SELL, SELL, BUY, BUY, BUY, SELL, nan, nan])


def test_forward_return_labels_need_more_bars_than_the_horizon():
    assert np.isnan(forward_return_labels(np.array([1.0, 2.0]), horizon=2, threshold=0)).all()
    with pytest.raises(ValueError, match="horizon"):
        forward_return_labels(np.array([1.0]), horizon=0, threshold=0)


def test_peak_trough_labels_by_hand():
    c = np.array([100, 101, 103, 102, 99, 98, 100, 104, 103, 101.0])
    # 3% swings: trough 100 (bar 0) confirmed at 103 (+3%); peak 103 (bar 2) confirmed at 99
    # (-3.9%); trough 98 (bar 5) confirmed at 104 (+6.1%); the peak at 104 is never confirmed
    # (101 is -2.9%), so bars after the last confirmed turning point have no label.
    got = peak_trough_labels(c, min_swing=0.03)
    np.testing.assert_array_equal(got, [BUY, HOLD, SELL, HOLD, HOLD, BUY, nan, nan, nan, nan])


def test_peak_trough_labels_ignore_swings_below_the_minimum():
    c = np.array([100, 101, 100, 101, 100, 101.0])
    assert np.isnan(peak_trough_labels(c, min_swing=0.05)).all()


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


def test_nothing_under_trading_engine_imports_the_labels():
    offenders = [
        f"{p.relative_to(ROOT)}: {name}"
        for p in sorted((ROOT / "trading_engine").rglob("*.py"))
        for name in _imports(p)
        if name == "model.labeling" or name.startswith("model.labeling.")
    ]
    # A dynamic import (importlib) would name the module in a string.
    offenders += [
        f"{p.relative_to(ROOT)}: mentions model.labeling"
        for p in sorted((ROOT / "trading_engine").rglob("*.py"))
        if "model.labeling" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []
    assert sorted((ROOT / "trading_engine").rglob("*.py")), "scan found no files"
