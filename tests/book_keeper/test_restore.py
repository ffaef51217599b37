"""restore(journal) rebuilds the books exactly as they were when the daemon stopped."""

import dataclasses

from book_keeper import BookKeeper, SqliteJournal
from core.account import Balance, Position
from core.clock import SimClock
from core.enums import OrderStatus
from core.events import BalanceChanged, FundingPaid, PositionChanged, VenueSnapshot
from core.market import MarkPrice
from tests.book_keeper.support import (
    BUY,
    SELL,
    SYMBOL,
    T0,
    D,
    accepted,
    book,
    canceled,
    fill,
    filled,
    instruments,
    submitted,
)


def _state(bk: BookKeeper) -> dict:
    s = bk.summary()
    return {
        "positions": [(p.symbol, p.qty, p.entry_price) for p in bk.positions()],
        "wallet": bk.wallet(),
        "realized": s.realized_pnl,
        "fees": s.fees,
        "funding": s.funding,
        "adjustments": s.adjustments,
        "fills": s.fills,
        "orders_submitted": s.orders_submitted,
        "orders_by_status": s.orders_by_status,
        "open_orders": dict(bk.orders),
        "pnl_today": bk.pnl_today(T0 + 60_000),
    }


def _trade_session(journal: SqliteJournal, bk: BookKeeper) -> None:
    """What the daemon does: journal each event, then book it."""

    def both(event) -> None:
        journal.record(event)
        bk.apply(event)

    both(_snapshot(T0, "10000"))
    both(submitted("t-1", BUY, "0.030", "60000.0"))
    both(accepted("t-1", 11))
    f1 = fill("t-1", 501, BUY, "0.010", "60000.0", fee="0.12", maker=True, order_id=11)
    both(filled(f1, final=False))
    both(filled(f1, final=False))  # duplicate
    both(
        filled(
            fill(
                "t-1", 502, BUY, "0.020", "60300.0", fee="0.2412", maker=True, order_id=11, t=T0 + 1
            ),
            "0.030",
            "60200.0",
        )
    )
    both(submitted("t-2", SELL, "0.040", None, t=T0 + 2))
    # flip: rp 0.030 * (60100 - 60200) = -3; fee 2404 * 0.0005 = 1.202
    both(
        filled(
            fill("t-2", 503, SELL, "0.040", "60100.0", fee="1.202", rp="-3", order_id=12, t=T0 + 3)
        )
    )
    settlement = T0 + 10_000
    # wallet 10000 - 0.12 - 0.2412 - 3 - 1.202 = 9995.4368; short 0.010 receives 0.0601
    both(
        BalanceChanged(
            event_time_ms=settlement,
            recv_time_ms=settlement,
            reason="FUNDING_FEE",
            balance=Balance(asset="USDT", wallet_balance=D("9995.4969"), available_balance=D(0)),
        )
    )
    both(
        FundingPaid(
            event_time_ms=settlement,
            recv_time_ms=settlement,
            symbol=SYMBOL,
            amount=D("0.0601"),
            rate=D("0.0001"),
        )
    )
    both(submitted("t-3", BUY, "0.010", "59000.0", t=T0 + 20_000))
    both(accepted("t-3", 13, t=T0 + 20_001))
    both(submitted("t-4", BUY, "0.010", "58000.0", t=T0 + 20_002))
    both(canceled("t-4", None, t=T0 + 20_003))
    both(submitted("t-5", BUY, "0.010", "57000.0", t=T0 + 20_004))  # in flight at the crash
    # the exchange says the entry is 60100.5: a difference, adopted
    both(
        PositionChanged(
            event_time_ms=T0 + 30_000,
            recv_time_ms=T0 + 30_000,
            reason="ORDER",
            position=Position(symbol=SYMBOL, qty=D("-0.010"), entry_price=D("60100.5")),
        )
    )
    # held for fills it may be ahead of; adopted when the next update comes 2 s later
    both(
        PositionChanged(
            event_time_ms=T0 + 32_000,
            recv_time_ms=T0 + 32_000,
            reason="ORDER",
            position=Position(symbol=SYMBOL, qty=D("-0.010"), entry_price=D("60100.5")),
        )
    )


def test_restore_gives_the_books_the_daemon_had(tmp_path):
    with SqliteJournal(tmp_path) as journal:
        before = book(start=None)
        _trade_session(journal, before)
    assert before.differences == 1  # the entry price

    restored = book(start=None, clock=SimClock(T0 + 60_000))
    with SqliteJournal(tmp_path) as journal:
        restored.restore(journal)

    assert _state(restored) == _state(before)
    assert _state(restored)["positions"] == [
        (SYMBOL, D("-0.010"), D("60100.5")),
        ("ETHUSDT", D(0), D(0)),
    ]
    assert restored.wallet() == D("9995.4969")
    assert restored.funding == D("0.0601")
    assert {cid: o.status for cid, o in restored.orders.items()} == {
        "t-3": OrderStatus.NEW,
        "t-5": OrderStatus.PENDING_SUBMIT,
    }
    assert restored.differences == 0  # replaying known history is not news


