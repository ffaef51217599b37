"""LogRegModel: the folded pure-Python inference equals scikit-learn's predict_proba, the
saved file is plain JSON with its metadata, and a model that does not fit the code is
refused with a clear message."""

import json

import numpy as np
import pytest

from model import features
from model.labeling import forward_return_labels
from model.live import ModelMismatchError, load_linear_model
from model.logreg_model import LogRegModel
from tests.model.support import week


@pytest.fixture(scope="module")
def dataset():
    df = week()
    x = features.compute_features(df).to_numpy()
    y = forward_return_labels(df["close"].to_numpy(), horizon=15, threshold=0.001)
    ok = ~np.isnan(x).any(axis=1) & ~np.isnan(y)
    return x[ok], y[ok].astype(int)


@pytest.fixture(scope="module")
def fitted(dataset):
    x, y = dataset
    return LogRegModel(c=1.0).fit(x[:6000], y[:6000])


def test_pure_python_inference_equals_scikit_learn_predict_proba(fitted, dataset):
    x, _ = dataset
    rows = x[6000:]
    expected = fitted.pipeline.predict_proba(rows)
    live = fitted.linear
    got = np.array([live.predict_proba(r.tolist()) for r in rows])
    assert list(fitted.pipeline.classes_) == list(live.classes) == [-1, 0, 1]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fitted.predict_proba(rows), expected, rtol=0, atol=1e-12)


def test_saved_model_is_plain_json_with_metadata_and_loads_back_equal(fitted, dataset, tmp_path):
    x, _ = dataset
    fitted.metadata = {"symbol": "BTCUSDT", "metrics": {"log_loss": 1.0}}
    path = fitted.save(tmp_path / "m.json")
    doc = json.loads(path.read_text())
    assert doc["feature_names"] == list(features.FEATURE_NAMES)
    assert doc["feature_hash"] == features.feature_code_hash()
    assert doc["params"]["class_weight"] == "balanced"
    assert {"numpy", "scikit-learn", "python"} <= set(doc["versions"])
    assert doc["symbol"] == "BTCUSDT" and doc["metrics"] == {"log_loss": 1.0}
    loaded = LogRegModel.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(x[6000:]), fitted.predict_proba(x[6000:]))
    live = load_linear_model(path)
    assert live.predict_proba(x[7000].tolist()) == fitted.linear.predict_proba(x[7000].tolist())


def _saved_doc(fitted, tmp_path):
    path = fitted.save(tmp_path / "m.json")
    return path, json.loads(path.read_text())


def test_a_model_trained_on_other_feature_code_is_refused(fitted, tmp_path):
    path, doc = _saved_doc(fitted, tmp_path)
    doc["feature_hash"] = "0" * 64
    path.write_text(json.dumps(doc))
    with pytest.raises(
        ModelMismatchError, match=r"model/features\.py changed\); retrain the model"
    ):
        load_linear_model(path)
    with pytest.raises(ModelMismatchError):
        LogRegModel.load(path)


def test_a_model_with_other_features_is_refused(fitted, tmp_path):
    path, doc = _saved_doc(fitted, tmp_path)
    doc["feature_names"] = doc["feature_names"][:-1]
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelMismatchError, match="differ from the code's"):
        load_linear_model(path)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        (
            ("linear", "coef", 0, 0),
            float("nan"),
            r"linear\.coef\[0\]\[0\] is not a finite number: nan",
        ),
        (
            ("linear", "coef", 2, 5),
            float("inf"),
            r"linear\.coef\[2\]\[5\] is not a finite number: inf",
        ),
        (("linear", "intercept", 1), float("-inf"), r"linear\.intercept\[1\] is not a finite"),
        (("unfolded", "scaler_scale", 3), float("nan"), r"unfolded\.scaler_scale\[3\] is not"),
        (("unfolded", "scaler_mean", 0), float("inf"), r"unfolded\.scaler_mean\[0\] is not"),
    ],
)
def test_a_model_with_a_non_finite_number_is_refused_naming_the_field(
    fitted, tmp_path, field, value, named
):
    path, doc = _saved_doc(fitted, tmp_path)
    *parents, last = field
    target = doc
    for key in parents:
        target = target[key]
    target[last] = value
    path.write_text(json.dumps(doc))  # NaN / Infinity tokens, as json.dumps writes them
    with pytest.raises(ModelMismatchError, match=f"^model file {path}: {named}"):
        load_linear_model(path)


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: d.pop("linear"), 'no "linear" object'),
        (lambda d: d["linear"].update(coef=5), r"linear\.coef is not a list of rows"),
        (lambda d: d["linear"].update(intercept=None), r"linear\.intercept is not a list"),
        (lambda d: d["linear"]["coef"][1].__setitem__(0, "abc"), r"coef\[1\]\[0\] .*'abc'"),
        (lambda d: d["linear"]["coef"][1].pop(), "coefficient shape does not match"),
        (lambda d: d.pop("classes"), "classes is not a list of numbers"),
        (lambda d: d.update(classes=[-1, 0, 0.5]), r"classes \[-1, 0, 0\.5\] are not distinct"),
        (lambda d: d.update(feature_config=[]), "feature_config is not an object"),
        (lambda d: d.update(feature_names=5), "differ from the code's"),
    ],
)
def test_a_malformed_model_file_is_one_value_error_naming_the_file(fitted, tmp_path, edit, named):
    path, doc = _saved_doc(fitted, tmp_path)
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelMismatchError, match=named) as info:
        load_linear_model(path)
    assert str(path) in str(info.value)
    with pytest.raises(ValueError, match=named):
        LogRegModel.load(path)


