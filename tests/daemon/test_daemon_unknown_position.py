"""An attached daemon's first start on an account that already holds a position its new
journal knows nothing of, above risk.max_position_notional_usdt, and a restart on an account
where one was opened by hand while the daemon was down: refused, as a user runs it
(`python -m exchange_sim` and `python app.py` as processes). It used to adopt the position
and close it at market on the first bar (a target of 0.002 selling all of it), the fees and
the loss the user's, unasked; the decision itself is tested in
tests/trading_engine/test_unknown_positions.py."""

import asyncio
from decimal import Decimal
from typing import Any

from core.clock import LiveClock
from rest_connect import create_rest_connection
from tests.daemon.harness import (
    API_KEY,
    API_SECRET,
    Exchange,
    exchange_process,
    journal_rows,
    start_daemon,
    write_config,
)

SYMBOL = "BTCUSDT"
HAND_QTY = "0.050"  # about 4,700 USDT at 2025-05 prices: above the default limit of 1000


async def _on_the_account(
    ex: Exchange, order: dict[str, Any] | None = None
) -> tuple[Decimal, list]:
    """`order` placed by hand (the website's connection, same keys), then the account's
    position in SYMBOL and every order it ever had there."""
    conn = await create_rest_connection(
        rest_url=ex.rest_url, api_key=API_KEY, api_secret=API_SECRET, clock=LiveClock()
    )
    try:
        if order is not None:
            await conn.call("futures_create_order", mutating=True, orders=1, weight=0, **order)
        rows = await conn.call("futures_position_information", weight=5, symbol=SYMBOL)
        orders = await conn.call("futures_get_all_orders", weight=5, symbol=SYMBOL, limit=1000)
    finally:
        await conn.close()
    return sum((Decimal(r["positionAmt"]) for r in rows), Decimal(0)), orders


def test_a_first_start_on_an_account_holding_a_large_position_is_refused(tmp_path):
    """Refused in one line, exit status 2 (a supervisor does not restart it), no order sent,
    the position as it was; a second start on the same journal is refused the same way."""
    with exchange_process(speed=1, admin=False) as ex:
        hand = {
            "symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": HAND_QTY,
            "newClientOrderId": "web_hand1",
        }  # fmt: skip
        before, _ = asyncio.run(_on_the_account(ex, hand))
        assert before == Decimal(HAND_QTY)
        write_config(tmp_path, ex)

        for _ in range(2):
            daemon = start_daemon(tmp_path, "--duration", "10")
            out, err = daemon.communicate(timeout=60)

            assert daemon.returncode == 2, (out + err)[-2000:]
            assert "Traceback" not in err
            line = next(x for x in (err + out).splitlines() if x.startswith("error:"))
            assert line.startswith(
                "error: the exchange holds a position this daemon's journal does not explain, "
                "above risk.max_position_notional_usdt = 1000: BTCUSDT 0.050 ("
            ), line
            assert line.endswith(
                "close or reduce it on the exchange, or raise risk.max_position_notional_usdt, "
                "then start again"
            ), line

        after, orders = asyncio.run(_on_the_account(ex))
        assert after == before
        assert [o["clientOrderId"] for o in orders] == ["web_hand1"]


def test_a_restart_meeting_a_large_position_opened_by_hand_while_down_is_refused(tmp_path):
    """The daemon ran and stopped (its journal exists, with what it traded); the user bought
    0.050 by hand while it was down. The restart is refused as a first start is (it used to
    book the hand fill first, find the books holding the position, and adopt it), journaling
    none of what it found; once the user sold it by hand, the next start books both hand
    orders and its books equal the exchange's."""
    with exchange_process(speed=1, admin=False) as ex:
        write_config(tmp_path, ex)
        first = start_daemon(tmp_path, "--duration", "3")
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, (out + err)[-2000:]
        held, _ = asyncio.run(_on_the_account(ex))  # what the first run left open, if any
        hand = {
            "symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": HAND_QTY,
            "newClientOrderId": "web_hand1",
        }  # fmt: skip
        before, orders_before = asyncio.run(_on_the_account(ex, hand))
        fills_before = journal_rows(tmp_path, "SELECT trade_id FROM fills")

        refused = start_daemon(tmp_path, "--duration", "10")
        out, err = refused.communicate(timeout=60)

        assert refused.returncode == 2, (out + err)[-2000:]
        assert "Traceback" not in err
        line = next(x for x in (err + out).splitlines() if x.startswith("error:"))
        named = (
            "error: the exchange holds a position this daemon's journal does not explain, "
            "above risk.max_position_notional_usdt = 1000: BTCUSDT "
        )
        assert line.startswith(named), line
        assert Decimal(line[len(named) :].split(" (")[0]) == before, line
        ours = line.split("; the journal holds ")[1].split(")")[0]
        assert Decimal(ours) == held, line  # its own, the first run's, and not the hand's
        assert "). Started, the daemon would trade it as its own" in line, line
        after, orders = asyncio.run(_on_the_account(ex))
        assert after == before == held + Decimal(HAND_QTY)
        assert orders == orders_before  # nothing sent
        assert journal_rows(tmp_path, "SELECT trade_id FROM fills") == fills_before

        close = {**hand, "side": "SELL", "newClientOrderId": "web_hand2"}
        asyncio.run(_on_the_account(ex, close))
        again = start_daemon(tmp_path, "--duration", "3")
        out, err = again.communicate(timeout=60)

    assert again.returncode == 0, (out + err)[-2000:]
    assert "books vs exchange at exit: identical" in out, out[-2000:]
    fills = journal_rows(tmp_path, "SELECT client_order_id FROM fills")
    assert {cid for (cid,) in fills if cid.startswith("outside:")} == {
        "outside:web_hand1",
        "outside:web_hand2",
    }
