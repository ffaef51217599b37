"""What in a strategy's source makes two runs of the same data differ: the machine's clock
(`time.time()`, `datetime.now()`, `time.monotonic()`) or a random generator without a seed
(`random.random()`, `numpy.random.normal()`, `random.Random()`). A backtest, the parity audit
(`--replay-journal`) and the daemon agree only when a strategy takes its time from the items
it is given and its randomness from a seed; otherwise two backtests differ without a word.

`nondeterminism_notes` reads the source of the modules that define the strategy's class (and
its bases, but for `StrategyBase`'s) with `ast`, without running anything, and returns one
warning line per finding, naming file:line and what to use instead. A warning, not a refusal:
the analysis cannot know whether what the call returns decides anything (a log line's time
does not). Only the module's own source is read, not the helpers it imports.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

# Calls that read the machine's clock (by their module's qualified name): any call, or, for
# the `time` formatters, one without the time argument (then they format the current time).
_CLOCK = frozenset(
    {
        "time.time",
        "time.time_ns",
        "time.monotonic",
        "time.monotonic_ns",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "pandas.Timestamp.now",
        "pandas.Timestamp.utcnow",
        "pandas.Timestamp.today",
    }
)
_CLOCK_UNLESS_GIVEN = {"time.localtime": 1, "time.gmtime": 1, "time.ctime": 1, "time.strftime": 2}

# Generators that are deterministic only when built with a seed (the first argument).
_SEEDED = frozenset(
    {
        "random.Random",
        "numpy.random.default_rng",
        "numpy.random.RandomState",
        "numpy.random.SeedSequence",
        "numpy.random.PCG64",
        "numpy.random.PCG64DXSM",
        "numpy.random.MT19937",
        "numpy.random.Philox",
        "numpy.random.SFC64",
    }
)
# What in the `random` / `numpy.random` modules is not a draw from the module's shared generator.
_NOT_DRAWS = _SEEDED | {
    "random.SystemRandom",
    "random.seed",
    "random.getstate",
    "random.setstate",
    "numpy.random.seed",
    "numpy.random.get_state",
    "numpy.random.set_state",
    "numpy.random.Generator",
    "numpy.random.BitGenerator",
}
_GLOBAL_SEEDS = {"random": "random.seed", "numpy.random": "numpy.random.seed"}

_ITEM_TIME = (
    "use the time of the item the callback is given (bar.close_time_ms, trade.trade_time_ms, "
    "tick.event_time_ms)"
)
_SEED = "use a random.Random(seed) (numpy: numpy.random.default_rng(seed)), the seed a parameter"


def nondeterminism_notes(name: str, strategy: object) -> list[str]:
    """One warning line per call in the source of `strategy`'s modules that reads the
    machine's clock or an unseeded random generator; [] when there is none or no source.
    `strategy` is the class, the factory function or an instance; `name` is how it was
    selected (`mine.py:Breakout`)."""
    notes: list[str] = []
    for path in _source_files(strategy):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue  # nothing to read: it loaded, so it ran from elsewhere (a .pyc)
        for line, what, instead in _findings(tree):
            notes.append(
                f"strategy {name!r}: {path.name}:{line}: {what}: two runs on the same data "
                f"can differ (backtests, the parity audit, the daemon); {instead}"
            )
    return notes


def _source_files(strategy: object) -> list[Path]:
    """The source files of the strategy's class and its bases (without this package's
    `StrategyBase` and the standard library's), or of a factory function; each once."""
    from trading_engine import main_trading_strategy

    strategy_class = getattr(strategy, "strategy_class", None)  # a registered strategy
    if callable(strategy_class) and not inspect.isclass(strategy):
        strategy = strategy_class()
    if inspect.isclass(strategy):
        owners: list[object] = [c for c in strategy.__mro__ if c.__module__ != "builtins"]
    elif inspect.isfunction(strategy):
        owners = [strategy]
    else:
        owners = [c for c in type(strategy).__mro__ if c.__module__ != "builtins"]
    base = Path(inspect.getfile(main_trading_strategy)).resolve()
    files: list[Path] = []
    for owner in owners:
        try:
            path = Path(inspect.getfile(owner)).resolve()  # type: ignore[arg-type]
        except (TypeError, OSError):
            continue
        if path.suffix == ".py" and path != base and path not in files:
            files.append(path)
    return [p for p in files if not _installed(p)]


