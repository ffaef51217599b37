"""A strategy that raises, or returns something other than a sequence of proposals, is a
StrategyError of one line naming the callback, the item and the cause (the daemon logs it and
goes on; a backtest stops with it), never a TypeError from deep in the ExecManager."""

from collections.abc import Sequence
from decimal import Decimal as D
from pathlib import Path

import pytest

import backtest_trading_strategy as cli
from core.account import AccountView
from core.enums import OrderType, Side
from core.market import Bar
from core.orders import OrderProposal, TargetPosition
from tests.trading_engine.support import ScriptedStrategy, make_rig
from trading_engine.main_trading_strategy import Proposals, StrategyBase, StrategyError

ROOT = Path(__file__).resolve().parents[2]
KLINES = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
# The rig's first bar opens at T0 - 99 min: 2024-08-08 12:00 - 1 h 39 min.
FIRST_BAR = "Bar BTCUSDT 2024-08-08 10:21:00 UTC"


class Raising(ScriptedStrategy):
    name = "raising"

    def on_bar(self, bar: Bar, view: AccountView) -> Proposals:
        if not self.on_bar_says:
            raise ZeroDivisionError("boom")
        return super().on_bar(bar, view)


def test_a_strategy_raising_in_on_bar_is_one_line_naming_the_bar_and_the_cause():
    rig = make_rig(strategy=Raising())

    with pytest.raises(StrategyError) as raised:
        rig.next_bar()

    assert str(raised.value).startswith(
        f"strategy raising: on_bar({FIRST_BAR}) raised ZeroDivisionError at "
        "test_strategy_errors.py:"
    )
    assert str(raised.value).endswith(": boom")


class Unnamed(StrategyBase):  # a strategy of one's own that sets no `name`
    def on_bar(self, bar: Bar, view: AccountView) -> Proposals:
        raise ZeroDivisionError("boom")


def test_a_strategy_without_a_name_is_named_after_its_class():
    # It was "strategy base: on_bar(...)", naming StrategyBase rather than the user's class.
    rig = make_rig(strategy=Unnamed())

    with pytest.raises(StrategyError, match=rf"^strategy Unnamed: on_bar\({FIRST_BAR}\) raised"):
        rig.next_bar()
    assert Unnamed.name == "Unnamed" and Raising.name == "raising"
    assert StrategyBase.name == "base"


class WithoutView(StrategyBase):
    def on_bar(self, bar: Bar) -> Proposals:  # type: ignore[override]
        return ()


def test_a_callback_without_the_view_parameter_names_the_signature_not_the_exec_manager():
    # It was "raised TypeError at exec_manager.py:726: ...": a line of the daemon's own.
    rig = make_rig(strategy=WithoutView())

    with pytest.raises(StrategyError) as raised:
        rig.next_bar()

    assert str(raised.value) == (
        f"strategy WithoutView: on_bar({FIRST_BAR}) could not be called: "
        "WithoutView.on_bar() takes 2 positional arguments but 3 were given "
        "(StrategyBase.on_bar(self, bar, view))"
    )


class TypeErrorInside(StrategyBase):
    def on_bar(self, bar: Bar, view: AccountView) -> Proposals:
        return sorted([bar, bar])  # type: ignore[type-var]


def test_a_type_error_inside_a_callback_still_names_the_strategys_line():
    rig = make_rig(strategy=TypeErrorInside())

    with pytest.raises(StrategyError, match=r"raised TypeError at test_strategy_errors.py:\d+: "):
        rig.next_bar()


def test_the_item_after_a_strategy_error_is_traded_as_usual():
    rig = make_rig(strategy=Raising())
    with pytest.raises(StrategyError):
        rig.next_bar()

    rig.say(TargetPosition(symbol="BTCUSDT", qty=D("0.010")))

    assert [(r.side, r.quantity) for r in rig.venue.submitted] == [("BUY", D("0.010"))]


