"""The BookKeeper's money against hand-computed Decimal values.

Fees: maker 0.0002, taker 0.0005 of the fill notional. Realized PnL (Binance `rp`) = closed qty
* (exit - entry) * (+1 long / -1 short), 8 decimals half-up. Start wallet 10000 USDT.
"""

import dataclasses
import json
from pathlib import Path

from core.account import Balance, Position
from core.events import (
    BalanceChanged,
    FundingPaid,
    OrderExpired,
    PositionChanged,
    VenueSnapshot,
)
from core.market import BookTicker, MarkPrice, Trade
from gateway.user_wire import AccountUpdate, decode_user_frame, parse_account, parse_user_event
from tests.book_keeper.support import (
    BUY,
    SELL,
    START,
    SYMBOL,
    T0,
    D,
    accepted,
    book,
    fill,
    filled,
    submitted,
    trade_fill,
)


def _mark(price: str, t: int = T0) -> MarkPrice:
    return MarkPrice(SYMBOL, D(price), D(price), D("0.0001"), T0 + 3_600_000, t, t)


def _trade(price: str, t: int = T0, agg_id: int = 1) -> Trade:
    return Trade(SYMBOL, agg_id, D(price), D("0.001"), agg_id, agg_id, False, t, t, t)


def test_open_add_reduce_flip_close_with_fees_and_funding():
    bk = book()

    # 1. BUY 0.010 @ 60000.0 taker: fee 600 * 0.0005 = 0.3
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")
    assert (bk.position(SYMBOL).qty, bk.position(SYMBOL).entry_price) == (D("0.010"), D("60000"))

    # 2. BUY 0.020 @ 60300.0 maker: fee 1206 * 0.0002 = 0.2412;
    #    entry (0.010*60000 + 0.020*60300) / 0.030 = 1806 / 0.03 = 60200
    trade_fill(bk, "t-2", 2, BUY, "0.020", "60300.0", fee="0.2412", maker=True)
    assert (bk.position(SYMBOL).qty, bk.position(SYMBOL).entry_price) == (D("0.030"), D("60200"))

    # 3. SELL 0.015 @ 60500.0 maker: rp 0.015 * (60500 - 60200) = 4.5; fee 907.5*0.0002 = 0.1815
    trade_fill(bk, "t-3", 3, SELL, "0.015", "60500.0", fee="0.1815", rp="4.5", maker=True)
    assert (bk.position(SYMBOL).qty, bk.position(SYMBOL).entry_price) == (D("0.015"), D("60200"))

    # 4. SELL 0.040 @ 60100.0 taker flips: closes 0.015, rp 0.015 * (60100 - 60200) = -1.5;
    #    opens -0.025 @ 60100.0; fee 2404 * 0.0005 = 1.202
    trade_fill(bk, "t-4", 4, SELL, "0.040", "60100.0", fee="1.202", rp="-1.5")
    assert (bk.position(SYMBOL).qty, bk.position(SYMBOL).entry_price) == (D("-0.025"), D("60100"))

    # 5. funding, short receives: 0.025 * 60000 * 0.0001 = 0.15
    bk.apply(
        FundingPaid(event_time_ms=T0, recv_time_ms=T0, symbol=SYMBOL, amount=D("0.15"), rate=D(1))
    )

    # 6. BUY 0.025 @ 59900.0 taker closes: rp 0.025 * (59900 - 60100) * -1 = 5; fee 0.74875
    trade_fill(bk, "t-5", 5, BUY, "0.025", "59900.0", fee="0.74875", rp="5")

    s = bk.summary()
    assert (bk.position(SYMBOL).qty, bk.position(SYMBOL).entry_price) == (D(0), D(0))
    assert s.realized_pnl == D("8")  # 4.5 - 1.5 + 5
    assert s.fees == {"USDT": D("2.67345")}  # 0.3 + 0.2412 + 0.1815 + 1.202 + 0.74875
    assert s.funding == D("0.15")
    assert bk.wallet() == D("10005.47655")  # 10000 + 8 - 2.67345 + 0.15
    assert (s.fills, s.maker_fills, s.orders_submitted) == (5, 2, 5)
    assert s.orders_by_status == {"FILLED": 5}
    assert bk.rp_mismatches == 0 and bk.differences == 0


