"""History lookups answer from indexes, and the history is bounded as Binance bounds it.

`GET /fapi/v1/allOrders`, `/fapi/v1/userTrades`, `/fapi/v1/income` and the look-up of an algo
order by `clientAlgoId` used to scan everything the exchange kept (allOrders every order of the
symbol, of every account); fills and incomes were never dropped. They now bisect per-account,
per-symbol lists kept in id order (which is also time order), and fills older than 6 months
(reference 6.9: "only the last 6 months") and incomes older than 3 months (7.8) are dropped
with the hourly look that forgets old orders (6.4).

The lookups are checked against a plain scan of the same state (the filters the endpoints
document, written out here), over a 10-day history of two accounts with orders forgotten on
the way; the retention by hand-placed fills and funding at known times.

Real BTCUSDT instrument and 2024-08-08 prices (`make_exchange`); time moves on the engine's
clock only.
"""

from decimal import Decimal
from typing import Any

import pytest

from core.enums import OrderType, Side, TimeInForce
from core.orders import OrderRequest
from exchange_sim.engine.engine import (
    FORGET_EVERY_MS,
    INCOME_RETENTION_MS,
    NO_FILL_RETENTION_MS,
    ORDER_RETENTION_MS,
    TRADE_RETENTION_MS,
)
from exchange_sim.errors import BinanceError
from tests.exchange_sim.test_engine_support import T0, make_exchange

D = Decimal
SYMBOL = "BTCUSDT"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def _request(cid: str, side: Side, kind: OrderType, price: str | None = None) -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL,
        side=side,
        type=kind,
        quantity=D("0.010"),
        price=D(price) if price else None,
        time_in_force=TimeInForce.GTC if price else None,
        client_order_id=cid,
    )


def _stop(cid: str) -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL,
        side=Side.SELL,
        type=OrderType.STOP_MARKET,
        quantity=D("0.010"),
        stop_price=D("50000.0"),
        reduce_only=True,
        client_order_id=cid,
    )


def _ten_days(ex: Any, clock: Any) -> None:
    """Every 3 hours for 10 days, alice and bob: a MARKET fill, a LIMIT canceled without a
    fill, and (alice, every 12 hours) a reduce-only stop under one of two client ids she uses
    again and again (canceled); the exchange's hourly look forgets as it goes."""
    e = ex.engine
    for n in range(10 * 8):
        now = T0 + n * 3 * HOUR_MS
        clock.set_ms(now)
        ex.on_mark_price(SYMBOL, D("61800.0"), D("61800.0"), D("0.0001"), now + HOUR_MS, now)
        ex.on_book_ticker(SYMBOL, D("61800.2"), D("2"), D("61800.3"), D("2"), now)
        for who in ("alice", "bob"):
            side = Side.BUY if n % 2 == 0 else Side.SELL
            e.submit(who, _request(f"{who}-m-{n}", side, OrderType.MARKET))
            e.submit(who, _request(f"{who}-l-{n}", Side.BUY, OrderType.LIMIT, "60000.0"))
            e.cancel_order(who, SYMBOL, client_order_id=f"{who}-l-{n}")
        if n % 4 == 0:  # alice is long after an even n: the stop can reduce
            cid = f"sl-{n // 4 % 2}"
            e.submit("alice", _stop(cid))
            e.cancel_conditional("alice", SYMBOL, client_algo_id=cid)
        e.forget_old_orders(now)


def _window(ex: Any, p: dict[str, int | None], by_id: bool) -> tuple[int | None, int | None]:
    """The 7-day window of allOrders (6.4) and userTrades (6.9) unless read from an id."""
    start, end = p["startTime"], p["endTime"]
    if by_id:
        return start, end
    if start is None and end is None:
        return ex.engine.now_ms() - 7 * DAY_MS, None
    if start is None:
        return end - 7 * DAY_MS, end  # type: ignore[operator]
    if end is None:
        return start, start + 7 * DAY_MS
    return start, end


def _scan_orders(ex: Any, who: str, p: dict[str, int | None], limit: int) -> list[int]:
    start, end = _window(ex, p, p["orderId"] is not None)
    mine = [o for o in ex.engine.books[SYMBOL].orders.values() if o.account.account_id == who]
    mine = [
        o
        for o in mine
        if (p["orderId"] is None or o.order_id >= p["orderId"])
        and (start is None or o.time >= start)
        and (end is None or o.time <= end)
    ]
    mine.sort(key=lambda o: o.order_id)
    front = p["orderId"] is not None or p["startTime"] is not None
    return [o.order_id for o in (mine[:limit] if front else mine[-limit:])]


def _scan_trades(ex: Any, who: str, p: dict[str, int | None], limit: int) -> list[int]:
    from_id = p["fromId"]
    start, end = _window(ex, p, from_id is not None)
    rows = [
        t
        for t in ex.engine.account(who).trades[SYMBOL]
        if (p["orderId"] is None or t.order_id == p["orderId"])
        and (from_id is None or t.trade_id >= from_id)
        and (start is None or t.time >= start)
        and (end is None or t.time <= end)
    ]
    front = from_id is not None or p["startTime"] is not None
    return [t.trade_id for t in (rows[:limit] if front else rows[-limit:])]


