"""RiskConfig: sane defaults, Decimal money only, each bad value refused with its key."""

from decimal import Decimal as D

import pytest

from risk_manager import RiskConfig


def test_defaults_are_valid_and_match_the_settings_defaults():
    config = RiskConfig()
    assert config.leverage == 3
    assert config.max_order_notional_usdt == D(500)
    assert config.max_position_notional_usdt == D(1000)
    assert config.stop_loss_pct == D(2) and config.take_profit_pct == D(0)
    assert config.max_drawdown_pct == D(10) and config.max_open_orders == 10
    assert config.kill_switch_file is None


def test_float_money_is_refused():
    with pytest.raises(TypeError, match="max_order_notional_usdt must be a Decimal"):
        RiskConfig(max_order_notional_usdt=500.0)  # type: ignore[arg-type]


def test_bool_for_an_integer_is_refused():
    with pytest.raises(TypeError, match="max_open_orders must be an int"):
        RiskConfig(max_open_orders=True)


def test_leverage_outside_binance_range_is_refused():
    with pytest.raises(ValueError, match=r"RiskConfig.leverage = 126 is not allowed"):
        RiskConfig(leverage=126)


def test_order_cap_above_position_cap_is_refused():
    with pytest.raises(ValueError, match="max_position_notional_usdt"):
        RiskConfig(max_order_notional_usdt=D(2000), max_position_notional_usdt=D(1000))


def test_a_percentage_of_100_is_refused():
    with pytest.raises(ValueError, match=r"max_drawdown_pct = Decimal\('100'\)"):
        RiskConfig(max_drawdown_pct=D(100))


def test_empty_kill_switch_path_is_refused():
    with pytest.raises(ValueError, match="kill_switch_file"):
        RiskConfig(kill_switch_file="")


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        RiskConfig().leverage = 10  # type: ignore[misc]