def test_realized_pnl_uses_the_full_precision_entry_rounded_half_up_to_8_decimals():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.001", "60000.1", fee="0.03000005")
    trade_fill(bk, "t-2", 2, BUY, "0.002", "60000.2", fee="0.0600002")

    # entry (0.001*60000.1 + 0.002*60000.2) / 0.003 = 180.0005 / 0.003 = 60000.1666...
    assert bk.position(SYMBOL).entry_price == D("180.0005") / D("0.003")
    # rp 0.001 * (60001.0 - 60000.1666...) = 0.00083333|33... -> 0.00083333
    trade_fill(bk, "t-3", 3, SELL, "0.001", "60001.0", fee="0.0300005", rp="0.00083333")

    assert bk.rp_mismatches == 0
    assert bk.summary().realized_pnl == D("0.00083333")


def test_exchange_rp_is_adopted_when_ours_differs_and_the_difference_is_counted():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")

    trade_fill(bk, "t-2", 2, SELL, "0.010", "60100.0", fee="0.3005", rp="1.01")  # ours: 1.0

    assert bk.rp_mismatches == 1 and bk.differences == 1
    assert bk.summary().realized_pnl == D("1.01")
    assert bk.wallet() == D("10000.4095")  # 10000 - 0.3 + 1.01 - 0.3005


def test_a_fill_reported_twice_is_booked_once():
    bk = book()
    bk.apply(submitted("t-1", BUY, "0.010", "60000.0"))
    f = fill("t-1", 7, BUY, "0.004", "60000.0", fee="0.048", maker=True)

    bk.apply(filled(f, final=False))
    bk.apply(filled(f, final=False))  # the REST reconciliation reports it again

    assert bk.position(SYMBOL).qty == D("0.004")
    assert bk.wallet() == D("9999.952")  # 10000 - 0.004*60000*0.0002
    assert (bk.summary().fills, bk.duplicate_fills) == (1, 1)
    assert bk.orders["t-1"].filled_qty == D("0.004")


