"""Replaying recorded trades: the batch entry point equals the per-trade path exactly, and time-
driven behaviour (dead-man switch) fires from market data and from on_time.

Tape: the first 4,000 real BTCUSDT USD-M trades of 2024-08-08 23:54 UTC (61739.7 .. 61839.9).
"""

import numpy as np
import pytest

from tests.exchange_sim.test_engine_support import (
    T0,
    D,
    instruments,
    limit,
    make_exchange,
    market,
    of_type,
    real_trades,
)

TRADES = real_trades()
BTC = instruments()["BTCUSDT"]


def _arrange():
    """Two accounts, 40 resting orders 61745.0..61840.0, a CONTRACT_PRICE stop, a trailing stop
    and a dead-man switch."""
    ex, clock = make_exchange(usdt="100000")
    ex.create_account("bob", {"USDT": D("100000")})
    for k in range(10):
        ex.new_order("alice", limit("BUY", "0.020", f"{61790 - 5 * k}.0"))
        ex.new_order("bob", limit("BUY", "0.050", f"{61788 - 5 * k}.0"))
        ex.new_order("alice", limit("SELL", "0.020", f"{61811 + 3 * k}.0"))
        ex.new_order("bob", limit("SELL", "0.050", f"{61813 + 3 * k}.0"))
    ex.new_order("bob", market("BUY", "0.100"))
    ex.new_algo_order(
        "bob",
        {
            "algoType": "CONDITIONAL",
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "triggerPrice": "61760.0",
            "quantity": "0.100",
        },
    )
    ex.new_algo_order(
        "bob",
        {
            "algoType": "CONDITIONAL",
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "TRAILING_STOP_MARKET",
            "quantity": "0.050",
            "activatePrice": "61810.0",
            "callbackRate": "0.1",
        },
    )
    ex.countdown_cancel_all("alice", {"symbol": "BTCUSDT", "countdownTime": "60000"})
    ex.drain_user_events()
    return ex, clock


def _state(ex, clock):
    return (
        ex.drain_user_events(),
        [ex.open_orders(a, {}) for a in ("alice", "bob")],
        [ex.account(a, {}, version=3) for a in ("alice", "bob")],
        [ex.all_algo_orders(a, {"symbol": "BTCUSDT"}) for a in ("alice", "bob")],
        clock.now_ms(),
        ex.last_price("BTCUSDT"),
    )


def _arrays():
    return (
        np.array([BTC.to_ticks(p) for p, _, _, _ in TRADES], dtype=np.int64),
        np.array([BTC.to_steps(q) for _, q, _, _ in TRADES], dtype=np.int64),
        np.array([m for _, _, m, _ in TRADES], dtype=bool),
        np.array([t for _, _, _, t in TRADES], dtype=np.int64),
    )


def test_batch_path_equals_per_trade_path_on_real_trades():
    per_trade, per_clock = _arrange()
    batch, batch_clock = _arrange()

    for price, qty, maker, t in TRADES:
        per_trade.on_trade("BTCUSDT", price, qty, maker, t)
    batch.on_trades_batch("BTCUSDT", *_arrays())

    expected = _state(per_trade, per_clock)
    assert _state(batch, batch_clock) == expected
    events = expected[0]
    # The tape really exercised the engine: maker fills, the stop and the dead-man switch.
    assert sum(1 for e in of_type(events, "ORDER_TRADE_UPDATE") if e["o"]["m"]) > 10
    finished = [e["o"]["o"] for e in of_type(events, "ALGO_UPDATE") if e["o"]["X"] == "FINISHED"]
    assert sorted(finished) == ["STOP_MARKET", "TRAILING_STOP_MARKET"]
    assert any(e["o"]["X"] == "CANCELED" for e in of_type(events, "ORDER_TRADE_UPDATE"))


@pytest.mark.parametrize("chunks", [1, 7, 64])
def test_batch_split_anywhere_gives_the_same_result(chunks):
    whole, whole_clock = _arrange()
    split, split_clock = _arrange()
    arrays = _arrays()

    whole.on_trades_batch("BTCUSDT", *arrays)
    for part in zip(*(np.array_split(a, chunks) for a in arrays), strict=True):
        split.on_trades_batch("BTCUSDT", *part)

    assert _state(split, split_clock) == _state(whole, whole_clock)


