"""What the start-up reconciliation recovered that the journal did not know, one line each."""

from collections.abc import Collection
from typing import Any

from core.enums import ReconcileCause
from core.events import (
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
    OrderRejected,
)
from core.orders import outside_client_id


def recovery_lines(
    events: list[Any], *, back_ms: int | None, restored_ids: Collection[str]
) -> list[str]:
    """What the start-up reconciliation told us that the journal did not know: fills made
    and order outcomes reached while the daemon was down (or before it ever saw them).

    `events` are all that passed during the start-up, the new session's own among them: what
    the exchange did from `back_ms` on (its clock, when the user stream connected: seen live,
    a fill of a resting order, or an answer to an order the start sent, such as the flatten
    at its end) was not missed. The exception is what became of an order of the last run
    (`restored_ids`: the journal's open orders) that the exchange no longer shows, which
    carries the time we learnt it: one in flight at the stop, resolved; one forgotten."""
    lines = []
    for e in events:
        if back_ms is not None and e.event_time_ms >= back_ms:
            resolves = isinstance(e, OrderReconciled | OrderRejected | OrderExpired)
            if not (resolves and e.client_order_id in restored_ids):
                continue
        if isinstance(e, OrderFilled | OrderPartiallyFilled):
            f = e.fill
            lines.append(
                f"fill {f.symbol} trade {f.trade_id} of {f.client_order_id}: {f.side} "
                f"{f.qty:f} @ {f.price:f}, fee {f.commission:f} {f.commission_asset}, "
                f"realized {f.realized_pnl:f}"
            )
        elif isinstance(e, OrderCanceled | OrderExpired):
            lines.append(f"order {e.client_order_id} ({e.symbol}) is {type(e).__name__[5:]}")
        elif isinstance(e, OrderReconciled) and e.cause is ReconcileCause.TAKEN_OVER_FILLS:
            # nothing was in doubt: the fills listed as outside:<its id> completed it
            lines.append(
                f"order {e.client_order_id} ({e.symbol}), taken over, is {e.status}: filled by "
                f"its fills booked as {outside_client_id(e.client_order_id)}"
            )
        elif isinstance(e, OrderReconciled):
            lines.append(f"order {e.client_order_id} ({e.symbol}) resolved as {e.status}")
        elif isinstance(e, OrderRejected):
            lines.append(f"order {e.client_order_id} ({e.symbol}) rejected: {e.reason}")
    return lines
