"""python -m model.train: walk-forward folds with a purge gap, metrics next to the naive
baselines saved in the model's metadata, the same model whether the fits run in sequence, in
joblib workers or on a Dask cluster, a progress bar on request, and bad inputs refused with
exit status 2 and one line."""

import gzip
import hashlib
import json
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from model.dataset import straddles_gap
from model.live import load_linear_model
from model.scores import baseline_predictions, metrics
from model.train import check_out, main
from model.walk_forward import (
    choose_c,
    fold_training_rows,
    inner_folds,
    mean_defined,
    pooled_metrics,
    walk_forward_splits,
)
from tests.ctrl_c import ctrl_c_while_importing
from tests.model.support import ROOT, WEEK
from tests.parallel_support import loopback_dask_cluster, record_closed_bars

SHARED = ROOT.parent / "shared/data/market/klines"


def test_walk_forward_folds_are_time_ordered_with_the_purge_gap():
    splits = walk_forward_splits(600, folds=5, purge=15)
    assert splits == [
        (85, 100, 200),
        (185, 200, 300),
        (285, 300, 400),
        (385, 400, 500),
        (485, 500, 600),
    ]
    for train_end, test_start, test_end in splits:
        assert train_end + 15 == test_start < test_end


def test_training_on_the_real_week_saves_a_loadable_model_with_its_metrics(tmp_path, capsys):
    rc = main(
        [
            "--data",
            str(WEEK),
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1m",
            "--start",
            "2025-05-05",
            "--end",
            "2025-05-09",
            "--out",
            str(tmp_path),
            "--folds",
            "3",
            "--c",
            "1.0",
            "--jobs",
            "1",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "majority" in out and "last_direction" in out
    # What each baseline is, said under the table.
    assert (
        "  (baselines fitted on each fold's training rows, each predicting its most probable "
        "class: majority = their class frequencies; last_direction = their class frequencies "
        "after a bar of the same direction as the row's last bar)\n"
    ) in out
    # The window trained on, said (with --out m.json nothing else shows it).
    assert out.startswith(
        "BTCUSDT 1m: 5760 bars 2025-05-05T00:00:00Z .. 2025-05-09T00:00:00Z (exclusive), "
    )
    (path,) = tmp_path.glob("BTCUSDT-1m-logreg-2025-05-05_2025-05-09.json")
    doc = json.loads(path.read_text())
    assert doc["training_window"]["bars"] == 4 * 1440
    assert doc["training_window"]["start"] == "2025-05-05T00:00:00Z"
    assert doc["validation"]["folds"] == 3 and doc["validation"]["purge_bars"] == 15
    oos = doc["metrics"]["out_of_sample"]
    for name in ("model", "majority", "last_direction"):
        assert {"log_loss", "accuracy", "balanced_accuracy", "roc_auc_ovr", "ece"} <= set(oos[name])
    assert len(doc["data"]["sha256"]) == 64
    # Not the file's sha256 (a user's sha256sum of it differs), and the file says so.
    assert doc["data"]["sha256"] != hashlib.sha256(WEEK.read_bytes()).hexdigest()
    assert doc["data"]["sha256_of"] == (
        "the training window's columns open_time,open,high,low,close,volume as float64 "
        "(model.train_data.data_hash), not the file's bytes"
    )
    assert load_linear_model(path).classes == (-1, 0, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "/nonexistent.csv"], "no such file"),
        (["--interval", "5m"], "bars are 1m apart, not --interval 5m"),  # not "60000 ms"
        (["--symbol", "ETHUSDT"], "holds BTCUSDT, not --symbol ETHUSDT"),
        (["--start", "yesterday"], "bad time"),
        (["--start", "2025-05-09", "--end", "2025-05-08"], "--end must be after --start"),
        # It said only 'no bars in the requested window'.
        (
            ["--start", "2030-01-01"],
            "no bars in the requested window from 2030-01-01 00:00 UTC (the data runs from "
            "2025-05-05 00:00 to 2025-05-11 23:59 UTC)",
        ),
        (["--c", "x"], "--c"),
        (["--interval", "7m"], "invalid choice"),
        (["--flow", "on"], "--flow on"),
        (["--dask-scheduler", "tcp://127.0.0.1:1"], "cannot connect"),
        (["--dask-scheduler", "tcp://127.0.0.1"], "expected tcp://HOST:PORT"),
        # Echoed as typed: "--holdout-days 9", not "9.0"; fractional days kept.
        (["--holdout-days", "0"], "model.train: error: --holdout-days 0: expected > 0\n"),
        (
            ["--holdout-days", "9"],
            "model.train: error: --holdout-days 9: no bars left to train on\n",
        ),
        (["--holdout-days", "7.5"], "--holdout-days 7.5: no bars left to train on\n"),
        (["--backtest-out", "bt"], "--backtest-out needs --holdout-days"),
        # It sized nothing without a holdout backtest, and said nothing.
        (["--notional", "500"], "--notional needs --holdout-days (it sizes the holdout"),
        (["--holdout-days", "1", "--flow", "on"], "without taker volume"),
        (["--notional", "abc"], "--notional 'abc'"),
        (["--c", "inf"], "--c inf: expected finite numbers > 0"),
        (["--c", "0.1,nan"], "--c 0.1,nan: expected finite numbers > 0"),
        (["--threshold", "nan"], "--threshold nan: expected a finite number >= 0"),
        (
            ["--label", "peak_trough", "--min-swing", "nan"],
            "--min-swing nan: expected a finite number > 0",
        ),
        # A label setting of the other kind of label: it changed nothing (--horizon with
        # peak_trough labels only moved the purge), and nothing said so.
        (
            ["--label", "peak_trough", "--horizon", "30"],
            "model.train: error: --horizon sets forward labels, and --label peak_trough would "
            "ignore it (its labels use --min-swing)\n",
        ),
        (
            ["--min-swing", "0.01", "--threshold", "0.002"],
            "--min-swing sets peak_trough labels, and --label forward would ignore it (its "
            "labels use --horizon and --threshold)",
        ),
        (
            ["--label", "peak_trough", "--threshold", "0.002", "--horizon", "5"],
            "--horizon and --threshold set forward labels, and --label peak_trough would ignore "
            "them",
        ),
        (["--inner-folds", "0"], "model.train: error: --inner-folds 0: expected >= 1\n"),
        (["--folds", "-2"], "model.train: error: --folds -2: expected >= 1\n"),
        (["--horizon", "0"], "model.train: error: --horizon 0: expected >= 1\n"),
        (["--purge", "-1"], "model.train: error: --purge -1: expected >= 0\n"),
        # A single C: no inner fold chooses anything, and the flag changed nothing, unsaid.
        (
            ["--c", "1.0", "--inner-folds", "5"],
            "model.train: error: --inner-folds chooses each fold's C among --c's values, and "
            "with the single --c 1 nothing is chosen: it would be ignored (give --c a list, "
            "e.g. 0.1,1.0)\n",
        ),
        # A day in 6 blocks of ~227 rows: fold 1 trains on 77 rows, and 3 inner folds of them
        # cannot keep a 150-row purge.
        (
            ["--start", "2025-05-06", "--end", "2025-05-07", "--purge", "150"],
            "walk-forward fold 1 of 5: its training rows leave no inner fold (of 3) to choose C",
        ),
        # A purge shorter than the horizon: the last training rows' 15-bar returns end inside
        # the test block (leakage); it was taken without a word.
        (
            ["--purge", "5"],
            "--purge 5: shorter than the label horizon (--horizon 15), so the labels of the "
            "training rows before each test block would look into it; give --purge >= 15",
        ),
        (["--horizon", "30", "--purge", "15"], "--purge 15: shorter than the label horizon"),
        # 0.8 % in 15 minutes never happened in the week's first fold: nothing to fit.
        (["--threshold", "0.008"], "walk-forward fold 1 of 5: its 1652 training rows are all HOLD"),
        # A label horizon as long as the window: it said 'only 0 labelled rows in the window;
        # need >= 300', not why.
        (
            ["--end", "2025-05-06", "--horizon", "1400"],
            "only 0 labelled rows in the window; need >= 300 (50 per walk-forward block, --folds "
            "5 + 1): of its 1440 bars, the first 60 warm the features up and the last 1400 have "
            "no 1400-bar forward return (--horizon)",
        ),
        # 0.5 meant as 0.5 %: no 50 % swing in the week, no label at all.
        (
            ["--label", "peak_trough", "--min-swing", "0.5"],
            "10080 have no label: no swing of --min-swing 0.5 (a fraction: 50 %) confirmed",
        ),
        # No 1.8 % swing confirmed before the first test block: no training row has a label.
        (
            ["--label", "peak_trough", "--min-swing", "0.018"],
            "walk-forward fold 1 of 5: no training row has a label yet",
        ),
        # No 2 % swing down in the week at all: the model could never say SELL.
        (
            ["--label", "peak_trough", "--min-swing", "0.02"],
            "no SELL label among the 2213 labelled rows (SELL/HOLD/BUY = 0/2212/1)",
        ),
    ],
)
def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys, args, message):
    base = {"--data": str(WEEK), "--symbol": "BTCUSDT", "--interval": "1m", "--out": str(tmp_path)}
    opts = dict(base)
    extra = []
    it = iter(args)
    for k in it:
        if k in opts:
            opts[k] = next(it)
        else:
            extra += [k, next(it)]
    argv = [x for kv in opts.items() for x in kv] + extra
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("model.train: error: ")
    assert message in err
    assert not list(tmp_path.iterdir())


