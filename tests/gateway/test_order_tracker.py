"""OrderTracker: each order event once, whatever order and however often the exchange reports."""

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from core.enums import (
    ExecutionType,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
)
from core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
    OrderRejected,
    OrderStatusUnknown,
)
from core.orders import OrderRequest
from gateway.order_tracker import OrderTracker
from gateway.user_wire import (
    AlgoStatus,
    AlgoUpdate,
    OrderUpdate,
    UserTrade,
    decode_user_frame,
    order_of,
    parse_user_event,
)

CONSTRUCTED = (
    Path(__file__).resolve().parents[1] / "fixtures" / "binance_api" / "upstream_constructed"
)

S = OrderStatus
X = ExecutionType
D = Decimal


def limit(cid: str = "bfd-1", qty: str = "0.010") -> OrderRequest:
    return OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=D(qty),
        price=D("60000.0"),
        time_in_force=TimeInForce.GTC,
        client_order_id=cid,
    )


def stop(cid: str = "bfd-9", *, close: bool = False) -> OrderRequest:
    return OrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=OrderType.STOP_MARKET,
        quantity=None if close else D("0.010"),
        stop_price=D("59000.0"),
        close_position=close,
        client_order_id=cid,
    )


def report(
    status: OrderStatus,
    *,
    cid: str = "bfd-1",
    order_id: int = 11,
    cum: str = "0",
    execution: ExecutionType | None = None,
    last: str = "0",
    price: str = "60000.0",
    trade_id: int = 0,
    qty: str = "0.010",
    t: int = 100,
) -> OrderUpdate:
    return OrderUpdate(
        symbol="BTCUSDT",
        client_order_id=cid,
        order_id=order_id,
        side=Side.BUY,
        type=OrderType.LIMIT,
        orig_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=D(qty),
        price=D("60000.0"),
        avg_price=D(0),
        stop_price=D(0),
        status=status,
        cum_qty=D(cum),
        reduce_only=False,
        close_position=False,
        position_side=PositionSide.BOTH,
        event_time_ms=t,
        recv_time_ms=t + 1,
        execution=execution,
        last_qty=D(last),
        last_price=D(price),
        trade_id=trade_id,
        trade_time_ms=t,
        commission=D("0.012"),
        commission_asset="USDT",
    )


def trade(trade_id: int, qty: str, *, order_id: int = 11, price: str = "60000.0") -> UserTrade:
    return UserTrade(
        symbol="BTCUSDT",
        trade_id=trade_id,
        order_id=order_id,
        side=Side.BUY,
        position_side=PositionSide.BOTH,
        price=D(price),
        qty=D(qty),
        realized_pnl=D(0),
        commission=D("0.012"),
        commission_asset="USDT",
        is_maker=True,
        time_ms=200 + trade_id,
        recv_time_ms=300,
    )


def algo(status: AlgoStatus, *, cid: str = "bfd-9", actual: int | None = None) -> AlgoUpdate:
    return AlgoUpdate(
        symbol="BTCUSDT",
        client_algo_id=cid,
        algo_id=7,
        side=Side.SELL,
        order_type=OrderType.STOP_MARKET,
        quantity=D("0.010"),
        status=status,
        trigger_price=D("59000.0"),
        price=D(0),
        reduce_only=False,
        close_position=False,
        position_side=PositionSide.BOTH,
        time_in_force=TimeInForce.GTC,
        actual_order_id=actual,
        filled_qty=D(0),
        reason="",
        event_time_ms=150,
        recv_time_ms=151,
    )


def events_of(applied):
    assert applied is not None
    return applied[1]


def kinds(events) -> list[str]:
    return [type(e).__name__ for e in events]


def test_rest_answer_and_stream_report_give_one_accepted():
    tracker = OrderTracker()
    tracker.track(limit(), now_ms=1)

    first = events_of(tracker.apply_order(report(S.NEW, execution=X.NEW)))
    second = events_of(tracker.apply_order(report(S.NEW)))

    assert first == [
        OrderAccepted(
            event_time_ms=100,
            recv_time_ms=101,
            symbol="BTCUSDT",
            client_order_id="bfd-1",
            order_id=11,
        )
    ]
    assert second == []
    assert tracker.get("bfd-1").status is S.NEW


