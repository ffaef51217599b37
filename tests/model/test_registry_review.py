"""Model registry (add / promote / rollback, atomic writes), `model.review` on constructed
cases (an always-long model on the bundled week, which rose, against its inverse), and the
strategy's hot swap to a newly promoted version at the next bar."""

import json
import os
from pathlib import Path
from typing import Any

import pytest

from model import features, registry
from model.live import ModelMismatchError, load_linear_model
from model.review import main as review_main
from tests.model.support import WEEK, bars_of, week
from trading_engine.strategies.logistic_regression import LogisticRegressionStrategy

N = len(features.FEATURE_NAMES)
VIEW: Any = None  # the strategy does not read the account view


def write_model(path: Path, bias: float, *, flow: bool = False, feature_hash: str | None = None):
    """A hand-made model: constant logits (BUY = bias, SELL = -bias): always long for
    bias > 0, always short for bias < 0."""
    doc = {
        "format": "linear-softmax/1",
        "model": "logistic_regression",
        "classes": [-1, 0, 1],
        "feature_names": list(features.FEATURE_NAMES),
        "feature_hash": feature_hash or features.feature_code_hash(),
        "feature_config": {"flow": flow, "warmup_bars": features.WARMUP_BARS},
        "linear": {"coef": [[0.0] * N] * 3, "intercept": [-bias, 0.0, bias]},
    }
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def models(tmp_path):
    return {
        "long": write_model(tmp_path / "long.json", 5.0),
        "short": write_model(tmp_path / "short.json", -5.0),
    }


def test_add_promote_rollback(tmp_path, models):
    reg = tmp_path / "reg"
    assert registry.promoted(reg) is None and registry.versions(reg) == []
    a = registry.add(reg, models["long"])
    assert registry.add(reg, models["long"]) == a  # same bytes, same version
    b = registry.add(reg, models["short"])
    assert a != b and [v["version_id"] for v in registry.versions(reg)] == sorted([a, b])
    assert (reg / "versions" / a / "model.json").read_bytes() == models["long"].read_bytes()
    meta = json.loads((reg / "versions" / a / "meta.json").read_text())
    assert meta["sha256"][:8] == a.split("-")[1]
    with pytest.raises(registry.RegistryError, match="no earlier"):
        registry.rollback(reg)
    registry.promote(reg, a, "first")
    registry.promote(reg, b, "second")
    assert registry.promoted(reg) == reg / "versions" / b / "model.json"
    assert load_linear_model(reg).intercept == (5.0, 0.0, -5.0)  # a directory -> promoted
    assert registry.rollback(reg) == a
    assert registry.promoted_id(reg) == a
    assert load_linear_model(reg).intercept == (-5.0, 0.0, 5.0)
    state = json.loads((reg / "PROMOTED").read_text())
    assert [e["action"] for e in state["history"]] == ["promote", "promote", "rollback"]
    with pytest.raises(registry.RegistryError, match="no earlier"):
        registry.rollback(reg)
    with pytest.raises(registry.RegistryError, match="no version"):
        registry.promote(reg, "nope", "x")


def test_registry_refuses_bad_models_and_empty_registries(tmp_path):
    bad = write_model(tmp_path / "bad.json", 1.0, feature_hash="0" * 64)
    with pytest.raises(ModelMismatchError, match="feature code"):
        registry.add(tmp_path / "reg", bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelMismatchError, match="no promoted model"):
        load_linear_model(tmp_path / "empty")