def test_a_lost_fill_booked_after_its_own_update_was_adopted_restores_as_it_was(tmp_path):
    """BUY 0.010 @ 60000 (fee 0.3) at T0: its account update (0.010 long, wallet 9999.7)
    comes first and is held; a mark price (market data: not journaled) adopts it at T0+2000;
    the fill, its reports lost, is read back at T0+2500. The replay, without the mark, books
    the fill onto the held update. Both: 0.010 long, 9999.7, no adjustment. Before, the live
    books stepped the fill onto the adopted update (0.020 long, 9999.4) and a restart gave
    other books than the daemon had."""
    live = book(start=None)
    update_time = T0 + 1
    with SqliteJournal(tmp_path) as journal:
        for event in (
            _snapshot(T0, "10000"),
            submitted("t-1", BUY, "0.010"),
            PositionChanged(
                event_time_ms=update_time,
                recv_time_ms=update_time,
                reason="ORDER",
                position=Position(symbol=SYMBOL, qty=D("0.010"), entry_price=D("60000")),
            ),
            BalanceChanged(
                event_time_ms=update_time,
                recv_time_ms=update_time,
                reason="ORDER",
                balance=Balance(
                    asset="USDT", wallet_balance=D("9999.7"), available_balance=D("9999.7")
                ),
            ),
        ):
            journal.record(event)
            live.apply(event)
        live.mark(MarkPrice(SYMBOL, D("60000"), D("60000"), D(0), 0, T0 + 2_001, T0 + 2_001))
        late = fill("t-1", 1, BUY, "0.010", "60000.0", fee="0.3", t=update_time)
        late_event = filled(dataclasses.replace(late, recv_time_ms=T0 + 2_500))
        journal.record(late_event)
        live.apply(late_event)

    restored = book(start=None, clock=SimClock(T0 + 60_000))
    with SqliteJournal(tmp_path) as journal:
        restored.restore(journal)

    assert _state(live)["positions"][0] == (SYMBOL, D("0.010"), D("60000"))
    assert (live.wallet(), live.adjustments) == (D("9999.7"), 0)
    assert _state(restored) == _state(live)


def test_restore_does_not_log_an_old_balance_as_the_exchanges(tmp_path, caplog):
    """The journal's first snapshot says 10000 USDT; a restart replays it. That is history,
    not what the exchange says now: no INFO line "wallet ... from the exchange"."""
    with SqliteJournal(tmp_path) as journal:
        _trade_session(journal, book(start=None))
    restored = book(start=None, clock=SimClock(T0 + 60_000))
    caplog.set_level("INFO", logger="book_keeper.book_keeper")
    caplog.clear()  # the first session's own line, captured if an earlier test left INFO on
    with SqliteJournal(tmp_path) as journal:
        restored.restore(journal)

    assert not [r for r in caplog.records if "from the exchange" in r.getMessage()]
    assert restored.wallet() == D("9995.4969")


def test_a_fill_seen_before_the_restart_is_not_booked_again(tmp_path):
    with SqliteJournal(tmp_path) as journal:
        _trade_session(journal, book(start=None))
    restored = book(start=None)
    with SqliteJournal(tmp_path) as journal:
        restored.restore(journal)
    wallet = restored.wallet()

    restored.apply(
        filled(
            fill("t-1", 502, BUY, "0.020", "60300.0", fee="0.2412", maker=True, order_id=11),
            "0.030",
            "60200.0",
        )
    )

    assert restored.wallet() == wallet and restored.duplicate_fills == 1


def test_restore_takes_the_peak_equity_from_the_balance_snapshots(tmp_path):
    with SqliteJournal(tmp_path) as journal:
        _trade_session(journal, book(start=None))
        journal.snapshot(
            time_ms=T0, equity=D("10012.5"), wallet=D("10000"), unrealized_pnl=D("12.5")
        )
    restored = book(start=None)
    with SqliteJournal(tmp_path) as journal:
        restored.restore(journal)

    assert restored.peak_equity == D("10012.5")