def test_a_fill_seen_on_the_stream_and_in_user_trades_is_emitted_once():
    tracker = OrderTracker()
    tracker.track(limit(), now_ms=1)
    tracker.apply_order(report(S.NEW))

    stream = events_of(
        tracker.apply_order(
            report(S.PARTIALLY_FILLED, cum="0.004", execution=X.TRADE, last="0.004", trade_id=5)
        )
    )
    again = events_of(tracker.apply_trade(trade(5, "0.004")))

    (fill,) = stream
    assert isinstance(fill, OrderPartiallyFilled)
    assert (fill.cumulative_qty, fill.avg_price, fill.fill.trade_id) == (D("0.004"), D("6E+4"), 5)
    assert again == []
    assert tracker.stats.duplicate_fills == 1


def test_fills_complete_the_order_and_average_the_price():
    tracker = OrderTracker()
    tracker.track(limit(), now_ms=1)

    # before the order id is known, a trade cannot be attributed (and is not remembered)
    assert tracker.apply_trade(trade(5, "0.004", price="60000.0")) is None
    tracker.apply_order(report(S.NEW))
    a = events_of(tracker.apply_trade(trade(5, "0.004", price="60000.0")))
    b = events_of(tracker.apply_trade(trade(6, "0.006", price="60010.0")))

    assert kinds(a) == ["OrderPartiallyFilled"]
    (done,) = b
    assert isinstance(done, OrderFilled)
    # (0.004 * 60000 + 0.006 * 60010) / 0.010 = 60006
    assert (done.cumulative_qty, done.avg_price) == (D("0.010"), D("60006"))
    order = tracker.get("bfd-1").order
    assert (order.status, order.filled_qty, order.avg_price) == (S.FILLED, D("0.010"), D("60006"))


def test_a_stale_new_after_a_fill_changes_nothing():
    tracker = OrderTracker()
    tracker.track(limit(), now_ms=1)
    tracker.apply_order(
        report(S.PARTIALLY_FILLED, cum="0.004", execution=X.TRADE, last="0.004", trade_id=5)
    )

    late = events_of(tracker.apply_order(report(S.NEW)))

    assert late == []
    assert tracker.get("bfd-1").status is S.PARTIALLY_FILLED


def test_cancel_waits_for_fills_the_exchange_reported_but_we_missed():
    tracker = OrderTracker()
    tracker.track(limit(), now_ms=1)
    tracker.apply_order(report(S.NEW))

    canceled = events_of(tracker.apply_order(report(S.CANCELED, cum="0.004")))
    tracked = tracker.get("bfd-1")
    assert canceled == [] and tracked.needs_fills and tracked.status is S.NEW
    caught_up = events_of(tracker.apply_trade(trade(5, "0.004")))

    assert kinds(caught_up) == ["OrderPartiallyFilled", "OrderCanceled"]
    assert tracked.status is S.CANCELED and not tracked.needs_fills


def test_unknown_outcome_then_the_stream_shows_the_order():
    tracker = OrderTracker()
    tracker.track(limit(), now_ms=1)

    unknown = tracker.unknown("bfd-1", reason="timeout", sent_at_ms=50, now_ms=60, recv_ms=61)
    known = events_of(tracker.apply_order(report(S.NEW)))

    assert kinds(unknown) == ["OrderStatusUnknown"]
    assert isinstance(unknown[0], OrderStatusUnknown) and unknown[0].reason == "timeout"
    assert kinds(known) == ["OrderAccepted", "OrderReconciled"]
    assert isinstance(known[1], OrderReconciled) and known[1].status is S.NEW
    assert tracker.unknown_ids() == []


def test_unknown_after_the_stream_already_answered_is_not_reported():
    tracker = OrderTracker()
    tracker.track(limit(), now_ms=1)
    tracker.apply_order(report(S.NEW))

    assert tracker.unknown("bfd-1", reason="hang-up", sent_at_ms=5, now_ms=6, recv_ms=7) == []
    assert tracker.get("bfd-1").status is S.NEW