def test_a_stop_fill_arriving_after_a_later_flip_is_booked_in_the_exchanges_order():
    """Long 0.002 @ 60000. At the exchange the stop fires first (trade 2: SELL 0.002 @ 59820,
    rp 0.002 * (59820 - 60000) = -0.36), then the flip sent from the stale long (trade 3:
    SELL 0.004 @ 59800 opens a short -0.004 @ 59800, rp 0). The flip's fill arrives first.
    In arrival order the books had short -0.002 @ 59800 after the flip (rp 0.002 * -200 =
    -0.4, not the exchange's 0) and averaged the stop in: -0.004 @ 59810, an entry the
    exchange never had. Booked in trade-id order the entry is the exchange's 59800 and the
    late fill's own rp agrees: no difference."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.002", "60000.0", fee="0.06")
    bk.apply(submitted("t-2", SELL, "0.002", None))  # the stop (its fill comes late)
    trade_fill(bk, "t-3", 3, SELL, "0.004", "59800.0", fee="0.1196")  # 239.2 * 0.0005
    bk.apply(filled(fill("t-2", 2, SELL, "0.002", "59820.0", fee="0.05982", rp="-0.36")))

    p = bk.position(SYMBOL)
    assert (p.qty, p.entry_price) == (D("-0.004"), D("59800"))
    assert bk.summary().realized_pnl == D("-0.36")
    assert bk.wallet() == D("9999.40058")  # 10000 - 0.36 - 0.06 - 0.1196 - 0.05982
    # The flip's rp (ours -0.4 in arrival order) was counted as a difference; in the
    # exchange's order it agrees: the count is taken back.
    assert (bk.rp_mismatches, bk.differences) == (0, 0)

    # The short then closes where the exchange says: rp 0.004 * (59800 - 59700) = 0.4.
    trade_fill(bk, "t-4", 4, BUY, "0.004", "59700.0", fee="0.1194", rp="0.4")
    assert bk.position(SYMBOL).qty == 0
    assert (bk.rp_mismatches, bk.differences) == (0, 0)


def test_fills_arriving_in_reverse_order_end_at_the_entry_of_the_exchanges_order():
    # At the exchange: BUY 0.001 @ 60000 (1), BUY 0.003 @ 60400 (2), SELL 0.002 @ 60500 (3)
    # -> entry (60 + 181.2) / 0.004 = 60300; after 3: 0.002 @ 60300, rp 0.002 * 200 = 0.4.
    # They arrive 3, 2, 1.
    bk = _three_fills_in_reverse(rp3="0.4")

    p = bk.position(SYMBOL)
    assert (p.qty, p.entry_price) == (D("0.002"), D("60300"))
    assert bk.summary().realized_pnl == D("0.4")
    # Fill 3 came first (ours 0 on a flat book, exchange 0.4): counted, then withdrawn.
    assert (bk.rp_mismatches, bk.differences) == (0, 0)


def test_a_late_fill_that_leaves_a_real_rp_difference_keeps_it_counted():
    # As above, but the exchange's rp for fill 3 is 0.41: in its own order ours is 0.4, a
    # real difference (adopted, still counted once).
    bk = _three_fills_in_reverse(rp3="0.41")

    assert bk.summary().realized_pnl == D("0.41")
    assert (bk.rp_mismatches, bk.differences) == (1, 1)


def _three_fills_in_reverse(*, rp3: str):
    """BUY 0.001 @ 60000 (trade 1), BUY 0.003 @ 60400 (2), SELL 0.002 @ 60500 (3, the
    exchange's rp `rp3`), no fees, arriving 3, 2, 1."""
    bk = book()
    for cid, side, qty in (("t-1", BUY, "0.001"), ("t-2", BUY, "0.003"), ("t-3", SELL, "0.002")):
        bk.apply(submitted(cid, side, qty, None))
    bk.apply(filled(fill("t-3", 3, SELL, "0.002", "60500.0", fee="0", rp=rp3)))
    bk.apply(filled(fill("t-2", 2, BUY, "0.003", "60400.0", fee="0")))
    bk.apply(filled(fill("t-1", 1, BUY, "0.001", "60000.0", fee="0")))
    return bk


def test_a_fill_older_than_every_fill_kept_is_booked_on_arrival():
    """The window is bounded: a fill later than RESEQUENCE_FILLS others (the ones between may
    be forgotten) is booked as it comes, its rp adopted as before."""
    from book_keeper.symbol_book import RESEQUENCE_FILLS

    bk = book()
    bk.apply(submitted("t-0", BUY, "0.001", None))
    for n in range(1, RESEQUENCE_FILLS + 2):
        trade_fill(bk, f"t-{n}", n + 10, BUY, "0.001", "60000.0", fee="0")
    bk.apply(filled(fill("t-0", 5, BUY, "0.001", "61000.0", fee="0")))

    p = bk.position(SYMBOL)
    n = RESEQUENCE_FILLS + 2
    assert p.qty == D("0.001") * n
    assert p.entry_price == (D("0.001") * (n - 1) * 60000 + D("61")) / (D("0.001") * n)


def test_unrealized_pnl_uses_the_mark_price_else_the_last_trade():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.030", "60200.0", fee="0.9033")  # wallet 9999.0967

    bk.mark(_trade("60300.0"))
    assert bk.mark_price(SYMBOL) == D("60300.0")  # no mark price yet: the last trade
    assert bk.equity() == D("10002.0967")  # 9999.0967 + 0.030 * (60300 - 60200)
    bk.mark(_mark("60250.0"))
    bk.mark(_trade("60400.0"))  # a later trade does not replace an existing mark
    assert bk.unrealized_pnl() == D("1.5")  # 0.030 * (60250 - 60200)
    assert bk.equity() == D("10000.5967")
    assert bk.mark_price(SYMBOL) == D("60250.0")


def test_book_ticker_mid_is_the_mark_until_a_trade_or_mark_price_arrives():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")

    bk.mark(BookTicker(SYMBOL, 1, D("60100.0"), D(1), D("60100.2"), D(1), T0, T0, T0))

    assert bk.mark_price(SYMBOL) == D("60100.1")
    assert bk.unrealized_pnl() == D("1.001")  # 0.010 * (60100.1 - 60000)


def test_commission_in_another_asset_is_not_taken_from_the_usdt_wallet():
    bk = book()

    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.0005", asset="BNB")

    assert bk.wallet() == D("10000")
    assert "BNB" not in bk._wallets  # unknown until the exchange says it: never below zero
    assert bk.summary().fees == {"BNB": D("0.0005")}


def _balance(asset: str, wallet: str, reason: str, t: int) -> BalanceChanged:
    return BalanceChanged(
        event_time_ms=t,
        recv_time_ms=t,
        balance=Balance(asset=asset, wallet_balance=D(wallet), available_balance=D(0)),
        reason=reason,
    )


def test_bnb_fee_updates_ahead_of_their_fills_are_neither_differences_nor_charged_twice():
    """Binance may send a fill's ACCOUNT_UPDATE before its ORDER_TRADE_UPDATE. BNB 0.5, two
    fills each paying 0.0005 BNB, each announced first: BNB 0.5 -> 0.4995 -> 0.4990 (the
    exchange's), not 0.4990 / 0.4985 (the fee taken again after the update had it)."""
    bk = book()
    bk.apply(_balance("BNB", "0.5", "DEPOSIT", T0))

    bk.apply(_balance("BNB", "0.4995", "ORDER", T0 + 5))
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.0005", asset="BNB", t=T0 + 5)
    assert bk.wallet("BNB") == D("0.4995")
    bk.apply(_balance("BNB", "0.4990", "ORDER", T0 + 10))
    trade_fill(bk, "t-2", 2, BUY, "0.010", "60000.0", fee="0.0005", asset="BNB", t=T0 + 10)

    assert bk.wallet("BNB") == D("0.4990")
    assert bk.wallet() == D("10000")  # the USDT wallet paid no fee
    assert bk.summary().fees == {"BNB": D("0.0010")}
    assert (bk.differences, bk.adjustments) == (0, 0)


def test_first_bnb_balance_after_a_bnb_fee_is_not_a_difference():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.0005", asset="BNB")

    bk.apply(_balance("BNB", "0.4995", "ORDER", T0 + 1))

    assert bk.wallet("BNB") == D("0.4995")
    assert bk.differences == 0


def test_funding_booked_from_the_balance_is_not_booked_again_by_funding_paid():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.100", "61800.0", fee="3.09")  # wallet 9996.91
    settlement = T0 + 1000

    # Binance sends only the new wallet: 9996.91 - 0.1 * 61800 * 0.0001 = 9996.2920
    bk.apply(
        BalanceChanged(
            event_time_ms=settlement,
            recv_time_ms=settlement,
            balance=Balance(asset="USDT", wallet_balance=D("9996.292"), available_balance=D(0)),
            reason="FUNDING_FEE",
        )
    )
    bk.apply(
        FundingPaid(
            event_time_ms=settlement,
            recv_time_ms=settlement,
            symbol=SYMBOL,
            amount=D("-0.618"),
            rate=D("0.0001"),
        )
    )

    assert bk.wallet() == D("9996.292")
    assert bk.funding == D("-0.618")
    assert bk.differences == 0


def test_the_insurance_funds_clearing_of_a_negative_wallet_is_an_adjustment_not_a_difference():
    """Long 1 BTC at 60,000 closed at 49,000 (a liquidation through the bankruptcy price):
    rp -11,000 leaves the wallet at 10,000 - 11,000 = -1,000; Binance's ACCOUNT_UPDATE with
    reason INSURANCE_CLEAR then says 0. The books take it as +1,000 of adjustments: money
    no fill explains, yet nothing the books got wrong (it used to count as a difference)."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "1.000", "60000.0", fee="0")
    trade_fill(bk, "t-2", 2, SELL, "1.000", "49000.0", fee="0", rp="-11000.00000000", t=T0 + 1)
    assert bk.wallet() == D("-1000")

    bk.apply(
        BalanceChanged(
            event_time_ms=T0 + 2,
            recv_time_ms=T0 + 2,
            balance=Balance(asset="USDT", wallet_balance=D("0"), available_balance=D(0)),
            reason="INSURANCE_CLEAR",
        )
    )

    assert bk.wallet() == 0 and bk.adjustments == D("1000")
    assert bk.differences == 0 and bk.transfers == 0
    assert bk.wallet() == START + bk.realized_pnl - sum(bk.fees.values()) + bk.adjustments


def test_funding_from_the_balance_matches_an_income_record_of_a_slightly_other_time():
    """The income record's time and the ACCOUNT_UPDATE's need not be equal: the settlement
    is booked once; the next settlement, 8 hours on, is booked again."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.100", "61800.0", fee="3.09")  # wallet 9996.91
    settlement = T0 + 1000
    bk.apply(
        BalanceChanged(
            event_time_ms=settlement + 37,  # the update is stamped 37 ms after the settlement
            recv_time_ms=settlement + 50,
            balance=Balance(asset="USDT", wallet_balance=D("9996.292"), available_balance=D(0)),
            reason="FUNDING_FEE",
        )
    )
    for at in (settlement, settlement + 8 * 3_600_000):
        bk.apply(
            FundingPaid(
                event_time_ms=at,
                recv_time_ms=at,
                symbol=SYMBOL,
                amount=D("-0.618"),
                rate=D("0.0001"),
            )
        )

    assert bk.wallet() == D("9995.674")  # 9996.91 - 0.618 twice: two settlements, not three
    assert bk.funding == D("-1.236")
    assert bk.differences == 0


