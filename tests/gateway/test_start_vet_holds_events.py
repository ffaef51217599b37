"""The start's `vet` (the daemon's position check) judges the start-up reconciliation before
anything it recovered is journaled: `LiveVenue.start` holds the pass's events until `vet` has
passed its snapshot, then hands them on before the snapshot; what `vet` raises drops them,
the journal left as it was, and so does a read that fails the start. Against the real local
exchange, a restart on a journal as `trading_engine/daemon.py` makes it, a hand order having
filled while the daemon was down.

Before, the pass journaled and booked the hand order's fills first: `vet` saw books holding
them, and a refused start had journaled fills that the next start, reading on from their trade
ids, took as booked."""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from book_keeper.journal import SqliteJournal
from core.errors import RetryableError
from core.events import Event, OrderFilled, OrderPartiallyFilled, VenueSnapshot
from gateway.main_gateway import StartVet
from tests.gateway.venue_harness import FAST, SYMBOL, Recorder, session, start_exchange

pytestmark = pytest.mark.asyncio(loop_scope="module")

CONFIG = replace(FAST, client_id_prefix="vh", journal_events=True)
HAND = "web_Vh01"


class Refused(Exception):
    """The vet's refusal."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ex():
    exchange = await start_exchange()
    yield exchange
    await exchange.stop()


async def a_journal_then_a_hand_order(ex: Any, path: Path) -> Any:
    """A first run (a start and a clean stop) journals on a new account; while it is down
    (half a second on) a hand MARKET BUY of 0.003 fills. Returns the account's credentials."""
    creds = ex.create_account()
    journal = SqliteJournal(path)
    async with session(ex, creds=creds, config=CONFIG, journal=journal):
        pass
    journal.close()
    await asyncio.sleep(0.5)
    ex.engine.new_order(
        str(creds.account_id),
        {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.003",
         "newClientOrderId": HAND},
    )  # fmt: skip
    ex.flush_user_events()  # to no socket: the restart's reconciliation finds it
    return creds


async def restart(
    ex: Any,
    creds: Any,
    path: Path,
    vet_of: Callable[[Recorder], StartVet],
    fail: type[Exception] = Refused,
    before_start: Callable[[Any], None] | None = None,
) -> list[Event]:
    """The venue restored from the journal at `path` as the daemon restores it, started with
    the `vet` made for its listener (`vet_of`); the events the listener got, also when the
    start fails with `fail` (then in `FailedStart.events`). `before_start`: given the venue
    before it starts. The journal is closed on the way out."""
    journal = SqliteJournal(path)
    try:
        last = journal.last_record_ms()
        async with session(ex, creds=creds, config=CONFIG, journal=journal, start=False) as s:
            s.venue.restore(
                [],
                outside_since_ms=last,
                seen_trade_ids=journal.last_snapshot_trade_ids(),
                seen_until_ms=journal.last_exchange_ms(),
            )
            if before_start is not None:
                before_start(s.venue)
            try:
                await s.venue.start(vet=vet_of(s.rec))
            except fail as exc:
                raise FailedStart(list(s.rec.events)) from exc
            return list(s.rec.events)
    finally:
        journal.close()


class FailedStart(Exception):
    def __init__(self, events: list[Event]) -> None:
        super().__init__("the start failed")
        self.events = events


def hand_fills(events: Sequence[Event]) -> list[Decimal]:
    """The quantities of the hand order's fills among `events` (BTC)."""
    return [
        e.fill.qty
        for e in events
        if isinstance(e, OrderFilled | OrderPartiallyFilled)
        and e.fill.client_order_id == f"outside:{HAND}"
    ]


def journaled(path: Path) -> list[str]:
    """The client ids of the journal's fills, in its order."""
    journal = SqliteJournal(path)
    try:
        return [f.client_order_id for f in journal.load_fills()]
    finally:
        journal.close()


