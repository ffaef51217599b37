"""Fees, realized PnL, funding, margin and liquidation against hand-computed Decimal values.

Fees: maker 0.0002, taker 0.0005. Brackets: the reference's illustrative BTCUSDT tiers
(tier 1: notional < 50000, MMR 0.004, cum 0). Money in USDT.
"""

import pytest

from exchange_sim.engine import EngineConfig
from exchange_sim.errors import BinanceError
from tests.exchange_sim.test_engine_support import (
    T0,
    D,
    limit,
    make_exchange,
    market,
    of_type,
)

FUNDING_TIME = 1723161600000  # 2024-08-09 00:00:00 UTC, the first 8 h boundary after T0


def _incomes(ex, income_type):
    return [i["income"] for i in ex.income("alice", {"incomeType": income_type})]


def test_docs_worked_example_account_and_position_numbers():
    """Section 7.2/7.4: 10000 USDT, 10x, BUY 0.25 as taker over 67000.0/67000.1, mark 67003.04."""
    ex, _ = make_exchange(mark="67000.0", bid="66999.9", ask="67000.0", qty="0.150")
    ex.change_leverage("alice", {"symbol": "BTCUSDT", "leverage": "10"})

    ex.new_order("alice", market("BUY", "0.250"))
    ex.on_mark_price("BTCUSDT", D("67003.04"), D("67003.04"), D("0"), FUNDING_TIME, T0 + 1)

    acct = ex.account("alice", {})
    # 0.150*67000.0 + 0.100*67000.1 = 16750.01; fee 16750.01*0.0005 = 8.375005
    assert acct["totalWalletBalance"] == "9991.62499500"
    assert acct["totalUnrealizedProfit"] == "0.75000000"  # 0.25*(67003.04-67000.04)
    assert acct["totalPositionInitialMargin"] == "1675.07600000"  # 16750.76/10
    assert acct["totalMaintMargin"] == "67.00304000"  # 16750.76*0.004
    assert acct["availableBalance"] == "8317.29899500"  # 9992.374995 - 1675.076
    [risk] = ex.position_risk("alice", {"symbol": "BTCUSDT"})
    assert risk["entryPrice"] == "67000.04"
    assert risk["breakEvenPrice"] == "67033.54002"  # 67000.04 * 1.0005
    # (0.25*67000.04 - 9991.624995) / (0.25*(1-0.004)) = 27142.108453815..., cut to 8
    # decimals as in the reference's example (section 7.4), not rounded up
    assert risk["liquidationPrice"] == "27142.10845381"
    assert risk["notional"] == "16750.76000000"


def test_mark_derived_amounts_are_cut_to_8_decimals_as_in_the_real_position_risk():
    """The real GET /fapi/v3/positionRisk of 2024-07-28 (ccxt fixture in shared/data): 0.009
    BTC long at 67445.9, mark 67502.68519858, 80x, MMR 0.004. Exact values:
    unrealized 0.009 * 56.78519858 = 0.51106678722, notional 607.52416678722, maintenance
    607.52416678722 * 0.004 = 2.43009666714888, initial 607.52416678722 / 80 =
    7.59405208484025: Binance prints 0.51106678, 607.52416678, 2.43009666, 7.59405208."""
    ex, _ = make_exchange(mark="67445.9", bid="67445.8", ask="67445.9", qty="1.000")
    ex.change_leverage("alice", {"symbol": "BTCUSDT", "leverage": "80"})
    ex.new_order("alice", market("BUY", "0.009"))
    ex.on_mark_price("BTCUSDT", D("67502.68519858"), D("67502.68519858"), D("0"), T0 + 1, T0 + 1)

    [risk] = ex.position_risk("alice", {"symbol": "BTCUSDT"})

    real = {
        "entryPrice": "67445.9",
        "breakEvenPrice": "67479.62295",
        "markPrice": "67502.68519858",
        "unRealizedProfit": "0.51106678",
        "notional": "607.52416678",
        "initialMargin": "7.59405208",
        "maintMargin": "2.43009666",
    }
    assert {k: risk[k] for k in real} == real
    assert ex.account("alice", {})["totalUnrealizedProfit"] == "0.51106678"


