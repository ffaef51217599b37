"""Checkpoints of a restart's replay: the next restart loads the newest one and replays only
the journal rows after it, instead of the whole journal.

A restart rebuilds the books by replaying the journal (`BookKeeper.restore`): every fill and
account event in journal order, then the order totals, the ended and open orders, the drawdown's
peak, the client-order-id sequence, the limits. That costs ~55 us of CPU per journaled order, so
a journal of some months took minutes. A `Replay` is that replay's state at one position of the
journal. Once a restore made one, the journal's applier keeps it up to date
(`SqliteJournal.keep_checkpoints`): it hands it each row it writes to the tables, in journal
order and as a restart reads it back (the same `Fill` from the same column values, the same
events decoded from the same JSON), and every `EVERY_RECORDS` rows, or after `EVERY_S` seconds
with anything new, and at a clean close, writes it into the `checkpoints` table in the same
SQLite transaction as the rows it covers. A restart loads the newest checkpoint it can read,
replays the rows after its position and finishes as before: the same code on the same rows in
the same order, hence the same state to the last Decimal digit (tested against the full replay,
`tests/book_keeper/test_checkpoint*.py`).

What a replay holds is everything the full replay rebuilds that the daemon reads later:
- the books (`BookKeeper._replay_state`): wallets, positions and entries, the fills kept to
  re-sequence a late one, the booked trade ids (the fill dedupe), realized PnL, fees, funding,
  transfers, adjustments, the day's wallet base and fills, peak equity and drawdown, the
  account updates held for their fills, the funding settlements booked (those of the 7 days
  up to the newest: `FUNDING_PAID_WINDOW_MS`);
- the order ledger (`OrderLedger`): how many orders, the ended ones counted by status, the
  newest ended ones (the books remember `remember_orders` of them), the ones open or in doubt
  (PENDING_SUBMIT, UNKNOWN: their rows may still change), the highest client-order-id sequence
  per prefix, the symbols with an order or a fill;
- the journal's marks (`Marks`): the last operator reset (a TradingStateChanged to ACTIVE, not
  the daemon's automatic resume: `core.events.rearms_limits`), the highest balance snapshot
  net of transfers since it (the drawdown limit's peak) and over all (the books' peak), the
  largest fall below that running peak (the books' max drawdown), the latest event time;
- its position (`JournalPosition`): the last `seq` of events and fills, the last `orders` and
  `balance_snapshots` rowids (rows are only ever appended; an order row's status changes, which
  is why the open ones are kept).

A checkpoint holds for the traded symbols it was made for: replaying a fill of a symbol not
traded books its money only. A restart on other symbols replays the whole journal once (an INFO
line says so) and checkpoints from there. One of an unknown version, or that does not decode,
is skipped with one WARNING line, and the one before it is tried, then the full replay.
"""

import heapq
import logging
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from book_keeper import codec
from core.enums import OrderStatus
from core.events import (
    BalanceChanged,
    Event,
    FundingPaid,
    PositionChanged,
    TradingStateChanged,
    VenueSnapshot,
    rearms_limits,
)
from core.orders import Fill

if TYPE_CHECKING:
    from book_keeper.book_keeper import BookKeeper
    from book_keeper.journal import SqliteJournal

log = logging.getLogger(__name__)

VERSION = 1  # of the state's layout; a checkpoint of another version is skipped
EVERY_RECORDS = 10_000  # rows applied between two checkpoints: what a restart replays, at most
EVERY_S = 3_600.0  # ... or this long, when anything was applied at all
KEEP = 3  # checkpoints kept: the newest, and older ones to fall back on
# What the books replay besides the fills (`BookKeeper._replay`), by the journal's event kind.
ACCOUNT_KINDS = frozenset(
    cls.__name__ for cls in (BalanceChanged, PositionChanged, FundingPaid, VenueSnapshot)
)
STATE_KIND = TradingStateChanged.__name__
_STATUSES = {s.value: s for s in OrderStatus}  # by value: faster than OrderStatus(value)
_ENDED = frozenset(s.value for s in OrderStatus if s.is_terminal)


class JournalPosition(NamedTuple):
    """Where in the journal a replay stands: every row up to these is in it."""

    seq: int  # events.seq / fills.seq (one sequence)
    order_rowid: int  # orders.rowid
    snapshot_rowid: int  # balance_snapshots.rowid


