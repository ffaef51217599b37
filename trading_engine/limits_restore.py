"""The risk limits' counts restored at start-up from the journal (drawdown peak, today's
trades, the daily loss's base), so that a restart does not re-arm them."""

from decimal import Decimal
from typing import Any

from book_keeper.book_keeper import BookKeeper
from book_keeper.checkpoint import Replay
from book_keeper.journal import SqliteJournal
from core.events import rearms_limits
from risk_manager.risk_manager import DAY_MS, LimitCounts, RiskManager


def restore_limits(
    journal: SqliteJournal,
    state_changes: list[Any],
    risk: RiskManager,
    book: BookKeeper,
    now_ms: int,
    replay: Replay | None = None,
) -> LimitCounts:
    """The drawdown peak, today's trade count and the daily loss's base survive a restart:
    counted from the journal since the last operator reset (which re-armed them), the trades
    since 00:00 UTC too, and restored into `risk`; returned for the session's recording (the
    parity audit restores the same counts). The daemon's automatic resume at a start is no
    such reset (`rearms_limits`): the limits counted through it. `replay`: the books' restore,
    which kept the peak since the last reset (else it is read from every balance snapshot
    since)."""
    resets = [e.event_time_ms for e in state_changes if rearms_limits(e)]
    since = resets[-1] if resets else 0
    day_start = now_ms - now_ms % DAY_MS
    # The portfolio limits count equity net of transfers (`EquityWatch.check`,
    # trading_engine/equity_watch.py).
    equity = book.equity() - book.transfers if book.wallet_known else None
    realized_today = book.pnl_today(now_ms)
    day_start_equity, realized_base, carried_base = _day_base(
        journal, book, since, day_start, realized_today, now_ms
    )
    peak = (
        journal.peak_net_equity(since) if replay is None else replay.peak_net_equity(journal, since)
    )
    counts = LimitCounts(
        at_ms=now_ms,
        peak_equity=peak,
        trades_today=journal.orders_filled_since(max(since, day_start)),
        equity=equity,
        day_start_equity=day_start_equity,
        realized_today=realized_today,
        realized_base=realized_base,
        carried_base=carried_base,
    )
    risk.restore_limits(counts)
    return counts


def _day_base(
    journal: SqliteJournal,
    book: BookKeeper,
    since: int,
    day_start: int,
    realized_today: Decimal,
    now_ms: int,
) -> tuple[Decimal | None, Decimal, Decimal]:
    """The daily-loss limit's base after a restart, net of transfers (USDT): the day's starting
    equity (None: the first equity seen, as at a first start), the part of today's realized
    PnL already accepted by an operator reset, and what that equity holds of the books'
    `carried_in` (`LimitCounts.carried_base`: 0 for one of the day before; for one journaled
    today, what reached the books by then, `BookKeeper.carried_since`: the day before's
    fills and funding read back by a `--reset-halt` start after its reset's snapshot move
    the day's start, and are not today's realized PnL, as for the running daemon).

    - An operator reset today re-armed the limit from its equity and realized PnL then: the
      balance snapshot journaled at the reset. None (an older journal without it): the equity
      found now, and the whole day's realized PnL counts (the careful side).
    - Else the last equity journaled before 00:00 UTC, when it is of the day before (the daemon
      ran until midnight, or stopped that day holding what it held: its loss while stopped
      is today's, not forgiven); else the first equity journaled today (a run that began
      today); else None. When the books learnt today of fills the day before made
      (`carried_learnt_ms`), the first equity journaled after the last of them, if any: the
      equity they moved is the day before's, which the running daemon took at the fill's
      mark price and the journal cannot value again (its replay has no mark: valued at the
      fill's price, the move from the day's last equity to that price counted today, and the
      restart tripped the limit on the day before's loss the running daemon had not)."""
    carried = book.carried_in(now_ms)
    if since >= day_start:
        snap = journal.first_snapshot_since(since)
        if snap is None:
            return None, Decimal(0), carried
        at, equity, wallet, transfers = snap
        after, after_wallet = book.carried_since(now_ms, at)
        moved_since = (book.wallet() - book.transfers) - (wallet - transfers) - after_wallet
        return equity - transfers, realized_today - moved_since, carried - after
    snap = None
    carried_learnt_ms = book.carried_learnt_ms(now_ms)
    if carried_learnt_ms is not None:
        snap = journal.first_snapshot_since(max(day_start, carried_learnt_ms + 1))
    if snap is None:
        snap = journal.last_snapshot_before(day_start)
    if snap is None or snap[0] < day_start - DAY_MS:
        snap = journal.first_snapshot_since(day_start)
    if snap is None:
        return None, Decimal(0), carried
    if snap[0] < day_start:
        return snap[1] - snap[3], Decimal(0), Decimal(0)
    return snap[1] - snap[3], Decimal(0), carried - book.carried_since(now_ms, snap[0])[0]
