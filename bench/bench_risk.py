"""How fast the RiskManager's per-order check is: it runs on the tick path for every order.

Run: python bench/bench_risk.py
Books are an in-memory stand-in for the BookKeeper (dict lookups), so the figures are the
RiskManager's own cost: rounding, the instrument filters and every limit, on BTCUSDT's real
rules. The clock advances 1 ms per check so the orders-per-minute window stays busy.
"""

import argparse
import json
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.account import Position
from core.clock import SimClock
from core.enums import OrderType, Side, TimeInForce
from core.events import RiskDenied
from core.instrument import Instrument
from core.orders import Order, OrderRequest
from risk_manager import RiskConfig, RiskManager

FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "tests/fixtures/binance_api/rest/GET_fapi_v1_exchangeInfo__3symbols_2022-02-19__nautilus.json"
)
ZERO = Decimal(0)


class Books:
    """Dict-backed answers, as cheap as the BookKeeper's should be."""

    def __init__(self) -> None:
        self.positions = {
            "BTCUSDT": Position(symbol="BTCUSDT", qty=Decimal("0.010"), entry_price=Decimal(60000))
        }
        self.marks = {"BTCUSDT": Decimal(60000)}
        self.open_qty = {("BTCUSDT", Side.BUY): Decimal("0.002"), ("BTCUSDT", Side.SELL): ZERO}

    def position(self, symbol: str) -> Position:
        return self.positions[symbol]

    def mark_price(self, symbol: str) -> Decimal | None:
        return self.marks.get(symbol)

    def last_price(self, symbol: str) -> Decimal | None:
        return self.marks.get(symbol)

    def equity(self) -> Decimal:
        return Decimal(10000)

    def carried_in(self, now_ms: int) -> Decimal:
        return Decimal(0)

    def available_balance(self) -> Decimal:
        return Decimal(9000)

    def open_order_count(self, symbol: str | None = None) -> int:
        return 2

    @property
    def orders(self) -> dict[str, Order]:
        return {}  # read only past max_open_orders, which this bench stays under

    def open_order_qty(self, symbol: str, side: Side) -> Decimal:
        return self.open_qty[(symbol, side)]

    def equity_and_available(self) -> tuple[Decimal, Decimal]:
        return self.equity(), self.available_balance()

    def order_exposure(
        self, symbol: str, side: Side
    ) -> tuple[Decimal, Decimal | None, int, Decimal]:
        return (
            self.positions[symbol].qty,
            self.marks.get(symbol),
            self.open_order_count(symbol),
            self.open_qty[(symbol, side)],
        )


def rate(fn: Callable[[], object], clock: SimClock, n: int) -> tuple[float, object]:
    result = None
    start = time.perf_counter()
    for _ in range(n):
        clock.advance_ms(1)
        result = fn()
    return n / (time.perf_counter() - start), result


def main() -> None:
    info = json.loads(FIXTURE.read_text())
    btc = Instrument.from_exchange_info(
        next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    )
    clock = SimClock(1_723_118_400_000)
    risk = RiskManager(
        config=RiskConfig(max_orders_per_minute=1_000_000, max_trades_per_day=0),
        instruments={"BTCUSDT": btc},
        clock=clock,
        view=Books(),
    )
    entry = OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.002"),
        price=Decimal("59990.0"),
        time_in_force=TimeInForce.GTX,
        client_order_id="b-1",
    )
    needs_rounding = OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.00237"),
        price=Decimal("59990.07"),
        time_in_force=TimeInForce.GTX,
        client_order_id="b-2",
    )
    close = OrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=OrderType.MARKET,
        quantity=Decimal("0.010"),
        reduce_only=True,
        client_order_id="b-3",
    )
    n = 100_000
    cases = {
        "entry LIMIT, approved (every check)": lambda: risk.check(
            entry, gap_open=False, clock_offset_ms=0
        ),
        "entry LIMIT, rounded then approved": lambda: risk.check(
            needs_rounding, gap_open=False, clock_offset_ms=0
        ),
        "reduce-only MARKET, approved": lambda: risk.check(
            close, gap_open=False, clock_offset_ms=0
        ),
        "entry denied (gap open)": lambda: risk.check(entry, gap_open=True, clock_offset_ms=0),
        "on_equity (portfolio limits)": lambda: risk.on_equity(Decimal(10000), ZERO),
    }
    for name, fn in cases.items():
        per_s, result = rate(fn, clock, n)
        assert not isinstance(result, RiskDenied) or "gap" in name, result
        print(f"{name:<38} {per_s:>10,.0f} checks/s  ({1e6 / per_s:.2f} us/check)")


if __name__ == "__main__":
    # No options: --help says what it measures instead of running it.
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    main()
