"""What the closing summary (and summary.json) says besides the books' figures.

The order tracker's counts of reports of orders the daemon does not track (an id of ours
nobody tracks: something is off; an order placed by hand: left alone by design) reach the
operator: status.json (for `--status`) and the closing summary. They were printed nowhere.
So do the trading state the run stopped in, when it is not ACTIVE (told only by the
heartbeat, which the closing summary follows), and, after a restart on the same account,
that the figures are the whole journal's."""

import asyncio
import io
import json
import logging
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.order_tracker import TrackerStats
from gateway.venue_stats import VenueStats
from runtime.settings import load_settings
from runtime.status_file import DaemonState
from tests.trading_engine.support import Rig, make_rig
from tests.trading_engine.test_exec_manager import go_long
from trading_engine.daemon import Daemon, _Parts


def _daemon(
    journal_dir: Path,
    *,
    unknown_ids: int = 0,
    hand_orders: int = 0,
    killed: str | None = None,
    rig: Rig | None = None,
) -> tuple[Daemon, io.StringIO]:
    """A daemon over the rig's ExecManager and books (a new rig's unless `rig`), its venue's
    tracker having counted `unknown_ids` and `hand_orders` reports of untracked orders;
    `killed`: the kill switch's reason, when it was used (REDUCING)."""
    rig = rig if rig is not None else make_rig()
    if killed is not None:
        rig.risk.kill(killed)

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
        exec_manager=rig.em, venue=venue, stream=stream, strategy=None,
    )  # type: ignore[arg-type]  # fmt: skip
    return daemon, out


def test_status_json_holds_this_runs_reports_of_orders_not_tracked(tmp_path: Path) -> None:
    daemon, _ = _daemon(tmp_path, unknown_ids=2, hand_orders=5)

    daemon._write_status(DaemonState.RUNNING)

    status = json.loads((tmp_path / "status.json").read_text())
    assert (status["unknown_client_ids"], status["hand_order_reports"]) == (2, 5)


def test_status_json_holds_the_books_money_as_exact_decimals(tmp_path: Path) -> None:
    """A monitor reads status.json: "9,997.00" (the heartbeat's form, thousands separator and
    all) was no number to `jq tonumber` or float(), and rounded to the cent besides."""
    rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.100", "60000")  # taker fee 0.05 % of 6000 = 3 USDT, marked at 60000
    daemon, _ = _daemon(tmp_path, rig=rig)

    daemon._write_status(DaemonState.RUNNING)

    status = json.loads((tmp_path / "status.json").read_text())
    money = ("equity", "wallet", "unrealized_pnl", "realized_pnl", "realized_pnl_today")
    assert [D(status[key]) for key in money] == [D("9997"), D("9997"), 0, 0, D("-3")]


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


def test_summary_json_holds_this_runs_reports_of_orders_not_tracked(tmp_path: Path) -> None:
    """The closing summary's line, for scripts: status.json's names, 0 when none came."""
    daemon, _ = _daemon(tmp_path, unknown_ids=2, hand_orders=5)

    asyncio.run(daemon._shutdown())

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["unknown_client_ids"], summary["hand_order_reports"]) == (2, 5)


def test_the_closing_summary_says_the_trading_state_when_it_is_not_active(tmp_path: Path) -> None:
    """A run stopped after the kill switch said nothing of it in its closing summary."""
    daemon, out = _daemon(tmp_path, killed="file KILL exists")

    asyncio.run(daemon._shutdown())

    summary = out.getvalue().split("closing summary:\n")[1].splitlines()
    said = "  trading state at the stop: REDUCING (kill switch: file KILL exists)"
    assert [line for line in summary if "trading state" in line] == [said]
    data = json.loads((tmp_path / "summary.json").read_text())
    assert (data["trading_state"], data["state_reason"]) == (
        "REDUCING",
        "kill switch: file KILL exists",
    )


def test_the_closing_summary_of_an_active_run_says_no_trading_state(tmp_path: Path) -> None:
    daemon, out = _daemon(tmp_path)

    asyncio.run(daemon._shutdown())

    assert "trading state" not in out.getvalue()
    assert json.loads((tmp_path / "summary.json").read_text())["trading_state"] == "ACTIVE"


def test_after_a_restart_the_closing_summary_says_its_figures_are_the_whole_journals(
    tmp_path: Path,
) -> None:
    """A journal continued on the same account: "orders: 40 submitted" after a run that sent
    7 read as this run's."""
    daemon, out = _daemon(tmp_path)
    parts = daemon._parts
    assert parts is not None
    parts.book.orders_submitted, parts.book.fill_count = 40, 31  # as restored from the journal
    parts.exec_manager.counters.submitted, parts.exec_manager.counters.fills = 7, 5

    asyncio.run(daemon._shutdown())

    summary = out.getvalue().split("closing summary:\n")[1].splitlines()
    assert summary[:2] == [
        "  figures of the whole journal; this run: orders sent 7, fills 5",
        "  orders: 40 submitted (none finished), 0 open",
    ]


