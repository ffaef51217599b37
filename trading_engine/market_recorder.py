"""What a local session fed its ExecManager, recorded for the parity audit (`backtest.parity`).

The daemon hands every market item (Trade, BookTicker, MarkPrice, Bar, gap and stream events)
and every venue event to the ExecManager through this recorder, which notes, in order:

* ``i``: a market item, with the ExecManager's clock reading for it;
* ``e``: a venue event (the whole event), with the clock reading;
* ``g`` / ``o``: each answer the ExecManager got from `gap_open` / `clock_offset_ms`;
* ``w``: the bars the strategy was warmed with;
* ``s``: the shutdown (trading stopped; whether open orders are then canceled).

The first line is the session header: the effective settings (strategy and its parameters,
risk limits, ExecManager config, instruments, client order id sequence), so that the audit can
rebuild the same objects. The ExecManager gets a `LatchedClock`: one reading per item or
event, taken here, so the replay can give it exactly the times it saw.

Hot path: one clock read and one list append per item; a writer thread encodes (orjson) and
gzips the entries every `FLUSH_S` into `<journal_dir>/market/session-<start ms>.jsonl.gz`.
"""

import dataclasses
import gzip
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from book_keeper.codec import event_classes, from_jsonable, to_jsonable
from core.clock import Clock
from core.events import Event
from core.market import Bar, BookTicker, MarkPrice, Trade

log = logging.getLogger(__name__)

FORMAT = 1
FLUSH_S = 0.25
WRITE_CHUNK = 64  # entries encoded per hold of the GIL (~0.2 ms), then the loop may run
SESSION_DIR = "market"
ITEM, EVENT, GAP, OFFSET, WARM, STOP = "i", "e", "g", "o", "w", "s"
MARKET_CLASSES: dict[str, type] = {c.__name__: c for c in (Trade, BookTicker, MarkPrice, Bar)}


class LatchedClock:
    """The ExecManager's clock in a recorded session: while the recorder holds a reading (one
    per item or event) every `now_ms` returns it, otherwise the wrapped clock's time."""

    __slots__ = ("_clock", "latched")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.latched: int | None = None

    def now_ms(self) -> int:
        latched = self.latched
        return latched if latched is not None else self._clock.now_ms()

    def latch(self) -> int:
        now = self.latched = self._clock.now_ms()
        return now

    def release(self) -> None:
        self.latched = None


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    raise TypeError(f"cannot record a {type(value).__name__}")


def _trade_row(x: Trade) -> list[Any]:
    return [
        x.symbol, x.agg_id, str(x.price), str(x.qty), x.first_trade_id, x.last_trade_id,
        x.buyer_is_maker, x.trade_time_ms, x.event_time_ms, x.recv_time_ms,
    ]  # fmt: skip


def _book_row(x: BookTicker) -> list[Any]:
    return [
        x.symbol, x.update_id, str(x.bid_price), str(x.bid_qty), str(x.ask_price),
        str(x.ask_qty), x.transaction_time_ms, x.event_time_ms, x.recv_time_ms,
    ]  # fmt: skip


def _mark_row(x: MarkPrice) -> list[Any]:
    return [
        x.symbol, str(x.mark_price), str(x.index_price), str(x.funding_rate),
        x.next_funding_time_ms, x.event_time_ms, x.recv_time_ms,
    ]  # fmt: skip


def _trade_of(r: list[Any]) -> Trade:
    return Trade(r[0], r[1], Decimal(r[2]), Decimal(r[3]), r[4], r[5], r[6], r[7], r[8], r[9])


def _book_of(r: list[Any]) -> BookTicker:
    d = Decimal
    return BookTicker(r[0], r[1], d(r[2]), d(r[3]), d(r[4]), d(r[5]), r[6], r[7], r[8])


def _mark_of(r: list[Any]) -> MarkPrice:
    return MarkPrice(r[0], Decimal(r[1]), Decimal(r[2]), Decimal(r[3]), r[4], r[5], r[6])


# The frequent items as positional rows (str(Decimal) round-trips exactly): ~4x cheaper to
# encode than orjson's dataclass walk with a Python callback per Decimal.
_ROWS: dict[type, tuple[str, Callable[[Any], list[Any]]]] = {
    Trade: ("t", _trade_row),
    BookTicker: ("b", _book_row),
    MarkPrice: ("m", _mark_row),
}
_FROM_ROWS: dict[str, Callable[[list[Any]], Any]] = {"t": _trade_of, "b": _book_of, "m": _mark_of}


