"""The reads behind the risk limits a restart restores and the daemon's --status: the balance
snapshots (the peak the drawdown limit measures from, the equity at the start of the day) and
the orders that traded today."""

from collections.abc import Iterator
from decimal import Decimal

from book_keeper.journal_reader import JournalReader
from book_keeper.journal_schema import _TERMINAL_STATUSES, peak_net_equity
from core.enums import OrderStatus


class LimitReads(JournalReader):
    """The limits' reads of `SqliteJournal`."""

    def load_snapshots(self) -> list[tuple[int, Decimal, Decimal, Decimal]]:
        """(time_ms, equity, wallet, unrealized_pnl) of every balance snapshot, oldest first."""
        rows = self._db.execute(
            "SELECT time_ms, equity, wallet, unrealized_pnl FROM balance_snapshots "
            "ORDER BY time_ms, rowid"
        )
        return [(t, Decimal(e), Decimal(w), Decimal(u)) for t, e, w, u in rows]

    def peak_equity(self, since_ms: int = 0) -> Decimal | None:
        """The highest snapshot equity from `since_ms` on (for a drawdown limit that
        survives a restart: from the last operator reset on)."""
        row = self._db.execute(
            "SELECT equity FROM balance_snapshots WHERE time_ms >= ?"
            " ORDER BY CAST(equity AS REAL) DESC LIMIT 1",
            (since_ms,),
        ).fetchone()
        return None if row is None else Decimal(row[0])

    def peak_net_equity(self, since_ms: int = 0, *, after_rowid: int = 0) -> Decimal | None:
        """The highest snapshot equity net of the transfers made by then, from `since_ms` on
        (of the rows after `after_rowid`): the peak the drawdown limit measures from (a
        deposit is no peak, a withdrawal no drawdown). Exact (`peak_net_equity`)."""
        return peak_net_equity(self._db, since_ms, after_rowid)

    def net_equities(self, *, after_rowid: int = 0) -> Iterator[Decimal]:
        """Equity net of transfers of each balance snapshot after row `after_rowid`, in the
        order they were written: the running peak and max drawdown (`checkpoint.Marks`)."""
        rows = self._db.execute(
            "SELECT equity, transfers FROM balance_snapshots WHERE rowid > ? ORDER BY rowid",
            (after_rowid,),
        )
        for equity, transfers in rows:
            yield Decimal(equity) - Decimal(transfers)

    def last_snapshot_before(self, before_ms: int) -> tuple[int, Decimal, Decimal, Decimal] | None:
        """(time_ms, equity, wallet, transfers) of the latest balance snapshot taken before
        `before_ms` (None without one): e.g. the last equity seen before 00:00 UTC."""
        return self._one_snapshot("time_ms < ? ORDER BY time_ms DESC, rowid DESC", before_ms)

    def first_snapshot_since(self, since_ms: int) -> tuple[int, Decimal, Decimal, Decimal] | None:
        """(time_ms, equity, wallet, transfers) of the earliest balance snapshot taken at or
        after `since_ms` (None without one): e.g. the one journaled at an operator reset."""
        return self._one_snapshot("time_ms >= ? ORDER BY time_ms, rowid", since_ms)

    def _one_snapshot(
        self, where: str, time_ms: int
    ) -> tuple[int, Decimal, Decimal, Decimal] | None:
        row = self._db.execute(
            f"SELECT time_ms, equity, wallet, transfers FROM balance_snapshots WHERE {where}"
            " LIMIT 1",
            (time_ms,),
        ).fetchone()
        return None if row is None else (row[0], Decimal(row[1]), Decimal(row[2]), Decimal(row[3]))

    def orders_filled_since(self, since_ms: int) -> int:
        """The trades-per-day count a restart restores: how many of our orders ended from
        `since_ms` on (the row's last update, exchange time) having traded (a fill, or
        reconciled FILLED), each once: what the running ExecManager counts (`record_trade`
        when an order of the books ends so, on the UTC day of the exchange's time of the
        event that ended it, which is the row's `updated_ms`: a fill booked after the end, which
        the running daemon counts nothing for, leaves it).

        Our orders are the orders table's: those this journal sent and those it took over
        from an earlier journal (one trade, although its fills are booked under
        `outside:<id>` before the take-over and under its id after). An order placed outside
        the daemon (`outside:<id>`, no orders row) and the exchange's own (a liquidation) are
        not; an order still open counts when it ends. Counted from the fills, a taken-over
        order counted twice and a hand order once.

        One scan of the orders table (12 ms at 200,000 rows in memory); the status index
        would look most rows up one by one (75 ms)."""
        return int(
            self._scalar(
                "SELECT COUNT(*) FROM orders NOT INDEXED WHERE updated_ms >= ?"
                f" AND status IN ({', '.join('?' * len(_TERMINAL_STATUSES))})"
                " AND (status = ? OR CAST(filled_qty AS REAL) > 0)",
                (since_ms, *_TERMINAL_STATUSES, OrderStatus.FILLED.value),
            )
        )
