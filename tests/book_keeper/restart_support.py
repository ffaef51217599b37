"""What a daemon's start-up rebuilds from its journal, as one comparable value (no tests here).

`start_up_picture` runs the reads of `Daemon._start` in its order (the books' restore, the
symbols, the client-order-id sequence, the trading state and the limits, the venue's and the
ExecManager's inputs) and returns every field of what they built, recursively, Decimals as
`str` (so "1E+1" and "10" differ: exact to the exponent). Two pictures are equal when a
restart would continue from the same state.
"""

import sqlite3
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import fields, is_dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from book_keeper.book_keeper import BookKeeper
from book_keeper.journal import SqliteJournal
from core.clock import SimClock
from core.enums import TradingState
from core.events import TradingStateChanged
from core.instrument import Instrument
from risk_manager.config import RiskConfig
from risk_manager.risk_manager import RiskManager
from trading_engine.limits_restore import restore_limits as _restore_limits

# Caches (recomputed when read) and wiring: not state.
_NOT_STATE = {
    "_clock",
    "_handlers",
    "instruments",
    "_version",
    "_equity_at",
    "_available_at",
    "_equity",  # valid only while _equity_at is _version
    "_available",
    "inst",
    "position",  # _Book's cached Position view
}


def plain(value: Any) -> Any:
    """`value` as nested tuples, lists and dicts of str / int / bool / None."""
    if isinstance(value, Decimal):
        return ("D", str(value))
    if isinstance(value, Enum):
        return (type(value).__name__, value.value)
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, OrderedDict):
        return ("OrderedDict", [(plain(k), plain(v)) for k, v in value.items()])
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, deque):
        return ("deque", value.maxlen, [plain(v) for v in value])
    if isinstance(value, (set, frozenset)):
        return ("set", sorted((plain(v) for v in value), key=repr))
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return (type(value).__name__, tuple(plain(v) for v in value))
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        named = {f.name: plain(getattr(value, f.name)) for f in fields(value)}
        return (type(value).__name__, named)
    return (type(value).__name__, _attributes(value))


def _attributes(obj: Any) -> dict[str, Any]:
    names: list[str] = []
    for cls in type(obj).__mro__:
        names += [s for s in getattr(cls, "__slots__", ()) if s not in names]
    if hasattr(obj, "__dict__"):
        names += [n for n in vars(obj) if n not in names]
    return {n: plain(getattr(obj, n)) for n in names if n not in _NOT_STATE and hasattr(obj, n)}


def start_up_picture(
    journal_dir: Path,
    instruments: dict[str, Instrument],
    *,
    now_ms: int,
    checkpoints: bool,
    prefixes: Iterable[str] = ("t",),
    leverage: int = 5,
    remember_orders: int = 10_000,
) -> tuple[dict[str, Any], str]:
    """(what a start-up rebuilds, where its replay started) for the journal in `journal_dir`."""
    clock = SimClock(now_ms)
    with SqliteJournal(journal_dir, writer_thread=False) as journal:
        book = BookKeeper(
            starting_balances=None,
            instruments=instruments,
            clock=clock,
            leverage=dict.fromkeys(instruments, leverage),
            remember_orders=remember_orders,
        )
        replay = book.restore(journal, checkpoints=checkpoints)
        risk = RiskManager(config=RiskConfig(), instruments=instruments, clock=clock, view=book)
        changes = [e for _, e in journal.load_events(["TradingStateChanged"])]
        _restore_limits(journal, changes, risk, book, now_ms, replay)
        last = changes[-1] if changes else None
        if isinstance(last, TradingStateChanged) and last.current is not TradingState.ACTIVE:
            risk.restore_state(last.current, last.reason)
        picture = {
            "books": plain(book),
            "risk": plain(risk),
            "symbols": sorted(replay.symbols),
            "client_seq": {p: replay.max_client_seq(journal, p) for p in (*prefixes, "none")},
            "last_record_ms": replay.last_record_ms(journal),
            "open_orders": plain(journal.open_orders()),
            "open_order_trade_ids": journal.open_order_trade_ids(),
            "last_trade_ids": {s: journal.last_trade_id(s) for s in instruments},
            "last_fill_order": plain({s: journal.last_fill_order(s) for s in instruments}),
        }
        if not checkpoints:  # the journal's own full queries agree with the replay's
            assert picture["symbols"] == sorted(journal.symbols())
            assert picture["last_record_ms"] == journal.last_record_ms()
            for p in (*prefixes, "none"):
                assert picture["client_seq"][p] == journal.max_client_seq(p)
        return picture, replay.origin


def copy_up_to_checkpoint(journal_dir: Path, target_dir: Path, checkpoint_id: int) -> Path:
    """A copy of the journal without the checkpoints newer than `checkpoint_id`: its restore
    starts from that one."""
    target_dir.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(journal_dir / "journal.sqlite3")
    dst = sqlite3.connect(target_dir / "journal.sqlite3")
    try:
        src.backup(dst)
        dst.execute("DELETE FROM checkpoints WHERE id > ?", (checkpoint_id,))
        dst.commit()
    finally:
        src.close()
        dst.close()
    return target_dir


def drop_checkpoints_after(journal_dir: Path, checkpoint_id: int) -> None:
    """Remove the journal's checkpoints newer than `checkpoint_id`, in place: walking down
    from the newest, one copy serves a restart from each (a start-up writes nothing there)."""
    db = sqlite3.connect(journal_dir / "journal.sqlite3")
    try:
        db.execute("PRAGMA synchronous = OFF")  # a scratch copy: no fsync per restart
        db.execute("DELETE FROM checkpoints WHERE id > ?", (checkpoint_id,))
        db.commit()
    finally:
        db.close()


def checkpoint_ids(journal_dir: Path) -> list[int]:
    db = sqlite3.connect(f"file:{journal_dir / 'journal.sqlite3'}?mode=ro", uri=True)
    try:
        return [r[0] for r in db.execute("SELECT id FROM checkpoints ORDER BY id")]
    finally:
        db.close()