def test_a_peak_trough_model_records_its_swing_and_purge_not_a_horizon(tmp_path, capsys):
    # It recorded label.horizon 15 (the --horizon default, which its labels never used; the
    # strategy then held each position that long, "the model's label horizon") and purged 15
    # rows, which its labels, relabelled per fold from the prices before the test block, do
    # not need.
    out = tmp_path / "m.json"
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--start",
            "2025-05-05", "--end", "2025-05-09", "--out", str(out), "--folds", "3", "--c", "1.0",
            "--jobs", "1", "--label", "peak_trough"]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["label"] == {
        "kind": "peak_trough",
        "min_swing": 0.005,
        "class_counts": {"-1": 21, "0": 5549, "1": 22},
    }
    assert doc["validation"]["purge_bars"] == 0
    printed = capsys.readouterr().out
    assert "labels: peak_trough, turning points of swings >= 0.005 (0.5 %)\n" in printed
    assert "out-of-sample (3 folds, purge 0 rows, C=1):" in printed


def test_a_forward_model_records_its_horizon_and_threshold_only(tmp_path, capsys):
    out = tmp_path / "m.json"
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--start",
            "2025-05-05", "--end", "2025-05-08", "--out", str(out), "--folds", "2", "--c", "1.0",
            "--jobs", "1", "--horizon", "20", "--threshold", "0.002"]  # fmt: skip
    assert main(argv) == 0
    label = json.loads(out.read_text())["label"]
    assert {k: v for k, v in label.items() if k != "class_counts"} == {
        "kind": "forward",
        "horizon": 20,
        "threshold": 0.002,
    }
    printed = capsys.readouterr().out
    assert "labels: forward, the log return 20 bars ahead beyond +-0.002 (~0.2 %)\n" in printed
    assert "purge 20 rows" in printed


def test_roc_auc_of_a_block_without_a_class_is_undefined_not_nan():
    # No SELL (-1) in y: its one-vs-rest AUC does not exist. scikit-learn warned and returned
    # NaN, which the model file (JSON, allow_nan=False) then refused at the save.
    y = np.array([0, 1, 0, 1])
    p = np.array([[0.1, 0.6, 0.3], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.2, 0.2, 0.6]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor a warning on stderr
        m = metrics(y, p, np.array([-1, 0, 1]))
    assert m["roc_auc_ovr"] is None
    assert m["accuracy"] == 1.0  # predictions 0, 1, 0, 1
    # Brier: (0.01 + 0.16 + 0.09) + (0.01 + 0.09 + 0.16) + (0.04 + 0.25 + 0.09) + (0.04 + 0.04
    # + 0.16) = 0.26 + 0.26 + 0.38 + 0.24 = 1.14, over 4 rows.
    assert m["brier"] == pytest.approx(1.14 / 4, abs=1e-12)
    json.dumps(m, allow_nan=False)


def test_the_out_of_sample_auc_is_the_folds_mean_not_the_pooled_rows():
    """Each fold's scores come from a fit of their own: pooled, a majority baseline (the same
    probabilities on every row of a fold, AUC 0.5 in each) ranks one fold's rows against
    another's and scored other than 0.5. The AUC reported is the mean of the folds'."""
    classes = np.array([-1, 0, 1])
    y = np.array([1, 1, 0, -1, -1, -1, 0, 1], dtype=float)  # two test blocks of 4 rows
    r1 = np.array([0.1, 0.2, 0.0, -0.1, -0.2, -0.1, 0.0, 0.1] + [0.1] * 8)
    # Fold 1 trained on mostly BUY rows, fold 2 on mostly SELL rows (rows 8-15 of r1).
    folds = [
        (np.arange(8, 12), np.array([1, 1, 1, 0])),
        (np.arange(12, 16), np.array([-1, -1, -1, 0])),
    ]
    results = []
    for (a, b), (idx, y_train) in zip([(0, 4), (4, 8)], folds, strict=True):
        proba = np.tile([0.2, 0.3, 0.5], (4, 1)) + np.linspace(0, 0.09, 4)[:, None] * [1, 0, -1]
        base = baseline_predictions(y_train, r1[idx], r1[a:b], classes)
        results.append(
            {
                "test": [a, b],
                "proba": proba,
                "model": metrics(y[a:b], proba, classes),
                "baselines": {n: metrics(y[a:b], pb, classes) for n, pb in base.items()},
            }
        )
    blocks = [(0, 4), (4, 8)]
    majority = [
        baseline_predictions(y_train, r1[idx], r1[a:b], classes)["majority"]
        for (idx, y_train), (a, b) in zip(folds, blocks, strict=True)
    ]
    assert metrics(y, np.concatenate(majority), classes)["roc_auc_ovr"] != 0.5  # the artefact

    out = pooled_metrics(results, y, r1, folds)

    assert [r["baselines"]["majority"]["roc_auc_ovr"] for r in results] == [0.5, 0.5]
    assert out["majority"]["roc_auc_ovr"] == 0.5
    model_aucs = [r["model"]["roc_auc_ovr"] for r in results]
    assert out["model"]["roc_auc_ovr"] == pytest.approx(sum(model_aucs) / 2, abs=1e-15)
    assert out["model"]["n"] == 8  # the other scores stay pooled over the rows


def test_each_baseline_is_scored_as_one_predictor_its_most_probable_class():
    """The last-direction baseline's accuracy was that of the rule BUY after an up bar, SELL
    after a down one, its log loss that of the class frequencies after each direction: two
    predictors under one name. Now every score is of the frequencies, predicting the most
    probable class. By hand: 6 training rows, after an up bar HOLD, HOLD, BUY, after a down bar
    SELL, HOLD, HOLD; Laplace-smoothed, P(SELL, HOLD, BUY | up) = (0+1, 2+1, 1+1) / 6 =
    (1/6, 1/2, 1/3), P(. | down) = (1+1, 2+1, 0+1) / 6 = (1/3, 1/2, 1/6): HOLD either way."""
    classes = np.array([-1, 0, 1])
    y_train = np.array([0, 0, 1, -1, 0, 0])
    r_train = np.array([0.1, 0.2, 0.3, -0.1, -0.2, -0.3])
    r_test = np.array([0.5, -0.5, 0.5, -0.5])  # up, down, up, down
    y_test = np.array([1, -1, 0, 0])  # the rule would be right on rows 1, 2: accuracy 1/2

    p = baseline_predictions(y_train, r_train, r_test, classes)["last_direction"]
    m = metrics(y_test, p, classes)

    up, down = [1 / 6, 1 / 2, 1 / 3], [1 / 3, 1 / 2, 1 / 6]
    assert p == pytest.approx(np.array([up, down, up, down]), abs=1e-15)
    assert m["accuracy"] == 0.5  # HOLD on every row: rows 3, 4 right
    assert m["balanced_accuracy"] == pytest.approx(1 / 3, abs=1e-15)  # recall 0, 1, 0
    # -ln of the true class's probability: 1/3, 1/3, 1/2, 1/2.
    expected = -(2 * np.log(1 / 3) + 2 * np.log(1 / 2)) / 4
    assert m["log_loss"] == pytest.approx(expected, abs=1e-12)
    # Confidence 1/2 on every row, right on 2 of 4: calibrated.
    assert m["ece"] == pytest.approx(0.0, abs=1e-15)


def test_a_fold_without_training_rows_before_the_purge_is_said_left_out(tmp_path, capsys):
    # A day in 6 blocks of 227-228 rows: block 1 starts at row 227, 300 rows after a purge
    # of 300 would have to start; 4 folds were scored, said as "4 folds" to a --folds 5.
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--start",
            "2025-05-06", "--end", "2025-05-07", "--out", str(tmp_path / "m.json"), "--purge",
            "300", "--c", "1.0", "--jobs", "1", "--no-progress"]  # fmt: skip

    assert main(argv) == 0

    assert (
        "out-of-sample (4 of --folds 5: the first test block leaves no training row before "
        "the purge, purge 300 rows, C=1):"
    ) in capsys.readouterr().out
    assert json.loads((tmp_path / "m.json").read_text())["validation"]["folds"] == 4


