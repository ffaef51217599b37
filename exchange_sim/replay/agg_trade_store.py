"""The recent aggregate trades the exchange has published, queryable like `GET /fapi/v1/aggTrades`.

Times are exchange time (ms). Memory is bounded by design: each symbol keeps only a window of
the most recent trades, the last `retention_ms` of exchange time before its newest trade
(default 6 hours) and at most
`max_trades` of them (default 250,000), whichever is shorter, in one int64 table (9 columns,
72 bytes a trade; no per-trade Python objects). Before, every published trade was kept as an
event object forever (RSS 394 MiB -> 2.1 GiB in three minutes at `--speed max`). The kline data
sets publish about 20 aggregate trades a minute per symbol, so 6 hours is about 7,000 rows;
the count cap only binds on dense recorded data.

Semantics (section 5.5), over the retained window:

* no fromId / startTime / endTime: the most recent `limit` trades, ascending;
* fromId: trades with `a >= fromId`, the first `limit`; a fromId older than the window gets
  the oldest retained trades (so a client paging from an old id sees where its hole is: the
  first id returned is larger than the one it asked for); one beyond the newest gets `[]`.
  Binance keeps far more history; how it answers ids it no longer serves is UNSURE;
* startTime and/or endTime (both inclusive): more than one hour between them -> -1127;
  only startTime: the first `limit` at/after it; only endTime: the last `limit` at/before it;
  both: the first `limit` ascending inside the window (documented choice; Binance is UNSURE);
* fromId together with a time bound -> -1128 (the emulator's documented choice);
* limit outside 1..1000 -> -1130.
"""

from collections.abc import Iterable, Mapping

import numpy as np

from exchange_sim.errors import BinanceError
from exchange_sim.replay.events import AggTradeEvent
from exchange_sim.replay.grid import WireGrid, load_grids

HOUR_MS = 3_600_000
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
DEFAULT_RETENTION_MS = 6 * HOUR_MS
DEFAULT_MAX_TRADES = 250_000  # per symbol

# columns of the int64 table
_A, _T, _P, _Q, _F, _L, _E, _RT, _FLAGS = range(9)
_NCOLS = 9
_MAKER, _SYNTH = 1, 2  # bits of the flags column
_INITIAL_ROWS = 8192


