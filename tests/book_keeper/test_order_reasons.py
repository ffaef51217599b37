"""Why each order was sent and cancelled, from the decisions journaled before them (what the
ExecManager journals, in its order)."""

from book_keeper.order_reasons import OrderReasons
from core.events import CANCEL_ALL, CANCEL_ALL_BUT_PROTECTION, DecisionMade


def decided(symbol: str, strategy: str, action: str, reason: str) -> DecisionMade:
    return DecisionMade(
        event_time_ms=1,
        recv_time_ms=1,
        symbol=symbol,
        strategy=strategy,
        action=action,
        reason=reason,
    )


def texts(r: OrderReasons, cids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    return (
        {c: r.sent_text(c) for c in cids if r.sent_text(c)},
        {c: r.cancelled_text(c) for c in cids if r.cancelled_text(c)},
    )


def test_an_order_takes_the_last_decision_before_it_and_a_cancel_names_its_order():
    r = OrderReasons()
    r.decision(decided("BTCUSDT", "sma_crossover", "target 0.010 (market)", "sma10 > sma50: long"))
    r.submitted("bt-1", "BTCUSDT", protective=False)
    r.ended("bt-1")  # filled
    r.decision(
        decided("BTCUSDT", "exec_manager", "SELL close-position STOP_MARKET stop 92774.5", "")
    )
    r.submitted("bt-2", "BTCUSDT", protective=True)
    stale = "stale: open 30001 ms (max 30000 ms)"
    r.decision(decided("BTCUSDT", "exec_manager", "cancel bt-2", stale))

    assert texts(r, ["bt-1", "bt-2", "bt-3"]) == (
        {
            "bt-1": "sma_crossover: sma10 > sma50: long",
            # no reason given: the action says what was decided
            "bt-2": "exec_manager: SELL close-position STOP_MARKET stop 92774.5",
        },
        {"bt-2": f"exec_manager: {stale}"},
    )


def test_a_cancel_all_names_the_symbols_open_orders_and_keeps_the_protection_it_keeps():
    r = OrderReasons()
    r.decision(decided("BTCUSDT", "s", "buy 0.002 @ 60000", "bid"))
    r.submitted("a", "BTCUSDT", protective=False)
    r.submitted("stop", "BTCUSDT", protective=True)
    r.submitted("filled", "BTCUSDT", protective=False)
    r.ended("filled")
    r.decision(decided("ETHUSDT", "s", "buy 0.1 @ 2000", "eth bid"))
    r.submitted("eth", "ETHUSDT", protective=False)
    cids = ["a", "stop", "filled", "eth"]

    r.decision(decided("BTCUSDT", "exec_manager", CANCEL_ALL_BUT_PROTECTION, "kill switch"))
    assert texts(r, cids)[1] == {"a": "exec_manager: kill switch"}
    r.decision(decided("BTCUSDT", "exec_manager", CANCEL_ALL, "flat: halted"))
    assert texts(r, cids)[1] == {
        "a": "exec_manager: flat: halted",
        "stop": "exec_manager: flat: halted",
    }
    assert r.sent_text("eth") == "s: eth bid" and r.cancelled_text("eth") == ""
