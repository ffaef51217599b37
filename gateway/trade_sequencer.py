"""Per-symbol aggregate-trade sequencing: order, duplicates, gaps, backfill merge, jumps.

The pure core of the DataStream's gap handling: no asyncio, no I/O, no clock of its own. The
DataStream feeds it live trades (`offer`), REST pages (`merge`, `end_sync`, `resolve_jump`,
`resync`) and the current time (ms, our clock), and acts on what is left open afterwards
(`gap` -> run a backfill, `jump` -> ask REST, `take_healed()` -> check the klines: after a gap
backfilled or given up, or a jump skipped to).

Trades leave through `emit` strictly in aggregate-id order, each at most once, and every
`GapDetected` is followed by exactly one `GapHealed` for the same range:

* a hole in the ids opens a gap: later trades are held until REST fills it (`merge`);
* a trade more than `max_gap_trades` past the last delivered id is not a gap to backfill but a
  *jump* (`GapCause.JUMP`): it is held aside until REST says whether the exchange really got
  there. Confirmed: the ids in between are skipped (reported in `GapHealed.skipped`) and the
  sequence resumes at the far trade. Not confirmed: the far trade is discarded as bogus
  (`stats.jump_discarded`) and the sequence carries on as if it had never arrived;
* a backfill that cannot finish (`give_up`) releases what is held and reports the rest skipped.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from core.events import GapCause, GapDetected, GapHealed
from core.market import Trade

FAR_HELD_LIMIT = 10_000  # far-ahead trades kept while a jump is being checked; more are dropped


class Offer(StrEnum):
    """What `TradeSequencer.offer` did with a live trade."""

    DELIVERED = "delivered"  # next in sequence: emitted
    DUPLICATE = "duplicate"  # already delivered or already held: dropped
    HELD = "held"  # held until the hole before it is filled
    GAP_OPENED = "gap_opened"  # a hole opened a gap: backfill it
    HEALED = "healed"  # it filled the last hole of the open gap (see `take_healed`)
    JUMP = "jump"  # absurdly far ahead: held aside until REST confirms or refutes it


_DELIVERED = Offer.DELIVERED


class JumpVerdict(StrEnum):
    CONFIRMED = "confirmed"  # REST has reached the far id: the ids before it were skipped
    DISCARDED = "discarded"  # REST has not: the far trade(s) were dropped as bogus
    RESYNCED = "resynced"  # REST has not, but is itself too far ahead: resumed at REST's latest


@dataclass(slots=True)
class SequenceStats:
    """Counters shared by every symbol's sequencer (the DataStream's stats extend these)."""

    trades: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    gaps: int = 0
    backfilled: int = 0
    jumps: int = 0  # far-ahead ids seen (each checked against REST)
    jump_discarded: int = 0  # far-ahead trades dropped because REST did not confirm them
    skipped: int = 0  # ids given up: a confirmed jump, a bounded backfill that ran out


@dataclass(slots=True)
class Gap:
    """Ids `first..last` (inclusive) missing; held trades wait for them."""

    first: int
    last: int
    cause: GapCause
    started_ms: int
    after_trade_ms: int  # trade time of the last trade delivered before the gap
    backfilled: int = 0
    skipped: int = 0


@dataclass(slots=True)
class Jump:
    """A far-ahead id under check: ids `first..far_id - 1` would be missing if it is real."""

    first: int
    far_id: int
    detected_ms: int
    far: dict[int, Trade] = field(default_factory=dict)

    @property
    def last(self) -> int:
        return self.far_id - 1


Emit = Callable[[object], object]


class TradeSequencer:
    """Delivers one symbol's aggregate trades in id order, exactly once, with gaps bracketed."""

    __slots__ = (
        "_emit",
        "exchange_time_ms",
        "gap",
        "healed",
        "jump",
        "last_id",
        "last_live_ms",
        "max_gap_trades",
        "max_held",
        "pending",
        "stats",
        "symbol",
        "syncing",
    )

    def __init__(
        self,
        symbol: str,
        *,
        last_id: int | None,
        emit: Emit,
        max_gap_trades: int = 200_000,
        stats: SequenceStats | None = None,
    ) -> None:
        if max_gap_trades < 1:
            raise ValueError(f"max_gap_trades must be >= 1, got {max_gap_trades}")
        self.symbol = symbol
        self.last_id = last_id  # last delivered aggregate trade id
        self.max_gap_trades = max_gap_trades
        self.stats = stats if stats is not None else SequenceStats()
        self._emit = emit
        self.pending: dict[int, Trade] = {}  # held while a gap is open
        self.max_held = -1  # highest live id held during a gap (to count reordered frames)
        self.gap: Gap | None = None
        self.jump: Jump | None = None
        self.syncing: GapCause | None = None  # after a connect, until we know what was missed
        self.healed: Gap | None = None  # the last gap closed, until `take_healed()`
        self.exchange_time_ms = 0  # trade time of the last delivered trade
        self.last_live_ms = 0  # our clock when the last live trade arrived

    @property
    def gap_open(self) -> bool:
        """True while trades may be missing: a gap, a jump under check, or a sync pending."""
        return self.gap is not None or self.syncing is not None or self.jump is not None

    def take_healed(self) -> Gap | None:
        healed = self.healed
        self.healed = None
        return healed

    # --- live trades ---------------------------------------------------------------------------

    def offer(self, trade: Trade, now_ms: int) -> Offer:
        """A trade from the socket."""
        a = trade.agg_id
        last = self.last_id
        if last is None:
            self._deliver(trade)
            self.syncing = None
            return Offer.DELIVERED
        self.last_live_ms = now_ms
        if a == last + 1 and self.gap is None:  # the hot path: the next trade, no gap
            self.syncing = None
            self.last_id = a
            self.exchange_time_ms = trade.trade_time_ms
            self.stats.trades += 1
            self._emit(trade)
            return _DELIVERED
        return self._offer_slow(trade, last, now_ms)

    def _offer_slow(self, trade: Trade, last: int, now_ms: int) -> Offer:
        a = trade.agg_id
        jump = self.jump
        if a <= last or a in self.pending or (jump is not None and a in jump.far):
            self.stats.duplicates += 1
            return Offer.DUPLICATE
        if a - last - 1 > self.max_gap_trades:
            return self._far(trade, now_ms)
        if self.gap is None:
            cause = self.syncing or GapCause.SEQUENCE
            self.syncing = None
            self.pending[a] = trade
            self.max_held = a
            self._open_gap(last + 1, a - 1, cause, now_ms)
            return Offer.GAP_OPENED
        if a < self.max_held:
            self.stats.out_of_order += 1
        else:
            self.max_held = a
        self.pending[a] = trade
        return Offer.HEALED if self._advance(now_ms) else Offer.HELD

    def _far(self, trade: Trade, now_ms: int) -> Offer:
        jump = self.jump
        if jump is not None:
            if len(jump.far) >= FAR_HELD_LIMIT:
                self.stats.jump_discarded += 1
                return Offer.DUPLICATE
            jump.far[trade.agg_id] = trade
            return Offer.HELD
        first = max(self.last_id or 0, max(self.pending, default=-1)) + 1
        jump = Jump(first=first, far_id=trade.agg_id, detected_ms=now_ms)
        jump.far[trade.agg_id] = trade
        self.jump = jump
        self.stats.jumps += 1
        self._detected(first, jump.last, GapCause.JUMP, now_ms)
        return Offer.JUMP

    # --- REST pages ----------------------------------------------------------------------------

    def merge(self, page: Sequence[Trade], now_ms: int, *, from_id: int | None = None) -> int:
        """A backfill page (ascending ids); returns how many trades were new.

        With `from_id` (the page's `fromId`), a page starting after `from_id` is REST saying
        that the ids before its first trade do not exist: they are skipped, not waited for.
        """
        last = self.last_id
        if last is None:
            return 0
        gap = self.gap
        if (
            page
            and gap is not None
            and from_id == last + 1
            and page[0].agg_id > from_id
            and min(self.pending, default=page[0].agg_id) >= page[0].agg_id
        ):
            absent = page[0].agg_id - from_id
            gap.skipped += absent
            self.stats.skipped += absent
            last = self.last_id = page[0].agg_id - 1
        pending = self.pending
        fresh = 0
        for trade in page:
            a = trade.agg_id
            if a <= last:
                continue
            if a not in pending:
                pending[a] = trade
                fresh += 1
        if gap is not None:
            gap.backfilled += fresh
        self.stats.backfilled += fresh
        self._advance(now_ms)
        return fresh

    def start_sync(self, cause: GapCause) -> bool:
        """A socket (re)connected: until a trade or a probe shows what was missed, hold entries.

        Returns whether a REST probe should be made (not when nothing was delivered yet, nor
        while a gap is already being backfilled).
        """
        if self.last_id is None or self.gap is not None:
            return False
        self.syncing = cause
        return True

    def end_sync(self, cause: GapCause, page: Sequence[Trade], now_ms: int) -> None:
        """The probe's answer: REST's trades after `last_id` (ascending, possibly none)."""
        if self.syncing is not cause or self.gap is not None:
            # A live trade answered first; the live path owns the gap (if any).
            if self.gap is not None:
                self.merge(page, now_ms)
            return
        self.syncing = None
        last = self.last_id
        assert last is not None
        fresh = [t for t in page if t.agg_id > last]
        if not fresh:
            return
        self.pending.update((t.agg_id, t) for t in fresh)
        gap = self._open_gap(last + 1, fresh[-1].agg_id, cause, now_ms)
        gap.backfilled += len(fresh)
        self.stats.backfilled += len(fresh)
        self._advance(now_ms)

    def resolve_jump(self, latest: Trade | None, now_ms: int) -> JumpVerdict:
        """REST's latest trade (None: REST could not tell) decides the jump under check."""
        jump = self.jump
        if jump is None:
            raise RuntimeError(f"{self.symbol}: no jump to resolve")
        self.jump = None
        if latest is not None and latest.agg_id >= jump.far_id:
            after_ms = self.exchange_time_ms
            holes, left = self._skip_below(jump.far_id, now_ms, jump.first - 1)
            self._healed_range(jump.first, jump.last, jump.detected_ms, holes, now_ms, after_ms)
            self.syncing = None
            self._place_all({**jump.far, **{t.agg_id: t for t in left}}, now_ms)
            return JumpVerdict.CONFIRMED
        self.stats.jump_discarded += len(jump.far)
        self._healed_range(jump.first, jump.last, jump.detected_ms, [], now_ms, 0)
        last = self.last_id
        if (
            latest is not None
            and last is not None
            and latest.agg_id - last - 1 > self.max_gap_trades
        ):
            self.resync(latest, now_ms)
            return JumpVerdict.RESYNCED
        return JumpVerdict.DISCARDED

    def resync(self, latest: Trade, now_ms: int) -> None:
        """REST's latest trade is too far ahead to backfill: skip to it and resume there."""
        if self.jump is not None:
            self.resolve_jump(latest, now_ms)
            return
        last = self.last_id
        if last is None or latest.agg_id <= last:
            return
        first = max(last, max(self.pending, default=-1)) + 1
        self.stats.jumps += 1
        self._detected(first, latest.agg_id - 1, GapCause.JUMP, now_ms)
        after_ms = self.exchange_time_ms
        holes, left = self._skip_below(latest.agg_id, now_ms, first - 1)
        self._healed_range(first, latest.agg_id - 1, now_ms, holes, now_ms, after_ms)
        self.syncing = None
        trades = {t.agg_id: t for t in left}
        trades.setdefault(latest.agg_id, latest)
        self._place_all(trades, now_ms)

    def give_up(self, now_ms: int) -> int:
        """The backfill ran out of time: release what is held, skip the rest; returns skipped."""
        gap = self.gap
        if gap is None:
            return 0
        boundary = max(max(self.pending, default=gap.last), gap.last) + 1
        holes, _ = self._skip_below(boundary, now_ms)
        return sum(b - a + 1 for a, b in holes)

    # --- internals -----------------------------------------------------------------------------

    def _place_all(self, trades: dict[int, Trade], now_ms: int) -> None:
        """Sequence trades already accepted once (after a skip), in id order."""
        for a in sorted(trades):
            trade = trades[a]
            last = self.last_id
            assert last is not None
            if a == last + 1 and self.gap is None:
                self._deliver(trade)
            else:
                self._offer_slow(trade, last, now_ms)

    def _deliver(self, trade: Trade) -> None:
        self.last_id = trade.agg_id
        self.exchange_time_ms = trade.trade_time_ms
        self.stats.trades += 1
        self._emit(trade)

    def _detected(self, first: int, last: int, cause: GapCause, now_ms: int) -> None:
        self.stats.gaps += 1
        self._emit(
            GapDetected(
                event_time_ms=now_ms,
                recv_time_ms=now_ms,
                symbol=self.symbol,
                first_missing_id=first,
                last_missing_id=last,
                cause=cause,
            )
        )

    def _open_gap(self, first: int, last: int, cause: GapCause, now_ms: int) -> Gap:
        gap = self.gap = Gap(
            first=first,
            last=last,
            cause=cause,
            started_ms=now_ms,
            after_trade_ms=self.exchange_time_ms,
        )
        self._detected(first, last, cause, now_ms)
        return gap

    def _advance(self, now_ms: int) -> bool:
        """Release held trades that are now contiguous; close the gap when nothing is held."""
        pending = self.pending
        while pending:
            nxt = pending.pop(self.last_id + 1, None)  # type: ignore[operator]
            if nxt is None:
                break
            self._deliver(nxt)
        gap = self.gap
        if gap is None or pending or self.last_id < gap.last:  # type: ignore[operator]
            return False
        self._close_gap(gap, now_ms)
        return True

    def _close_gap(self, gap: Gap, now_ms: int) -> None:
        self.gap = None
        self.healed = gap
        self._announce_healed(gap, now_ms)

    def _announce_healed(self, gap: Gap, now_ms: int) -> None:
        self._emit(
            GapHealed(
                event_time_ms=now_ms,
                recv_time_ms=now_ms,
                symbol=self.symbol,
                first_missing_id=gap.first,
                last_missing_id=gap.last,
                backfilled=gap.backfilled,
                duration_ms=now_ms - gap.started_ms,
                skipped=gap.skipped,
            )
        )

    def _healed_range(
        self,
        first: int,
        last: int,
        started_ms: int,
        holes: list[tuple[int, int]],
        now_ms: int,
        after_trade_ms: int,
    ) -> None:
        """A jump resolved. Skipped ids (skipped to, not backfilled) are a time the klines may
        have missed too: `take_healed()` returns it (unless a gap closed in the same step,
        which started earlier)."""
        gap = Gap(
            first=first,
            last=last,
            cause=GapCause.JUMP,
            started_ms=started_ms,
            after_trade_ms=after_trade_ms,
            skipped=_overlap(holes, first, last),
        )
        self._announce_healed(gap, now_ms)
        if gap.skipped and self.healed is None:
            self.healed = gap

    def _skip_below(
        self, boundary: int, now_ms: int, gap_until: int | None = None
    ) -> tuple[list[tuple[int, int]], list[Trade]]:
        """Deliver every held trade below `boundary` in id order, skipping the holes between.

        Afterwards `last_id >= boundary - 1` and no gap is open: an open gap is closed with the
        holes up to `gap_until` (default: all) as its `skipped`. Returns the skipped (first,
        last) ranges and the held trades at/after `boundary`, taken out for the caller to
        sequence again.
        """
        last = self.last_id
        assert last is not None
        holes: list[tuple[int, int]] = []
        pending = self.pending
        for a in sorted(pending):
            if a >= boundary:
                break
            if a > last + 1:
                holes.append((last + 1, a - 1))
            self._deliver(pending.pop(a))
            last = a
        if boundary - 1 > last:
            holes.append((last + 1, boundary - 1))
            self.last_id = boundary - 1
        self.stats.skipped += sum(b - a + 1 for a, b in holes)
        gap = self.gap
        if gap is not None:
            until = boundary - 1 if gap_until is None else gap_until
            gap.skipped += _overlap(holes, gap.first, until)
            self._close_gap(gap, now_ms)
        left = [pending.pop(a) for a in sorted(pending)]
        self.max_held = -1
        return holes, left


def _overlap(holes: list[tuple[int, int]], first: int, last: int) -> int:
    return sum(max(0, min(b, last) - max(a, first) + 1) for a, b in holes)
