from dataclasses import FrozenInstanceError, replace
from decimal import Decimal

import pytest

from core.enums import ForcedClose, OrderStatus, OrderType, Side, TimeInForce
from core.orders import (
    CLIENT_ID_TAG_CHOICES,
    ORDER_TRANSITIONS,
    ClientOrderIds,
    IllegalTransition,
    Order,
    OrderRequest,
    can_transition,
    client_id_tag,
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


# --- client order ids across journals ------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "tag"),
    [
        (0, "000000"),
        (35, "00000z"),
        (36, "000010"),
        (1331, "00010z"),  # 1 x 36^2 + 0 x 36 + 35
        (36**6 - 1, "zzzzzz"),
    ],
)
def test_a_journal_tag_is_its_number_in_six_base_36_digits(number, tag):
    assert client_id_tag(number) == tag


def test_a_journal_tag_number_outside_six_digits_is_refused():
    with pytest.raises(ValueError, match="out of range"):
        client_id_tag(CLIENT_ID_TAG_CHOICES)


def test_a_tagged_journals_ids_are_prefix_tag_seq_and_keep_within_36_characters():
    assert ClientOrderIds("bfd", 41, tag="k3x9q2").next() == "bfd-k3x9q2-41"
    assert ClientOrderIds("bfd", 41).next() == "bfd-41"  # a journal of an earlier version
    # The longest prefix (20) and tag (6): 20 + 1 + 6 + 1 + 8 digits = 36, Binance's maximum.
    ids = ClientOrderIds("p" * 20, 99_999_999, tag="zzzzzz")
    assert len(ids.next()) == 36
    with pytest.raises(ValueError, match="exhausted at 100000000"):
        ids.next()  # the 37th character would be refused (-1100) on every order


@pytest.mark.parametrize("tag", ["K3X9Q2", "k3-x9", "k3x9q2k3x", "k3é9"])
def test_a_tag_outside_lower_case_base_36_is_refused(tag):
    with pytest.raises(ValueError, match="tag"):
        ClientOrderIds("bfd", tag=tag)


@pytest.mark.parametrize(
    ("client_order_id", "ours"),
    [
        ("bfd-17", True),  # a journal without a tag (an earlier version's)
        ("bfd-k3x9q2-17", True),  # any journal's tag
        ("bfd-a1b2c3-1", True),
        ("bfd-K3X9Q2-17", False),  # not a tag of ours: upper case
        ("bfd-k3x9q2-", False),
        ("bfd-k3x9q2-1x", False),
        ("bfd2-17", False),  # another prefix
        ("xbfd-17", False),
        ("bfd-k3-x9-17", False),
        ("bfd-٣", False),  # a digit, but not an ASCII one
        ("web_Zx81", False),  # placed by hand
        ("autoclose-17", False),  # the exchange's liquidation
    ],
)
def test_the_ids_a_prefix_issues_in_any_journal_are_told_from_others(client_order_id, ours):
    assert ClientOrderIds.issued_by(client_order_id, "bfd") is ours


def test_the_sequence_of_an_id_is_read_within_its_journals_stem_only():
    ids = ClientOrderIds("bfd", tag="k3x9q2")
    assert ids.stem == "bfd-k3x9q2"
    assert ClientOrderIds.seq_of("bfd-k3x9q2-17", ids.stem) == 17
    assert ClientOrderIds.seq_of("bfd-a1b2c3-17", ids.stem) is None  # another journal's
    assert ClientOrderIds.seq_of("bfd-17", ids.stem) is None
    assert ClientOrderIds.seq_of("bfd-17", "bfd") == 17
