"""The funding settlements the books have booked, so that each is booked once (times in ms).

A settlement comes two ways: a `FundingPaid` (the income history, by symbol and settlement
time; read again after a restart, or by two passes racing) and a FUNDING_FEE balance update
(the new wallet and its change `bc`, no symbol). `FundingSettlements` remembers the first by
(symbol, settlement time), those of FUNDING_PAID_WINDOW_MS up to the newest (an older one
counts as booked), and the times of the second, so that a settlement booked one way (within
FUNDING_MATCH_MS of its time) is not booked again the other.
"""

import logging
from collections import deque
from typing import Any

# The books' logger: these lines were its own, and logging set-ups name it.
log = logging.getLogger("book_keeper.book_keeper")

DAY_MS = 86_400_000
# A FundingPaid (income record) and a FUNDING_FEE balance update this close are one settlement
# (Binance settles at most hourly; the reference gives ~1 minute of tolerance at settlement).
FUNDING_MATCH_MS = 60_000
# FundingPaid booked are remembered by (symbol, settlement time) this far back from the newest
# settlement booked; an older one counts as booked. The venue reads the income history from
# an hour before the newest settlement it saw (after a restart: before the journal's latest
# time; `gateway.venue_sync.FUNDING_OVERLAP_MS`), so a resend is of the newest settlements;
# 7 days (Binance's income window without times) is a wide margin, and bounds the set (and
# every checkpoint) to ~170 settlements per hourly symbol.
FUNDING_PAID_WINDOW_MS = 7 * DAY_MS
# FUNDING_FEE balance updates remembered (settlements are an hour or more apart).
_BALANCE_SETTLEMENTS = 64


def recent_settlements(paid: set[tuple[str, int]], window_ms: int) -> set[tuple[str, int]]:
    """The (symbol, settlement time) of `paid` at most `window_ms` older than the newest: the
    ones a resend of the income history can still carry."""
    if not paid:
        return paid
    horizon = max(t for _, t in paid) - window_ms
    return {key for key in paid if key[1] >= horizon}


class FundingSettlements:
    """The settlements booked (see the module docstring)."""

    __slots__ = ("_from_balance", "newest_ms", "paid")

    def __init__(self) -> None:
        # FundingPaid booked, by (symbol, settlement time): those of FUNDING_PAID_WINDOW_MS up
        # to the newest (`newest_ms`).
        self.paid: set[tuple[str, int]] = set()
        self.newest_ms = 0
        self._from_balance: deque[int] = deque(maxlen=_BALANCE_SETTLEMENTS)

    def take(self, symbol: str, time_ms: int) -> bool:
        """Whether the `FundingPaid` of `symbol` at `time_ms` is still to book: then it is
        remembered as booked. Not when it was booked already, or is older than the window
        (taken as booked, with a warning)."""
        key = (symbol, time_ms)
        if key in self.paid:
            log.debug("books: funding %s at %s already booked", *key)
            return False
        if time_ms < self.newest_ms - FUNDING_PAID_WINDOW_MS:
            log.warning(
                "books: funding %s at %s is older than %d days before the newest settlement "
                "booked (%s): taken as booked already, not booked again",
                symbol,
                time_ms,
                FUNDING_PAID_WINDOW_MS // DAY_MS,
                self.newest_ms,
            )
            return False
        self._remember(key)
        return True

    def _remember(self, key: tuple[str, int]) -> None:
        """Remember a settlement booked; one that is the newest forgets those out of the window
        (settlements are an hour or more apart: this runs at most a few times an hour)."""
        self.paid.add(key)
        if key[1] > self.newest_ms:
            self.newest_ms = key[1]
            self.paid = recent_settlements(self.paid, FUNDING_PAID_WINDOW_MS)

    def note_balance(self, time_ms: int) -> None:
        """A FUNDING_FEE balance update at `time_ms` booked a settlement."""
        self._from_balance.append(time_ms)

    def from_balance(self, time_ms: int) -> bool:
        """True if a FUNDING_FEE balance update near `time_ms` booked this settlement already.
        The income record's time and the update's need not be equal: settlements are an hour
        or more apart, so one within FUNDING_MATCH_MS is the same settlement."""
        return any(abs(t - time_ms) <= FUNDING_MATCH_MS for t in self._from_balance)

    def paid_near(self, time_ms: int) -> bool:
        """True if a `FundingPaid` within FUNDING_MATCH_MS of `time_ms` was booked: a FUNDING_FEE
        balance update of that settlement that comes after it books nothing more."""
        return any(abs(t - time_ms) <= FUNDING_MATCH_MS for _, t in self.paid)

    def to_state(self) -> dict[str, Any]:
        """The checkpoint's part (plain JSON values)."""
        return {
            "funding_times": list(self._from_balance),
            "funding_paid": sorted([s, t] for s, t in self.paid),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Take what `to_state` gave (the keys of a larger state are ignored)."""
        self._from_balance = deque(state["funding_times"], maxlen=_BALANCE_SETTLEMENTS)
        # A checkpoint written before the window was kept holds every settlement ever booked.
        paid = {(str(s), int(t)) for s, t in state["funding_paid"]}
        self.newest_ms = max((t for _, t in paid), default=0)
        self.paid = recent_settlements(paid, FUNDING_PAID_WINDOW_MS)