def encode_entry(entry: tuple[Any, ...]) -> bytes:
    """One recorded entry as a JSON line (market items and events as their dataclass fields)."""
    code = entry[0]
    if code in (ITEM, EVENT):
        _, t, obj = entry
        row = _ROWS.get(type(obj))
        if row is not None:
            return orjson.dumps([code, t, row[0], row[1](obj)]) + b"\n"
        return orjson.dumps([code, t, type(obj).__name__, obj], default=_default) + b"\n"
    if code == WARM:
        return orjson.dumps([code, list(entry[1])], default=_default) + b"\n"
    return orjson.dumps(list(entry), default=_default) + b"\n"


def decode_object(kind: str, data: Any) -> Any:
    """A market item or event back from its recorded fields (KeyError for an unknown kind)."""
    from_row = _FROM_ROWS.get(kind)
    if from_row is not None:
        return from_row(data)
    cls = MARKET_CLASSES.get(kind) or event_classes()[kind]
    return from_jsonable(cls, data)


class MarketRecorder:
    """Records one session (see the module docstring); `close()` writes what is left."""

    def __init__(self, journal_dir: Path, clock: Clock) -> None:
        self.clock = LatchedClock(clock)
        self.folder = Path(journal_dir) / SESSION_DIR
        self.path: Path | None = None
        self._buf: list[tuple[Any, ...]] = []
        self._file: Any = None
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.entries = 0
        self.errors = 0

    def start(self, header: dict[str, Any]) -> None:
        """Open the session file, write the header; entries recorded before wait for it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        started = self.clock.now_ms()
        self.path = self.folder / f"session-{started}.jsonl.gz"
        self._file = gzip.open(self.path, "wb", compresslevel=3)  # noqa: SIM115 (closed in close)
        head = {"format": FORMAT, "started_ms": started, **header}
        self._file.write(orjson.dumps(head, default=_default) + b"\n")
        self._thread = threading.Thread(target=self._run, name="market-recorder", daemon=True)
        self._thread.start()

    # --- wrappers the daemon wires in -----------------------------------------------------------

    def items(self, on_item: Callable[[Any], None]) -> Callable[[Any], None]:
        clock, append = self.clock, self._buf.append
        now_ms = clock._clock.now_ms

        def record_item(item: Any) -> None:
            t = clock.latched = now_ms()
            append((ITEM, t, item))
            try:
                on_item(item)
            finally:
                clock.latched = None

        return record_item

    def events(self, on_event: Callable[[Event], None]) -> Callable[[Event], None]:
        clock, append = self.clock, self._buf.append

        def record_event(event: Event) -> None:
            if clock.latched is not None:  # an event handed on from inside an item: no reading
                append((EVENT, clock.latched, event))
                on_event(event)
                return
            append((EVENT, clock.latch(), event))
            try:
                on_event(event)
            finally:
                clock.latched = None

        return record_event

    def gap_open(self, fn: Callable[[str], bool]) -> Callable[[str], bool]:
        append = self._buf_append

        def recorded(symbol: str) -> bool:
            answer = fn(symbol)
            append((GAP, symbol, answer))
            return answer

        return recorded

    def clock_offset(self, fn: Callable[[], int]) -> Callable[[], int]:
        append = self._buf_append

        def recorded() -> int:
            answer = fn()
            append((OFFSET, answer))
            return answer

        return recorded

    def warm(self, bars: Sequence[Bar]) -> None:
        self._buf_append((WARM, tuple(bars)))

    def stopping(self, *, cancel_orders: bool, keep_protection: bool = False) -> None:
        """The daemon stops trading now (and cancels its open orders unless told to keep them;
        with `keep_protection` the protective stops / take-profits stay)."""
        self._buf_append((STOP, self.clock.now_ms(), cancel_orders, keep_protection))

    def _buf_append(self, entry: tuple[Any, ...]) -> None:
        self._buf.append(entry)

    # --- writer ---------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(FLUSH_S)
            self._wake.clear()
            self._write()

    def _write(self) -> None:
        buf = self._buf
        if not buf:
            return
        n = len(buf)
        batch = buf[:n]
        del buf[:n]  # list ops are atomic under the GIL: appends after n stay
        try:
            for i in range(0, n, WRITE_CHUNK):
                self._file.write(b"".join(map(encode_entry, batch[i : i + WRITE_CHUNK])))
                time.sleep(0)  # let the event loop have the GIL between chunks
            self.entries += n
        except OSError as exc:  # a full disk must not stop the thread: one line, not five
            self.errors += 1
            if self.errors == 1:
                log.error("market recorder: %d entries not written to %s: %s", n, self.path, exc)
        except Exception:  # a bug must not stop the thread either (the buffer grows)
            self.errors += 1
            if self.errors <= 5:
                log.exception("market recorder: %d entries not written", n)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._file is None:
            return
        self._write()
        try:
            self._file.close()
        except OSError as exc:  # a full disk: the session file's end is lost, not the stop
            log.error("market recorder: %s not closed: %s", self.path, exc)
            return
        log.info("market recorder: %d entries in %s", self.entries, self.path)


def session_header(
    *,
    strategy: str,
    strategy_params: dict[str, Any],
    risk: Any,
    exec_config: Any,
    instruments: dict[str, Any],
    client_id_prefix: str,
    client_id_next: int,
    local: dict[str, Any],
    client_id_tag: str = "",
    positions: Sequence[Any] = (),
    held_exits: dict[str, Any] | None = None,
    strategy_dir: str = "",
    model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The effective settings of a session, as the audit needs them to rebuild it, the
    positions the books started with (restored from the journal) and the sides held flat after
    a stop-loss or take-profit (symbol -> the closing order's side). `strategy_dir`: the
    daemon's working directory, where a strategy of one's own (a relative file path, or a
    module found there) was loaded from. `model`: the model a model strategy traded at the
    start (`model_identity()`: file, sha256, registry version), so that the audit rebuilds the
    session with that file, not with whatever the registry promotes by then. The client ids
    the session issues are `ClientOrderIds(client_id_prefix, client_id_next,
    tag=client_id_tag)`'s."""
    return {
        "strategy": strategy,
        "strategy_dir": strategy_dir,
        "strategy_params": jsonable(
            {k: v for k, v in strategy_params.items() if k != "instruments"}
        ),
        "risk": to_jsonable(risk),
        "exec": to_jsonable(exec_config),
        "instruments": {
            sym: {k: v for k, v in to_jsonable(inst).items() if not k.startswith("_")}
            for sym, inst in instruments.items()
        },
        "client_id_prefix": client_id_prefix,
        "client_id_next": client_id_next,
        "client_id_tag": client_id_tag,
        "local": jsonable(local),
        "positions": [to_jsonable(p) for p in positions],
        "held_exits": {sym: str(side) for sym, side in (held_exits or {}).items()},
        "model": model,
    }


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    """A recorded session, decoded: the header and the entries in order."""

    path: Path
    header: dict[str, Any]
    entries: list[tuple[Any, ...]]


