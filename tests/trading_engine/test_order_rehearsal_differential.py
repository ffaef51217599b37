"""The order path rehearsal cannot be told apart from its absence, whatever the state.

`test_order_rehearsal.py` drives three paths by hand (a flip, a cancel, a crossed stop). Here
hypothesis drives two identical rigs through the same random session (targets at market and
limit, fills whole and partial, acceptances, rejections, expiries, cancels confirmed, outcomes
unknown, prices crossing the stop-loss, take-profit and drawdown limit, market-data gaps, time
passing over the stale-order watch and REDUCING's retries, the kill switch, an operator's
reset), and the second one rehearses an order after every step, with the collaborators'
effectful methods rigged to fail if a rehearsal reaches them. Each rehearsal must leave the
ExecManager's state as it found it, and at the end both rigs must have journaled, sent,
cancelled and booked exactly the same things.
"""

from dataclasses import dataclass, field
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.enums import OrderType, TradingState
from core.market import Trade
from core.orders import TargetPosition
from tests.trading_engine.support import BUY, SELL, Rig, make_rig
from tests.trading_engine.test_order_rehearsal import _state, _tripwires

SYMBOL = "BTCUSDT"
PRICE0 = 60_000
QTY_STEP = D("0.005")

# The arguments of each kind of step; orders and their answers come most often.
_ARGS = {
    "target": st.tuples(
        st.sampled_from([2, -2, 4, -4, 1, -1, 0]), st.sampled_from(["market", "limit"])
    ),
    "trade": st.tuples(st.integers(-40, 40), st.just(0)),
    "accept": st.tuples(st.integers(0, 7), st.just(0)),
    "fill": st.tuples(st.integers(0, 7), st.booleans()),
    "mark": st.tuples(st.integers(-40, 40), st.just(0)),
    "confirm_cancel": st.tuples(st.integers(0, 7), st.just(0)),
    "reject": st.tuples(st.integers(0, 7), st.just(0)),
    "expire": st.tuples(st.integers(0, 7), st.just(0)),
    "unknown": st.tuples(st.integers(0, 7), st.just(0)),
    "wait_s": st.tuples(st.integers(1, 90), st.just(0)),
    "gap": st.tuples(st.sampled_from([True, False, False, False]), st.just(0)),  # mostly shut
    "operator": st.tuples(st.sampled_from(["kill", "reset"]), st.just(0)),
}
_WEIGHTED_KINDS = [*["target", "trade", "accept", "fill"] * 3, *_ARGS]
# One step of a session: (kind, argument, argument).
_STEP = st.sampled_from(_WEIGHTED_KINDS).flatmap(
    lambda kind: _ARGS[kind].map(lambda args: (kind, *args))
)


@dataclass
class _Session:
    """A rig and what the test knows of each order sent to it (to answer only as Binance
    could: accept / reject a new order, fill or cancel a live one)."""

    rig: Rig
    rehearse: bool
    price: D = D(PRICE0)
    status: dict[str, str] = field(default_factory=dict)  # cid -> sent / live / done
    last_trade: Trade | None = None
    rehearsed: int = 0

    def _orders(self, *states: str) -> list[str]:
        for request in self.rig.venue.submitted:
            self.status.setdefault(request.client_order_id, "sent")
        return [cid for cid, s in self.status.items() if s in states]

    def _pick(self, index: int, *states: str) -> str | None:
        cids = self._orders(*states)
        return cids[index % len(cids)] if cids else None

    def step(self, kind: str, a: object, b: object) -> None:
        rig, venue = self.rig, self.rig.venue
        if kind == "target":
            assert isinstance(a, int)
            qty = QTY_STEP * a
            price = None if b == "market" else self.price - (50 if qty > 0 else -50)
            rig.say(TargetPosition(symbol=SYMBOL, qty=qty, price=price), close=str(self.price))
        elif kind in ("trade", "mark"):
            assert isinstance(a, int)
            self.price = D(PRICE0 + 50 * a)
            rig.clock.advance_ms(100)
            if kind == "mark":
                rig.mark(str(self.price))
            else:
                self.last_trade = rig.trade(str(self.price))
        elif kind == "accept":
            if cid := self._pick(int(a), "sent"):  # type: ignore[call-overload]
                self.status[cid] = "live"
                venue.accept(cid)
        elif kind == "fill":
            if cid := self._pick(int(a), "sent", "live"):  # type: ignore[call-overload]
                self._fill(cid, partial=bool(b))
        elif kind == "confirm_cancel":
            asked = {c for _, c in venue.cancels}
            live = [c for c in self._orders("sent", "live") if c in asked]
            if live:
                cid = live[int(a) % len(live)]  # type: ignore[call-overload]
                self.status[cid] = "done"
                venue.confirm_cancel(cid)
        elif kind in ("reject", "unknown"):
            if cid := self._pick(int(a), "sent"):  # type: ignore[call-overload]
                self.status[cid] = "done"
                getattr(venue, kind)(cid)
        elif kind == "expire":
            if cid := self._pick(int(a), "live"):  # type: ignore[call-overload]
                self.status[cid] = "done"
                venue.expire(cid, "test")
        elif kind == "wait_s":
            rig.clock.advance_ms(1_000 * int(a))  # type: ignore[call-overload]
            rig.em.on_timer()
            self.last_trade = rig.trade(str(self.price))
        elif kind == "gap":
            (rig.gaps.add if a else rig.gaps.discard)(SYMBOL)
        elif kind == "operator":  # the kill switch, or a reset to ACTIVE after it or a halt
            if a == "kill":
                rig.em.kill("test")
            elif rig.risk.state is not TradingState.ACTIVE:
                rig.em.reset("test")
        if self.rehearse:
            self._rehearse()

    def _fill(self, cid: str, *, partial: bool) -> None:
        venue = self.rig.venue
        request = venue.requests[cid]
        if request.quantity is None:  # a closePosition stop closes the position
            left = abs(self.rig.book.position(SYMBOL).qty)
            if left == 0:
                return
        else:
            left = request.quantity - venue.filled.get(cid, D(0))
        qty = (left / 2).quantize(D("0.001")) if partial else left
        if qty <= 0:
            qty = left
        if request.quantity is not None and venue.filled.get(cid, D(0)) + qty == request.quantity:
            self.status[cid] = "done"
        elif request.quantity is None:
            self.status[cid] = "done"
            qty = left
        else:
            self.status[cid] = "live"
        if request.type is OrderType.LIMIT and request.price is not None:
            price = request.price
        elif request.stop_price is not None:
            price = request.stop_price
        else:
            price = self.price
        venue.fill(cid, price, qty)

    def _rehearse(self) -> None:
        trade = self.last_trade
        if trade is None:
            return
        em = self.rig.em
        before = _state(self.rig)
        runs = em.rehearsals
        with pytest.MonkeyPatch.context() as mp:
            _tripwires(self.rig, mp)
            em.rehearse_order(trade, self.rig.clock.now_ms())
        assert em._rehearsal.enabled, "a rehearsal raised (see the warning logged)"
        assert _state(self.rig) == before
        self.rehearsed += em.rehearsals - runs

    def outcome(self) -> tuple:
        rig = self.rig
        return (
            list(rig.journal.events),
            list(rig.venue.submitted),
            list(rig.venue.cancels),
            list(rig.venue.cancel_alls),
            list(rig.venue.cancel_alls_keeping_protection),
            dict(rig.book.orders),
            rig.book.position(SYMBOL),
            rig.book.wallet("USDT"),
            rig.book.orders_by_status,
            rig.risk.state,
            rig.em._ids.next_seq,
        )