def test_the_closing_summary_of_a_new_journal_does_not_say_whose_figures(tmp_path: Path) -> None:
    daemon, out = _daemon(tmp_path)

    asyncio.run(daemon._shutdown())

    assert "whole journal" not in out.getvalue()


@pytest.mark.parametrize(
    ("embedded", "said"),
    [
        (False, "  open orders were left on the exchange (--keep-orders)"),
        (
            True,
            "  open orders were left on the exchange (--keep-orders), but the embedded local "
            "exchange stops with the daemon and they end with it (attach to one with "
            "[endpoints] to keep them)",
        ),
    ],
)
def test_keep_orders_with_the_embedded_exchange_says_they_end_with_it(
    tmp_path: Path, embedded: bool, said: str
) -> None:
    """The embedded local exchange stops right after the summary: "left on the exchange"
    alone promised orders nothing holds any more."""
    rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.100", "60000")
    rig.venue.accept(rig.last_cid())  # its stop-loss rests: one open order to keep
    daemon, out = _daemon(tmp_path, rig=rig)
    daemon.keep_orders = True
    if embedded:
        daemon._exchange = SimpleNamespace()  # type: ignore[assignment]  # its child process

    asyncio.run(daemon._shutdown())

    assert [line for line in out.getvalue().splitlines() if "--keep-orders" in line] == [said]


@pytest.mark.parametrize("embedded", [False, True])
def test_keep_orders_without_an_open_order_says_none_was_left(
    tmp_path: Path, embedded: bool
) -> None:
    """Flat with no order open (a kill switch's halt, say): "open orders were left on the
    exchange" under "0 open" told of orders the books did not hold."""
    daemon, out = _daemon(tmp_path)
    daemon.keep_orders = True
    if embedded:
        daemon._exchange = SimpleNamespace()  # type: ignore[assignment]  # its child process

    asyncio.run(daemon._shutdown())

    summary = out.getvalue().split("closing summary:\n")[1].splitlines()
    assert "  orders: 0 submitted (none finished), 0 open" in summary
    assert [line for line in summary if "--keep-orders" in line] == [
        "  no open order to leave on the exchange (--keep-orders)"
    ]


@pytest.mark.parametrize(
    ("take_profit_only", "level", "said"),
    [
        (
            True,
            logging.WARNING,
            "WARNING: position BTCUSDT 0.100 left open WITHOUT an exchange-side stop-loss "
            "(only TAKE_PROFIT_MARKET 62400.0)",
        ),
        (
            False,
            logging.INFO,
            "position BTCUSDT 0.100 left open, guarded on the exchange by STOP_MARKET 58800.0",
        ),
    ],
)
def test_a_position_left_open_is_logged_at_its_lines_level(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    take_profit_only: bool,
    level: int,
    said: str,
) -> None:
    """The level is the one `_guards` gave the line: a position without a stop-loss is a
    WARNING in the log file, one guarded on the exchange an INFO."""
    if take_profit_only:  # take-profit 4 % from 60000 = 62400.0, no stop-loss
        rig = make_rig(stop_loss_pct=D(0), take_profit_pct=D(4))
    else:  # stop-loss 2 % from 60000 = 58800.0
        rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.100", "60000")
    rig.venue.accept(rig.last_cid())  # the protective order, confirmed by the exchange
    daemon, out = _daemon(tmp_path, rig=rig)

    with caplog.at_level(logging.INFO, logger="daemon"):
        asyncio.run(daemon._shutdown())

    assert f"  {said}\n" in out.getvalue()
    assert [r.levelno for r in caplog.records if r.getMessage() == said] == [level]


_KEPT = "  open orders were left on the exchange (--keep-orders)"
_KEPT_EMBEDDED = (
    "  open orders were left on the exchange (--keep-orders), but the embedded local exchange "
    "stops with the daemon and they end with it (attach to one with [endpoints] to keep them)"
)
_GUARDED = "  position BTCUSDT 0.100 left open, guarded on the exchange by STOP_MARKET 58800.0"
_ENDS = (
    "  position BTCUSDT 0.100 left open with its STOP_MARKET 58800.0; the embedded local "
    "exchange stops with the daemon and they end with it"
)


