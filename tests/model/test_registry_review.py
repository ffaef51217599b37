"""Model registry (add / promote / rollback, atomic writes), `model.review` on constructed
cases (an always-long model on the bundled week, which rose, against its inverse; a model
retrained by the review against a scrambled and a label-shuffled one, the decisions checked
against backtests recomputed here), and the strategy's hot swap to a newly promoted version at
the next bar."""

import hashlib
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backtest.data import load
from backtest.runner import WARM_HISTORY_BARS, BacktestConfig, run_backtest
from backtest_trading_strategy import main as backtest_main
from model import features, registry
from model.dataset import build_dataset
from model.live import ModelMismatchError, load_linear_model
from model.logreg_model import LogRegModel
from model.review import main as review_main
from model.review import metric_amount
from model.train import main as train_main
from model.train_data import load_bars
from tests.closed_pipe import run_with_reader_gone
from tests.ctrl_c import ctrl_c_while_importing
from tests.model.support import ROOT, WEEK, bars_of, week
from trading_engine.strategies.logistic_regression import LogisticRegressionStrategy

N = len(features.FEATURE_NAMES)
ETH_WEEK = ROOT / "exchange_sim/data/klines/ETHUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
VIEW: Any = None  # the strategy does not read the account view


def write_model(
    path: Path,
    bias: float,
    *,
    flow: bool = False,
    feature_hash: str | None = None,
    horizon: int | None = None,
):
    """A hand-made model: constant logits (BUY = bias, SELL = -bias): always long for
    bias > 0, always short for bias < 0."""
    doc: dict[str, Any] = {
        "format": "linear-softmax/1",
        "model": "logistic_regression",
        "classes": [-1, 0, 1],
        "feature_names": list(features.FEATURE_NAMES),
        "feature_hash": feature_hash or features.feature_code_hash(),
        "feature_config": {"flow": flow, "warmup_bars": features.WARMUP_BARS},
        "linear": {"coef": [[0.0] * N] * 3, "intercept": [-bias, 0.0, bias]},
        "symbol": "BTCUSDT",
        "interval": "1m",
    }
    if horizon is not None:
        doc["label"] = {"kind": "forward", "horizon": horizon}
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


def test_promoting_the_promoted_version_again_does_not_block_the_rollback(tmp_path, models):
    """A promoted, B promoted, B promoted again (a review or an operator re-confirming it): the
    rollback goes back to A. Before, it "rolled back" to B itself: nothing changed."""
    reg = tmp_path / "reg"
    a = registry.add(reg, models["long"])
    b = registry.add(reg, models["short"])
    registry.promote(reg, a, "first")
    registry.promote(reg, b, "second")
    registry.promote(reg, b, "again")

    assert registry.rollback(reg) == a
    assert registry.promoted_id(reg) == a


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
    # The last two days of the week (price rose 1.08 % from May 10 00:00 to the end).
    args = ["--registry", str(reg), "--data", str(WEEK), "--symbol", "btcusdt", "--eval-days", "2"]
    assert review_main([*args, "--init", "--candidate", str(models["short"])]) == 0
    short_id = registry.promoted_id(reg)
    out = capsys.readouterr().out
    assert "nothing promoted yet" in out
    assert "after fees; promoted: none\n" in out  # as --list says it, not Python's None
    # The week rose: always long beats always short after fees.
    assert review_main([*args, "--candidate", str(models["long"])]) == 0
    out = capsys.readouterr().out
    long_id = registry.promoted_id(reg)
    assert long_id != short_id and f"promoted {long_id}" in out and "total_return *" in out
    (drawdowns,) = [line for line in out.splitlines() if line.startswith("max_drawdown")]
    assert "%" in drawdowns and "+" not in drawdowns  # a depth, not a gain
    # ... and the short model, offered again, is refused (on Sharpe as well).
    worse = write_model(tmp_path / "short2.json", -4.0)
    assert review_main([*args, "--candidate", str(worse), "--metric", "sharpe"]) == 0
    out = capsys.readouterr().out
    assert "does not beat" in out and registry.promoted_id(reg) == long_id
    assert len(registry.versions(reg)) == 3  # every version kept
    # A better candidate that does not clear the margin is refused too.
    better = write_model(tmp_path / "long2.json", 6.0)
    assert review_main([*args, "--candidate", str(better), "--min-improvement", "1%"]) == 0
    assert f"does not beat {long_id} (+0.01 (1 percentage point))" in capsys.readouterr().out
    assert registry.promoted_id(reg) == long_id
    # A floor on the metric itself: a losing candidate is not promoted even into an empty
    # registry (the short model lost money after fees on the week).
    empty = tmp_path / "empty"
    floor = ["--registry", str(empty), "--init", "--data", str(WEEK), "--min-metric", "0",
             "--eval-days", "2"]  # fmt: skip
    assert review_main([*floor, "--candidate", str(models["short"])]) == 0
    assert "does not clear --min-metric 0 (nothing promoted yet" in capsys.readouterr().out
    assert registry.promoted_id(empty) is None and len(registry.versions(empty)) == 1
    assert review_main(["--registry", str(reg), "--rollback"]) == 0
    assert registry.promoted_id(reg) == short_id


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--candidate", "missing.json"], "not found"),
        (["--min-improvement", "-1"], "min-improvement"),
        (["--start", "yesterday"], "bad time"),
        (["--start", "2030-01-01"], "empty evaluation window"),
        (["--eval-days", "0"], "bad --eval-days"),
        (["--eval-days", "1", "--start", "2025-05-09"], "not both"),
        (["--notional", "x"], "bad --notional"),
        (["--min-metric", "nan"], "bad --min-metric"),
        # 1 meant as 1 %: a margin of 100 percentage points, nothing was ever promoted.
        (
            ["--min-improvement", "1"],
            "model.review: error: bad --min-improvement '1': --metric total_return is a "
            "fraction (0.01 = 1 percentage point), so 1 would ask for 100 points more; for 1 "
            "point give 0.01 or 1%, for 100 points 100%\n",
        ),
        # 0.5 meant as half a point asked for 50 points: nothing was ever promoted.
        (
            ["--min-improvement", "0.5"],
            "model.review: error: bad --min-improvement '0.5': --metric total_return is a "
            "fraction (0.01 = 1 percentage point), so 0.5 would ask for 50 points more; for 0.5 "
            "points give 0.005 or 0.5%, for 50 points 50%\n",
        ),
        (["--metric", "max_drawdown", "--min-improvement", "0.1"], "for 10 points 10%\n"),
        (["--min-metric", "2"], "bad --min-metric '2': --metric total_return is a fraction"),
        (["--metric", "max_drawdown", "--min-metric", "5"], "for 5 % give 0.05 or 5%"),
        (["--metric", "sharpe", "--min-improvement", "1%"], "sharpe is not a percentage"),
        (["--min-improvement=-1%"], "bad --min-improvement '-1%': expected >= 0"),
        (["--train-days", "2"], "one of --candidate FILE, --train-days N"),
        # A candidate file is not trained here: they changed nothing and nothing said so.
        (
            ["--folds", "3"],
            "--folds is a training flag (for --train-days N): --candidate FILE "
            "is reviewed as it was trained, and it would be ignored",
        ),
        (["--horizon", "30", "--jobs=2"], "--horizon and --jobs are training flags"),
        # A window under a day has no annualized figures: both models scored None, and the
        # candidate "did not beat" the promoted one.
        (
            ["--metric", "sharpe", "--eval-days", "0.5"],
            "model.review: error: --metric sharpe is annualized, and the evaluation window "
            "2025-05-11 12:00 .. 2025-05-12 00:00 spans 12 h (under a day): neither model has "
            "one; evaluate on a day or more, or give --metric total_return\n",
        ),
        (["--symbol", "NOPEUSDT"], "holds BTCUSDT, not --symbol NOPEUSDT"),  # by its name
        (["--data", str(ETH_WEEK)], "ETHUSDT-um-1m-2025-05-05_2025-05-11.csv.gz holds ETHUSDT"),
    ],
)
def test_review_bad_inputs_exit_2_with_one_line(tmp_path, models, capsys, extra, message):
    args = ["--registry", str(tmp_path / "reg"), "--init"]
    if "--data" not in extra:  # given twice, --data is refused itself
        args += ["--data", str(WEEK)]
    if "--candidate" not in extra:
        args += ["--candidate", str(models["long"])]
    assert review_main(args + extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "reg").exists()  # --init creates it only when a version is added


