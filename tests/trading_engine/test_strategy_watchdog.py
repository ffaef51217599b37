"""The watchdog of slow strategy calls: a callback over `ExecConfig.max_strategy_call_ms`
(100 ms by default) is counted, its time kept if the slowest, and warned about at most once a
minute; nothing is decided on it. Time comes from a fake timer the strategy moves on, as a
slow callback would move the real one."""

import logging
from collections import deque
from dataclasses import replace
from decimal import Decimal as D

import pytest

from backtest.data import Klines, load_klines
from backtest.runner import BacktestConfig, run_backtest
from core.market import Bar
from core.orders import TargetPosition
from runtime.settings import ConfigError, load_settings
from runtime.status_file import HostTime, report
from tests.backtest.test_reference_loop import KLINES
from tests.trading_engine.support import ScriptedStrategy, make_rig
from trading_engine.heartbeat_line import slow_note
from trading_engine.main_trading_strategy import Proposals


class FakeTimer:
    """Nanoseconds, as time.perf_counter_ns; moves only when told."""

    def __init__(self) -> None:
        self.now = 5_000_000_000

    def __call__(self) -> int:
        return self.now


class Taking(ScriptedStrategy):
    """Scripted; each on_bar / on_start takes the next of `takes_ms` on the timer."""

    def __init__(self, timer: FakeTimer, *takes_ms: float) -> None:
        super().__init__()
        self.timer = timer
        self.takes_ms = deque(takes_ms)

    def _take(self) -> None:
        if self.takes_ms:
            self.timer.now += int(self.takes_ms.popleft() * 1_000_000)

    def on_bar(self, bar: Bar, view) -> Proposals:  # type: ignore[no-untyped-def]
        self._take()
        return super().on_bar(bar, view)

    def on_start(self, symbol: str, view) -> Proposals:  # type: ignore[no-untyped-def]
        self._take()
        return super().on_start(symbol, view)


def rig_taking(*takes_ms: float):  # type: ignore[no-untyped-def]
    timer = FakeTimer()
    return make_rig(strategy=Taking(timer, *takes_ms), timer=timer), timer


def test_a_call_over_the_budget_is_counted_with_its_time():
    rig, _ = rig_taking(150)

    rig.next_bar()

    status = rig.em.status()
    assert (status.slow_strategy_calls, status.slowest_strategy_call_ms) == (1, 150.0)


def test_a_call_of_exactly_the_budget_is_not_counted():
    rig, _ = rig_taking(100)

    rig.next_bar()

    assert rig.em.status().slow_strategy_calls == 0


def test_the_slowest_call_is_kept_and_every_slow_one_counted():
    rig, _ = rig_taking(150, 20, 400, 120)

    for _ in range(4):
        rig.next_bar()

    status = rig.em.status()
    assert (status.slow_strategy_calls, status.slowest_strategy_call_ms) == (3, 400.0)


def test_on_start_is_measured_too():
    rig, _ = rig_taking(250)

    rig.trade("60000")  # the first live trade: on_start

    assert rig.em.status().slow_strategy_calls == 1


def test_slow_calls_are_warned_about_at_most_once_a_minute(caplog):
    rig, timer = rig_taking(0, 150, 250, 300)  # on_start at the first bar (no trade): quick
    caplog.set_level(logging.WARNING, logger="trading_engine.exec_manager")

    rig.next_bar()
    rig.next_bar()
    timer.now += 60 * 10**9
    rig.next_bar()

    warnings = [r.getMessage() for r in caplog.records if "max_call_ms" in r.getMessage()]
    assert len(warnings) == 2
    assert warnings[0] == (
        "strategy scripted: on_bar(Bar BTCUSDT 2024-08-08 10:21:00 UTC) took 150 ms, over "
        "strategy.max_call_ms = 100: market data, the user stream and protection waited that "
        "long; 1 call(s) over it so far (slowest 150 ms; said at most once a minute)"
    )
    assert "3 call(s) over it so far (slowest 300 ms" in warnings[1]


