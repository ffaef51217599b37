"""Why each order was sent and cancelled, from the decisions journaled before them (what the
ExecManager journals, in its order)."""

from book_keeper.order_reasons import OrderReasons
from core.events import CANCEL_ALL, CANCEL_ALL_BUT_PROTECTION


def test_an_order_takes_the_last_decision_before_it_and_a_cancel_names_its_order():
    r = OrderReasons()
    r.decision("BTCUSDT", "sma_crossover", "target 0.010 (market)", "sma10 > sma50: long")
    r.submitted("bt-1", "BTCUSDT", protective=False)
    r.ended("bt-1")  # filled
    r.decision("BTCUSDT", "exec_manager", "SELL close-position STOP_MARKET stop 92774.5", "")
    r.submitted("bt-2", "BTCUSDT", protective=True)
    r.decision("BTCUSDT", "exec_manager", "cancel bt-2", "stale: open 30001 ms (max 30000 ms)")

    assert r.sent == {
        "bt-1": "sma_crossover: sma10 > sma50: long",
        # no reason given: the action says what was decided
        "bt-2": "exec_manager: SELL close-position STOP_MARKET stop 92774.5",
    }
    assert r.cancelled == {"bt-2": "exec_manager: stale: open 30001 ms (max 30000 ms)"}


def test_a_cancel_all_names_the_symbols_open_orders_and_keeps_the_protection_it_keeps():
    r = OrderReasons()
    r.decision("BTCUSDT", "s", "buy 0.002 @ 60000", "bid")
    r.submitted("a", "BTCUSDT", protective=False)
    r.submitted("stop", "BTCUSDT", protective=True)
    r.submitted("filled", "BTCUSDT", protective=False)
    r.ended("filled")
    r.decision("ETHUSDT", "s", "buy 0.1 @ 2000", "eth bid")
    r.submitted("eth", "ETHUSDT", protective=False)

    r.decision("BTCUSDT", "exec_manager", CANCEL_ALL_BUT_PROTECTION, "kill switch")
    assert r.cancelled == {"a": "exec_manager: kill switch"}
    r.decision("BTCUSDT", "exec_manager", CANCEL_ALL, "flat: halted")
    assert r.cancelled == {"a": "exec_manager: flat: halted", "stop": "exec_manager: flat: halted"}
    assert r.sent["eth"] == "s: eth bid" and "eth" not in r.cancelled
