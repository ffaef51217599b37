"""The live side of a saved linear model: plain JSON in, a dot product and a softmax out.

Pure Python (no numpy, no scikit-learn): the daemon loads a model file with `load_linear_model`
and calls `LinearModel.predict_proba(row)` once per closed bar. The file is data only (JSON),
never a pickle: opening a model file cannot run code. Loading checks that the file's feature
names and feature-code hash match `model.features` as it is now, and refuses the model with a
clear message when they do not (the model would otherwise see inputs it was not trained on).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from math import exp
from operator import mul
from pathlib import Path
from typing import Any

from model import features

log = logging.getLogger(__name__)

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
    # Where it was read from and the sha256 of the file's bytes ("" for a model built in
    # memory): what a backtest report and the daemon's log name as the model used.
    source: str = field(default="", compare=False)
    sha256: str = field(default="", compare=False)

    def identity(self) -> str:
        """'FILE (sha256 0123456789ab)', or 'a model built in memory'."""
        if not self.source:
            return "a model built in memory"
        return f"{self.source} (sha256 {self.sha256[:12]})"

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
    raw = meta.get("feature_names", ())
    names = tuple(raw) if isinstance(raw, list | tuple) else (raw,)
    if names != features.FEATURE_NAMES:
        code = features.FEATURE_NAMES
        missing = [n for n in code if n not in names]
        extra = [str(n) for n in names if n not in code]
        parts = [f"lacks {', '.join(missing)}"] if missing else []
        parts += [f"has {', '.join(extra)} (not in the code)"] if extra else []
        diff = "; ".join(parts) or "has the same names in another order"
        raise ModelMismatchError(
            f"{source}: model features differ from the code's {len(code)}: the model {diff}; "
            "retrain the model with this version"
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
    from model.registry import RegistryError, recorded_sha256, resolve_model_path

    try:
        p = resolve_model_path(path)
    except RegistryError as e:
        raise ModelMismatchError(str(e)) from e
    try:
        raw = p.read_bytes()
        doc = json.loads(raw.decode("utf-8"))
    except OSError as e:
        raise ModelMismatchError(f"{p}: cannot read model file ({e.strerror})") from e
    except ValueError as e:
        raise ModelMismatchError(f"{p}: not a JSON model file ({e})") from e
    if not isinstance(doc, dict) or "format" not in doc:  # another JSON (a summary.json)
        raise ModelMismatchError(
            f'{p} is not a model file (no "format": "{ARTIFACT_FORMAT}"; train one with '
            "python -m model.train)"
        )
    if doc["format"] != ARTIFACT_FORMAT:
        fmt = doc["format"]
        if isinstance(fmt, str) and fmt.startswith(ARTIFACT_FORMAT.split("/")[0] + "/"):
            # Another revision of this format: a file from an older or newer version of the
            # code, which says what to do about it, not only that it is unknown.
            raise ModelMismatchError(
                f"{p}: model format {fmt!r} is another version's (this code reads "
                f"{ARTIFACT_FORMAT}); retrain the model with this version (python -m "
                "model.train) or use it with the version that wrote it"
            )
        raise ModelMismatchError(f"{p}: unknown model format {fmt!r}, expected {ARTIFACT_FORMAT}")
    check_features(doc, source=str(p))
    model = _parse_model(doc, f"model file {p}")
    digest = hashlib.sha256(raw).hexdigest()
    added = recorded_sha256(p)
    if added is not None and added != digest:
        raise ModelMismatchError(
            f"{p}: this registry version's model file changed since it was added (sha256 "
            f"{added[:12]} then, {digest[:12]} now): a version is never edited; add the new "
            "file as a version of its own (python -m model.review --candidate FILE)"
        )
    return replace(model, source=str(p), sha256=digest)


def _parse_model(doc: dict[str, Any], source: str) -> LinearModel:
    """The model in a parsed file, every number checked: a hand-edited or truncated file says
    which field is wrong in one ValueError, never a KeyError or a NaN probability later."""
    lin = doc.get("linear")
    if not isinstance(lin, dict):
        raise ModelMismatchError(f'{source}: no "linear" object (the folded coefficients)')
    classes = _numbers(doc.get("classes"), "classes", source)
    if any(k != int(k) for k in classes) or len(set(classes)) != len(classes):
        raise ModelMismatchError(f"{source}: classes {doc.get('classes')} are not distinct ints")
    raw_coef = lin.get("coef")
    if not isinstance(raw_coef, list):
        raise ModelMismatchError(f"{source}: linear.coef is not a list of rows")
    coef = tuple(_numbers(ws, f"linear.coef[{i}]", source) for i, ws in enumerate(raw_coef))
    intercept = _numbers(lin.get("intercept"), "linear.intercept", source)
    unfolded = doc.get("unfolded", {})
    if not isinstance(unfolded, dict):
        raise ModelMismatchError(f"{source}: unfolded is not an object")
    for key in ("scaler_mean", "scaler_scale", "intercept"):
        if key in unfolded:
            _numbers(unfolded[key], f"unfolded.{key}", source)
    for i, ws in enumerate(unfolded.get("coef") or ()):
        _numbers(ws, f"unfolded.coef[{i}]", source)
    n = len(features.FEATURE_NAMES)
    if (
        len(coef) != len(classes)
        or len(intercept) != len(classes)
        or any(len(ws) != n for ws in coef)
    ):
        raise ModelMismatchError(f"{source}: coefficient shape does not match classes x features")
    config = doc.get("feature_config", {})
    if not isinstance(config, dict):
        raise ModelMismatchError(f"{source}: feature_config is not an object")
    flow = config.get("flow", False)
    if not isinstance(flow, bool):  # bool("false") is True: a quoted false turned flow on
        raise ModelMismatchError(f"{source}: feature_config.flow is {flow!r}, not true or false")
    return LinearModel(
        classes=tuple(int(k) for k in classes),
        feature_names=tuple(doc["feature_names"]),
        coef=coef,
        intercept=intercept,
        flow=flow,
        metadata=doc,
    )


def _numbers(value: object, name: str, source: str) -> tuple[float, ...]:
    """`value` as finite floats; ModelMismatchError naming the field otherwise (a NaN or an
    infinite weight would make every probability NaN, and the strategy silently flat)."""
    if not isinstance(value, list):
        raise ModelMismatchError(f"{source}: {name} is not a list of numbers: {value!r:.40}")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ModelMismatchError(f"{source}: {name}[{i}] is not a finite number: {v!r:.40}")
    return tuple(float(v) for v in value)


# --- the live feature log (live/batch parity) -----------------------------------------------

BAR_FIELDS = (
    "open_time_ms",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "taker_buy_volume",
    "trade_count",
)
FEATURE_LOG_COLUMNS = ("symbol", *BAR_FIELDS, *features.FEATURE_NAMES)


class FeatureLog:
    """`features.csv`: one line per closed bar a strategy took (warm-up bars included), with
    the bar as received (Decimal text) and the feature row computed live from it (`repr` of
    each float, which reads back to the same float; empty during warm-up).

    Called on the event loop with `(bar, row)`: that only puts the pair on a queue (about a
    microsecond); a daemon thread formats and appends the lines and flushes after each batch,
    so nothing is lost when the daemon stops with `close()`. The bars make the log
    self-contained: the batch features can be recomputed from exactly the bars the daemon saw.
    A restarted daemon appends its run (warm-up bars again) to the same file: a run starts
    where `open_time_ms` stops increasing.

    With `max_bytes` (> 0) the file is bounded: once it reaches that size it becomes
    `<name>.1` (replacing the one before) and a new file with a header starts, so the log
    takes at most about twice `max_bytes` however long the daemon runs.
    """

    def __init__(self, path: str | Path, max_bytes: int = 0) -> None:
        import queue
        import threading

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        if self._full(self.path.stat().st_size if self.path.exists() else 0):
            os.replace(self.path, self.rotated_path)
        self._fh = self._open()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="feature-log", daemon=True)
        self._thread.start()
        self.lines = 0

    @property
    def rotated_path(self) -> Path:
        return self.path.with_name(self.path.name + ".1")

    def _full(self, size: int) -> bool:
        return self.max_bytes > 0 and size >= self.max_bytes

    def _open(self) -> Any:
        """Append to the log; a new (or empty) file starts with the header."""
        new = not self.path.exists() or self.path.stat().st_size == 0
        fh = self.path.open("a", encoding="utf-8", newline="")
        if new:
            fh.write(",".join(FEATURE_LOG_COLUMNS) + "\n")
            fh.flush()
        return fh

    def _rotate(self) -> None:
        """Writer thread: the full file becomes `<name>.1`, a new one starts."""
        self._fh.close()
        os.replace(self.path, self.rotated_path)
        self._fh = self._open()

    def __call__(self, bar: Any, row: Sequence[float] | None) -> None:
        self._queue.put((bar, row))

    def _run(self) -> None:
        q = self._queue
        while True:
            fh = self._fh
            item = q.get()
            batch = [item]
            while not q.empty():
                batch.append(q.get())
            stop = False
            for entry in batch:
                if entry is None:
                    stop = True
                    continue
                bar, row = entry
                fields = [
                    bar.symbol,
                    str(bar.open_time_ms),
                    str(bar.open),
                    str(bar.high),
                    str(bar.low),
                    str(bar.close),
                    str(bar.volume),
                    str(bar.taker_buy_volume),
                    str(bar.trade_count),
                ]
                if row is None:
                    fields.extend([""] * len(features.FEATURE_NAMES))
                else:
                    fields.extend(repr(float(v)) for v in row)
                fh.write(",".join(fields) + "\n")
                self.lines += 1
            fh.flush()
            if stop:
                return
            if self._full(fh.tell()):
                try:
                    self._rotate()
                except OSError as exc:  # never lose the log for its bound: keep appending
                    log.warning("features log not rotated: %s", exc)
                    self.max_bytes = 0
                    if self._fh.closed:
                        self._fh = self.path.open("a", encoding="utf-8", newline="")

    def close(self, timeout_s: float = 2.0) -> None:
        """Write what is queued, then close the file."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout_s)
        self._fh.close()


def read_feature_log(path: str | Path) -> Any:
    """A feature log as a pandas DataFrame (imported here, never on the daemon's path): the
    bar columns as floats (`open_time_ms`, `trade_count` as ints) and the feature columns as
    floats (NaN during warm-up)."""
    import pandas as pd

    df = pd.read_csv(path, dtype={"symbol": str})
    return df.astype({"open_time_ms": "int64", "trade_count": "int64"})
