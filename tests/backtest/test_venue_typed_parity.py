"""The venue over the engine's typed API delivers exactly the core events the wire path did.

`WireVenue` below is InProcessVenue as it was before the typed API (engine REST operations
with `gateway.order_params` dicts, its user-data JSON parsed by `gateway.user_wire`, as the
live gateway reads the wire). The same sessions run through both; the listener's core events
must be equal, field by field and in their printed form (Decimal exponents included): a
scripted session that covers every report kind (resting, partial and full fills, IOC expiry,
refusals by the engine and at the boundary, conditionals armed / canceled / triggered, a
triggered STOP canceled through its order, cancel-all, funding, a liquidation), with and
without latency; and whole backtests (bars with protective stops, trades with latency).
"""

import contextlib
import logging
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

import backtest.runner as runner
from backtest.data import load
from backtest.runner import BacktestConfig, run_backtest
from backtest.venue import InProcessVenue, VenueConfig
from core.clock import SimClock
from core.enums import NotSent, OrderType, Side, TimeInForce
from core.events import Event
from core.orders import OrderRequest, forced_close
from exchange_sim.engine import EngineConfig, Exchange
from exchange_sim.engine.reports import OrderReport
from exchange_sim.errors import BinanceError
from exchange_sim.replay.grid import load_instruments
from gateway.order_params import order_params
from gateway.user_wire import (
    AccountUpdate,
    AlgoUpdate,
    MalformedMessage,
    OrderUpdate,
    parse_user_event,
)

log = logging.getLogger(__name__)
SYMBOL = "BTCUSDT"
T0 = 1_746_403_200_000  # 2025-05-05T00:00Z, a funding instant
HOUR = 3_600_000
INSTRUMENTS = {SYMBOL: load_instruments()[SYMBOL]}  # tick 0.10, step 0.001
ROOT = Path(__file__).resolve().parents[2]


class WireVenue(InProcessVenue):
    """The venue's previous wire path (verbatim), the reference of the comparison."""

    def pump(self) -> None:
        drained: Any = self.engine.drain_user_events()
        if drained:
            if self._ack_draw is not None:
                self._ack_later(drained)
                return
            self._inbox.extend(drained)
        if not self._delivering:
            self._deliver_all()

    def _dispatch(self, account: str, data: Any) -> None:
        if account != self.account:
            return
        try:
            event = parse_user_event(data, self.clock.now_ms(), self._leverage)
        except MalformedMessage as e:
            self.stats.malformed_events += 1
            log.warning("malformed engine event skipped: %s", e)
            return
        if isinstance(event, OrderUpdate):
            if forced_close(event.client_order_id) is not None:
                self._liquidation(event)
                return
            self._applied(self.tracker.apply_order(event))
        elif isinstance(event, AlgoUpdate):
            self._applied(self.tracker.apply_algo(event))
        elif isinstance(event, AccountUpdate):
            self._wire_account_update(event)

    def _send(self, request: OrderRequest) -> None:
        engine, account = self.engine, self.account
        if self._book_feed is not None:
            self._book_feed.feed_until(self.clock.now_ms())
        try:
            params = order_params(request, self.instruments[request.symbol])
            if request.type.is_conditional:
                engine.new_algo_order(account, params)
            else:
                engine.new_order(account, params)
        except BinanceError as e:
            self._rejected(request, e.code, e.msg)
        except ValueError as e:  # refused at the boundary: never sent, as the live gateway says
            self._rejected(request, 0, str(e), NotSent.LOCAL_CHECK)
        self.pump()

    def _cancel(self, symbol: str, cid: str) -> None:
        tracked = self.tracker.get(cid)
        params = {"symbol": symbol}
        try:
            if tracked is not None and tracked.algo and tracked.actual_order_id is None:
                known = tracked.order.order_id
                key = {"algoId": str(known)} if known else {"clientAlgoId": cid}
                answer = self.engine.cancel_algo_order(self.account, {**params, **key})
                now = self.clock.now_ms()
                algo_id = answer.get("algoId") if isinstance(answer, dict) else None
                self.pump()
                self._emit(
                    self.tracker.algo_canceled(
                        cid,
                        algo_id=algo_id if isinstance(algo_id, int) else None,
                        now_ms=now,
                        recv_ms=now,
                    )
                )
                return
            if tracked is not None and tracked.algo:
                params["orderId"] = str(tracked.actual_order_id)
            else:
                params["origClientOrderId"] = cid
            self.engine.cancel_order(self.account, params)
        except BinanceError:
            self.stats.cancel_misses += 1
        self.pump()

    def _cancel_all(self, symbol: str) -> None:
        for call in (self.engine.cancel_all_open_orders, self.engine.cancel_all_algo_orders):
            with contextlib.suppress(BinanceError):
                call(self.account, {"symbol": symbol})
            self.pump()

    def _wire_account_update(self, u: AccountUpdate) -> None:
        from core.events import BalanceChanged, PositionChanged

        events: list[Event] = [
            BalanceChanged(
                event_time_ms=u.transaction_time_ms,
                recv_time_ms=u.recv_time_ms,
                balance=b,
                reason=u.reason,
            )
            for b in u.balances
        ]
        events.extend(
            PositionChanged(
                event_time_ms=u.transaction_time_ms,
                recv_time_ms=u.recv_time_ms,
                position=p,
                reason=u.reason,
            )
            for p in u.positions
            if p.symbol in self.instruments
        )
        self._deliver(events)