def test_liquidation_check_values_equal_the_account_totals():
    """The liquidation check's margin balance and maintenance margin are `totals`' own, with
    a position and an open LIMIT order (whose margin only `totals` computes)."""
    ex, _ = make_exchange(mark="67000.0", bid="66999.9", ask="67000.0", qty="0.150")
    ex.new_order("alice", market("BUY", "0.250"))
    ex.new_order("alice", limit("BUY", "0.100", "60000.0"))
    ex.on_mark_price("BTCUSDT", D("67003.04"), D("67003.04"), D("0"), FUNDING_TIME, T0 + 1)
    ledger = ex.engine.ledger
    acct = ledger.account("alice")

    balance, maint = ledger.margin_balance_and_maint(acct)

    totals = ledger.totals(acct)
    assert totals.open_order_im > 0
    assert (balance, maint) == (totals.margin_balance, totals.maint)
    assert maint == D("67.00304")  # 16750.76 * 0.004


def test_round_trip_books_fees_and_realized_pnl():
    ex, _ = make_exchange()
    ex.new_order("alice", market("BUY", "0.100"))  # taker 0.100 @ 61800.3
    ex.new_order("alice", limit("SELL", "0.100", "61900.0"))

    ex.on_trade("BTCUSDT", D("61900.1"), D("0.500"), False, T0 + 1000)  # maker fill @ 61900.0

    open_fee = D("6180.03") * D("0.0005")  # 3.090015
    close_fee = D("6190.00") * D("0.0002")  # 1.238
    pnl = D("0.100") * (D("61900.0") - D("61800.3"))  # 9.97
    assert D(ex.balance("alice", {})[0]["balance"]) == D("10000") - open_fee + pnl - close_fee
    assert ex.balance("alice", {})[0]["balance"] == "10005.64198500"
    trades = ex.user_trades("alice", {"symbol": "BTCUSDT"})
    assert [(t["realizedPnl"], t["commission"]) for t in trades] == [
        ("0", "3.09001500"),
        ("9.97000000", "1.23800000"),
    ]
    assert _incomes(ex, "REALIZED_PNL") == ["9.97000000"]
    assert _incomes(ex, "COMMISSION") == ["-3.09001500", "-1.23800000"]


def test_fill_event_carries_realized_pnl_and_commission():
    ex, _ = make_exchange()
    ex.new_order("alice", market("BUY", "0.100"))
    ex.on_book_ticker("BTCUSDT", D("61850.0"), D("1"), D("61850.1"), D("1"), T0 + 1)
    ex.drain_user_events()

    ex.new_order("alice", market("SELL", "0.100"))

    fill = of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")[-1]["o"]
    # 0.1*(61850.0-61800.3) = 4.97; fee 6185.0*0.0005 = 3.0925
    assert (fill["rp"], fill["n"], fill["N"], fill["m"]) == (
        "4.97000000",
        "3.09250000",
        "USDT",
        False,
    )


def test_flip_reopens_at_the_fill_price():
    ex, _ = make_exchange()
    ex.new_order("alice", market("BUY", "0.100"))

    ex.new_order("alice", market("SELL", "0.300"))  # sells at the bid 61800.2

    [risk] = ex.position_risk("alice", {"symbol": "BTCUSDT"})
    assert (risk["positionAmt"], risk["entryPrice"]) == ("-0.200", "61800.2")
    assert _incomes(ex, "REALIZED_PNL") == ["-0.01000000"]  # 0.1*(61800.2-61800.3)


def test_account_update_after_fill_reports_wallet_and_position():
    ex, _ = make_exchange()

    ex.new_order("alice", market("BUY", "0.100"))

    [update] = of_type(ex.drain_user_events(), "ACCOUNT_UPDATE")
    assert update["a"]["m"] == "ORDER"
    assert update["a"]["B"] == [
        {"a": "USDT", "wb": "9996.90998500", "cw": "9996.90998500", "bc": "0"}
    ]
    [p] = update["a"]["P"]
    assert (p["s"], p["pa"], p["ep"], p["mt"], p["ps"]) == (
        "BTCUSDT",
        "0.100",
        "61800.3",
        "cross",
        "BOTH",
    )


