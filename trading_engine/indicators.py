"""Streaming indicators with O(1) updates, for strategies on bars or ticks.

Values are plain numbers (float, or int for exact sums), never Decimal: indicators are signal
code, not money. `Sma` keeps a running sum; fed integers (prices in ticks or fixed-point
units) the sum is exact forever, fed floats it is recomputed with `math.fsum` once per
`period` updates so rounding error cannot accumulate over a long session (amortised O(1)).
"""

import math
from collections import deque
from collections.abc import Sequence


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

    def load(self, values: Sequence[int]) -> None:
        """Take many integer values at once: the state `update` would leave after feeding
        them one by one (the last `period` values in the window, their exact sum). For a
        strategy that skips ahead over bars (`BarFastForward`); ints only, since a float sum
        would not be bit-identical to the running one."""
        window = self._window
        window.extend(values[-self.period :])
        self._sum = sum(window)
        self._since_exact += len(values)

    @property
    def values(self) -> tuple[float, ...]:
        """The values in the window, oldest first."""
        return tuple(self._window)

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


class Rsi:
    """Wilder's relative strength index in [0, 100], the TA-Lib convention: the first average
    gain / loss is the plain mean of the first `period` close-to-close changes (so the first
    value needs `period + 1` closes), then `avg = (avg * (period - 1) + x) / period`. A window
    without any change reads 50. `value` is None until then."""

    __slots__ = ("_avg_gain", "_avg_loss", "_count", "_prev", "period", "value")

    def __init__(self, period: int = 14) -> None:
        if period < 1:
            raise ValueError(f"RSI period must be >= 1, not {period}")
        self.period = period
        self.value: float | None = None
        self._prev: float | None = None
        self._avg_gain = 0.0
        self._avg_loss = 0.0
        self._count = 0  # changes seen, up to `period`

    def update(self, close: float) -> float | None:
        prev = self._prev
        self._prev = close
        if prev is None:
            return None
        d = close - prev
        gain = d if d > 0.0 else 0.0
        loss = -d if d < 0.0 else 0.0
        n = self.period
        if self._count < n:
            # Sum first, divide once at the end: the seed is the mean of the first n changes.
            self._avg_gain += gain
            self._avg_loss += loss
            self._count += 1
            if self._count < n:
                return None
            self._avg_gain /= n
            self._avg_loss /= n
        else:
            self._avg_gain = (self._avg_gain * (n - 1) + gain) / n
            self._avg_loss = (self._avg_loss * (n - 1) + loss) / n
        total = self._avg_gain + self._avg_loss
        self.value = 100.0 * self._avg_gain / total if total > 0.0 else 50.0
        return self.value

    @property
    def ready(self) -> bool:
        return self.value is not None


class Macd:
    """MACD line (EMA(fast) - EMA(slow)), its signal line (EMA(signal) of the MACD line) and the
    histogram (line - signal), the TA-Lib convention: both EMAs start at the `slow`-th value,
    the fast one seeded with the mean of the last `fast` values there, the slow one with the
    mean of all `slow`; the signal line is seeded with the mean of its first `signal` MACD
    values, so the first complete triple needs `slow + signal - 1` values. Attributes are None
    until known."""

    __slots__ = (
        "_count",
        "_fast",
        "_seed",
        "_signal",
        "_slow",
        "fast",
        "histogram",
        "line",
        "signal",
        "signal_line",
        "slow",
    )

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        if not 1 <= fast < slow or signal < 1:
            raise ValueError(
                f"MACD needs 1 <= fast < slow and signal >= 1, not {fast}/{slow}/{signal}"
            )
        self.fast, self.slow, self.signal = fast, slow, signal
        self._fast = Ema(fast)
        self._slow = Ema(slow)
        self._signal = Ema(signal)
        self._seed: deque[float] = deque(maxlen=slow)
        self._count = 0
        self.line: float | None = None
        self.signal_line: float | None = None
        self.histogram: float | None = None

    def update(self, x: float) -> float | None:
        """Add one value; return the histogram (None until the signal line exists)."""
        if self._count < self.slow:
            self._seed.append(x)
            self._count += 1
            if self._count < self.slow:
                return None
            seed = list(self._seed)
            self._seed.clear()
            for v in seed[self.slow - self.fast :]:
                self._fast.update(v)
            for v in seed:
                self._slow.update(v)
            fast, slow = self._fast.value, self._slow.value
        else:
            fast, slow = self._fast.update(x), self._slow.update(x)
        assert fast is not None and slow is not None
        self.line = line = fast - slow
        signal = self._signal.update(line)
        if signal is None:
            return None
        self.signal_line = signal
        self.histogram = line - signal
        return self.histogram

    @property
    def ready(self) -> bool:
        return self.histogram is not None