def test_restore_takes_the_peak_equity_net_of_the_transfers_of_each_snapshot(tmp_path):
    """A snapshot of 12,012.5 after a 2,000 deposit is a net 10,012.5: the summary's peak
    (as the drawdown limit's) is not raised by money moved in."""
    with SqliteJournal(tmp_path) as journal:
        _trade_session(journal, book(start=None))
        journal.snapshot(
            time_ms=T0,
            equity=D("12012.5"),
            wallet=D("12000"),
            unrealized_pnl=D("12.5"),
            transfers=D("2000"),
        )
    restored = book(start=None)
    with SqliteJournal(tmp_path) as journal:
        restored.restore(journal)

    assert restored.peak_equity == D("10012.5")


def test_the_exchanges_adl_and_liquidation_fills_are_booked_again_on_restore(tmp_path):
    # A short 0.010 at 60000 (fee 0.3): auto-deleveraged 0.004 at 55000, rp 0.004 * 5000 = +20,
    # fee 0.11; the rest liquidated at 66000, rp 0.006 * -6000 = -36, clearance fee 4.95.
    # Wallet 10000 - 0.3 + 20 - 0.11 - 36 - 4.95 = 9978.64, flat.
    with SqliteJournal(tmp_path) as journal:
        before = book()
        for event in (
            submitted("t-1", SELL, "0.010"),
            filled(fill("t-1", 501, SELL, "0.010", "60000.0", fee="0.3", order_id=11)),
            filled(fill("adl_autoclose_7", 502, BUY, "0.004", "55000.0", fee="0.11", rp="20",
                        order_id=12, t=T0 + 1), "0.004", "55000.0"),
            filled(fill("autoclose-8", 503, BUY, "0.006", "66000.0", fee="4.95", rp="-36",
                        order_id=13, t=T0 + 2), "0.006", "66000.0"),
        ):  # fmt: skip
            journal.record(event)
            before.apply(event)
        assert journal.unknown_order_events == 0

    restored = book(clock=SimClock(T0 + 60_000))
    with SqliteJournal(tmp_path) as journal:
        restored.restore(journal)

    assert (restored.position(SYMBOL).qty, restored.wallet()) == (D(0), D("9978.64"))
    assert _state(restored) == _state(before)
    assert restored.restored_fills == 3 and restored.rejected_events == 0


def _snapshot(t: int, wallet: str, *positions: Position) -> VenueSnapshot:
    usdt = Balance(asset="USDT", wallet_balance=D(wallet), available_balance=D(wallet))
    return VenueSnapshot(
        event_time_ms=t,
        recv_time_ms=t,
        reason="start",
        symbols=(SYMBOL,),
        balances=(usdt,),
        positions=positions,
        open_orders=(),
    )


def test_restore_keeps_the_money_of_a_symbol_removed_from_the_config(tmp_path):
    """A daemon traded BTCUSDT and ETHUSDT, then restarts with BTCUSDT alone. ETHUSDT's fills
    and funding moved the wallet: restored without them, the wallet came out 0.6695 USDT too
    high, and the start-up snapshot adopted the exchange's as 0.6695 USDT moved out (a loss
    hidden from the daily-loss limit as a withdrawal), with realized PnL and fills short."""
    eth = "ETHUSDT"
    with SqliteJournal(tmp_path) as journal:
        both_symbols = book(start=None)
        for event in (
            _snapshot(T0, "10000"),
            submitted("t-1", BUY, "0.010", None),
            # taker fee 0.010 * 60000 * 0.0005 = 0.30
            filled(fill("t-1", 501, BUY, "0.010", "60000.0", fee="0.30", order_id=11)),
            submitted("t-2", BUY, "0.100", None, symbol=eth, t=T0 + 1),
            # 0.100 * 3000 * 0.0005 = 0.15
            filled(fill("t-2", 801, BUY, "0.100", "3000.00", fee="0.15", symbol=eth, t=T0 + 1)),
            submitted("t-3", SELL, "0.100", None, symbol=eth, t=T0 + 2),
            # rp 0.100 * (3010 - 3000) = 1; fee 0.100 * 3010 * 0.0005 = 0.1505
            filled(
                fill(
                    "t-3", 802, SELL, "0.100", "3010.00", fee="0.1505", rp="1", symbol=eth, t=T0 + 2
                )
            ),
            FundingPaid(
                event_time_ms=T0 + 5_000,
                recv_time_ms=T0 + 5_000,
                symbol=eth,
                amount=D("-0.03"),
                rate=D("0.0001"),
            ),
        ):
            journal.record(event)
            both_symbols.apply(event)
    # 10000 - 0.30 - 0.15 - 0.1505 + 1 - 0.03
    assert both_symbols.wallet() == D("10000.3695")

    btc_only = BookKeeper(
        starting_balances=None,
        instruments={SYMBOL: instruments()[SYMBOL]},
        clock=SimClock(T0 + 60_000),
    )
    with SqliteJournal(tmp_path) as journal:
        btc_only.restore(journal)
    # What the exchange says at the restart.
    long = Position(symbol=SYMBOL, qty=D("0.010"), entry_price=D("60000.0"))
    btc_only.reconcile(_snapshot(T0 + 60_000, "10000.3695", long))

    s = btc_only.summary()
    assert btc_only.wallet() == D("10000.3695")
    assert (s.transfers, s.adjustments, btc_only.differences) == (0, 0, 0)
    assert s.realized_pnl == D("1")
    assert s.fees == {"USDT": D("0.6005")}
    assert s.funding == D("-0.03")
    assert s.fills == 3
    assert [(p.symbol, p.qty) for p in btc_only.positions()] == [(SYMBOL, D("0.010"))]