def same(a: list[Event], b: list[Event]) -> None:
    """Equal events, and equal printed (exponents of every Decimal included)."""
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x == y, f"event {i}: {x} != {y}"
        assert repr(x) == repr(y), f"event {i}: {x!r} != {y!r}"


# --- a scripted session ----------------------------------------------------------------------


def req(cid: str, side: Side, kind: OrderType, qty: str | None, **kw: Any) -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL,
        side=side,
        type=kind,
        quantity=D(qty) if qty is not None else None,
        client_order_id=cid,
        **kw,
    )


def session(venue_cls: type[InProcessVenue], **knobs: Any) -> tuple[list[Event], Any]:
    clock = SimClock(T0)
    engine = Exchange(INSTRUMENTS, clock, EngineConfig(taker_fee=D("0.0005")))
    engine.create_account("a", {"USDT": D("10000")})
    engine.change_leverage("a", {"symbol": SYMBOL, "leverage": "20"})
    engine.drain_user_events()
    events: list[Event] = []
    venue = venue_cls(
        engine=engine,
        account="a",
        clock=clock,
        instruments=INSTRUMENTS,
        config=VenueConfig(**knobs),
        listener=events.append,
    )
    now = [T0]

    def at(dt_ms: int) -> int:
        now[0] += dt_ms
        venue.release(now[0])
        clock.set_ms(max(clock.now_ms(), now[0]))
        return now[0]

    def trade(price: str, qty: str = "1", dt: int = 1000) -> None:
        t = at(dt)
        engine.on_trade(SYMBOL, D(price), D(qty), False, t)
        venue.pump()

    def mark(price: str, dt: int = 1000) -> None:
        t = at(dt)
        engine.on_mark_price(SYMBOL, D(price), D(price), D("0.0001"), T0 + 8 * HOUR, t)
        venue.pump()

    def do(action: Any, *args: Any) -> None:
        at(10)
        action(*args)
        venue.pump()

    L, M = OrderType.LIMIT, OrderType.MARKET
    mark("100000")
    trade("100000")
    do(venue.submit, req("l1", Side.BUY, L, "0.010", price=D("99900"), time_in_force=None))
    trade("99800", "0.004")  # partial fill, maker (a trade through the price)
    trade("99800.0")  # the rest
    do(
        venue.submit,
        req(
            "sl", Side.SELL, OrderType.STOP_MARKET, None, stop_price=D("99000"), close_position=True
        ),
    )
    do(
        venue.submit,
        req(
            "tp",
            Side.SELL,
            OrderType.TAKE_PROFIT_MARKET,
            "0.005",
            stop_price=D("101000"),
            reduce_only=True,
        ),
    )
    do(venue.cancel, SYMBOL, "tp")  # armed: canceled through the algo API
    do(
        venue.submit,
        req(
            "st",
            Side.BUY,
            OrderType.STOP,
            "0.002",
            stop_price=D("100500"),
            price=D("100400"),
            time_in_force=TimeInForce.GTC,
        ),
    )
    trade("100500")  # the STOP triggers: its LIMIT rests (no book data to cross)
    do(venue.cancel, SYMBOL, "st")  # triggered: canceled through its order
    trade("98900")  # the stop-loss fires: a MARKET closes the position (taker)
    do(venue.submit, req("m1", Side.BUY, M, "0.020"))
    do(
        venue.submit,
        req(
            "r1",
            Side.SELL,
            L,
            "0.030",
            price=D("101000"),
            reduce_only=True,
            time_in_force=TimeInForce.GTC,
        ),
    )
    do(
        venue.submit,
        req("i1", Side.SELL, L, "0.001", price=D("150000"), time_in_force=TimeInForce.IOC),
    )  # IOC remainder: expired
    do(venue.submit, req("x1", Side.BUY, M, "100"))  # margin: -2019 (or a filter)
    do(venue.submit, req("x2", Side.BUY, M, "0.001", reduce_only=True))  # -2022
    do(venue.submit, req("x3", Side.BUY, M, "0.0001"))  # off the step: the boundary
    do(venue.submit, req("x4", Side.BUY, L, "0.001", price=D("99000.05")))  # off the tick
    do(
        venue.submit, req("x5", Side.BUY, OrderType.STOP_MARKET, "0.001", stop_price=D("90000"))
    )  # would immediately trigger: -2021
    do(
        venue.submit,
        req("l2", Side.BUY, L, "0.001", price=D("90000"), time_in_force=TimeInForce.GTC),
    )
    do(
        venue.submit,
        req(
            "sl2",
            Side.SELL,
            OrderType.STOP_MARKET,
            None,
            stop_price=D("95000"),
            close_position=True,
        ),
    )
    do(venue.submit, req("m2", Side.SELL, M, "0.020"))  # flat: r1 cannot reduce, expires
    do(venue.cancel_all, SYMBOL)  # l2 and sl2
    do(venue.submit, req("m3", Side.BUY, M, "0.010"))
    do(venue.cancel, SYMBOL, "m1")  # filled long ago: a harmless miss
    trade("99000", dt=8 * HOUR)  # across a funding instant with a position open
    mark("99000")
    do(venue.submit, req("big", Side.BUY, M, "1.500"))
    trade("99000")
    mark("92000")  # the margin is gone: the engine's autoclose order
    trade("92000", dt=HOUR)
    venue.release(now[0] + HOUR)
    venue.pump()
    return events, venue.stats


