"""Resumable REST downloads of klines and aggregate trades into the `HistoryStore`.

Only what the store does not already cover is requested, at the maximum page sizes (1500
klines, 1000 aggTrades); every page is written back with the time range it proves complete,
so an interrupted run continues where it stopped and never downloads a row twice. Aggregate
trades are complete by their consecutive ids: a time the exchange answers empty for is stored
as done only when the trade after it directly follows one before it (a fresh local exchange,
or a venue that does not serve that far back, answers empty too). Klines likewise: a time the
exchange answers no bar for is stored as done only before the symbol's listing (exchangeInfo's
`onboardDate`: nothing can exist then) or when the exchange serves a bar before it and one
after it (an outage of its own, reported as a gap); otherwise it is reported as not served and
asked for again by the next run. Klines that are still open (closing after the exchange's
current time) are not stored. The report lists the holes the exchange itself has (outages)
and the duplicates it sent.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from gateway.market_rest import AGG_TRADES_MAX_LIMIT, KLINES_MAX_LIMIT, MarketDataRest
from market_history.schema import AGG_TRADES_SCHEMA, KLINES_SCHEMA, Kind
from market_history.store import HistoryStore, Range, subtract_ranges

HOUR_MS = 3_600_000
FLUSH_ROWS = 50_000

Progress = Callable[[int, int], object]  # (rows received, ms of market time now done)


@dataclass(slots=True)
class DownloadReport:
    symbol: str
    kind: str
    start_ms: int
    end_ms: int
    requests: int = 0
    rows_received: int = 0
    rows_written: int = 0
    duplicates: int = 0
    resumed_from: list[Range] = field(default_factory=list)  # ranges already stored
    gaps: list[Range] = field(default_factory=list)  # klines: open-time ms; trades: agg ids
    not_yet_available: Range | None = None  # the part of the range after the exchange's now
    # Times the exchange answered empty for without proving that nothing traded then
    # (aggTrades: no trade whose predecessor is older; klines: no bar on both sides, after the
    # listing): not stored as done, asked for by a later run
    not_served: list[Range] = field(default_factory=list)
    # klines: bar open times before the symbol's listing (onboardDate): empty, stored as done
    before_listing: list[Range] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The closing report for humans: times as ISO UTC, trade gaps as aggregate-id ranges."""
        timed = self.kind.startswith("klines")
        unit = "bar open times (UTC)" if timed else "aggregate ids"
        out = [
            f"{self.symbol} {self.kind}: {self.rows_received} rows received in "
            f"{self.requests} requests, {self.rows_written} new rows stored, "
            f"{self.duplicates} duplicates dropped",
        ]
        if self.resumed_from:  # times for both kinds: the store's coverage is by time
            out.append(f"already stored (skipped): {_fmt_ranges(self.resumed_from, True)}")
        if self.gaps:
            out.append(f"gaps in the exchange data, {unit}: {_fmt_ranges(self.gaps, timed)}")
        else:
            out.append("gaps: none")
        if self.not_yet_available:
            later = _fmt_ranges([self.not_yet_available], True)
            out.append(f"not yet available (after the exchange's now): {later}")
        if self.before_listing:
            out.append(
                "before the symbol's listing (exchangeInfo onboardDate; nothing to fetch, "
                f"stored as done): {_fmt_ranges(self.before_listing, True)}"
            )
        if self.not_served:
            why = (
                "no bar there, and no bar on both sides proving an outage"
                if timed
                else "no trade there, and none proving it quiet"
            )
            out.append(
                f"not served by the exchange ({why}; not stored as done, asked for again next "
                f"run): {_fmt_ranges(self.not_served, True)}"
            )
        return out


def _iso(ms: int) -> str:
    """UTC ISO time to the second, to the ms when it has some (an aggregate trade's time
    bounds a range the exchange did not serve)."""
    t = datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{t}.{ms % 1000:03d}Z" if ms % 1000 else f"{t}Z"


def length_text(ms: int) -> str:
    """A range's length in whole minutes and the seconds beyond them: `3 min 38.549 s`, not
    `3.64248 min` (a range ending at a trade's time is no whole number of minutes)."""
    minutes, rest_ms = divmod(ms, 60_000)
    seconds = f"{rest_ms / 1000:g} s"
    if not rest_ms:
        return f"{minutes} min"
    return f"{minutes} min {seconds}" if minutes else seconds


def _fmt_ranges(ranges: list[Range], timed: bool = False, limit: int = 20) -> str:
    """Half-open ranges as `[a, b)`; ms ranges as ISO UTC times with their length."""
    if timed:
        parts = [f"[{_iso(a)}, {_iso(b)}) ({length_text(b - a)})" for a, b in ranges[:limit]]
    else:
        parts = [f"[{a}, {b})" for a, b in ranges[:limit]]
    text = ", ".join(parts)
    if len(ranges) > limit:
        text += f", ... ({len(ranges)} in all)"
    return text