START = JournalPosition(0, 0, 0)


class CheckpointRow(NamedTuple):
    """One row of the `checkpoints` table."""

    id: int
    version: int
    position: JournalPosition
    symbols: str  # JSON list of the traded symbols it was made for
    state: bytes  # zlib of the JSON state (`Replay.encode`)


class CheckpointUnreadable(ValueError):
    """A checkpoint that cannot be used (unknown version, undecodable, beyond the journal)."""


def higher(best: Decimal | None, value: Decimal | None) -> Decimal | None:
    """The running maximum: `value` replaces `best` only when strictly higher, so of equal
    values the earliest stays (the same one whichever way the rows are gone through)."""
    if value is None or (best is not None and not value > best):
        return best
    return value


def client_seq(client_order_id: str) -> tuple[str, int] | None:
    """(prefix, n) of a client order id `<prefix>-<n>` (n ASCII digits), else None: what
    `SqliteJournal.max_client_seq(prefix)` counts for that prefix."""
    prefix, dash, digits = client_order_id.rpartition("-")
    if not dash or not digits or not (digits.isascii() and digits.isdigit()):
        return None
    return prefix, int(digits)


@dataclass(slots=True)
class OrderLedger:
    """The journal's `orders` rows as a restore reads them: counts, the newest ended ones, the
    open ones, the client-order-id sequences and the symbols (with those of the fills)."""

    keep: int  # ended orders kept (BookKeeper `remember_orders`)
    rows: int = 0
    by_status: dict[str, int] = field(default_factory=dict)  # ended orders by final status
    # The `keep` newest ended orders by (created_ms, rowid), as the restore orders them: a
    # min-heap of (created_ms, rowid, client order id, status).
    ended: list[tuple[int, int, str, str]] = field(default_factory=list)
    open: dict[str, tuple[int, int]] = field(default_factory=dict)  # cid -> (created_ms, rowid)
    max_seq: dict[str, int] = field(default_factory=dict)  # client id prefix -> highest n
    symbols: set[str] = field(default_factory=set)

    def add(self, rowid: int, cid: str, symbol: str, created_ms: int, status: str) -> None:
        """A new orders row."""
        self.rows += 1
        self.symbols.add(symbol)
        if (seq := client_seq(cid)) is not None and seq[1] > self.max_seq.get(seq[0], -1):
            self.max_seq[seq[0]] = seq[1]
        if status in _ENDED:
            self._end(created_ms, rowid, cid, status)
        else:
            self.open[cid] = (created_ms, rowid)

    def moved(self, cid: str, status: str) -> None:
        """An orders row's status changed (an ended order's never does)."""
        key = self.open.get(cid)
        if key is not None and status in _ENDED:
            del self.open[cid]
            self._end(key[0], key[1], cid, status)

    def _end(self, created_ms: int, rowid: int, cid: str, status: str) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1
        entry = (created_ms, rowid, cid, status)
        if len(self.ended) < self.keep:
            heapq.heappush(self.ended, entry)
        elif self.keep and entry > self.ended[0]:
            heapq.heapreplace(self.ended, entry)

    def newest_ended(self) -> list[tuple[str, OrderStatus]]:
        """The ended orders kept, oldest first."""
        return [(cid, _STATUSES[status]) for _, _, cid, status in sorted(self.ended)]

    def to_json(self) -> dict[str, Any]:
        ended = sorted(self.ended)
        return {
            "keep": self.keep,
            "rows": self.rows,
            "by_status": self.by_status,
            "ended": {  # by column: the ids and times repeat their shapes, zlib likes that
                "created_ms": [e[0] for e in ended],
                "rowid": [e[1] for e in ended],
                "cid": [e[2] for e in ended],
                "status": [e[3] for e in ended],
            },
            "open": [[cid, c, r] for cid, (c, r) in self.open.items()],
            "max_seq": self.max_seq,
            "symbols": sorted(self.symbols),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "OrderLedger":
        e = data["ended"]
        ended = list(zip(e["created_ms"], e["rowid"], e["cid"], e["status"], strict=True))
        for c, r, cid, status in ended:
            if not (type(c) is int and type(r) is int and type(cid) is str and status in _ENDED):
                raise ValueError(f"ended order {cid!r}: {c!r}, {r!r}, {status!r}")
        heapq.heapify(ended)
        return cls(
            keep=int(data["keep"]),
            rows=int(data["rows"]),
            by_status={_STATUSES[k].value: int(v) for k, v in data["by_status"].items()},
            ended=ended,
            open={str(cid): (int(c), int(r)) for cid, c, r in data["open"]},
            max_seq={str(k): int(v) for k, v in data["max_seq"].items()},
            symbols={str(s) for s in data["symbols"]},
        )


@dataclass(slots=True)
class Marks:
    """What a restart reads of the journal besides the books: the drawdown limit's peak since
    the last operator reset, the books' peak over all snapshots, the latest event time."""

    reset_ms: int = 0  # event time of the last operator reset (0: none; `rearms_limits`)
    peak_since: Decimal | None = None  # highest snapshot equity - transfers from reset_ms on
    peak_all: Decimal | None = None  # ... over every snapshot
    # The largest fall of a snapshot's equity - transfers below the running peak_all, in row
    # order: the books' max drawdown, as they journal a snapshot at each new one. None: not
    # known (a checkpoint written before it was kept): `Replay.catch_up` goes through every
    # snapshot row again, not the whole journal.
    max_drawdown_all: Decimal | None = Decimal(0)
    last_event_ms: int | None = None  # MAX(events.event_time_ms)

    def snapshot(self, time_ms: int, net: Decimal) -> None:
        """A balance snapshot row: its equity net of transfers."""
        self.running(net)
        if time_ms >= self.reset_ms:
            self.peak_since = higher(self.peak_since, net)

    def running(self, net: Decimal) -> None:
        """The next balance snapshot row's equity net of transfers, for the all-time peak and
        max drawdown (rows in the order they were written)."""
        peak = self.peak_all = higher(self.peak_all, net)
        assert peak is not None and self.max_drawdown_all is not None
        if peak - net > self.max_drawdown_all:
            self.max_drawdown_all = peak - net

    def event(self, time_ms: int) -> None:
        if self.last_event_ms is None or time_ms > self.last_event_ms:
            self.last_event_ms = time_ms

    def to_json(self) -> dict[str, Any]:
        drawdown = self.max_drawdown_all
        return {
            "reset_ms": self.reset_ms,
            "peak_since": None if self.peak_since is None else str(self.peak_since),
            "peak_all": None if self.peak_all is None else str(self.peak_all),
            "max_drawdown_all": None if drawdown is None else str(drawdown),
            "last_event_ms": self.last_event_ms,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Marks":
        since, peak, last = data["peak_since"], data["peak_all"], data["last_event_ms"]
        drawdown = data.get("max_drawdown_all")
        return cls(
            reset_ms=int(data["reset_ms"]),
            peak_since=None if since is None else Decimal(since),
            peak_all=None if peak is None else Decimal(peak),
            # Absent from a checkpoint an older daemon wrote (layout VERSION 1 all the same):
            # None, and `Replay.catch_up` reads the balance snapshot rows again.
            max_drawdown_all=None if drawdown is None else Decimal(drawdown),
            last_event_ms=None if last is None else int(last),
        )


class Replay:
    """The journal replayed up to `position`: books (a `BookKeeper._replay_twin`), the order
    ledger and the marks. Made by `begin` (from the newest usable checkpoint, or empty) and
    `catch_up` (the rows after it); then fed row by row by the journal's applier, which
    `encode`s it into a checkpoint now and then."""

    def __init__(
        self,
        books: "BookKeeper",
        *,
        ledger: OrderLedger,
        marks: Marks,
        position: JournalPosition,
        origin: str,
    ) -> None:
        self.books = books
        self.ledger = ledger
        self.marks = marks
        self.position = position
        self.origin = origin  # where the restore started from, for its log line
        self.replayed = 0  # rows `catch_up` went through (of every table)
        self.symbols_traded = tuple(sorted(books.instruments))

    # --- starting ---------------------------------------------------------------------------

    @classmethod
    def begin(
        cls, journal: "SqliteJournal", live: "BookKeeper", *, use_checkpoints: bool = True
    ) -> "Replay":
        """The replay for a restore of `live` (its symbols and settings): from the newest
        checkpoint of the journal made for them, else from the start of the journal."""
        empty = cls(
            live._replay_twin(),
            ledger=OrderLedger(keep=live.remember_orders),
            marks=Marks(),
            position=START,
            origin="replayed from the start of the journal",
        )
        if not use_checkpoints:
            return empty
        end = journal.end_position()
        other: list[str] = []
        for row in journal.checkpoint_rows():
            try:
                replay = cls._from_row(row, live, end)
            except CheckpointUnreadable as e:
                log.warning("journal: checkpoint %d skipped: %s", row.id, e)
                continue
            if isinstance(replay, str):
                other.append(replay)
                continue
            return replay
        if other:
            log.info(
                "journal: its checkpoints were made for %s: the books are replayed from the "
                "start of the journal (checkpointed again from there)",
                other[0],
            )
        return empty

    @classmethod
    def _from_row(
        cls, row: CheckpointRow, live: "BookKeeper", end: JournalPosition
    ) -> "Replay | str":
        """The replay a checkpoint holds, or what it was made for when that is not `live`'s
        (another symbol set or setting); raises CheckpointUnreadable."""
        if row.version != VERSION:
            raise CheckpointUnreadable(f"version {row.version}; this daemon reads {VERSION}")
        if any(at > last for at, last in zip(row.position, end, strict=True)):
            raise CheckpointUnreadable(
                f"its position {tuple(row.position)} is beyond the journal's rows {tuple(end)}"
            )
        try:
            state = orjson.loads(zlib.decompress(row.state))
            if state["version"] != VERSION or tuple(state["position"]) != row.position:
                raise CheckpointUnreadable("its state does not match its row")
            traded = tuple(sorted(live.instruments))
            if tuple(state["symbols"]) != traded:
                return f"symbols {', '.join(state['symbols'])} (trading {', '.join(traded)})"
            given = {k: str(v) for k, v in live._given_balances.items()}
            if state["given_balances"] != given or state["ledger"]["keep"] != live.remember_orders:
                return "other starting balances or remembered orders than this run's"
            books = live._replay_twin()
            books._load_replay_state(state["books"])
            ledger = OrderLedger.from_json(state["ledger"])
            marks = Marks.from_json(state["marks"])
        except CheckpointUnreadable:
            raise
        except (zlib.error, KeyError, IndexError, TypeError, ValueError, ArithmeticError) as e:
            raise CheckpointUnreadable(f"cannot be decoded ({type(e).__name__}: {e})") from e
        return cls(
            books,
            ledger=ledger,
            marks=marks,
            position=row.position,
            origin=f"from checkpoint {row.id} at journal seq {row.position.seq}",
        )

    def catch_up(self, journal: "SqliteJournal") -> int:
        """Replay the journal's rows after `position` (all of them from the start), as a
        restart reads them back; the replay is then at the end of the journal. Returns how
        many rows it went through."""
        start = self.position
        end = journal.end_position()
        ledger, marks = self.ledger, self.marks
        # The orders: the ones open at the checkpoint may have ended since; new rows.
        for cid, status in journal.order_statuses_of(list(ledger.open)):
            ledger.moved(cid, status)
        for rowid, cid, symbol, status, created_ms in journal.orders_after(start.order_rowid):
            ledger.add(rowid, cid, symbol, created_ms, status)
        # Fills and account events, merged in journal order.
        books, symbols = self.books, ledger.symbols
        for _seq, item, known in journal.replay_rows(start.seq):
            books._replay(item, known)
            if isinstance(item, Fill):
                symbols.add(item.symbol)
        # The marks: an operator reset since moves the drawdown peak's start.
        reset = marks.reset_ms
        for _, event in journal.load_events([STATE_KIND], after_seq=start.seq):
            if rearms_limits(event):
                reset = event.event_time_ms
        if reset != marks.reset_ms:
            marks.reset_ms = reset
            marks.peak_since = journal.peak_net_equity(reset)
        else:
            marks.peak_since = higher(
                marks.peak_since, journal.peak_net_equity(reset, after_rowid=start.snapshot_rowid)
            )
        after = start.snapshot_rowid
        if marks.max_drawdown_all is None:  # its checkpoint did not keep it: every row again
            marks.peak_all, marks.max_drawdown_all, after = None, Decimal(0), 0
        for net in journal.net_equities(after_rowid=after):
            marks.running(net)
        if (last := journal.last_event_ms(after_seq=start.seq)) is not None:
            marks.event(last)
        self.position = end
        self.replayed = sum(end) - sum(start)  # events and fills, orders, balance snapshots
        return self.replayed

    # --- fed by the journal's applier, row by row, in journal order -------------------------

    def fill_row(self, fill: Fill, known: bool) -> None:
        """A fills row (`known`: the journal has an orders row of its client order id)."""
        self.books._replay(fill, known)
        self.ledger.symbols.add(fill.symbol)

    def event_row(
        self,
        kind: str,
        time_ms: int,
        payload: bytes,
        peak_since: Callable[[int], Decimal | None],
    ) -> None:
        """An events row (`payload`: its JSON as stored). `peak_since(ms)`: the highest
        snapshot net of transfers from `ms` on, for an operator reset."""
        self.marks.event(time_ms)
        if kind in ACCOUNT_KINDS:
            self.books._replay(codec.loads(kind, payload))
        elif kind == STATE_KIND:
            event = codec.loads(kind, payload)
            if rearms_limits(event):
                self.marks.reset_ms = event.event_time_ms
                self.marks.peak_since = peak_since(event.event_time_ms)

    def order_row(self, rowid: int, cid: str, symbol: str, created_ms: int) -> None:
        """A new orders row (PENDING_SUBMIT)."""
        self.ledger.add(rowid, cid, symbol, created_ms, OrderStatus.PENDING_SUBMIT.value)

    def order_moved(self, cid: str, status: str) -> None:
        self.ledger.moved(cid, status)

    def snapshot_row(self, time_ms: int, equity: str, transfers: str) -> None:
        self.marks.snapshot(time_ms, Decimal(equity) - Decimal(transfers))

    # --- the checkpoint -------------------------------------------------------------------

    def encode(self) -> bytes:
        """The checkpoint's state: JSON (Decimals as `str`, exact), zlib-compressed."""
        state = {
            "version": VERSION,
            "position": list(self.position),
            "symbols": list(self.symbols_traded),
            "given_balances": {k: str(v) for k, v in self.books._given_balances.items()},
            "books": self.books._replay_state(),
            "ledger": self.ledger.to_json(),
            "marks": self.marks.to_json(),
        }
        return zlib.compress(orjson.dumps(state), 1)

    # --- what the rest of a restart reads --------------------------------------------------

    @property
    def symbols(self) -> set[str]:
        """Every symbol the journal has an order or a fill of (`SqliteJournal.symbols`)."""
        return set(self.ledger.symbols)

    def max_client_seq(self, journal: "SqliteJournal", prefix: str) -> int:
        """`SqliteJournal.max_client_seq(prefix)`, its orders part from the ledger."""
        return max(self.ledger.max_seq.get(prefix, 0), journal.last_denied_seq(prefix))

    def last_record_ms(self, journal: "SqliteJournal") -> int | None:
        """`SqliteJournal.last_record_ms()`, its events part from the marks."""
        times = (self.marks.last_event_ms, journal.last_fill_ms(), journal.last_snapshot_ms())
        return max((t for t in times if t is not None), default=None)

    def peak_net_equity(self, journal: "SqliteJournal", since_ms: int) -> Decimal | None:
        """`SqliteJournal.peak_net_equity(since_ms)`, kept by the marks for the last reset."""
        if since_ms == self.marks.reset_ms:
            return self.marks.peak_since
        return journal.peak_net_equity(since_ms)


def merged_rows(
    fills: Iterable[tuple[int, Fill, bool]], events: Iterable[tuple[int, Event]]
) -> Iterator[tuple[int, Fill | Event, bool]]:
    """Fills (seq, fill, known) and account events (seq, event) in journal order."""
    tagged = ((seq, event, False) for seq, event in events)
    return heapq.merge(fills, tagged, key=lambda row: row[0])


__all__ = [
    "EVERY_RECORDS",
    "EVERY_S",
    "KEEP",
    "VERSION",
    "CheckpointRow",
    "CheckpointUnreadable",
    "JournalPosition",
    "Marks",
    "OrderLedger",
    "Replay",
]
