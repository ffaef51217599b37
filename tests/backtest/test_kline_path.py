"""A stop or take-profit inside a 1m bar fills where the bar's path passes its trigger price,
not at the path's next point (the bar's low or high): the price went through every level on
the way, and on Binance the triggered market order takes the book of that moment. Filled at
the extreme, a stop lost the rest of the bar's range and a take-profit won it."""

from dataclasses import replace
from decimal import Decimal as D

import pytest

from backtest.data import Klines
from backtest.runner import BacktestConfig, backtest_risk, run_backtest

T0 = 1_746_403_200_000  # 2025-05-05 00:00 UTC


def bars(*ohlc: tuple[str, str, str, str]) -> Klines:
    return Klines(
        [T0 + i * 60_000 for i in range(len(ohlc))],
        *(list(col) for col in zip(*ohlc, strict=True)),
        ["10"] * len(ohlc),
    )


def run(data: Klines, *, stop: str, take: str, slippage_bps: str = "0") -> list[tuple[str, D]]:
    """(order type, fill price) of each fill: SMA 1/2 goes long 0.01 BTC at bar 1's close of
    100,000.0 (1,000 USDT), protected by a stop `stop` % and a take-profit `take` % away."""
    risk = replace(backtest_risk(D(1000)), stop_loss_pct=D(stop), take_profit_pct=D(take))
    config = BacktestConfig(
        strategy_params={"fast": 1, "slow": 2, "order_notional_usdt": D(1000)},
        risk=risk,
        slippage_bps=D(slippage_bps),
    )
    journal = run_backtest(data, config).journal
    return [(journal.orders[f.client_order_id].type, f.price) for f in journal.fills]


ENTRY = (("99000.0",) * 4, ("99000.0", "100000.0", "99000.0", "100000.0"))


@pytest.mark.parametrize("fast_path", [True, False])
def test_a_stop_inside_a_down_bar_fills_at_its_trigger_not_at_the_low(fast_path):
    # Bar 2 falls from 100,000.0 to 95,000.0: the 2 % stop at 98,000.0 is passed on the way.
    data = bars(*ENTRY, ("100000.0", "100000.0", "95000.0", "99000.0"))

    fills = run(data, stop="2", take="0")

    assert fills[0] == ("MARKET", D("100000.0"))
    assert fills[1] == ("STOP_MARKET", D("98000.0"))  # not 95,000.0


def test_a_take_profit_inside_an_up_bar_fills_at_its_trigger_not_at_the_high():
    # Bar 2 rises from 100,000.0 to 105,000.0: the 1 % take-profit at 101,000.0 on the way.
    data = bars(*ENTRY, ("100000.0", "105000.0", "100000.0", "100500.0"))

    fills = run(data, stop="2", take="1")

    assert fills[1] == ("TAKE_PROFIT_MARKET", D("101000.0"))  # not 105,000.0


def test_with_slippage_the_triggered_stop_pays_it_beyond_its_trigger():
    # 1 bps of 98,000.0 = 9.8, i.e. 98 ticks of 0.1 below the trigger: 97,990.2. The entry
    # pays it too: 100,000.0 + 10.0.
    data = bars(*ENTRY, ("100000.0", "100000.0", "95000.0", "99000.0"))

    fills = run(data, stop="2", take="0", slippage_bps="1")

    assert fills[0] == ("MARKET", D("100010.0"))
    # The stop is 2 % under the entry's fill: 100,010.0 x 0.98 = 98,009.8; 1 bps of it is
    # 9.8009.. -> 99 ticks (rounded away from the price): 97,999.9.
    assert fills[1] == ("STOP_MARKET", D("97999.9"))
