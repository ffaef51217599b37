"""The strategy interface and the registry of strategies the daemon can run.

A strategy sees market data (closed bars, trades, book tops) and a read-only `StrategyView` (the
account, and its own open orders), and returns proposals: `OrderProposal`s (one order each),
`TargetPosition`s (the signed position it wants; the ExecManager works out the orders, net of
what is already working) or `CancelProposal`s (cancel one of its open orders). It never talks
to the venue, never sleeps and never reads the clock: the same object runs live and in a
backtest. Callbacks return a sequence; returning the shared empty tuple `NO_PROPOSALS` when
there is nothing to say costs no allocation on the tick path.
"""

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, cast, runtime_checkable

from core.account import StrategyView
from core.enums import OrderType, Side, TimeInForce
from core.instrument import Instrument
from core.market import Bar, BookTicker, Trade
from core.orders import CancelProposal, OrderProposal, TargetPosition
from trading_engine.strategy_param_types import (
    exact_decimals,
    param_problem,
    unexpected_keyword,
)

Proposal = OrderProposal | TargetPosition | CancelProposal
Proposals = Sequence[Proposal]

NO_PROPOSALS: tuple[Proposal, ...] = ()


class StrategyError(Exception):
    """The strategy raised in a callback, or returned something that is not a sequence of
    proposals: one line naming the strategy, the callback, the item and the cause. The daemon
    logs it and goes on with the next item; a backtest stops with it."""


def strategy_failed(
    strategy: str, callback: str, item: object, exc: BaseException
) -> StrategyError:
    """The StrategyError of `exc` raised by `strategy.callback(item)`, with where it was raised.

    The callers catch around the call alone: a traceback of their own frame only means the
    callback was never entered (a `def on_bar(self, bar)` without `view`), which named the
    ExecManager's line, not the strategy's signature."""
    where = ""
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is None and isinstance(exc, TypeError):
        return StrategyError(
            f"strategy {strategy}: {callback}({item_text(item)}) could not be called: {exc} "
            f"(StrategyBase.{callback}{_parameters(callback)})"
        )
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        code = tb.tb_frame.f_code
        where = f" at {Path(code.co_filename).name}:{tb.tb_lineno}"
    return StrategyError(
        f"strategy {strategy}: {callback}({item_text(item)}) raised "
        f"{type(exc).__name__}{where}: {exc}{_no_super_hint(exc)}"
    )


_BASE_ATTRIBUTES = ("order_notional_usdt", "allow_short", "instruments")


def _no_super_hint(exc: BaseException) -> str:
    """Why a StrategyBase subclass lacks an attribute StrategyBase.__init__ sets: an
    `__init__` of its own that did not call it (the AttributeError alone did not say)."""
    if (
        isinstance(exc, AttributeError)
        and exc.name in _BASE_ATTRIBUTES
        and isinstance(exc.obj, StrategyBase)
    ):
        return " (StrategyBase.__init__ sets it: call super().__init__(**kwargs) in __init__)"
    return ""


def _parameters(callback: str) -> str:
    """`(self, bar, view)`: a StrategyBase callback's parameters, by name."""
    method = getattr(StrategyBase, callback, None)
    if method is None:
        return ""
    return f"({', '.join(inspect.signature(method).parameters)})"


def check_proposals(
    strategy: str, callback: str, item: object, proposals: object, *, of: object = None
) -> None:
    """StrategyError unless `proposals` is a tuple or list of OrderProposal / TargetPosition
    with Decimal quantities and prices (a float there would be a TypeError deep in the
    ExecManager, or an inexact order), or CancelProposal with a client order id. `of`, the
    strategy object, names the file and line of the callback that returned them."""
    problem = proposals_problem(proposals)
    if problem:
        raise StrategyError(
            f"strategy {strategy}: {callback}({item_text(item)}) returned {problem}"
            f"{defined_at(of, callback)}"
        )