def session_files(journal_dir: Path) -> list[Path]:
    """The recorded sessions of a journal directory, oldest first."""
    folder = Path(journal_dir) / SESSION_DIR
    files = folder.glob("session-*.jsonl.gz") if folder.is_dir() else iter(())
    return sorted(files, key=lambda p: int(p.name.split("-")[1].split(".")[0]))


def read_session(path: Path) -> Session:
    """Decode a recorded session; ValueError for a file that is not one (or is truncated
    before its header). A torn last line (a killed daemon) is dropped."""
    with gzip.open(path, "rb") as fh:
        lines = _lines(fh)
        try:
            header = orjson.loads(next(lines))
        except (StopIteration, orjson.JSONDecodeError, EOFError, OSError) as exc:
            raise ValueError(f"{path}: not a recorded session ({exc or 'empty'})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"{path}: unknown session format")
        entries: list[tuple[Any, ...]] = []
        try:
            for line in lines:
                entries.append(_decode(orjson.loads(line)))
        except (orjson.JSONDecodeError, EOFError, OSError):
            pass  # torn tail
    return Session(path=path, header=header, entries=entries)


def _lines(fh: Any) -> Iterator[bytes]:
    yield from fh


def _decode(row: list[Any]) -> tuple[Any, ...]:
    code = row[0]
    if code in (ITEM, EVENT):
        return (code, row[1], decode_object(row[2], row[3]))
    if code == WARM:
        return (code, tuple(from_jsonable(Bar, b) for b in row[1]))
    return tuple(row)


def jsonable(value: Any) -> Any:
    """Settings values for the header (Decimals tagged so they come back as Decimals)."""
    if isinstance(value, Decimal):
        return {"decimal": f"{value:f}"}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(value)
    return value


def unjsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"decimal"}:
            return Decimal(value["decimal"])
        return {k: unjsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unjsonable(v) for v in value]
    return value
