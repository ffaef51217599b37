"""What the ExecManager's order path does to the world, in one place, and the same with no effect.

From a strategy's target to the order handed to the venue, the ExecManager changes the world
only through these calls: the pre-trade check (an approved order counts against the
orders-per-minute limit), the journal's records, the client id it takes, the venue's submit
and cancels, the books' record of the order, the stale-order watch, the wait for a crossed
stop's answer, and the two answers a recorded session journals (a market-data gap, the clock
offset). `OrderEffects` holds them; the ExecManager calls its collaborators for those through
it and through nothing else.

`dry_effects` is the same set with no effect, for the rehearsal of the order path between
market-data items (`trading_engine.order_rehearsal`): the ExecManager's own code runs a target
to its order, with the checks, the journal's encoding and the signed request rehearsed
(`RiskManager.rehearse`, `SqliteJournal.rehearse_many`, `LiveVenue.rehearse`: nothing
counted, written or sent), the next client id read and not taken, the gap and clock answers
asked where no recorder journals them, nothing booked or watched. What it cannot rehearse (a
cancel, a record other than a decision with its order, a crossed stop's wait) raises
`DryRunStopped` at its first step, before any effect: a dry run fails closed.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core.events import DecisionMade, Event, OrderSubmitted
from core.orders import OrderRequest


class DryRunStopped(Exception):
    """A dry run reached a step it does not rehearse; nothing of it took effect."""


@dataclass(slots=True, kw_only=True)
class OrderEffects:
    """The order path's effects (see the module docstring); each the collaborator's own
    method for the real path."""

    check: Callable[..., Any]  # RiskManager.check: the approved request or a RiskDenied
    record: Callable[[Event], object]  # the journal's record of one event
    record_many: Callable[[Sequence[Event]], object] | None  # of several, in one write
    send: Callable[[OrderRequest], object]  # the venue's submit
    cancel: Callable[[str, str], object]  # the venue's cancel(symbol, client id)
    cancel_all: Callable[..., object]  # the venue's cancel_all(symbol, keep_protection=...)
    apply: Callable[[Event], object]  # the books' apply
    next_id: Callable[[], str]  # the next client order id
    watch: Callable[[str, int], object]  # the stale-order watch (client id, due ms)
    await_answer: Callable[[str, int], object]  # a crossed stop's answer awaited
    gap_open: Callable[[str], bool]  # a market-data gap open for the symbol
    clock_offset_ms: Callable[[], int]  # the clock's offset from the exchange's


def dry_effects(
    *,
    rehearse_check: Callable[..., bool],
    rehearse_many: Callable[[Sequence[Event]], object] | None,
    rehearse_send: Callable[[OrderRequest], object] | None,
    peek_id: Callable[[], str],
    gap_open: Callable[[str], bool],
    clock_offset_ms: Callable[[], int],
) -> OrderEffects:
    """The effects of a dry run: the check, the journal's record of a decision with its order
    and the venue's submit rehearsed (`rehearse_many` / `rehearse_send`: None when the journal
    or venue has no rehearsal, then skipped), every other effect none or `DryRunStopped`.

    `peek_id`: the client id the next order takes, not taken (`ClientOrderIds.next` with
    `take=False`). `gap_open`, `clock_offset_ms`: the answers themselves, not a recorder's
    wrapper of them (`inspect.unwrap`): a recorded session journals each answer the real path
    asks for the parity audit's replay, which rehearses nothing, so a dry run's question must
    leave no record. The check ignores their answers (see `check` below)."""

    def check(request: OrderRequest, **kw: Any) -> OrderRequest:
        # Every check of a real order, nothing counted; approved whatever it says, so that
        # the rest of the path runs too. No gap, offset or lag: each would skip checks.
        rehearse_check(
            request, gap_open=False, clock_offset_ms=0, data_lag_ms=0, now_ms=kw["now_ms"]
        )
        return request

    def record_many(events: Sequence[Event]) -> object:
        if (
            not events
            or events[-1].__class__ is not OrderSubmitted
            or any(e.__class__ is not DecisionMade for e in events[:-1])
        ):
            stop("a record other than a decision and its order")
        return None if rehearse_many is None else rehearse_many(events)

    def send(request: OrderRequest) -> object:
        return None if rehearse_send is None else rehearse_send(request)

    return OrderEffects(
        check=check,
        record=lambda _event: stop("a record of one event"),
        record_many=record_many,
        send=send,
        cancel=lambda _symbol, _cid: stop("a cancel"),
        cancel_all=lambda *_a, **_kw: stop("a cancel of all orders"),
        apply=_nothing,
        next_id=peek_id,
        watch=_nothing,
        await_answer=lambda _cid, _now: stop("the wait for a crossed stop's answer"),
        gap_open=gap_open,
        clock_offset_ms=clock_offset_ms,
    )


def stop(what: str) -> None:
    raise DryRunStopped(f"not rehearsed: {what}")


def _nothing(*_args: object) -> None:
    return None