def _scan_incomes(ex: Any, who: str, p: dict[str, Any], limit: int, page: int) -> list[int]:
    start, end = p["startTime"], p["endTime"]
    if start is None and end is None:
        start = ex.engine.now_ms() - 7 * DAY_MS
    rows = [
        i
        for i in ex.engine.account(who).incomes
        if (p["incomeType"] is None or i.income_type == p["incomeType"])
        and (start is None or i.time >= start)
        and (end is None or i.time <= end)
    ]
    return [i.tran_id for i in rows[(page - 1) * limit : page * limit]]


def _params(p: dict[str, Any], **more: Any) -> dict[str, str]:
    return {"symbol": SYMBOL, **{k: str(v) for k, v in {**p, **more}.items() if v is not None}}


@pytest.fixture(scope="module")
def history() -> Any:
    ex, clock = make_exchange()
    ex.create_account("bob", {"USDT": D(10_000)})
    _ten_days(ex, clock)
    return ex


def test_the_retention_is_the_references():
    assert TRADE_RETENTION_MS == 180 * DAY_MS  # userTrades: "only the last 6 months"
    assert INCOME_RETENTION_MS == 90 * DAY_MS  # income: "only the last 3 months"


def test_all_orders_answers_as_a_scan_of_every_order_kept(history: Any) -> None:
    ex = history
    kept = sorted(o.order_id for o in ex.engine.books[SYMBOL].orders.values())
    times = sorted(o.time for o in ex.engine.books[SYMBOL].orders.values())
    some_id, some_time = kept[len(kept) // 3], times[len(times) // 2]
    cases = [
        {"orderId": oid, "startTime": start, "endTime": end}
        for oid in (None, kept[0], some_id, kept[-1] + 1)
        for start in (None, some_time, some_time + 1)
        for end in (None, some_time, times[-1])
        if start is None or end is None or start <= end  # else -1023
    ]
    assert len(kept) < 10 * 8 * 2 * 2  # precondition: canceled orders were forgotten on the way

    for who in ("alice", "bob"):
        for p in cases:
            for limit in (1, 7, 500):
                answer = ex.all_orders(who, _params(p, limit=limit))
                assert [o["orderId"] for o in answer] == _scan_orders(ex, who, p, limit), p


def test_user_trades_answer_as_a_scan_of_every_fill_kept(history: Any) -> None:
    ex = history
    fills = ex.engine.account("alice").trades[SYMBOL]
    mid = fills[len(fills) // 2]
    now = ex.engine.now_ms()
    cases = [
        {"orderId": None, "fromId": None, "startTime": None, "endTime": None},
        {"orderId": None, "fromId": fills[0].trade_id, "startTime": None, "endTime": None},
        {"orderId": None, "fromId": mid.trade_id, "startTime": None, "endTime": None},
        {"orderId": mid.order_id, "fromId": None, "startTime": None, "endTime": None},
        {"orderId": mid.order_id, "fromId": fills[0].trade_id, "startTime": None, "endTime": None},
        {"orderId": None, "fromId": None, "startTime": mid.time, "endTime": None},
        {"orderId": None, "fromId": None, "startTime": None, "endTime": mid.time},
        {"orderId": None, "fromId": None, "startTime": mid.time, "endTime": now},
        {"orderId": fills[-1].order_id, "fromId": None, "startTime": mid.time, "endTime": None},
    ]

    for who in ("alice", "bob"):
        for p in cases:
            for limit in (1, 5, 1000):
                answer = ex.user_trades(who, _params(p, limit=limit))
                assert [t["id"] for t in answer] == _scan_trades(ex, who, p, limit), p


def test_income_answers_as_a_scan_of_every_income_kept(history: Any) -> None:
    ex = history
    incomes = ex.engine.account("bob").incomes
    mid = incomes[len(incomes) // 2].time
    cases = [
        {"incomeType": kind, "startTime": start, "endTime": end}
        for kind in (None, "COMMISSION", "FUNDING_FEE", "REALIZED_PNL")
        for start, end in ((None, None), (mid, None), (None, mid), (incomes[0].time, mid))
    ]
    assert {i.income_type for i in incomes} == {"COMMISSION", "FUNDING_FEE", "REALIZED_PNL"}

    for who in ("alice", "bob"):
        for p in cases:
            for limit, page in ((100, 1), (7, 1), (7, 3), (1000, 2)):
                answer = ex.income(who, _params(p, limit=limit, page=page))
                expected = _scan_incomes(ex, who, p, limit, page)
                assert [i["tranId"] for i in answer] == expected, (p, limit, page)


def test_an_algo_order_by_client_id_is_the_latest_kept_with_that_id(history: Any) -> None:
    ex = history
    algos = list(ex.engine.account("alice").algos.values())
    client_ids = {a.client_id for a in algos}
    assert len(algos) > len(client_ids)  # precondition: ids were used again

    for cid in [*sorted(client_ids), "never-used"]:
        latest = [a.algo_id for a in algos if a.client_id == cid][-1:]
        if latest:
            answer = ex.query_algo_order("alice", {"clientAlgoId": cid})
            assert answer["algoId"] == latest[0]
        else:
            with pytest.raises(BinanceError) as e:
                ex.query_algo_order("alice", {"clientAlgoId": cid})
            assert e.value.code == -2013


def test_a_client_algo_id_falls_back_to_the_older_order_once_the_newer_is_forgotten():
    ex, _ = make_exchange()
    e = ex.engine
    e.submit("alice", _request("m-1", Side.BUY, OrderType.MARKET))  # long 0.010
    e.submit("alice", OrderRequest(**{**_fields(_stop("sl")), "stop_price": D("61700.0")}))
    ex.on_trade(SYMBOL, D("61700.0"), D("1"), True, T0 + 1_000)  # fires and fills: kept 90 d
    filled = ex.query_algo_order("alice", {"clientAlgoId": "sl"})
    e.submit("alice", _request("m-2", Side.BUY, OrderType.MARKET))
    e.submit("alice", _stop("sl"))  # the id again; canceled without a fill: kept 3 days
    e.cancel_conditional("alice", SYMBOL, client_algo_id="sl")
    newer = ex.query_algo_order("alice", {"clientAlgoId": "sl"})

    e.forget_old_orders(T0 + NO_FILL_RETENTION_MS + FORGET_EVERY_MS)
    after_3_days = ex.query_algo_order("alice", {"clientAlgoId": "sl"})
    e.forget_old_orders(T0 + ORDER_RETENTION_MS + 2 * FORGET_EVERY_MS)

    assert (filled["algoStatus"], newer["algoStatus"]) == ("FINISHED", "CANCELED")
    assert after_3_days["algoId"] == filled["algoId"] != newer["algoId"]
    with pytest.raises(BinanceError) as err:
        ex.query_algo_order("alice", {"clientAlgoId": "sl"})
    assert err.value.code == -2013
    assert e.account("alice").algos_by_client == {}


def test_fills_are_dropped_after_6_months_and_incomes_after_3():
    ex, clock = make_exchange()
    e = ex.engine
    e.submit("alice", _request("m-1", Side.BUY, OrderType.MARKET))  # fill + commission at T0
    later = T0 + 100 * DAY_MS
    clock.set_ms(later)
    e.submit("alice", _request("m-2", Side.SELL, OrderType.MARKET))  # + realized PnL at T0+100d
    everything = {"symbol": SYMBOL, "startTime": "0", "limit": "1000"}
    first_fills = [t["time"] for t in ex.user_trades("alice", {"symbol": SYMBOL, "fromId": "0"})]
    first_incomes = [(i["incomeType"], i["time"]) for i in ex.income("alice", everything)]

    e.forget_old_orders(later + FORGET_EVERY_MS)  # 100 days on: T0's income is past 3 months
    fills_100 = [t["time"] for t in ex.user_trades("alice", {"symbol": SYMBOL, "fromId": "0"})]
    incomes_100 = [(i["incomeType"], i["time"]) for i in ex.income("alice", everything)]
    e.forget_old_orders(T0 + TRADE_RETENTION_MS + 2 * FORGET_EVERY_MS)  # T0's fill: 6 months
    fills_181 = [t["time"] for t in ex.user_trades("alice", {"symbol": SYMBOL, "fromId": "0"})]

    assert first_fills == [T0, later]
    assert first_incomes == [("COMMISSION", T0), ("REALIZED_PNL", later), ("COMMISSION", later)]
    assert fills_100 == [T0, later]
    assert incomes_100 == [("REALIZED_PNL", later), ("COMMISSION", later)]
    assert fills_181 == [later]


def test_a_200_day_run_keeps_a_bounded_history():
    # A fill every 2 hours for 200 days, the look running each time: 180 days of fills stay,
    # 90 days of incomes, 90 days of (filled) orders.
    ex, clock = make_exchange()
    e = ex.engine
    for n in range(200 * 12):
        now = T0 + n * 2 * HOUR_MS
        clock.set_ms(now)
        ex.on_book_ticker(SYMBOL, D("61800.2"), D("2"), D("61800.3"), D("2"), now)
        side = Side.BUY if n % 2 == 0 else Side.SELL
        e.submit("alice", _request(f"m-{n}", side, OrderType.MARKET))
        e.forget_old_orders(now)

    acct = e.account("alice")
    assert 180 * 12 <= len(acct.trades[SYMBOL]) <= 180 * 12 + 1
    assert e.now_ms() - acct.trades[SYMBOL][0].time < TRADE_RETENTION_MS + HOUR_MS
    assert e.now_ms() - acct.incomes[0].time < INCOME_RETENTION_MS + HOUR_MS
    assert len(acct.order_history[SYMBOL]) == len(e.books[SYMBOL].orders) <= 90 * 12 + 1


def _fields(request: OrderRequest) -> dict:
    return {name: getattr(request, name) for name in request.__dataclass_fields__}
