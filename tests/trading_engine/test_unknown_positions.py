"""A position the journal does not explain, found by the start-up reconciliation: refused
above risk.max_position_notional_usdt (`unknown_positions_refusal`), adopted within it, and
never refused when the journal held it, or its own orders made it while the daemon was down
(`explained_positions`; run end to end in tests/daemon/test_daemon_unknown_position.py and,
at a restart, tests/trading_engine/test_restart_unknown_position_local_exchange.py).

Notionals by hand: |qty| * mark, shown to the cent. Quantities in BTC, money in USDT."""

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from core.account import Position
from core.enums import Side
from core.events import OrderFilled, OrderPartiallyFilled, VenueSnapshot
from core.orders import Fill
from trading_engine.account_checks import (
    check_unknown_positions,
    explained_positions,
    unknown_positions_refusal,
)
from trading_engine.daemon_error import DaemonError, StartFailure

D = Decimal
LIMIT = D(1000)
MARK = D("94625.5")


def test_a_new_journal_meeting_a_large_position_is_refused_with_what_to_do():
    """20 BTC placed by hand, a new journal: 20 * 94625.5 = 1892510.00 USDT."""
    line = unknown_positions_refusal([("BTCUSDT", D(0), D("20.000"), MARK)], LIMIT)

    assert line == (
        "the exchange holds a position this daemon's journal does not explain, above "
        "risk.max_position_notional_usdt = 1000: BTCUSDT 20.000 (1892510.00 USDT at the mark "
        "94625.5; the journal holds 0). Started, the daemon would trade it as its own (to its "
        "strategy's target, at market): close or reduce it on the exchange, or raise "
        "risk.max_position_notional_usdt, then start again"
    )


def test_a_position_the_journal_did_not_have_is_refused_beside_its_own():
    """The journal held 0.002 long; the exchange holds 0.502 (0.5 bought by hand): 0.502 *
    94625.5 = 47502.001 -> 47502.00 USDT. A short by hand on ETHUSDT, -1.5 * 3000.25 =
    4500.375 -> 4500.38 (half up) USDT, is named too."""
    line = unknown_positions_refusal(
        [
            ("BTCUSDT", D("0.002"), D("0.502"), MARK),
            ("ETHUSDT", D(0), D("-1.5"), D("3000.25")),
        ],
        LIMIT,
    )

    assert line is not None
    assert line.startswith(
        "the exchange holds positions this daemon's journal does not explain, above "
        "risk.max_position_notional_usdt = 1000: BTCUSDT 0.502 (47502.00 USDT at the mark "
        "94625.5; the journal holds 0.002), ETHUSDT -1.5 (4500.38 USDT at the mark 3000.25; "
        "the journal holds 0). Started, the daemon would trade them as its own"
    )


def test_a_position_within_the_limit_is_adopted():
    """0.010 * 94625.5 = 946.255 USDT <= 1000."""
    assert unknown_positions_refusal([("BTCUSDT", D(0), D("0.010"), MARK)], LIMIT) is None


def test_a_position_exactly_at_the_limit_is_adopted():
    """The limit is the most a position may be: 0.01 * 100000 = 1000.00 USDT."""
    assert unknown_positions_refusal([("BTCUSDT", D(0), D("0.01"), D(100000))], LIMIT) is None


def test_the_journals_own_position_is_not_refused_after_the_limit_was_lowered():
    """A restart of the same journal holding 0.5 BTC (47312.75 USDT), the limit lowered to
    1000 since: the daemon's own position, traded down by its own rules."""
    assert unknown_positions_refusal([("BTCUSDT", D("0.5"), D("0.5"), MARK)], LIMIT) is None


def test_the_journals_position_reduced_by_hand_is_not_refused():
    """0.5 long in the journal, 0.3 left on the exchange: part of what the daemon held."""
    assert unknown_positions_refusal([("BTCUSDT", D("0.5"), D("0.3"), MARK)], LIMIT) is None


def test_the_journals_position_turned_to_the_other_side_is_refused():
    """0.5 long in the journal, 0.5 short on the exchange: not the daemon's position."""
    line = unknown_positions_refusal([("BTCUSDT", D("0.5"), D("-0.5"), MARK)], LIMIT)

    assert line is not None
    assert "BTCUSDT -0.5 (47312.75 USDT at the mark 94625.5; the journal holds 0.5)" in line