def test_a_pickle_or_unknown_file_is_refused_without_running_it(tmp_path):
    path = tmp_path / "m.pkl"
    path.write_bytes(b"\x80\x04\x95cos\nsystem\n")  # the start of a pickle
    with pytest.raises(ModelMismatchError, match="not a JSON model file"):
        load_linear_model(path)
    path.write_text('{"format": "sklearn-pickle"}')
    with pytest.raises(ModelMismatchError) as info:
        load_linear_model(path)
    assert (
        str(info.value)
        == f"{path}: unknown model format 'sklearn-pickle', expected linear-softmax/1"
    )
    with pytest.raises(ModelMismatchError, match="cannot read"):
        load_linear_model(tmp_path / "missing.json")


@pytest.mark.parametrize("flow", ["false", "no", 0])
def test_a_flow_setting_that_is_not_a_json_boolean_is_refused(tmp_path, flow):
    # "flow": "false" (quoted) was read as bool("false") = True: a flow model, refused by the
    # backtester for taker-flow features it was never trained with.
    df = week().iloc[:600]
    x = features.compute_features(df).to_numpy()
    y = forward_return_labels(df["close"].to_numpy(), horizon=15, threshold=0.001)
    ok = ~np.isnan(x).any(axis=1) & ~np.isnan(y)
    path = LogRegModel().fit(x[ok], y[ok].astype(int)).save(tmp_path / "m.json")
    doc = json.loads(path.read_text())
    doc["feature_config"]["flow"] = flow
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelMismatchError) as info:
        load_linear_model(path)
    assert str(info.value) == (
        f"model file {path}: feature_config.flow is {flow!r}, not true or false"
    )


@pytest.mark.parametrize("fmt", ["linear-softmax/2", "linear-softmax/0"])
def test_a_model_file_of_another_format_revision_says_to_retrain_it(tmp_path, fmt):
    # A file from a newer (or older) version of the code said only "unknown model format
    # 'linear-softmax/2', expected linear-softmax/1".
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"format": fmt}))
    with pytest.raises(ModelMismatchError) as info:
        load_linear_model(path)
    assert str(info.value) == (
        f"{path}: model format '{fmt}' is another version's (this code reads linear-softmax/1); "
        "retrain the model with this version (python -m model.train) or use it with the version "
        "that wrote it"
    )


@pytest.mark.parametrize("text", ['{"metrics": {"fills": 3}}', "[1, 2]"])
def test_a_json_file_that_is_not_a_model_is_said_to_be_none(tmp_path, text):
    # A backtest's summary.json given as the model said "unknown model format None".
    path = tmp_path / "summary.json"
    path.write_text(text)
    with pytest.raises(ModelMismatchError) as info:
        load_linear_model(path)
    assert str(info.value) == (
        f'{path} is not a model file (no "format": "linear-softmax/1"; train one with '
        "python -m model.train)"
    )


def test_two_class_models_fold_to_the_same_probabilities(dataset):
    # scikit-learn keeps one coefficient row for two classes; the fold turns it into two.
    x, y = dataset
    up_down = y != 0
    model = LogRegModel().fit(x[up_down][:3000], y[up_down][:3000])
    rows = x[up_down][3000:]
    got = np.array([model.linear.predict_proba(r.tolist()) for r in rows])
    assert model.linear.classes == (-1, 1)
    np.testing.assert_allclose(got, model.pipeline.predict_proba(rows), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda names: names[:-1], "the model lacks flow_known;"),
        (lambda names: [*names, "funding_rate"], "the model has funding_rate (not in the code);"),
        (lambda names: names[::-1], "the model has the same names in another order;"),
    ],
)
def test_a_feature_mismatch_names_the_difference_not_both_lists(fitted, tmp_path, edit, says):
    path, doc = _saved_doc(fitted, tmp_path)
    doc["feature_names"] = edit(doc["feature_names"])
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelMismatchError) as err:
        load_linear_model(path)
    assert says in str(err.value) and "ret_1" not in str(err.value)
