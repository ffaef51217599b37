"""The closing summary's own lines (what guards each position left open, the verdict on the
books against the exchange, the journal's scope, --keep-orders) and summary.json."""

import contextlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import Any

from book_keeper.book_keeper import BookKeeper, BookSummary
from core.enums import OrderType, TradingState
from core.events import VenueSnapshot
from core.orders import Order
from gateway.order_tracker import TrackerStats
from runtime.status_file import untracked_note
from trading_engine.exec_desk import UNANSWERED
from trading_engine.exec_manager import ExecCounters
from trading_engine.protection import guards_close


class Severity(IntEnum):
    """How loud a closing-summary line is; its value is the level it is logged at."""

    INFO = logging.INFO
    WARNING = logging.WARNING


@dataclass(frozen=True, slots=True)
class SummaryLine:
    """A line of the closing summary with its severity, chosen by the code that knows the fact
    (it was read back from the text, by its "WARNING", a word meant for the reader: a line
    reworded without it would have been logged at INFO)."""

    text: str
    severity: Severity


def exit_check(
    book: BookKeeper,
    symbols: Iterable[str],
    *,
    reconciled: bool,
    differences: int,
    journal_failed: bool,
    exchange_view: VenueSnapshot | None,
    embedded: bool = False,
) -> tuple[list[SummaryLine], str, bool]:
    """The closing summary's last lines: what guards each position left open, the verdict
    on the books against the exchange, and whether they were compared at all.

    `reconciled`: the venue's last reconciliation read the exchange; `differences`: what it
    found in the books; `exchange_view`: the snapshot it read; `embedded`: the exchange is the
    embedded local one, which stops with the daemon. A reconciliation that could
    not be journaled was not booked either (the journal failed), so nothing was compared;
    the books may then miss what could not be journaled (a fill, a stop-loss's end), and
    what is left open is the exchange's word."""
    symbols = list(symbols)
    if journal_failed and exchange_view is not None:
        held = {p.symbol: p.qty for p in exchange_view.positions}
        left = _guards(
            {sym: held.get(sym, Decimal(0)) for sym in symbols},
            exchange_view.open_orders,
            "(the exchange's, read at the stop) ",
            embedded=embedded,
        )
    else:
        left = _left_open(book, symbols, embedded=embedded)
    if journal_failed:
        verdict = (
            "not checked: the journal failed, so what the exchange said since was not "
            "booked (the next start recovers it from the exchange)"
        )
        return left, verdict, False
    if not reconciled:
        verdict = (
            "not checked: the exchange could not be reached "
            "(orders may still be working there; see the log)"
        )
        return left, verdict, False
    return (
        left,
        "identical" if differences == 0 else f"{differences} difference(s), see the log",
        True,
    )


def _left_open(
    book: BookKeeper, symbols: Iterable[str], *, embedded: bool = False
) -> list[SummaryLine]:
    """What guards each position the daemon leaves open, by its books."""
    positions = {sym: book.position(sym).qty for sym in symbols}
    return _guards(positions, book.orders.values(), embedded=embedded)


_ENDS = "the embedded local exchange stops with the daemon"


def _guards(
    positions: Mapping[str, Decimal],
    orders: Iterable[Order],
    whose: str = "",
    *,
    embedded: bool = False,
) -> list[SummaryLine]:
    """What guards each open position (symbol -> signed qty): its protective orders still on
    the exchange, or a warning that nothing does. Only a stop-loss on the position's closing
    side that the exchange has confirmed guards it (one on the other side was placed for
    another position; one sent at the stop and not answered may not be there). `whose`
    qualifies the position. `embedded`: the exchange is the embedded local one, which stops
    with the daemon, the position and its orders with it: "guarded on the exchange" promised
    a stop no exchange holds a second later (`--status` said they ended with it); a warning
    stays one (a stop-loss missing or unconfirmed is worth a look, if only as a fault)."""
    orders = list(orders)
    lines: list[SummaryLine] = []
    for symbol, qty in positions.items():
        if not qty:
            continue
        protective = [
            o for o in orders if o.symbol == symbol and o.is_protective and not o.is_terminal
        ]
        guards = [_guard_named(o, qty) for o in protective]
        stops = [o for o in protective if guards_close(o, qty)]
        # one sent and not answered (or its answer lost) may not be on the exchange
        if any(o.status not in UNANSWERED for o in stops):
            if embedded:
                text = (
                    f"position {symbol} {qty:f} {whose}left open with its {', '.join(guards)}; "
                    f"{_ENDS} and they end with it"
                )
            else:
                text = (
                    f"position {symbol} {qty:f} {whose}left open, guarded on the exchange by "
                    + ", ".join(guards)
                )
            lines.append(SummaryLine(text, Severity.INFO))
            continue
        if stops:
            text = (
                f"WARNING: position {symbol} {qty:f} {whose}left open, its stop-loss "
                f"{stops[0].type.value} {stops[0].stop_price:f} sent but not confirmed by the "
                "exchange (see the log)"
            )
        elif guards:  # a take-profit alone does not limit a loss
            text = (
                f"WARNING: position {symbol} {qty:f} {whose}left open WITHOUT an exchange-side "
                f"stop-loss (only {', '.join(guards)})"
            )
        else:
            text = (
                f"WARNING: position {symbol} {qty:f} {whose}left open WITHOUT an exchange-side "
                "stop-loss (risk.stop_loss_pct is 0, or it could not be placed: see the log)"
            )
        if embedded:
            text += f"; {_ENDS} and the position ends with it"
        lines.append(SummaryLine(text, Severity.WARNING))
    return lines