def test_a_funding_settlement_read_twice_is_booked_once():
    """The income history read again (after a restart it is read from the journal's last
    time on, inclusive): the same settlement of the same symbol books nothing more."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.100", "61800.0", fee="3.09")  # wallet 9996.91
    paid = FundingPaid(
        event_time_ms=T0 + 1000,
        recv_time_ms=T0 + 1000,
        symbol=SYMBOL,
        amount=D("-0.618"),
        rate=D("0.0001"),
    )
    bk.apply(paid)
    bk.apply(paid)

    assert bk.wallet() == D("9996.292")  # 9996.91 - 0.618, once
    assert bk.funding == D("-0.618")
    assert bk._books[SYMBOL].funding == D("-0.618")  # the symbol's share, once too


def test_another_assets_transfer_is_not_usdt_money():
    """A BNB deposit (for fees) or a USDC transfer moves that asset's wallet only: today's
    PnL and the USDT transfer total stay as they were (a daily-loss limit must not trip)."""
    bk = book()  # 10000 USDT
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")  # today: -0.3 USDT
    for amount, reason in (("0.5", "ORDER"), ("20.5", "DEPOSIT")):  # first seen, then +20
        bk.apply(
            BalanceChanged(
                event_time_ms=T0,
                recv_time_ms=T0,
                balance=Balance(asset="BNB", wallet_balance=D(amount), available_balance=D(0)),
                reason=reason,
            )
        )

    assert bk.wallet() == D("9999.7")
    assert bk.pnl_today(T0) == D("-0.3")
    assert (bk.transfers, bk.adjustments) == (0, 0)
    assert bk._wallets["BNB"] == D("20.5")


API = Path(__file__).resolve().parents[1] / "fixtures" / "binance_api"


def test_a_credit_asset_on_the_user_stream_stays_out_of_the_usdt_wallet():
    """A real ACCOUNT_UPDATE of BNFCR (Binance's futures credit, 5001.28983031) as the gateway
    hands it over: its own wallet, not USDT money, not a transfer, not a difference."""
    bk = book()  # 10000 USDT
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")  # 9999.7 USDT
    frame = (API / "ws_user" / "ACCOUNT_UPDATE__BNFCR_2026-06-16__nautilus.json").read_bytes()
    update = parse_user_event(decode_user_frame(frame), T0 + 1)
    assert isinstance(update, AccountUpdate)

    for balance in update.balances:
        bk.apply(
            BalanceChanged(
                event_time_ms=update.event_time_ms,
                recv_time_ms=T0 + 1,
                balance=balance,
                reason=update.reason,
            )
        )
    bk.mark(_mark("60000", T0 + 2_000))  # a held ORDER update would be settled by now

    assert bk.wallet() == D("9999.7") and bk.equity() == D("9999.7")
    assert bk.wallet("BNFCR") == D("5001.28983031")
    assert (bk.transfers, bk.adjustments, bk.differences) == (0, 0, 0)
    assert bk.summary().wallet == D("9999.7")


def test_a_multi_asset_account_snapshot_gives_the_books_its_usdt_row_only():
    """The real v3 account of a Multi-Assets account (USDT 3.72964781, USDC 22, and BTC, BNB,
    ETH, FDUSD at 0): the books' wallet is the USDT row, the others are kept apart. (The
    daemon refuses to start on such an account; a snapshot must still not mix them.)"""
    body = json.loads(
        (API / "rest" / "GET_fapi_v3_account__multi_asset_2024-07-28__ccxt.json").read_bytes()
    )
    bk = book(start=None)

    bk.reconcile(
        VenueSnapshot(
            event_time_ms=T0,
            recv_time_ms=T0,
            balances=parse_account(body).balances,
            positions=(),
            open_orders=(),
            reason="start",
            symbols=(SYMBOL,),
        )
    )

    assert bk.wallet() == D("3.72964781") and bk.equity() == D("3.72964781")
    assert bk.wallet("USDC") == D("22.00000000") and bk.wallet("BNB") == 0
    assert (bk.transfers, bk.differences) == (0, 0)


def test_matching_position_and_balance_updates_are_not_differences():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.001", "60000.1", fee="0.03000005")
    trade_fill(bk, "t-2", 2, BUY, "0.002", "60000.2", fee="0.0600002")

    # the exchange prints the entry 60000.1666... with 8 decimals
    bk.apply(
        PositionChanged(
            event_time_ms=T0,
            recv_time_ms=T0,
            position=Position(symbol=SYMBOL, qty=D("0.003"), entry_price=D("60000.16666667")),
            reason="ORDER",
        )
    )
    bk.apply(
        BalanceChanged(
            event_time_ms=T0,
            recv_time_ms=T0,
            # 10000 - 0.03000005 - 0.0600002
            balance=Balance(
                asset="USDT", wallet_balance=D("9999.90999975"), available_balance=D(0)
            ),
            reason="ORDER",
        )
    )

    assert bk.differences == 0
    assert bk.position(SYMBOL).entry_price == D("180.0005") / D("0.003")  # ours kept


def test_equity_curve_keeps_one_point_per_minute_and_tracks_peak_and_drawdown():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "1.000", "60000.0", fee="0")  # wallet 10000
    minute = T0 - T0 % 60_000

    bk.mark(_mark("60010.0", minute + 1_000))  # equity 10010
    bk.mark(_mark("60050.0", minute + 30_000))  # same minute: no new point
    bk.mark(_mark("60020.0", minute + 60_000))  # equity 10020
    bk.mark(_mark("59990.0", minute + 125_000))  # equity 9990

    assert bk.equity_curve() == [
        (minute, D("10010")),
        (minute + 60_000, D("10020")),
        (minute + 120_000, D("9990")),
    ]
    # the peak and drawdown see every mark price, as the RiskManager's limit does
    assert bk.peak_equity == D("10050")  # within the first minute: on no curve point
    assert bk.max_drawdown == D("60")  # 10050 -> 9990
    assert bk.drawdown() == D("60")


def test_peak_equity_and_max_drawdown_are_net_of_transfers():
    """As the drawdown limit measures (equity - transfers): 10000 USDT, long 1 BTC at 60000.
    Mark 60100: equity 10100, the peak. Withdraw 2000: equity 8100, net 10100, no drawdown.
    Mark 60090: net 10090, drawdown 10. Deposit 5000: equity 13090, net still 10090."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "1.000", "60000.0", fee="0")
    bk.mark(_mark("60100.0", T0 + 1_000))
    for t, wallet, reason in ((T0 + 2_000, "8000", "WITHDRAW"), (T0 + 4_000, "13000", "DEPOSIT")):
        if reason == "DEPOSIT":
            bk.mark(_mark("60090.0", T0 + 3_000))
        bk.apply(
            BalanceChanged(
                event_time_ms=t,
                recv_time_ms=t,
                balance=Balance(asset="USDT", wallet_balance=D(wallet), available_balance=D(0)),
                reason=reason,
            )
        )

    summary = bk.summary()
    assert (summary.equity, summary.transfers) == (D("13090"), D("3000"))
    assert (summary.peak_equity, summary.max_drawdown) == (D("10100"), D("10"))
    assert bk.drawdown() == D("10")
    assert "peak equity net of transfers: 10100.00000000 USDT" in summary.lines()[5]