def test_a_candidate_refused_by_an_empty_registry_says_nothing_stays_promoted(
    tmp_path, models, capsys
):
    # Its last line said "-> kept None", Python's None, where the first says "promoted: none".
    reg = tmp_path / "reg"
    args = ["--registry", str(reg), "--init", "--data", str(WEEK), "--eval-days", "2",
            "--candidate", str(models["short"]), "--min-metric", "0"]  # fmt: skip

    assert review_main(args) == 0

    (version,) = registry.versions(reg)
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.endswith(f"-> kept none; candidate stored as {version['version_id']}")
    assert registry.promoted_id(reg) is None


@pytest.mark.parametrize("typed", ["-50%", "-5e-1", "-50 %"])
def test_a_negative_floor_is_taken_as_the_flags_value(tmp_path, models, capsys, typed):
    # argparse took `-50%` for another flag: "argument --min-metric: expected one argument"
    # (only `--min-metric=-50%` passed). A floor of -50 % promotes the short model, which
    # lost far less than that on the day.
    reg = tmp_path / "reg"
    args = ["--registry", str(reg), "--init", "--data", str(WEEK), "--eval-days", "1",
            "--candidate", str(models["short"]), "--min-metric", typed]  # fmt: skip

    assert review_main(args) == 0

    assert "nothing promoted yet: promote the candidate -> promoted" in capsys.readouterr().out
    assert registry.promoted_id(reg) is not None


@pytest.mark.parametrize(
    ("metric", "typed", "value"),
    [
        ("total_return", "0.01", 0.01),
        ("total_return", "1%", 0.01),
        ("total_return", " 0.5 % ", 0.005),
        ("annualized_return", "150%", 1.5),  # a margin of 1 or more, written unambiguously
        ("max_drawdown", "-0.2", -0.2),
        ("sharpe", "1", 1.0),  # no fraction: 1 is 1
        ("profit_factor", "2.5", 2.5),
    ],
)
def test_a_margin_is_read_in_the_metrics_unit(metric, typed, value):
    assert metric_amount("--min-improvement", typed, metric) == pytest.approx(value, abs=1e-15)


@pytest.mark.parametrize(
    ("metric", "typed", "value"),
    [
        ("total_return", "0.005", 0.005),  # half a percentage point
        ("total_return", "0.099", 0.099),
        ("total_return", "0.5%", 0.005),
        ("total_return", "50%", 0.5),  # a margin of 10 points or more, written with its unit
        ("annualized_return", "150%", 1.5),
        ("sharpe", "0.5", 0.5),  # not a fraction: 0.5 is 0.5
    ],
)
def test_a_margin_is_taken_in_percentage_points_on_a_fraction(metric, typed, value):
    taken = metric_amount("--min-improvement", typed, metric, at_least=0, margin=True)
    assert taken == pytest.approx(value, abs=1e-15)


def test_a_floor_below_one_is_taken_as_a_fraction():
    # Only a margin's plain 0.1 or more is refused: a floor of 0.5 (a 50 % return, a 50 %
    # drawdown) reads as what it says.
    assert metric_amount("--min-metric", "0.5", "max_drawdown") == 0.5


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"interval": "5m"}, "the model was trained on 5m bars, the strategy gets 1m bars"),
        ({"symbol": "ETHUSDT"}, "the model was trained on ETHUSDT, the strategy trades BTCUSDT"),
        (
            {"feature_config": {"flow": True, "warmup_bars": features.WARMUP_BARS}},
            "the model was trained with the taker-flow features (flow on)",
        ),
    ],
)
def test_review_refuses_a_candidate_trained_on_other_bars(tmp_path, models, capsys, changes, says):
    # Such a candidate was backtested on the 1m klines (taker volume 0) and promoted; the daemon
    # then refused the registry, or traded the flow model on zeros.
    doc = json.loads(models["long"].read_text())
    doc.update(changes)
    models["long"].write_text(json.dumps(doc))
    argv = ["--registry", str(tmp_path / "reg"), "--init", "--data", str(WEEK),
            "--candidate", str(models["long"]), "--eval-days", "1"]  # fmt: skip
    assert review_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"model.review: error: {says}") and err.count("\n") == 1
    assert not (tmp_path / "reg").exists()


def test_review_replaces_a_promoted_model_trained_with_other_feature_code(tmp_path, models, capsys):
    # After a change of model/features.py the promoted model cannot be backtested: the review
    # stopped with its ModelMismatchError, so it could never be replaced.
    reg = tmp_path / "reg"
    stale = _promote_broken(reg, models["short"], lambda d: d.update(feature_hash="0" * 64))
    argv = ["--registry", str(reg), "--data", str(WEEK), "--candidate", str(models["long"]),
            "--eval-days", "1"]  # fmt: skip
    assert review_main(argv) == 0
    out = capsys.readouterr().out
    assert f"promoted model {stale} cannot run with this code, not comparable: " in out
    assert "model/features.py changed" in out
    version = registry.promoted_id(reg)
    assert version != stale
    assert f"promoted {stale} cannot run with this code: promote the candidate" in out
    (record,) = registry.reviews(reg, version)
    assert set(record["backtests"]) == {"candidate"} and record["promote"] is True
    assert "model/features.py changed" in record["promoted_unusable"]


def test_review_rollback_without_history_exits_2(tmp_path, capsys):
    (tmp_path / "reg").mkdir()
    assert review_main(["--registry", str(tmp_path / "reg"), "--rollback"]) == 2
    assert "no earlier" in capsys.readouterr().err


def _review_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model.review", *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_review_refuses_a_missing_registry_without_init(tmp_path, models):
    # A mistyped --registry used to start a new registry and promote the untested candidate.
    reg = tmp_path / "typo"
    run = _review_cli("--registry", str(reg), "--data", str(WEEK), "--candidate",
                      str(models["long"]), "--eval-days", "1")  # fmt: skip
    assert run.returncode == 2 and run.stdout == ""
    said = f"--registry {reg}: no such registry (to start a new one there, add --init)"
    assert run.stderr == f"model.review: error: {said}\n"
    assert "Traceback" not in run.stderr
    assert not reg.exists()


def test_review_refuses_a_directory_that_is_not_a_registry(tmp_path, models, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    for init in ([], ["--init"]):
        argv = ["--registry", str(other), *init, "--data", str(WEEK),
                "--candidate", str(models["long"]), "--eval-days", "1"]  # fmt: skip
        assert review_main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"--registry {other}: not a model registry" in err
        assert "give a new or empty directory with --init" in err
        assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]  # nothing written


