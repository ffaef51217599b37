"""Every limit `RiskManager.check` applies, at its edge: an order exactly at the limit passes and
one tick, step, cent or millisecond over it is denied, with the reason word for word.

Each limit is compared in one place (its `risk_manager.pre_trade` function, or for the
exchange's filters `core.instrument`), so these edges are the ones the daemon and the
backtester both apply. Limits (helpers.TEST_LIMITS): 5x, order 1000, position 2000, total 3000
USDT, price band 1 %, 3 open orders per symbol, 5 orders per minute, clock offset 1000 ms, data
lag 5000 ms (the config's default). BTCUSDT marks at 50000 here (tick 0.10, step 0.001, min
notional 10 USDT, PERCENT_PRICE 0.5454-1.1000, MAX_NUM_ORDERS 200, lot maxQty 1000); ETHUSDT
at 4000 (step 0.001). Books: flat, equity and available balance 10000 USDT, unless a case
sets them.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal as D
from typing import Any

import pytest

from core.enums import OrderType, Side
from core.events import RiskDenied
from core.orders import OrderRequest
from tests.risk_manager.helpers import FakeBooks, limit, market, stop

BUY, SELL = Side.BUY, Side.SELL
OK: dict[str, Any] = {"gap_open": False, "clock_offset_ms": 0}
ENTRY = limit(BUY, "0.010", "50000.0")  # 500 USDT, 100 USDT of margin: inside every limit


@pytest.fixture(autouse=True)
def _btc_at_50000(books):
    books.marks["BTCUSDT"] = D(50000)


def _nothing(books: FakeBooks) -> None:
    """The default books."""


@dataclass(frozen=True)
class Edge:
    """One limit's edge: `at` passes and `over` is denied with `reason`, on books set up by
    `books` and the test limits with `limits` overridden."""

    at: OrderRequest
    over: OrderRequest
    reason: str
    at_kw: dict[str, Any] = field(default_factory=dict)  # check()'s arguments besides OK's
    over_kw: dict[str, Any] = field(default_factory=dict)
    books: Callable[[FakeBooks], None] = _nothing
    limits: dict[str, Any] = field(default_factory=dict)


def _long_0_020_and_open_buys_0_010(books: FakeBooks) -> None:
    books.set_position("BTCUSDT", "0.020", "50000")
    books.open_qty[("BTCUSDT", BUY)] = D("0.010")


def _btc_at_10000(books: FakeBooks) -> None:
    books.marks["BTCUSDT"] = D(10000)


def _long_1001(books: FakeBooks) -> None:
    books.set_position("BTCUSDT", "1001", "50000")


def _long_0_050(books: FakeBooks) -> None:
    books.set_position("BTCUSDT", "0.050", "50000")


def _equity(usdt: str) -> Callable[[FakeBooks], None]:
    def setup(books: FakeBooks) -> None:
        books.equity_usdt = D(usdt)

    return setup


def _available(usdt: str) -> Callable[[FakeBooks], None]:
    def setup(books: FakeBooks) -> None:
        books.available_usdt = D(usdt)

    return setup


def _open_orders(n: int) -> Callable[[FakeBooks], None]:
    def setup(books: FakeBooks) -> None:
        books.open_orders["BTCUSDT"] = n

    return setup


def _btc_long_0_020_eth_short(qty: str) -> Callable[[FakeBooks], None]:
    def setup(books: FakeBooks) -> None:
        books.set_position("BTCUSDT", "0.020", "50000")
        books.set_position("ETHUSDT", qty, "4000")

    return setup


LATE = (
    "the daemon's view is more than 5000 ms behind the exchange (market data being caught up, "
    "or a reconciliation after a pause awaited): no new entries until it is current"
)

# Edges that move one variable across the limit: the order, or the books between the two
# checks (then `at` and `over` are the same order and the books' setup is per side).
EDGES = {
    "clock offset ahead: 1000 ms passes, 1001 ms is denied": Edge(
        at=ENTRY,
        over=ENTRY,
        at_kw={"clock_offset_ms": 1000},
        over_kw={"clock_offset_ms": 1001},
        reason="clock offset 1001 ms exceeds 1000 ms: no new entries",
    ),
    "clock offset behind: -1000 ms passes, -1001 ms is denied": Edge(
        at=ENTRY,
        over=ENTRY,
        at_kw={"clock_offset_ms": -1000},
        over_kw={"clock_offset_ms": -1001},
        reason="clock offset -1001 ms exceeds 1000 ms: no new entries",
    ),
    "data lag: 5000 ms passes, 5001 ms is denied": Edge(
        at=ENTRY,
        over=ENTRY,
        at_kw={"data_lag_ms": 5000},
        over_kw={"data_lag_ms": 5001},
        reason=LATE,
    ),
    # 1 % of 50000 is 500: 49500.0 is at the band; 49499.9 is 500.1 / 50000 = 1.0002 % away
    "price band below the mark: one tick further is denied": Edge(
        at=limit(BUY, "0.001", "49500.0"),
        over=limit(BUY, "0.001", "49499.9"),
        reason="price band: limit 49499.9 is 1.00% from mark 50000 (max 1%)",
    ),
    "price band above the mark: one tick further is denied": Edge(
        at=limit(SELL, "0.001", "50500.0"),
        over=limit(SELL, "0.001", "50500.1"),
        reason="price band: limit 50500.1 is 1.00% from mark 50000 (max 1%)",
    ),
    # PERCENT_PRICE (the exchange's): a BUY up to 50000 * 1.1000 = 55000.0 (band widened)
    "exchange PERCENT_PRICE cap of a buy: one tick over is denied": Edge(
        at=limit(BUY, "0.010", "55000.0"),
        over=limit(BUY, "0.010", "55000.1"),
        reason=(
            "instrument filter PERCENT_PRICE (-4016): Limit price can't be higher than 55000.0."
        ),
        limits={"price_band_pct": D(20)},
    ),
    # a SELL down to 50000 * 0.5454 = 27270.0
    "exchange PERCENT_PRICE floor of a sell: one tick under is denied": Edge(
        at=limit(SELL, "0.010", "27270.0"),
        over=limit(SELL, "0.010", "27269.9"),
        reason="instrument filter PERCENT_PRICE (-4024): Limit price can't be lower than 27270.0.",
        limits={"price_band_pct": D(50)},
    ),
    # at mark 10000: 0.001 * 10000.0 = 10 USDT is the minimum; 0.001 * 9999.9 = 9.9999
    "exchange MIN_NOTIONAL: one tick under 10 USDT is denied": Edge(
        at=limit(BUY, "0.001", "10000.0"),
        over=limit(BUY, "0.001", "9999.9"),
        reason=(
            "instrument filter MIN_NOTIONAL (-4164): Order's notional must be no smaller than "
            "10 (unless you choose reduce only)."
        ),
        books=_btc_at_10000,
    ),
    # a reduce-only close of a 1001 BTC long: one MARKET order may carry 1000 at most
    "exchange MARKET_LOT_SIZE maxQty: one step over is denied": Edge(
        at=market(SELL, "1000", reduce_only=True),
        over=market(SELL, "1000.001", reduce_only=True),
        reason="instrument filter MARKET_LOT_SIZE (-4005): Quantity greater than max quantity.",
        books=_long_1001,
    ),
    # a strategy's reduce-only close is held to the exchange's MAX_NUM_ORDERS (200)
    "exchange MAX_NUM_ORDERS: the 200th open order is denied": Edge(
        at=market(SELL, "0.050", reduce_only=True),
        over=market(SELL, "0.050", reduce_only=True),
        reason="instrument filter MAX_NUM_ORDERS (-2025): Reach max open order limit.",
        books=_long_0_050,
        at_kw={"books": _open_orders(199)},
        over_kw={"books": _open_orders(200)},
    ),
    "max open orders: 2 open pass, 3 are denied": Edge(
        at=ENTRY,
        over=ENTRY,
        reason="max open orders: 3 open on BTCUSDT (max 3)",
        at_kw={"books": _open_orders(2)},
        over_kw={"books": _open_orders(3)},
    ),
    # 0.020 * 50000.0 = 1000 USDT; 0.020 * 50000.1 = 1000.002 (worded 1000.00)
    "order notional: one tick over 1000 USDT is denied": Edge(
        at=limit(BUY, "0.020", "50000.0"),
        over=limit(BUY, "0.020", "50000.1"),
        reason="order notional 1000.00 USDT exceeds max 1000 USDT",
    ),
    # long 0.020 + open buys 0.010 + 0.010 = 0.040 * 50000 = 2000; + 0.011: 2050
    "position notional: one step over 2000 USDT is denied": Edge(
        at=market(BUY, "0.010"),
        over=market(BUY, "0.011"),
        reason=(
            "position notional 2050.00 USDT (BTCUSDT 0.041 incl. open orders) exceeds max 2000 USDT"
        ),
        books=_long_0_020_and_open_buys_0_010,
    ),
    # BTC 0.040 * 50000 = 2000 + ETH short 0.250 * 4000 = 1000: 3000; 0.251: 3004
    "total notional: one step of ETH over 3000 USDT is denied": Edge(
        at=market(BUY, "0.020"),
        over=market(BUY, "0.020"),
        reason="total notional 3004.00 USDT exceeds max 3000 USDT",
        at_kw={"books": _btc_long_0_020_eth_short("-0.250")},
        over_kw={"books": _btc_long_0_020_eth_short("-0.251")},
    ),
    # 1000 USDT on 200 USDT is 5x; on 199.99 it is 5.0002x
    "leverage: a cent less equity is denied": Edge(
        at=market(BUY, "0.020"),
        over=market(BUY, "0.020"),
        reason=(
            "leverage 5.00x (total notional 1000.00 USDT on equity 199.99 USDT) exceeds max 5x"
        ),
        at_kw={"books": _equity("200")},
        over_kw={"books": _equity("199.99")},
    ),
    # 1000 / 5 = 200 USDT of margin, plus the 50 USDT reserve: 250 available is enough
    "margin with a reserve: a cent less available is denied": Edge(
        at=market(BUY, "0.020"),
        over=market(BUY, "0.020"),
        reason=(
            "insufficient margin: order needs 200.00 USDT at 5x, available 249.99 USDT "
            "(reserve 50 USDT)"
        ),
        limits={"min_available_margin_usdt": D(50)},
        at_kw={"books": _available("250")},
        over_kw={"books": _available("249.99")},
    ),
}


def _check(risk: Any, books: FakeBooks, order: OrderRequest, kw: dict[str, Any]) -> Any:
    kw = dict(kw)
    if setup := kw.pop("books", None):
        setup(books)
    return risk.check(order, **{**OK, **kw})


@pytest.mark.parametrize("edge", list(EDGES.values()), ids=list(EDGES))
def test_a_limit_passes_at_its_edge_and_denies_one_unit_over(make_risk, books, edge):
    risk = make_risk(**edge.limits)
    edge.books(books)

    passed = _check(risk, books, edge.at, edge.at_kw)
    denied = _check(risk, books, edge.over, edge.over_kw)

    assert isinstance(passed, OrderRequest), f"expected an approval, got {passed}"
    assert passed.quantity == edge.at.quantity and passed.price == edge.at.price  # on the grid
    assert isinstance(denied, RiskDenied), f"expected a denial, got {denied}"
    assert denied.reason == edge.reason


def test_the_order_rate_passes_the_fifth_order_and_denies_the_sixth_until_the_first_is_60_s_old(
    risk, clock
):
    noon = clock.now_ms()
    for n in range(5):  # one a second: noon + 0 .. noon + 4_000
        assert isinstance(risk.check(ENTRY, **OK, now_ms=noon + n * 1000), OrderRequest)

    one_ms_early = risk.check(ENTRY, **OK, now_ms=noon + 59_999)
    first_out = risk.check(ENTRY, **OK, now_ms=noon + 60_000)  # noon + 0 is 60 s old: out
    window_full_again = risk.check(ENTRY, **OK, now_ms=noon + 60_000)

    assert isinstance(one_ms_early, RiskDenied)
    assert one_ms_early.reason == "max orders per minute: 5 sent in the last 60 s (max 5)"
    assert isinstance(first_out, OrderRequest)
    assert isinstance(window_full_again, RiskDenied)  # the approval at 60_000 was counted


def _protected_long_with_entries(books: FakeBooks, entries: int) -> None:
    """Long 0.020 guarded by its closePosition stop-loss and 4 reduce-only take-profits (none
    of them uses the entries' budget), and `entries` open entry orders."""
    books.set_position("BTCUSDT", "0.020", "50000")
    books.add_open(replace(stop(OrderType.STOP_MARKET, SELL, "49000.0"), client_order_id="sl"))
    for n in range(4):
        tp = stop(OrderType.TAKE_PROFIT_MARKET, SELL, "52000.0")
        books.add_open(
            replace(tp, quantity=D("0.005"), close_position=False, client_order_id=f"tp-{n}")
        )
    for n in range(entries):
        books.add_open(replace(limit(BUY, "0.001", "49600.0"), client_order_id=f"e-{n}"))


def test_max_open_orders_beside_the_protection_passes_2_entries_and_denies_3(make_risk, books):
    # 5 protective orders + 2 entries = 7 open, over the cap of 3 counted all together: only
    # the entries count, and 2 < 3 passes; with a third entry (8 open) 3 entries are denied
    risk = make_risk(max_open_orders=3)
    _protected_long_with_entries(books, entries=2)
    assert books.open_order_count("BTCUSDT") == 7

    passed = risk.check(ENTRY, **OK)
    books.add_open(replace(limit(BUY, "0.001", "49600.0"), client_order_id="e-2"))
    denied = risk.check(ENTRY, **OK)

    assert passed is ENTRY
    assert isinstance(denied, RiskDenied)
    assert denied.reason == "max open orders: 3 open on BTCUSDT (max 3)"
