"""A strategy of one's own, named `module:Class`: built with its parameters by the daemon's
config (`[strategy.params]`) and by the backtester (`--param`), as the shipped ones are."""

import csv
import json
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import backtest_trading_strategy as cli
from core.account import AccountView
from core.instrument import Instrument
from core.market import Bar
from core.orders import TargetPosition
from runtime.settings import ConfigError, load_settings, strategy_params
from trading_engine.main_trading_strategy import (
    Proposals,
    StrategyBase,
    StrategyLoadError,
    StrategyParamsError,
    make_strategy,
)

ROOT = Path(__file__).resolve().parents[2]
KLINES = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
OWN = f"{__name__}:HoldLong"


class HoldLong(StrategyBase):
    """Long `qty` contracts on every closed bar; takes exactly what the daemon passes."""

    name = "hold_long"

    def __init__(
        self,
        *,
        qty: str,
        order_notional_usdt: Decimal,
        allow_short: bool,
        instruments: Mapping[str, Instrument],
        warm_up: int = 3,
    ) -> None:
        self.qty = Decimal(qty)
        self.order_notional_usdt = order_notional_usdt
        self.warmup_bars = warm_up
        self.warmed: list[Bar] = []

    def warm(self, bars: Sequence[Bar]) -> None:
        self.warmed.extend(bars)

    def on_bar(self, bar: Bar, view: AccountView) -> Proposals:
        return (TargetPosition(symbol=bar.symbol, qty=self.qty, reason="hold"),)


def test_make_strategy_builds_a_strategy_of_your_own_named_module_colon_class():
    s = make_strategy(
        OWN, qty="0.002", order_notional_usdt=Decimal(1), allow_short=True, instruments={}
    )

    assert isinstance(s, HoldLong) and s.qty == Decimal("0.002")


def test_an_unknown_module_is_one_line_naming_it():
    with pytest.raises(
        ValueError, match=r"^strategy 'no_such_module:X': no module named 'no_such_module'"
    ):
        make_strategy("no_such_module:X")


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("mine.py", " (the class too: mine.py:ClassName)"),
        ("strategies/mine.py", " (the class too: strategies/mine.py:ClassName)"),
        ("mine.Breakout", " (a colon before the class: mine:Breakout)"),
        ("Breakout", "for one of your own"),
    ],
)
def test_a_reference_without_its_colon_says_how_it_is_written(name, hint):
    # "unknown strategy 'mine.py'" listed the shipped strategies and the forms, not which
    # part of it was missing.
    with pytest.raises(StrategyLoadError) as raised:
        make_strategy(name)

    assert str(raised.value).startswith(f"unknown strategy {name!r}; known: ")
    assert str(raised.value).endswith(hint)


def test_a_parameter_the_strategy_does_not_take_is_one_line_naming_it():
    with pytest.raises(ValueError, match=r'^strategy sma_crossover: no parameter "lookback"'):
        make_strategy("sma_crossover", lookback=3)


