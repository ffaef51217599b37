"""No funding settlement is missed by the income reads (`VenueSync.catch_up_funding`), while
running or across a restart, although income rows show up late and our clock is not the
exchange's.

A fake `GET /fapi/v1/income` (`IncomeFeed`) answers, at the exchange's time, the rows
published by then: each row carries its settlement's time and shows some seconds after it,
as Binance's do. Money in USDT; funding amounts negative (we pay). Settlement T is
2024-08-09 00:00 UTC.
"""

from pathlib import Path
from typing import Any

from book_keeper.book_keeper import BookKeeper
from book_keeper.journal import SqliteJournal
from core.account import Balance
from core.clock import SimClock
from core.events import BalanceChanged, Event, FundingPaid, VenueSnapshot
from gateway.venue_stats import VenueStats
from gateway.venue_sync import FUNDING_OVERLAP_MS, VenueSync, funding_resume_ms
from tests.book_keeper.support import D, instruments

T = 1_723_161_600_000  # a settlement (2024-08-09 00:00:00 UTC)
EARLIER = T - 8 * 3_600_000  # the settlement before it (8 h funding interval)
BTC, ETH = "BTCUSDT", "ETHUSDT"


class IncomeFeed:
    """A fake income endpoint: a row is listed from its publication time (exchange clock) on,
    by time then tranId, from `startTime` (inclusive), at most `limit` rows."""

    def __init__(self, exchange: SimClock) -> None:
        self.exchange = exchange
        self.rows: list[tuple[int, dict[str, Any]]] = []  # (published at, row)
        self.asked: list[int] = []  # the startTime of each read

    def settle(self, symbol: str, time_ms: int, amount: str, tran_id: int, shows_ms: int) -> None:
        row = {
            "symbol": symbol, "incomeType": "FUNDING_FEE", "income": amount, "asset": "USDT",
            "info": "FUNDING_FEE", "time": time_ms, "tranId": tran_id, "tradeId": "",
        }  # fmt: skip
        self.rows.append((shows_ms, row))

    async def call(self, method: str, /, **kw: Any) -> Any:
        if method == "futures_funding_rate":
            return []  # the rate is not what these tests are about (booked as 0)
        assert method == "futures_income_history" and kw["incomeType"] == "FUNDING_FEE"
        self.asked.append(kw["startTime"])
        now = self.exchange.now_ms()
        listed = [r for shows, r in self.rows if shows <= now and r["time"] >= kw["startTime"]]
        listed.sort(key=lambda r: (r["time"], r["tranId"]))
        return listed[: kw["limit"]]


def _sync(
    feed: IncomeFeed, since_ms: int, emitted: list[Event], stats: VenueStats | None = None
) -> VenueSync:
    """A VenueSync reading only funding (its order half is not used here)."""
    sync = VenueSync(
        rest=feed,  # type: ignore[arg-type]
        tracker=None,  # type: ignore[arg-type]
        symbols=(BTC, ETH),
        instruments=instruments(),
        clock=feed.exchange,
        stats=stats or VenueStats(),
        on_applied=lambda applied: None,
        emit=emitted.extend,
        follow_up=lambda t: None,
        resolve=lambda t: None,
    )
    sync.funding_since_ms = since_ms
    return sync


def _paid(events: list[Event]) -> list[tuple[str, int, D]]:
    return [(e.symbol, e.event_time_ms, e.amount) for e in events if isinstance(e, FundingPaid)]


