"""The interface of a trainable model: fit, predict_proba, save, load, metadata.

Training code (model.train) works through this interface; the live daemon never does (it
reads the plain-JSON file through `model.live`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    import numpy as np


class BaseModel(ABC):
    """A classifier over feature rows with classes SELL/HOLD/BUY (-1/0/1)."""

    name: str = "base"

    def __init__(self) -> None:
        self.metadata: dict[str, Any] = {}

    @abstractmethod
    def fit(self, x: np.ndarray, y: np.ndarray) -> Self:
        """Fit on rows `x` (n x features) and labels `y` (n); returns self."""

    @abstractmethod
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, n x classes, columns in `classes` order."""

    @property
    @abstractmethod
    def classes(self) -> tuple[int, ...]: ...

    @abstractmethod
    def save(self, path: str | Path) -> Path:
        """Write the model as plain data (never a pickle) with `metadata`; return the path."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> Self:
        """Read a saved model; refuse it when its features do not match this code."""