def test_trade_crossing_nothing_changes_no_state():
    ex, clock = make_exchange()
    ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    ex.drain_user_events()

    ex.on_trade("BTCUSDT", D("61750.0"), D("5"), True, T0 + 1000)

    assert ex.drain_user_events() == []
    assert clock.now_ms() == T0  # nothing happened, so the clock was not moved
    assert ex.last_price("BTCUSDT") == D("61750.00")


def test_dead_man_switch_cancels_open_orders_when_not_refreshed():
    ex, _ = make_exchange()
    ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    reply = ex.countdown_cancel_all("alice", {"symbol": "BTCUSDT", "countdownTime": "10000"})
    ex.drain_user_events()

    ex.on_time(T0 + 9999)
    before = ex.open_orders("alice", {})
    ex.on_time(T0 + 10000)

    assert reply == {"symbol": "BTCUSDT", "countdownTime": "10000"}
    assert len(before) == 1 and ex.open_orders("alice", {}) == []
    [event] = of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")
    assert (event["o"]["X"], event["T"]) == ("CANCELED", T0 + 10000)


def test_dead_man_switch_fires_from_a_recorded_trade():
    ex, _ = make_exchange()
    ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    ex.countdown_cancel_all("alice", {"symbol": "BTCUSDT", "countdownTime": "10000"})

    ex.on_trade("BTCUSDT", D("61750.0"), D("0.001"), True, T0 + 10500)

    assert ex.open_orders("alice", {}) == []


def test_dead_man_switch_refresh_postpones_and_zero_stops_it():
    ex, clock = make_exchange()
    ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    ex.countdown_cancel_all("alice", {"symbol": "BTCUSDT", "countdownTime": "10000"})
    clock.set_ms(T0 + 8000)
    ex.countdown_cancel_all("alice", {"symbol": "BTCUSDT", "countdownTime": "10000"})

    ex.on_time(T0 + 12000)
    refreshed = ex.open_orders("alice", {})
    ex.countdown_cancel_all("alice", {"symbol": "BTCUSDT", "countdownTime": "0"})
    ex.on_time(T0 + 60000)

    assert len(refreshed) == 1
    assert len(ex.open_orders("alice", {})) == 1


def test_our_fills_do_not_move_the_recorded_book_top():
    ex, _ = make_exchange(qty="0.200")

    ex.new_order("alice", market("BUY", "0.300"))

    assert ex.book_top("BTCUSDT") == (D("61800.20"), D("0.200"), D("61800.30"), D("0.200"))


def test_taken_liquidity_stays_taken_until_the_next_book_update():
    ex, _ = make_exchange(qty="0.200")
    ex.new_order("alice", market("BUY", "0.200"))  # eats the whole touch 61800.3

    second = ex.new_order("alice", market("BUY", "0.100", newOrderRespType="RESULT"))
    ex.on_book_ticker("BTCUSDT", D("61800.2"), D("0.2"), D("61800.3"), D("0.2"), T0 + 5)
    third = ex.new_order("alice", market("BUY", "0.100", newOrderRespType="RESULT"))

    assert second["avgPrice"] == "61800.4"
    assert third["avgPrice"] == "61800.3"


def test_market_order_walks_recorded_depth_levels():
    ex, _ = make_exchange()
    ex.on_depth(
        "BTCUSDT",
        [(D("61800.2"), D("1.0"))],
        [(D("61800.3"), D("0.050")), (D("61801.0"), D("0.030")), (D("61805.0"), D("1.0"))],
        T0 + 1,
    )

    result = ex.new_order("alice", market("BUY", "0.100", newOrderRespType="RESULT"))

    prices = [(t["price"], t["qty"]) for t in ex.user_trades("alice", {"symbol": "BTCUSDT"})]
    assert prices == [("61800.30", "0.050"), ("61801.00", "0.030"), ("61805.00", "0.020")]
    assert result["cumQuote"] == "6180.14500"  # 3090.015 + 1854.03 + 1236.1


def test_book_ticker_updates_the_top_of_recorded_depth():
    ex, _ = make_exchange()
    ex.on_depth(
        "BTCUSDT",
        [(D("61800.2"), D("1.0"))],
        [(D("61800.3"), D("0.050")), (D("61801.0"), D("0.030"))],
        T0 + 1,
    )
    ex.on_book_ticker("BTCUSDT", D("61800.5"), D("1"), D("61800.6"), D("0.010"), T0 + 2)

    ex.new_order("alice", market("BUY", "0.040"))

    prices = [(t["price"], t["qty"]) for t in ex.user_trades("alice", {"symbol": "BTCUSDT"})]
    assert prices == [("61800.60", "0.010"), ("61801.00", "0.030")]