def klines_table(rows: list[list[Any]]) -> pa.Table:
    """REST/CSV 12-column kline rows -> a table in `KLINES_SCHEMA`."""
    cols = list(zip(*rows, strict=False)) if rows else [()] * 11
    return pa.table(
        {
            "open_time": pa.array([int(v) for v in cols[0]], pa.int64()),
            "open": pa.array(cols[1], pa.string()),
            "high": pa.array(cols[2], pa.string()),
            "low": pa.array(cols[3], pa.string()),
            "close": pa.array(cols[4], pa.string()),
            "volume": pa.array(cols[5], pa.string()),
            "close_time": pa.array([int(v) for v in cols[6]], pa.int64()),
            "quote_volume": pa.array(cols[7], pa.string()),
            "trade_count": pa.array([int(v) for v in cols[8]], pa.int64()),
            "taker_buy_volume": pa.array(cols[9], pa.string()),
            "taker_buy_quote_volume": pa.array(cols[10], pa.string()),
        },
        schema=KLINES_SCHEMA,
    )


def agg_trades_table(rows: list[dict[str, Any]]) -> pa.Table:
    """REST aggTrades rows ({"a","p","q","f","l","T","m"}) -> a table in `AGG_TRADES_SCHEMA`."""
    return pa.table(
        {
            "agg_id": pa.array([r["a"] for r in rows], pa.int64()),
            "price": pa.array([r["p"] for r in rows], pa.string()),
            "qty": pa.array([r["q"] for r in rows], pa.string()),
            "first_trade_id": pa.array([r["f"] for r in rows], pa.int64()),
            "last_trade_id": pa.array([r["l"] for r in rows], pa.int64()),
            "trade_time": pa.array([r["T"] for r in rows], pa.int64()),
            "buyer_is_maker": pa.array([r["m"] for r in rows], pa.bool_()),
        },
        schema=AGG_TRADES_SCHEMA,
    )


def kline_gaps(store: HistoryStore, symbol: str, kind: Kind, start: int, end: int) -> list[Range]:
    """Open-time ranges inside covered parts of [start, end) with no stored bar (outages)."""
    step = kind.step_ms
    present = set(store.read(symbol, kind, start, end)["open_time"].to_pylist())
    gaps: list[Range] = []
    for a, b in store.covered(symbol, kind, start, end):
        t = kind.ceil(a)
        while t < b:
            if t not in present:
                if gaps and gaps[-1][1] == t:
                    gaps[-1] = (gaps[-1][0], t + step)
                else:
                    gaps.append((t, t + step))
            t += step
    return gaps


def id_gaps(ids: list[int]) -> list[Range]:
    """Missing aggregate ids between consecutive stored ids, as half-open id ranges."""
    return [(a + 1, b) for a, b in itertools.pairwise(ids) if b > a + 1]


async def download_klines(
    rest: MarketDataRest,
    store: HistoryStore,
    symbol: str,
    interval: str,
    start_ms: int,
    end_ms: int,
    *,
    server_now_ms: int | None = None,
    listed_ms: int | None = None,
    progress: Progress | None = None,
) -> DownloadReport:
    """Fill the store with the closed `interval` klines whose open time is in [start, end).
    `listed_ms`: the symbol's listing time (exchangeInfo `onboardDate`), None if unknown."""
    kind = Kind.klines(interval)
    start = kind.floor(start_ms)
    end = kind.ceil(end_ms)
    report = DownloadReport(symbol, kind.key, start, end)
    now = server_now_ms if server_now_ms is not None else await rest.server_time_ms()
    closed_end = min(end, kind.floor(now))  # bars opening before this have closed
    if closed_end < end:
        report.not_yet_available = (max(closed_end, start), end)
    if closed_end <= start:
        return report
    todo = store.missing(symbol, kind, start, closed_end)
    report.resumed_from = subtract_ranges((start, closed_end), todo)
    if progress:
        done = sum(b - a for a, b in report.resumed_from)
        progress(0, done)
    # Bars opening before this one close before the listing: none can exist.
    listed = kind.floor(listed_ms) if listed_ms is not None else None
    fetch = _KlineFetch(rest, store, symbol, kind, listed, report, progress)
    for span in todo:
        await fetch.range(span)
    # No bar before the listing is no gap of the exchange's.
    report.gaps = kline_gaps(store, symbol, kind, max(start, listed or 0), closed_end)
    return report


