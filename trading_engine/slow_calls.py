"""The strategy's calls that took longer than `ExecConfig.max_strategy_call_ms`: counted, the
slowest kept, and warned about at most once a minute of real time. Nothing is decided on them
(see `ExecConfig.max_strategy_call_ms`). The ExecManager times each call itself (two reads of
its timer) and hands over only those over the budget."""

import logging
from collections.abc import Callable
from decimal import Decimal

from trading_engine.main_trading_strategy import TradingStrategy, item_text

# The ExecManager's logger: these lines were its own, and logging set-ups name it.
log = logging.getLogger("trading_engine.exec_manager")

SLOW_CALL_WARNING_NS = 60 * 10**9  # a slow strategy call is warned about at most this often


class SlowCalls:
    """The strategy's calls over budget so far (real time: kept out of `ExecCounters`, which a
    backtest reports as its results)."""

    def __init__(
        self, *, strategy: TradingStrategy, budget_ms: Decimal, timer: Callable[[], int]
    ) -> None:
        """`timer`: the manager's (ns, monotonic, real)."""
        self._strategy = strategy
        self._budget_ms = budget_ms
        self._timer = timer
        self._next_warning: int | None = None  # timer ns
        self.count = 0
        self.slowest_ms = 0.0

    def note(self, callback: str, item: object, took_ns: int) -> None:
        """A call of `callback` on `item` took `took_ns`, over the budget: counted, the slowest
        kept, and a WARNING at most every SLOW_CALL_WARNING_NS of real time (with what was
        counted since)."""
        ms = took_ns / 1_000_000
        self.count += 1
        if ms > self.slowest_ms:
            self.slowest_ms = ms
        now = self._timer()
        if self._next_warning is not None and now < self._next_warning:
            return
        self._next_warning = now + SLOW_CALL_WARNING_NS
        log.warning(
            "strategy %s: %s(%s) took %.0f ms, over strategy.max_call_ms = %g: market data, "
            "the user stream and protection waited that long; %d call(s) over it so far "
            "(slowest %.0f ms; said at most once a minute)",
            self._strategy.name,
            callback,
            item_text(item),
            ms,
            self._budget_ms,
            self.count,
            self.slowest_ms,
        )