def test_mean_defined_leaves_out_the_folds_without_an_auc():
    assert mean_defined([None, 0.5, 0.7]) == pytest.approx(0.6, abs=1e-15)
    assert mean_defined([None, None]) is None


def test_a_test_block_without_a_class_trains_and_saves_with_auc_n_a(tmp_path, capsys):
    # May 6 with a 0.3 % threshold: the first two test blocks hold no SELL label.
    out = tmp_path / "m.json"
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--start",
            "2025-05-06", "--end", "2025-05-07", "--threshold", "0.003", "--jobs", "1",
            "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    aucs = [f["model"]["roc_auc_ovr"] for f in doc["metrics"]["folds"]]
    assert aucs[:2] == [None, None] and all(isinstance(a, float) for a in aucs[2:])


def test_a_block_without_a_class_the_model_predicts_scores_without_a_warning():
    # The SELL class (-1) is predicted but absent from the block: balanced accuracy is the
    # mean recall over the classes present, (1/2 + 1) / 2, and nothing is printed to warn.
    classes = np.array([-1, 0, 1])
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, -1, 1, 1])
    p = np.eye(3)[np.searchsorted(classes, pred)] * 0.8 + 0.2 / 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = metrics(y, p, classes)
    assert m["balanced_accuracy"] == 0.75


def test_a_block_of_one_class_predicted_on_every_row_scores_without_a_warning():
    # All HOLD, predicted HOLD: scikit-learn's confusion matrix warned 'A single label was
    # found in 'y_true' and 'y_pred'' on stderr, once per such fold and C (9 lines for
    # 2025-05-07 00-12h at --threshold 0.004 --c 0.1).
    classes = np.array([-1, 0, 1])
    y = np.zeros(4, dtype=int)
    p = np.tile([0.1, 0.8, 0.1], (4, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = metrics(y, p, classes)
    assert m["balanced_accuracy"] == 1.0 and m["accuracy"] == 1.0


def test_balanced_accuracy_is_scikit_learns_on_ordinary_blocks():
    from sklearn.metrics import balanced_accuracy_score

    from model.scores import balanced_accuracy

    rng = np.random.default_rng(7)
    for _ in range(20):
        y = rng.integers(-1, 2, size=200)
        pred = rng.integers(-1, 2, size=200)
        assert balanced_accuracy(y, pred) == pytest.approx(
            balanced_accuracy_score(y, pred), abs=1e-15
        )


@pytest.mark.slow
def test_parallel_folds_give_the_same_metrics_as_sequential_ones(tmp_path):
    # joblib worker processes (slow: each worker imports scikit-learn).
    docs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"m{jobs}.json"
        argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out),
                "--folds", "4", "--c", "0.1,1", "--jobs", jobs]  # fmt: skip
        assert main(argv) == 0
        docs.append(json.loads(out.read_text()))
    assert docs[0]["metrics"] == docs[1]["metrics"]
    assert docs[0]["linear"] == docs[1]["linear"]


def _argv(out, *extra):
    return ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out),
            "--folds", "4", "--c", "0.1,1", "--no-progress", *extra]  # fmt: skip


def test_folds_on_a_local_dask_cluster_give_the_same_model_as_sequential_ones(tmp_path):
    seq, dsk = tmp_path / "seq.json", tmp_path / "dask.json"
    assert main(_argv(seq, "--jobs", "1")) == 0
    with loopback_dask_cluster() as address:
        assert main(_argv(dsk, "--dask-scheduler", address)) == 0
    a, b = json.loads(seq.read_text()), json.loads(dsk.read_text())
    assert a["metrics"] == b["metrics"]
    assert a["linear"] == b["linear"] and a["validation"] == b["validation"]


def test_progress_bar_counts_every_walk_forward_fit(tmp_path, capsys, monkeypatch):
    closed = record_closed_bars(monkeypatch)
    argv = [a for a in _argv(tmp_path / "m.json", "--jobs", "1") if a != "--no-progress"]
    assert main([*argv, "--progress"]) == 0
    assert "walk-forward fits" in capsys.readouterr().err
    # 4 folds x 2 values of C, and in each fold 3 inner folds x 2 values of C to choose it
    assert [(n, total) for _, n, total in closed] == [(8 + 24, 8 + 24)]
    assert main(argv) == 0  # default: off when stderr is not a terminal
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_three_months_of_1m_bars_train_in_under_two_minutes(tmp_path):
    data = SHARED / "BTCUSDT-spot-1m-2025-05-20_2025-08-18.csv.gz"
    if not data.is_file():
        pytest.skip(f"{data} absent (../shared is not mounted)")
    t0 = time.perf_counter()
    out = tmp_path / "m.json"
    argv = ["--data", str(data), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out),
            "--jobs", "2", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    elapsed = time.perf_counter() - t0
    doc = json.loads(out.read_text())
    assert doc["training_window"]["bars"] >= 89 * 1440
    assert elapsed < 120, f"training took {elapsed:.1f} s"


