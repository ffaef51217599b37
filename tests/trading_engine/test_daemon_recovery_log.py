"""The start-up log of what was "recovered": only what happened while the daemon was down,
not what the new session saw live or caused itself while the reconciliation ran."""

from decimal import Decimal as D

from core.enums import OrderStatus, ReconcileCause, Side
from core.events import OrderCanceled, OrderFilled, OrderReconciled, OrderRejected
from core.orders import Fill
from trading_engine.recovery_log import recovery_lines as _recovery_lines

BACK_MS = 1_723_118_400_000  # the exchange's time when the user stream connected again


def _filled(cid: str, trade_id: int, time_ms: int) -> OrderFilled:
    fill = Fill(
        symbol="BTCUSDT", order_id=7, client_order_id=cid, trade_id=trade_id, side=Side.SELL,
        price=D("60000.0"), qty=D("0.001"), commission=D("0.024"), commission_asset="USDT",
        realized_pnl=D("-0.5"), is_maker=False, trade_time_ms=time_ms, recv_time_ms=time_ms,
    )  # fmt: skip
    return OrderFilled(
        event_time_ms=time_ms, recv_time_ms=time_ms, fill=fill, cumulative_qty=D("0.001"),
        avg_price=D("60000.0"),
    )  # fmt: skip


def test_only_what_happened_while_the_daemon_was_down_is_listed_as_recovered():
    events = [
        _filled("te-3", 501, BACK_MS - 60_000),  # the stop-loss fired while down: recovered
        _filled("te-4", 502, BACK_MS + 200),  # a resting order filled live during the start
        OrderCanceled(  # the last run's order, cancelled live during the start
            event_time_ms=BACK_MS + 300, recv_time_ms=BACK_MS + 300, symbol="BTCUSDT",
            client_order_id="te-4", order_id=8,
        ),
        OrderRejected(  # the new session's own flatten, refused before it was sent
            event_time_ms=BACK_MS + 900, recv_time_ms=BACK_MS + 900, symbol="BTCUSDT",
            client_order_id="te-9", code=0, reason="venue is not running",
        ),
        OrderReconciled(  # in flight at the kill, resolved now: what the start recovered
            event_time_ms=BACK_MS + 700, recv_time_ms=BACK_MS + 700, symbol="BTCUSDT",
            client_order_id="te-5", status=OrderStatus.REJECTED,
        ),
    ]  # fmt: skip

    lines = _recovery_lines(events, back_ms=BACK_MS, restored_ids={"te-3", "te-4", "te-5"})

    assert lines == [
        "fill BTCUSDT trade 501 of te-3: SELL 0.001 @ 60000.0, fee 0.024 USDT, realized -0.5",
        "order te-5 (BTCUSDT) resolved as REJECTED",
    ]


def test_a_taken_over_order_its_outside_fills_completed_is_not_listed_as_resolved():
    events = [
        OrderReconciled(  # an earlier journal's order, its fills while down completed it
            event_time_ms=BACK_MS - 5_000, recv_time_ms=BACK_MS + 700, symbol="BTCUSDT",
            client_order_id="te-q0q0q0-3", status=OrderStatus.FILLED,
            cause=ReconcileCause.TAKEN_OVER_FILLS,
        ),
    ]  # fmt: skip

    lines = _recovery_lines(events, back_ms=BACK_MS, restored_ids=set())

    assert lines == [
        "order te-q0q0q0-3 (BTCUSDT), taken over, is FILLED: filled by its fills booked as "
        "outside:te-q0q0q0-3"
    ]