@pytest.mark.parametrize(
    ("says", "problem"),
    [
        (
            [TargetPosition(symbol="BTCUSDT", qty=0.01)],  # type: ignore[arg-type]
            "returned TargetPosition with qty=0.01: a Decimal is needed",
        ),
        (
            [TargetPosition(symbol="BTCUSDT", qty=D("0.01"), price=60000.5)],  # type: ignore[arg-type]
            "returned TargetPosition with price=60000.5: a Decimal is needed",
        ),
        ([{"symbol": "BTCUSDT"}], "returned {'symbol': 'BTCUSDT'} in its sequence, not an"),
        # NaN and infinity: a decimal.InvalidOperation traceback in the order's planning
        (
            [TargetPosition(symbol="BTCUSDT", qty=D("NaN"))],
            "returned TargetPosition with qty=Decimal('NaN'): a finite Decimal is needed",
        ),
        (
            [TargetPosition(symbol="BTCUSDT", qty=D("sNaN"))],
            "returned TargetPosition with qty=Decimal('sNaN'): a finite Decimal is needed",
        ),
        (
            [TargetPosition(symbol="BTCUSDT", qty=D(1), price=D("NaN"))],
            "returned TargetPosition with price=Decimal('NaN'): a finite Decimal is needed",
        ),
        (
            [
                OrderProposal(
                    symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, quantity=D("inf")
                )
            ],
            "returned OrderProposal with quantity=Decimal('Infinity'): a finite Decimal is",
        ),
        (
            [
                OrderProposal(
                    symbol="BTCUSDT",
                    side=Side.BUY,
                    type=OrderType.LIMIT,
                    quantity=D(1),
                    price=D("-inf"),
                )
            ],
            "returned OrderProposal with price=Decimal('-Infinity'): a finite Decimal is",
        ),
        # The enums as text: "BUY" == Side.BUY, but the order stopped the daemon's journal
        # writer (AttributeError: 'str' object has no attribute 'is_conditional').
        (
            [OrderProposal(symbol="BTCUSDT", side="BUY", type=OrderType.MARKET, quantity=D(1))],  # type: ignore[arg-type]
            "returned OrderProposal with side='BUY': core.enums.Side is needed (e.g. Side.BUY)",
        ),
        (
            [OrderProposal(symbol="BTCUSDT", side=Side.SELL, type="MARKET", quantity=D(1))],  # type: ignore[arg-type]
            "returned OrderProposal with type='MARKET': core.enums.OrderType is needed (e.g. "
            "OrderType.LIMIT)",
        ),
        (
            [
                OrderProposal(
                    symbol="BTCUSDT",
                    side=Side.SELL,
                    type=OrderType.LIMIT,
                    quantity=D(1),
                    price=D(2),
                    time_in_force="GTX",
                )
            ],  # type: ignore[arg-type]
            "returned OrderProposal with time_in_force='GTX': core.enums.TimeInForce or None "
            "is needed",
        ),
        (
            [TargetPosition(symbol=b"BTCUSDT", qty=D(1))],  # type: ignore[arg-type]
            "returned TargetPosition with symbol=b'BTCUSDT': text such as 'BTCUSDT' is needed",
        ),
        (None, "returned None, not a sequence of OrderProposal / TargetPosition"),
        (
            TargetPosition(symbol="BTCUSDT", qty=D(1)),
            "returned TargetPosition(symbol='BTCUSDT', qty=Decimal('1'), price=None, "
            "reason=''), not a sequence",
        ),
    ],
)
def test_what_is_not_a_sequence_of_proposals_is_one_line_saying_what_it_was(says, problem):
    rig = make_rig()
    rig.strategy.on_bar_says.append(says)

    with pytest.raises(StrategyError, match=r"^strategy scripted: on_bar\(") as raised:
        rig.next_bar()

    assert problem in str(raised.value)
    assert rig.venue.submitted == []


class WithoutSuper(StrategyBase):
    def __init__(self, *, lookback: int = 20, **kwargs: object) -> None:
        self.lookback = lookback  # no super().__init__(**kwargs)

    def on_bar(self, bar: Bar, view: AccountView) -> Proposals:
        return (TargetPosition(symbol=bar.symbol, qty=self.order_notional_usdt / bar.close),)


def test_an_attribute_of_strategy_base_missing_says_to_call_its_init():
    # "'WithoutSuper' object has no attribute 'order_notional_usdt'" did not say why.
    rig = make_rig(strategy=WithoutSuper())

    with pytest.raises(StrategyError) as raised:
        rig.next_bar()

    assert str(raised.value).endswith(
        "has no attribute 'order_notional_usdt' (StrategyBase.__init__ sets it: call "
        "super().__init__(**kwargs) in __init__)"
    )


class ReturnsAFloat(StrategyBase):
    def on_bar(self, bar: Bar, view: AccountView) -> Proposals:
        return (TargetPosition(symbol=bar.symbol, qty=0.01),)  # type: ignore[arg-type]


def test_what_a_callback_returned_wrong_names_the_file_and_line_of_the_callback():
    # It named the callback and the bar, not where the strategy is written.
    rig = make_rig(strategy=ReturnsAFloat())
    line = ReturnsAFloat.on_bar.__code__.co_firstlineno

    with pytest.raises(StrategyError) as raised:
        rig.next_bar()

    assert str(raised.value) == (
        f"strategy ReturnsAFloat: on_bar({FIRST_BAR}) returned TargetPosition with qty=0.01: a "
        f"Decimal is needed (ReturnsAFloat.on_bar at test_strategy_errors.py:{line})"
    )