def _holdout_check(tmp_path, data, holdout_days, extra):
    """Train with a holdout, then check the report against an independent backtest of the
    saved model on the same bars, and the baselines against the data."""
    from backtest.data import load
    from backtest.runner import WARM_HISTORY_BARS, BacktestConfig, run_backtest

    out, bt = tmp_path / "m.json", tmp_path / "bt"
    argv = ["--data", str(data), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out),
            "--holdout-days", str(holdout_days), "--backtest-out", str(bt), "--no-progress",
            *extra]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    rep = doc["holdout_backtest"]
    # Out of sample: training ends where the holdout starts.
    assert doc["training_window"]["end_exclusive"] == rep["window"]["start"]
    start = _ms(rep["window"]["start"])
    end = _ms(rep["window"]["end_exclusive"])
    assert end - start == holdout_days * 86_400_000
    # Warmed on the bars before the holdout, as the backtester's --start warms a strategy.
    bars = load(data, start_ms=start - WARM_HISTORY_BARS * 60_000, end_ms=end)
    again = run_backtest(
        bars,
        BacktestConfig(
            strategy="logistic_regression",
            strategy_params={"model_path": str(out), "order_notional_usdt": 1000},
            trade_from_ms=start,
        ),
    )
    assert rep["model"] == again.metrics()
    # The strategy's own warm-up, 61 bars for the features + 240 for the averages to settle.
    assert _ms(rep["replay_from"]) == start - 301 * 60_000 and again.warm_bars == 301
    assert json.loads((bt / "summary.json").read_text())["metrics"] == rep["model"]
    # The baseline's market move is summary.json's buy_and_hold_return: the first holdout bar's
    # open to the last bar's close (it was close-to-close, one bar's move less).
    first = next(i for i, t in enumerate(bars.open_time) if t >= start)
    hold = rep["baselines"]["buy_and_hold_no_fees"]
    moved = float(bars.close[-1]) / float(bars.open[first]) - 1
    assert hold["price_return"] == pytest.approx(moved, rel=1e-12)
    assert hold["price_return"] == rep["model"]["buy_and_hold_return"]
    assert hold["measured_on"] == "the first bar's open to the last bar's close"
    assert hold["total_return"] == pytest.approx(hold["price_return"] * 0.1, rel=1e-12)
    assert rep["baselines"]["sma_crossover_10_50"]["fills"] > 0
    return rep, doc["metrics"]["out_of_sample"]


def test_a_holdout_of_a_symbol_the_backtester_lacks_is_refused_before_training(
    tmp_path, capsys, monkeypatch
):
    # The model was trained and saved, then the holdout backtest failed with exit 2.
    import model.train as tr

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the holdout's symbol was checked")

    monkeypatch.setattr(tr, "train", no_training)
    data = tmp_path / "data" / "NEARUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
    data.parent.mkdir()
    data.write_bytes(WEEK.read_bytes())
    out = tmp_path / "out"
    argv = ["--data", str(data), "--symbol", "NEARUSDT", "--interval", "1m", "--out", str(out),
            "--holdout-days", "2", "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "model.train: error: --holdout-days: the backtester has no exchange rules for NEARUSDT "
        "(it knows BTCUSDT, ETHUSDT)\n"
    )
    assert not out.exists()


def test_a_failed_holdout_backtest_leaves_no_model_file(tmp_path, capsys, monkeypatch):
    import model.train as tr

    def failing_backtest(*args, **kwargs):
        raise tr.InputError("holdout backtest: the model lacks BUY")

    monkeypatch.setattr(tr, "holdout_backtest", failing_backtest)
    out = tmp_path / "m.json"
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out),
            "--holdout-days", "5", "--folds", "2", "--c", "1", "--jobs", "1",
            "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == "model.train: error: holdout backtest: the model lacks BUY\n"
    assert "saved" not in captured.out
    assert not out.exists()


def test_ctrl_c_during_training_exits_130_with_one_line(tmp_path, capsys, monkeypatch):
    """A KeyboardInterrupt traceback through joblib's wait loop, exit -2, before."""
    import model.train as tr

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tr, "train", interrupted)
    out = tmp_path / "m.json"
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out),
            "--no-progress"]  # fmt: skip
    assert main(argv) == 130
    assert capsys.readouterr().err == "model.train: interrupted: no model was saved\n"
    assert not out.exists()


def test_ctrl_c_while_python_m_model_train_imports_numpy_exits_130_with_one_line(tmp_path):
    """Its first tenth of a second, before `main` and its KeyboardInterrupt handler: a
    traceback through the import system, and death by the signal (status -2), before."""
    run = ctrl_c_while_importing("model.train", "numpy", tmp_path)

    assert run.returncode == 130, run.stderr[-2000:]
    assert run.stderr.splitlines() == ["interrupted: nothing was started"]
    assert run.stdout == ""


def test_ctrl_c_during_the_holdout_backtest_leaves_no_model_file(tmp_path, capsys, monkeypatch):
    """The model is saved before its holdout backtest: a Ctrl+C there left a model file
    without the holdout report it was trained to carry."""
    import model.train as tr

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tr, "holdout_backtest", interrupted)
    out = tmp_path / "m.json"
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out),
            "--holdout-days", "5", "--folds", "2", "--c", "1", "--jobs", "1",
            "--no-progress"]  # fmt: skip
    assert main(argv) == 130
    assert capsys.readouterr().err == "model.train: interrupted: no model was saved\n"
    assert not out.exists()


def test_rows_whose_features_or_label_span_a_gap_are_marked():
    # Bars 0..3 then 10..13 (step 1): the hole lies between positions 3 and 4. With 2 bars of
    # feature window back and a label 1 bar ahead, row t spans it when the hole is in
    # [t - 2, t]: rows 3 (label 3 -> 4), 4 and 5 (features back to 2 and 3).
    ot = np.array([0, 1, 2, 3, 10, 11, 12, 13])
    got = straddles_gap(ot, 1, back=2, ahead=1)
    assert got.tolist() == [False, False, False, True, True, True, False, False]
    assert not straddles_gap(np.arange(5), 1, back=3, ahead=3).any()


def test_training_leaves_out_the_rows_around_a_missing_day(tmp_path, capsys):
    # The week without May 7 02:00 .. May 8 02:00 (rows 3000..4439): features and labels
    # mixed prices from both sides of the hole.
    import pandas as pd

    data = tmp_path / "BTCUSDT-gap.csv"
    pd.read_csv(WEEK).drop(index=range(3000, 4440)).to_csv(data, index=False)
    out = tmp_path / "m.json"
    argv = ["--data", str(data), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out),
            "--folds", "2", "--c", "1", "--jobs", "1", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    window = json.loads(out.read_text())["training_window"]
    # Row t (t = bar position) is left out when the hole (after position 2999) lies within its
    # 61-bar feature window or its 15-bar label horizon: t in [2999 - 14, 2999 + 60], 75 rows.
    # Of 8640 bars, the first 60 lack features and the last 15 a label: 8640 - 75 - 75 = 8490.
    assert window["gaps"] == 1 and window["rows_dropped_at_gaps"] == 75
    assert window["labelled_rows"] == 8490
    assert "1 gap (75 rows across it left out)" in capsys.readouterr().out  # not '1 gaps'