def test_review_accepts_the_shipped_registry_and_an_empty_directory_without_init(tmp_path):
    from model.review import check_registry

    shipped = ROOT / "models/btcusdt-1m"  # runtime.settings' default strategy.model_path
    assert registry.state_of(shipped) == "registry"
    check_registry(shipped, init=False)
    (tmp_path / "empty").mkdir()
    check_registry(tmp_path / "empty", init=False)
    check_registry(tmp_path / "new", init=True)
    assert not (tmp_path / "new").exists()


def test_review_reports_missing_data_before_guessing_its_format(tmp_path, models, capsys):
    reg = tmp_path / "reg"
    registry.add(reg, models["long"])
    argv = ["--registry", str(reg), "--data", "/nonexistent", "--candidate", str(models["long"])]
    assert review_main(argv) == 2
    err = capsys.readouterr().err
    assert err == "model.review: error: data not found: /nonexistent\n"


def test_review_reads_a_history_stores_root_as_its_symbols_1m_klines(tmp_path, models, capsys):
    # `--data data_store` (fetch_historical.py --out data_store) said "no .parquet files in
    # data_store"; now the same bars, so the same review, as given the klines' folder.
    from market_history.importers import import_file
    from market_history.schema import Kind
    from market_history.store import HistoryStore

    root = tmp_path / "data_store"
    import_file(HistoryStore(root), WEEK, symbol="BTCUSDT", kind=Kind.klines("1m"), layout="ohlcv")
    reviews = []
    for name, data in (("root", root), ("folder", root / "BTCUSDT" / "klines-1m")):
        reg = tmp_path / name
        argv = ["--registry", str(reg), "--init", "--data", str(data), "--symbol", "BTCUSDT",
                "--candidate", str(models["long"]), "--eval-days", "2"]  # fmt: skip
        assert review_main(argv) == 0, capsys.readouterr().err
        (review,) = registry.reviews(reg, registry.promoted_id(reg))
        reviews.append(review)
    for key in ("window", "backtest_from_ms", "backtests"):
        assert reviews[0][key] == reviews[1][key]


def test_review_names_what_a_history_store_holds_without_the_symbols_klines(
    tmp_path, models, capsys
):
    from market_history.importers import import_file
    from market_history.schema import Kind
    from market_history.store import HistoryStore

    five = tmp_path / "5m.csv"
    week().iloc[::5].to_csv(five, index=False)
    root = tmp_path / "data_store"
    import_file(HistoryStore(root), five, symbol="BTCUSDT", kind=Kind.klines("5m"), layout="ohlcv")
    argv = ["--registry", str(tmp_path / "reg"), "--init", "--data", str(root),
            "--candidate", str(models["long"])]  # fmt: skip
    assert review_main(argv) == 2
    assert capsys.readouterr().err == (
        f"model.review: error: --data {root}: this history store has no BTCUSDT/klines-1m "
        "(it holds BTCUSDT/klines-5m)\n"
    )


def test_review_tells_a_flag_mistake_and_its_own_errors_in_one_form(tmp_path, capsys):
    # A flag mistake said `python -m model.review: error: ...`, the review's own errors
    # `model.review: ...`; model.train says `model.train: error: ...` for both.
    assert review_main(["--metric", "nope"]) == 2
    flag_err = capsys.readouterr().err
    assert review_main(["--registry", str(tmp_path / "none"), "--list"]) == 2
    own_err = capsys.readouterr().err

    assert flag_err.startswith("model.review: error: argument --metric: invalid choice")
    assert own_err.startswith("model.review: error: ") and own_err.count("\n") == 1


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


def _promote_broken(reg: Path, path: Path, edit) -> str:
    """Add a model, edit its file inside the registry (as a hand edit or a bad copy would),
    promote it."""
    version = registry.add(reg, path)
    model_file = reg / "versions" / version / "model.json"
    doc = json.loads(model_file.read_text())
    edit(doc)
    model_file.write_text(json.dumps(doc))
    registry.promote(reg, version, "broken")
    return version


def _live_rows_through_a_refused_swap(tmp_path, models, at_swap) -> tuple[Any, list, list]:
    """(strategy, live rows, bars): a long model promoted, `at_swap(reg)` called before the
    bar 40 bars after the warm-up, the old model kept."""
    reg = tmp_path / "reg"
    first = registry.add(reg, models["long"])
    registry.promote(reg, first, "first")
    bars = bars_of(week().iloc[: features.WARMUP_BARS + 80])
    strategy = LogisticRegressionStrategy(model_path=reg)
    rows = []
    for i, bar in enumerate(bars):
        if i == features.WARMUP_BARS + 40:
            at_swap(reg)
        strategy.on_bar(bar, VIEW)
        rows.append(strategy.last_features("BTCUSDT"))
    assert strategy.model_version == first  # the old model kept
    return strategy, rows, bars


def _assert_rows_equal_batch(rows: list, bars: list) -> None:
    batch = features.compute_features(week().iloc[: len(bars)]).to_numpy()
    for i, row in enumerate(rows):
        if row is None:
            assert np.isnan(batch[i]).any(), i
        else:
            np.testing.assert_allclose(row, batch[i], rtol=0, atol=1e-9, err_msg=str(i))


def test_a_refused_swap_of_a_malformed_model_keeps_every_bar_in_the_features(
    tmp_path, models, caplog
):
    # A promoted model.json without "linear" raised KeyError out of on_bar before the bar
    # reached the feature state: the live features drifted from the batch ones.
    with caplog.at_level("WARNING"):
        strategy, rows, bars = _live_rows_through_a_refused_swap(
            tmp_path,
            models,
            lambda reg: _promote_broken(reg, models["short"], lambda d: d.pop("linear")),
        )
    assert strategy._states["BTCUSDT"].features.bars_seen == len(bars)
    assert "promoted model refused" in caplog.text and 'no "linear" object' in caplog.text
    _assert_rows_equal_batch(rows, bars)


def test_a_swap_failing_in_any_way_keeps_the_bar_and_the_old_model(
    tmp_path, models, caplog, monkeypatch
):
    import trading_engine.strategies.logistic_regression as lr

    def broken_loader(path: Any) -> Any:
        raise KeyError("linear")  # an error the swap does not expect

    def promote_short(reg: Path) -> None:
        monkeypatch.setattr(lr, "load_linear_model", broken_loader)
        registry.promote(reg, registry.add(reg, models["short"]), "second")

    with caplog.at_level("WARNING"):
        strategy, rows, bars = _live_rows_through_a_refused_swap(tmp_path, models, promote_short)
    assert strategy._states["BTCUSDT"].features.bars_seen == len(bars)
    assert "promoted model refused, keeping" in caplog.text and "KeyError: 'linear'" in caplog.text
    _assert_rows_equal_batch(rows, bars)


def test_a_promoted_model_of_another_symbol_is_refused_at_the_swap(tmp_path, models, caplog):
    reg = tmp_path / "reg"
    first = registry.add(reg, models["long"])
    registry.promote(reg, first, "first")
    strategy = LogisticRegressionStrategy(model_path=reg, symbols=("BTCUSDT",))
    bars = bars_of(week().iloc[:2])
    strategy.on_bar(bars[0], VIEW)
    eth = json.loads(Path(models["short"]).read_text())
    eth["symbol"] = "ETHUSDT"
    (tmp_path / "eth.json").write_text(json.dumps(eth))
    registry.promote(reg, registry.add(reg, tmp_path / "eth.json"), "an ETH model")
    with caplog.at_level("WARNING"):
        strategy.on_bar(bars[1], VIEW)
    assert strategy.model_version == first
    assert "the model was trained on ETHUSDT, the strategy trades BTCUSDT" in caplog.text


