from dataclasses import FrozenInstanceError, replace
from decimal import Decimal

import pytest

from core.enums import ForcedClose, OrderStatus, OrderType, Side, TimeInForce
from core.orders import (
    ORDER_TRANSITIONS,
    ClientOrderIds,
    IllegalTransition,
    Order,
    OrderRequest,
    can_transition,
    forced_close,
)

S = OrderStatus
LEGAL = {
    S.PENDING_SUBMIT: {
        S.NEW,
        S.PARTIALLY_FILLED,
        S.FILLED,
        S.CANCELED,
        S.REJECTED,
        S.EXPIRED,
        S.EXPIRED_IN_MATCH,
        S.UNKNOWN,
    },
    S.UNKNOWN: {
        S.UNKNOWN,
        S.NEW,
        S.PARTIALLY_FILLED,
        S.FILLED,
        S.CANCELED,
        S.REJECTED,
        S.EXPIRED,
        S.EXPIRED_IN_MATCH,
    },
    S.NEW: {
        S.NEW,
        S.PARTIALLY_FILLED,
        S.FILLED,
        S.CANCELED,
        S.EXPIRED,
        S.EXPIRED_IN_MATCH,
        S.UNKNOWN,
    },
    S.PARTIALLY_FILLED: {
        S.PARTIALLY_FILLED,
        S.FILLED,
        S.CANCELED,
        S.EXPIRED,
        S.EXPIRED_IN_MATCH,
        S.UNKNOWN,
    },
    S.FILLED: set(),
    S.CANCELED: set(),
    S.REJECTED: set(),
    S.EXPIRED: set(),
    S.EXPIRED_IN_MATCH: set(),
}
ALL_PAIRS = [(a, b) for a in OrderStatus for b in OrderStatus]


def make_order(status: OrderStatus) -> Order:
    request = OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.010"),
        price=Decimal("61590.3"),
        time_in_force=TimeInForce.GTC,
        client_order_id="t-1",
    )
    order = Order.from_request(request, now_ms=1_723_161_256_320)
    return order if status is S.PENDING_SUBMIT else _force(order, status)


def _force(order: Order, status: OrderStatus) -> Order:
    return replace(order, status=status)


def test_table_covers_every_status():
    assert set(ORDER_TRANSITIONS) == set(OrderStatus)
    assert {k: set(v) for k, v in ORDER_TRANSITIONS.items()} == LEGAL


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=lambda s: s.value)
def test_every_transition_is_legal_or_raises(current, target):
    order = make_order(current)
    if target in LEGAL[current]:
        moved = order.transition(target, ts_ms=1_723_161_256_999)
        assert moved.status is target
        assert moved.updated_ms == 1_723_161_256_999
        assert order.status is current  # the original is untouched
    else:
        with pytest.raises(IllegalTransition) as err:
            order.transition(target, ts_ms=1_723_161_256_999)
        assert err.value.current is current and err.value.target is target
        assert can_transition(current, target) is False


def test_terminal_statuses_accept_nothing():
    for status in (S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED, S.EXPIRED_IN_MATCH):
        assert not any(can_transition(status, t) for t in OrderStatus)


def test_fill_progress_is_recorded_and_cannot_shrink():
    order = make_order(S.NEW)
    partial = order.transition(
        S.PARTIALLY_FILLED, ts_ms=2, filled_qty=Decimal("0.004"), avg_price=Decimal("61590.3")
    )
    assert partial.remaining_qty == Decimal("0.006")
    with pytest.raises(ValueError, match="cannot shrink"):
        partial.transition(S.PARTIALLY_FILLED, ts_ms=3, filled_qty=Decimal("0.003"))


def test_order_is_immutable():
    order = make_order(S.NEW)
    with pytest.raises(FrozenInstanceError):
        order.status = S.FILLED  # type: ignore[misc]


def test_exchange_id_is_kept_once_known():
    order = make_order(S.PENDING_SUBMIT).transition(S.NEW, ts_ms=5, order_id=4071203392)
    assert order.transition(S.CANCELED, ts_ms=6).order_id == 4071203392


# --- the exchange's own orders ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_order_id", "kind"),
    [
        ("autoclose-1234567890", ForcedClose.LIQUIDATION),  # the upstream fixtures' ids
        ("autoclose-insurance-5678", ForcedClose.LIQUIDATION),
        ("adl_autoclose_12345", ForcedClose.ADL),
        ("adl_autoclose", ForcedClose.ADL),  # as the reference spells it, nothing after
        ("settlement_autoclose-9999", ForcedClose.SETTLEMENT),
        ("delivery_autoclose-BTCUSDT_250627", ForcedClose.SETTLEMENT),
        ("bfd-17", None),
        ("x-Cb7ytekJaaaa0000bbbb1111cccc22", None),
        ("Autoclose-1", None),  # Binance's prefixes are lower case
        ("my_autoclose-1", None),
    ],
)
def test_the_exchanges_own_orders_are_known_by_their_client_id(client_order_id, kind):
    assert forced_close(client_order_id) is kind


@pytest.mark.parametrize("prefix", ["autoclose", "adl_autoclose", "settlement_autoclose"])
def test_a_client_id_prefix_that_reads_as_the_exchanges_own_orders_is_refused(prefix):
    with pytest.raises(ValueError, match="the exchange's own"):
        ClientOrderIds(prefix)


@pytest.mark.parametrize("prefix", ["café", "straße", "bot٣", "ｂｆｄ"])
def test_a_client_id_prefix_outside_binances_ascii_charset_is_refused(prefix):
    # reference 6.2.1: newClientOrderId must match ^[\.A-Z\:/a-z0-9_-]{1,36}$ (-1100)
    with pytest.raises(ValueError, match="1-20 of"):
        ClientOrderIds(prefix)
