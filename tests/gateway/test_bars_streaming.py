"""The streaming BarBuilder on real trades: no allocation when nothing closes, order enforced.

(That its bars equal the vectorized form on real trades is in test_bars.py.)"""

import csv
import gzip
from decimal import Decimal
from pathlib import Path

import pytest

from core.market import Trade
from gateway.bars import NO_BARS, BarBuilder

TRADES = (
    Path(__file__).resolve().parents[2]
    / "exchange_sim/data/trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"
)


def real_trades() -> list[Trade]:
    with gzip.open(TRADES, "rt") as fh:
        return [
            Trade(
                "BTCUSDT",
                int(r["id"]),
                Decimal(r["price"]),
                Decimal(r["qty"]),
                int(r["id"]),
                int(r["id"]),
                r["is_buyer_maker"] == "true",
                int(r["time"]),
                int(r["time"]),
                0,
            )
            for r in csv.DictReader(fh)
        ]


def test_a_trade_that_closes_nothing_returns_the_shared_empty_tuple():
    trades = real_trades()[:3]
    builder = BarBuilder("BTCUSDT", "1m")
    builder.add(trades[0])
    assert builder.add(trades[1]) is NO_BARS


def test_a_trade_older_than_the_open_bar_is_refused():
    second = real_trades()[1]
    builder = BarBuilder("BTCUSDT", "1s")
    builder.add(second)
    t = second.trade_time_ms - 5_000
    old = Trade("BTCUSDT", 1, Decimal(1), Decimal(1), 1, 1, False, t, 0, 0)
    with pytest.raises(ValueError, match="older than bar"):
        builder.add(old)
