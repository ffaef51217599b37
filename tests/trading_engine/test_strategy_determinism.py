"""A strategy of one's own that reads the machine's clock or an unseeded random generator is
warned of where it is loaded (the daemon's start, the backtester): two backtests of it on the
same data differed without a word, and the parity audit found divergences nobody could explain.
The source is read with `ast`, nothing is run; the shipped strategies give no warning."""

import json
import logging
import sys
from pathlib import Path

import pytest

import backtest_trading_strategy as cli
from runtime.settings import load_settings, strategy_params
from trading_engine.main_trading_strategy import STRATEGIES, strategy_factory
from trading_engine.strategy_determinism import nondeterminism_notes
from trading_engine.strategy_setup import load_strategy

ROOT = Path(__file__).resolve().parents[2]
KLINES = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"

CLOCK = (
    "use the time of the item the callback is given (bar.close_time_ms, trade.trade_time_ms, "
    "tick.event_time_ms)"
)
SEED = "use a random.Random(seed) (numpy: numpy.random.default_rng(seed)), the seed a parameter"
DIFFER = "two runs on the same data can differ (backtests, the parity audit, the daemon)"

HEAD = """\
from decimal import Decimal

from core.orders import TargetPosition
from trading_engine.main_trading_strategy import StrategyBase
"""


@pytest.fixture
def own_dir(tmp_path, monkeypatch):
    """The user's working directory; the strategy modules loaded and sys.path restored after."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def _notes(own_dir: Path, module: str, source: str) -> list[str]:
    """The warnings for class `Mine` of the file `module`.py holding `source`."""
    (own_dir / f"{module}.py").write_text(HEAD + source)
    name = f"{module}.py:Mine"
    return nondeterminism_notes(name, strategy_factory(name))


def test_each_read_of_the_clock_is_one_line_naming_file_line_and_what_to_use(own_dir):
    source = """
import time
import datetime as dt
from datetime import datetime
from time import monotonic as mono


class Mine(StrategyBase):
    def on_bar(self, bar, view):
        a = time.time()
        b = datetime.now()
        c = dt.datetime.utcnow()
        d = mono()
        return ()
"""
    notes = _notes(own_dir, "clock_reader", source)

    start = "strategy 'clock_reader.py:Mine': clock_reader.py"
    assert notes == [
        f"{start}:14: time.time() reads the machine's clock: {DIFFER}; {CLOCK}",
        f"{start}:15: datetime.now() reads the machine's clock: {DIFFER}; {CLOCK}",
        f"{start}:16: dt.datetime.utcnow() reads the machine's clock: {DIFFER}; {CLOCK}",
        f"{start}:17: mono() reads the machine's clock: {DIFFER}; {CLOCK}",
    ]


def test_an_unseeded_generator_is_warned_of_and_a_seeded_one_is_not(own_dir):
    source = """
import random

import numpy as np


class Mine(StrategyBase):
    def __init__(self, *, seed=7, **common):
        super().__init__(**common)
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.loose = random.Random()

    def on_bar(self, bar, view):
        jitter = random.random() + np.random.normal() + self.rng.random()
        return ()
"""
    notes = _notes(own_dir, "dice_roller", source)

    start = "strategy 'dice_roller.py:Mine': dice_roller.py"
    assert notes == [
        f"{start}:16: random.Random() has no seed: {DIFFER}; {SEED}",
        f"{start}:19: random.random() draws from the shared unseeded generator: {DIFFER}; {SEED}",
        f"{start}:19: np.random.normal() draws from the shared unseeded generator: {DIFFER}; "
        f"{SEED}",
    ]


def test_the_items_own_time_a_seeded_global_generator_and_a_main_block_are_not_warned_of(
    own_dir,
):
    source = """
import random
import time
from datetime import UTC, datetime

random.seed(42)


class Mine(StrategyBase):
    def on_bar(self, bar, view):
        day = datetime.fromtimestamp(bar.close_time_ms / 1000, UTC).weekday()
        hour = time.strftime("%H", time.gmtime(bar.open_time_ms / 1000))
        coin = random.random()
        return ()


if __name__ == "__main__":
    print(time.time())
"""
    assert _notes(own_dir, "quiet_one", source) == []


def test_a_reference_to_a_clock_function_without_calling_it_is_warned_of(own_dir):
    # A dataclass's default_factory=time.time reads the clock when the object is made.
    source = """
import time


class Mine(StrategyBase):
    stamp = time.time
"""
    notes = _notes(own_dir, "clock_ref", source)

    assert notes == [
        f"strategy 'clock_ref.py:Mine': clock_ref.py:10: time.time reads the machine's clock: "
        f"{DIFFER}; {CLOCK}"
    ]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_the_shipped_strategies_are_not_warned_of(name):
    assert nondeterminism_notes(name, STRATEGIES[name]) == []


CLOCKED_HOLD = """
import time


class Mine(StrategyBase):
    warmup_bars = 2

    def __init__(self, **common):
        super().__init__(**common)
        self.started = time.time()

    def on_bar(self, bar, view):
        return (TargetPosition(symbol=bar.symbol, qty=Decimal("0.002"), reason="hold"),)
"""


def test_the_backtester_warns_of_it_once_and_runs_it(own_dir, capsys):
    (own_dir / "clocked_hold.py").write_text(HEAD + CLOCKED_HOLD)
    argv = ["--data", str(KLINES), "--strategy", "clocked_hold.py:Mine", "--no-progress"]
    argv += ["--start", "2025-05-06", "--end", "2025-05-06T01:00", "--out", "out"]

    assert cli.main(argv) == 0

    err = capsys.readouterr().err
    assert err == (
        "backtest_trading_strategy.py: warning: strategy 'clocked_hold.py:Mine': "
        f"clocked_hold.py:14: time.time() reads the machine's clock: {DIFFER}; {CLOCK}\n"
    )
    assert json.loads((own_dir / "out" / "summary.json").read_text())["counters"]["submitted"]


def test_the_backtester_says_nothing_of_a_shipped_strategy(own_dir, capsys):
    argv = ["--data", str(KLINES), "--strategy", "rsi_macd", "--no-progress"]
    argv += ["--start", "2025-05-06", "--end", "2025-05-06T01:00", "--out", "out"]

    assert cli.main(argv) == 0

    assert "warning" not in capsys.readouterr().err


def test_the_daemons_load_warns_of_it_in_its_log(own_dir, caplog):
    (own_dir / "clocked_daemon.py").write_text(HEAD + CLOCKED_HOLD)
    config = own_dir / "config.toml"
    config.write_text('[strategy]\nname = "clocked_daemon.py:Mine"\n')
    settings = load_settings(config, env_file=None)

    with caplog.at_level(logging.WARNING, logger="daemon"):
        load_strategy(settings, strategy_params(settings, {}), own_dir, [])

    assert [r.getMessage() for r in caplog.records] == [
        "strategy 'clocked_daemon.py:Mine': clocked_daemon.py:14: time.time() reads the "
        f"machine's clock: {DIFFER}; {CLOCK}"
    ]
