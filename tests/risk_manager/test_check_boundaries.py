"""RiskManager.check at the edges of each pre-trade limit: exactly at it (passes), just over it
(denied), after rounding to the exchange's step; closing orders past every exposure limit.

Limits (helpers.TEST_LIMITS): 5x, order 1000, position 2000, total 3000 USDT, price band 1 %,
3 open orders per symbol. Here BTCUSDT marks at 50000 (so 0.020 BTC is exactly 1000 USDT; step
0.001, tick 0.10), ETHUSDT at 4000 (min notional 10 USDT, step 0.001).
"""

from decimal import Decimal as D

import pytest

from core.enums import OrderType, Side
from core.events import RiskDenied
from core.orders import OrderRequest
from tests.risk_manager.helpers import limit, market

OK = {"gap_open": False, "clock_offset_ms": 0}
BUY, SELL = Side.BUY, Side.SELL


@pytest.fixture(autouse=True)
def _btc_at_50000(books):
    books.marks["BTCUSDT"] = D(50000)


def approved(result) -> OrderRequest:
    assert isinstance(result, OrderRequest), f"expected an approval, got {result}"
    return result


def denial(result) -> str:
    assert isinstance(result, RiskDenied), f"expected a denial, got {result}"
    return result.reason


def test_order_notional_exactly_at_the_cap_passes(risk):
    assert approved(risk.check(market(BUY, "0.020"), **OK)).quantity == D("0.020")  # 1000


def test_order_notional_at_the_cap_after_the_step_floor_passes(risk):
    # 0.0209 floors to 0.020: 1000 USDT, what is sent
    assert approved(risk.check(market(BUY, "0.0209"), **OK)).quantity == D("0.020")


def test_order_notional_one_step_over_the_cap_is_denied(risk):
    assert denial(risk.check(market(BUY, "0.021"), **OK)) == (
        "order notional 1050.00 USDT exceeds max 1000 USDT"
    )


def test_position_notional_exactly_at_the_cap_passes(risk, books):
    # long 0.020 + open buys 0.010 + 0.010 = 0.040 * 50000 = 2000
    books.set_position("BTCUSDT", "0.020", "50000")
    books.open_qty[("BTCUSDT", BUY)] = D("0.010")
    approved(risk.check(market(BUY, "0.010"), **OK))


def test_position_notional_one_step_over_the_cap_is_denied(risk, books):
    books.set_position("BTCUSDT", "0.020", "50000")
    books.open_qty[("BTCUSDT", BUY)] = D("0.010")
    assert denial(risk.check(market(BUY, "0.011"), **OK)) == (
        "position notional 2050.00 USDT (BTCUSDT 0.041 incl. open orders) exceeds max 2000 USDT"
    )


def test_total_notional_exactly_at_the_cap_passes_and_one_step_over_is_denied(risk, books):
    # BTC 0.020 + 0.020 = 0.040 * 50000 = 2000; ETH short 0.250 * 4000 = 1000: 3000
    books.set_position("BTCUSDT", "0.020", "50000")
    books.set_position("ETHUSDT", "-0.250", "4000")
    approved(risk.check(market(BUY, "0.020"), **OK))
    books.set_position("ETHUSDT", "-0.251", "4000")  # 1004
    assert denial(risk.check(market(BUY, "0.020"), **OK)) == (
        "total notional 3004.00 USDT exceeds max 3000 USDT"
    )


def test_leverage_exactly_at_the_max_passes_and_just_over_is_denied(risk, books):
    books.equity_usdt = D(200)  # 1000 USDT on 200 = 5x
    approved(risk.check(market(BUY, "0.020"), **OK))
    books.equity_usdt = D("199.99")
    assert denial(risk.check(market(BUY, "0.020"), **OK)) == (
        "leverage 5.00x (total notional 1000.00 USDT on equity 199.99 USDT) exceeds max 5x"
    )


def test_margin_exactly_available_passes_and_a_cent_less_is_denied(risk, books):
    books.available_usdt = D(200)  # 1000 / 5
    approved(risk.check(market(BUY, "0.020"), **OK))
    books.available_usdt = D("199.99")
    assert denial(risk.check(market(BUY, "0.020"), **OK)) == (
        "insufficient margin: order needs 200.00 USDT at 5x, available 199.99 USDT (reserve 0 USDT)"
    )


@pytest.mark.parametrize(
    ("side", "inside", "outside"),
    [(BUY, "49500.0", "49499.9"), (SELL, "50500.0", "50500.1")],
)
def test_price_band_exactly_one_percent_passes_and_one_tick_further_is_denied(
    risk, side, inside, outside
):
    approved(risk.check(limit(side, "0.001", inside), **OK))
    assert denial(risk.check(limit(side, "0.001", outside), **OK)).startswith(
        f"price band: limit {outside} is 1.00% from mark 50000 (max 1%)"
    )