def _installed(path: Path) -> bool:
    """A module of the standard library or of an installed package: not the strategy's."""
    if {"site-packages", "dist-packages"} & set(path.parts):
        return True
    return Path(inspect.getfile(ast)).resolve().parent in path.parents


def _findings(tree: ast.Module) -> Iterator[tuple[int, str, str]]:
    """(line, what is written, what to use instead) of each finding, in source order."""
    names = _imported_names(tree)
    seeded = {
        module
        for module, seed in _GLOBAL_SEEDS.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _qualified(node.func, names) == seed and _has_seed(node)
    }
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    found: dict[tuple[int, str], tuple[int, str]] = {}  # (line, what): (column, instead)
    for node in _walk_run_code(tree):
        if isinstance(node, ast.Call):
            func = node.func
        elif isinstance(node, ast.Attribute | ast.Name) and isinstance(node.ctx, ast.Load):
            if id(node) in calls:
                continue  # a call's function is looked at with its call
            func = node
        else:
            continue
        qualified = _qualified(func, names)
        finding = None if qualified is None else _finding(node, qualified, seeded)
        if finding is not None:
            found.setdefault((node.lineno, finding[0]), (node.col_offset, finding[1]))
    for (line, what), (_, instead) in sorted(found.items(), key=lambda f: (f[0][0], f[1][0])):
        yield line, what, instead


def _finding(node: ast.AST, qualified: str, seeded: set[str]) -> tuple[str, str] | None:
    """(what is written, what to use instead) when `node` (a call, or a function named without
    its call: `default_factory=time.time`) reads the clock or an unseeded generator."""
    call = node if isinstance(node, ast.Call) else None
    shown = ast.unparse(call.func if call is not None else node)
    written = f"{shown}()" if call is not None else shown
    given = None if call is None else len(call.args) + len(call.keywords)
    if qualified in _CLOCK or (
        qualified in _CLOCK_UNLESS_GIVEN
        and given is not None
        and given < _CLOCK_UNLESS_GIVEN[qualified]
    ):
        return f"{written} reads the machine's clock", _ITEM_TIME
    if qualified in _SEEDED:
        if call is None or _has_seed(call):
            return None
        return f"{written} has no seed", _SEED
    if qualified == "random.SystemRandom":
        return f"{written} draws from the OS's randomness", _SEED
    if qualified in ("random.seed", "numpy.random.seed"):
        if call is None or _has_seed(call):
            return None
        return f"{written} seeds from the OS's randomness", _SEED
    module, _, draw = qualified.rpartition(".")
    if module in _GLOBAL_SEEDS and module not in seeded and not draw.startswith("_"):
        if qualified in _NOT_DRAWS or draw[:1].isupper():
            return None  # a class or a constant, not a draw
        return f"{written} draws from the shared unseeded generator", _SEED
    return None


def _has_seed(call: ast.Call) -> bool:
    """Whether the call is given a seed other than a literal None (first argument or seed=)."""
    given = call.args[:1] + [k.value for k in call.keywords if k.arg in ("seed", "x", "a")]
    return any(not (isinstance(v, ast.Constant) and v.value is None) for v in given)


def _walk_run_code(tree: ast.Module) -> Iterator[ast.AST]:
    """`ast.walk` without the `if __name__ == "__main__":` blocks (not run when loaded)."""
    todo: list[ast.AST] = [n for n in tree.body if not _main_block(n)]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(ast.iter_child_nodes(node))


def _main_block(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and ast.unparse(node.test).replace("'", '"') == '__name__ == "__main__"'
    )


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """The module's names bound by imports, as qualified names: `import numpy as np` -> np:
    numpy; `from datetime import datetime as dt` -> dt: datetime.datetime."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _qualified(node: ast.expr, names: dict[str, str]) -> str | None:
    """`np.random.normal` -> `numpy.random.normal` when its first name is imported, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in names:
        return None
    return ".".join([names[node.id], *reversed(parts)])
