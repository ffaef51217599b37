"""What the exchange did on a UTC day before the one it reached us on (a fill late on the
stream or read back after a restart, an account update adopted after 00:00, funding of the
day before): the equity it moved, summed for the latest such day. The daily-loss limit's day
start takes it (`RiskManager`): the equity it saw before 00:00 lacked it. Kept apart from the
books' totals, which book the money itself."""

from decimal import Decimal
from typing import Any

DAY_MS = 86_400_000
ZERO = Decimal(0)


class CarriedIn:
    """The day's carried equity, when its valued parts reached us, and its steps."""

    __slots__ = ("_day", "_learnt_ms", "_steps", "_total")

    def __init__(self) -> None:
        self._day = -1  # UTC day (our clock) the sums below are of
        self._total = ZERO
        self._learnt_ms = 0  # the latest receive time of a valued move (a fill, an adoption)
        # (receive time, equity carried so far, wallet carried so far) of each move: what a
        # snapshot journaled at a time held of them (`since`)
        self._steps: list[tuple[int, Decimal, Decimal]] = []

    def total(self, now_ms: int) -> Decimal:
        """The equity (USDT) carried into the UTC day of `now_ms` (our clock)."""
        return self._total if now_ms // DAY_MS == self._day else ZERO

    def learnt_ms(self, now_ms: int) -> int | None:
        """When (ms, our clock) the last valued move of `total(now_ms)` reached us; None
        without one. Not funding: its amount is exact, a replay books what the running daemon
        did, so the day's last equity before 00:00 plus it is the day's start (from a snapshot
        journaled after a restart read it back, the day's loss while the daemon was down was
        forgiven at the next restart)."""
        if now_ms // DAY_MS != self._day or not self._learnt_ms:
            return None
        return self._learnt_ms

    def since(self, now_ms: int, since_ms: int) -> tuple[Decimal, Decimal]:
        """Of `total(now_ms)`, the part that reached us after `since_ms` (our clock: a balance
        snapshot's time, which does not hold it): (equity, wallet), USDT."""
        if now_ms // DAY_MS != self._day:
            return ZERO, ZERO
        before = [(v, w) for recv, v, w in self._steps if recv <= since_ms]
        value, wallet = before[-1] if before else (ZERO, ZERO)
        total_wallet = self._steps[-1][2] if self._steps else ZERO
        return self._total - value, total_wallet - wallet

    def add(self, moved: Decimal, recv_ms: int, *, wallet: Decimal, valued: bool) -> None:
        """Count `moved` (USDT of equity; `wallet` of it the wallet's), which reached us at
        `recv_ms`. `valued`: a move valued at a mark a replay does not have (a fill, an
        adoption), which `learnt_ms` tells; funding's is exact (False)."""
        day = recv_ms // DAY_MS
        if day > self._day:
            self._day, self._total, self._learnt_ms, self._steps = day, ZERO, 0, []
        if day == self._day:
            self._total += moved
            if valued:
                self._learnt_ms = max(self._learnt_ms, recv_ms)
            steps = self._steps
            carried_wallet = (steps[-1][2] if steps else ZERO) + wallet
            steps.append((recv_ms, self._total, carried_wallet))

    def to_state(self) -> dict[str, Any]:
        return {
            "carried_day": self._day,
            "carried": str(self._total),
            "carried_learnt_ms": self._learnt_ms,
            "carried_steps": [[t, str(v), str(w)] for t, v, w in self._steps],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """From `to_state`'s keys; absent from a checkpoint an older daemon wrote: none."""
        self._day = int(state.get("carried_day", -1))
        self._total = Decimal(state.get("carried", "0"))
        self._learnt_ms = int(state.get("carried_learnt_ms", 0))
        steps = state.get("carried_steps")
        if steps is None:  # an older checkpoint's: all of it learnt at its last fill's time
            carried = self._total  # (its wallet's part unknown: taken as the equity's)
            steps = [[self._learnt_ms, carried, carried]] if carried else []
        self._steps = [(int(t), Decimal(v), Decimal(w)) for t, v, w in steps]