def test_one_open_order_under_the_max_passes(risk, books):
    books.open_orders["BTCUSDT"] = 2
    approved(risk.check(market(BUY, "0.001"), **OK))


def test_a_reduce_only_close_passes_every_exposure_limit_at_once(risk, books):
    """Long 0.050 (2500 USDT: over the order and position caps), equity 1 USDT (2500x), no
    margin available, the open-order limit reached: closing it must still pass."""
    books.set_position("BTCUSDT", "0.050", "50000")
    books.equity_usdt = D(1)
    books.available_usdt = D(0)
    books.open_orders["BTCUSDT"] = 3
    assert approved(risk.check(market(SELL, "0.050", reduce_only=True), **OK)).quantity == D(
        "0.050"
    )


def test_a_flip_needs_margin_only_for_the_part_that_opens(risk, books):
    # long 0.010, sell 0.020: 0.010 closes, 0.010 opens short -> 0.010 * 50000 / 5 = 100
    books.set_position("BTCUSDT", "0.010", "50000")
    books.available_usdt = D(100)
    approved(risk.check(market(SELL, "0.020"), **OK))
    books.available_usdt = D("99.99")
    assert denial(risk.check(market(SELL, "0.020"), **OK)).startswith(
        "insufficient margin: order needs 100.00 USDT"
    )


def test_a_flip_is_capped_on_the_side_it_opens(make_risk, books):
    """Position cap 1000: long 0.005, open sells 0.005, sell 0.020 -> worst case short 0.020 =
    1000 passes (the long it closes is not counted); with open sells 0.006 -> short 0.021 =
    1050 is denied."""
    risk = make_risk(max_order_notional_usdt=D(1000), max_position_notional_usdt=D(1000))
    books.set_position("BTCUSDT", "0.005", "50000")
    books.open_qty[("BTCUSDT", SELL)] = D("0.005")
    approved(risk.check(market(SELL, "0.020"), **OK))
    books.open_qty[("BTCUSDT", SELL)] = D("0.006")
    assert denial(risk.check(market(SELL, "0.020"), **OK)) == (
        "position notional 1050.00 USDT (BTCUSDT -0.021 incl. open orders) exceeds max 1000 USDT"
    )


def _eth_market(side: Side, qty: str, *, reduce_only: bool) -> OrderRequest:
    return OrderRequest(
        symbol="ETHUSDT",
        side=side,
        type=OrderType.MARKET,
        quantity=D(qty),
        client_order_id="t-eth",
        reduce_only=reduce_only,
    )


def test_a_position_below_the_min_notional_can_be_closed_reduce_only(risk, books):
    """ETH long 0.001 at 4000 = 4 USDT, under the 10 USDT minimum notional: Binance refuses
    a plain order that small (-4164) but not a reduce-only one; the flatten is reduce-only."""
    books.set_position("ETHUSDT", "0.001", "4000")
    approved(risk.check(_eth_market(SELL, "0.001", reduce_only=True), **OK))
    assert "-4164" in denial(risk.check(_eth_market(SELL, "0.001", reduce_only=False), **OK))


# The fused path (`RiskManager._evaluate` / `_check_entry`): each check's comparison is written
# inline and its pure function is called only for the reason. Denials where only the inline
# guard could go wrong:


def test_an_entry_on_no_equity_is_denied_with_the_leverage_reason(risk, books):
    books.equity_usdt = D(0)
    assert denial(risk.check(market(BUY, "0.020"), **OK)) == (
        "leverage: equity 0 USDT is not positive"
    )


def test_a_clock_offset_exactly_the_max_behind_passes_and_one_ms_more_is_denied(risk):
    entry = limit(BUY, "0.010", "50000.0")
    approved(risk.check(entry, gap_open=False, clock_offset_ms=-1000))
    assert denial(risk.check(entry, gap_open=False, clock_offset_ms=-1001)) == (
        "clock offset -1001 ms exceeds 1000 ms: no new entries"
    )


def test_a_gap_and_a_late_view_together_name_the_gap_first(risk):
    result = risk.check(
        limit(BUY, "0.010", "50000.0"), gap_open=True, clock_offset_ms=0, data_lag_ms=9999
    )
    assert denial(result) == "market-data gap open: no new entries until it is healed"


def test_the_fifth_order_of_a_minute_passes_and_the_sixth_is_denied(risk):
    entry = limit(BUY, "0.001", "50000.0")
    for _ in range(5):  # max_orders_per_minute 5
        approved(risk.check(entry, **OK))
    assert denial(risk.check(entry, **OK)) == (
        "max orders per minute: 5 sent in the last 60 s (max 5)"
    )