def test_equity_curve_is_a_bounded_ring():
    bk = book()
    bk._curve = type(bk._curve)(maxlen=3)

    for k in range(5):
        bk.mark(_mark("60000.0", T0 + k * 60_000))

    assert len(bk.equity_curve()) == 3


def test_summary_lines_state_orders_fills_fees_pnl_and_position():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")

    lines = bk.summary().lines()

    assert lines[0] == "orders: 1 submitted (filled 1), 0 open"
    assert lines[1] == "fills: 1 (0 maker), volume 600.0000 USDT"
    assert lines[2] == "fees: 0.3 USDT"
    assert lines[6] == "final position: BTCUSDT 0.010 @ 60000.0"


def test_summary_of_a_run_without_fills_says_its_fees_with_their_unit():
    lines = book().summary().lines()

    assert lines[1:3] == ["fills: 0 (0 maker), volume 0 USDT", "fees: 0 USDT"]


def test_summary_shows_balances_with_binances_eight_decimals():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.001", "60000.0", fee="0.024")
    trade_fill(bk, "t-2", 2, BUY, "0.002", "60000.1", fee="0.04800008")
    bk.mark(_mark("60001.0", T0 + 1))
    # Entry (60 + 120.0002) / 0.003 = 60000.0666...: the exact unrealized PnL
    # 0.003 * (60001 - 60000.0666...) = 0.0028 carries the average's repeating digits.
    assert bk.unrealized_pnl() != bk.unrealized_pnl().quantize(D("0.00000001"))

    lines = bk.summary().lines()

    wallet = START - D("0.024") - D("0.04800008")  # 9999.92799992
    assert lines[4] == (
        f"wallet: {wallet:f} USDT, unrealized: 0.00280000 USDT, equity: 9999.93079992 USDT"
    )