def test_a_registry_version_edited_after_it_was_added_is_refused(tmp_path, models, caplog):
    """A version's model.json edited in place (still a valid model) was loaded as if it were
    the version reviewed and promoted: its sha256 no longer matches the one the registry
    recorded, so it is refused at start and at a swap, naming both hashes."""
    reg = tmp_path / "reg"
    first = registry.add(reg, models["long"])
    registry.promote(reg, first, "first")
    strategy = LogisticRegressionStrategy(model_path=reg, symbols=("BTCUSDT",))
    bars = bars_of(week().iloc[:2])
    strategy.on_bar(bars[0], VIEW)
    added = json.loads((reg / "versions" / first / "meta.json").read_text())["sha256"]
    edited = _promote_broken(reg, models["short"], lambda d: d["linear"]["intercept"].reverse())
    now = hashlib.sha256((reg / "versions" / edited / "model.json").read_bytes()).hexdigest()
    with caplog.at_level("WARNING"):
        strategy.on_bar(bars[1], VIEW)
    assert strategy.model_version == first
    assert "model file changed since it was added (sha256 " in caplog.text
    assert f"{now[:12]} now)" in caplog.text
    with pytest.raises(ValueError, match="changed since it was added"):
        LogisticRegressionStrategy(model_path=reg, symbols=("BTCUSDT",))
    registry.promote(reg, first, "back")  # the untouched version still loads
    assert LogisticRegressionStrategy(model_path=reg, symbols=("BTCUSDT",)).model.sha256 == added


def test_a_swapped_model_brings_its_own_hold_period(tmp_path):
    # hold_bars defaults to the model's label horizon: after a swap, the new model's (found by
    # H11: the old horizon stayed). An explicit hold_bars stays what the config says.
    reg = tmp_path / "reg"
    a = registry.add(reg, write_model(tmp_path / "a.json", 5.0, horizon=15))
    b = registry.add(reg, write_model(tmp_path / "b.json", -5.0, horizon=5))
    registry.promote(reg, a, "first")
    bars = bars_of(week().iloc[: features.WARMUP_BARS + 2])
    follows = LogisticRegressionStrategy(model_path=reg)
    fixed = LogisticRegressionStrategy(model_path=reg, hold_bars=7)
    for strategy in (follows, fixed):
        strategy.warm(bars[: features.WARMUP_BARS])
        strategy.on_bar(bars[features.WARMUP_BARS], VIEW)
    assert (follows.hold_bars, fixed.hold_bars) == (15, 7)
    registry.promote(reg, b, "second")
    for strategy in (follows, fixed):
        strategy.on_bar(bars[features.WARMUP_BARS + 1], VIEW)
        assert strategy.model_version == b
    assert (follows.hold_bars, fixed.hold_bars) == (5, 7)


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


# --- review with retraining: train on May 5-8, evaluate out of sample on May 9-11 ------------

DAY = 86_400_000
EVAL_START = 1746748800000  # 2025-05-09T00:00Z
EVAL_END = 1747008000000  # 2025-05-12T00:00Z (the week's end)
TRAIN = ["--folds", "3", "--c", "0.1", "--jobs", "1", "--no-progress"]
REVIEW = ["--data", str(WEEK), "--train-days", "4", "--eval-days", "3", *TRAIN]


@pytest.fixture(scope="module")
def rivals(tmp_path_factory):
    """Two honest rivals for the model the review trains on May 5-8:
    - scrambled: that same training run's coefficients with the feature columns permuted
      (seed 0) and their signs flipped: a model reacting to the wrong features the wrong way;
    - shuffled: the same pipeline fitted on May 5-8 with the labels permuted (seed 0): it learns
      no signal, so its probabilities stay near the class frequencies and it seldom trades."""
    d = tmp_path_factory.mktemp("rivals")
    trained = d / "trained.json"
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--start",
            "2025-05-05", "--end", "2025-05-09", "--out", str(trained), *TRAIN]  # fmt: skip
    assert train_main(argv) == 0
    doc = json.loads(trained.read_text())
    coef = np.array(doc["linear"]["coef"])
    perm = np.random.default_rng(0).permutation(coef.shape[1])
    assert (perm != np.arange(coef.shape[1])).any()
    doc["linear"]["coef"] = (-coef[:, perm]).tolist()
    doc.pop("unfolded")
    (d / "scrambled.json").write_text(json.dumps(doc))
    df = load_bars(WEEK, symbol="BTCUSDT", interval="1m", start_ms=EVAL_START - 4 * DAY,
                   end_ms=EVAL_START)  # fmt: skip
    x, y, _r, _ = build_dataset(
        df, flow=False, label="forward", horizon=15, threshold=0.001, min_swing=0.005
    )
    y_shuffled = np.random.default_rng(0).permutation(y)
    shuffled = LogRegModel(c=0.1).fit(x, y_shuffled)
    shuffled.metadata = {"symbol": "BTCUSDT", "interval": "1m"}
    shuffled.save(d / "shuffled.json")
    return {"trained": trained, "scrambled": d / "scrambled.json", "shuffled": d / "shuffled.json"}


def _oos_backtest(model_path: Path):
    """The review's evaluation, recomputed: the window traded by the strategy warmed on the
    bars before it (as the backtester's --start and the daemon's REST warm-up warm it)."""
    data = load(WEEK, start_ms=EVAL_START - WARM_HISTORY_BARS * 60_000, end_ms=EVAL_END)
    config = BacktestConfig(
        strategy="logistic_regression",
        strategy_params={"model_path": str(model_path), "order_notional_usdt": Decimal(1000)},
        trade_from_ms=EVAL_START,
    )
    return run_backtest(data, config)


def _seed(reg: Path, model: Path) -> str:
    version = registry.add(reg, model)
    registry.promote(reg, version, "test seed")
    return version


