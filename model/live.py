"""The live side of a saved linear model: plain JSON in, a dot product and a softmax out.

Pure Python (no numpy, no scikit-learn): the daemon loads a model file with `load_linear_model`
and calls `LinearModel.predict_proba(row)` once per closed bar. The file is data only (JSON),
never a pickle: opening a model file cannot run code. Loading checks that the file's feature
names and feature-code hash match `model.features` as it is now, and refuses the model with a
clear message when they do not (the model would otherwise see inputs it was not trained on).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import exp
from operator import mul
from pathlib import Path
from typing import Any

from model import features

ARTIFACT_FORMAT = "linear-softmax/1"


class ModelMismatchError(ValueError):
    """The model file does not fit this code (features changed, unknown format, bad shape)."""


@dataclass(frozen=True, slots=True)
class LinearModel:
    """Softmax over `coef @ x + intercept`, the input scaler already folded into `coef` and
    `intercept`, so a raw feature row goes in as it comes out of `FeatureState.update`."""

    classes: tuple[int, ...]
    feature_names: tuple[str, ...]
    coef: tuple[tuple[float, ...], ...]  # one row per class, one column per feature
    intercept: tuple[float, ...]
    flow: bool = False  # the flow features were on in training (FeatureState(flow=...))
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def predict_proba(self, row: Sequence[float]) -> list[float]:
        """Class probabilities (in `classes` order) for one feature row."""
        if len(row) != len(self.feature_names):
            raise ValueError(
                f"feature row has {len(row)} values, model wants {len(self.feature_names)}"
            )
        logits = [b + sum(map(mul, ws, row)) for ws, b in zip(self.coef, self.intercept)]  # noqa: B905
        top = max(logits)
        exps = [exp(z - top) for z in logits]
        total = sum(exps)
        return [e / total for e in exps]


def check_features(meta: Mapping[str, Any], *, source: str) -> None:
    """Refuse a model whose feature names or feature-code hash differ from this code."""
    names = tuple(meta.get("feature_names", ()))
    if names != features.FEATURE_NAMES:
        raise ModelMismatchError(
            f"{source}: model features {list(names)} differ from the code's "
            f"{list(features.FEATURE_NAMES)}; retrain the model with this version"
        )
    have, want = meta.get("feature_hash"), features.feature_code_hash()
    if have != want:
        raise ModelMismatchError(
            f"{source}: model was trained with feature code {str(have)[:12]}, this code is "
            f"{want[:12]} (model/features.py changed); retrain the model with this version"
        )


def load_linear_model(path: str | Path) -> LinearModel:
    """Read a model file written by `model.logreg_model.LogRegModel.save`, or a model
    registry directory's promoted version (`model.registry`)."""
    from model.registry import RegistryError, resolve_model_path

    try:
        p = resolve_model_path(path)
    except RegistryError as e:
        raise ModelMismatchError(str(e)) from e
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ModelMismatchError(f"{p}: cannot read model file ({e.strerror})") from e
    except ValueError as e:
        raise ModelMismatchError(f"{p}: not a JSON model file ({e})") from e
    if not isinstance(doc, dict) or doc.get("format") != ARTIFACT_FORMAT:
        fmt = doc.get("format") if isinstance(doc, dict) else None
        raise ModelMismatchError(f"{p}: unknown model format {fmt!r}, expected {ARTIFACT_FORMAT}")
    check_features(doc, source=str(p))
    lin = doc["linear"]
    coef = tuple(tuple(float(w) for w in ws) for ws in lin["coef"])
    intercept = tuple(float(b) for b in lin["intercept"])
    classes = tuple(int(k) for k in doc["classes"])
    n = len(features.FEATURE_NAMES)
    if (
        len(coef) != len(classes)
        or len(intercept) != len(classes)
        or any(len(ws) != n for ws in coef)
    ):
        raise ModelMismatchError(f"{p}: coefficient shape does not match classes x features")
    return LinearModel(
        classes=classes,
        feature_names=tuple(doc["feature_names"]),
        coef=coef,
        intercept=intercept,
        flow=bool(doc.get("feature_config", {}).get("flow", False)),
        metadata=doc,
    )
