"""status.json's `last_reconciled_ms` and `last_reconcile_differences`: the last reconciliation
the books compared, noted once the handler (the books) has applied it, with the differences it
found; other venue events pass through untouched."""

from core.events import VenueSnapshot
from runtime.status_file import host_time
from trading_engine.reconciled import Reconciled as _Reconciled


def snapshot(reason: str) -> VenueSnapshot:
    return VenueSnapshot(
        event_time_ms=1_000,
        recv_time_ms=1_000,
        balances=(),
        positions=(),
        open_orders=(),
        reason=reason,
        symbols=("BTCUSDT",),
    )


def test_the_last_reconciliation_is_said_with_the_differences_the_books_found_in_it() -> None:
    found = {"periodic": 0, "reconnect": 2}  # what the books find in each snapshot
    books = {"differences": 5}  # a running count: 5 from before this run's first snapshot
    handled: list[object] = []

    def handler(item: object, now: int | None) -> None:
        handled.append(item)
        if isinstance(item, VenueSnapshot):
            books["differences"] += found[item.reason]

    reconciled = _Reconciled()
    seen = reconciled.watch(handler, lambda: books["differences"])
    assert reconciled.status() == {"last_reconciled_ms": None, "last_reconcile_differences": None}

    seen("an order event", 1_000)
    assert reconciled.status()["last_reconciled_ms"] is None  # not a reconciliation

    before = host_time()
    seen(snapshot("reconnect"), 1_000)
    after = host_time()
    status = reconciled.status()
    assert before.wall_ms <= status["last_reconciled_ms"] <= after.wall_ms
    assert status["last_reconcile_differences"] == 2  # 7 - 5: this one's, not the run's

    seen(snapshot("periodic"), 2_000)
    assert reconciled.status()["last_reconcile_differences"] == 0  # books equal at the last
    assert handled[0] == "an order event" and len(handled) == 3