def test_pnl_and_fills_today_count_from_00_00_utc():
    bk = book()
    day2 = 1723161600000  # 2024-08-09 00:00:00 UTC, six minutes after T0
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")  # day 1: wallet 9999.7

    bk.apply(  # long pays 0.010 * 60000 * 0.0001 = 0.06
        FundingPaid(
            event_time_ms=day2, recv_time_ms=day2, symbol=SYMBOL, amount=D("-0.06"), rate=D(1)
        )
    )
    # rp 0.010 * (60100 - 60000) = 1; fee 601 * 0.0005 = 0.3005
    trade_fill(bk, "t-2", 2, SELL, "0.010", "60100.0", fee="0.3005", rp="1", t=day2 + 1000)

    assert bk.wallet() == D("10000.3395")
    assert bk.pnl_today(day2 + 5000) == D("0.6395")  # -0.06 + 1 - 0.3005
    assert bk.fills_today(day2 + 5000) == 1
    assert bk.pnl_today(day2 + 86_400_000) == 0  # nothing booked yet on day 3


def test_a_fill_of_yesterday_arriving_after_midnight_is_not_todays():
    """The fill traded at 23:59:59.900 reaches the books after a day-2 fill: it moves the
    wallet but not today's PnL or fill count (the daily-loss limit is per UTC day)."""
    bk = book()
    day2 = 1723161600000  # 2024-08-09 00:00:00 UTC
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3", t=day2 - 60_000)
    # day 2: rp 0.005 * (60100 - 60000) = 0.5; fee 0.005 * 60100 * 0.0005 = 0.15025
    trade_fill(bk, "t-2", 2, SELL, "0.005", "60100.0", fee="0.15025", rp="0.5", t=day2 + 50)
    # late, day 1: rp 0.005 * (59900 - 60000) = -0.5; fee 0.005 * 59900 * 0.0005 = 0.14975
    trade_fill(bk, "t-3", 3, SELL, "0.005", "59900.0", fee="0.14975", rp="-0.5", t=day2 - 100)

    assert bk.wallet() == D("9999.4")  # 10000 - 0.3 + 0.5 - 0.15025 - 0.5 - 0.14975
    assert bk.pnl_today(day2 + 1000) == D("0.34975")  # 0.5 - 0.15025: day 2's fill alone
    assert bk.fills_today(day2 + 1000) == 1


