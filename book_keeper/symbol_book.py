"""One symbol in the books: its one-way position (contracts), entry price, totals (USDT) and
latest prices, the trade ids already booked, and Binance's arithmetic of a fill on a position.

The arithmetic is the local exchange's (`exchange_sim/engine/state.py` `Position.apply`), so
both agree to the last Decimal digit:
- a fill that opens or adds: entry = (|old| * entry + |qty| * price) / |new| (full precision);
- a fill that reduces: rp = closed * (price - entry) * (+1 long, -1 short), rounded half-up to
  8 decimals; the entry stays; flat resets it to 0; a flip closes the old position and opens
  the remainder at the fill price.

A `SymbolBook` keeps its last `RESEQUENCE_FILLS` fills (`Applied`) so that a fill arriving
after fills the exchange made later can be booked where the exchange booked it (`rewind`).
Its checkpoint form is plain JSON values (`to_state` / `load_state`).
"""

from collections import deque
from decimal import ROUND_HALF_UP, Decimal
from itertools import accumulate, pairwise
from typing import Any, NamedTuple

from core.account import Position
from core.instrument import Instrument

ZERO = Decimal(0)
_E8 = Decimal("0.00000001")
# The exchange prints entry prices with 8 decimals: closer than half a unit of the 8th is equal.
ENTRY_TOLERANCE = Decimal("0.000000005")
# Fills kept per symbol to re-sequence one that arrives after fills the exchange made later.
RESEQUENCE_FILLS = 64


class BookedTradeIds:
    """The trade ids of one symbol already booked, in bounded memory: the latest `keep`
    exactly, and every id at or below the highest one forgotten counts as booked too
    (Binance's trade ids grow per symbol; a fill older than the last `keep` fills cannot
    come first now)."""

    __slots__ = ("_ids", "_keep", "_order", "floor")

    def __init__(self, keep: int = 50_000) -> None:
        self._ids: set[int] = set()
        self._order: deque[int] = deque()
        self._keep = keep
        self.floor = -1  # ids at or below: booked (forgotten)

    def __contains__(self, trade_id: int) -> bool:
        return trade_id <= self.floor or trade_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, trade_id: int) -> None:
        self._ids.add(trade_id)
        order = self._order
        order.append(trade_id)
        if len(order) > self._keep:
            old = order.popleft()
            self._ids.discard(old)
            if old > self.floor:
                self.floor = old

    def to_json(self) -> dict[str, Any]:
        """For a checkpoint: the ids in the order they were booked (which decides the next one
        forgotten), as differences (mostly small: ids grow), the floor and the capacity."""
        ids = list(self._order)
        steps = [b - a for a, b in pairwise(ids)]
        return {"keep": self._keep, "floor": self.floor, "first": ids[:1], "steps": steps}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "BookedTradeIds":
        out = cls(int(data["keep"]))
        out.floor = int(data["floor"])
        first, steps = data["first"], data["steps"]
        if len(first) > 1 or (steps and not first):
            raise ValueError(f"trade ids: first {first!r} and {len(steps)} steps")
        ids = list(accumulate(steps, initial=first[0])) if first else []
        out._order.extend(ids)
        out._ids.update(ids)
        return out


class Applied(NamedTuple):
    """A fill as the position took it, kept to re-sequence a late one."""

    trade_id: int
    signed: Decimal  # + bought, - sold
    price: Decimal
    qty_before: Decimal
    entry_before: Decimal
    exchange_rp: Decimal
    rp_differed: bool  # its rp was counted as a difference when it was applied