def _guard_named(order: Order, qty: Decimal) -> str:
    """A protective order as the closing summary names it beside a position of `qty`: a
    stop-loss on the other side (placed for another position, a flip unseen) says so, or
    "WITHOUT an exchange-side stop-loss (only STOP_MARKET 58800.0)" read as a contradiction."""
    named = f"{order.type.value} {order.stop_price:f}"
    if order.type is OrderType.STOP_MARKET and not guards_close(order, qty):
        named += f" {order.side.value}, which does not close a {'long' if qty > 0 else 'short'}"
    return named


def kept_orders_note(*, open_orders: int, embedded: bool) -> str:
    """The closing summary's line for --keep-orders. The embedded local exchange is stopped
    with the daemon, its orders and its account with it: "left on the exchange" alone
    promised orders that no exchange holds a second later. With none open at the stop
    (`open_orders`, the books') it says so: "open orders were left" above "0 open" read as
    orders the books had lost."""
    if not open_orders:
        return "no open order to leave on the exchange (--keep-orders)"
    if not embedded:
        return "open orders were left on the exchange (--keep-orders)"
    return (
        "open orders were left on the exchange (--keep-orders), but the embedded local "
        "exchange stops with the daemon and they end with it (attach to one with [endpoints] "
        "to keep them)"
    )


def journal_scope(this_run: ExecCounters, summary: BookSummary) -> str | None:
    """The closing summary's first line when its figures are not this run's alone (a
    journal continued by a restart on the same account): they count the whole journal, which
    a reader of "orders: 40 submitted" after a run that sent 7 could not tell. None when they
    are this run's (a new journal, every local run's)."""
    if (this_run.submitted, this_run.fills) == (summary.orders_submitted, summary.fills):
        return None
    return (
        "figures of the whole journal; this run: "
        f"orders sent {this_run.submitted}, fills {this_run.fills}"
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str):  # StrEnum members too
        return str(value)
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def write_summary(journal_dir: str | Path, summary: Any, **extra: Any) -> None:
    """`<journal_dir>/summary.json`: the closing summary for scripts and tests, the books'
    figures with `extra`, what the printed one says besides them."""
    data = {**_jsonable(summary), **extra}
    path = Path(journal_dir) / "summary.json"
    with contextlib.suppress(OSError):
        path.write_text(json.dumps(data, indent=2, sort_keys=True))


def closing_lines(
    summary: BookSummary,
    this_run: ExecCounters,
    *,
    state: TradingState,
    reason: str,
    tracked: TrackerStats,
    kept_orders_embedded: bool | None,
    left: list[SummaryLine],
    verdict: str,
    item_errors: int = 0,
) -> list[SummaryLine]:
    """The lines under "closing summary:": the journal's scope, the books' figures, a trading
    state other than ACTIVE, orders not tracked (`tracked`), --keep-orders
    (`kept_orders_embedded`: whether the exchange is the embedded one; None without it), what
    guards each position left open (`left`), the market-data items that raised this run
    (`item_errors`: a strategy's errors among them) and the verdict on the books."""
    info, warning = Severity.INFO, Severity.WARNING
    lines = []
    if scope := journal_scope(this_run, summary):
        lines.append(SummaryLine(scope, info))
    lines += [SummaryLine(line, info) for line in summary.lines()]
    if state is not TradingState.ACTIVE:  # the heartbeat said it; a stop's reader sees this
        lines.append(SummaryLine(f"trading state at the stop: {state.value} ({reason})", warning))
    untracked = untracked_note(tracked.unknown_client_ids, tracked.hand_order_reports)
    if untracked:
        lines.append(SummaryLine(untracked, info))
    if kept_orders_embedded is not None:
        kept = kept_orders_note(open_orders=summary.open_orders, embedded=kept_orders_embedded)
        lines.append(SummaryLine(kept, info))
    lines += left
    if item_errors:
        said = f"errors on market-data items this run: {item_errors} (each in the log)"
        lines.append(SummaryLine(said, warning))
    lines.append(SummaryLine(f"books vs exchange at exit: {verdict}", info))
    return lines
