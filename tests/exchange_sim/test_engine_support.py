"""Builders shared by the engine tests (no tests here): real instruments, real prices, params.

Instruments are the real BTCUSDT/ETHUSDT exchangeInfo entries captured 2022-02-19 (BTCUSDT tick
0.10, step 0.001, MIN_NOTIONAL 10, liquidationFee 0.012, marketTakeBound 0.30). Prices are those
of the real USD-M trades of 2024-08-08 23:54 UTC (tests/fixtures/market).
"""

import csv
import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.clock import SimClock
from core.instrument import Instrument
from exchange_sim.engine import EngineConfig, Exchange

FIXTURES = Path(__file__).parents[1] / "fixtures"
EXCHANGE_INFO = "binance_api/rest/GET_fapi_v1_exchangeInfo__3symbols_2022-02-19__nautilus.json"
TRADES = "market/BTCUSDT-um-trades-2024-08-08T2354-first4000.csv.gz"

T0 = 1723161256322  # time of the first real trade in the fixture (2024-08-08 23:54:16 UTC)
D = Decimal


def load(relative: str) -> Any:
    text = (FIXTURES / relative).read_text()
    data = json.loads(text)
    return data["data"] if isinstance(data, dict) and "data" in data and "stream" in data else data


def instruments() -> dict[str, Instrument]:
    info = load(EXCHANGE_INFO)
    return {
        s["symbol"]: Instrument.from_exchange_info(s)
        for s in info["symbols"]
        if s["symbol"] in ("BTCUSDT", "ETHUSDT")
    }


def real_trades(limit: int | None = None) -> list[tuple[Decimal, Decimal, bool, int]]:
    """(price, qty, buyer_is_maker, time_ms) of the real BTCUSDT USD-M trades, in order."""
    rows = []
    with gzip.open(FIXTURES / TRADES, "rt") as f:
        for row in csv.DictReader(f):
            rows.append(
                (D(row["price"]), D(row["qty"]), row["is_buyer_maker"] == "true", int(row["time"]))
            )
            if limit is not None and len(rows) >= limit:
                break
    return rows


def make_exchange(
    config: EngineConfig | None = None,
    usdt: str = "10000",
    *,
    mark: str = "61800.0",
    bid: str = "61800.2",
    ask: str = "61800.3",
    qty: str = "2.000",
) -> tuple[Exchange, SimClock]:
    """An exchange at T0 with account "alice", a BTCUSDT mark price and a bookTicker."""
    clock = SimClock(T0)
    ex = Exchange(instruments(), clock, config)
    ex.create_account("alice", {"USDT": D(usdt)})
    ex.on_mark_price("BTCUSDT", D(mark), D(mark), D("0.0001"), T0 + 300_000, T0)
    ex.on_book_ticker("BTCUSDT", D(bid), D(qty), D(ask), D(qty), T0)
    return ex, clock


def limit(side: str, qty: str, price: str, tif: str = "GTC", **extra: str) -> dict[str, str]:
    return {
        "symbol": "BTCUSDT",
        "side": side,
        "type": "LIMIT",
        "timeInForce": tif,
        "quantity": qty,
        "price": price,
        **extra,
    }


def market(side: str, qty: str, **extra: str) -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": side, "type": "MARKET", "quantity": qty, **extra}


def of_type(events: list[tuple[str, dict]], kind: str) -> list[dict]:
    return [e for _, e in events if e["e"] == kind]


def type_name(value: Any) -> str:
    """JSON type of a value as the wire sees it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    return type(value).__name__
