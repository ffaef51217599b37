"""Real bars for the model tests: the bundled week of BTCUSDT 1m klines (exchange_sim/data)
and the 180-bar NEARUSDT 12-column fixture (taker volume and trade counts)."""

import subprocess
import sys
from decimal import Decimal
from functools import cache
from pathlib import Path

import pandas as pd

from core.market import Bar

ROOT = Path(__file__).resolve().parents[2]
WEEK = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
NEAR = ROOT / "tests/fixtures/market/NEARUSDT-um-1m-2024-02-01-first180-full12col.csv"
MINUTE = 60_000


@cache
def week() -> pd.DataFrame:
    return pd.read_csv(WEEK)


@cache
def near() -> pd.DataFrame:
    return pd.read_csv(NEAR).rename(columns={"count": "trade_count"})


def bars_of(df: pd.DataFrame, symbol: str = "BTCUSDT") -> list[Bar]:
    """The rows as closed core Bars (Decimal from the CSV text, as the gateway builds them)."""
    has_flow = "taker_buy_volume" in df.columns
    out = []
    for r in df.itertuples(index=False):
        out.append(
            Bar(
                symbol=symbol,
                interval="1m",
                open_time_ms=int(r.open_time),
                close_time_ms=int(r.open_time) + MINUTE - 1,
                open=Decimal(str(r.open)),
                high=Decimal(str(r.high)),
                low=Decimal(str(r.low)),
                close=Decimal(str(r.close)),
                volume=Decimal(str(r.volume)),
                quote_volume=Decimal(0),
                taker_buy_volume=Decimal(str(r.taker_buy_volume)) if has_flow else Decimal(0),
                taker_buy_quote_volume=Decimal(0),
                trade_count=int(r.trade_count) if has_flow else 0,
            )
        )
    return out


# `python -m MODULE --help` with a Ctrl+C as the import of `at` starts, as a user's would.
INTERRUPTED_IMPORT = """
import importlib.abc, os, runpy, signal, sys
sys.path.insert(0, {root!r})
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever ran us

class CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {at!r}:
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
sys.argv = [{module!r}, "--help"]
runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
"""


def ctrl_c_while_importing(module: str, at: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m module` interrupted as it imports `at` (before its `main` runs)."""
    script = INTERRUPTED_IMPORT.format(root=str(ROOT), module=module, at=at)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60
    )
