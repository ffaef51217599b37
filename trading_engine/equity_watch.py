"""The portfolio limits' equity check (step 3 of the ExecManager's pipeline): the books' equity
net of transfers handed to `RiskManager.on_equity` at least every `ExecConfig.equity_check_ms`
and at once when it moved by `equity_change_pct`, a new drawdown peak journaled as it rises.
The ExecManager reads `next_ms` on every item and calls `moved` / `check` only when due; a
venue event that changes the money (a fill's position, a balance, funding, a margin call) sets
`next_ms` to 0: checked at the next item."""

from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from core.events import TradingStateChanged
from trading_engine.exec_desk import Books, Risk


class _Settings(Protocol):
    """What the check reads of `ExecConfig` (ms, percent)."""

    @property
    def equity_check_ms(self) -> int: ...
    @property
    def equity_change_pct(self) -> Decimal: ...


class EquityWatch:
    """When equity is next checked, what it was at the last check, and the drawdown peak as
    last journaled."""

    def __init__(
        self,
        *,
        book: Books,
        risk: Risk,
        config: _Settings,
        state_changed: Callable[[TradingStateChanged, int], None],
        journal_peak: Callable[[], None] | None,
    ) -> None:
        """`state_changed`: the manager's, for a limit the check trips; `journal_peak`: see
        `ExecManager.__init__` (None: peaks not journaled)."""
        self._book = book
        self._risk = risk
        self._config = config
        self._state_changed = state_changed
        self._journal_peak = journal_peak
        self.next_ms = 0  # clock ms: checked at the first item at or after it
        self.last: Decimal | None = None  # equity at the last check (with transfers), USDT
        # The drawdown peak as last journaled (restored from the journal at start).
        self.peak_journaled = risk.peak_equity if journal_peak is not None else None

    def moved(self) -> bool:
        """Equity moved by `equity_change_pct` or more since the last check (or none yet)."""
        last = self.last
        if last is None:
            return True
        change_pct = self._config.equity_change_pct
        return abs(self._book.equity() - last) * 100 >= change_pct * abs(last)

    def check(self, now: int) -> None:
        """Hand the equity to the RiskManager's portfolio limits; the next check is due
        `equity_check_ms` later."""
        book = self._book
        equity = book.equity()
        self.last = equity
        self.next_ms = now + self._config.equity_check_ms
        # The portfolio limits see what trading made of the account: a withdrawal is no loss
        # (no drawdown, no daily loss) and a deposit no gain to draw down from.
        net = equity - book.transfers
        changed = self._risk.on_equity(net, book.pnl_today(now))
        if self._journal_peak is not None and self._risk.peak_equity == net:
            self._peak_rose(net)
        if changed is not None:
            self._state_changed(changed, now)

    def peak_reset(self) -> None:
        """An operator's reset re-armed the peak from the equity now; its caller journals that
        (the daemon's balance snapshot at --reset-halt), and higher ones are journaled from
        it."""
        self.peak_journaled = self._risk.peak_equity

    def _peak_rose(self, peak: Decimal) -> None:
        """The drawdown peak is this check's equity: journaled when above the last journaled
        one. At most once per equity check (at least once a second, or at a mark price that
        moved equity by `equity_change_pct`), and only at a new high: a balance snapshot a
        second during a rally, none otherwise; the heartbeat's snapshots alone missed every
        peak between two of them."""
        last = self.peak_journaled
        if last is None or peak > last:
            assert self._journal_peak is not None
            self._journal_peak()
            self.peak_journaled = peak