def _ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


HOLDOUT_ARGV = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m",
                "--holdout-days", "2", "--folds", "3", "--c", "0.1", "--jobs", "1"]  # fmt: skip


def test_the_training_report_is_printed_before_the_holdout_backtest_runs(
    tmp_path, capsys, monkeypatch
):
    """The holdout backtest may take longer than the training: the user waited through it
    with nothing on stdout, then got the training's report. The "saved" line, with the
    holdout's time in the total, comes after it (a failed holdout removes the file)."""
    import model.train as tr

    real_holdout = tr.holdout_backtest
    before: list[str] = []

    def holdout(*args, **kwargs):
        before.append(capsys.readouterr().out)
        return real_holdout(*args, **kwargs)

    monkeypatch.setattr(tr, "holdout_backtest", holdout)

    assert main([*HOLDOUT_ARGV, "--out", str(tmp_path / "m.json"), "--no-progress"]) == 0

    (printed,) = before
    assert "out-of-sample (3 folds" in printed and "  model " in printed
    assert printed.endswith("holdout backtest of the last 2 days: the model, then SMA 10/50 ...\n")
    assert "saved" not in printed
    after = capsys.readouterr().out.splitlines()
    assert after[0].startswith(f"saved {tmp_path / 'm.json'}  (load ")
    assert ", holdout backtest " in after[0] and after[1].startswith("holdout backtest, out of")


def test_the_holdout_backtests_progress_bars_say_which_run_they_count(
    tmp_path, capsys, monkeypatch
):
    """Two unnamed `0/2880 bar/s` bars followed the walk-forward's: the model's and the
    baseline's, neither saying so."""
    closed = record_closed_bars(monkeypatch)

    assert main([*HOLDOUT_ARGV, "--out", str(tmp_path / "m.json"), "--progress"]) == 0

    assert [(label, total) for label, _, total in closed] == [
        ("walk-forward fits", 3),
        ("holdout backtest", 2 * 1440),
        ("holdout baseline sma 10/50", 2 * 1440),
    ]


def test_train_then_backtest_the_model_on_a_holdout_of_the_bundled_week(tmp_path, capsys):
    rep, oos = _holdout_check(tmp_path, WEEK, 2, ["--folds", "3", "--c", "0.1", "--jobs", "1"])
    out = capsys.readouterr().out
    assert "holdout backtest, out of sample: 2025-05-10T00:00:00Z .. 2025-05-12T00:00:00Z" in out
    for name in ("model", "sma_crossover_10_50", "buy_and_hold_no_fees", "flat", "majority"):
        assert name in out
    assert rep["bars"] == 2 * 1440 and rep["model"]["fees"] > 0
    assert set(oos) == {"model", "majority", "last_direction"}


@pytest.mark.slow
def test_acceptance_train_then_backtest_out_of_sample_on_seven_weeks(tmp_path, capsys):
    data = SHARED / "BTCUSDT-um-1m-2025-05-04_2025-06-24.csv.gz"
    if not data.is_file():
        pytest.skip(f"{data} absent (../shared is not mounted)")
    rep, oos = _holdout_check(tmp_path, data, 7, ["--jobs", "2"])
    with capsys.disabled():  # the figures the report states, for the record
        print(f"\nout-of-sample classification: {json.dumps(oos)}")
        print(f"holdout backtest: {json.dumps(rep)}")
    assert oos["model"]["n"] > 50_000


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model.train", *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_an_unwritable_out_is_refused_before_training():
    # It used to train for the whole run, then fail with a traceback at the save.
    run = _cli("--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--out", "/proc/x")
    assert run.returncode == 2 and run.stdout == ""  # no training report: refused before
    # The reason in brackets is the OS's (ENOENT as root, EACCES otherwise).
    assert run.stderr.startswith("model.train: error: --out /proc/x: cannot write in /proc (")
    assert run.stderr.count("\n") == 1
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("out", ["file.txt/models", "file.txt/sub/m.json"])
def test_an_out_under_a_file_is_refused_in_one_line(tmp_path, capsys, out):
    (tmp_path / "file.txt").write_text("x")
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m",
            "--out", str(tmp_path / out)]  # fmt: skip
    assert main(argv) == 2
    said = f"--out {tmp_path / out}: {tmp_path / 'file.txt'} is not a directory"
    assert capsys.readouterr().err == f"model.train: error: {said}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def _bad_csv(path, row: int, column: str, value: str):
    """The week's first 400 bars with one cell (data row `row`, from 1) replaced."""
    with gzip.open(WEEK, "rt") as f:
        lines = f.read().splitlines()[:401]
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("close", "abc", "column close is not numeric at row 7 (line 8): 'abc'"),
        ("close", "", "column close is empty at row 7 (line 8)"),
        ("open_time", "abc", "column open_time is not numeric at row 7 (line 8): 'abc'"),
    ],
)
def test_a_bad_cell_is_named_by_file_row_and_column(tmp_path, column, value, says):
    data = _bad_csv(tmp_path / "bad.csv", 7, column, value)
    run = _cli("--data", str(data), "--symbol", "BTCUSDT", "--interval", "1m",
               "--out", str(tmp_path / "out"))  # fmt: skip
    assert run.returncode == 2
    assert run.stderr == f"model.train: error: --data {data}: {says}\n"
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("volume", "-5", "column volume is negative at row 7 (line 8): -5.0"),
        ("high", "1", "column high is below low at row 7 (line 8): 1.0 < "),
        ("open", "1", "column low is above open at row 7 (line 8): "),
    ],
)
def test_a_bar_the_backtester_refuses_is_refused_naming_its_row(
    tmp_path, capsys, column, value, says
):
    # A negative volume or a high below the low trained and saved a model; the backtester
    # refuses the same file ('line 8, column volume: -5.0 is negative').
    data = _bad_csv(tmp_path / "BTCUSDT-bad.csv", 7, column, value)
    out = tmp_path / "out"
    argv = ["--data", str(data), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"model.train: error: --data {data}: {says}") and err.count("\n") == 1
    assert not out.exists()


def test_a_bad_cell_in_a_later_window_is_named_by_its_file_row(tmp_path, capsys):
    # The window starts at data row 201: the bad cell keeps its number in the file.
    data = _bad_csv(tmp_path / "bad.csv", 300, "high", "")
    start = str(1746403200000 + 200 * 60_000)  # data row 201 on
    argv = ["--data", str(data), "--symbol", "BTCUSDT", "--interval", "1m", "--start", start,
            "--out", str(tmp_path / "m.json")]  # fmt: skip
    assert main(argv) == 2
    assert "column high is empty at row 300 (line 301)" in capsys.readouterr().err