def passes(rec: Recorder) -> StartVet:
    async def vet(snapshot: VenueSnapshot, recovered: Sequence[Event]) -> None:
        return None

    return vet


async def test_vet_sees_the_recovered_fills_before_the_listener_gets_them(ex, tmp_path: Path):
    path = tmp_path / "journal"
    creds = await a_journal_then_a_hand_order(ex, path)
    before = journaled(path)
    seen: list[tuple[list[Decimal], list[Decimal]]] = []  # (given to vet, the listener's)

    def watching(rec: Recorder) -> StartVet:
        async def vet(snapshot: VenueSnapshot, recovered: Sequence[Event]) -> None:
            seen.append((hand_fills(recovered), hand_fills(rec.events)))

        return vet

    events = await restart(ex, creds, path, watching)

    [(given, heard_then)] = seen
    assert sum(given, Decimal(0)) == Decimal("0.003")
    assert heard_then == []  # held until vet passed
    assert hand_fills(events) == given  # then handed on, before the snapshot
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("VenueSnapshot") > max(
        i for i, e in enumerate(events) if isinstance(e, OrderFilled | OrderPartiallyFilled)
    )
    assert journaled(path) == before + [f"outside:{HAND}"] * len(given)


async def test_a_refused_start_journals_none_of_what_it_recovered_and_the_next_books_it(
    ex, tmp_path: Path
):
    path = tmp_path / "journal"
    creds = await a_journal_then_a_hand_order(ex, path)
    before = journaled(path)

    def refusing(rec: Recorder) -> StartVet:
        async def vet(snapshot: VenueSnapshot, recovered: Sequence[Event]) -> None:
            raise Refused(f"{len(hand_fills(recovered))} hand fill(s)")

        return vet

    with pytest.raises(FailedStart) as failed:
        await restart(ex, creds, path, refusing)

    # the listener heard the user stream connect, and none of the pass's events
    assert [type(e).__name__ for e in failed.value.events] == ["StreamStateChanged"]
    assert journaled(path) == before

    events = await restart(ex, creds, path, passes)  # the next start: all booked

    position = sum(
        (Decimal(r["positionAmt"]) for r in ex.engine.position_risk(
            str(creds.account_id), {"symbol": SYMBOL}, version=3)),
        Decimal(0),
    )  # fmt: skip
    assert sum(hand_fills(events), Decimal(0)) == position == Decimal("0.003")
    assert journaled(path) == before + [f"outside:{HAND}"] * len(hand_fills(events))


async def test_a_start_whose_reads_fail_journals_none_of_what_it_recovered(ex, tmp_path: Path):
    """The funding read, the pass's last before its snapshot, fails (HTTP 503) after the hand
    fill was recovered: the start fails as a failed read does, vet never asked, and the fill
    is neither handed on nor journaled; the next start books it (and its vet judges it).
    Before the hold a failed start had journaled it, and the next start's books held it as
    the journal's own."""
    path = tmp_path / "journal"
    creds = await a_journal_then_a_hand_order(ex, path)
    before = journaled(path)
    asked: list[list[Decimal]] = []

    def asking(rec: Recorder) -> StartVet:
        async def vet(snapshot: VenueSnapshot, recovered: Sequence[Event]) -> None:
            asked.append(hand_fills(recovered))

        return vet

    async def unavailable() -> None:
        raise RetryableError("futures_income_history: HTTP 503")

    def failing_funding(venue: Any) -> None:
        venue.sync.catch_up_funding = unavailable

    with pytest.raises(FailedStart) as failed:
        await restart(ex, creds, path, asking, RetryableError, failing_funding)

    assert asked == []
    assert [type(e).__name__ for e in failed.value.events] == ["StreamStateChanged"]
    assert journaled(path) == before

    events = await restart(ex, creds, path, asking)

    [given] = asked
    assert sum(given, Decimal(0)) == sum(hand_fills(events), Decimal(0)) == Decimal("0.003")
    assert journaled(path) == before + [f"outside:{HAND}"] * len(given)
