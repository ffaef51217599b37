"""InProcessVenue on its own: requests reach the engine after the latency, on the simulated
clock; closePosition stops go through the Algo API, trigger on trades and can be cancelled;
the engine's refusals come back as OrderRejected. Prices are round so each fill is obvious."""

from decimal import Decimal as D

from backtest.venue import InProcessVenue, VenueConfig, send_synthetic_touch, synthetic_touch
from core.clock import SimClock
from core.enums import OrderType, Side
from core.events import (
    BalanceChanged,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    PositionChanged,
)
from core.orders import OrderRequest
from exchange_sim.engine import EngineConfig, Exchange
from exchange_sim.replay.grid import load_instruments

SYMBOL = "BTCUSDT"
T0 = 1_746_403_200_000
INSTRUMENTS = {SYMBOL: load_instruments()[SYMBOL]}  # tick 0.10, step 0.001


def rig(latency_ms: int = 0):
    clock = SimClock(T0)
    engine = Exchange(INSTRUMENTS, clock, EngineConfig(taker_fee=D("0.0005")))
    engine.create_account("a", {"USDT": D(10_000)})
    events: list = []
    venue = InProcessVenue(
        engine=engine,
        account="a",
        clock=clock,
        instruments=INSTRUMENTS,
        config=VenueConfig(latency_ms=latency_ms),
        listener=events.append,
    )
    return clock, engine, venue, events


def trade(clock, engine, venue, price: str, at_ms: int) -> None:
    venue.release(at_ms)
    clock.set_ms(max(clock.now_ms(), at_ms))
    engine.on_trade(SYMBOL, D(price), D("1"), False, at_ms)
    venue.pump()


def market(cid: str, side: Side, qty: str) -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL, side=side, type=OrderType.MARKET, quantity=D(qty), client_order_id=cid
    )


def test_an_order_reaches_the_engine_after_the_latency_and_fills_at_that_moments_price():
    clock, engine, venue, events = rig(latency_ms=100)
    trade(clock, engine, venue, "60000.0", T0)
    venue.submit(market("m1", Side.BUY, "0.010"))
    assert events == [] and venue.pending == 1  # still on its way
    trade(clock, engine, venue, "60010.0", T0 + 50)  # before it arrives: not its price
    assert events == []
    trade(clock, engine, venue, "60020.0", T0 + 150)  # it arrived at T0 + 100, first
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert [(f.fill.price, f.fill.qty, f.fill.trade_time_ms) for f in fills] == [
        (D("60010.0"), D("0.010"), T0 + 100)
    ]
    assert fills[0].fill.commission == D("0.30005000")  # 600.10 USDT x 0.05 %
    kinds = [type(e) for e in events]
    assert kinds[0] is OrderAccepted and BalanceChanged in kinds and PositionChanged in kinds


def test_a_close_position_stop_triggers_on_a_trade_and_another_can_be_cancelled():
    clock, engine, venue, events = rig()
    trade(clock, engine, venue, "60000.0", T0)
    venue.submit(market("m1", Side.BUY, "0.010"))
    # The stop closes the position; the take-profit is reduce-only (one closePosition order
    # per side: -4130).
    for cid, kind, stop, qty in (
        ("sl", OrderType.STOP_MARKET, "59000.0", None),
        ("tp", OrderType.TAKE_PROFIT_MARKET, "62000.0", D("0.010")),
    ):
        venue.submit(
            OrderRequest(
                symbol=SYMBOL,
                side=Side.SELL,
                type=kind,
                quantity=qty,
                client_order_id=cid,
                stop_price=D(stop),
                reduce_only=qty is not None,
                close_position=qty is None,
            )
        )
    accepted = {e.client_order_id for e in events if isinstance(e, OrderAccepted)}
    assert accepted == {"m1", "sl", "tp"}
    venue.cancel(SYMBOL, "tp")
    assert any(isinstance(e, OrderCanceled) and e.client_order_id == "tp" for e in events)
    trade(clock, engine, venue, "58900.0", T0 + 1_000)  # through the stop: it fires
    stop_fills = [
        e for e in events if isinstance(e, OrderFilled) and e.fill.client_order_id == "sl"
    ]
    assert [(f.fill.side, f.fill.qty, f.fill.price) for f in stop_fills] == [
        (Side.SELL, D("0.010"), D("58900.0"))
    ]
    assert engine.position_risk("a", {"symbol": SYMBOL}, version=3) == []  # flat


def test_the_engines_refusal_is_an_order_rejected():
    clock, engine, venue, events = rig()
    trade(clock, engine, venue, "60000.0", T0)
    venue.submit(market("big", Side.BUY, "100"))  # 6M USDT on a 10k wallet: -2019
    [rejected] = [e for e in events if isinstance(e, OrderRejected)]
    assert rejected.client_order_id == "big" and rejected.code == -2019
    assert venue.stats.rejected == 1


def test_the_slippage_model_puts_the_touch_bps_away_at_least_a_tick():
    tick = D("0.10")
    assert synthetic_touch(600_000, D(0), tick) == (599_999, 600_001)  # 60000.0: one tick
    # 2 bps of 60000.0 = 12.0 USDT = 120 ticks each side
    assert synthetic_touch(600_000, D(2), tick) == (599_880, 600_120)


def test_a_market_order_after_the_synthetic_touch_pays_the_slippage_each_side():
    clock, engine, venue, events = rig()
    trade(clock, engine, venue, "60000.0", T0)
    # 2 bps of 60000.0 = 12.0 USDT: bid 59988.0, ask 60012.0, deep enough for any order here
    send_synthetic_touch(engine.on_book_ticker, SYMBOL, 600_000, D(2), D("0.10"), T0)
    venue.submit(market("buy", Side.BUY, "0.010"))
    venue.submit(market("sell", Side.SELL, "0.020"))
    venue.pump()
    fills = [e.fill for e in events if isinstance(e, OrderFilled)]
    assert [(f.client_order_id, f.price, f.qty) for f in fills] == [
        ("buy", D("60012.0"), D("0.010")),
        ("sell", D("59988.0"), D("0.020")),
    ]