def test_a_create_timeout_while_a_cancel_is_in_flight_leaves_an_accepted_order_known():
    """The stream showed the order NEW and a cancel went out; then the create request's own
    timeout arrives: that says nothing new about the order. A cancel in doubt does."""
    tracker = OrderTracker()
    tracker.track(limit(), now_ms=1)
    tracker.apply_order(report(S.NEW))
    tracker.get("bfd-1").cancel_inflight = True

    create = tracker.unknown("bfd-1", reason="timeout", sent_at_ms=5, now_ms=6, recv_ms=7)
    assert create == [] and tracker.get("bfd-1").status is S.NEW

    cancel = tracker.unknown(
        "bfd-1", reason="cancel: timeout", sent_at_ms=8, now_ms=9, recv_ms=10, cancel=True
    )
    assert kinds(cancel) == ["OrderStatusUnknown"]
    assert tracker.get("bfd-1").status is S.UNKNOWN


def test_never_placed_is_reconciled_as_rejected():
    tracker = OrderTracker()
    tracker.track(limit(), now_ms=1)
    tracker.unknown("bfd-1", reason="503", sent_at_ms=5, now_ms=6, recv_ms=7)

    events = tracker.never_placed("bfd-1", now_ms=9000, recv_ms=9001)

    assert events == [
        OrderReconciled(
            event_time_ms=9000,
            recv_time_ms=9001,
            symbol="BTCUSDT",
            client_order_id="bfd-1",
            status=S.REJECTED,
        )
    ]
    assert tracker.get("bfd-1").status is S.REJECTED


def test_rejection_is_final_and_a_second_one_is_ignored():
    tracker = OrderTracker()
    tracker.track(limit(), now_ms=1)

    first = tracker.rejected(
        "bfd-1", code=-2019, reason="Margin is insufficient.", now_ms=2, recv_ms=3
    )
    second = tracker.rejected("bfd-1", code=-2019, reason="again", now_ms=4, recv_ms=5)

    assert isinstance(first[0], OrderRejected) and first[0].code == -2019
    assert second == []


def test_ioc_remainder_expires_after_its_fill():
    tracker = OrderTracker()
    tracker.track(limit(), now_ms=1)
    tracker.apply_order(report(S.NEW))
    tracker.apply_order(
        report(S.PARTIALLY_FILLED, cum="0.003", execution=X.TRADE, last="0.003", trade_id=8)
    )

    expired = events_of(
        tracker.apply_order(replace(report(S.EXPIRED, cum="0.003"), expiry_reason="2"))
    )

    (event,) = expired
    assert isinstance(event, OrderExpired) and event.reason == "IOC remainder"


def test_algo_order_lifecycle_from_arming_to_fill():
    tracker = OrderTracker()
    tracker.track(stop(), now_ms=1)

    armed = events_of(tracker.apply_algo(algo(AlgoStatus.NEW)))
    again = events_of(tracker.apply_algo(algo(AlgoStatus.NEW)))
    triggered = events_of(tracker.apply_algo(algo(AlgoStatus.TRIGGERED, actual=900)))
    placed = events_of(tracker.apply_order(report(S.NEW, cid="bfd-9", order_id=900)))
    filled = events_of(
        tracker.apply_order(
            report(S.FILLED, cid="bfd-9", order_id=900, cum="0.010", execution=X.TRADE,
                   last="0.010", trade_id=77)
        )
    )  # fmt: skip
    finished = events_of(tracker.apply_algo(algo(AlgoStatus.FINISHED, actual=900)))

    assert kinds(armed) == ["OrderAccepted"]
    assert isinstance(armed[0], OrderAccepted) and armed[0].order_id == 7  # the algoId
    assert again == triggered == placed == finished == []
    (fill,) = filled
    assert isinstance(fill, OrderFilled) and fill.fill.order_id == 900
    assert tracker.get("bfd-9").status is S.FILLED


def test_close_position_stop_learns_its_size_from_the_triggered_order():
    tracker = OrderTracker()
    tracker.track(stop(close=True), now_ms=1)
    armed = replace(algo(AlgoStatus.TRIGGERED, actual=900), quantity=D(0), close_position=True)
    tracker.apply_algo(armed)

    filled = events_of(
        tracker.apply_order(
            report(S.FILLED, cid="bfd-9", order_id=900, qty="0.004", cum="0.004",
                   execution=X.TRADE, last="0.004", trade_id=78)
        )
    )  # fmt: skip

    assert kinds(filled) == ["OrderFilled"]
    assert tracker.get("bfd-9").order.quantity == D("0.004")


