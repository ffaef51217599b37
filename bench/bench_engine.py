"""Throughput of the matching engine on replayed trades with 100 resting orders.

Run: `python bench/bench_engine.py [n_trades]` (default 1,000,000). Prints trades/s for the
per-trade paths (on_trade_ticks with ints, on_trade with Decimals) and for the numpy batch path
(on_trades_batch), on two tapes:
- "real": the bundled real BTCUSDT USD-M trades (exchange_sim/data/trades), repeated forward and
  backward (mirrored) so the price path stays continuous;
- "walk": a seeded random walk of +-1 tick moves around the same start price.
50 bids below and 50 asks above the first price (one every 40 ticks from 3 ticks away), so
the tape fills some of them. Acceptance: >= 1,000,000 trades/s in-process.

Then order entry: a resting LIMIT placed and canceled, through the Binance wire adapter
(`Exchange.new_order` / `cancel_order` with string parameters, JSON answers, user events
formatted) and through the engine's typed API (`Engine.submit` / `cancel_order` with a
`core.orders.OrderRequest`, `core` orders and events out), in round trips per second.
"""

import argparse
import csv
import gzip
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.clock import SimClock  # noqa: E402
from core.enums import OrderType, Side, TimeInForce  # noqa: E402
from core.instrument import Instrument  # noqa: E402
from core.orders import OrderRequest  # noqa: E402
from exchange_sim.engine import Exchange  # noqa: E402

TARGET = 1_000_000
SYMBOL = "BTCUSDT"
DATA = ROOT / "exchange_sim" / "data"


def instrument() -> Instrument:
    info = json.loads((DATA / "instruments.json").read_text())
    entry = next(s for s in info["symbols"] if s["symbol"] == SYMBOL)
    return Instrument.from_exchange_info(entry)


def real_tape(inst: Instrument, n: int) -> tuple[np.ndarray, ...]:
    path = sorted((DATA / "trades").glob(f"{SYMBOL}-um-trades-2024-08-08*.csv.gz"))[0]
    prices, qtys, makers, times = [], [], [], []
    with gzip.open(path, "rt") as f:
        for row in csv.DictReader(f):
            prices.append(inst.to_ticks(Decimal(row["price"])))
            qtys.append(inst.to_steps(Decimal(row["qty"])))
            makers.append(row["is_buyer_maker"] == "true")
            times.append(int(row["time"]))
    p, q, m = np.array(prices), np.array(qtys), np.array(makers)
    reps = n // len(p) + 1
    # Mirror every other copy so the price path is continuous.
    p = np.concatenate([p if i % 2 == 0 else p[::-1] for i in range(reps)])[:n]
    q = np.tile(q, reps)[:n]
    m = np.tile(m, reps)[:n]
    t = times[0] + np.arange(n, dtype=np.int64) * 16  # ~60 trades/s, like the recording
    return p.astype(np.int64), q.astype(np.int64), m, t


