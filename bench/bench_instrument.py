"""How fast the exact instrument rules are: price rounding and full order validation.

Run: python bench/bench_instrument.py
Every order the daemon sends and every order the local exchange receives goes through these.
"""

import argparse
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.enums import OrderType, Side
from core.instrument import Instrument

FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "tests/fixtures/binance_api/rest/GET_fapi_v1_exchangeInfo__3symbols_2022-02-19__nautilus.json"
)


def rate(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def main() -> None:
    btc = Instrument.from_exchange_info(json.loads(FIXTURE.read_text())["symbols"][0])
    price, qty, mark = Decimal("61590.37"), Decimal("0.0129"), Decimal("61590.0")
    n = 200_000
    results = {
        "round_price": rate(lambda: btc.round_price(price, Side.BUY), n),
        "floor_qty": rate(lambda: btc.floor_qty(qty), n),
        "check_order (limit, all filters)": rate(
            lambda: btc.check_order(
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=Decimal("0.012"),
                price=Decimal("61590.3"),
                mark_price=mark,
                open_orders=3,
            ),
            n,
        ),
    }
    for name, per_s in results.items():
        print(f"{name:<34} {per_s:>12,.0f} ops/s  ({1e6 / per_s:.2f} us/op)")


if __name__ == "__main__":
    # No options: --help says what it measures instead of running it.
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    main()
