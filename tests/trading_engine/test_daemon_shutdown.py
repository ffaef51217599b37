"""At shutdown a position left open keeps a stop-loss: a stop being replaced gets the time to
go out, one the stop's last reconciliation shows missing is placed then, and the closing
summary warns when only a take-profit is left, or a stop-loss that guards another position or
that the exchange has not confirmed."""

import asyncio
import io
import logging
import time
from decimal import Decimal as D

from core.account import Position
from core.enums import OrderType, Side
from core.events import VenueSnapshot
from runtime.settings import load_settings
from tests.trading_engine.support import make_rig
from tests.trading_engine.test_exec_manager import add_to_long_with_a_stop, go_long
from trading_engine.closing_summary import Severity, SummaryLine, _guards, _left_open
from trading_engine.daemon import Daemon


def test_a_stop_being_replaced_goes_out_before_the_shutdown_goes_on() -> None:
    # Long 0.100 from 60000 with its stop at 58800.0, added to at 62000: the old stop's cancel
    # is sent, the new one (59780.0) waits for its confirmation, which comes 0.1 s later.
    rig = make_rig(stop_loss_pct=D(2))
    old, _add = add_to_long_with_a_stop(rig)
    assert rig.em.protection_pending
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, rig.venue.confirm_cancel, old.client_order_id)
        started = time.monotonic()
        await daemon._settle_protection(rig.em, time.monotonic() + 4.0)
        return time.monotonic() - started

    took = asyncio.run(scenario())

    new = rig.venue.submitted[-1]
    assert (new.type.value, new.stop_price) == ("STOP_MARKET", D("59780.0"))
    assert not rig.em.protection_pending
    assert 0.09 <= took < 1.0


def test_a_position_left_with_only_a_take_profit_is_a_warning() -> None:
    # take-profit 4 % from 60000 = 62400.0, no stop-loss
    rig = make_rig(stop_loss_pct=D(0), take_profit_pct=D(4))
    go_long(rig, "0.100", "60000")
    tp = rig.venue.submitted[-1]
    rig.venue.accept(tp.client_order_id)

    assert _left_open(rig.book, ["BTCUSDT"]) == [
        SummaryLine(
            "WARNING: position BTCUSDT 0.100 left open WITHOUT an exchange-side stop-loss (only "
            "TAKE_PROFIT_MARKET 62400.0)",
            Severity.WARNING,
        )
    ]


def test_a_stop_loss_sent_and_not_confirmed_is_a_warning() -> None:
    # stop-loss 2 % from 60000 = 58800.0, sent, no answer yet
    rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.100", "60000")

    assert _left_open(rig.book, ["BTCUSDT"]) == [
        SummaryLine(
            "WARNING: position BTCUSDT 0.100 left open, its stop-loss STOP_MARKET 58800.0 sent "
            "but not confirmed by the exchange (see the log)",
            Severity.WARNING,
        )
    ]


def test_a_stop_loss_on_the_other_side_does_not_guard_the_position() -> None:
    # The long's SELL stop at 58800.0, accepted; the position is now short (a flip unseen).
    rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.100", "60000")
    rig.venue.accept(rig.last_cid())

    # named with its side: "WITHOUT a stop-loss (only STOP_MARKET ...)" read as a contradiction
    assert _guards({"BTCUSDT": D("-0.100")}, rig.book.orders.values()) == [
        SummaryLine(
            "WARNING: position BTCUSDT -0.100 left open WITHOUT an exchange-side stop-loss (only "
            "STOP_MARKET 58800.0 SELL, which does not close a short)",
            Severity.WARNING,
        )
    ]


def test_after_the_stop_a_snapshot_of_a_position_without_its_stop_loss_places_one() -> None:
    # Long 0.100 from 60000, its stop (58800.0) accepted; the trading stops; the exchange's
    # cancel of the stop comes in (a reconciliation's), then the reconciliation's snapshot.
    rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.100", "60000")
    stop = rig.last_cid()
    rig.venue.accept(stop)
    rig.em.stop_trading()
    sent = len(rig.venue.submitted)

    rig.venue.confirm_cancel(stop)
    assert len(rig.venue.submitted) == sent  # judged at the snapshot, on the whole picture
    rig.venue.reconciled(Position(symbol="BTCUSDT", qty=D("0.100"), entry_price=D("60000")))

    [again] = rig.venue.submitted[sent:]
    assert (again.type, again.side, again.close_position, again.stop_price) == (
        OrderType.STOP_MARKET,
        Side.SELL,
        True,
        D("58800.0"),
    )


def test_after_the_stop_a_snapshot_of_a_guarded_position_sends_nothing() -> None:
    rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.100", "60000")
    rig.venue.accept(rig.last_cid())
    rig.em.stop_trading()
    sent = len(rig.venue.submitted)

    now = rig.clock.now_ms()
    rig.venue.emit(
        VenueSnapshot(
            event_time_ms=now,
            recv_time_ms=now,
            balances=(),
            positions=(Position(symbol="BTCUSDT", qty=D("0.100"), entry_price=D("60000")),),
            open_orders=tuple(rig.book.orders.values()),  # the stop-loss, listed
            reason="stop",
            symbols=("BTCUSDT",),
        )
    )

    assert len(rig.venue.submitted) == sent


def test_after_the_stop_a_position_whose_stop_level_is_crossed_is_a_warning(caplog) -> None:
    # Long 0.100 from 60000: its stop-loss level, 58800.0, is past at 58000 when the exchange's
    # cancel of its stop comes in; no market close is sent at the stop, and the log says so.
    rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.100", "60000")
    stop = rig.last_cid()
    rig.venue.accept(stop)
    rig.em.stop_trading()
    rig.trade("58000")
    rig.venue.confirm_cancel(stop)
    sent = len(rig.venue.submitted)

    with caplog.at_level(logging.WARNING):
        rig.venue.reconciled(Position(symbol="BTCUSDT", qty=D("0.100"), entry_price=D("60000")))

    assert len(rig.venue.submitted) == sent
    assert [r.getMessage() for r in caplog.records] == [
        "BTCUSDT: position 0.100 left open without a stop-loss on the exchange at the stop, and "
        "none was placed (last price 58000, trading ACTIVE: risk.stop_loss_pct is 0, its level "
        "is already crossed, or trading is HALTED; see the journal)"
    ]