def walk_tape(start_ticks: int, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(7)
    steps = rng.choice(np.array([-1, 0, 0, 1]), size=n)
    p = start_ticks + np.cumsum(steps)
    q = rng.integers(1, 200, size=n)
    m = rng.random(n) < 0.5
    t = 1723161256322 + np.arange(n, dtype=np.int64) * 16
    return p.astype(np.int64), q.astype(np.int64), m, t


def fresh_exchange(inst: Instrument, start_ticks: int, start_ms: int) -> tuple[Exchange, int]:
    clock = SimClock(start_ms)
    ex = Exchange({SYMBOL: inst}, clock)
    ex.create_account("bench", {"USDT": Decimal("10000000")})
    mark = inst.from_ticks(start_ticks)
    ex.on_mark_price(SYMBOL, mark, mark, Decimal("0.0001"), start_ms, start_ms)
    step = 40  # 4 USDT apart: the tapes reach some of them, not all
    for k in range(50):
        bid = inst.format_price(inst.from_ticks(start_ticks - 3 - step * k))
        ask = inst.format_price(inst.from_ticks(start_ticks + 3 + step * k))
        for side, price in (("BUY", bid), ("SELL", ask)):
            ex.new_order(
                "bench",
                {
                    "symbol": SYMBOL,
                    "side": side,
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "quantity": "0.050",
                    "price": price,
                },
            )
    ex.drain_user_events()
    return ex, len(ex.open_orders("bench", {}))


def _best_rate(n: int, repeat: int, setup, body) -> float:
    """Best of `repeat` timed runs (each on fresh state from `setup`), in trades/s."""
    best = 0.0
    for _ in range(repeat):
        state = setup()
        began = time.perf_counter()
        body(state)
        best = max(best, n / (time.perf_counter() - began))
    return best


def run(name: str, inst: Instrument, tape: tuple[np.ndarray, ...], repeat: int) -> list[bool]:
    p, q, m, t = tape
    n = len(p)
    start_ticks, start_ms = int(p[0]), int(t[0])
    pl, ql, ml, tl = p.tolist(), q.tolist(), m.tolist(), t.tolist()

    def setup() -> Exchange:
        return fresh_exchange(inst, start_ticks, start_ms)[0]

    price_text = {x: inst.format_price(inst.from_ticks(x)) for x in set(pl)}
    qty_text = {x: inst.format_qty(inst.from_steps(x)) for x in set(ql)}
    price_strs = [price_text[x] for x in pl]
    qty_strs = [qty_text[x] for x in ql]

    def setup_decimals() -> tuple[Exchange, list[Decimal], list[Decimal]]:
        # Fresh Decimal objects each run, as parsed from a file (no hash cached in them yet).
        return setup(), list(map(Decimal, price_strs)), list(map(Decimal, qty_strs))

    def per_trade_ints(ex: Exchange) -> None:
        on_trade = ex.on_trade_ticks
        for i in range(n):
            on_trade(SYMBOL, pl[i], ql[i], ml[i], tl[i])

    def per_trade_decimals(state: tuple[Exchange, list[Decimal], list[Decimal]]) -> None:
        ex, prices, qtys = state
        on_trade = ex.on_trade
        for i in range(n):
            on_trade(SYMBOL, prices[i], qtys[i], ml[i], tl[i])

    def batch(ex: Exchange) -> None:
        ex.on_trades_batch(SYMBOL, p, q, m, t)

    rates = [
        ("per-trade on_trade_ticks (int)", _best_rate(n, repeat, setup, per_trade_ints)),
        ("per-trade on_trade (Decimal)", _best_rate(n, repeat, setup_decimals, per_trade_decimals)),
        ("batch on_trades_batch (numpy)", _best_rate(n, repeat, setup, batch)),
    ]
    # Equivalence and fill count on one more pair of runs.
    ex_a, resting = fresh_exchange(inst, start_ticks, start_ms)
    per_trade_ints(ex_a)
    filled = resting - len(ex_a.open_orders("bench", {}))
    ex_b = setup()
    batch(ex_b)
    same = ex_b.drain_user_events() == ex_a.drain_user_events()

    span = (inst.from_ticks(int(p.min())), inst.from_ticks(int(p.max())))
    print(
        f"[{name}] {n:,} trades, price {span[0]}..{span[1]}, {resting} resting orders, "
        f"{filled} filled; batch events identical to per-trade: {same}"
    )
    ok = [same]
    for label, rate in rates:
        meets = rate >= TARGET
        ok.append(meets)
        print(f"  {label:32s} {rate:>13,.0f} trades/s  {'meets' if meets else 'BELOW'} 1,000,000/s")
    return ok


def order_entry(inst: Instrument, start_ticks: int, start_ms: int, n: int) -> None:
    """Place-and-cancel round trips per second: wire dicts vs the typed API."""
    price = inst.from_ticks(start_ticks - 500)
    text = inst.format_price(price)

    def wire() -> float:
        ex = fresh_exchange(inst, start_ticks, start_ms)[0]
        began = time.perf_counter()
        for i in range(n):
            cid = f"w-{i}"
            ex.new_order(
                "bench",
                {
                    "symbol": SYMBOL,
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "quantity": "0.010",
                    "price": text,
                    "newClientOrderId": cid,
                },
            )
            ex.cancel_order("bench", {"symbol": SYMBOL, "origClientOrderId": cid})
            ex.drain_user_events()
        return n / (time.perf_counter() - began)

    def typed() -> float:
        engine = fresh_exchange(inst, start_ticks, start_ms)[0].engine
        began = time.perf_counter()
        for i in range(n):
            cid = f"t-{i}"
            engine.submit(
                "bench",
                OrderRequest(
                    symbol=SYMBOL,
                    side=Side.BUY,
                    type=OrderType.LIMIT,
                    quantity=Decimal("0.010"),
                    price=price,
                    time_in_force=TimeInForce.GTC,
                    client_order_id=cid,
                ),
            )
            engine.cancel_order("bench", SYMBOL, client_order_id=cid)
            engine.drain_events()
        return n / (time.perf_counter() - began)

    print(f"[order entry] {n:,} place+cancel round trips of a resting LIMIT, 100 orders resting")
    print(f"  wire adapter (dict params, JSON)  {max(wire() for _ in range(3)):>10,.0f} /s")
    print(f"  typed API (core requests/events)  {max(typed() for _ in range(3)):>10,.0f} /s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n_trades", nargs="?", type=int, default=1_000_000, help="trades to replay")
    n = parser.parse_args().n_trades
    repeat = 3
    inst = instrument()
    real = real_tape(inst, n)
    print(f"best of {repeat} runs per path; 2 cores shared with other processes add noise")
    results = run("real", inst, real, repeat)
    results += run("walk", inst, walk_tape(int(real[0][0]), n), repeat)
    verdict = "MEETS" if all(results) else "DOES NOT MEET"
    print(f"acceptance (>= 1,000,000 trades/s with 100 resting orders, every path): {verdict}")
    order_entry(inst, int(real[0][0]), int(real[3][0]), 5_000)


if __name__ == "__main__":
    main()