async def test_a_row_published_after_a_later_row_of_another_symbol_is_read_next_pass() -> None:
    """ETH's row (time T + 3 ms) shows at T + 3 s, BTC's (time T) only at T + 40 s: the pass
    at T + 10 s sees ETH's, the one at T + 60 s must still read BTC's (it started at ETH's
    time, after BTC's, before the overlap)."""
    exchange = SimClock(T - 60_000)
    feed = IncomeFeed(exchange)
    feed.settle(ETH, T + 3, "-0.52000000", 2, shows_ms=T + 3_000)
    feed.settle(BTC, T, "-1.67507600", 1, shows_ms=T + 40_000)
    emitted: list[Event] = []
    sync = _sync(feed, T - 2 * FUNDING_OVERLAP_MS, emitted)

    exchange.set_ms(T + 10_000)
    await sync.catch_up_funding()
    exchange.set_ms(T + 60_000)
    await sync.catch_up_funding()
    await sync.catch_up_funding()  # nothing new: the overlap reads both again, emits none

    assert _paid(emitted) == [(ETH, T + 3, D("-0.52")), (BTC, T, D("-1.675076"))]
    assert sync.stats.funding_events == 2
    resume = T + 3 - FUNDING_OVERLAP_MS  # the newest seen (ETH's) less the overlap
    assert feed.asked == [T - 2 * FUNDING_OVERLAP_MS, resume, resume]


async def test_the_next_read_never_starts_before_an_earlier_start() -> None:
    """Rows older than the overlap do not move the start back: it only moves on."""
    exchange = SimClock(T + 10_000)
    feed = IncomeFeed(exchange)
    feed.settle(BTC, T, "-1.67507600", 1, shows_ms=T)
    emitted: list[Event] = []
    sync = _sync(feed, T - 1_000, emitted)

    await sync.catch_up_funding()

    assert sync.funding_since_ms == T - 1_000  # not T - FUNDING_OVERLAP_MS
    assert _paid(emitted) == [(BTC, T, D("-1.675076"))]


def test_a_restart_reads_from_an_overlap_before_the_journals_last_record() -> None:
    assert funding_resume_ms(T + 5_000, T + 600_000) == T + 5_000 - FUNDING_OVERLAP_MS
    assert funding_resume_ms(None, T + 600_000) == T + 600_000  # no journal: from now on


def test_a_restart_after_a_record_later_than_now_reads_from_an_overlap_before_now(
    caplog,
) -> None:
    """A record dated on an offset that has moved back since: the read begins an overlap
    before the earlier of now and the last time the exchange stamped on what that daemon
    received (`seen_until_ms`), as `restart_trades_since` does for fills, with a warning."""
    now = T + 600_000
    ahead = now + 2 * FUNDING_OVERLAP_MS

    assert funding_resume_ms(ahead, now) == now - FUNDING_OVERLAP_MS
    assert funding_resume_ms(ahead, now, T - 5_000) == T - 5_000 - FUNDING_OVERLAP_MS
    assert funding_resume_ms(ahead, now, now + 5_000) == now - FUNDING_OVERLAP_MS
    assert funding_resume_ms(now, now, T - 5_000) == now - FUNDING_OVERLAP_MS  # not later
    assert "funding is read from" in caplog.text


def _snapshot(time_ms: int, wallet: D) -> VenueSnapshot:
    """A start-up reconciliation's snapshot: the exchange's wallet, no position or order."""
    return VenueSnapshot(
        event_time_ms=time_ms,
        recv_time_ms=time_ms,
        reason="start",
        symbols=(BTC, ETH),
        balances=(Balance(asset="USDT", wallet_balance=wallet, available_balance=wallet),),
        positions=(),
        open_orders=(),
    )


def _first_session(path: Path, our_clock: SimClock, booked: list[Event], beat_ms: int) -> None:
    """A daemon's journal: a start at 10,000 USDT, the funding it booked, a heartbeat (balance
    snapshot, on our clock) at `beat_ms`; then it stops."""
    journal = SqliteJournal(path, writer_thread=False)
    books = BookKeeper(starting_balances=None, instruments=instruments(), clock=our_clock)
    books.restore(journal)
    for event in (_snapshot(EARLIER - 60_000, D("10000")), *booked):
        journal.record(event)
        books.apply(event)
    our_clock.set_ms(beat_ms)
    books.record_snapshot(journal)
    journal.close()


