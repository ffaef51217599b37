"""Streaming indicators with O(1) updates, for strategies on bars or ticks.

Values are plain numbers (float, or int for exact sums), never Decimal: indicators are signal
code, not money. `Sma` keeps a running sum; fed integers (prices in ticks or fixed-point
units) the sum is exact forever, fed floats it is recomputed with `math.fsum` once per
`period` updates so rounding error cannot accumulate over a long session (amortised O(1)).
"""

import math
from collections import deque


class Sma:
    """Simple moving average of the last `period` values; `value` is None until full."""

    __slots__ = ("_since_exact", "_sum", "_window", "period")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"SMA period must be >= 1, not {period}")
        self.period = period
        self._window: deque[float] = deque(maxlen=period)
        self._sum: float = 0
        self._since_exact = 0

    def update(self, x: float) -> float | None:
        """Add one value; return the new average (None while fewer than `period` values)."""
        window = self._window
        if len(window) == self.period:
            self._sum += x - window[0]
        else:
            self._sum += x
        window.append(x)
        self._since_exact += 1
        if self._since_exact >= self.period and type(self._sum) is not int:
            self._sum = math.fsum(window)
            self._since_exact = 0
        return self.value

    @property
    def ready(self) -> bool:
        return len(self._window) == self.period

    @property
    def sum(self) -> float:
        """Sum of the values in the window (exact when every value was an int)."""
        return self._sum

    @property
    def value(self) -> float | None:
        if len(self._window) < self.period:
            return None
        return self._sum / self.period

    def __len__(self) -> int:
        return len(self._window)


class Ema:
    """Exponential moving average, alpha = 2 / (period + 1), seeded with the SMA of the first
    `period` values (the TA-Lib convention); `value` is None until seeded."""

    __slots__ = ("_count", "_seed", "alpha", "period", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"EMA period must be >= 1, not {period}")
        self.period = period
        self.alpha = 2.0 / (period + 1)
        self.value: float | None = None
        self._count = 0
        self._seed: list[float] = []

    def update(self, x: float) -> float | None:
        value = self.value
        if value is not None:
            value += self.alpha * (x - value)
            self.value = value
            return value
        self._seed.append(x)
        self._count += 1
        if self._count == self.period:
            self.value = math.fsum(self._seed) / self.period
            self._seed = []
        return self.value

    @property
    def ready(self) -> bool:
        return self.value is not None
