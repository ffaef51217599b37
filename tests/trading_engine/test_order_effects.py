"""`trading_engine.order_effects.dry_effects`: the order path's effects with none. The check,
the record of a decision with its order and the submit are rehearsed; every other effect stops
the dry run before it happens (fails closed)."""

from decimal import Decimal as D
from functools import partial

import pytest

from core.enums import OrderType, Side
from core.events import DecisionMade, OrderSubmitted
from core.orders import ClientOrderIds, OrderRequest
from trading_engine.order_effects import DryRunStopped, dry_effects

T0 = 1_700_000_000_000
REQUEST = OrderRequest(
    symbol="BTCUSDT",
    side=Side.BUY,
    type=OrderType.MARKET,
    quantity=D("0.002"),
    client_order_id="te-7",
)
DECISION = DecisionMade(
    event_time_ms=T0, recv_time_ms=T0, symbol="BTCUSDT", strategy="s", action="a", reason="r"
)
SUBMITTED = OrderSubmitted(event_time_ms=T0, recv_time_ms=T0, request=REQUEST)


def _effects(calls: list[tuple[str, object]], *, checked: bool = True):
    def rehearse_check(request, **kw):
        calls.append(("check", (request, kw)))
        return checked

    return dry_effects(
        rehearse_check=rehearse_check,
        rehearse_many=lambda events: calls.append(("many", tuple(events))),
        rehearse_send=lambda request: calls.append(("send", request)),
        peek_id=lambda: "te-7",
        gap_open=lambda _symbol: True,
        clock_offset_ms=lambda: 900,
    )


@pytest.mark.parametrize("checked", [True, False])
def test_the_check_is_rehearsed_without_gap_offset_or_lag_and_approves_either_way(checked):
    calls: list[tuple[str, object]] = []
    fx = _effects(calls, checked=checked)

    approved = fx.check(
        REQUEST, gap_open=True, clock_offset_ms=900, risk_reducing=False, data_lag_ms=5, now_ms=T0
    )

    assert approved is REQUEST  # the rest of the path runs, whatever the check said
    assert calls == [
        (
            "check",
            (REQUEST, {"gap_open": False, "clock_offset_ms": 0, "data_lag_ms": 0, "now_ms": T0}),
        )
    ]


def test_a_decision_with_its_order_is_rehearsed_and_so_is_the_submit():
    calls: list[tuple[str, object]] = []
    fx = _effects(calls)

    assert fx.record_many is not None
    fx.record_many((DECISION, SUBMITTED))
    fx.send(REQUEST)

    assert calls == [("many", (DECISION, SUBMITTED)), ("send", REQUEST)]


@pytest.mark.parametrize(
    "effect",
    [
        lambda fx: fx.record(DECISION),
        lambda fx: fx.record_many((DECISION, DECISION)),  # a cancel's decisions
        lambda fx: fx.record_many((SUBMITTED, DECISION)),
        lambda fx: fx.record_many(()),
        lambda fx: fx.cancel("BTCUSDT", "te-1"),
        lambda fx: fx.cancel_all("BTCUSDT", keep_protection=True),
        lambda fx: fx.await_answer("te-2", T0),
    ],
)
def test_every_other_effect_stops_the_dry_run_before_it_happens(effect):
    calls: list[tuple[str, object]] = []
    fx = _effects(calls)

    with pytest.raises(DryRunStopped, match="not rehearsed"):
        effect(fx)
    assert calls == []


def test_the_rest_is_no_effect_the_next_id_read_and_the_answers_asked_as_given():
    ids = ClientOrderIds("te", 7)
    fx = dry_effects(
        rehearse_check=lambda *a, **kw: True,
        rehearse_many=None,
        rehearse_send=None,
        peek_id=partial(ids.next, take=False),
        gap_open=lambda symbol: symbol == "ETHUSDT",
        clock_offset_ms=lambda: 900,
    )

    assert fx.next_id() == fx.next_id() == "te-7"  # the next id, not taken
    assert ids.next() == "te-7"
    assert fx.apply(SUBMITTED) is None
    assert fx.watch("te-1", T0) is None
    assert (fx.gap_open("BTCUSDT"), fx.gap_open("ETHUSDT")) == (False, True)
    assert fx.clock_offset_ms() == 900
    # A journal or venue without a rehearsal: skipped, the batch still checked
    assert fx.record_many is not None and fx.record_many((DECISION, SUBMITTED)) is None
    assert fx.send(REQUEST) is None
    with pytest.raises(DryRunStopped):
        fx.record_many((DECISION,))