async def _restart(
    path: Path, feed: IncomeFeed, wallet: D, stats: VenueStats | None = None
) -> tuple[BookKeeper, SqliteJournal]:
    """Restore the books from the journal and run the start-up reconciliation's income read
    then its snapshot (the exchange's `wallet`), as the daemon does (`LiveVenue.restore(
    funding_since_ms=last record, funding_booked=the books' settlements)` then `start`).
    Returns the books and the journal (closed: its rows can be read)."""
    journal = SqliteJournal(path, writer_thread=False)
    books = BookKeeper(starting_balances=None, instruments=instruments(), clock=feed.exchange)
    replay = books.restore(journal)
    emitted: list[Event] = []
    since = funding_resume_ms(replay.last_record_ms(journal), feed.exchange.now_ms())
    sync = _sync(feed, since, emitted, stats)
    sync.funding_booked = books.funding_settlements
    await sync.catch_up_funding()
    now = feed.exchange.now_ms()
    emitted.append(_snapshot(now, wallet))
    for event in emitted:
        journal.record(event)
        books.apply(event)
    journal.close()
    return books, journal


def _funding(symbol: str, time_ms: int, amount: str) -> FundingPaid:
    return FundingPaid(
        event_time_ms=time_ms, recv_time_ms=time_ms + 900, symbol=symbol, amount=D(amount),
        rate=D(0),
    )  # fmt: skip


async def test_a_settlement_published_after_the_last_heartbeat_is_booked_at_restart(
    tmp_path: Path,
) -> None:
    """Our clock is the exchange's. ETH's row of settlement T showed at T + 1 s and was
    booked; the last heartbeat is at T + 5 s; BTC's row (time T) shows at T + 20 s, after the
    daemon stopped. Read from the heartbeat on, it was never booked; read from an overlap
    before, it is, and ETH's (read again) is not booked twice.
    Wallet: 10,000 - 1.20 (EARLIER) - 0.52 (ETH at T) - 1.675076 (BTC at T) = 9,996.604924."""
    path = tmp_path / "journal.sqlite"
    _first_session(
        path,
        SimClock(EARLIER - 60_000),
        [_funding(BTC, EARLIER, "-1.20"), _funding(ETH, T, "-0.52")],
        beat_ms=T + 5_000,
    )
    feed = IncomeFeed(SimClock(T + 600_000))
    feed.settle(BTC, EARLIER, "-1.20000000", 1, shows_ms=EARLIER + 1_000)
    feed.settle(BTC, T, "-1.67507600", 3, shows_ms=T + 20_000)
    feed.settle(ETH, T, "-0.52000000", 2, shows_ms=T + 1_000)

    books, _ = await _restart(path, feed, wallet=D("9996.604924"))

    assert feed.asked[0] == T + 5_000 - FUNDING_OVERLAP_MS
    assert books.wallet() == D("9996.604924")
    assert books.funding == D("-3.395076")
    assert books.transfers == 0 and books.differences == 0  # funding, not money moved


async def test_a_settlement_after_the_last_heartbeat_on_a_clock_running_ahead_is_booked(
    tmp_path: Path,
) -> None:
    """Our clock runs 5 s ahead of the exchange's: the last heartbeat, journaled at T + 3 s by
    our clock, was at T - 2 s on the exchange. BTC's settlement T (shown at T + 0.5 s)
    came after it. Wallet: 10,000 - 1.20 (EARLIER) - 1.675076 (T) = 9,997.124924."""
    path = tmp_path / "journal.sqlite"
    _first_session(
        path,
        SimClock(EARLIER - 60_000),
        [_funding(BTC, EARLIER, "-1.20")],
        beat_ms=T + 3_000,
    )
    feed = IncomeFeed(SimClock(T + 600_000))
    feed.settle(BTC, EARLIER, "-1.20000000", 1, shows_ms=EARLIER + 1_000)
    feed.settle(BTC, T, "-1.67507600", 2, shows_ms=T + 500)

    books, _ = await _restart(path, feed, wallet=D("9997.124924"))

    assert books.wallet() == D("9997.124924")
    assert books.funding == D("-2.875076")
    assert books.transfers == 0 and books.differences == 0