def defined_at(strategy: object, callback: str) -> str:
    """` (Mine.on_bar at mine.py:14)`: where the strategy's callback is written, "" when that
    cannot be told. What a callback returned has no traceback: the error named neither the
    strategy's file nor a line of it."""
    method = None if strategy is None else getattr(type(strategy), callback, None)
    if not callable(method):
        return ""
    function = inspect.unwrap(method)
    code = getattr(function, "__code__", None)
    if code is None:
        return ""
    owner = function.__qualname__.rpartition(".")[0] or type(strategy).__name__
    return f" ({owner}.{callback} at {Path(code.co_filename).name}:{code.co_firstlineno})"


def proposals_problem(proposals: object) -> str:
    """What `check_proposals` refuses in `proposals` ("" for nothing): the ExecManager asks
    this first and calls `check_proposals` for its error only when something is wrong."""
    if proposals.__class__ is not tuple and not isinstance(proposals, tuple | list):
        return (
            f"{_short(proposals)}, not a sequence of OrderProposal / TargetPosition / "
            "CancelProposal (NO_PROPOSALS for none)"
        )
    for p in proposals:  # type: ignore[attr-defined]
        cls = p.__class__
        if cls is TargetPosition:
            qty = p.qty
            if (
                qty.__class__ is Decimal
                and p.price is None
                and qty.is_finite()
                and p.symbol.__class__ is str
            ):
                continue  # the common case, without the pairs below built and walked
            numbers: tuple[tuple[str, object], ...] = (("qty", qty), ("price", p.price))
        elif cls is OrderProposal:
            if problem := _enums_problem(p):
                return problem
            numbers = (("quantity", p.quantity), ("price", p.price), ("stop_price", p.stop_price))
        elif cls is CancelProposal:
            if p.client_order_id.__class__ is not str or not p.client_order_id:
                return f"{_short(p)}: a client order id (text) is needed"
            continue
        else:
            return (
                f"{_short(p)} in its sequence, not an OrderProposal, TargetPosition or "
                "CancelProposal"
            )
        if p.symbol.__class__ is not str:
            return f"{cls.__name__} with symbol={p.symbol!r}: text such as 'BTCUSDT' is needed"
        for key, value in numbers:
            if value is None:
                continue
            if value.__class__ is not Decimal:
                return f"{cls.__name__} with {key}={value!r}: a Decimal is needed"
            if not value.is_finite():  # type: ignore[attr-defined]
                # NaN or infinity: an InvalidOperation traceback deep in the order's planning
                return f"{cls.__name__} with {key}={value!r}: a finite Decimal is needed"
    return ""


def _enums_problem(p: OrderProposal) -> str:
    """An OrderProposal's side, type or time in force not given as the enum: the text "BUY"
    compares equal to Side.BUY (StrEnum) but has none of its properties, and an order with
    it stopped the daemon's journal writer (AttributeError: 'str' object has no attribute
    'is_conditional')."""
    for key, value, enum in (("side", p.side, Side), ("type", p.type, OrderType)):
        if value.__class__ is not enum:
            return (
                f"OrderProposal with {key}={value!r}: core.enums.{enum.__name__} is needed "
                f"(e.g. {enum.__name__}.{next(iter(enum)).name})"
            )
    tif = p.time_in_force
    if tif is not None and tif.__class__ is not TimeInForce:
        return (
            f"OrderProposal with time_in_force={tif!r}: core.enums.TimeInForce or None is "
            "needed (e.g. TimeInForce.GTC)"
        )
    return ""


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def item_text(item: object) -> str:
    """A market-data item as a strategy author finds it in the data: symbol and UTC time."""
    if isinstance(item, str):
        return item  # on_start's symbol
    symbol = getattr(item, "symbol", "?")
    ms = getattr(item, "open_time_ms", None)
    if ms is None:
        ms = getattr(item, "event_time_ms", None)
    if not isinstance(ms, int):
        return f"{type(item).__name__} {symbol}"
    when = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{type(item).__name__} {symbol} {when} UTC"