def test_a_slow_strategy_trades_exactly_as_a_fast_one():
    says = [TargetPosition(symbol="BTCUSDT", qty=D("0.010"), reason="t")]
    fast, _ = rig_taking()
    slow, _ = rig_taking(500)

    for rig in (fast, slow):
        rig.say(*says)

    assert slow.em.status().slow_strategy_calls == 1
    assert slow.venue.submitted == fast.venue.submitted
    assert slow.journal.events == fast.journal.events


def test_a_backtest_whose_every_call_is_over_the_budget_has_the_same_results():
    """A budget no call meets (1 ns) against one every call meets, on the plain loop (every
    one of the day's 1,440 bars through on_bar, the first after on_start): the same summary,
    orders and fills; only the
    count of slow calls differs, and it is not in the summary. (Not against the default
    100 ms: the budget is real time, and a call a busy machine stops for that long is slow.)"""
    week = load_klines(KLINES)
    day = Klines(*(getattr(week, c)[:1440] for c in week.__slots__))
    params = {"fast": 2, "slow": 3, "order_notional_usdt": D(1000)}
    base = BacktestConfig(
        strategy_params=params, fast_path=False, max_strategy_call_ms=D(3_600_000)
    )

    plain = run_backtest(day, base)
    timed = run_backtest(day, replace(base, max_strategy_call_ms=D("0.000001")))

    assert (timed.slow_strategy_calls, plain.slow_strategy_calls) == (1 + 1440, 0)
    plain_summary, timed_summary = plain.summary_dict(), timed.summary_dict()
    del plain_summary["settings"]["max_strategy_call_ms"]
    del timed_summary["settings"]["max_strategy_call_ms"]
    assert timed_summary == plain_summary
    assert timed.journal.orders == plain.journal.orders
    assert timed.journal.fills == plain.journal.fills


def test_the_heartbeat_notes_slow_calls_only_when_there_are_some():
    rig, _ = rig_taking(150, 400)
    quiet = slow_note(rig.em.status(), 100)

    rig.next_bar()
    rig.next_bar()

    assert quiet == ""
    assert slow_note(rig.em.status(), 100) == (
        " | slow strategy calls 2 (over 100 ms, slowest 400 ms)"
    )


def test_status_reports_the_slow_calls_of_this_run(tmp_path):
    (tmp_path / "status.json").write_text(
        '{"state": "running", "updated_ms": 1000, "started_ms": 0, "heartbeat_s": 10, '
        '"strategy_max_call_ms": 100, "strategy_slow_calls": 3, "strategy_slowest_ms": 412}'
    )

    lines = report(tmp_path, journal_held=True, now=HostTime(2000)).lines

    assert (
        "strategy calls over 100 ms this run: 3 (slowest 412 ms): each held the event loop" in lines
    )


def test_the_budget_is_strategy_max_call_ms_at_least_one_ms(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[strategy]\nmax_call_ms = 0\n")

    with pytest.raises(ConfigError) as refused:
        load_settings(config, env_file=None)

    assert str(refused.value) == (
        "strategy.max_call_ms = 0 is not allowed: expected milliseconds >= 1"
    )
    assert load_settings(None, env_file=None).strategy.max_call_ms == 100


def test_the_heartbeat_and_status_say_errors_on_items_only_when_there_are_some(tmp_path):
    from trading_engine.heartbeat_line import item_errors_note

    assert item_errors_note(0) == ""
    assert item_errors_note(7) == " | ERRORS on items 7 (see the log)"
    (tmp_path / "status.json").write_text(
        '{"state": "running", "updated_ms": 1000, "started_ms": 0, "heartbeat_s": 10, '
        '"item_errors": 7}'
    )
    lines = report(tmp_path, journal_held=True, now=HostTime(2000)).lines
    assert (
        "ERRORS on market-data items this run: 7 (a strategy's among them; each is in the log "
        "with its traceback)" in lines
    )
