"""A strategy's parameters against its constructor's annotations (`strategy_param_types`), and
the built-in strategies refusing, with one line, what used to fail at the first bar or pass
as something else (`allow_short = "no"` was true)."""

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trading_engine.main_trading_strategy import (
    StrategyBase,
    StrategyParamsError,
    make_strategy,
)
from trading_engine.strategy_param_types import param_problem, unexpected_keyword


class _Owned:
    """A type of the strategy's own."""


class _Strategy:
    def __init__(
        self,
        *,
        period: int = 3,
        level: float = 0.5,
        size: Decimal | float | int | str = Decimal(1),
        short: bool = True,
        label: str = "",
        hold: int | None = None,
        path: Path | None = None,
        owned: _Owned | None = None,
        anything: Any = None,
    ) -> None:
        pass


def _problem(**params: Any) -> str | None:
    return param_problem(_Strategy, params)


def test_values_of_the_annotated_types_pass():
    assert _problem(period=5, level=1, size="2.5", short=False, label="x", hold=None) is None
    assert _problem(level=0.25, size=Decimal("3"), hold=7, path=Path("p"), anything=[1]) is None


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"period": 1.5}, "period = 1.5 is not a whole number"),
        ({"period": True}, "period = true is not a whole number"),
        ({"period": "3"}, 'period = "3" is not a whole number'),
        ({"level": "x"}, 'level = "x" is not a number'),
        ({"level": False}, "level = false is not a number"),
        ({"short": "no"}, 'short = "no" is not true or false'),
        ({"short": 1}, "short = 1 is not true or false"),
        ({"label": 5}, "label = 5 is not text"),
        ({"size": True}, "size = true is not a number or text"),
        ({"size": [1]}, "size = [1] is not a number or text"),
        ({"hold": 2.0}, "hold = 2.0 is not a whole number or none"),
    ],
)
def test_a_value_its_annotation_refuses_is_named_with_what_it_takes(params, says):
    assert _problem(**params) == says


def test_a_type_of_the_strategys_own_is_the_constructors_to_judge():
    assert _problem(owned="not one", path=3) is None  # a Path | None, an _Owned | None


def test_an_unknown_keyword_is_named_with_the_parameters_taken_but_the_runners():
    class Own:
        def __init__(self, *, lookback: int = 3, instruments: Any = None, feature_sink: Any = None):
            pass

    assert param_problem(Own, {"lookbak": 5, "lookback": 1.5}) == (
        'no parameter "lookbak"; its parameters: lookback'
    )


def test_a_constructor_taking_any_keyword_has_no_unknown_one():
    def factory(*, qty: str = "1", **common: Any) -> None:
        pass

    assert param_problem(factory, {"nonsense": 1}) is None


def test_unreadable_annotations_check_nothing():
    def factory(*, x: "Missing" = None) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    assert param_problem(factory, {"x": 1.5}) is None


@pytest.mark.parametrize(
    ("name", "params", "says"),
    [
        (
            "sma_crossover",
            {"fast": 1.5},
            "strategy sma_crossover: fast = 1.5 is not a whole number",
        ),
        ("sma_crossover", {"slow": 60.0}, "strategy sma_crossover: slow = 60.0 is not a whole"),
        ("sma_crossover", {"allow_short": "no"}, 'allow_short = "no" is not true or false'),
        ("rsi_macd", {"macd_fast": True}, "strategy rsi_macd: macd_fast = true is not a whole"),
        ("rsi_macd", {"oversold": "x"}, 'strategy rsi_macd: oversold = "x" is not a number'),
    ],
)
def test_the_built_in_strategies_refuse_a_value_of_the_wrong_type(name, params, says):
    with pytest.raises(StrategyParamsError) as e:
        make_strategy(name, **params)
    assert says in str(e.value)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        (
            "sma_crossover",
            'strategy sma_crossover: no parameter "fastt"; its parameters: fast, slow, '
            "order_notional_usdt, allow_short",
        ),
        (
            "rsi_macd",
            'strategy rsi_macd: no parameter "fastt"; its parameters: rsi_period, oversold, '
            "overbought, macd_fast, macd_slow, macd_signal, order_notional_usdt, allow_short",
        ),
    ],
)
def test_a_misspelt_parameter_of_a_built_in_strategy_lists_its_parameters(name, says):
    # It was Python's "SmaCrossover.__init__() got an unexpected keyword argument 'fastt'".
    with pytest.raises(StrategyParamsError) as e:
        make_strategy(name, fastt=5)
    assert str(e.value) == says


@pytest.mark.parametrize("notional", [True, "x", "", [1], "nan", "inf", float("nan")])
def test_a_notional_that_is_no_number_is_a_value_error(notional):
    with pytest.raises(ValueError, match="order_notional_usdt"):
        make_strategy("sma_crossover", order_notional_usdt=notional)


def test_the_built_in_strategies_still_take_their_values():
    s = make_strategy("sma_crossover", fast=3, slow=7, order_notional_usdt="500", allow_short=False)
    assert (s.fast, s.slow, s.order_notional_usdt, s.allow_short) == (3, 7, Decimal(500), False)
    r = make_strategy("rsi_macd", oversold=25, overbought=75.5, rsi_period=10)
    assert (r.oversold, r.overbought, r.rsi_period) == (25.0, 75.5, 10)


def test_a_keyword_error_of_the_constructors_own_code_is_left_as_it_is():
    class Base:
        def __init__(self, *, notional: int = 1) -> None:
            pass

    class Own(Base):
        def __init__(self, *, lookback: int = 3, **kwargs: Any) -> None:
            super().__init__(**kwargs)

    own_call = TypeError("Sma.__init__() got an unexpected keyword argument 'periodd'")
    passed_on = TypeError("Base.__init__() got an unexpected keyword argument 'lookbak'")

    assert unexpected_keyword(Own, {"lookback": 3}, own_call) is None
    assert unexpected_keyword(Own, {"lookbak": 3}, passed_on) == (
        'no parameter "lookbak"; its parameters: lookback, notional'
    )


class _Sized(StrategyBase):
    def __init__(
        self,
        *,
        size: Decimal = Decimal(1),
        either: Decimal | float = 1.0,
        level: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.size, self.either, self.level = size, either, level


def test_a_float_for_a_decimal_parameter_arrives_as_the_decimal_of_its_text():
    # --param size=0.3 (TOML: a float) reached a `size: Decimal` as 0.3 the float, whose
    # Decimal(size) is 0.29999999999999998889...: 0.299 on a 0.001 lot step.
    s = make_strategy(f"{__name__}:_Sized", size=0.3, either=0.3, level=0.3)

    assert (s.size, s.size.__class__) == (Decimal("0.3"), Decimal)  # type: ignore[attr-defined]
    assert s.either.__class__ is float and s.level.__class__ is float  # type: ignore[attr-defined]