@runtime_checkable
class TradingStrategy(Protocol):
    """What the ExecManager calls. `warmup_bars` closed bars per symbol are handed to `warm`
    at start (REST klines), so `on_bar` can act on the first live bar."""

    name: str
    warmup_bars: int

    def warm(self, bars: Sequence[Bar]) -> None:
        """Feed history (closed bars, oldest first); proposes nothing. Called once per
        symbol (the daemon trading two symbols calls it twice): add to the state, do not
        replace it."""
        ...

    def on_bar(self, bar: Bar, view: StrategyView) -> Proposals:
        """A closed bar of the configured interval (each bar once, in time order per symbol)."""
        ...

    def on_trade(self, trade: Trade, view: StrategyView) -> Proposals: ...

    def on_book(self, tick: BookTicker, view: StrategyView) -> Proposals: ...

    def on_start(self, symbol: str, view: StrategyView) -> Proposals:
        """Called once per symbol with the first live trade after warm-up (or its first closed
        kline, if that comes first: a backtest of klines has no trade), before anything else
        of it: what the strategy wants now, from its warmed state (so a first run does not
        wait for a bar to close)."""
        ...


PRICE_UNITS = 10**8  # prices as integers in units of 1e-8 (Binance prices have <= 8 decimals)


@runtime_checkable
class BarFastForward(Protocol):
    """Optional, for a strategy that decides on closed bars only: lets a backtest skip ahead.

    Most bars change no decision; a backtest (backtest/fast_path.py) asks how many of the
    coming bars are like that, lets the strategy take them into its state at once, and runs
    only the rest through the live pipeline. Arguments are numpy int64 arrays of the coming
    closed bars of the configured interval, in the order `on_bar` would get them: open times
    (ms) and closes as integers in `PRICE_UNITS`. A strategy implementing this must derive
    its proposals on those bars from the closes alone (no trades, book, or account view).
    """

    def bars_without_decision(self, symbol: str, open_time_ms: Any, close_units: Any) -> int:
        """How many of the leading bars leave what `on_bar` proposes unchanged (the same
        proposals as for the bar before them, or none); pure, the state is not touched."""
        ...

    def absorb_bars(self, symbol: str, open_time_ms: Any, close_units: Any) -> int:
        """Take bars counted by `bars_without_decision` into the state, as `on_bar` one by
        one would; returns how many of those `on_bar` calls would have returned proposals."""
        ...

    # Optional (not part of the protocol's check): `last_proposals(symbol) -> Proposals`,
    # what `on_bar` returned for the last bar taken (by `on_bar` or `absorb_bars`), from the
    # state alone. With it the backtest also takes the last quiet bar before each event
    # without the pipeline (backtest.runner's `catch_up`); without it that bar still runs
    # through `on_bar` and the whole pipeline.


class StrategyBase:
    """Default no-op callbacks: subclass and override what the strategy uses.

    The daemon and the backtester build every strategy with `order_notional_usdt` (USDT),
    `allow_short` and `instruments` (by symbol) besides its own parameters; this constructor
    keeps them, so a subclass without parameters of its own needs none. One with its own
    takes these three too (or `**kwargs` passed on here)."""

    name: str = "base"
    warmup_bars: int = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A strategy of one's own that sets no `name` is its class's name in its errors,
        # warnings and journaled decisions, not "strategy base" (which names no strategy).
        super().__init_subclass__(**kwargs)
        if cls.name == StrategyBase.name:
            cls.name = cls.__name__

    def __init__(
        self,
        *,
        order_notional_usdt: Decimal | float | int | str = 100,
        allow_short: bool = True,
        instruments: Mapping[str, Instrument] | None = None,
    ) -> None:
        self.order_notional_usdt = positive_notional(order_notional_usdt)
        self.allow_short = allow_short
        self.instruments = dict(instruments or {})

    @property
    def uses_taker_flow(self) -> bool:
        """Whether the strategy reads the bars' taker buy volume or trade count (a subclass
        that does says so, `uses_taker_flow = True`): on the local exchange those are
        synthesized, and the daemon warns at start."""
        return False

    def warm(self, bars: Sequence[Bar]) -> None:
        return None

    def on_bar(self, bar: Bar, view: StrategyView) -> Proposals:
        return NO_PROPOSALS

    def on_trade(self, trade: Trade, view: StrategyView) -> Proposals:
        return NO_PROPOSALS

    def on_book(self, tick: BookTicker, view: StrategyView) -> Proposals:
        return NO_PROPOSALS

    def on_start(self, symbol: str, view: StrategyView) -> Proposals:
        return NO_PROPOSALS