def test_algo_expiry_and_cancel_become_order_events():
    tracker = OrderTracker()
    tracker.track(stop("bfd-9"), now_ms=1)
    tracker.track(stop("bfd-10"), now_ms=1)
    tracker.apply_algo(algo(AlgoStatus.NEW))

    expired = events_of(
        tracker.apply_algo(replace(algo(AlgoStatus.EXPIRED), reason="No position to close."))
    )
    canceled = tracker.algo_canceled("bfd-10", algo_id=8, now_ms=5, recv_ms=6)

    assert kinds(expired) == ["OrderExpired"]
    assert isinstance(expired[0], OrderExpired)
    assert expired[0].reason == "algo order expired: No position to close."
    assert kinds(canceled) == ["OrderAccepted", "OrderCanceled"]
    assert isinstance(canceled[1], OrderCanceled) and canceled[1].order_id == 8


def test_reports_for_orders_we_do_not_track_are_counted_not_applied():
    tracker = OrderTracker(client_id_prefix="bfd")
    tracker.track(limit(), now_ms=1)

    assert tracker.apply_order(report(S.NEW, cid="bfd-98", order_id=99)) is None
    assert tracker.apply_algo(algo(AlgoStatus.NEW, cid="bfd-q0q0q0-99")) is None
    assert tracker.apply_trade(trade(1, "0.001", order_id=12345)) is None
    assert (tracker.stats.unknown_client_ids, tracker.stats.unattributed_trades) == (2, 1)
    assert tracker.get("bfd-1").status is S.PENDING_SUBMIT


def test_reports_of_hand_orders_are_counted_apart_from_untracked_ids_of_ours():
    """A hand order's reports are expected (the venue books its fills as outside); only an
    untracked id this daemon issues means something is off. Before: both in
    `unknown_client_ids`."""
    tracker = OrderTracker(client_id_prefix="bfd")

    assert tracker.apply_order(report(S.NEW, cid="web_Gh78", order_id=99)) is None
    assert tracker.apply_algo(algo(AlgoStatus.NEW, cid="web_Ij90")) is None
    assert tracker.apply_order(report(S.CANCELED, cid="bfd-98", order_id=98)) is None

    assert (tracker.stats.hand_order_reports, tracker.stats.unknown_client_ids) == (2, 1)


def test_restored_pending_order_comes_back_unknown_and_keeps_its_fills():
    tracker = OrderTracker()
    pending = tracker.track(limit("old-1"), now_ms=1).order
    other = OrderTracker()

    restored = other.restore(pending, algo=False)
    working = other.restore(
        replace(
            pending,
            client_order_id="old-2",
            order_id=12,
            status=S.PARTIALLY_FILLED,
            filled_qty=D("0.004"),
            avg_price=D("60000.0"),
        ),
        algo=False,
        trade_ids=[5],
    )

    assert restored.status is S.UNKNOWN and other.unknown_ids() == ["old-1"]
    assert events_of(other.apply_trade(trade(5, "0.004", order_id=12))) == []
    assert kinds(events_of(other.apply_trade(trade(6, "0.006", order_id=12)))) == ["OrderFilled"]
    assert working.order.filled_qty == D("0.010")


def test_a_dropped_order_is_untracked_and_its_reports_are_an_untracked_orders():
    """A take-over undone (`VenueSync.reconcile` failed): the order is found neither by its
    client id nor by its exchange id, and its fill is not emitted as its own."""
    tracker = OrderTracker(client_id_prefix="bfd")
    order = tracker.track(limit("bfd-q0q0q0-3"), now_ms=1).order
    taken = replace(order, order_id=12, status=S.PARTIALLY_FILLED, filled_qty=D("0.004"))
    tracker = OrderTracker(client_id_prefix="bfd")
    tracker.restore(taken, algo=False, taken_over_qty=D("0.004"))

    tracker.drop("bfd-q0q0q0-3")

    assert tracker.get("bfd-q0q0q0-3") is None and tracker.open_orders() == []
    assert tracker.by_exchange_id("BTCUSDT", 12) is None
    assert tracker.apply_trade(trade(7, "0.003", order_id=12)) is None
    assert tracker.stats.unattributed_trades == 1