LATENCIES = [
    {},
    {"latency_ms": 5},
    {"ack_latency": "3"},
    {
        "entry_latency": "lognormal:median=20,sigma=0.5",
        "ack_latency": "empirical:1,4,9,30",
        "seed": 7,
    },
]


@pytest.mark.parametrize("knobs", LATENCIES, ids=["zero", "entry5", "ack3", "random"])
def test_scripted_session_same_events(knobs: dict[str, Any]) -> None:
    from backtest.realism import parse_latency

    def venue_knobs() -> dict[str, Any]:
        out = dict(knobs)
        for name in ("entry_latency", "ack_latency"):
            if name in out:
                out[name] = parse_latency(out[name])
        return out

    wire, wire_stats = session(WireVenue, **venue_knobs())
    typed, typed_stats = session(InProcessVenue, **venue_knobs())
    same(wire, typed)
    assert wire_stats == typed_stats
    kinds = {type(e).__name__ for e in typed}
    # The session covers what it claims to (it is not a comparison of two empty lists).
    assert {
        "OrderAccepted",
        "OrderPartiallyFilled",
        "OrderFilled",
        "OrderCanceled",
        "OrderExpired",
        "OrderRejected",
        "BalanceChanged",
        "PositionChanged",
    } <= kinds, kinds
    reasons = {e.reason for e in typed if type(e).__name__ == "BalanceChanged"}
    assert {"ORDER", "FUNDING_FEE"} <= reasons
    assert typed_stats.liquidations == 1 and typed_stats.cancel_misses >= 1
    assert typed_stats.rejected == 5