CALLBACKS = ("warm", "on_start", "on_bar", "on_trade", "on_book")


def never_called(strategy: object) -> list[str]:
    """The `on_*` methods of the strategy's own classes that are no callback: a misspelt
    `on_trades`, or an `on_fill` expecting its fills, is never called, and the strategy
    proposed nothing without a word ("the strategy proposed nothing ... not warm?")."""
    names: list[str] = []
    for cls in type(strategy).__mro__:
        if cls is StrategyBase or cls is object:
            continue
        for name, value in vars(cls).items():
            stray = name.startswith("on_") and name not in CALLBACKS and callable(value)
            if stray and name not in names:
                names.append(name)
    return names


def never_called_note(strategy: object) -> str | None:
    """The warning for `never_called`'s methods, or None when there is none."""
    names = never_called(strategy)
    if not names:
        return None
    name = getattr(strategy, "name", type(strategy).__name__)
    return (
        f"strategy {name}: {', '.join(names)} {'is' if len(names) == 1 else 'are'} no "
        f"callback, never called by the daemon or a backtest (a misspelling?): the callbacks "
        f"are {', '.join(CALLBACKS)} (its fills and order ends show in the view of its next "
        "call)"
    )


_QTY_QUANTUM = Decimal("1e-8")


def positive_notional(order_notional_usdt: Decimal | float | int | str) -> Decimal:
    """A strategy's position size in USDT, exact; ValueError unless a finite number > 0."""
    try:
        notional = Decimal(str(order_notional_usdt))
    except InvalidOperation:
        notional = Decimal("NaN")
    if isinstance(order_notional_usdt, bool) or not notional.is_finite():
        raise ValueError(
            f"order_notional_usdt must be a number of USDT, not {order_notional_usdt!r}"
        )
    if not notional > 0:
        raise ValueError(f"order_notional_usdt must be > 0, not {order_notional_usdt}")
    return notional


def target_qty(
    notional: Decimal,
    close: Decimal,
    side: int,
    instrument: Instrument | None,
    *,
    allow_short: bool,
) -> Decimal:
    """Signed contracts for `notional` USDT at `close` (side +1 long, -1 short, 0 flat),
    floored to the market lot step so rounding never adds exposure; 0 for a short when
    shorting is off."""
    if side == 0 or (side < 0 and not allow_short):
        return Decimal(0)
    qty = notional / close
    if instrument is not None:
        qty = instrument.floor_qty(qty, OrderType.MARKET)
    else:
        qty = qty.quantize(_QTY_QUANTUM, rounding=ROUND_DOWN)
    return qty if side > 0 else -qty


StrategyFactory = Callable[..., TradingStrategy]


class _Registered:
    """A built-in strategy's class, imported at its first use: a daemon running the SMA
    baseline does not pay for reading a model file (the ML strategy itself is pure Python: no
    numpy, no scikit-learn)."""

    __slots__ = ("class_name", "module")

    def __init__(self, module: str, class_name: str) -> None:
        self.module = module
        self.class_name = class_name

    def strategy_class(self) -> type[TradingStrategy]:
        return cast(
            type[TradingStrategy], getattr(importlib.import_module(self.module), self.class_name)
        )

    def __call__(self, **params: Any) -> TradingStrategy:
        return self.strategy_class()(**params)


STRATEGIES: dict[str, StrategyFactory] = {
    "sma_crossover": _Registered("trading_engine.strategies.sma_crossover", "SmaCrossover"),
    "logistic_regression": _Registered(
        "trading_engine.strategies.logistic_regression", "LogisticRegressionStrategy"
    ),
    "rsi_macd": _Registered("trading_engine.strategies.rsi_macd", "RsiMacd"),
}


class StrategyLoadError(ValueError):
    """The strategy is unknown, cannot be loaded or built: one line that names it already (a
    caller adds no prefix of its own)."""


