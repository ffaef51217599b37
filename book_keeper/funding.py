"""The funding settlements the books have booked, so that each is booked once (times in ms).

A settlement comes two ways: a `FundingPaid` (the income history, by symbol and settlement
time; read again after a restart, or by two passes racing) and a FUNDING_FEE balance update
(the new wallet and its change `bc`, no symbol). `FundingSettlements` remembers the first by
(symbol, settlement time), those of FUNDING_PAID_WINDOW_MS up to the newest (an older one
counts as booked), and the times and amounts of both, so that a settlement booked one way
(within FUNDING_MATCH_MS of its time, of the same amount) is not booked again the other. The
amount tells apart the symbols settled at one time (an update each, and no symbol in it); an
update without its amount (no `bc`) matches any record of its time, as before `bc` was read.
An update delivered twice (a replayed message, a reconnecting stream: the same event time,
`bc` and wallet) is one settlement: `repeated_update` tells it; a second symbol's update of
that settlement has a wallet of its own (each update's wallet holds the ones before).
"""

import logging
from collections import deque
from decimal import Decimal
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

    __slots__ = ("_from_balance", "_paid_amounts", "_updates", "newest_ms", "paid")

    def __init__(self) -> None:
        # FundingPaid booked, by (symbol, settlement time): those of FUNDING_PAID_WINDOW_MS up
        # to the newest (`newest_ms`).
        self.paid: set[tuple[str, int]] = set()
        self.newest_ms = 0
        # (time, amount) of the settlements booked from a balance update (amount None: its
        # wallet difference, no `bc`) and of the FundingPaid booked, each to be matched once
        self._from_balance: deque[tuple[int, Decimal | None]] = deque(maxlen=_BALANCE_SETTLEMENTS)
        self._paid_amounts: deque[tuple[int, Decimal | None]] = deque(maxlen=_BALANCE_SETTLEMENTS)
        # (event time, bc, wallet) of the FUNDING_FEE updates with a `bc` seen, booked or not
        self._updates: deque[tuple[int, Decimal, Decimal]] = deque(maxlen=_BALANCE_SETTLEMENTS)

    def repeated_update(self, time_ms: int, amount: Decimal, wallet: Decimal) -> bool:
        """True if a FUNDING_FEE update of this event time, `bc` (`amount`) and wallet (USDT)
        was seen already: this one is its duplicate, nothing to book. Else it is remembered."""
        key = (time_ms, amount, wallet)
        if key in self._updates:
            return True
        self._updates.append(key)
        return False

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

    def note_balance(self, time_ms: int, amount: Decimal | None = None) -> None:
        """A FUNDING_FEE balance update at `time_ms` booked a settlement of `amount` (USDT;
        None: its wallet difference, which may hold more than the settlement)."""
        self._from_balance.append((time_ms, amount))

    def note_paid(self, time_ms: int, amount: Decimal) -> None:
        """A `FundingPaid` of `amount` (USDT) at `time_ms` was booked."""
        self._paid_amounts.append((time_ms, amount))

    def from_balance(self, time_ms: int, amount: Decimal) -> bool:
        """True if a FUNDING_FEE balance update near `time_ms` booked this settlement (of
        `amount`) already; that update is matched then, by no other record. The income
        record's time and the update's need not be equal: settlements are an hour or more
        apart, so one within FUNDING_MATCH_MS is the same settlement; of several symbols
        settled then, the one of the same amount."""
        return _match(self._from_balance, time_ms, amount)

    def paid_near(self, time_ms: int, amount: Decimal) -> bool:
        """True if a `FundingPaid` of `amount` within FUNDING_MATCH_MS of `time_ms` was booked
        (then matched, by no other update): a FUNDING_FEE balance update of that settlement
        that comes after it books nothing more."""
        return _match(self._paid_amounts, time_ms, amount)

    def to_state(self) -> dict[str, Any]:
        """The checkpoint's part (plain JSON values)."""
        return {
            "funding_times": [_pair(t, a) for t, a in self._from_balance],
            "funding_paid": sorted([s, t] for s, t in self.paid),
            "funding_paid_amounts": [_pair(t, a) for t, a in self._paid_amounts],
            "funding_updates": [[t, str(a), str(w)] for t, a, w in self._updates],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Take what `to_state` gave (the keys of a larger state are ignored)."""
        # A checkpoint of an earlier version holds times alone: they match any amount, as then
        self._from_balance = deque(
            (_unpair(x) for x in state["funding_times"]), maxlen=_BALANCE_SETTLEMENTS
        )
        # A checkpoint written before the window was kept holds every settlement ever booked.
        paid = {(str(s), int(t)) for s, t in state["funding_paid"]}
        self.newest_ms = max((t for _, t in paid), default=0)
        self.paid = recent_settlements(paid, FUNDING_PAID_WINDOW_MS)
        amounts = state.get("funding_paid_amounts")
        if amounts is None:  # an earlier version's: the settlements' times, any amount
            amounts = sorted(t for _, t in self.paid)[-_BALANCE_SETTLEMENTS:]
        self._paid_amounts = deque((_unpair(x) for x in amounts), maxlen=_BALANCE_SETTLEMENTS)
        # absent from an earlier version's checkpoint: no update seen (its duplicate books again)
        self._updates = deque(
            ((int(t), Decimal(a), Decimal(w)) for t, a, w in state.get("funding_updates", ())),
            maxlen=_BALANCE_SETTLEMENTS,
        )


def _match(booked: deque[tuple[int, Decimal | None]], time_ms: int, amount: Decimal) -> bool:
    """Take out of `booked` the first (time, amount) of the settlement at `time_ms` of
    `amount` (an amount None: of any); whether there was one."""
    for i, (t, a) in enumerate(booked):
        if abs(t - time_ms) <= FUNDING_MATCH_MS and (a is None or a == amount):
            del booked[i]
            return True
    return False


def _pair(time_ms: int, amount: Decimal | None) -> list[Any]:
    return [time_ms, None if amount is None else str(amount)]


def _unpair(item: Any) -> tuple[int, Decimal | None]:
    """A checkpoint's [time, amount] (an earlier version's: the time alone)."""
    if isinstance(item, list):
        return int(item[0]), None if item[1] is None else Decimal(item[1])
    return int(item), None