def _filled(
    cid: str,
    side: Side,
    qty: str,
    symbol: str = "BTCUSDT",
    kind: type[OrderFilled | OrderPartiallyFilled] = OrderFilled,
) -> OrderFilled | OrderPartiallyFilled:
    fill = Fill(
        symbol=symbol, order_id=7, client_order_id=cid, trade_id=501, side=side,
        price=MARK, qty=D(qty), commission=D("0.1"), commission_asset="USDT",
        realized_pnl=D(0), is_maker=False, trade_time_ms=1, recv_time_ms=2,
    )  # fmt: skip
    return kind(event_time_ms=1, recv_time_ms=2, fill=fill, cumulative_qty=D(qty), avg_price=MARK)


def test_the_journal_explains_its_own_fills_recovered_not_the_hand_orders():
    """0.5 long in the books; while down its stop-loss sold 0.2 and its LIMIT BUY filled 0.1
    (0.5 - 0.2 + 0.1 = 0.4), the exchange liquidated 0.1 (0.3), and a hand order bought 20
    (booked as outside: not the journal's). ETHUSDT, not traded, is not counted."""
    recovered = [
        _filled("bfd-k3x9q2-8", Side.SELL, "0.2"),
        _filled("outside:web_Ab12", Side.BUY, "20"),
        _filled("bfd-k3x9q2-9", Side.BUY, "0.1", kind=OrderPartiallyFilled),
        _filled("autoclose-1712", Side.SELL, "0.1"),
        _filled("bfd-k3x9q2-10", Side.BUY, "1", symbol="ETHUSDT"),
    ]

    ours = explained_positions({"BTCUSDT": D("0.5")}, recovered)

    assert ours == {"BTCUSDT": D("0.3")}


class Exchange:
    """The REST connection's `call`: BTCUSDT's premiumIndex."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, method: str, /, **params: Any) -> Any:
        self.calls.append((method, params))
        assert method == "futures_mark_price"
        return {"symbol": params["symbol"], "markPrice": "94625.50000000"}


def _snapshot(qty: str) -> VenueSnapshot:
    position = Position(symbol="BTCUSDT", qty=D(qty), entry_price=D("94000"))
    return VenueSnapshot(
        event_time_ms=1,
        recv_time_ms=1,
        balances=(),
        positions=(position,),
        open_orders=(),
        reason="start",
        symbols=("BTCUSDT",),
    )


def test_the_start_refuses_it_as_a_start_needing_the_user():
    """Exit status 2: a supervisor does not restart it (the same start fails the same way)."""
    exchange = Exchange()

    with pytest.raises(DaemonError) as refused:
        asyncio.run(check_unknown_positions(exchange, _snapshot("20"), {"BTCUSDT": D(0)}, LIMIT))  # type: ignore[arg-type]

    assert refused.value.failure is StartFailure.NEEDS_THE_USER
    assert "BTCUSDT 20 (1892510.00 USDT at the mark 94625.50000000;" in str(refused.value)
    assert exchange.calls == [("futures_mark_price", {"symbol": "BTCUSDT"})]


def test_the_journals_own_position_costs_no_read_of_the_mark():
    exchange = Exchange()

    asyncio.run(check_unknown_positions(exchange, _snapshot("0.5"), {"BTCUSDT": D("0.5")}, LIMIT))  # type: ignore[arg-type]

    assert exchange.calls == []


def test_a_hand_position_recovered_at_a_restart_is_refused_as_on_a_new_journal():
    """The journal held 0.002; while down a hand order bought 19.998 (booked as outside): the
    exchange's 20 BTC is not explained, 20 * 94625.5 = 1892510.00 USDT."""
    exchange = Exchange()
    recovered = [_filled("outside:web_Ab12", Side.BUY, "19.998")]

    with pytest.raises(DaemonError) as refused:
        asyncio.run(
            check_unknown_positions(
                exchange,
                _snapshot("20"),
                {"BTCUSDT": D("0.002")},
                LIMIT,
                recovered,  # type: ignore[arg-type]
            )
        )

    assert "BTCUSDT 20 (1892510.00 USDT at the mark 94625.50000000; the journal holds 0.002)" in (
        str(refused.value)
    )