def test_review_promotes_the_better_and_refuses_the_worse_of_trained_and_scrambled(
    tmp_path, rivals, capsys
):
    """The same pair reviewed both ways: (A) the review retrains a candidate on May 5-8 while
    the scrambled model is promoted; (B) the scrambled model is offered as a candidate while the
    trained one is promoted. Which of the two is better after fees on May 9-11 is measured
    here, independently, with the backtester; the review must promote it in the case where it
    is the candidate and refuse the other one. (Which one wins depends on the strategy's
    thresholds, not on this test.)"""
    margin = 0.001
    trained_oos, scrambled_oos = (
        _oos_backtest(rivals["trained"]),
        _oos_backtest(rivals["scrambled"]),
    )
    assert trained_oos.summary.fees > 0 and scrambled_oos.summary.fees > 0  # both trade, fees on
    gap = trained_oos.summary.total_return - scrambled_oos.summary.total_return
    assert abs(gap) > margin
    trained_wins = gap > margin

    # (A) retrain vs a promoted scrambled model.
    reg_a = tmp_path / "a"
    scrambled = _seed(reg_a, rivals["scrambled"])
    assert review_main(["--registry", str(reg_a), *REVIEW, "--min-improvement", str(margin)]) == 0
    out = capsys.readouterr().out
    assert "2025-05-09 00:00 .. 2025-05-12 00:00" in out and "majority" in out
    (cand_a,) = [v for v in registry.versions(reg_a) if v["version_id"] != scrambled]
    window = cand_a["model"]["training_window"]
    assert window["start"] == "2025-05-05T00:00:00Z"
    assert window["end_exclusive"] == "2025-05-09T00:00:00Z"
    # The retrained candidate is the model train_main fits on that window (same code and data).
    candidate_file = registry.version_dir(reg_a, cand_a["version_id"]) / "model.json"
    assert load_linear_model(candidate_file).coef == load_linear_model(rivals["trained"]).coef
    (rev,) = cand_a["reviews"]
    assert rev["eval_window_ms"] == [EVAL_START, EVAL_END] and rev["promoted"] == scrambled
    assert rev["candidate_in_sample"] is False and "model" in rev["training"]["out_of_sample"]
    assert rev["backtests"]["candidate"] == trained_oos.metrics()
    assert rev["backtests"]["promoted"] == scrambled_oos.metrics()
    assert rev["promote"] is trained_wins
    assert registry.promoted_id(reg_a) == (cand_a["version_id"] if trained_wins else scrambled)

    # (B) the scrambled model as the candidate vs the promoted trained model.
    reg_b = tmp_path / "b"
    trained = _seed(reg_b, rivals["trained"])
    args = ["--registry", str(reg_b), "--data", str(WEEK), "--eval-days", "3"]
    assert review_main([*args, "--candidate", str(rivals["scrambled"]),
                        "--min-improvement", str(margin)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    (cand_b,) = [v for v in registry.versions(reg_b) if v["version_id"] != trained]
    assert cand_b["reviews"][0]["promote"] is (not trained_wins)
    assert ("does not beat" in out) is trained_wins
    assert registry.promoted_id(reg_b) == (trained if trained_wins else cand_b["version_id"])
    assert len(registry.versions(reg_b)) == 2  # a refused candidate is kept too


def test_review_flags_an_in_sample_candidate_and_rollback_restores(tmp_path, rivals, capsys):
    reg = tmp_path / "reg"
    first = _seed(reg, rivals["shuffled"])
    trained = registry.add(reg, rivals["trained"])
    registry.promote(reg, trained, "test seed")
    # The trained model evaluated inside its own training window is flagged.
    argv = ["--registry", str(reg), "--data", str(WEEK), "--start", "2025-05-08", "--end",
            "2025-05-09", "--candidate", str(rivals["trained"])]  # fmt: skip
    assert review_main(argv) == 0
    assert "overlaps the evaluation window" in capsys.readouterr().out
    assert review_main(["--registry", str(reg), "--rollback"]) == 0
    assert f"-> {first}" in capsys.readouterr().out
    assert registry.promoted_id(reg) == first
    # The backtester's --model takes the registry: it now runs the rolled-back version.
    out_dir = tmp_path / "bt"
    argv = ["--data", str(WEEK), "--strategy", "logistic_regression", "--model", str(reg),
            "--start", str(EVAL_START), "--end", str(EVAL_END), "--out", str(out_dir),
            "--no-progress"]  # fmt: skip  # the same warmed replay as _oos_backtest's
    assert backtest_main(argv) == 0
    summary = json.loads((out_dir / "summary.json").read_text())["metrics"]
    assert summary == _oos_backtest(rivals["shuffled"]).metrics()


def _trained_on(path: Path, start: str, end: str) -> Path:
    """`path`'s model with a recorded training window [start, end) (UTC)."""
    doc = json.loads(path.read_text())
    doc["training_window"] = {"start": start, "end_exclusive": end}
    path.write_text(json.dumps(doc))
    return path


def test_a_candidate_trained_on_the_evaluation_days_is_not_promoted_on_them(
    tmp_path, models, capsys
):
    # The always-long model beats the always-short one on the last two days (the week rose:
    # test_review_promotes_a_better_and_refuses_a_worse_candidate), but this one says it was
    # trained on the whole week, evaluation days included: its lead there is look-ahead.
    reg = tmp_path / "reg"
    short_id = _seed(reg, models["short"])
    long_in_sample = _trained_on(models["long"], "2025-05-05T00:00:00Z", "2025-05-12T00:00:00Z")
    args = ["--registry", str(reg), "--data", str(WEEK), "--eval-days", "2"]

    assert review_main([*args, "--candidate", str(long_in_sample)]) == 0

    out = capsys.readouterr().out
    assert "candidate trained on 2025-05-05 00:00 .. 2025-05-12 00:00" in out
    assert "overlaps the evaluation window" in out and "in-sample" in out
    assert registry.promoted_id(reg) == short_id
    (version,) = [v for v in registry.versions(reg) if v["version_id"] != short_id]
    review = version["reviews"][-1]
    assert review["candidate_in_sample"] is True and review["promote"] is False


def test_an_in_sample_candidate_does_not_clear_min_metric(tmp_path, models, capsys):
    long_in_sample = _trained_on(models["long"], "2025-05-05T00:00:00Z", "2025-05-12T00:00:00Z")
    argv = ["--registry", str(tmp_path / "reg"), "--init", "--data", str(WEEK), "--eval-days",
            "2", "--min-metric", "0", "--candidate", str(long_in_sample)]  # fmt: skip

    assert review_main(argv) == 0

    assert "cannot clear --min-metric" in capsys.readouterr().out
    assert registry.promoted_id(tmp_path / "reg") is None


def test_a_promoted_model_evaluated_on_its_training_days_is_flagged(tmp_path, models, capsys):
    reg = tmp_path / "reg"
    _seed(reg, _trained_on(models["short"], "2025-05-09T00:00:00Z", "2025-05-11T00:00:00Z"))
    long = _trained_on(models["long"], "2025-05-05T00:00:00Z", "2025-05-10T00:00:00Z")
    argv = ["--registry", str(reg), "--data", str(WEEK), "--eval-days", "2", "--candidate",
            str(long)]  # fmt: skip

    assert review_main(argv) == 0

    out = capsys.readouterr().out
    assert "the promoted model's training window (2025-05-09 00:00 .. 2025-05-11 00:00)" in out
    assert "candidate's training window overlaps" not in out
    (review,) = [r for v in registry.versions(reg) for r in v["reviews"]]
    assert review["promoted_in_sample"] is True and review["candidate_in_sample"] is False


def test_a_registry_of_another_symbol_is_refused_before_training(tmp_path, models, capsys):
    # Said at once, naming the registry, rather than by the promoted model's backtest after
    # the candidate's training ("the model was trained on BTCUSDT, the strategy trades ...").
    reg = tmp_path / "reg"
    doc = json.loads(models["long"].read_text())
    doc["symbol"] = "BTCUSDT"
    models["long"].write_text(json.dumps(doc))
    promoted = _seed(reg, models["long"])
    argv = ["--registry", str(reg), "--data", str(ETH_WEEK), "--symbol", "ETHUSDT",
            "--train-days", "3", "--eval-days", "2", "--jobs", "1"]  # fmt: skip

    assert review_main(argv) == 2

    captured = capsys.readouterr()
    assert captured.out == ""  # nothing trained
    assert captured.err == (
        f"model.review: error: --registry {reg}: its promoted model {promoted} trades BTCUSDT, not "
        "--symbol ETHUSDT; review ETHUSDT models in a registry of their own\n"
    )
    assert registry.versions(reg)[0]["version_id"] == promoted and len(registry.versions(reg)) == 1


def test_an_evaluation_window_starting_inside_a_minute_keeps_the_candidate_out_of_sample(
    tmp_path, capsys
):
    # --eval-days 0.01 is 14.4 minutes: the window began at 23:45:36, the candidate trained up
    # to it (the 23:45 bar included) while the evaluation began with the 23:46 bar, and the
    # review's own candidate was reported as overlapping its evaluation window.
    reg = tmp_path / "reg"
    argv = ["--registry", str(reg), "--init", "--data", str(WEEK), "--train-days", "3",
            "--eval-days", "0.01", "--folds", "2", "--c", "0.1", "--jobs", "1"]  # fmt: skip

    assert review_main(argv) == 0

    out = capsys.readouterr().out
    assert "overlaps" not in out
    assert "review on BTCUSDT 2025-05-11 23:46 .. 2025-05-12 00:00" in out
    assert "candidate trained on 2025-05-08 23:46 .. 2025-05-11 23:46" in out
    (review,) = [r for v in registry.versions(reg) for r in v["reviews"]]
    assert review["candidate_in_sample"] is False and review["eval_window_ms"][0] % 60_000 == 0


def test_train_days_beyond_the_data_say_how_many_days_the_candidate_trains_on(tmp_path, capsys):
    # --train-days 30 on a week trained on its first 5 days without a word; only the
    # 'candidate trained on' line, further down, showed the dates.
    reg = tmp_path / "reg"
    argv = ["--registry", str(reg), "--init", "--data", str(WEEK), "--train-days", "30",
            "--eval-days", "2", *TRAIN]  # fmt: skip
    assert review_main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "--train-days 30: --data begins 2025-05-05 00:00, so the candidate trains on 5 days\n"
    )
    assert "candidate trained on 2025-05-05 00:00 .. 2025-05-10 00:00" in out


def test_train_days_within_the_data_say_nothing_of_it(tmp_path, capsys):
    argv = ["--registry", str(tmp_path / "reg"), "--init", *REVIEW]
    assert review_main(argv) == 0
    assert "--train-days" not in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["delete", "truncate", "other feature code"])