def _rig() -> Rig:
    return make_rig(
        stop_loss_pct=D("1"),  # 600 USDT at 60,000: 12 steps of the trades below
        take_profit_pct=D("2"),
        max_drawdown_pct=D("0.2"),  # 20 USDT of 10,000: 0.02 BTC down 1,000
        max_orders_per_minute=12,
    )


def _both(steps) -> tuple[_Session, _Session]:
    """The same session run plainly and with a rehearsal after every step; equal outcomes."""
    plain, rehearsing = _Session(_rig(), rehearse=False), _Session(_rig(), rehearse=True)
    for session in (plain, rehearsing):
        session.last_trade = session.rig.trade(str(PRICE0))
    for kind, a, b in steps:
        plain.step(kind, a, b)
        rehearsing.step(kind, a, b)
    assert rehearsing.outcome() == plain.outcome()
    return plain, rehearsing


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(_STEP, min_size=8, max_size=40))
def test_a_session_with_rehearsals_is_the_session_without(steps):
    _, rehearsing = _both(steps)
    # What the sessions reached (`pytest --hypothesis-show-statistics`).
    event(f"rehearsals run: {min(rehearsing.rehearsed, 10)}")
    event(f"orders sent: {min(len(rehearsing.rig.venue.submitted), 10)}")
    event(f"trading state at the end: {rehearsing.rig.risk.state}")


def test_rehearsals_run_long_short_and_with_protection_resting():
    """The property is only worth something where rehearsals run: in this session (long with
    its stop-loss and take-profit resting, a flip on its way while both protective orders
    fill, short with a new stop-loss) they run after 12 of its 13 steps, and change nothing."""
    _, s = _both(
        [
            ("target", 2, "market"),  # te-1 BUY 0.010
            ("accept", 0, 0),
            ("fill", 0, False),  # long 0.010: te-2 stop-loss, te-3 take-profit sent
            ("accept", 0, 0),  # te-2 accepted
            ("trade", 2, 0),
            ("target", -2, "market"),  # te-4 SELL 0.020, unanswered to the end
            ("accept", 0, 0),  # te-3 accepted
            ("fill", 0, True),  # te-2 fills (a close-position stop closes it all): flat
            ("fill", 0, False),  # te-3 fills too: short 0.010, te-5 its stop-loss
            ("trade", -2, 0),
            ("target", 0, "market"),  # decided; no order while te-4 is in flight
            ("wait_s", 40, 0),
            ("trade", 30, 0),
        ]
    )
    sent = [(r.type, r.side, r.quantity) for r in s.rig.venue.submitted]
    assert sent == [
        (OrderType.MARKET, BUY, D("0.010")),
        (OrderType.STOP_MARKET, SELL, None),
        (OrderType.TAKE_PROFIT_MARKET, SELL, D("0.010")),
        (OrderType.MARKET, SELL, D("0.020")),
        (OrderType.STOP_MARKET, BUY, None),
    ]
    assert s.rig.book.position(SYMBOL).qty == D("-0.010")
    assert s.rehearsed == 12