@pytest.mark.parametrize(
    ("embedded", "keep_orders", "said"),
    [
        (False, False, [_GUARDED]),
        (False, True, [_KEPT, _GUARDED]),
        (True, False, [_ENDS]),
        (True, True, [_KEPT_EMBEDDED, _ENDS]),
    ],
)
def test_a_position_left_on_the_embedded_exchange_is_not_said_guarded(
    tmp_path: Path, embedded: bool, keep_orders: bool, said: list[str]
) -> None:
    """The embedded local exchange stops right after the summary, the position and its stop
    with it (as `--status` says after): "guarded on the exchange" promised a stop that no
    exchange holds, beside the --keep-orders line saying they end with it."""
    rig = make_rig(stop_loss_pct=D(2))  # stop-loss 2 % from 60000 = 58800.0
    go_long(rig, "0.100", "60000")
    rig.venue.accept(rig.last_cid())
    daemon, out = _daemon(tmp_path, rig=rig)
    daemon.keep_orders = keep_orders
    if embedded:
        daemon._exchange = SimpleNamespace()  # type: ignore[assignment]  # its child process

    asyncio.run(daemon._shutdown())

    summary = out.getvalue().split("closing summary:\n")[1].splitlines()
    assert [line for line in summary if "left open" in line or "--keep-orders" in line] == said


def test_a_position_without_a_stop_loss_on_the_embedded_exchange_is_a_warning_ending_with_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No stop-loss is still worth a warning (it should have had one), and the position does
    not outlive the embedded exchange either."""
    rig = make_rig(stop_loss_pct=D(0), take_profit_pct=D(4))  # take-profit 62400.0 only
    go_long(rig, "0.100", "60000")
    rig.venue.accept(rig.last_cid())
    daemon, out = _daemon(tmp_path, rig=rig)
    daemon._exchange = SimpleNamespace()  # type: ignore[assignment]  # its child process
    said = (
        "WARNING: position BTCUSDT 0.100 left open WITHOUT an exchange-side stop-loss (only "
        "TAKE_PROFIT_MARKET 62400.0); the embedded local exchange stops with the daemon and the "
        "position ends with it"
    )

    with caplog.at_level(logging.INFO, logger="daemon"):
        asyncio.run(daemon._shutdown())

    assert [line for line in out.getvalue().splitlines() if "left open" in line] == [f"  {said}"]
    assert [r.levelno for r in caplog.records if r.getMessage() == said] == [logging.WARNING]


def test_orders_never_sent_are_told_apart_in_the_closing_summary_and_summary_json(
    tmp_path: Path,
) -> None:
    """An order refused before sending (here: the venue stopping) read as one the exchange
    rejected. summary.json keeps `orders_by_status` as it was (REJECTED: every order that
    placed nothing) and adds `orders_not_sent`, this run's, by why."""
    from core.enums import NotSent
    from core.events import OrderRejected
    from tests.book_keeper.support import BUY, submitted

    rig = make_rig()
    for cid, code, not_sent in (("te-1", 0, NotSent.STOPPING), ("te-2", -2019, None)):
        rig.book.apply(submitted(cid, BUY, "0.001", "60000"))
        rig.book.apply(
            OrderRejected(
                event_time_ms=1, recv_time_ms=1, symbol="BTCUSDT", client_order_id=cid,
                code=code, reason="why", not_sent=not_sent,
            )
        )  # fmt: skip
    rig.em.counters.submitted = 2  # this run's, as the books' (no "whole journal" line)
    daemon, out = _daemon(tmp_path, rig=rig)

    asyncio.run(daemon._shutdown())

    summary = out.getvalue().split("closing summary:\n")[1].splitlines()
    assert summary[0] == (
        "  orders: 2 submitted (rejected 2 (1 not sent this run, refused before reaching the "
        "exchange: stopping 1)), 0 open"
    )
    data = json.loads((tmp_path / "summary.json").read_text())
    assert (data["orders_by_status"], data["orders_not_sent"]) == (
        {"REJECTED": 2},
        {"STOPPING": 1},
    )


def test_errors_on_items_are_said_by_the_closing_summary_and_summary_json(tmp_path: Path) -> None:
    """A strategy raising on every third bar stayed `state ACTIVE` with only the log saying
    so: the closing summary warns with their count (summary.json, status.json hold it)."""
    daemon, out = _daemon(tmp_path)
    daemon._sink = SimpleNamespace(item_errors=4, stream_lag_ms=None)  # type: ignore[assignment]

    asyncio.run(daemon._shutdown())

    summary = out.getvalue().split("closing summary:\n")[1].splitlines()
    assert "  errors on market-data items this run: 4 (each in the log)" in summary
    assert json.loads((tmp_path / "summary.json").read_text())["item_errors"] == 4
    assert json.loads((tmp_path / "status.json").read_text())["item_errors"] == 4


def test_a_run_without_errors_on_items_says_none(tmp_path: Path) -> None:
    daemon, out = _daemon(tmp_path)

    asyncio.run(daemon._shutdown())

    assert "errors on market-data items" not in out.getvalue()
    assert json.loads((tmp_path / "summary.json").read_text())["item_errors"] == 0
