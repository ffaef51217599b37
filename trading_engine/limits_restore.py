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
    day_start_equity, realized_base, of_today = _day_base(
        journal, book, since, day_start, realized_today, book.carried_learnt_ms(now_ms)
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
        # A day start taken today holds the day before's fills learnt before it: all of
        # them, on the careful side (one learnt after it counts today).
        carried_base=book.carried_in(now_ms) if of_today else Decimal(0),
    )
    risk.restore_limits(counts)
    return counts


def _day_base(
    journal: SqliteJournal,
    book: BookKeeper,
    since: int,
    day_start: int,
    realized_today: Decimal,
    carried_learnt_ms: int | None,
) -> tuple[Decimal | None, Decimal, bool]:
    """The daily-loss limit's base after a restart, net of transfers (USDT): the day's starting
    equity (None: the first equity seen, as at a first start), the part of today's realized
    PnL already accepted by an operator reset, and whether that equity was journaled today.

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
    if since >= day_start:
        snap = journal.first_snapshot_since(since)
        if snap is None:
            return None, Decimal(0), True
        _, equity, wallet, transfers = snap
        moved_since = (book.wallet() - book.transfers) - (wallet - transfers)
        return equity - transfers, realized_today - moved_since, True
    snap = None
    if carried_learnt_ms is not None:
        snap = journal.first_snapshot_since(max(day_start, carried_learnt_ms + 1))
    if snap is None:
        snap = journal.last_snapshot_before(day_start)
    if snap is None or snap[0] < day_start - DAY_MS:
        snap = journal.first_snapshot_since(day_start)
    if snap is None:
        return None, Decimal(0), True
    return snap[1] - snap[3], Decimal(0), snap[0] >= day_start
