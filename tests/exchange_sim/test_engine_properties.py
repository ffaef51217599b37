"""Invariants under random order flow and random tapes (hypothesis, bounded and fast).

- Money is conserved: wallet = deposit + sum of income (realized PnL, commission, funding).
- The position equals the signed sum of the account's fills.
- The numpy batch path equals the per-trade path on any tape.
"""

from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange_sim.engine import EngineConfig
from exchange_sim.errors import BinanceError
from tests.exchange_sim.test_engine_support import T0, D, instruments, limit, make_exchange, market

BTC = instruments()["BTCUSDT"]
FUNDING_TIME = 1723161600000

_action = st.one_of(
    st.tuples(
        st.just("limit"),
        st.sampled_from(["BUY", "SELL"]),
        st.integers(1, 50),
        st.integers(-300, 300),
        st.booleans(),
    ),
    st.tuples(st.just("market"), st.sampled_from(["BUY", "SELL"]), st.integers(1, 50)),
    st.tuples(st.just("trade"), st.integers(-400, 400), st.integers(1, 200)),
    st.tuples(st.just("cancel"), st.integers(0, 10)),
    st.tuples(st.just("funding"), st.integers(-5, 5)),
)


def _run(actions):
    ex, clock = make_exchange(usdt="100000")
    base = BTC.to_ticks(D("61800.0"))
    now = T0
    funded = False
    for action in actions:
        now += 100
        kind = action[0]
        try:
            if kind == "limit":
                _, side, steps, offset, reduce_only = action
                price = BTC.format_price(BTC.from_ticks(base + offset))
                extra = {"reduceOnly": "true"} if reduce_only else {}
                ex.new_order(
                    "alice", limit(side, BTC.format_qty(BTC.from_steps(steps)), price, **extra)
                )
            elif kind == "market":
                _, side, steps = action
                ex.new_order("alice", market(side, BTC.format_qty(BTC.from_steps(steps))))
            elif kind == "trade":
                _, offset, steps = action
                ex.on_trade_ticks("BTCUSDT", base + offset, steps, offset < 0, now)
            elif kind == "cancel":
                orders = ex.open_orders("alice", {})
                if orders:
                    target = orders[action[1] % len(orders)]
                    ex.cancel_order(
                        "alice", {"symbol": "BTCUSDT", "orderId": str(target["orderId"])}
                    )
            elif kind == "funding" and not funded:
                funded = True
                rate = Decimal(action[1]) / 10000
                ex.on_mark_price("BTCUSDT", D("61800.0"), D("61800.0"), rate, 0, now)
                now = max(now, FUNDING_TIME)
                ex.on_time(now)
        except BinanceError:
            pass
        clock.set_ms(max(clock.now_ms(), now))
    return ex


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_action, min_size=1, max_size=40))
def test_wallet_equals_deposit_plus_income(actions):
    ex = _run(actions)

    incomes = ex.income("alice", {"startTime": "0", "limit": "1000"})
    total = sum((D(i["income"]) for i in incomes), D(0))
    assert D(ex.balance("alice", {})[0]["balance"]) == D("100000") + total


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_action, min_size=1, max_size=40))
def test_position_equals_signed_sum_of_fills(actions):
    ex = _run(actions)

    fills = ex.user_trades("alice", {"symbol": "BTCUSDT", "limit": "1000"})
    signed = sum((D(t["qty"]) * (1 if t["buyer"] else -1) for t in fills), D(0))
    rows = ex.position_risk("alice", {"symbol": "BTCUSDT"}, version=2)
    assert D(rows[0]["positionAmt"]) == signed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(-3, 3), min_size=1, max_size=300),
    st.lists(st.integers(1, 30), min_size=300, max_size=300),
    st.sampled_from(["through", "touch"]),
)
def test_batch_equals_per_trade_on_random_walks(moves, sizes, fill_mode):
    config = EngineConfig(fill_mode=fill_mode)
    base = BTC.to_ticks(D("61800.0"))
    prices = base + np.cumsum(np.array(moves, dtype=np.int64))
    qtys = np.array(sizes[: len(moves)], dtype=np.int64)
    makers = np.array([m < 0 for m in moves], dtype=bool)
    times = T0 + 10 * np.arange(1, len(moves) + 1, dtype=np.int64)
    results = []
    for batched in (False, True):
        ex, clock = make_exchange(config, usdt="100000")
        for k in range(1, 6):
            ex.new_order("alice", limit("BUY", "0.003", f"{61800 - k}.0"))
            ex.new_order("alice", limit("SELL", "0.003", f"{61800 + k}.0"))
        ex.drain_user_events()
        if batched:
            ex.on_trades_batch("BTCUSDT", prices, qtys, makers, times)
        else:
            for p, q, m, t in zip(
                prices.tolist(), qtys.tolist(), makers.tolist(), times.tolist(), strict=True
            ):
                ex.on_trade_ticks("BTCUSDT", p, q, m, t)
        results.append((ex.drain_user_events(), ex.open_orders("alice", {}), clock.now_ms()))
    assert results[0] == results[1]