async def test_a_settlement_while_down_behind_a_record_hours_ahead_of_now_is_booked(
    tmp_path: Path,
) -> None:
    """The first daemon's offset put our estimate of the exchange's clock 3 h ahead: its last
    heartbeat is dated T + 3 h, when the exchange's clock was before T; measured again since,
    the restart's now is T + 10 min (exchange). BTC's settlement T (shown at T + 0.5 s) was
    made while it was down. Read from an overlap before that record (T + 2 h) it was missed,
    and the start-up snapshot took the 1.675076 as money moved out (a transfer); read from an
    overlap before now, it is funding. Wallet: 10,000 - 1.20 - 1.675076 = 9,997.124924."""
    path = tmp_path / "journal.sqlite"
    _first_session(
        path,
        SimClock(EARLIER - 60_000),
        [_funding(BTC, EARLIER, "-1.20")],
        beat_ms=T + 3 * 3_600_000,
    )
    feed = IncomeFeed(SimClock(T + 600_000))
    feed.settle(BTC, EARLIER, "-1.20000000", 1, shows_ms=EARLIER + 1_000)
    feed.settle(BTC, T, "-1.67507600", 2, shows_ms=T + 500)

    books, _ = await _restart(path, feed, wallet=D("9997.124924"))

    assert feed.asked[0] == T + 600_000 - FUNDING_OVERLAP_MS
    assert books.wallet() == D("9997.124924")
    assert books.funding == D("-2.875076")
    assert books.transfers == 0 and books.differences == 0


async def test_a_settlement_booked_from_the_balance_and_read_again_is_not_booked_twice(
    tmp_path: Path,
) -> None:
    """The FUNDING_FEE balance update of settlement T (wallet only, at T + 0.8 s) was booked,
    the daemon stopped before its income row was read; the restart reads the row (inside the
    overlap): the wallet moves once. Wallet: 10,000 - 1.20 - 1.675076 = 9,997.124924."""
    path = tmp_path / "journal.sqlite"
    wallet = D("9997.124924")
    update = BalanceChanged(
        event_time_ms=T + 800,
        recv_time_ms=T + 900,
        balance=Balance(asset="USDT", wallet_balance=wallet, available_balance=wallet),
        reason="FUNDING_FEE",
    )
    _first_session(
        path, SimClock(EARLIER - 60_000), [_funding(BTC, EARLIER, "-1.20"), update], T + 2_000
    )
    feed = IncomeFeed(SimClock(T + 600_000))
    feed.settle(BTC, EARLIER, "-1.20000000", 1, shows_ms=EARLIER + 1_000)
    feed.settle(BTC, T, "-1.67507600", 2, shows_ms=T + 800)

    books, _ = await _restart(path, feed, wallet=wallet)

    assert books.wallet() == wallet
    assert books.funding == D("-2.875076")


async def test_a_settlement_already_booked_and_read_again_at_restart_is_not_journaled(
    tmp_path: Path,
) -> None:
    """ETH's settlement T was booked (FundingPaid) before the stop; the restart's read from an
    overlap before the last heartbeat lists it again with BTC's new one. Only BTC's is emitted,
    journaled and counted (`funding_events`, in status and the summary): the journal holds ETH's
    once. Wallet: 10,000 - 1.20 - 0.52 - 1.675076 = 9,996.604924."""
    path = tmp_path / "journal.sqlite"
    _first_session(
        path,
        SimClock(EARLIER - 60_000),
        [_funding(BTC, EARLIER, "-1.20"), _funding(ETH, T, "-0.52")],
        beat_ms=T + 5_000,
    )
    feed = IncomeFeed(SimClock(T + 600_000))
    feed.settle(BTC, T, "-1.67507600", 3, shows_ms=T + 20_000)
    feed.settle(ETH, T, "-0.52000000", 2, shows_ms=T + 1_000)
    stats = VenueStats()

    books, _ = await _restart(path, feed, wallet=D("9996.604924"), stats=stats)

    assert stats.funding_events == 1
    with SqliteJournal(path, readonly=True) as j:
        paid = j.load_events(["FundingPaid"])
    journaled = [(e.symbol, e.event_time_ms) for _, e in paid if isinstance(e, FundingPaid)]
    assert journaled == [(BTC, EARLIER), (ETH, T), (BTC, T)]
    assert books.wallet() == D("9996.604924") and books.funding == D("-3.395076")
