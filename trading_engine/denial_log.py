"""The log lines of the risk denials of the ExecManager's orders: a journaled denial is silent
in the log otherwise, and a daemon whose every entry is denied (its market data seconds behind,
a clock resync) would go on saying ACTIVE without a word about why it stopped trading. Said once
per kind of reason and symbol, at WARNING once it has lasted, and again after an entry passes."""

import logging
import re
from dataclasses import dataclass
from decimal import Decimal

from core.events import RiskDenied

# The ExecManager's logger: these lines were its own, and logging set-ups name it.
log = logging.getLogger("trading_engine.exec_manager")

# A risk denial's reason with its numbers (a notional, a lag, a count) as "#": denials of one
# kind are logged once (`DenialLog.denied`), whatever the figures of each.
_REASON_NUMBERS = re.compile(r"\d[\d.,]*")
DENIAL_WARN_MS = 30_000  # denials of one kind lasting this long (no entry passing): a WARNING


@dataclass(slots=True)
class _DenialLogged:
    """The kind of reason a symbol's orders were last denied for, since when, and whether the
    WARNING for its lasting was given."""

    kind: str
    since_ms: int
    warned: bool = False


class DenialLog:
    """Which symbols have a denial logged, of what kind; `logged` is read by the ExecManager
    (empty: no call on an approved order's way)."""

    def __init__(self) -> None:
        self.logged: dict[str, _DenialLogged] = {}  # symbol -> the last denial logged

    def denied(self, denied: RiskDenied, now: int, asked: Decimal | None = None) -> None:
        """The first denial of a symbol's orders for a kind of reason (its numbers aside: a
        notional, a lag) is said at INFO, and at WARNING once such denials have lasted
        DENIAL_WARN_MS with no entry passing: the operator reads why the daemon is not trading,
        without a WARNING for the short waits every start has (its backfill's gap). `asked`:
        the quantity the strategy's target asked for, when the denied order is a part of it
        (at most maxQty an order): the line named only the part."""
        req = denied.request
        kind = _REASON_NUMBERS.sub("#", denied.reason)
        logged = self.logged.get(req.symbol)
        if logged is None or logged.kind != kind:
            self.logged[req.symbol] = _DenialLogged(kind=kind, since_ms=now)
            level, lead = logging.INFO, "denied"
        elif not logged.warned and now - logged.since_ms >= DENIAL_WARN_MS:
            logged.warned = True
            level, lead = logging.WARNING, f"denied for {(now - logged.since_ms) // 1000} s"
        else:
            return
        log.log(
            level,
            "%s: %s %s %s%s %s: %s; denied again for this reason: journaled, not logged, "
            "until an entry passes",
            req.symbol,
            req.side.value,
            req.quantity,
            req.type.value,
            "" if asked is None or req.quantity is None else part_of(asked, req.quantity),
            lead,
            denied.reason,
        )

    def entry_passed(self, symbol: str) -> None:
        """An entry (not a reduce-only close, which skips the entry checks) passed: what was
        logged as denied holds no more."""
        if self.logged.pop(symbol, None) is not None:
            log.info("%s: entries pass the risk checks again", symbol)


def part_of(asked: Decimal, cap: Decimal) -> str:
    """What an order cut to maxQty is a part of, for its denial's line."""
    return f" (a part of the {asked} asked: at most {cap} an order, the symbol's maxQty)"