def test_help_lists_the_intervals_in_time_order(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "{1s,1m,3m,5m,15m,30m,1h,2h,4h,6h,8h,12h,1d}" in capsys.readouterr().out


def test_a_history_store_trains_the_same_model_as_the_csv_it_holds(tmp_path, capsys):
    # The store fetch_historical.py writes (its root, one symbol's folder, or a day file) is
    # training data as the backtester's --data already takes it, not "cannot read as CSV".
    from market_history.importers import import_file
    from market_history.schema import Kind
    from market_history.store import HistoryStore

    root = tmp_path / "data_store"
    import_file(HistoryStore(root), WEEK, symbol="BTCUSDT", kind=Kind.klines("1m"), layout="ohlcv")
    docs = {}
    for name, data in (("csv", WEEK), ("root", root), ("folder", root / "BTCUSDT/klines-1m")):
        out = tmp_path / f"{name}.json"
        argv = ["--data", str(data), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out),
                "--folds", "2", "--c", "0.1", "--jobs", "1", "--no-progress"]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
        docs[name] = json.loads(out.read_text())
    for name in ("root", "folder"):
        assert docs[name]["data"]["sha256"] == docs["csv"]["data"]["sha256"]
        assert docs[name]["linear"] == docs["csv"]["linear"]
        assert docs[name]["feature_config"]["flow"] is False  # nulls, not zeros, in the store


def test_a_history_stores_root_gets_its_holdout_backtest_too(tmp_path, capsys):
    # The holdout backtest read --data again as the backtester's data, which took no store
    # root: the model trained, then "holdout backtest: no .parquet files in data_store".
    from market_history.importers import import_file
    from market_history.schema import Kind
    from market_history.store import HistoryStore

    root = tmp_path / "data_store"
    import_file(HistoryStore(root), WEEK, symbol="BTCUSDT", kind=Kind.klines("1m"), layout="ohlcv")
    out = tmp_path / "m.json"
    argv = ["--data", str(root), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out),
            "--holdout-days", "1", "--folds", "2", "--c", "0.1", "--jobs", "1",
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    window = json.loads(out.read_text())["holdout_backtest"]["window"]
    assert (window["start"], window["end_exclusive"]) == (
        "2025-05-11T00:00:00Z",
        "2025-05-12T00:00:00Z",
    )


def test_a_store_without_the_symbols_klines_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "data_store" / "ETHUSDT" / "klines-1m").mkdir(parents=True)
    argv = ["--data", str(tmp_path / "data_store"), "--symbol", "BTCUSDT", "--interval", "1m",
            "--out", str(tmp_path / "m.json")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no .parquet files" in err and "BTCUSDT/klines-1m" in err


@pytest.mark.parametrize("label", ["peak_trough", "forward"])
def test_a_folds_training_labels_never_depend_on_its_test_block(label):
    # A peak/trough label waits for its swing to be confirmed, however far ahead: labelled on
    # the whole series, up to 644 training rows of a fold on the real week were labelled by
    # prices of its test block. Rewriting every price from the test block on must not change
    # one training row or label of that fold.
    from model.dataset import build_dataset
    from model.train_data import load_bars
    from model.walk_forward import fold_training_rows

    df = load_bars(WEEK, symbol="BTCUSDT", interval="1m", start_ms=None, end_ms=None)
    kw = {"flow": False, "label": label, "horizon": 15, "threshold": 0.001, "min_swing": 0.005}
    _, y, _, rows = build_dataset(df, **kw)
    splits = walk_forward_splits(len(y), folds=5, purge=15)
    close = df["close"].to_numpy(dtype=float)
    folds = fold_training_rows(y, splits, label=label, close=close, bars=rows, min_swing=0.005)
    rng = np.random.default_rng(0)
    for k, (_, test_start, _) in enumerate(splits):
        first = rows[test_start]
        changed = df.copy()
        changed.loc[first:, "close"] = close[first:] * rng.uniform(0.97, 1.03, len(df) - first)
        _, y_changed, _, rows_changed = build_dataset(changed, **kw)
        assert np.array_equal(rows_changed[: test_start + 1], rows[: test_start + 1])
        again = fold_training_rows(
            y_changed, splits, label=label, close=changed["close"].to_numpy(dtype=float),
            bars=rows_changed, min_swing=0.005,
        )  # fmt: skip
        assert np.array_equal(folds[k][0], again[k][0])
        assert np.array_equal(folds[k][1], again[k][1])


@pytest.mark.parametrize(("unit", "scale"), [("us", 1000), ("s", 1 / 1000)])
def test_open_times_in_seconds_or_microseconds_train_as_ms(tmp_path, capsys, unit, scale):
    # Binance's spot kline files moved to microseconds; the backtester and the history store
    # normalize such times, model.train said "bars are 60000000 ms apart, not --interval 1m".
    rows = gzip.decompress(WEEK.read_bytes()).decode().splitlines()
    lines = [rows[0]] + [
        ",".join([str(int(int(r.split(",")[0]) * scale)), *r.split(",")[1:]]) for r in rows[1:]
    ]
    data = tmp_path / f"BTCUSDT-{unit}.csv"
    data.write_text("\n".join(lines) + "\n")
    docs = []
    for name, path in (("ms", WEEK), (unit, data)):
        out = tmp_path / f"{name}.json"
        argv = ["--data", str(path), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out),
                "--start", "2025-05-06", "--folds", "2", "--c", "0.1", "--jobs", "1"]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
        docs.append(json.loads(out.read_text()))
    assert docs[0]["linear"] == docs[1]["linear"]
    assert docs[0]["training_window"] == docs[1]["training_window"]


def test_a_binance_klines_file_without_a_header_trains_like_one_with_it(tmp_path, capsys):
    # data.binance.vision's older 12-column files have no header row (the backtester reads
    # them); model.train said "missing column(s) open_time, open, high, low, close, volume".
    from model.inputs import BINANCE_KLINE_COLUMNS

    rows = gzip.decompress(WEEK.read_bytes()).decode().splitlines()[1:3001]
    body = []
    for r in rows:
        t, o, h, lo, c, v = r.split(",")
        body.append(f"{t},{o},{h},{lo},{c},{v},{int(t) + 59_999},0,10,{float(v) / 2},0,0")
    with_header = tmp_path / "BTCUSDT-1m-header.csv"
    with_header.write_text(",".join(BINANCE_KLINE_COLUMNS) + "\n" + "\n".join(body) + "\n")
    without = tmp_path / "BTCUSDT-1m-noheader.csv.gz"
    without.write_bytes(gzip.compress(("\n".join(body) + "\n").encode()))
    docs = []
    for path in (with_header, without):
        out = tmp_path / f"{path.name}.json"
        argv = ["--data", str(path), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out),
                "--folds", "2", "--c", "0.1", "--jobs", "1"]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
        docs.append(json.loads(out.read_text()))
    assert docs[0]["linear"] == docs[1]["linear"]
    assert docs[1]["feature_config"]["flow"] is True  # taker volume and count were read