@dataclass(slots=True)
class _KlineFetch:
    """The pages of one download_klines run, and what it may store as done where the
    exchange sent no bar."""

    rest: MarketDataRest
    store: HistoryStore
    symbol: str
    kind: Kind
    listed: int | None  # the open time of the listing's bar (grid), None if unknown
    report: DownloadReport
    progress: Progress | None
    seen: set[int] = field(default_factory=set)

    async def range(self, span: Range) -> None:
        """Page through [a, b): rows stored with the time they prove complete."""
        a, b = span
        step = self.kind.step_ms
        cursor = a
        bar_before: bool | None = None  # a bar is served before `cursor` (None: not asked)
        while cursor < b:
            rows = await self._klines(cursor, b - 1, KLINES_MAX_LIMIT)
            self.report.rows_received += len(rows)
            full_page = len(rows) >= KLINES_MAX_LIMIT
            rows = [r for r in rows if cursor <= r[0] < b]
            if not rows:  # nothing in [cursor, b)
                await self._empty((cursor, b), bar_before, None)
                return
            first, last = int(rows[0][0]), max(int(r[0]) for r in rows)
            if first > cursor:  # none in [cursor, first): the bar at `first` is after it
                await self._empty((cursor, first), bar_before, True)
            next_cursor = last + step if full_page else b
            fresh = []
            for r in rows:
                if r[0] in self.seen:
                    self.report.duplicates += 1
                else:
                    self.seen.add(r[0])
                    fresh.append(r)
            # A page that is not full holds every bar up to b: none after `last` is a span
            # to prove (below), not a part of this page's proof.
            covered_end = last + step if not full_page else next_cursor
            self.report.rows_written += self.store.write(
                self.symbol, self.kind, klines_table(fresh), covered=[(first, covered_end)]
            )
            if self.progress:
                self.progress(len(fresh), covered_end - first)
            if covered_end < b and not full_page:
                await self._empty((covered_end, b), True, None)
                return
            cursor = next_cursor
            bar_before = True

    async def _klines(self, start: int, end: int | None, limit: int) -> list[list[Any]]:
        interval = self.kind.interval
        assert interval is not None  # a kline fetch is built for a klines kind only
        rows = await self.rest.klines_raw(
            self.symbol, interval, start_ms=start, end_ms=end, limit=limit
        )
        self.report.requests += 1
        return rows

    async def _empty(self, span: Range, before: bool | None, after: bool | None) -> None:
        """A span the exchange sent no bar for (`before` / `after`: whether it serves a bar
        before / after the span, None: not asked yet): stored as done where that is proven
        (before the listing; or served bars on both sides: an outage, which the report lists
        as a gap), else reported as not served (asked for again next run)."""
        x, y = span
        if self.listed is not None and x < self.listed:
            pre = (x, min(y, self.listed))
            self._done(pre, listing=True)
            x = pre[1]
            if x >= y:
                return
        if before is None:  # any bar served before x (from the listing on, or ever)
            since = self.listed if self.listed is not None else 0
            before = x > since and bool(await self._klines(since, x - 1, 1))
        if before and after is None:
            after = bool(await self._klines(y, None, 1))
        if before and after:  # the exchange serves both sides: a hole of its own
            self._done((x, y), listing=False)
            return
        self.report.not_served.append((x, y))
        if self.progress:  # asked for: done for this run, though not stored
            self.progress(0, y - x)

    def _done(self, span: Range, *, listing: bool) -> None:
        self.store.write(self.symbol, self.kind, klines_table([]), covered=[span])
        if listing:
            self.report.before_listing.append(span)
        if self.progress:
            self.progress(0, span[1] - span[0])


async def download_agg_trades(
    rest: MarketDataRest,
    store: HistoryStore,
    symbol: str,
    start_ms: int,
    end_ms: int,
    *,
    server_now_ms: int | None = None,
    progress: Progress | None = None,
) -> DownloadReport:
    """Fill the store with every aggregate trade whose trade time is in [start, end)."""
    kind = Kind.agg_trades()
    report = DownloadReport(symbol, kind.key, start_ms, end_ms)
    now = server_now_ms if server_now_ms is not None else await rest.server_time_ms()
    end = min(end_ms, now)
    if end < end_ms:
        report.not_yet_available = (max(end, start_ms), end_ms)
    if end <= start_ms:
        return report
    todo = store.missing(symbol, kind, start_ms, end)
    covered_before = store.covered(symbol, kind, start_ms - 1, end)
    report.resumed_from = subtract_ranges((start_ms, end), todo)
    if progress:
        progress(0, sum(b - a for a, b in report.resumed_from))
    seen: set[int] = set()
    for a, b in todo:
        await _download_trade_range(
            rest, store, symbol, kind, (a, b), covered_before, seen, report, progress
        )
    ids = store.read(symbol, kind, start_ms, end)["agg_id"].to_pylist()
    report.gaps = id_gaps(ids)
    return report