class StrategyParamsError(TypeError, StrategyLoadError):
    """Keyword arguments the strategy does not take: a ValueError (a bad setting, one line)
    that is still the TypeError a sweep tells from a value the strategy refuses."""


def is_strategy_reference(name: str) -> bool:
    """True for `module.path:Attribute` or `path/to/file.py:Attribute`: a strategy of one's
    own outside the registry."""
    target, sep, attr = name.rpartition(":")
    if not sep or not target or not all(part.isidentifier() for part in attr.split(".")):
        return False
    return _is_file(target) or all(part.isidentifier() for part in target.split("."))


def reference_hint(name: str) -> str:
    """What `name` probably meant, for the two ways a reference is commonly mistyped: a file
    without its class (`mine.py`), a class after a dot (`mine.Breakout`)."""
    if _is_file(name):
        return f" (the class too: {name}:ClassName)"
    module, dot, attr = name.rpartition(".")
    if dot and module and attr.isidentifier() and all(p.isidentifier() for p in module.split(".")):
        return f" (a colon before the class: {module}:{attr})"
    return ""


def _is_file(target: str) -> bool:
    return target.endswith(".py")


def strategy_factory(name: str, *, base_dir: str | Path | None = None) -> StrategyFactory:
    """The factory of a registered strategy, or the class (or function) a reference names:
    `path/to/file.py:Class` (a relative path from `base_dir`, default the working directory)
    or `module:Class`, imported from `sys.path` (the project directory, PYTHONPATH) or else
    from `base_dir`. The directory a strategy is found in goes on `sys.path` (at its end, so
    it shadows nothing), so that its own helper modules import as in a script. StrategyLoadError
    with one line when there is no such strategy or it cannot be loaded."""
    if name in STRATEGIES:
        return STRATEGIES[name]
    if not is_strategy_reference(name):
        known = ", ".join(sorted(STRATEGIES))
        raise StrategyLoadError(
            f"unknown strategy {name!r}; known: {known}, or module:Class or "
            f"path/to/file.py:Class for one of your own{reference_hint(name)}"
        )
    target, _, attr = name.rpartition(":")
    base = Path.cwd() if base_dir is None else Path(base_dir)
    if _is_file(target):
        path = Path(target).expanduser()
        path = (path if path.is_absolute() else base / path).resolve()
        obj: Any = _load_file(name, path)
        where = str(path)
    else:
        obj = _import(name, target, base)
        where = f"module {target}"
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise StrategyLoadError(f"strategy {name!r}: {where} has no {attr}") from None
    if not callable(obj):
        raise StrategyLoadError(f"strategy {name!r}: {attr} is not a class or a function")
    return cast(StrategyFactory, obj)


def _on_path(folder: Path) -> None:
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
        importlib.invalidate_caches()


