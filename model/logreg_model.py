"""Multinomial logistic regression: scikit-learn for training, folded coefficients for use.

Training fits `StandardScaler -> LogisticRegression` (lbfgs, multinomial softmax, class
weights). The scaler is then folded into the linear map, w' = w / scale and
b' = b - w' . mean, so the saved JSON holds one weight matrix and one intercept that act on
raw feature rows; `model.live.LinearModel` evaluates them in pure Python and equals
scikit-learn's `predict_proba` (tested).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any, Self

import numpy as np

from model import features
from model.base_model import BaseModel
from model.live import ARTIFACT_FORMAT, LinearModel, load_linear_model


def library_versions() -> dict[str, str]:
    import pandas
    import scipy  # type: ignore[import-untyped]
    import sklearn  # type: ignore[import-untyped]

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pandas.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
    }


class LogRegModel(BaseModel):
    """StandardScaler + multinomial LogisticRegression with class weights."""

    name = "logistic_regression"

    def __init__(
        self,
        *,
        c: float = 1.0,
        class_weight: str | dict[int, float] | None = "balanced",
        max_iter: int = 500,
        flow: bool = False,
    ) -> None:
        super().__init__()
        self.c = c
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.flow = flow
        self.pipeline: Any = None
        self.linear: LinearModel | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {
            "C": self.c,
            "class_weight": self.class_weight,
            "max_iter": self.max_iter,
            "solver": "lbfgs",
            "scaler": "StandardScaler",
        }

    @property
    def classes(self) -> tuple[int, ...]:
        if self.linear is None:
            raise RuntimeError("model is not fitted")
        return self.linear.classes

    def fit(self, x: np.ndarray, y: np.ndarray) -> Self:
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
        from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]
        from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        pipe = Pipeline(
            [
                ("scaler", StandardScaler()),
                (
                    "logreg",
                    LogisticRegression(
                        C=self.c, class_weight=self.class_weight, max_iter=self.max_iter
                    ),
                ),
            ]
        )
        # One BLAS thread: with ~20 features the BLAS calls are tiny, and threaded OpenBLAS
        # spinning against the fold workers made lbfgs 6x slower on 2 cores (measured).
        with threadpool_limits(limits=1, user_api="blas"):
            pipe.fit(np.asarray(x, dtype=float), np.asarray(y).astype(int))
        self.pipeline = pipe
        self.linear = self._fold(pipe)
        return self

    def _fold(self, pipe: Any) -> LinearModel:
        scaler, lr = pipe.named_steps["scaler"], pipe.named_steps["logreg"]
        w = np.asarray(lr.coef_, dtype=float)
        b = np.asarray(lr.intercept_, dtype=float)
        if w.shape[0] == 1:  # two classes: sklearn keeps one row; softmax of (-z/2, z/2)
            w = np.vstack([-w[0] / 2.0, w[0] / 2.0])
            b = np.array([-b[0] / 2.0, b[0] / 2.0])
        w_raw = w / scaler.scale_
        b_raw = b - w_raw @ scaler.mean_
        return LinearModel(
            classes=tuple(int(k) for k in lr.classes_),
            feature_names=features.FEATURE_NAMES,
            coef=tuple(tuple(float(v) for v in row) for row in w_raw),
            intercept=tuple(float(v) for v in b_raw),
            flow=self.flow,
        )

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Batch probabilities from the folded coefficients (what live uses)."""
        if self.linear is None:
            raise RuntimeError("model is not fitted")
        z = np.asarray(x, dtype=float) @ np.asarray(self.linear.coef).T + np.asarray(
            self.linear.intercept
        )
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True))

    def save(self, path: str | Path) -> Path:
        if self.linear is None:
            raise RuntimeError("model is not fitted")
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        doc: dict[str, Any] = {
            "format": ARTIFACT_FORMAT,
            "model": self.name,
            "classes": list(self.linear.classes),
            "feature_names": list(features.FEATURE_NAMES),
            "feature_hash": features.feature_code_hash(),
            "feature_config": {"flow": self.flow, "warmup_bars": features.WARMUP_BARS},
            "linear": {
                "coef": [list(r) for r in self.linear.coef],
                "intercept": list(self.linear.intercept),
            },
            "params": self.params,
            "versions": library_versions(),
        }
        if self.pipeline is not None:
            scaler = self.pipeline.named_steps["scaler"]
            lr = self.pipeline.named_steps["logreg"]
            doc["unfolded"] = {
                "scaler_mean": scaler.mean_.tolist(),
                "scaler_scale": scaler.scale_.tolist(),
                "coef": lr.coef_.tolist(),
                "intercept": lr.intercept_.tolist(),
            }
        for k, v in self.metadata.items():
            doc.setdefault(k, v)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> Self:
        lin = load_linear_model(path)
        params = lin.metadata.get("params", {})
        model = cls(
            c=float(params.get("C", 1.0)),
            class_weight=params.get("class_weight", "balanced"),
            max_iter=int(params.get("max_iter", 500)),
            flow=lin.flow,
        )
        model.linear = lin
        skip = {"format", "linear", "unfolded", "classes", "feature_names", "feature_config"}
        model.metadata = {k: v for k, v in lin.metadata.items() if k not in skip}
        return model