async def _download_trade_range(
    rest: MarketDataRest,
    store: HistoryStore,
    symbol: str,
    kind: Kind,
    span: Range,
    covered_before: list[Range],
    seen: set[int],
    report: DownloadReport,
    progress: Progress | None,
) -> None:
    a, b = span
    next_id: int | None = None
    if any(x < a <= y for x, y in covered_before):
        last = store.last_row(symbol, kind, a + 1, a - HOUR_MS * 24)
        if last is not None:
            next_id = last["agg_id"] + 1
    cursor = a  # trades before `cursor` in this range are known complete
    covered_from = a  # what is proven complete starts here (later: the venue's data does)
    buffer: list[dict[str, Any]] = []

    def flush(cover_end: int) -> None:
        nonlocal cursor, buffer
        covered = [(covered_from, cover_end)] if cover_end > covered_from else []
        report.rows_written += store.write(symbol, kind, agg_trades_table(buffer), covered=covered)
        if progress:
            progress(len(buffer), cover_end - cursor)
        cursor = cover_end
        buffer = []

    rows: list[dict[str, Any]] | None = None
    if next_id is None:  # no stored trade to go on from: find the range's first by time
        rows = await _first_window(rest, symbol, a, b, report)
        first = rows[0] if rows else None
        if first is None:  # none in [a, b) by time; the trade after b may prove it
            after = await _time_window(rest, symbol, b, b + HOUR_MS, report, limit=1)
            if after and await _follows_directly(rest, symbol, after[0], a, report):
                flush(b)
            else:
                report.not_served.append((a, b))
                if progress:  # asked for: done for this run, though not stored
                    progress(0, b - a)
            return
        if first["T"] > a and not await _follows_directly(rest, symbol, first, a, report):
            covered_from = first["T"]
            report.not_served.append((a, covered_from))
    while True:
        if rows is None:
            rows = await rest.agg_trades_raw(symbol, from_id=next_id, limit=AGG_TRADES_MAX_LIMIT)
            report.requests += 1
            head_reached = len(rows) < AGG_TRADES_MAX_LIMIT
        else:  # the first time window's page: the ids go on from its last trade
            head_reached = False
        beyond = False
        for r in rows:
            if r["T"] >= b:
                beyond = True
                break
            report.rows_received += r["T"] >= a  # rows in the range only
            if r["a"] in seen:
                report.duplicates += 1
                continue
            seen.add(r["a"])
            buffer.append(r)
        if rows:
            next_id = rows[-1]["a"] + 1
        if beyond or head_reached:
            flush(b)
            return
        if len(buffer) >= FLUSH_ROWS:
            # Trades at the last ms may continue on the next page: cover up to (not incl.) it.
            flush(max(cursor, rows[-1]["T"]))
        rows = None


async def _time_window(
    rest: MarketDataRest,
    symbol: str,
    start: int,
    end: int,
    report: DownloadReport,
    limit: int = AGG_TRADES_MAX_LIMIT,
) -> list[dict[str, Any]]:
    """The aggTrades with a time in [start, end) (less than the hour Binance allows)."""
    rows = await rest.agg_trades_raw(symbol, start_ms=start, end_ms=end - 1, limit=limit)
    report.requests += 1
    return rows


async def _first_window(
    rest: MarketDataRest, symbol: str, a: int, b: int, report: DownloadReport
) -> list[dict[str, Any]]:
    """The first page of trades in [a, b), asked for an hour at a time; [] when none is."""
    start = a
    while start < b:
        end = min(start + HOUR_MS, b)
        rows = await _time_window(rest, symbol, start, end, report)
        if rows:
            return rows
        start = end
    return []


async def _follows_directly(
    rest: MarketDataRest, symbol: str, trade: dict[str, Any], before_ms: int, report: DownloadReport
) -> bool:
    """Whether the trade just before `trade` (its id - 1) exists and is older than `before_ms`:
    then the venue proves that nothing traded in [before_ms, trade's time). An empty answer for
    a time window proves nothing by itself: a venue that does not serve that far back (a local
    exchange whose replay starts later, Binance's time-range form beyond its limit) answers
    empty too, and that time must be asked for again, not stored as done."""
    if trade["a"] <= 0:
        return False
    rows = await rest.agg_trades_raw(symbol, from_id=trade["a"] - 1, limit=1)
    report.requests += 1
    return bool(rows) and rows[0]["a"] == trade["a"] - 1 and rows[0]["T"] < before_ms
