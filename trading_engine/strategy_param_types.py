"""A strategy's keyword parameters checked against its constructor's annotations.

Parameters reach a constructor from text (`backtest_trading_strategy.py --param fast=1.5`,
read as TOML; a config's `[strategy.params]`), so their types are the user's. Python does not
check annotations: `fast=1.5` built an SMA crossover that failed with a traceback at its first
bar, `allow_short = "no"` was true, `macd_fast = true` a period of 1. This module says, before
the constructor runs, which value does not have its annotation's simple type (whole number,
number, true or false, text; None where Optional); a value of any other annotation (a path, a
mapping, an enum, a class of the strategy's own) is left to the constructor.
"""

import inspect
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from core.toml_text import toml_shown

_SAYS: dict[type, str] = {
    int: "a whole number",
    float: "a number",
    Decimal: "a number",
    bool: "true or false",
    str: "text",
}


# Passed by the code that builds a strategy (the backtest runner, the daemon), never typed by
# a user: not listed among a strategy's parameters.
RUNNER_PARAMS = ("instruments", "feature_sink")


def param_problem(factory: Callable[..., object], params: Mapping[str, Any]) -> str | None:
    """`no parameter "key"; its parameters: ...` for the first key of `params` that `factory`
    takes no keyword of (a misspelt `fastt` was Python's "unexpected keyword argument"), else
    `key = value is not <what its annotation takes>` for the first value the annotation of
    `factory`'s keyword refuses; None when none is wrong, or when the signature or annotations
    cannot be read."""
    names = _keywords(factory)
    unknown = next((key for key in params if names is not None and key not in names), None)
    if unknown is not None:
        assert names is not None
        listed = ", ".join(n for n in names if n not in RUNNER_PARAMS) or "none"
        return f'no parameter "{unknown}"; its parameters: {listed}'
    hints = _hints(factory)
    for key, value in params.items():
        annotation = hints.get(key)
        if annotation is None:
            continue
        expected = _refused(annotation, value)
        if expected:
            return f"{key} = {toml_shown(value)} is not {expected}"
    return None


def unexpected_keyword(
    factory: Callable[..., object], params: Mapping[str, Any], error: TypeError
) -> str | None:
    """`no parameter "key"; its parameters: ...` when `error` is Python's "unexpected keyword
    argument 'key'" for a key of `params` that no constructor on the way takes: a class whose
    `__init__` passes `**kwargs` on to `super().__init__` (as StrategyBase's docstring says
    to) said "StrategyBase.__init__() got an unexpected keyword argument 'lookbak'", which
    names neither the strategy's class nor what it takes. None for any other TypeError."""
    message = str(error)
    mark = "unexpected keyword argument "
    if mark not in message or not inspect.isclass(factory):
        return None
    key = message.rpartition(mark)[2].strip("'\"")
    names: list[str] = []
    for cls in factory.__mro__:
        if "__init__" not in vars(cls) or cls is object:
            continue
        taken = _keywords(cls.__init__)  # type: ignore[misc]
        if taken is None:  # it takes **kwargs too: the next one's keywords count as well
            taken = _named(cls.__init__)  # type: ignore[misc]
            names += [n for n in taken if n not in names]
            continue
        names += [n for n in taken if n not in names and n != "self"]
        if key not in params or key in names:
            return None
        listed = ", ".join(n for n in names if n not in RUNNER_PARAMS) or "none"
        return f'no parameter "{key}"; its parameters: {listed}'
    return None


def _named(function: Callable[..., object]) -> list[str]:
    """The keywords `function` names in its signature (its `**kwargs` left out)."""
    try:
        taken = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in taken if p.kind in kinds and p.name != "self"]


def exact_decimals(factory: Callable[..., object], params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` with each float given for a keyword annotated Decimal (without float) as the
    Decimal of its shortest text: TOML and `--param` read `0.3` as a float, and the strategy's
    `Decimal(size)` was 0.29999999999999998889..., floored to 0.299 on a 0.001 lot step."""
    hints = _hints(factory)
    out = dict(params)
    for key, value in params.items():
        if value.__class__ is not float:
            continue
        annotation = hints.get(key)
        origin = typing.get_origin(annotation)
        members = typing.get_args(annotation) if origin in (typing.Union, types.UnionType) else ()
        members = members or (annotation,)
        if Decimal in members and float not in members:
            out[key] = Decimal(repr(value))  # repr: the shortest text that reads back as it
    return out


def _keywords(factory: Callable[..., object]) -> list[str] | None:
    """The keywords `factory` takes, in its signature's order; None when it takes any
    (`**kwargs`) or its signature cannot be read."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    taken = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in taken):
        return None
    return [p.name for p in taken if p.kind in kinds]


def _hints(factory: Callable[..., object]) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]
    try:
        return typing.get_type_hints(target)
    except Exception:  # a forward reference it cannot resolve: nothing to check against
        return {}


def _refused(annotation: Any, value: Any) -> str:
    """What `annotation` takes, in words, when `value` is not of it; "" when it is (or when
    the annotation is not one of the simple types)."""
    origin = typing.get_origin(annotation)
    members = typing.get_args(annotation) if origin in (typing.Union, types.UnionType) else ()
    members = members or (annotation,)
    if value is None and type(None) in members:
        return ""
    simple = [m for m in members if m in _SAYS]
    if len(simple) != len([m for m in members if m is not type(None)]):
        return ""  # a type of its own among them: the constructor's to judge
    if any(_takes(m, value) for m in simple):
        return ""
    words = list(dict.fromkeys(_SAYS[m] for m in simple))
    if "a number" in words and "a whole number" in words:  # Decimal | int: a number
        words.remove("a whole number")
    if type(None) in members:
        words.append("none")
    return " or ".join(words)


def _takes(kind: type, value: Any) -> bool:
    if isinstance(value, bool):  # a bool is an int to Python, never a number to a user
        return kind is bool
    if kind is int:
        return isinstance(value, int)
    if kind in (float, Decimal):
        return isinstance(value, int | float | Decimal)
    return isinstance(value, kind)


# Given by `[strategy]` to every strategy (shown there): not a `[strategy.params]` default.
_COMMON_PARAMS = ("order_notional_usdt", "allow_short")
_SHOWN_TYPES = (bool, int, float, Decimal, str)


def param_defaults(factory: Callable[..., object]) -> dict[str, Any]:
    """The keyword parameters `factory` has a default of a simple type for (a number, true or
    false, text), in its signature's order: what `[strategy.params]` may set and, when it does
    not, the strategy runs with. Not the runner's nor `[strategy]`'s common ones; {} when the
    signature cannot be read."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return {}
    return {
        p.name: p.default
        for p in signature.parameters.values()
        if p.name not in RUNNER_PARAMS
        and p.name not in _COMMON_PARAMS
        and isinstance(p.default, _SHOWN_TYPES)
    }
