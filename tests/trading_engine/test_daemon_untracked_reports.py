"""The order tracker's counts of reports of orders the daemon does not track (an id of ours
nobody tracks: something is off; an order placed by hand: left alone by design) reach the
operator: status.json (for `--status`) and the closing summary. They were printed nowhere."""

import asyncio
import io
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.order_tracker import TrackerStats
from gateway.venue_stats import VenueStats
from runtime.settings import load_settings
from runtime.status_file import DaemonState
from tests.trading_engine.support import make_rig
from trading_engine.daemon import Daemon, _Parts


def _daemon(journal_dir: Path, *, unknown_ids: int, hand_orders: int) -> tuple[Daemon, io.StringIO]:
    """A daemon over the rig's ExecManager and books, its venue's tracker having counted
    `unknown_ids` and `hand_orders` reports of untracked orders."""
    rig = make_rig()

    async def stopped(**_kwargs: object) -> None:
        return None

    venue = SimpleNamespace(
        stats=VenueStats(),
        tracker=SimpleNamespace(
            stats=TrackerStats(unknown_client_ids=unknown_ids, hand_order_reports=hand_orders)
        ),
        stop=stopped,
    )
    stream = SimpleNamespace(stop=stopped, gap_open=lambda _symbol=None: False)
    settings = replace(load_settings(None, env_file=None), journal_dir=str(journal_dir))
    out = io.StringIO()
    daemon = Daemon(settings, out=out, clock=rig.clock)
    daemon._parts = _Parts(
        rest=None, market_rest=None, journal=None, book=rig.book, risk=rig.risk,
        exec_manager=rig.em, venue=venue, stream=stream,
    )  # type: ignore[arg-type]  # fmt: skip
    return daemon, out


def test_status_json_holds_this_runs_reports_of_orders_not_tracked(tmp_path: Path) -> None:
    daemon, _ = _daemon(tmp_path, unknown_ids=2, hand_orders=5)

    daemon._write_status(DaemonState.RUNNING)

    status = json.loads((tmp_path / "status.json").read_text())
    assert (status["unknown_client_ids"], status["hand_order_reports"]) == (2, 5)


@pytest.mark.parametrize(
    ("unknown_ids", "hand_orders", "said"),
    [
        (
            2,
            5,
            "  reports of orders not tracked, this run: 2 with an id of ours (not applied: "
            "worth a look), 5 of orders placed by hand (left alone)",
        ),
        (
            0,
            5,
            "  reports of orders not tracked, this run: 5 of orders placed by hand (left alone)",
        ),
        (0, 0, None),
    ],
)
def test_the_closing_summary_says_the_reports_of_orders_not_tracked_when_some_came(
    tmp_path: Path, unknown_ids: int, hand_orders: int, said: str | None
) -> None:
    daemon, out = _daemon(tmp_path, unknown_ids=unknown_ids, hand_orders=hand_orders)

    asyncio.run(daemon._shutdown())

    summary = out.getvalue().split("closing summary:\n")[1].splitlines()
    lines = [line for line in summary if "orders not tracked" in line]
    assert lines == ([] if said is None else [said])
    # with the book's figures, before the verdict on the books
    assert summary[-1].startswith("  books vs exchange at exit: ")