class PassesOn(StrategyBase):
    """Its own parameter, the common ones passed on to StrategyBase (as its docstring says)."""

    def __init__(self, *, lookback: int = 20, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lookback = lookback


def test_a_misspelt_parameter_of_a_strategy_passing_kwargs_on_lists_its_parameters():
    # It was "StrategyBase.__init__() got an unexpected keyword argument 'lookbak'": neither
    # the strategy's class nor what it takes.
    with pytest.raises(StrategyParamsError) as raised:
        make_strategy(f"{__name__}:PassesOn", lookbak=5, order_notional_usdt=100)

    assert str(raised.value) == (
        f'strategy {__name__}:PassesOn: no parameter "lookbak"; its parameters: lookback, '
        "order_notional_usdt, allow_short"
    )


class Levelled(HoldLong):
    """Sized by a named level: a level it does not know is a KeyError of its own code."""

    def __init__(self, *, level: str, **params: object) -> None:
        self.notional = {"low": Decimal(100)}[level]


def test_a_strategy_of_ones_own_whose_constructor_raises_is_one_line_naming_where():
    """A KeyError of its own code went up as is: the daemon said "unexpected error, please
    report it" with a traceback."""
    where = Levelled.__init__.__code__.co_firstlineno + 1  # the line that raises

    with pytest.raises(ValueError) as raised:
        make_strategy(f"{__name__}:Levelled", level="high")

    assert str(raised.value) == (
        f"strategy '{__name__}:Levelled': its constructor raised KeyError at "
        f"test_strategy_of_your_own.py:{where}: 'high'"
    )


def test_the_config_selects_a_strategy_of_your_own_with_its_params(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        f'[strategy]\nname = "{OWN}"\n[strategy.params]\nqty = "0.002"\nwarm_up = 5\n'
    )

    settings = load_settings(config, env_file=None)

    params = strategy_params(settings, {})
    assert params == {
        "order_notional_usdt": Decimal(200),
        "allow_short": True,
        "instruments": {},
        "qty": "0.002",
        "warm_up": 5,
    }  # not the sma_crossover's fast/slow
    assert make_strategy(settings.strategy.name, **params).warmup_bars == 5


def test_the_config_says_what_a_strategy_name_without_its_colon_meant(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[strategy]\nname = "mine.Breakout"\n')

    with pytest.raises(ConfigError) as raised:
        load_settings(config, env_file=None)
    assert str(raised.value).endswith(
        "(a strategy of your own) (a colon before the class: mine:Breakout)"
    )


def test_the_config_refuses_params_for_a_shipped_strategy(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[strategy]\nname = "sma_crossover"\n[strategy.params]\nfast = 3\n')

    with pytest.raises(ConfigError, match=r"^strategy.params = \{fast = 3\} is not allowed"):
        load_settings(config, env_file=None)


def test_the_backtester_runs_a_strategy_of_your_own_with_its_params(tmp_path):
    out = tmp_path / "out"
    argv = ["--data", str(KLINES), "--strategy", OWN, "--param", 'qty="0.002"']
    argv += ["--param", "warm_up=7", "--start", "2025-05-06", "--end", "2025-05-06T02:00"]

    assert cli.main([*argv, "--no-progress", "--out", str(out)]) == 0

    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["strategy"] == OWN
    assert summary["settings"]["strategy_params"]["qty"] == "0.002"
    assert summary["data"]["warm_bars"] == 7
    with (out / "orders.csv").open() as fh:
        first = next(csv.DictReader(fh))
    assert (first["side"], Decimal(first["quantity"])) == ("BUY", Decimal("0.002"))


# --- a strategy file of one's own, found without PYTHONPATH ----------------------------------

STRATEGY_FILE = """
from decimal import Decimal
from core.orders import TargetPosition
from trading_engine.main_trading_strategy import StrategyBase


class Hold(StrategyBase):
    name = "hold_from_file"
    warmup_bars = 2

    def __init__(self, *, qty="0.002", **common):
        super().__init__(**common)
        self.qty = Decimal(qty)

    def on_bar(self, bar, view):
        return (TargetPosition(symbol=bar.symbol, qty=self.qty, reason="hold"),)
"""


@pytest.fixture
def own_dir(tmp_path, monkeypatch):
    """The working directory of a user's run, and imports undone after the test (the strategy
    modules a test loads, and the folders put on sys.path for them)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_a_strategy_file_given_by_a_relative_path_loads_from_the_working_directory(own_dir):
    (own_dir / "strategies").mkdir()
    (own_dir / "strategies" / "hold_by_path.py").write_text(STRATEGY_FILE)

    s = make_strategy("strategies/hold_by_path.py:Hold", qty="0.003")

    assert (s.name, s.qty) == ("hold_from_file", Decimal("0.003"))


def test_a_strategy_module_in_the_working_directory_loads_without_pythonpath(own_dir):
    (own_dir / "hold_in_cwd.py").write_text(STRATEGY_FILE)

    s = make_strategy("hold_in_cwd:Hold")

    assert s.name == "hold_from_file"


def test_a_module_in_the_working_directory_missing_an_import_names_the_import(own_dir):
    # It said "no module named 'no_such_helper'", as if the strategy's module were missing.
    (own_dir / "needs_helper.py").write_text("import no_such_helper\n")

    with pytest.raises(ValueError) as raised:
        make_strategy("needs_helper:Hold")

    assert str(raised.value) == (
        "strategy 'needs_helper:Hold': importing needs_helper raised ModuleNotFoundError at "
        "needs_helper.py:1: No module named 'no_such_helper'"
    )


def test_a_strategy_file_imports_a_helper_module_beside_it(own_dir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("mine")
    (elsewhere / "sizing_helper.py").write_text('QTY = "0.004"\n')
    (elsewhere / "hold_with_helper.py").write_text(
        STRATEGY_FILE.replace('qty="0.002"', "qty=sizing_helper.QTY").replace(
            "from decimal", "import sizing_helper\nfrom decimal"
        )
    )

    s = make_strategy(f"{elsewhere}/hold_with_helper.py:Hold")

    assert s.qty == Decimal("0.004")


def test_a_missing_strategy_file_is_one_line_naming_the_path(own_dir):
    with pytest.raises(ValueError) as raised:
        make_strategy("nowhere/mine.py:Hold")

    assert str(raised.value) == (
        f"strategy 'nowhere/mine.py:Hold': no file {own_dir.resolve() / 'nowhere' / 'mine.py'}"
    )


def test_a_strategy_file_without_the_class_is_one_line_naming_both(own_dir):
    (own_dir / "hold_no_class.py").write_text(STRATEGY_FILE)

    with pytest.raises(ValueError) as raised:
        make_strategy("hold_no_class.py:Breakout")

    assert str(raised.value) == (
        f"strategy 'hold_no_class.py:Breakout': {own_dir.resolve() / 'hold_no_class.py'} "
        "has no Breakout"
    )


def test_a_strategy_file_that_does_not_compile_is_one_line_naming_its_line(own_dir):
    (own_dir / "hold_broken.py").write_text("x = 1\ndef on_bar(:\n")

    with pytest.raises(ValueError) as raised:
        make_strategy("hold_broken.py:Hold")

    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith(
        f"strategy 'hold_broken.py:Hold': loading {own_dir.resolve() / 'hold_broken.py'} "
        "raised SyntaxError at hold_broken.py:2: "
    )


def test_the_config_takes_a_strategy_file_path(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[strategy]\nname = "strategies/mine.py:Breakout"\n')

    assert load_settings(config, env_file=None).strategy.name == "strategies/mine.py:Breakout"


def test_the_backtester_runs_a_strategy_file_from_the_working_directory(own_dir):
    (own_dir / "hold_for_backtest.py").write_text(STRATEGY_FILE)
    argv = ["--data", str(KLINES), "--strategy", "hold_for_backtest.py:Hold"]
    argv += ["--start", "2025-05-06", "--end", "2025-05-06T01:00", "--no-progress"]

    assert cli.main([*argv, "--out", "out"]) == 0

    summary = json.loads((own_dir / "out" / "summary.json").read_text())
    assert summary["data"]["warm_bars"] == 2
    assert summary["counters"]["submitted"] >= 1


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (
            "order_notional_usdt = 500",
            "strategy.params.order_notional_usdt = 500 is not allowed: every strategy gets "
            "order_notional_usdt from [strategy] (set it there; it is 200)",
        ),
        (
            "allow_short = false",
            "strategy.params.allow_short = false is not allowed: every strategy gets "
            "allow_short from [strategy] (set it there; it is true)",
        ),
        ('instruments = "x"', "strategy.params.instruments is not allowed: the daemon passes"),
    ],
)
def test_the_config_refuses_a_common_parameter_in_the_strategys_params(tmp_path, line, says):
    # [strategy.params] order_notional_usdt = 500 replaced [strategy]'s 200 without a word,
    # past the check against risk.max_order_notional_usdt.
    config = tmp_path / "config.toml"
    config.write_text(f'[strategy]\nname = "{OWN}"\n[strategy.params]\nqty = "1"\n{line}\n')

    with pytest.raises(ConfigError) as raised:
        load_settings(config, env_file=None)
    assert str(raised.value).startswith(says)
