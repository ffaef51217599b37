"""How long the ML strategy's per-bar work takes: one incremental feature update plus one
logistic-regression prediction (dot product + softmax in plain Python). Target: < 20 us.

Run: python bench/bench_inference.py [MODEL.json]
Without a model file, a model is fitted on the bundled week of BTCUSDT 1m klines first (needs
scikit-learn; the timed loop itself uses neither scikit-learn nor numpy). The bars are that
real week, replayed through a fresh FeatureState; best and median of 7 passes
(the median is what a busy machine gives).
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from model.features import FeatureState, compute_features
from model.labeling import forward_return_labels
from model.live import LinearModel, load_linear_model

DATA = (
    Path(__file__).resolve().parents[1]
    / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
)


def fitted_model(df: pd.DataFrame) -> LinearModel:
    from model.logreg_model import LogRegModel

    x = compute_features(df).to_numpy()
    y = forward_return_labels(df["close"].to_numpy(), horizon=15, threshold=0.001)
    ok = ~pd.isna(x).any(axis=1) & ~pd.isna(y)
    with tempfile.TemporaryDirectory() as tmp:
        path = LogRegModel().fit(x[ok], y[ok]).save(Path(tmp) / "m.json")
        return load_linear_model(path)


def one_pass(model: LinearModel, bars: list[tuple[float, float, float, float]]) -> float:
    state = FeatureState(flow=model.flow)
    predict = model.predict_proba
    update = state.update
    start = time.perf_counter()
    for h, lo, c, v in bars:
        row = update(h, lo, c, v)
        if row is not None:
            predict(row)
    return (time.perf_counter() - start) / len(bars)


def main() -> None:
    df = pd.read_csv(DATA)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", help="a model file (default: fit one on the week)")
    path = parser.parse_args().model
    model = load_linear_model(path) if path else fitted_model(df)
    cols = (df.high.tolist(), df.low.tolist(), df.close.tolist(), df.volume.tolist())
    bars = list(zip(*cols, strict=True))
    passes = [one_pass(model, bars) for _ in range(7)]
    state = FeatureState(flow=model.flow)
    rows = [r for r in (state.update(*b) for b in bars) if r is not None]
    predict = []
    for _ in range(7):
        t0 = time.perf_counter()
        for r in rows:
            model.predict_proba(r)
        predict.append((time.perf_counter() - t0) / len(rows))
    n_feat, n_cls = len(model.feature_names), len(model.classes)
    print(f"{len(bars)} real 1m bars, {n_feat} features, {n_cls} classes; 7 passes")
    print(
        f"feature update + inference: best {min(passes) * 1e6:.2f} us, "
        f"median {statistics.median(passes) * 1e6:.2f} us per bar (target < 20 us)"
    )
    print(
        f"inference alone:            best {min(predict) * 1e6:.2f} us, "
        f"median {statistics.median(predict) * 1e6:.2f} us per bar"
    )


if __name__ == "__main__":
    main()