def test_the_replay_samples_the_peak_and_drawdown_on_each_fills_wallet(tmp_path):
    """Fills only between the start and the end: each one's wallet is sampled, as live. (The
    replay read an equity cached before the fills until checkpoints showed it: peak 10000,
    drawdown 30.) Long 0.010 from 60000 closed at 65000 (+50), again from 60000 closed at
    52000 (-80), no fees: wallet 10050 then 9970."""
    start = VenueSnapshot(
        event_time_ms=T0,
        recv_time_ms=T0,
        reason="start",
        symbols=(SYMBOL,),
        balances=(Balance(asset="USDT", wallet_balance=D("10000"), available_balance=D("10000")),),
        positions=(),
        open_orders=(),
    )
    trades = [("t-1", BUY, "60000", "0"), ("t-2", SELL, "65000", "50")]
    trades += [("t-3", BUY, "60000", "0"), ("t-4", SELL, "52000", "-80")]
    with SqliteJournal(tmp_path) as journal:
        journal.record(start)
        for n, (cid, side, price, rp) in enumerate(trades):
            journal.record(submitted(cid, side, "0.010", None, t=T0 + n))
            journal.record(
                filled(fill(cid, 600 + n, side, "0.010", price, fee="0", rp=rp, t=T0 + n))
            )
    restored = book(start=None, clock=SimClock(T0 + 60_000))
    with SqliteJournal(tmp_path) as journal:
        restored.restore(journal)

    assert restored.wallet() == D("9970")
    assert restored.peak_equity == D("10050")
    assert restored.max_drawdown == D("80")


def test_a_new_journal_says_there_is_nothing_to_restore_not_a_zero_wallet(tmp_path, caplog):
    """Every first start logged `books restored: 0 orders (0 open), 0 fills, wallet 0 USDT`,
    a wallet of 0 read as the account's before the exchange's 10000 USDT came in."""
    caplog.set_level("INFO", logger="book_keeper.book_keeper")
    with SqliteJournal(tmp_path) as journal:
        book(start=None).restore(journal)

    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "books: a new journal, nothing to restore (the wallet and positions come from the "
        "exchange's first answer)"
    ]


def test_a_journal_with_history_says_what_it_restored(tmp_path, caplog):
    with SqliteJournal(tmp_path) as journal:
        _trade_session(journal, book(start=None))
    caplog.set_level("INFO", logger="book_keeper.book_keeper")
    caplog.clear()
    with SqliteJournal(tmp_path) as journal:
        book(start=None, clock=SimClock(T0 + 60_000)).restore(journal)

    [said] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("books")]
    assert said.startswith("books restored: ") and "wallet 9995.4969 USDT" in said


def test_a_fill_of_yesterday_learnt_today_is_carried_in_after_a_restart_at_its_own_price(tmp_path):
    """The books' record of yesterday's fill learnt today survives a restart. The journal
    has no mark prices: the replay values the position at the fill's price (58800), so the
    equity the fill moved is its fee alone (-2.94; running, valued at the mark 60000, it was
    -122.94): the move from the day's last equity to that price counts today, as a loss made
    while the daemon was stopped does (`limits_restore`)."""
    day2 = 1723161600000  # 2024-08-09 00:00:00 UTC
    with SqliteJournal(tmp_path) as journal:
        bk = book()
        for event in (
            submitted("t-1", BUY, "0.100", None),
            filled(fill("t-1", 1, BUY, "0.100", "60000.0", fee="3")),
            submitted("t-2", SELL, "0.100", None, t=day2 - 150),
            filled(
                dataclasses.replace(
                    fill("t-2", 2, SELL, "0.100", "58800.0", fee="2.94", rp="-120", t=day2 - 100),
                    recv_time_ms=day2 + 300,
                )
            ),
        ):
            journal.record(event)
            bk.apply(event)
    restored = book()
    with SqliteJournal(tmp_path) as journal:
        restored.restore(journal)

    assert restored.wallet() == D("9874.06")
    assert restored.carried_in(day2 + 400) == D("-2.94")