def test_a_rollback_to_a_model_that_cannot_load_is_refused(tmp_path, models, capsys, damage):
    # A daemon on the registry refuses to switch to such a model and keeps trading the current
    # one: the rollback would be recorded but would not happen where it matters.
    reg = tmp_path / "reg"
    old = _seed(reg, models["long"])
    current = _seed(reg, models["short"])
    path = reg / "versions" / old / "model.json"
    if damage == "delete":
        path.unlink()
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:40])
    else:
        write_model(path, 5.0, feature_hash="0" * 64)
    before = (reg / "PROMOTED").read_bytes()

    assert review_main(["--registry", str(reg), "--rollback"]) == 2

    err = capsys.readouterr().err
    assert err.startswith(f"model.review: error: {reg}: cannot roll back to {old}: ")
    assert err.count("\n") == 1
    assert (reg / "PROMOTED").read_bytes() == before and registry.promoted_id(reg) == current


def test_a_candidate_given_as_a_registry_is_its_promoted_model(tmp_path, models, capsys):
    # Every --model takes a registry directory; --candidate said "candidate model not found"
    # for an existing one (e.g. a staging registry whose promoted model is to be reviewed).
    reg, staging = tmp_path / "reg", tmp_path / "staging"
    _seed(reg, models["short"])
    _seed(staging, models["long"])
    argv = ["--registry", str(reg), "--data", str(WEEK), "--eval-days", "2", "--candidate",
            str(staging)]  # fmt: skip

    assert review_main(argv) == 0

    promoted = registry.promoted_id(reg)
    assert f"-> promoted {promoted}" in capsys.readouterr().out  # long beat short on the week
    assert registry.promoted(reg).read_bytes() == models["long"].read_bytes()


def test_list_shows_versions_and_history_and_promote_goes_forward_after_a_rollback(
    tmp_path, models, capsys
):
    # After a --rollback the newer version was reachable only by reviewing it again.
    reg = tmp_path / "reg"
    old = _seed(reg, models["long"])
    new = _seed(reg, models["short"])
    assert review_main(["--registry", str(reg), "--rollback"]) == 0
    assert registry.promoted_id(reg) == old

    assert review_main(["--registry", str(reg), "--promote", new]) == 0

    assert registry.promoted_id(reg) == new
    assert capsys.readouterr().out.splitlines()[-1] == f"promoted {reg}: {old} -> {new}"
    assert review_main(["--registry", str(reg), "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{reg}: 2 version(s), promoted: {new}"
    assert sorted(lines[1:3]) == sorted(
        [
            f"* {new}  trained on BTCUSDT; not reviewed",
            f"  {old}  trained on BTCUSDT; not reviewed",
        ]
    )
    assert lines[3] == "history:"
    assert [line.split()[1:3] for line in lines[4:]] == [
        ["promote", old],
        ["promote", new],
        ["rollback", old],
        ["promote", new],
    ]
    assert lines[-1].endswith("(model.review --promote (operator))")


def test_list_into_a_pipe_closed_early_exits_0_without_a_traceback(tmp_path, models):
    """`python -m model.review --list | head -3`: the reader goes away early; it once ended
    in a BrokenPipeError traceback."""
    reg = tmp_path / "reg"
    _seed(reg, models["long"])
    returncode, err = run_with_reader_gone(
        [sys.executable, "-m", "model.review", "--registry", str(reg), "--list"], cwd=ROOT
    )

    assert (returncode, err) == (0, "")


def test_promote_refuses_an_unknown_an_ambiguous_or_a_damaged_version(tmp_path, models, capsys):
    reg = tmp_path / "reg"
    old = _seed(reg, models["long"])
    new = _seed(reg, models["short"])
    (reg / "versions" / old / "model.json").write_text("{")
    before = (reg / "PROMOTED").read_bytes()
    both = "20"  # the century both ids start with

    for name, says in [
        ("nope", f"model.review: error: {reg}: no version 'nope' (versions: "),
        (both, f"model.review: error: {reg}: {both!r} names 2 versions: "),
        (old, f"model.review: error: {reg}: cannot promote {old}: "),
    ]:
        assert review_main(["--registry", str(reg), "--promote", name]) == 2
        err = capsys.readouterr().err
        assert err.startswith(says) and err.count("\n") == 1
    assert (reg / "PROMOTED").read_bytes() == before and registry.promoted_id(reg) == new


def test_a_training_window_before_the_data_is_named_with_where_the_data_is(tmp_path, capsys):
    # The README's --train-days 30 --eval-days 7 on the bundled week: the 30 days lie before
    # it, and the line said only 'no bars in the requested window'.
    argv = ["--registry", str(tmp_path / "reg"), "--init", "--data", str(WEEK), "--train-days",
            "30", "--eval-days", "7", *TRAIN]  # fmt: skip
    assert review_main(argv) == 2
    assert capsys.readouterr().err == (
        f"model.review: error: training: --data {WEEK}: no bars in the requested window "
        "2025-04-05 00:00 .. 2025-05-05 00:00 UTC (the data runs from 2025-05-05 00:00 to "
        "2025-05-11 23:59 UTC)\n"
    )


def test_train_days_without_an_evaluation_window_is_refused_naming_the_flags(
    tmp_path, models, capsys
):
    # Without --eval-days / --start the window is the whole file: the training before it
    # failed with "training: --data ...: no bars in the requested window".
    reg = tmp_path / "reg"
    _seed(reg, models["long"])
    before = (reg / "PROMOTED").read_bytes()

    code = review_main(["--registry", str(reg), "--data", str(WEEK), "--train-days", "3"])

    assert code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(
        "model.review: error: --train-days trains on the days before the evaluation"
    )
    assert "give --eval-days M or --start too" in err
    assert (reg / "PROMOTED").read_bytes() == before


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (
            ["--purge", "5"],
            "model.review: error: training: --purge 5: shorter than the label horizon "
            "(--horizon 15)",
        ),
        (
            ["--label", "peak_trough", "--horizon", "30"],
            "model.review: error: training: --horizon sets forward labels, and --label "
            "peak_trough would ignore it",
        ),
        (["--min-improvement", "2"], "model.review: error: bad --min-improvement '2'"),
    ],
)
def test_a_retraining_review_refuses_a_leaking_or_ignored_setting(tmp_path, models, capsys,
                                                                 extra, says):  # fmt: skip
    reg = tmp_path / "reg"
    _seed(reg, models["long"])
    before = (reg / "PROMOTED").read_bytes()
    argv = ["--registry", str(reg), "--data", str(WEEK), "--train-days", "2", "--eval-days", "1"]

    assert review_main([*argv, *extra]) == 2

    err = capsys.readouterr().err
    assert err.startswith(says) and err.count("\n") == 1
    assert len(registry.versions(reg)) == 1  # no candidate trained nor added
    assert (reg / "PROMOTED").read_bytes() == before


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--promote", "NEW", "--rollback"], "--promote and --rollback are different actions"),
        (["--list", "--rollback"], "--list and --rollback are different actions"),
        (["--list", "--promote", "NEW"], "--list and --promote are different actions"),
        (["--rollback", "--data", str(WEEK)], "--rollback does not review: --data would be"),
        (
            ["--promote", "NEW", "--candidate", "x.json", "--eval-days", "1"],
            "--promote does not review: --candidate, --eval-days would be",
        ),
    ],
)
def test_registry_actions_given_with_another_action_or_a_review_are_refused(
    tmp_path, models, capsys, extra, says
):
    # `--promote NEW --rollback` promoted NEW and dropped the rollback without a word; `--list`
    # or `--rollback` with a review's inputs did the one and ignored the review.
    reg = tmp_path / "reg"
    _seed(reg, models["long"])
    new = registry.add(reg, models["short"])
    before = (reg / "PROMOTED").read_bytes()
    argv = ["--registry", str(reg), *(new if a == "NEW" else a for a in extra)]

    assert review_main(argv) == 2

    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"model.review: error: {says}") and err.count("\n") == 1
    assert (reg / "PROMOTED").read_bytes() == before