def test_closed_orders_are_forgotten_beyond_the_bound():
    tracker = OrderTracker(max_closed=2)
    for n in range(3):
        tracker.track(limit(f"c-{n}"), now_ms=1)
        tracker.rejected(f"c-{n}", code=-2019, reason="margin", now_ms=2, recv_ms=3)

    assert tracker.get("c-0") is None and tracker.get("c-2") is not None
    assert tracker.stats.forgotten == 1


def test_the_open_orders_are_only_those_not_ended_whichever_way_the_others_ended():
    # 3,000 orders filled, canceled, rejected, never placed or forgotten by the exchange (each
    # way an order ends), then one resting and one in doubt; 1,000 closed ones are kept.
    tracker = OrderTracker(max_closed=1_000)
    for n in range(600):
        f, c, r, u, g = (f"{k}-{n}" for k in "fcrug")
        for k, cid in enumerate((f, c, u, g)):
            tracker.track(limit(cid), now_ms=1)
            if cid != u:
                tracker.apply_order(report(S.NEW, cid=cid, order_id=5 * n + k, execution=X.NEW))
        filled = report(S.FILLED, cid=f, order_id=5 * n, cum="0.010", last="0.010",
                        execution=X.TRADE, trade_id=n + 1)  # fmt: skip
        tracker.apply_order(filled)
        tracker.apply_order(report(S.CANCELED, cid=c, order_id=5 * n + 1, execution=X.CANCELED))
        tracker.track(limit(r), now_ms=1)
        tracker.rejected(r, code=-2019, reason="margin", now_ms=2, recv_ms=3)
        tracker.unknown(u, reason="timeout", sent_at_ms=1, now_ms=2, recv_ms=3)
        tracker.never_placed(u, now_ms=9_000, recv_ms=9_001)
        tracker.forgotten(g, now_ms=2, recv_ms=3, reason="no longer known")
    tracker.track(limit("rest-1"), now_ms=5)
    tracker.track(limit("doubt-1"), now_ms=5)
    tracker.unknown("doubt-1", reason="timeout", sent_at_ms=5, now_ms=6, recv_ms=7)

    assert [t.client_order_id for t in tracker.open_orders()] == ["rest-1", "doubt-1"]
    assert tracker.unknown_ids() == ["doubt-1"]
    assert len(tracker) == 1_000 + 2  # the closed ones kept, and the two open


# --- the exchange's own orders -----------------------------------------------------------------

LIQ = "autoclose-1723161256322"


def test_a_liquidation_order_is_tracked_on_first_sight_and_only_its_fills_come_out():
    # Reference 10.8: autoclose NEW, then its fills (x = CALCULATED); here 0.004 and 0.006.
    tracker = OrderTracker()

    new = events_of(tracker.apply_exchange_order(report(S.NEW, cid=LIQ, execution=X.NEW)))
    part = events_of(
        tracker.apply_exchange_order(
            report(S.PARTIALLY_FILLED, cid=LIQ, cum="0.004", execution=X.CALCULATED,
                   last="0.004", trade_id=5)
        )
    )  # fmt: skip
    done = events_of(
        tracker.apply_exchange_order(
            report(S.FILLED, cid=LIQ, cum="0.010", execution=X.CALCULATED, last="0.006",
                   price="60010.0", trade_id=6, t=110)
        )
    )  # fmt: skip

    assert new == []  # no OrderAccepted: nobody sent it
    assert kinds(part) == ["OrderPartiallyFilled"] and kinds(done) == ["OrderFilled"]
    (filled,) = done
    assert isinstance(filled, OrderFilled)
    # (0.004 * 60000.0 + 0.006 * 60010.0) / 0.010 = 600.36 / 0.010 = 60006
    assert (filled.cumulative_qty, filled.avg_price) == (D("0.010"), D("60006"))
    assert filled.fill.client_order_id == LIQ and filled.fill.order_id == 11
    assert tracker.get(LIQ).status is S.FILLED
    assert tracker.stats.exchange_orders == 1 and tracker.stats.unknown_client_ids == 0