def test_funding_long_pays_position_times_mark_times_rate():
    ex, _ = make_exchange()  # mark 61800.0, rate 0.0001
    ex.new_order("alice", market("BUY", "0.100"))
    wallet = D(ex.balance("alice", {})[0]["balance"])
    ex.drain_user_events()

    ex.on_time(FUNDING_TIME)

    amount = D("0.100") * D("61800.0") * D("0.0001")  # 0.618
    assert D(ex.balance("alice", {})[0]["balance"]) == wallet - amount
    assert _incomes(ex, "FUNDING_FEE") == ["-0.61800000"]
    [update] = of_type(ex.drain_user_events(), "ACCOUNT_UPDATE")
    assert update["a"]["m"] == "FUNDING_FEE" and update["a"]["P"] == []
    assert update["T"] == FUNDING_TIME


def test_funding_short_receives_with_fixed_rate_from_config():
    ex, _ = make_exchange(EngineConfig(fixed_funding_rate=D("0.0003")))
    ex.new_order("alice", market("SELL", "0.200"))

    ex.on_mark_price("BTCUSDT", D("61000.0"), D("61000.0"), D("0.05"), 0, FUNDING_TIME + 5)

    # settles with the mark in force before this update (61800.0): 0.2*61800*0.0003 = 3.708
    assert _incomes(ex, "FUNDING_FEE") == ["3.70800000"]


def test_funding_is_paid_once_per_interval():
    ex, _ = make_exchange()
    ex.new_order("alice", market("BUY", "0.100"))

    ex.on_time(FUNDING_TIME)
    ex.on_time(FUNDING_TIME + 1000)
    ex.on_time(FUNDING_TIME + 8 * 3600 * 1000)

    assert len(_incomes(ex, "FUNDING_FEE")) == 2


def test_order_needing_more_margin_than_available_is_2019():
    # 100 USDT at 20x: 0.040 @ 61700.0 needs 2468/20 = 123.4 > 100
    ex, _ = make_exchange(usdt="100")

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", limit("BUY", "0.040", "61700.0"))
    fits = ex.new_order("alice", limit("BUY", "0.030", "61700.0"))  # 1851/20 = 92.55

    assert (e.value.code, e.value.msg) == (-2019, "Margin is insufficient.")
    assert fits["status"] == "NEW"


def test_open_orders_reserve_margin_for_later_orders():
    ex, _ = make_exchange(usdt="100")
    ex.new_order("alice", limit("BUY", "0.030", "61700.0"))  # reserves 92.55

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", limit("BUY", "0.003", "61700.0"))  # +9.255 > 7.45 left

    assert e.value.code == -2019


def test_market_order_needs_position_margin_even_with_opposite_resting_orders():
    ex, _ = make_exchange(usdt="100")
    ex.new_order("alice", limit("SELL", "0.030", "61900.0"))  # reserves 1857/20 = 92.85

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", market("BUY", "0.030"))  # 0.03*61800.3/20 = 92.70 > 7.15

    assert e.value.code == -2019


def test_position_beyond_the_bracket_cap_of_the_leverage_is_2027():
    ex, _ = make_exchange()
    ex.change_leverage("alice", {"symbol": "BTCUSDT", "leverage": "100"})  # cap 600000

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", limit("BUY", "10.000", "61700.0"))  # 617000 notional

    assert e.value.code == -2027


def test_margin_check_can_be_switched_off():
    ex, _ = make_exchange(EngineConfig(margin_check=False), usdt="100")

    placed = ex.new_order("alice", limit("BUY", "1.000", "61700.0"))

    assert placed["status"] == "NEW"