# --- whole backtests -------------------------------------------------------------------------


RECORDED: dict[str, list[Event]] = {}  # every event a venue delivered, by venue class
SUBMITTED: dict[str, list[OrderType]] = {}  # the types of the orders it was given


def recording(cls: type[InProcessVenue]) -> type[InProcessVenue]:
    class Recorded(cls):  # type: ignore[valid-type, misc]
        def submit(self, request: OrderRequest) -> None:
            SUBMITTED.setdefault(cls.__name__, []).append(request.type)
            super().submit(request)

        def _deliver(self, events: list[Event]) -> None:
            RECORDED.setdefault(cls.__name__, []).extend(events)
            super()._deliver(events)

    return Recorded


def both(monkeypatch: pytest.MonkeyPatch, data: Any, config: BacktestConfig) -> None:
    RECORDED.clear()
    SUBMITTED.clear()
    outs = {}
    for cls in (WireVenue, InProcessVenue):
        monkeypatch.setattr(runner, "InProcessVenue", recording(cls))
        result = run_backtest(data, config)
        outs[cls.__name__] = (result.summary_dict(), list(result.equity))
    wire, typed = RECORDED["WireVenue"], RECORDED["InProcessVenue"]
    assert any(type(e).__name__ == "OrderFilled" for e in typed), typed
    same(wire, typed)
    assert outs["WireVenue"] == outs["InProcessVenue"]


def test_bars_backtest_with_stops_same_events(monkeypatch: pytest.MonkeyPatch) -> None:
    data = load(ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz")
    config = BacktestConfig(strategy_params={"fast": 3, "slow": 8}, funding="auto")
    both(monkeypatch, data, config)
    assert len(RECORDED["InProcessVenue"]) > 100
    kinds = set(SUBMITTED["InProcessVenue"])
    assert {OrderType.MARKET, OrderType.STOP_MARKET} <= kinds, kinds  # entries and their stops


def test_trades_backtest_with_latency_same_events(monkeypatch: pytest.MonkeyPatch) -> None:
    data = load(ROOT / "exchange_sim/data/trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz")
    config = BacktestConfig(
        strategy_params={"fast": 2, "slow": 4},
        entry_latency="lognormal:median=20,sigma=0.5",
        ack_latency="empirical:1,4,9,30",
        seed=3,
    )
    both(monkeypatch, data, config)


def test_reports_are_the_wire_values() -> None:
    """A fill's report and the parsed JSON of the same engine event agree (both drains see
    the same record: the engine is run twice)."""
    out = []
    for typed in (False, True):
        clock = SimClock(T0)
        engine = Exchange(INSTRUMENTS, clock)
        engine.create_account("a", {"USDT": D("10000")})
        engine.on_trade(SYMBOL, D("100000"), D("1"), False, T0)
        engine.drain_user_events()
        engine.engine.submit("a", req("m", Side.BUY, OrderType.MARKET, "0.003"))
        if typed:
            out.append([r for _, r in engine.engine.drain_reports()])
        else:
            out.append([parse_user_event(d, 0) for _, d in engine.drain_user_events()])
    wire, reports = out
    fills = [r for r in reports if isinstance(r, OrderReport) and r.trade_id]
    parsed = [u for u in wire if isinstance(u, OrderUpdate) and u.trade_id]
    assert len(fills) == len(parsed) == 1
    r, u = fills[0], parsed[0]
    assert (r.last_price, r.last_qty, r.commission, r.avg_price, r.cum_qty) == (
        u.last_price,
        u.last_qty,
        u.commission,
        u.avg_price,
        u.cum_qty,
    )
    assert repr(r.last_price) == repr(u.last_price) == "Decimal('100000.00')"
    assert r.commission == D("100000") * D("0.003") * D("0.0005")  # 0.15 USDT taker fee