class SymbolBook:
    """One symbol: the position, its totals and the latest prices (mutable, hot)."""

    __slots__ = (
        "adopted_ms",
        "adopted_step",
        "adopted_update_ms",
        "ask",
        "bid",
        "entry",
        "fees",
        "fills",
        "funding",
        "inst",
        "last",
        "leverage",
        "mark",
        "position",
        "qty",
        "realized",
        "recent",
        "seen",
        "symbol",
        "update_ms",
    )

    def __init__(self, inst: Instrument, leverage: int) -> None:
        self.inst = inst
        self.symbol = inst.symbol
        self.qty = ZERO
        self.entry = ZERO
        self.realized = ZERO  # Binance `cr`: pre-fee realized PnL of this symbol
        self.fees = ZERO  # commission in the margin asset
        self.funding = ZERO
        self.fills = 0
        self.leverage = leverage
        self.mark: Decimal | None = None
        self.last: Decimal | None = None
        self.bid: Decimal | None = None
        self.ask: Decimal | None = None
        self.position: Position | None = None  # cached view, rebuilt after a change
        self.seen = BookedTradeIds()  # trade ids applied
        # The last fills applied, in the exchange's order, so that a late one is booked
        # where the exchange booked it.
        self.recent: deque[Applied] = deque(maxlen=RESEQUENCE_FILLS)
        self.update_ms = 0  # exchange time of the last change
        # The exchange's time up to which the position adopted last holds every fill: one
        # made before it whose report comes later is in it already.
        self.adopted_ms = 0
        # The time of the last account update whose position was adopted (0: none), which
        # holds the fills of its very ms too (`BookKeeper._of_the_adopted_ms`).
        self.adopted_update_ms = 0
        # The position an account update of ms `at` made the books adopt, and the one they
        # had, stepped by the fills made by then that came after it: (at, qty, entry, adopted
        # qty, adopted entry); None after a snapshot's adoption (`held_by_adoption`).
        self.adopted_step: tuple[int, Decimal, Decimal, Decimal, Decimal] | None = None

    def ref_price(self) -> Decimal | None:
        if self.mark is not None:
            return self.mark
        if self.last is not None:
            return self.last
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2
        return None

    def to_state(self) -> dict[str, Any]:
        """What a replay builds in this book, as plain JSON values (Decimals as `str`: exact,
        exponent kept): its part of a checkpoint. The prices are not: a restore has none."""
        return {
            "qty": str(self.qty),
            "entry": str(self.entry),
            "realized": str(self.realized),
            "fees": str(self.fees),
            "funding": str(self.funding),
            "fills": self.fills,
            "leverage": self.leverage,
            "update_ms": self.update_ms,
            "adopted_ms": self.adopted_ms,
            "adopted_update_ms": self.adopted_update_ms,
            "adopted_step": None
            if self.adopted_step is None
            else [self.adopted_step[0], *(str(v) for v in self.adopted_step[1:])],
            "seen": self.seen.to_json(),
            "recent": [
                [
                    a.trade_id,
                    str(a.signed),
                    str(a.price),
                    str(a.qty_before),
                    str(a.entry_before),
                    str(a.exchange_rp),
                    a.rp_differed,
                ]
                for a in self.recent
            ],
        }

    def load_state(self, data: dict[str, Any]) -> None:
        """Take the state `to_state` gave. The leverage only when a snapshot said one (0: the
        configured leverage stays)."""
        self.qty = Decimal(data["qty"])
        self.entry = Decimal(data["entry"])
        self.realized = Decimal(data["realized"])
        self.fees = Decimal(data["fees"])
        self.funding = Decimal(data["funding"])
        self.fills = int(data["fills"])
        if data["leverage"]:
            self.leverage = int(data["leverage"])
        self.update_ms = int(data["update_ms"])
        self.adopted_ms = int(data.get("adopted_ms", 0))  # absent from an older checkpoint
        self.adopted_update_ms = int(data.get("adopted_update_ms", 0))  # so is this
        step = data.get("adopted_step")
        self.adopted_step = (
            None
            if step is None
            else (
                int(step[0]),
                Decimal(step[1]),
                Decimal(step[2]),
                Decimal(step[3]),
                Decimal(step[4]),
            )
        )
        self.seen = BookedTradeIds.from_json(data["seen"])
        self.recent = deque(
            (
                Applied(
                    int(t), Decimal(s), Decimal(p), Decimal(q), Decimal(e), Decimal(rp), bool(d)
                )
                for t, s, p, q, e, rp, d in data["recent"]
            ),
            maxlen=RESEQUENCE_FILLS,
        )
        self.position = None


def position_step(
    qty: Decimal, entry: Decimal, signed: Decimal, price: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """(quantity, entry, realized PnL) after a fill of `signed` contracts at `price`, as
    Binance books it (see the module docstring)."""
    new = qty + signed
    if qty == 0 or (qty > 0) == (signed > 0):
        return new, (abs(qty) * entry + abs(signed) * price) / abs(new), ZERO
    closed = min(abs(signed), abs(qty))
    realized = (closed * (price - entry) * (1 if qty > 0 else -1)).quantize(
        _E8, rounding=ROUND_HALF_UP
    )
    if new == 0:
        return new, ZERO, realized
    return new, (price if (new > 0) != (qty > 0) else entry), realized


def rewind(book: SymbolBook, trade_id: int) -> list[Applied]:
    """Take back the fills later than `trade_id` (Binance's trade ids grow per symbol):
    the position returns to what it was before the first of them; they are returned, oldest
    first, to be applied again after the late fill. Nothing is taken back when the late fill
    is older than every fill kept (a full window: fills between may be forgotten)."""
    recent = book.recent
    if trade_id < recent[0].trade_id and len(recent) == recent.maxlen:
        return []
    later = []
    while recent and recent[-1].trade_id > trade_id:
        later.append(recent.pop())
    later.reverse()
    book.qty, book.entry = later[0].qty_before, later[0].entry_before
    return later


def held_by_adoption(book: SymbolBook, time_ms: int, signed: Decimal, price: Decimal) -> bool:
    """Whether a fill (`signed` contracts at `price`) made at `time_ms`, before the time of the
    position adopted last (`adopted_ms`), is in that position. One made before the account
    update's own ms is. Of fills made at that very ms (one order's fills in one match), it
    holds those up to its own, in the exchange's order: a fill of its ms is in it unless the
    fills before (stepped onto the position the books had) already make it up; times cannot
    tell them apart, the position does. After a snapshot's adoption (`adopted_step` None)
    every fill made before its time is in it."""
    step = book.adopted_step
    if step is None:
        return True
    at, qty, entry, held_qty, held_entry = step
    if (
        time_ms == at
        and qty == held_qty
        and (qty == 0 or abs(entry - held_entry) <= ENTRY_TOLERANCE)
    ):
        # Stepped onto the position, and onto what the books had: a later adoption of this
        # ms starts from that (`BookKeeper._compare_position`)
        qty, entry, _ = position_step(qty, entry, signed, price)
        book.adopted_step = (at, qty, entry, qty, entry)
        return False
    qty, entry, _ = position_step(qty, entry, signed, price)
    book.adopted_step = (at, qty, entry, held_qty, held_entry)
    return True


def agrees(book: SymbolBook, p: Position) -> bool:
    """The exchange's position is ours (the entry within the exchange's printed precision)."""
    if p.qty != book.qty:
        return False
    return book.qty == 0 or abs(p.entry_price - book.entry) <= ENTRY_TOLERANCE