def test_summary_says_expired_orders_were_ended_by_the_exchange():
    """The stop-loss of a position a flatten closed ends EXPIRED on Binance (its own end of a
    closePosition order): 'expired 1' alone read as a fault or as the daemon's cancel."""
    bk = book()
    bk.apply(submitted("t-1", BUY, "0.010", None))
    bk.apply(accepted("t-1", 1))
    bk.apply(
        OrderExpired(
            event_time_ms=T0, recv_time_ms=T0, symbol=SYMBOL, client_order_id="t-1",
            order_id=1, reason="algo order expired",
        )
    )  # fmt: skip

    [orders] = bk.summary().lines()[:1]

    assert orders == (
        "orders: 1 submitted (expired 1), 0 open; expired: ended by the exchange (a stop-loss / "
        "take-profit whose position closed, or an order's unfilled rest), not cancelled by the "
        "daemon"
    )


def test_summary_without_expired_orders_has_no_note_on_them():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")

    assert "expired" not in bk.summary().lines()[0]


def test_summary_says_an_average_entry_of_several_fills_to_the_tick():
    """0.010 at 60000.0 and 0.020 at 60000.1: the entry averages (600 + 1200.002) / 0.030 =
    60000.0666..., which the closing line printed with all its digits; said to the tick
    (0.1): 60000.1."""
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0")
    trade_fill(bk, "t-2", 2, BUY, "0.020", "60000.1", fee="0")

    assert bk.positions()[0].entry_price > D("60000.066")  # the books keep it exact
    assert bk.summary().lines()[6] == "final position: BTCUSDT 0.030 @ 60000.1"