@pytest.mark.parametrize(
    "entry", [{"action": "promote"}, "promote", {"action": "rollback", "version_id": 7}]
)
@pytest.mark.parametrize("command", ["--rollback", "--list"])
def test_a_damaged_promotion_history_is_one_line_not_a_traceback(
    tmp_path, models, capsys, entry, command
):
    # A hand-edited PROMOTED whose history entry lacks its version (or is not an object) made
    # --rollback raise KeyError / AttributeError, and --list an AttributeError.
    reg = tmp_path / "reg"
    _seed(reg, models["long"])
    current = _seed(reg, models["short"])
    state = json.loads((reg / "PROMOTED").read_text())
    state["history"].insert(1, entry)
    (reg / "PROMOTED").write_text(json.dumps(state))
    before = (reg / "PROMOTED").read_bytes()

    assert review_main(["--registry", str(reg), command]) == 2

    out, err = capsys.readouterr()
    assert out == "" and err.startswith(
        f"model.review: error: {reg / 'PROMOTED'}: history entry 2 "
    )
    assert err.count("\n") == 1
    assert (reg / "PROMOTED").read_bytes() == before and registry.promoted_id(reg) == current


def _rsi_model(path: Path, k: float = 1000.0) -> Path:
    """BUY when the RSI feature is above 0.5, SELL below (logits +-k * (rsi - 0.5))."""
    i = features.FEATURE_NAMES.index("rsi_14")
    coef = [[0.0] * N for _ in range(3)]
    coef[0][i], coef[2][i] = -k, k
    write_model(path, 0.0)
    doc = json.loads(path.read_text())
    doc["linear"] = {"coef": coef, "intercept": [k / 2, 0.0, -k / 2]}
    path.write_text(json.dumps(doc))
    return path


def test_review_evaluates_on_the_features_a_long_history_gives(tmp_path, capsys):
    # The review's backtest started 60 bars before the window, cold: enough for every feature
    # to exist, not for the RSI/ATR/MACD averages to forget their seeds (the strategy's own
    # warm-up is 301 bars). At 2025-05-08 10:40 the cold RSI reads 0.5017, the RSI of the
    # whole history (what the model was trained on, and what the daemon computes after its
    # REST warm-up) 0.4972: the review went long where the daemon goes short.
    start, end = "2025-05-08T10:40", "2025-05-08T11:40"
    model = _rsi_model(tmp_path / "rsi.json")
    df = week()
    rsi = features.compute_features(df)["rsi_14"].to_numpy()
    first = int(np.searchsorted(df["open_time"].to_numpy(), 1746700800000))  # 10:40 UTC
    assert rsi[first] < 0.5  # the batch features say SELL at the first bar
    bt = tmp_path / "bt"
    assert backtest_main(["--data", str(WEEK), "--strategy", "logistic_regression", "--model",
                          str(model), "--start", start, "--end", end, "--out", str(bt),
                          "--no-progress", "--no-html"]) == 0  # fmt: skip
    trades = (bt / "trades.csv").read_text().splitlines()
    assert trades[1].split(",")[4] == "SELL"
    reg = tmp_path / "reg"

    argv = ["--registry", str(reg), "--init", "--data", str(WEEK), "--candidate", str(model),
            "--start", start, "--end", end]  # fmt: skip
    assert review_main(argv) == 0

    (version,) = registry.versions(reg)
    (review,) = version["reviews"]
    cli = json.loads((bt / "summary.json").read_text())["metrics"]
    assert review["backtests"]["candidate"] == cli
    assert "(+301 warm-up bars)" in capsys.readouterr().out


def test_the_readmes_list_example_is_what_list_prints_for_the_shipped_registry(capsys, monkeypatch):
    """README.md shows `model.review --registry models/btcusdt-1m --list` verbatim."""
    monkeypatch.chdir(ROOT)  # the registry as the README names it
    readme = (ROOT / "README.md").read_text()

    assert review_main(["--registry", "models/btcusdt-1m", "--list"]) == 0

    printed = capsys.readouterr().out
    assert printed.startswith("models/btcusdt-1m: 1 version(s), promoted: ")
    assert f"```\n{printed}```\n" in readme


@pytest.mark.parametrize(
    ("promote", "promoted", "verdict"),
    [
        (True, "v0", "promoted"),
        (False, "v0", "not promoted"),
        (False, "v1", "already the promoted version"),  # reviewed again against itself
    ],
)
def test_list_says_what_a_review_decided_for_the_version(promote, promoted, verdict):
    from model.review import _last_review

    review = {
        "metric": "total_return",
        "candidate_value": -0.011522,
        "symbol": "BTCUSDT",
        "window": "BTCUSDT 2025-05-10 00:00 .. 2025-05-12 00:00",
        "reviewed_at": "2026-12-01T20:00:00+00:00",
        "promote": promote,
        "promoted": promoted,
    }
    said = _last_review({"version_id": "v1", "reviews": [review]})
    assert said == (
        "reviewed 2026-12-01: total_return -1.1522% on 2025-05-10 00:00 .. 2025-05-12 00:00, "
        f"{verdict}"
    )