class _Window:
    """Rows [lo, n) of `data` are the retained trades of one symbol, oldest first.

    Appends go to row n; when the table is full, the retained rows move to the front
    (amortized O(1): the table grows while they fill more than 3/4 of it, up to
    max_trades + max_trades/4 rows, so a move always frees at least a quarter).
    """

    def __init__(self, grid: WireGrid, retention_ms: int, max_trades: int) -> None:
        self.grid = grid
        self.retention_ms = retention_ms
        self.max_trades = max_trades
        self.max_rows = max_trades + max(1, max_trades // 4)
        self.data = np.zeros((min(_INITIAL_ROWS, self.max_rows), _NCOLS), dtype=np.int64)
        self.lo = 0
        self.n = 0
        self.last_event: AggTradeEvent | None = None

    @property
    def count(self) -> int:
        return self.n - self.lo

    def append(self, ev: AggTradeEvent, time_ms: int, price_ticks: int, qty_steps: int) -> None:
        if self.n > self.lo:
            last = self.data[self.n - 1]
            if ev.agg_id <= last[_A] or time_ms < last[_T]:
                raise ValueError(
                    f"{ev.symbol}: aggTrade {ev.agg_id} at {time_ms} is not after the last one"
                )
        if self.n == len(self.data):
            self._make_room()
        self.data[self.n] = (
            ev.agg_id,
            time_ms,
            price_ticks,
            qty_steps,
            ev.first_trade_id,
            ev.last_trade_id,
            ev.data_time_ms,
            ev.trade_time_ms,
            (_MAKER if ev.buyer_is_maker else 0) | (_SYNTH if ev.synthesized else 0),
        )
        self.n += 1
        self.last_event = ev
        horizon = time_ms - self.retention_ms
        if self.data[self.lo, _T] < horizon:
            times = self.data[self.lo : self.n, _T]
            self.lo += int(np.searchsorted(times, horizon, side="left"))
        if self.n - self.lo > self.max_trades:
            self.lo = self.n - self.max_trades

    def _make_room(self) -> None:
        kept = self.n - self.lo
        if kept > len(self.data) * 3 // 4 and len(self.data) < self.max_rows:
            new = np.zeros((min(2 * len(self.data), self.max_rows), _NCOLS), dtype=np.int64)
        else:
            new = self.data  # move in place (the source rows lie after the target rows)
        new[:kept] = self.data[self.lo : self.n]
        self.data, self.lo, self.n = new, 0, kept

    def event(self, row: np.ndarray) -> AggTradeEvent:
        a, _, p, q, f, last, e, rt, flags = row.tolist()
        return AggTradeEvent(
            symbol=self.grid.symbol,
            data_time_ms=e,
            agg_id=a,
            price=self.grid.price(p),
            qty=self.grid.qty(q),
            first_trade_id=f,
            last_trade_id=last,
            trade_time_ms=rt,
            buyer_is_maker=bool(flags & _MAKER),
            synthesized=bool(flags & _SYNTH),
        )


class AggTradeStore:
    """Recently published aggregate trades per symbol; ids and times strictly ordered.

    `symbols`: symbol -> WireGrid, or symbol names (their grids then come from the bundled
    instruments). `retention_ms` / `max_trades`: the per-symbol window (module docstring).
    """

    def __init__(
        self,
        symbols: Mapping[str, WireGrid] | Iterable[str],
        *,
        retention_ms: int = DEFAULT_RETENTION_MS,
        max_trades: int = DEFAULT_MAX_TRADES,
    ) -> None:
        if retention_ms <= 0 or max_trades <= 0:
            raise ValueError("retention_ms and max_trades must be positive")
        if isinstance(symbols, Mapping):
            grids = dict(symbols)
        else:
            bundled = load_grids()
            grids = {s: bundled[s] for s in symbols}
        self.retention_ms = retention_ms
        self.max_trades = max_trades
        self._tables = {s: _Window(g, retention_ms, max_trades) for s, g in grids.items()}

    def append(
        self,
        ev: AggTradeEvent,
        *,
        trade_time_ms: int,
        price_ticks: int | None = None,
        qty_steps: int | None = None,
    ) -> None:
        """Record a published aggTrade with its exchange trade time `T` (ticks/steps of its
        price/qty may be passed when the caller has them already)."""
        table = self._tables[ev.symbol]
        grid = table.grid
        table.append(
            ev,
            trade_time_ms,
            grid.ticks_of(ev.price) if price_ticks is None else price_ticks,
            grid.steps_of(ev.qty) if qty_steps is None else qty_steps,
        )

    def __len__(self) -> int:
        return sum(t.count for t in self._tables.values())

    def count(self, symbol: str) -> int:
        """How many trades of `symbol` are retained."""
        return self._tables[symbol].count

    def oldest(self, symbol: str) -> tuple[int, int] | None:
        """(agg id, exchange trade time) of the oldest retained trade of `symbol`."""
        t = self._tables[symbol]
        return (int(t.data[t.lo, _A]), int(t.data[t.lo, _T])) if t.count else None

    def last(self, symbol: str) -> tuple[AggTradeEvent, int] | None:
        """The latest published aggTrade of `symbol` and its exchange trade time."""
        t = self._tables[symbol]
        if t.last_event is None:
            return None
        return t.last_event, int(t.data[t.n - 1, _T])

    def _select(
        self,
        symbol: str,
        from_id: int | None,
        start_time: int | None,
        end_time: int | None,
        limit: int | None,
    ) -> tuple[_Window, np.ndarray]:
        """The table and the selected rows (section-5.5 semantics; see the module docstring)."""
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
        rows = table.data[table.lo : table.n]
        n = len(rows)
        ids = rows[:, _A]
        times = rows[:, _T]
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
        return table, rows[a : max(a, b)]

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
        table, rows = self._select(symbol, from_id, start_time, end_time, limit)
        return [(table.event(r), int(r[_T])) for r in rows]

    def rest_rows(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int | None = None,
    ) -> list[dict]:
        """`GET /fapi/v1/aggTrades` response body (the rows `query` selects), rendered from
        the columns without building event objects."""
        table, rows = self._select(symbol, from_id, start_time, end_time, limit)
        price, qty = table.grid.price_str, table.grid.qty_str
        return [
            {"a": a, "p": price(p), "q": qty(q), "f": f, "l": last, "T": t, "m": bool(fl & _MAKER)}
            for a, t, p, q, f, last, _, _, fl in rows.tolist()
        ]
