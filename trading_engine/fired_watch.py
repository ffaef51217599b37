"""Overdue answers of fired stops: a protective order the price has crossed fires at the
exchange and its fill comes over the user stream within a second or so. With no answer
FIRED_ANSWER_WAIT_MS after the crossing (our clock), the stream may be silent: the venue is
asked to reconcile now, not at its next periodic pass (60 s), while the symbol's target waits
and the books show a position already closing. The ExecManager notes a crossing when it works
a target (`await_answer`) and looks at `due_ms` on every item (`ask_overdue` when it has come)."""

import logging
from collections.abc import Callable
from typing import Protocol

from core.orders import Order
from trading_engine.exec_desk import Books
from trading_engine.protection import PROTECTION_NAMES

# The ExecManager's logger: these lines were its own, and logging set-ups name it.
log = logging.getLogger("trading_engine.exec_manager")

FIRED_ANSWER_WAIT_MS = 5_000


class _Counters(Protocol):
    overdue_fires: int


class FiredWatch:
    """Protective orders crossed by the price, waiting for their answer."""

    def __init__(
        self,
        *,
        book: Books,
        counters: _Counters,
        reconcile_soon: Callable[[str], None],
        stopped: Callable[[], bool],
    ) -> None:
        """`reconcile_soon`: the venue's (why); `stopped`: after `stop_trading`, nothing is
        asked."""
        self._book = book
        self._counters = counters
        self._reconcile_soon = reconcile_soon
        self._stopped = stopped
        # protective orders the price crossed, with no answer yet -> when first seen (ms), or
        # None once the venue was asked to reconcile for them
        self.seen: dict[str, int | None] = {}
        self.due_ms: int | None = None  # the earliest of them to ask about

    def await_answer(self, cid: str, now: int) -> None:
        """A protective order the price crossed: its answer is expected within
        FIRED_ANSWER_WAIT_MS."""
        self.seen[cid] = now
        due = now + FIRED_ANSWER_WAIT_MS
        if self.due_ms is None or due < self.due_ms:
            self.due_ms = due

    def ask_overdue(self, now: int) -> None:
        """Protective orders still open FIRED_ANSWER_WAIT_MS after the price crossed them: a
        WARNING naming them, and one early reconciliation (once per order: after it, the
        periodic passes go on as usual). Orders that ended meanwhile are forgotten."""
        orders = self._book.orders
        overdue: list[Order] = []
        due: int | None = None
        for cid, seen in list(self.seen.items()):
            order = orders.get(cid)
            if order is None:
                del self.seen[cid]  # answered: filled, expired or cancelled
            elif seen is not None:
                if now - seen >= FIRED_ANSWER_WAIT_MS:
                    overdue.append(order)
                    self.seen[cid] = None
                elif due is None or seen + FIRED_ANSWER_WAIT_MS < due:
                    due = seen + FIRED_ANSWER_WAIT_MS
        self.due_ms = due
        if not overdue or self._stopped():
            return
        said = "; ".join(
            f"{PROTECTION_NAMES.get(o.type, o.type.value)} {o.client_order_id} ({o.side.value} "
            f"{o.symbol}, stop {o.stop_price}, last price {self._book.last_price(o.symbol)})"
            for o in overdue
        )
        self._counters.overdue_fires += len(overdue)
        log.warning(
            "no fill nor end has come %.0f s after the price crossed %s: the user stream may "
            "be silent; reconciling with the exchange now",
            FIRED_ANSWER_WAIT_MS / 1000,
            said,
        )
        self._reconcile_soon(f"overdue answer: {said}")
