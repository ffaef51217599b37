"""The aggregate trades the exchange has published, queryable like `GET /fapi/v1/aggTrades`.

Times are exchange time (ms). Each symbol keeps a growable int64 table (agg id, trade time)
for numpy searchsorted lookups and the published events for rendering. Semantics (section 5.5):

* no fromId / startTime / endTime: the most recent `limit` trades, ascending;
* fromId: trades with `a >= fromId`, the first `limit`;
* startTime and/or endTime (both inclusive): more than one hour between them -> -1127;
  only startTime: the first `limit` at/after it; only endTime: the last `limit` at/before it;
  both: the first `limit` ascending inside the window (documented choice; Binance is UNSURE);
* fromId together with a time bound -> -1128 (the emulator's documented choice);
* limit outside 1..1000 -> -1130.
"""

from collections.abc import Iterable

import numpy as np

from exchange_sim.errors import BinanceError
from exchange_sim.replay.events import AggTradeEvent
from exchange_sim.replay.messages import agg_trade_rest_row

HOUR_MS = 3_600_000
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000


class _Table:
    def __init__(self, capacity: int = 8192) -> None:
        self.ids = np.zeros(capacity, dtype=np.int64)
        self.times = np.zeros(capacity, dtype=np.int64)
        self.events: list[AggTradeEvent] = []
        self.n = 0

    def append(self, ev: AggTradeEvent, time_ms: int) -> None:
        if self.n == len(self.ids):
            self.ids = np.concatenate([self.ids, np.zeros_like(self.ids)])
            self.times = np.concatenate([self.times, np.zeros_like(self.times)])
        if self.n and (ev.agg_id <= self.ids[self.n - 1] or time_ms < self.times[self.n - 1]):
            raise ValueError(
                f"{ev.symbol}: aggTrade {ev.agg_id} at {time_ms} is not after the last one"
            )
        self.ids[self.n] = ev.agg_id
        self.times[self.n] = time_ms
        self.events.append(ev)
        self.n += 1


class AggTradeStore:
    """Published aggregate trades per symbol; ids and times strictly ordered as published."""

    def __init__(self, symbols: Iterable[str]) -> None:
        self._tables = {s: _Table() for s in symbols}

    def append(self, ev: AggTradeEvent, *, trade_time_ms: int) -> None:
        """Record a published aggTrade with its exchange trade time `T`."""
        self._tables[ev.symbol].append(ev, trade_time_ms)

    def __len__(self) -> int:
        return sum(t.n for t in self._tables.values())

    def count(self, symbol: str) -> int:
        return self._tables[symbol].n

    def last(self, symbol: str) -> tuple[AggTradeEvent, int] | None:
        """The latest published aggTrade of `symbol` and its exchange trade time."""
        t = self._tables[symbol]
        return (t.events[-1], int(t.times[t.n - 1])) if t.n else None

    def query(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int | None = None,
    ) -> list[tuple[AggTradeEvent, int]]:
        """(event, exchange trade time) pairs selected with the section-5.5 semantics."""
        table = self._tables.get(symbol)
        if table is None:
            raise BinanceError(-1121, "Invalid symbol.")
        if limit is None:
            limit = DEFAULT_LIMIT
        if not 1 <= limit <= MAX_LIMIT:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        timed = start_time is not None or end_time is not None
        if from_id is not None and timed:
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        if start_time is not None and end_time is not None and end_time - start_time > HOUR_MS:
            raise BinanceError(-1127, "More than 1 hours between startTime and endTime.")
        n = table.n
        ids = table.ids[:n]
        times = table.times[:n]
        if from_id is not None:
            a = int(np.searchsorted(ids, from_id, side="left"))
            b = min(n, a + limit)
        elif start_time is not None:
            a = int(np.searchsorted(times, start_time, side="left"))
            end = n if end_time is None else int(np.searchsorted(times, end_time, side="right"))
            b = min(end, a + limit)
        elif end_time is not None:
            b = int(np.searchsorted(times, end_time, side="right"))
            a = max(0, b - limit)
        else:
            b = n
            a = max(0, n - limit)
        return list(zip(table.events[a:b], times[a:b].tolist(), strict=True))

    def rest_rows(self, symbol: str, **params: int | None) -> list[dict]:
        """`GET /fapi/v1/aggTrades` response body for `query(symbol, **params)`."""
        return [agg_trade_rest_row(ev, trade_time_ms=t) for ev, t in self.query(symbol, **params)]
