"""Real bars for the model tests: the bundled week of BTCUSDT 1m klines (exchange_sim/data)
and the 180-bar NEARUSDT 12-column fixture (taker volume and trade counts)."""

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