def test_promoted_write_is_atomic(tmp_path, models, monkeypatch):
    reg = tmp_path / "reg"
    a = registry.add(reg, models["long"])
    b = registry.add(reg, models["short"])
    registry.promote(reg, a, "first")
    before = (reg / "PROMOTED").read_bytes()

    def crash(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        registry.promote(reg, b, "second")
    monkeypatch.undo()
    assert (reg / "PROMOTED").read_bytes() == before
    assert [p.name for p in reg.iterdir() if p.name.endswith(".tmp")] == []
    assert registry.promoted_id(reg) == a


def test_review_promotes_a_better_and_refuses_a_worse_candidate(tmp_path, models, capsys):
    reg = tmp_path / "reg"
    args = ["--registry", str(reg), "--data", str(WEEK), "--symbol", "btcusdt"]
    assert review_main([*args, "--candidate", str(models["short"])]) == 0
    short_id = registry.promoted_id(reg)
    assert "nothing promoted yet" in capsys.readouterr().out
    # The week rose: always long beats always short after fees.
    assert review_main([*args, "--candidate", str(models["long"])]) == 0
    out = capsys.readouterr().out
    long_id = registry.promoted_id(reg)
    assert long_id != short_id and f"promoted {long_id}" in out and "total_return *" in out
    # ... and the short model, offered again, is refused (on Sharpe as well).
    worse = write_model(tmp_path / "short2.json", -4.0)
    assert review_main([*args, "--candidate", str(worse), "--metric", "sharpe"]) == 0
    out = capsys.readouterr().out
    assert "does not beat" in out and registry.promoted_id(reg) == long_id
    assert len(registry.versions(reg)) == 3  # every version kept
    # A better candidate that does not clear the margin is refused too.
    better = write_model(tmp_path / "long2.json", 6.0)
    assert review_main([*args, "--candidate", str(better), "--min-improvement", "1"]) == 0
    assert registry.promoted_id(reg) == long_id
    assert review_main(["--registry", str(reg), "--rollback"]) == 0
    assert registry.promoted_id(reg) == short_id


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--candidate", "missing.json"], "not found"),
        (["--min-improvement", "-1"], "min-improvement"),
        (["--start", "yesterday"], "bad time"),
        (["--start", "2030-01-01"], "no rows"),
        (["--symbol", "NOPEUSDT"], "unknown symbol"),
    ],
)
def test_review_bad_inputs_exit_2_with_one_line(tmp_path, models, capsys, extra, message):
    args = ["--registry", str(tmp_path / "reg"), "--data", str(WEEK)]
    if "--candidate" not in extra:
        args += ["--candidate", str(models["long"])]
    assert review_main(args + extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert registry.promoted_id(tmp_path / "reg") is None


def test_review_rollback_without_history_exits_2(tmp_path, capsys):
    assert review_main(["--registry", str(tmp_path / "reg"), "--rollback"]) == 2
    assert "no earlier" in capsys.readouterr().err


def test_strategy_switches_to_the_promoted_model_at_the_next_bar(tmp_path, models, caplog):
    reg = tmp_path / "reg"
    a = registry.add(reg, models["long"])
    b = registry.add(reg, models["short"])
    registry.promote(reg, a, "first")
    bars = bars_of(week().iloc[: features.WARMUP_BARS + 3])
    strategy = LogisticRegressionStrategy(model_path=reg)
    assert strategy.model_version == a
    strategy.warm(bars[: features.WARMUP_BARS])
    target: Any
    (target,) = strategy.on_bar(bars[features.WARMUP_BARS], VIEW)
    assert target.qty > 0
    state_before = strategy._states["BTCUSDT"].features
    registry.promote(reg, b, "second")
    (target,) = strategy.on_bar(bars[features.WARMUP_BARS + 1], VIEW)
    assert target.qty < 0 and strategy.model_version == b  # switched at this bar
    assert strategy._states["BTCUSDT"].features is state_before  # features state kept
    # A promoted model that does not match the feature code is refused; the old one kept.
    bad = write_model(tmp_path / "bad.json", 7.0)
    c = registry.add(reg, bad)
    assert c not in (a, b)
    doc = json.loads((reg / "versions" / c / "model.json").read_text())
    doc["feature_hash"] = "0" * 64
    (reg / "versions" / c / "model.json").write_text(json.dumps(doc))
    registry.promote(reg, c, "broken")
    with caplog.at_level("WARNING"):
        (target,) = strategy.on_bar(bars[features.WARMUP_BARS + 2], VIEW)
    assert target.qty < 0 and strategy.model_version == b
    assert "refused" in caplog.text and "feature code" in caplog.text


def test_strategy_stats_promoted_at_most_once_per_bar(tmp_path, models, monkeypatch):
    reg = tmp_path / "reg"
    registry.promote(reg, registry.add(reg, models["long"]), "first")
    strategy = LogisticRegressionStrategy(model_path=reg)
    calls = []
    real = strategy._stat_promoted

    def counting_stat() -> Any:
        calls.append(1)
        return real()

    monkeypatch.setattr(strategy, "_stat_promoted", counting_stat)
    bars = bars_of(week().iloc[:5])
    for bar in bars:
        strategy.on_bar(bar, VIEW)
        strategy.on_bar(bar, VIEW)  # the same bar again: no second look
    strategy.on_bar(bars_of(week().iloc[4:5], symbol="ETHUSDT")[0], VIEW)  # same bar time
    assert len(calls) == 5