def test_list_shows_a_reviews_max_drawdown_as_the_review_printed_it(tmp_path, models, capsys):
    # The review's table said 0.1493 %, --list '-0.1493%': the score recorded is negated
    # (higher is better), and --list printed it as the metric.
    reg = tmp_path / "reg"
    argv = ["--registry", str(reg), "--init", "--data", str(WEEK), "--candidate",
            str(models["long"]), "--eval-days", "1", "--metric", "max_drawdown"]  # fmt: skip
    assert review_main(argv) == 0
    (table,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("max_drawdown")]
    depth = table.split()[-1]
    assert depth.endswith("%") and not depth.startswith("-")

    assert review_main(["--registry", str(reg), "--list"]) == 0

    assert f": max_drawdown {depth} on " in capsys.readouterr().out


def test_a_reviews_max_drawdown_is_recorded_as_summary_json_gives_it(tmp_path, models, capsys):
    # review.json recorded candidate_score -0.0015 beside backtests.candidate.max_drawdown
    # 0.0015 and min_metric 0.05 (the score negated so that higher is better): one file, two
    # signs for the same depth. Now both models' values are summary.json's, `better` says
    # which way wins.
    reg = tmp_path / "reg"
    promoted = _seed(reg, models["short"])
    argv = ["--registry", str(reg), "--data", str(WEEK), "--candidate", str(models["long"]),
            "--eval-days", "1", "--metric", "max_drawdown", "--min-metric", "0.05"]  # fmt: skip

    assert review_main(argv) == 0

    (version,) = [v for v in registry.versions(reg) if v["version_id"] != promoted]
    (review,) = version["reviews"]
    tests = review["backtests"]
    assert review["candidate_value"] == tests["candidate"]["max_drawdown"] > 0
    assert review["promoted_value"] == tests["promoted"]["max_drawdown"] > 0
    assert (review["better"], review["min_metric"]) == ("lower", 0.05)
    assert "candidate_score" not in review and "promoted_score" not in review


def test_list_reads_a_review_recorded_before_the_values_were_summary_jsons():
    # A review.json of before 2026-12-04 holds the higher-is-better score: still shown as a depth.
    from model.review import _last_review

    review = {"metric": "max_drawdown", "candidate_score": -0.001493, "promote": False,
              "window": "BTCUSDT 2025-05-11 00:00 .. 2025-05-12 00:00", "symbol": "BTCUSDT",
              "reviewed_at": "2026-12-01T20:00:00+00:00", "promoted": "v0"}  # fmt: skip

    said = _last_review({"version_id": "v1", "reviews": [review]})

    assert said.startswith("reviewed 2026-12-01: max_drawdown 0.1493% on 2025-05-11 00:00")


def test_ctrl_c_during_a_review_exits_130_with_one_line(tmp_path, capsys, monkeypatch):
    """A KeyboardInterrupt traceback, exit -2, before; each registry write is atomic, so the
    line points at --list for what is promoted."""
    import model.review as rv

    def interrupted(_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(rv, "review", interrupted)
    reg = tmp_path / "reg"

    assert review_main(["--registry", str(reg), "--list"]) == 130
    assert capsys.readouterr().err == (
        f"model.review: interrupted: each registry change is whole or not made; "
        f"python -m model.review --registry {reg} --list shows what is promoted\n"
    )


def test_ctrl_c_while_python_m_model_review_imports_its_modules_exits_130_with_one_line(
    tmp_path,
):
    """Its first ~0.3 s (the backtester, model.train and numpy), before `main` and its
    KeyboardInterrupt handler: a traceback through the import system, and death by the signal
    (status -2), before."""
    run = ctrl_c_while_importing("model.review", "model.train", tmp_path)

    assert run.returncode == 130, run.stderr[-2000:]
    assert run.stderr.splitlines() == ["interrupted: nothing was started"]
    assert run.stdout == ""


# A command run as it is, into a pipe, with each backtest warning as a stop-loss fill does.
WARNING_RUNS = """
import logging, sys
import backtest.runner

real = backtest.runner.run_backtest


def warned(data, config, **kw):
    logging.getLogger("trading_engine.exec_manager").warning(
        "BTCUSDT: its stop-loss closed the long; %s", config.strategy
    )
    return real(data, config, **kw)


backtest.runner.run_backtest = warned
from model import review  # noqa: E402  (it binds run_backtest at import)

sys.exit(review.main(sys.argv[1:]))
"""


def test_review_names_the_run_of_each_warning_and_prints_it_after_the_training(tmp_path, models):
    """Into a pipe, the backtests' warnings came out before the training report (stdout is
    buffered, stderr is not), and said neither the candidate's run nor the promoted's."""
    reg = tmp_path / "reg"
    registry.promote(reg, registry.add(reg, models["short"]), "first")
    argv = ["--registry", str(reg), "--data", str(WEEK), "--train-days", "2",
            "--eval-days", "1", *TRAIN]  # fmt: skip

    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as a shell's

    run = subprocess.run(
        [sys.executable, "-c", WARNING_RUNS, *argv], env=buffered,
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )  # fmt: skip

    assert run.returncode == 0, run.stdout
    lines = run.stdout.splitlines()
    warned = [line for line in lines if "its stop-loss closed the long" in line]
    assert warned == [
        "candidate backtest: BTCUSDT: its stop-loss closed the long; logistic_regression",
        "promoted backtest: BTCUSDT: its stop-loss closed the long; logistic_regression",
    ]
    trained = next(i for i, line in enumerate(lines) if line.startswith("BTCUSDT 1m: "))
    reviewed = next(i for i, line in enumerate(lines) if line.startswith("review on "))
    assert trained < lines.index(warned[0]) < lines.index(warned[1]) < reviewed


def test_a_folder_whose_versions_cannot_be_listed_is_not_taken_for_a_registry(
    tmp_path, monkeypatch
):
    # model.train's --out check looks at every parent: an unreadable versions/ folder above
    # the output must not end the run with a PermissionError traceback.
    (tmp_path / "versions").mkdir()
    real = Path.iterdir

    def iterdir(self):
        if self.name == "versions":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    assert registry.registry_around(tmp_path / "out" / "m.json") is None


def test_an_out_beside_the_registry_one_is_working_in_is_not_inside_it(tmp_path, monkeypatch):
    # Working in a registry, --out ../m.json: '.' is among the typed path's parents, and the
    # file beside the registry was refused as 'inside the model registry .'.
    reg = tmp_path / "btcusdt-1m"
    reg.mkdir()
    (reg / registry.PROMOTED_FILE).write_text("x\n")
    monkeypatch.chdir(reg)

    assert registry.registry_around(Path("../m.json").parent) is None
    assert registry.registry_around(Path("versions/x")) == Path(".")  # inside it: refused


def test_a_symbol_typed_as_fetch_historical_takes_it_is_reviewed_as_binances(tmp_path, capsys):
    # --symbol BTC/USDT (as fetch_historical.py takes it) was refused: '--data ... holds
    # BTCUSDT, not --symbol BTC/USDT'.
    argv = ["--registry", str(tmp_path / "reg"), "--init", "--data", str(WEEK), "--symbol",
            "BTC/USDT", "--train-days", "3", "--eval-days", "1", *TRAIN]  # fmt: skip
    assert review_main(argv) == 0, capsys.readouterr().err
    assert "review on BTCUSDT 2025-05-11 00:00 .. 2025-05-12 00:00" in capsys.readouterr().out