def test_a_liquidation_fill_read_again_from_user_trades_is_not_emitted_twice():
    tracker = OrderTracker()
    tracker.apply_exchange_order(
        report(S.FILLED, cid=LIQ, cum="0.010", execution=X.CALCULATED, last="0.010", trade_id=5)
    )

    again = events_of(tracker.apply_trade(trade(5, "0.010")))

    assert again == [] and tracker.stats.duplicate_fills == 1


def test_a_liquidation_order_that_expires_part_done_says_nothing_of_the_expiry():
    tracker = OrderTracker()
    first = events_of(
        tracker.apply_exchange_order(
            report(S.PARTIALLY_FILLED, cid=LIQ, cum="0.004", execution=X.CALCULATED,
                   last="0.004", trade_id=5)
        )
    )  # fmt: skip

    expired = events_of(
        tracker.apply_exchange_order(report(S.EXPIRED, cid=LIQ, cum="0.004", execution=X.EXPIRED))
    )

    assert kinds(first) == ["OrderPartiallyFilled"]
    assert expired == [] and tracker.get(LIQ).status is S.EXPIRED


def test_only_the_exchanges_own_client_ids_are_taken_as_its_orders():
    tracker = OrderTracker()

    assert tracker.apply_exchange_order(report(S.NEW, cid="bfd-1")) is None
    assert tracker.get("bfd-1") is None and tracker.stats.exchange_orders == 0


def test_the_exchange_order_tracked_is_the_order_its_report_describes():
    """The liquidation report (upstream's constructed example): the tracker adopts the order
    `order_of` makes of it (one conversion for the reconciliation and the adoption), then
    applies the report: FILLED, its fill emitted."""
    frame = (CONSTRUCTED / "ORDER_TRADE_UPDATE__liquidation_CALCULATED.json").read_bytes()
    u = parse_user_event(decode_user_frame(frame), 5)
    assert isinstance(u, OrderUpdate)
    tracker = OrderTracker()

    out = events_of(tracker.apply_exchange_order(u))

    tracked = tracker.get("autoclose-1234567890")
    assert tracked is not None and tracked.forced is not None
    assert tracked.order == order_of(u)  # applied: as reported, to the last field
    assert kinds(out) == ["OrderFilled"]
    (filled,) = out
    assert (filled.fill.trade_id, filled.fill.qty, filled.fill.price) == (
        12345999,
        D("0.014"),
        D("9910.12"),
    )


def test_an_order_id_given_to_a_second_order_of_ours_is_told_as_a_reused_id() -> None:
    """The exchange gives an order id once; a reset account (a restarted local exchange, a
    testnet reset) starts its ids again: the new order's first report names the id of an
    earlier one of ours, whose index it took over without a word before (its fills then
    reused trade ids the books held, and were dropped)."""
    tracker = OrderTracker()
    told: list[str] = []
    tracker.on_reused_id = told.append
    tracker.track(limit("bfd-1"), now_ms=1)
    tracker.apply_order(report(S.NEW, cid="bfd-1", order_id=11))
    tracker.track(limit("bfd-2"), now_ms=2)

    tracker.apply_order(report(S.NEW, cid="bfd-2", order_id=11))
    tracker.apply_order(report(S.NEW, cid="bfd-2", order_id=11))  # its own id again: nothing

    assert told == [
        "BTCUSDT order id 11, given to our order bfd-2, is our earlier order bfd-1's: the "
        "exchange gives an id once"
    ]
    assert tracker.stats.reused_ids == 1
    assert tracker.by_exchange_id("BTCUSDT", 11).client_order_id == "bfd-2"


def test_algo_ids_and_order_ids_of_distinct_orders_are_not_reused_ids() -> None:
    tracker = OrderTracker()
    told: list[str] = []
    tracker.on_reused_id = told.append
    tracker.track(limit("bfd-1"), now_ms=1)
    tracker.track(stop("bfd-9"), now_ms=1)

    tracker.apply_order(report(S.NEW, cid="bfd-1", order_id=11))
    tracker.apply_algo(algo(AlgoStatus.NEW, cid="bfd-9"))
    tracker.apply_algo(algo(AlgoStatus.TRIGGERED, cid="bfd-9", actual=12))

    assert told == [] and tracker.stats.reused_ids == 0
