"""Account updates held ahead of their fills (times in ms, event time unless said).

An ACCOUNT_UPDATE (reason ORDER) that disagrees with the books is held, not adopted at once:
Binance may send it before the ORDER_TRADE_UPDATEs of the same fills, and adopting it then
would book those fills twice (one older than a fill the books hold is not held: it came after
that fill's report, and tells how things stood before it). Each fill applied looks again
(`after_fill`): agreeing now, the held update is dropped (nothing to adopt); a fill later than
it is carried into it (it said how things stood before that fill). Otherwise it is compared and
adopted once an event or a mark price comes HOLD_AHEAD_MS after it (`due`), or at a snapshot
(`settled_at_snapshot`): one that compares the symbol (the wallet) supersedes it; one that
cannot (the books moved after its reads began) adopts it. A fill made before its time that
comes after it was adopted is in it (`BookKeeper._book_adopted_fill`).

`HeldUpdates` keeps them and decides when each is settled; the books compare and adopt what it
hands back (`BookKeeper._compare_position`, `_compare_balance`).
"""

from collections.abc import Mapping
from dataclasses import fields
from decimal import Decimal
from typing import Any

from book_keeper.codec import from_jsonable, to_jsonable
from book_keeper.symbol_book import ZERO, SymbolBook, agrees, position_step
from core.account import Balance, Position
from core.enums import Side
from core.fast_init import replace
from core.orders import Fill

# How long an ACCOUNT_UPDATE that disagrees with us waits for the fills it may be ahead of
# (Binance can send it before their ORDER_TRADE_UPDATEs), in event time.
HOLD_AHEAD_MS = 2_000


class HeldUpdates:
    """The held updates: per symbol a position, and the margin asset's balance, each with
    (what it says, its event time, its receive time (our clock))."""

    __slots__ = ("balance", "positions")

    def __init__(self) -> None:
        self.positions: dict[str, tuple[Position, int, int]] = {}
        self.balance: tuple[Balance, int, int] | None = None

    def after_fill(
        self, f: Fill, realized: Decimal, books: Mapping[str, SymbolBook], wallet: Decimal
    ) -> None:
        """After booking fill `f` (`realized`: the PnL booked for it; `wallet`: the margin
        asset's wallet after it, USDT): drop the held updates it caught up with. One it is
        later than is carried forward by it (position and wallet as the exchange has them
        after it), not dropped as stale: the fills that update was ahead of may never come as
        events (an order nobody tracked, whose fills the reconciliation that takes it over
        leaves to that update, `TakeOvers.left_to_the_books`), and when `f` is a fill a
        reconciliation recovered (its reports lost) no later update would bring them."""
        time_ms = f.trade_time_ms
        held = self.positions.get(f.symbol)
        if held is not None:
            p, at, recv = held
            if time_ms > at:
                signed = f.qty if f.side is Side.BUY else -f.qty
                qty, entry, _ = position_step(p.qty, p.entry_price, signed, f.price)
                p = replace(p, qty=qty, entry_price=entry)
                self.positions[f.symbol] = (p, at, recv)
            if agrees(books[f.symbol], p):
                del self.positions[f.symbol]
        hb = self.balance
        if hb is not None:
            b, at, recv = hb
            if time_ms > at:
                # held only for the margin asset: its fee is in it
                fee = f.commission if f.commission_asset == b.asset else ZERO
                b = replace(b, wallet_balance=b.wallet_balance + realized - fee)
                self.balance = (b, at, recv)
            if b.wallet_balance == wallet:
                self.balance = None

    def due(
        self, now_ms: int
    ) -> tuple[list[tuple[Position, int, int]], tuple[Balance, int, int] | None]:
        """Take out the held updates HOLD_AHEAD_MS old at `now_ms`, to compare and adopt: the
        positions and the balance, each with its event and receive times."""
        positions = []
        for symbol, (p, t, recv) in list(self.positions.items()):
            if now_ms - t >= HOLD_AHEAD_MS:
                del self.positions[symbol]
                positions.append((p, t, recv))
        hb = self.balance
        if hb is None or now_ms - hb[1] < HOLD_AHEAD_MS:
            return positions, None
        self.balance = None
        return positions, hb

    def settled_at_snapshot(
        self,
        symbols: tuple[str, ...],
        at: int,
        fills_read_recv: int | None,
        books: Mapping[str, SymbolBook],
        wallet_ms: int,
    ) -> tuple[list[tuple[SymbolBook, Position, int, int]], tuple[Balance, int, int] | None]:
        """At a snapshot of `symbols` whose reads began at `at`: the held updates whose fills
        were all emitted before it: those from before `at`, and those received before its
        reads of fills began (`fills_read_recv`, our clock: the exchange sent the update
        before that read, so the fills it reports are in it). One still disagreeing is ahead
        of fills no event brings. Where the snapshot compares (the symbol, the wallet: the
        books did not move after `at`; `wallet_ms`: the wallet's last change) it says it all:
        one from before `at` is dropped (one after is left held: it may be newer than the
        snapshot's read). Where it cannot (the books moved after `at`: a fill during its
        reads) the held update, carried forward by the fills after it (`after_fill`), is the
        exchange's word: taken out and returned, to adopt, so that the books end the pass as
        the exchange has them, not HOLD_AHEAD_MS later (a fill's own update that came during
        the reads of a pass that booked that fill, its earlier ones left to the update).
        Each is returned with its event and receive times."""

        def settled(time_ms: int, recv_ms: int) -> bool:
            return time_ms <= at or (fills_read_recv is not None and recv_ms <= fills_read_recv)

        positions: list[tuple[SymbolBook, Position, int, int]] = []
        for symbol in symbols:
            held = self.positions.get(symbol)
            if held is None or not settled(held[1], held[2]):
                continue
            book = books.get(symbol)
            moved = book is not None and book.update_ms > at
            if held[1] <= at or moved:
                del self.positions[symbol]
            if book is not None and moved:
                positions.append((book, *held))
        hb = self.balance
        balance = None
        if hb is not None and settled(hb[1], hb[2]):
            moved = wallet_ms > at
            if hb[1] <= at or moved:
                self.balance = None
            if moved:
                balance = hb
        return positions, balance

    def to_state(self) -> dict[str, Any]:
        """The checkpoint's part (plain JSON values, Decimals as exact `str`)."""
        held = self.balance
        return {
            "held_positions": {
                s: [_exact(p), t, recv] for s, (p, t, recv) in self.positions.items()
            },
            "held_balance": None if held is None else [_exact(held[0]), held[1], held[2]],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Take what `to_state` gave (the keys of a larger state are ignored). A checkpoint
        from before the receive time was kept: the event time stands for it."""
        self.positions = {
            s: (from_jsonable(Position, h[0]), int(h[1]), int(h[-1]))
            for s, h in state["held_positions"].items()
        }
        held = state["held_balance"]
        self.balance = (
            None if held is None else (from_jsonable(Balance, held[0]), int(held[1]), int(held[-1]))
        )


def _exact(record: Position | Balance) -> dict[str, Any]:
    """A flat record as JSON values, its Decimals as `str` (exact; `codec` writes fixed
    point, which drops an exponent); read back with `codec.from_jsonable`."""
    out: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        out[f.name] = str(value) if isinstance(value, Decimal) else to_jsonable(value)
    return out