def test_a_fill_of_yesterday_learnt_today_is_carried_into_todays_start_not_its_pnl():
    """Long 0.100 @ 60000 valued at the mark 60000; its stop fills at 23:59:59.900 at 58800
    (rp 0.1 * (58800 - 60000) = -120, fee 0.1 * 58800 * 0.0005 = 2.94) and its report comes
    at 00:00:00.300 (our clock): equity moved 9997 -> 9874.06, the day before's."""
    bk = book()
    day2 = 1723161600000  # 2024-08-09 00:00:00 UTC
    trade_fill(bk, "t-1", 1, BUY, "0.100", "60000.0", fee="3")  # wallet 9997
    bk.mark(_mark("60000.0", day2 - 1_000))
    bk.apply(submitted("t-2", SELL, "0.100", None, t=day2 - 150))
    late = dataclasses.replace(
        fill("t-2", 2, SELL, "0.100", "58800.0", fee="2.94", rp="-120", t=day2 - 100),
        recv_time_ms=day2 + 300,
    )

    bk.apply(filled(late))

    assert bk.wallet() == D("9874.06")
    assert bk.pnl_today(day2 + 400) == 0
    assert bk.carried_in(day2 + 400) == D("-122.94")  # 9874.06 - 9997
    assert bk.carried_in(day2 - 1) == 0 and bk.carried_in(day2 + 86_400_000) == 0


def test_yesterdays_fill_whose_account_update_was_adopted_today_is_carried_in():
    """The same stop (23:59:59.900, 58800: wallet 9874.06, flat), its ACCOUNT_UPDATE first at
    00:00:00.200 (held: ahead of its report), adopted 2 s on with its report still to come,
    which then comes (held by the adoption): the equity that moved today, 9997 -> 9874.06,
    is the day before's as when the report comes first."""
    bk = book()
    day2 = 1723161600000  # 2024-08-09 00:00:00 UTC
    trade_fill(bk, "t-1", 1, BUY, "0.100", "60000.0", fee="3")  # wallet 9997
    bk.mark(_mark("60000.0", day2 - 1_000))
    bk.apply(submitted("t-2", SELL, "0.100", None, t=day2 - 150))
    t, recv = day2 - 100, day2 + 200
    bk.apply(BalanceChanged(
        event_time_ms=t, recv_time_ms=recv, reason="ORDER",
        balance=Balance(asset="USDT", wallet_balance=D("9874.06"), available_balance=D(0)),
    ))  # fmt: skip
    bk.apply(PositionChanged(
        event_time_ms=t, recv_time_ms=recv, reason="ORDER",
        position=Position(symbol=SYMBOL, qty=D(0), entry_price=D(0)),
    ))  # fmt: skip
    bk.mark(_mark("60000.0", day2 + 1_900))  # adopted: 2 s after the update's time
    assert bk.wallet() == D("9874.06") and bk.position(SYMBOL).qty == 0
    late = dataclasses.replace(
        fill("t-2", 2, SELL, "0.100", "58800.0", fee="2.94", rp="-120", t=t),
        recv_time_ms=day2 + 2_500,
    )

    bk.apply(filled(late))

    assert bk.wallet() == D("9874.06") and bk.adjustments == 0
    assert bk.pnl_today(day2 + 3_000) == 0
    assert bk.carried_in(day2 + 3_000) == D("-122.94")


def test_yesterdays_account_update_adopted_after_a_fill_of_today_is_not_todays_pnl():
    """As above, with a fill of today first (ETHUSDT buy 1 @ 4000 at 00:00:00.100, fee 2: the
    books' day is today's, from 9997): the adoption's -122.94 is the day before's, today's
    PnL the ETHUSDT fee alone."""
    bk = book()
    day2 = 1723161600000  # 2024-08-09 00:00:00 UTC
    trade_fill(bk, "t-1", 1, BUY, "0.100", "60000.0", fee="3")  # wallet 9997
    bk.mark(_mark("60000.0", day2 - 1_000))
    bk.apply(submitted("t-2", SELL, "0.100", None, t=day2 - 150))
    t, recv = day2 - 100, day2 + 200
    bk.apply(BalanceChanged(
        event_time_ms=t, recv_time_ms=recv, reason="ORDER",
        balance=Balance(asset="USDT", wallet_balance=D("9874.06"), available_balance=D(0)),
    ))  # fmt: skip
    bk.apply(PositionChanged(
        event_time_ms=t, recv_time_ms=recv, reason="ORDER",
        position=Position(symbol=SYMBOL, qty=D(0), entry_price=D(0)),
    ))  # fmt: skip
    bk.apply(submitted("e-1", BUY, "1", None, t=day2 + 100, symbol="ETHUSDT"))
    bk.apply(filled(fill("e-1", 7, BUY, "1", "4000", fee="2", t=day2 + 100, symbol="ETHUSDT")))

    bk.mark(_mark("60000.0", day2 + 1_900))  # the held update adopted

    assert bk.wallet() == D("9872.06")  # 9997 - 122.94 - 2
    assert bk.pnl_today(day2 + 2_000) == D("-2")