def _outer_folds(n: int, folds: int, purge: int) -> tuple[list, list]:
    y = np.array([-1, 0, 1] * (n // 3))
    splits = walk_forward_splits(n, folds=folds, purge=purge)
    close = np.ones(n)
    outer = fold_training_rows(y, splits, label="forward", close=close, bars=np.arange(n),
                               min_swing=0.005)  # fmt: skip
    return splits, outer


def test_each_folds_c_is_chosen_on_inner_folds_of_its_own_training_rows():
    # 600 rows, 5 folds, purge 15: fold 1 trains on rows 0..84. Its 3 inner folds cut those
    # 85 rows at 21, 42, 63 (linspace(0, 85, 5)), each training 15 rows before its test block.
    splits, outer = _outer_folds(600, folds=5, purge=15)

    inner = inner_folds(outer, inner=3, purge=15, label="forward", close=np.ones(600),
                        bars=np.arange(600), min_swing=0.005)  # fmt: skip

    got = [(list(tr), list(te)) for tr, _, te, _ in inner[0]]
    assert got == [
        (list(range(6)), list(range(21, 42))),
        (list(range(27)), list(range(42, 63))),
        (list(range(48)), list(range(63, 85))),
    ]
    for (train_end, _, _), these in zip(splits, inner, strict=True):
        assert len(these) == 3
        assert all(tr.max() < train_end and te.max() < train_end for tr, _, te, _ in these)


def test_an_inner_fold_of_a_single_class_is_left_out():
    n = 600
    y = np.zeros(n, dtype=int)
    y[30:] = np.array([-1, 0, 1] * n)[: n - 30]  # rows 0..29: HOLD only
    splits = walk_forward_splits(n, folds=5, purge=15)
    outer = fold_training_rows(y, splits, label="forward", close=np.ones(n), bars=np.arange(n),
                               min_swing=0.005)  # fmt: skip

    inner = inner_folds(outer, inner=3, purge=15, label="forward", close=np.ones(n),
                        bars=np.arange(n), min_swing=0.005)  # fmt: skip

    # Fold 1's inner folds train on rows 0..5, 0..26 (all HOLD: nothing to fit, left out)
    # and 0..47; fold 2's (185 rows cut at 46, 92, 138) on 0..30, 0..76, 0..122: each holds
    # row 30 (SELL) at least.
    assert [len(tr) for tr, _, _, _ in inner[0]] == [48]
    assert [len(tr) for tr, _, _, _ in inner[1]] == [31, 77, 123]


def test_choose_c_takes_the_lowest_mean_inner_log_loss_and_the_first_on_a_tie():
    losses = {(0, 0.1): [1.0, 1.2], (0, 1.0): [1.05, 1.1], (1, 0.1): [1.0], (1, 1.0): [1.0]}

    assert choose_c([0.1, 1.0], losses, 0) == 1.0  # mean 1.075 < 1.1
    assert choose_c([0.1, 1.0], losses, 1) == 0.1  # a tie: the first


def test_the_reported_metrics_are_each_folds_at_the_c_its_training_rows_chose(tmp_path):
    out = tmp_path / "m.json"
    assert main(_argv(out, "--jobs", "1")) == 0
    doc = json.loads(out.read_text())

    v = doc["validation"]
    assert v["inner_folds"] == 3 and len(v["C_by_fold"]) == v["folds"] == 4
    assert [f["C"] for f in doc["metrics"]["folds"]] == v["C_by_fold"]
    tests = [f["test"] for f in doc["metrics"]["folds"]]
    assert doc["metrics"]["out_of_sample"]["model"]["n"] == sum(b - a for a, b in tests)


def test_a_single_c_is_not_chosen_and_needs_no_inner_fold(tmp_path, capsys, monkeypatch):
    closed = record_closed_bars(monkeypatch)
    argv = [a for a in _argv(tmp_path / "m.json", "--jobs", "1") if a != "--no-progress"]
    argv[argv.index("0.1,1")] = "0.5"

    assert main([*argv, "--progress"]) == 0

    assert [(n, total) for _, n, total in closed] == [(4, 4)]  # the 4 folds only
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["validation"]["inner_folds"] == 0 and doc["validation"]["C_by_fold"] == [0.5] * 4
    # It said "each fold's C chosen on inner walk-forward folds ... (nested)" all the same.
    assert (
        doc["validation"]["scheme"] == "walk-forward, expanding window; a single C, nothing chosen"
    )
    assert "out-of-sample (4 folds, purge 15 rows, C=0.5):" in capsys.readouterr().out


@pytest.mark.parametrize("label", ["peak_trough", "forward"])
def test_the_inner_folds_of_a_fold_never_depend_on_its_test_block(label):
    # Rewriting every price from an outer test block on must not change one row or label its
    # inner folds choose C on.
    from model.dataset import build_dataset
    from model.train_data import load_bars

    df = load_bars(WEEK, symbol="BTCUSDT", interval="1m", start_ms=None, end_ms=None)
    kw = {"flow": False, "label": label, "horizon": 15, "threshold": 0.001, "min_swing": 0.005}

    def inner_of(frame):
        _, y, _, rows = build_dataset(frame, **kw)
        close = frame["close"].to_numpy(dtype=float)
        outer = fold_training_rows(y, splits, label=label, close=close, bars=rows,
                                   min_swing=0.005)  # fmt: skip
        return rows, inner_folds(outer, inner=3, purge=15, label=label, close=close, bars=rows,
                                 min_swing=0.005)  # fmt: skip

    _, y, _, _ = build_dataset(df, **kw)
    splits = walk_forward_splits(len(y), folds=5, purge=15)
    rows, inner = inner_of(df)
    rng = np.random.default_rng(0)
    close = df["close"].to_numpy(dtype=float)
    for k, (_, test_start, _) in enumerate(splits):
        first = rows[test_start]
        changed = df.copy()
        changed.loc[first:, "close"] = close[first:] * rng.uniform(0.97, 1.03, len(df) - first)
        _, again = inner_of(changed)
        assert len(again[k]) == len(inner[k]) > 0
        for a, b in zip(inner[k], again[k], strict=True):
            assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


def test_training_twice_on_the_same_data_writes_byte_identical_model_files(tmp_path):
    # A model file is a function of its data and settings: a wall-clock field in it made every
    # retraining a new file (and a new registry version) for the same coefficients and metrics.
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for out in paths:
        argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--out", str(out),
                "--start", "2025-05-05", "--end", "2025-05-07", "--folds", "2", "--c", "0.1",
                "--jobs", "1", "--no-progress"]  # fmt: skip
        assert main(argv) == 0
        time.sleep(0.01)  # a clock in the file would differ between the two runs
    assert paths[0].read_bytes() == paths[1].read_bytes()


# model.train run as it is, into a pipe, with each backtest warning as a stop-loss fill does.
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
from model import train

sys.exit(train.main(sys.argv[1:]))
"""


def test_the_holdout_backtests_warning_names_its_run_and_the_baselines_are_not_printed(
    tmp_path,
):
    """The holdout's model and its SMA baseline printed their warnings (`its stop-loss
    closed the long; ...`) alike, naming neither run."""
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m",
            "--out", str(tmp_path / "m.json"), "--holdout-days", "1", "--folds", "3",
            "--c", "0.1", "--jobs", "1", "--no-progress"]  # fmt: skip

    run = subprocess.run(
        [sys.executable, "-c", WARNING_RUNS, *argv],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )  # fmt: skip

    assert run.returncode == 0, run.stdout
    warned = [line for line in run.stdout.splitlines() if "stop-loss closed" in line]
    assert warned == [
        "holdout backtest: BTCUSDT: its stop-loss closed the long; logistic_regression"
    ]


EXPECTED = "expected a .json file or a directory"


@pytest.mark.parametrize(
    ("out", "says"),
    [
        ("x.txt", f"{EXPECTED}, and a .txt name would be made a directory"),
        ("m.JSON", f"{EXPECTED}, and a .JSON name would be made a directory"),
        ("notes", "is a file, not a .json file nor a directory"),
    ],
)
def test_an_out_that_is_no_json_file_nor_directory_is_refused_in_one_line(
    tmp_path, capsys, out, says
):
    # `--out x.txt` made a directory named x.txt and saved the model inside it.
    (tmp_path / "notes").write_text("mine")
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m",
            "--out", str(tmp_path / out)]  # fmt: skip

    assert main(argv) == 2

    assert capsys.readouterr().err == f"model.train: error: --out {tmp_path / out}: {says}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]
    assert (tmp_path / "notes").read_text() == "mine"


def test_a_folder_name_with_a_dot_is_still_a_directory(tmp_path):
    check_out(tmp_path / "models" / "run.2")  # a version in a folder's name, not a file type
    (tmp_path / "made.txt").mkdir()
    check_out(tmp_path / "made.txt")  # a directory already: the model goes into it


def test_a_window_without_a_buy_label_is_refused_before_any_fit(tmp_path, capsys, monkeypatch):
    # 2025-05-07 00:00-12:00 at 0.4 %: 2 SELL, 643 HOLD, no BUY. The model was saved (classes
    # SELL, HOLD) and the daemon, the backtester and model.review then refused it.
    import model.train as train_module

    def no_fit(*args, **kwargs):
        raise AssertionError("a fit ran")

    monkeypatch.setattr(train_module, "parallel_map", no_fit)
    out = tmp_path / "m.json"
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--start",
            "2025-05-07", "--end", "2025-05-07T12:00", "--threshold", "0.004", "--c", "0.1",
            "--jobs", "1", "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "model.train: error: no BUY label among the 645 labelled rows (SELL/HOLD/BUY = "
        "2/643/0): the model could never signal it and the strategy refuses such a model; use "
        "a lower --threshold (a log return: 0.001 = ~0.1 %; now 0.004), or a window where the "
        "price moves both ways\n"
    )
    assert not out.exists()


def test_one_fold_and_one_holdout_day_are_said_in_the_singular(tmp_path, capsys, monkeypatch):
    # It printed 'out-of-sample (1 folds, ...' and 'holdout backtest of the last 1 days'.
    import model.train as tr
    from model.input_error import InputError

    def holdout(*args, **kwargs):
        raise InputError("stopped here")

    monkeypatch.setattr(tr, "holdout_backtest", holdout)
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--start",
            "2025-05-09", "--holdout-days", "1", "--folds", "1", "--c", "0.1", "--jobs", "1",
            "--no-progress", "--out", str(tmp_path / "m.json")]  # fmt: skip
    assert main(argv) == 2
    printed = capsys.readouterr().out
    assert "out-of-sample (1 fold, purge 15 rows, C=0.1):" in printed
    assert printed.endswith("holdout backtest of the last 1 day: the model, then SMA 10/50 ...\n")


@pytest.mark.parametrize("inside", ["", "versions/20261130T112220Z-16ada749/model.json"])
def test_an_out_inside_a_model_registry_is_refused_before_training(tmp_path, capsys, inside):
    # --out models/btcusdt-1m/versions/<id>/model.json overwrote the shipped version, which
    # the daemon then refused ('this registry version's model file changed since it was
    # added'), the old file gone; --out models/btcusdt-1m left a file the registry never reads.
    import shutil

    reg = tmp_path / "btcusdt-1m"
    shutil.copytree(ROOT / "models/btcusdt-1m", reg)
    before = {p: p.read_bytes() for p in reg.rglob("*") if p.is_file()}
    out = reg / inside if inside else reg
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--end",
            "2025-05-06", "--c", "0.1", "--jobs", "1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"model.train: error: --out {out}: inside the model registry {reg}, whose versions are "
        "never edited and which reads no other file; save the model elsewhere and add it with "
        f"python -m model.review --registry {reg} --candidate FILE\n"
    )
    assert {p: p.read_bytes() for p in reg.rglob("*") if p.is_file()} == before


def test_the_report_says_how_many_inner_folds_chose_each_folds_c(tmp_path, capsys):
    # May 5 at --inner-folds 20: fold 1's 212 training rows leave no room before the purge for
    # its first inner fold, so 19 chose its C; the report said 'from 20 inner folds'.
    out = tmp_path / "m.json"
    argv = ["--data", str(WEEK), "--symbol", "BTCUSDT", "--interval", "1m", "--end",
            "2025-05-06", "--inner-folds", "20", "--jobs", "1", "--no-progress",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert (
        "C per fold from 19, 20, 20, 20, 20 of 20 inner folds of its training rows: "
        in capsys.readouterr().out
    )
    validation = json.loads(out.read_text())["validation"]
    assert validation["inner_folds"] == 20
    assert validation["inner_folds_used"] == [19, 20, 20, 20, 20]


def test_a_backtest_out_holding_the_users_trades_csv_is_refused_before_training(tmp_path, capsys):
    # The holdout wrote its trades.csv over the user's own; the backtester refuses such a
    # folder.
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "trades.csv").write_text("my trades\n")
    out = tmp_path / "m.json"
    argv = [*HOLDOUT_ARGV, "--backtest-out", str(folder), "--out", str(out)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"model.train: error: --backtest-out {folder} holds trades.csv but no backtest's "
        "summary.json: a run would replace or remove them; choose another folder, or move them\n"
    )
    assert (folder / "trades.csv").read_text() == "my trades\n" and not out.exists()


def test_a_holdout_into_an_earlier_backtests_folder_leaves_none_of_its_files(tmp_path):
    # The holdout writes no report.html: the earlier run's stayed beside the holdout's
    # summary.json, a report of another backtest in the same folder.
    from backtest_trading_strategy import main as backtest_main

    folder = tmp_path / "bt"
    assert backtest_main(["--data", str(WEEK), "--symbol", "BTCUSDT", "--start", "2025-05-11",
                          "--out", str(folder)]) == 0  # fmt: skip
    assert (folder / "report.html").exists()
    argv = [*HOLDOUT_ARGV, "--backtest-out", str(folder), "--out", str(tmp_path / "m.json"),
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert not (folder / "report.html").exists()
    assert not (folder / "monthly_returns.png").exists()
    assert (folder / "summary.json").exists()


@pytest.mark.parametrize("typed", ["BTC/USDT", "btc_usdt"])
def test_a_symbol_typed_as_fetch_historical_takes_it_reads_its_store(tmp_path, capsys, typed):
    # fetch_historical.py --symbol BTC/USDT stores BTCUSDT/klines-1m; model.train --symbol
    # BTC/USDT looked for BTC/USDT/klines-1m ('this history store has no USDT/klines-1m').
    from market_history.importers import import_file
    from market_history.schema import Kind
    from market_history.store import HistoryStore

    root = tmp_path / "data_store"
    import_file(HistoryStore(root), WEEK, symbol="BTCUSDT", kind=Kind.klines("1m"), layout="ohlcv")
    out = tmp_path / "m.json"
    argv = ["--data", str(root), "--symbol", typed, "--interval", "1m", "--end", "2025-05-07",
            "--folds", "2", "--c", "0.1", "--jobs", "1", "--no-progress",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert json.loads(out.read_text())["symbol"] == "BTCUSDT"


def test_a_symbol_that_is_none_is_refused_in_one_line(tmp_path, capsys):
    argv = ["--data", str(WEEK), "--symbol", "BTC USDT!", "--interval", "1m",
            "--out", str(tmp_path / "m.json")]  # fmt: skip
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "model.train: error: --symbol 'BTC USDT!': expected a symbol such as BTCUSDT\n"
    )