def _import(name: str, module_name: str, base: Path) -> ModuleType:
    """`module_name` from sys.path, else from `base` (the working directory)."""
    top = module_name.split(".")[0]
    try:
        return _run_import(name, module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if not (module_name == missing or module_name.startswith(missing + ".")):
            raise StrategyLoadError(  # one the strategy imports
                f"strategy {name!r}: importing {module_name} raised ModuleNotFoundError: "
                f"no module named {missing!r}"
            ) from None
        if not ((base / f"{top}.py").is_file() or (base / top).is_dir()):
            raise StrategyLoadError(
                f"strategy {name!r}: no module named {missing!r} (on PYTHONPATH, in the "
                f"project directory or in {base})"
            ) from None
    _on_path(base)
    try:
        return _run_import(name, module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise StrategyLoadError(f"strategy {name!r}: no module named {missing!r}") from None
        # one the strategy's module imports: it said "no module named 'numpyy'" as if the
        # strategy's own module were not found
        raise StrategyLoadError(
            f"strategy {name!r}: importing {module_name} {_raised(exc)}"
        ) from None


def _run_import(name: str, module_name: str) -> ModuleType:
    """import_module, with whatever the module's own code raises as one line (a
    ModuleNotFoundError passes: the caller tells which module is missing)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise
    except Exception as exc:
        raise StrategyLoadError(
            f"strategy {name!r}: importing {module_name} {_raised(exc)}"
        ) from None


def _load_file(name: str, path: Path) -> ModuleType:
    """The module of a strategy file, loaded once under its file name (`mine.py`: `mine`)."""
    if not path.is_file():
        raise StrategyLoadError(f"strategy {name!r}: no file {path}")
    module_name = path.stem
    if not module_name.isidentifier():
        raise StrategyLoadError(
            f"strategy {name!r}: {path.name} is not a Python module name (letters, digits "
            "and '_', not starting with a digit): rename the file"
        )
    loaded = sys.modules.get(module_name)
    if loaded is not None:
        loaded_from = getattr(loaded, "__file__", None)
        if loaded_from is not None and Path(loaded_from).resolve() == path:
            return loaded
        raise StrategyLoadError(
            f"strategy {name!r}: a module named {module_name} is already loaded "
            f"(from {loaded_from or 'the standard library'}): rename {path.name}"
        )
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StrategyLoadError(f"strategy {name!r}: {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    _on_path(path.parent)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise StrategyLoadError(f"strategy {name!r}: loading {path} {_raised(exc)}") from None
    return module


def _raised(exc: BaseException) -> str:
    """`raised KindError at file.py:12: message`: where a module's own code failed."""
    if isinstance(exc, SyntaxError):
        where = f" at {Path(exc.filename or '?').name}:{exc.lineno}"
        return f"raised SyntaxError{where}: {exc.msg}"
    where = ""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        where = f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"
    return f"raised {type(exc).__name__}{where}: {exc}"


def named_once(name: str, exc: BaseException) -> str:
    """`exc`'s message naming the strategy `name` once: as it is when it names it already (a
    StrategyLoadError's line, a constructor's own "sma_crossover needs 1 <= fast < slow"; a
    file's strategy by its reference or its class), else as `name: message`."""
    message = str(exc)
    names = {name, name.rpartition(":")[2]}
    if isinstance(exc, StrategyLoadError) or any(
        message.startswith((f"{n} ", f"{n}:")) for n in names
    ):
        return message
    return f"{name}: {message}"


def make_strategy(name: str, /, **params: Any) -> TradingStrategy:
    """Build the strategy registered as `name`, or named by a reference (`module:Class`,
    `path/to/file.py:Class`), with its keyword parameters; StrategyLoadError with one line for
    an unknown strategy or parameter (what the strategy's own constructor raises passes as is)."""
    return build_strategy(name, strategy_factory(name), params)


def build_strategy(
    name: str, factory: StrategyFactory, params: Mapping[str, Any]
) -> TradingStrategy:
    """`factory(**params)`, checked: StrategyParamsError for a keyword it does not take or a
    value its annotation refuses (`strategy_param_types`), StrategyLoadError when what it
    builds is not a TradingStrategy or when the constructor of a strategy of one's own raises
    anything else than a ValueError or OSError (which pass as they are)."""
    built = factory.strategy_class() if isinstance(factory, _Registered) else factory
    if problem := param_problem(built, params):
        raise StrategyParamsError(f"strategy {name}: {problem}")
    params = exact_decimals(built, params)
    try:
        strategy = factory(**params)
    except TypeError as exc:  # an unexpected or missing keyword
        said = unexpected_keyword(built, params, exc) or exc
        raise StrategyParamsError(f"strategy {name}: {said}") from None
    except (ValueError, OSError):  # a value refused, a file unread: said by the callers
        raise
    except Exception as exc:
        if isinstance(factory, _Registered):  # a shipped strategy's: a bug to report
            raise
        # one's own strategy's code failed: "unexpected error, please report it" and a
        # traceback sent its author to this project
        raise StrategyLoadError(f"strategy {name!r}: its constructor {_raised(exc)}") from None
    if not isinstance(strategy, TradingStrategy):
        raise StrategyLoadError(
            f"strategy {name}: {type(strategy).__name__} is not a TradingStrategy "
            "(subclass trading_engine.main_trading_strategy.StrategyBase)"
        )
    return strategy