def test_liquidation_happens_when_mark_crosses_the_documented_price():
    ex, _ = make_exchange(usdt="1000")
    ex.new_order("alice", market("BUY", "0.300"))  # taker @ 61800.3, IM 927.0045 at 20x
    wallet = D("1000") - D("0.300") * D("61800.3") * D("0.0005")  # 990.729955
    # Section 11.4, sole cross long, tier 1 (MMR 0.004, cum 0):
    # LP = (Q*EP - WB - cum) / (Q*(1-MMR))
    lp = (D("0.300") * D("61800.3") - wallet) / (D("0.300") * (1 - D("0.004")))
    [risk] = ex.position_risk("alice", {"symbol": "BTCUSDT"})
    assert D(risk["liquidationPrice"]) == lp.quantize(D("0.00000001"))
    ex.drain_user_events()

    ex.on_mark_price("BTCUSDT", lp + D("0.01"), lp, D("0"), FUNDING_TIME, T0 + 1000)
    survived = ex.position_risk("alice", {"symbol": "BTCUSDT"})
    mark = lp - D("0.01")
    ex.on_mark_price("BTCUSDT", mark, mark, D("0"), FUNDING_TIME, T0 + 2000)

    assert len(survived) == 1
    otus = [e["o"] for e in of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")]
    new, fill = otus
    fill_price = (mark / D("0.1")).to_integral_value(rounding="ROUND_FLOOR") * D("0.1")
    assert new["c"].startswith("autoclose-") and new["X"] == "NEW"
    assert (fill["x"], fill["X"], fill["o"], fill["f"], fill["R"]) == (
        "CALCULATED",
        "FILLED",
        "LIMIT",
        "IOC",
        True,
    )
    assert (D(fill["L"]), fill["z"], fill["S"]) == (fill_price, "0.300", "SELL")
    realized = D("0.300") * (fill_price - D("61800.3"))
    # The clearance fee (0.012 * notional) is capped at what is left: WB + realized >= 0.
    left = wallet + realized
    assert D(fill["rp"]) == realized
    assert D(fill["n"]) == min(D("0.300") * fill_price * D("0.012"), left)
    assert ex.balance("alice", {})[0]["balance"] == "0.00000000"
    assert ex.position_risk("alice", {}) == []


def test_liquidation_expires_open_orders_with_reason_5():
    ex, _ = make_exchange(usdt="1000")
    ex.new_order("alice", market("BUY", "0.300"))
    ex.new_order("alice", limit("SELL", "0.001", "70000.0"))
    ex.drain_user_events()

    ex.on_mark_price("BTCUSDT", D("50000.0"), D("50000.0"), D("0"), FUNDING_TIME, T0 + 1000)

    first = of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")[0]["o"]
    assert (first["X"], first["er"], first["p"]) == ("EXPIRED", "5", "70000.00")


def test_leverage_change_replies_and_emits_account_config_update():
    ex, _ = make_exchange()

    reply = ex.change_leverage("alice", {"symbol": "BTCUSDT", "leverage": "50"})

    assert reply == {"leverage": 50, "maxNotionalValue": "12000000", "symbol": "BTCUSDT"}
    [event] = of_type(ex.drain_user_events(), "ACCOUNT_CONFIG_UPDATE")
    assert event["ac"] == {"s": "BTCUSDT", "l": 50}


@pytest.mark.parametrize("leverage", ["0", "126", "abc", "-5"])
def test_invalid_leverage_is_4028(leverage):
    ex, _ = make_exchange()

    with pytest.raises(BinanceError) as e:
        ex.change_leverage("alice", {"symbol": "BTCUSDT", "leverage": leverage})

    assert e.value.code == -4028


def test_margin_type_errors_4046_4047_4048():
    ex, _ = make_exchange()
    with pytest.raises(BinanceError) as same:
        ex.change_margin_type("alice", {"symbol": "BTCUSDT", "marginType": "CROSSED"})
    ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    with pytest.raises(BinanceError) as orders:
        ex.change_margin_type("alice", {"symbol": "BTCUSDT", "marginType": "ISOLATED"})
    ex.cancel_all_open_orders("alice", {"symbol": "BTCUSDT"})
    ex.new_order("alice", market("BUY", "0.010"))
    with pytest.raises(BinanceError) as position:
        ex.change_margin_type("alice", {"symbol": "BTCUSDT", "marginType": "ISOLATED"})

    assert (same.value.code, orders.value.code, position.value.code) == (-4046, -4047, -4048)


def test_margin_type_change_succeeds_when_flat():
    ex, _ = make_exchange()

    reply = ex.change_margin_type("alice", {"symbol": "ETHUSDT", "marginType": "ISOLATED"})

    assert reply == {"code": 200, "msg": "success"}
    eth = next(c for c in ex.symbol_config("alice", {}) if c["symbol"] == "ETHUSDT")
    assert eth["marginType"] == "ISOLATED"


def test_position_mode_checks_then_refuses_hedge_mode():
    ex, _ = make_exchange()
    assert ex.get_position_mode("alice", {}) == {"dualSidePosition": False}
    with pytest.raises(BinanceError) as same:
        ex.set_position_mode("alice", {"dualSidePosition": "false"})
    ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    with pytest.raises(BinanceError) as orders:
        ex.set_position_mode("alice", {"dualSidePosition": "true"})
    ex.cancel_all_open_orders("alice", {"symbol": "BTCUSDT"})

    with pytest.raises(BinanceError) as hedge:
        ex.set_position_mode("alice", {"dualSidePosition": "true"})

    assert (same.value.code, orders.value.code, hedge.value.code) == (-4059, -4067, -1020)


def test_commission_rate_reports_the_configured_fees():
    ex, _ = make_exchange(EngineConfig(maker_fee=D("0.0001"), taker_fee=D("0.0004")))

    reply = ex.commission_rate("alice", {"symbol": "BTCUSDT"})

    assert reply == {
        "symbol": "BTCUSDT",
        "makerCommissionRate": "0.0001",
        "takerCommissionRate": "0.0004",
    }


def test_leverage_bracket_for_a_symbol_lists_the_tiers_as_numbers():
    ex, _ = make_exchange()

    reply = ex.leverage_bracket("alice", {"symbol": "BTCUSDT"})

    assert reply["brackets"][1] == {
        "bracket": 2,
        "initialLeverage": 100,
        "notionalCap": 600000,
        "notionalFloor": 50000,
        "maintMarginRatio": 0.005,
        "cum": 50.0,
    }


def test_income_filters_by_type_and_time():
    ex, _ = make_exchange()
    ex.new_order("alice", market("BUY", "0.100"))
    ex.on_time(FUNDING_TIME)

    funding = ex.income("alice", {"startTime": str(FUNDING_TIME)})

    assert [i["incomeType"] for i in funding] == ["FUNDING_FEE"]


def test_margin_call_is_sent_once_when_the_ratio_reaches_the_threshold():
    ex, _ = make_exchange(EngineConfig(margin_call_ratio=D("0.5")), usdt="1000")
    ex.new_order("alice", market("BUY", "0.300"))  # wallet 990.729955, entry 61800.3
    ex.drain_user_events()
    # At mark m: MM = 0.3*m*0.004, margin balance = 990.729955 + 0.3*(m - 61800.3).
    # m = 58900.0: MM 70.68, balance 120.639955 -> ratio 0.586 >= 0.5 (and > MM: no liquidation)

    ex.on_mark_price("BTCUSDT", D("60000.0"), D("60000.0"), D("0"), FUNDING_TIME, T0 + 1000)
    ex.on_mark_price("BTCUSDT", D("58900.0"), D("58900.0"), D("0"), FUNDING_TIME, T0 + 2000)
    ex.on_mark_price("BTCUSDT", D("58900.0"), D("58900.0"), D("0"), FUNDING_TIME, T0 + 3000)

    [call] = of_type(ex.drain_user_events(), "MARGIN_CALL")
    assert call["cw"] == "990.72995500"
    assert call["p"] == [
        {
            "s": "BTCUSDT",
            "ps": "BOTH",
            "pa": "0.300",
            "mt": "CROSSED",
            "iw": "0",
            "mp": "58900.00000000",
            "up": "-870.09000000",
            "mm": "70.68000000",
        }
    ]