class StartsWithNone(StrategyBase):
    name = "starts_with_none"

    def on_start(self, symbol: str, view: AccountView) -> Proposals:
        return None  # type: ignore[return-value]


def test_none_from_on_start_is_a_strategy_error_too():
    """on_start's None was a TypeError (len(None)) where on_bar's was taken for nothing."""
    rig = make_rig(strategy=StartsWithNone())

    with pytest.raises(
        StrategyError, match=r"^strategy starts_with_none: on_start\(BTCUSDT\)"
    ) as e:
        rig.trade("60000")
    line = StartsWithNone.on_start.__code__.co_firstlineno
    assert str(e.value).endswith(f"(StartsWithNone.on_start at test_strategy_errors.py:{line})")


class BoomOnBar(StrategyBase):
    name = "boom_on_bar"

    def on_bar(self, bar: Bar, view: AccountView) -> Proposals:
        raise RuntimeError("my bug")


def test_the_backtester_stops_on_a_strategy_error_with_one_line_and_writes_nothing(
    tmp_path, capsys
):
    argv = ["--data", str(KLINES), "--strategy", f"{__name__}:BoomOnBar", "--no-progress"]
    argv += ["--end", "2025-05-05T01:00", "--out", str(tmp_path / "o")]

    assert cli.main(argv) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        "backtest_trading_strategy.py: error: strategy boom_on_bar: on_bar(Bar BTCUSDT "
        "2025-05-05 00:00:00 UTC) raised RuntimeError at test_strategy_errors.py:"
    )
    assert not (tmp_path / "o").exists()


class BoomInWarm(StrategyBase):
    name = "boom_in_warm"
    warmup_bars = 60

    def warm(self, bars: Sequence[Bar]) -> None:
        raise TypeError("'float' object cannot be interpreted as an integer")


def test_a_strategy_raising_in_warm_stops_a_backtest_with_one_line(tmp_path, capsys):
    """With --start the bars before it warm the strategy: its error there was a traceback
    (and in the daemon "unexpected error, please report it")."""
    argv = ["--data", str(KLINES), "--strategy", f"{__name__}:BoomInWarm", "--no-progress"]
    argv += ["--start", "2025-05-06", "--end", "2025-05-06T01:00", "--out", str(tmp_path / "o")]

    assert cli.main(argv) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        "backtest_trading_strategy.py: error: strategy boom_in_warm: warm(60 bars) raised "
        "TypeError at test_strategy_errors.py:"
    )
    assert err.endswith(": 'float' object cannot be interpreted as an integer\n")
    assert not (tmp_path / "o").exists()


def test_the_daemons_start_says_a_strategy_raising_in_warm_in_one_line():
    from runtime.settings import Settings
    from trading_engine.daemon_error import DaemonError
    from trading_engine.start_errors import start_failures_in_one_line

    error = StrategyError("strategy boom_in_warm: warm(1500 bars) raised TypeError at x.py:3: no")
    with pytest.raises(DaemonError) as raised, start_failures_in_one_line(Settings()):
        raise error
    assert str(raised.value) == f"{error}; the daemon does not start with it"


class MisspeltCallbacks(StrategyBase):
    def on_trades(self, trade: object, view: AccountView) -> Proposals:  # not on_trade
        return (TargetPosition(symbol="BTCUSDT", qty=D("0.010")),)

    def on_fill(self, fill: object, view: AccountView) -> Proposals:  # no such callback
        return ()


def test_a_misspelt_or_unknown_callback_is_warned_of_when_the_strategy_is_wired(caplog):
    # on_trades and on_fill were never called, without a word: the run "proposed nothing".
    with caplog.at_level("WARNING", logger="trading_engine.exec_manager"):
        make_rig(strategy=MisspeltCallbacks())

    assert [r.getMessage() for r in caplog.records] == [
        "strategy MisspeltCallbacks: on_trades, on_fill are no callback, never called by the "
        "daemon or a backtest (a misspelling?): the callbacks are "
        "warm, on_start, on_bar, on_trade, on_book (its fills and order ends show in the "
        "view of its next call)"
    ]


@pytest.mark.parametrize("name", ["sma_crossover", "rsi_macd"])
def test_the_shipped_strategies_have_no_method_that_is_never_called(name):
    from trading_engine.main_trading_strategy import make_strategy, never_called

    assert never_called(make_strategy(name)) == []
