"""The fast path's last quiet bar before an event, taken at its close without the pipeline.

`backtest.runner`'s `catch_up` (the clock and the engine's prices), `ExecManager.catch_up_bar`
(the books' mark, the equity check, the latest bar and target) and
`SmaCrossover.last_proposals` (the target with its reason, after `absorb_bars` took the
windows) stand in for `bar(j)` at the last quiet bar j of each skip. Each object is compared
here with what the plain bar-by-bar loop leaves in it, on the bundled real week of BTCUSDT
1m klines cut right after a bar the fast run caught up (so that bar is the run's last, and
the fast run's objects are in their caught-up state at its end): the clock, the engine, the
books, the RiskManager, the ExecManager, the strategy. Cases: a position with its stop-loss,
a position with a stop-loss and a take-profit, the strategy still warming up (no target),
a target held after its stop closed the position, slippage with recorded funding, and
HALTED after a drawdown. Every output of whole runs is compared in test_fast_path.py.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from decimal import Decimal as D
from typing import Any

import pytest

from backtest import runner
from backtest.data import Klines, load_klines
from backtest.runner import BacktestConfig, backtest_risk, run_backtest
from core.market import Bar, MarkPrice
from tests.backtest.test_reference_loop import KLINES
from trading_engine.main_trading_strategy import NO_PROPOSALS
from trading_engine.strategies.sma_crossover import SmaCrossover

SYMBOL = "BTCUSDT"
BASE = BacktestConfig(strategy_params={"order_notional_usdt": D(1000)})
TIGHT = replace(  # stops 0.3 % and take-profits 0.5 % away: many fire, positions held flat
    BASE, risk=replace(backtest_risk(D(1000)), stop_loss_pct=D("0.3"), take_profit_pct=D("0.5"))
)
HALTING = replace(  # a 2 % drawdown limit with 5,000 USDT positions: HALTED after ~870 bars
    BASE,
    strategy_params={"order_notional_usdt": D(5000)},
    risk=replace(backtest_risk(D(5000)), max_drawdown_pct=D(2), max_daily_loss_pct=D(0)),
)


@dataclass(frozen=True)
class Case:
    bars: int  # the week's first bars run; the fast run catches up the last of them
    config: BacktestConfig
    state: Callable[[Any], bool]  # what the case is about, true of both rigs at the end


def _position(rig: Any) -> D:
    qty: D = rig.book.position(SYMBOL).qty
    return qty


CASES = {
    # 10,080 bars: the whole week, whose last bar the fast run catches up.
    "a position with its stop-loss": Case(
        10_080, BASE, lambda rig: _position(rig) != 0 and len(rig.book.orders) == 1
    ),
    "a position with a stop-loss and a take-profit": Case(
        65, TIGHT, lambda rig: _position(rig) != 0 and len(rig.book.orders) == 2
    ),
    "warming up: no target yet": Case(
        49, BASE, lambda rig: rig.em.target(SYMBOL) is None and rig.strategy.regime(SYMBOL) == 0
    ),
    "a target held after its stop closed the position": Case(
        138, TIGHT, lambda rig: _position(rig) == 0 and rig.em.target_held(SYMBOL)
    ),
    "slippage and recorded funding": Case(
        10_080,
        replace(BASE, slippage_bps=D(2), funding="auto"),
        lambda rig: _position(rig) != 0 and rig.engine.engine.books[SYMBOL].funding_rate != 0,
    ),
    "HALTED after a drawdown, flat": Case(
        1200, HALTING, lambda rig: str(rig.risk.state) == "HALTED" and _position(rig) == 0
    ),
}


def _head(week: Klines, n: int) -> Klines:
    return Klines(*(getattr(week, f)[:n] for f in week.__slots__))


@dataclass
class Runs:
    plain: Any  # backtest.runner._Rig after the plain loop
    fast: Any  # ... after the fast path, whose last bar was caught up
    last_bar: Bar  # the last bar, as the plain loop gave it to the strategy
    last_proposals: Any  # what the strategy's on_bar returned for it (plain loop)


_RUNS: dict[str, Runs] = {}


@pytest.fixture(scope="module")
def week() -> Klines:
    return load_klines(KLINES)


@pytest.fixture(params=list(CASES), ids=list(CASES))
def runs(request: pytest.FixtureRequest, week: Klines) -> Runs:
    """The plain and the fast run of a case (once per module: the week's plain run takes
    seconds), checked to be what the case is about."""
    name: str = request.param
    if name not in _RUNS:
        case = CASES[name]
        data = _head(week, case.bars)
        rigs: list[Any] = []
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(runner, "_Rig", _kept(rigs))
            run_backtest(data, replace(case.config, fast_path=False))
            run_backtest(data, replace(case.config, fast_path=True))
        plain, fast = rigs
        last_open = data.open_time[-1]
        # The fast run's last bar was caught up, not run through the pipeline.
        assert fast.caught_up and fast.caught_up[-1] == last_open, (
            f"{name}: the fast run's last bar went through the pipeline; cut the week right "
            "after a bar the fast path catches up (a skip's last quiet bar)"
        )
        assert last_open not in fast.bars_seen and plain.caught_up == []
        assert case.state(plain) and case.state(fast)
        _RUNS[name] = Runs(plain, fast, plain.bars_seen[last_open], plain.last_proposals)
    return _RUNS[name]


def _kept(rigs: list[Any]) -> type:
    class Kept(runner._Rig):
        """Keeps itself, the bars its strategy saw with what it answered last, and the bars
        the ExecManager caught up."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            rigs.append(self)
            self.bars_seen: dict[int, Bar] = {}
            self.last_proposals: Any = None
            self.caught_up: list[int] = []
            on_bar, catch_up_bar = self.strategy.on_bar, self.em.catch_up_bar

            def seen(bar: Bar, view: Any) -> Any:
                self.bars_seen[bar.open_time_ms] = bar
                self.last_proposals = on_bar(bar, view)
                return self.last_proposals

            def caught(mark: MarkPrice, bar_open_ms: int, proposals: Any) -> None:
                self.caught_up.append(bar_open_ms)
                catch_up_bar(mark, bar_open_ms, proposals)

            self.strategy.on_bar = seen  # type: ignore[method-assign]
            self.em.catch_up_bar = caught  # type: ignore[method-assign]

    return Kept


# --- each object after the catch-up == after the plain loop ---------------------------------


def test_the_clock_is_at_the_last_bars_close(runs: Runs) -> None:
    close = runs.last_bar.close_time_ms
    assert runs.plain.clock.now_ms() == runs.fast.clock.now_ms() == close


def engine_state(rig: Any) -> dict[str, Any]:
    """The engine's prices (last trade, touch, mark, index, funding) and its timers, margin
    flags and pending reports."""
    core = rig.engine.engine
    b = core.books[SYMBOL]
    acct = core.ledger.account(runner.ACCOUNT)
    return {
        "last": (b.last_ticks, b.last_time),
        "touch": (b.book_touch, b.recorded_top, b.book_time),
        "mark": (b.mark, b.index_price, b.funding_rate, b.next_funding_time, b.mark_time),
        "thresholds": (b.lo, b.hi),
        "timers": (core._next_timer_ms, core.timers.next_ms, core.timers.next_funding_ms),
        "account": (
            acct.wallet,
            {s: (p.amt, p.entry) for s, p in acct.positions.items()},
            acct.margin_called,
        ),
        "pending": (core.events.pending, rig.venue.pending),
    }


def test_the_engines_prices_are_the_last_bars_close(runs: Runs) -> None:
    plain = engine_state(runs.plain)
    assert engine_state(runs.fast) == plain
    bar = runs.last_bar
    inst = runs.plain.engine.engine.books[SYMBOL].inst
    assert plain["last"] == (inst.to_ticks(bar.close), bar.close_time_ms)
    assert plain["mark"][:2] == (bar.close, bar.close)
    assert plain["mark"][4] == bar.close_time_ms


def books_state(rig: Any) -> dict[str, Any]:
    """The books' prices, position, money and equity; their peak; when they sample next.
    Not compared: the in-memory minute curve and max drawdown, which the fast path keeps
    from the quiet bars' extremes only (backtest/fast_path.py)."""
    book = rig.book
    b = book._books[SYMBOL]
    return {
        "prices": (b.mark, b.last, b.bid, b.ask, book.mark_price(SYMBOL)),
        "position": (b.qty, b.entry, b.realized, b.fees, b.funding, b.update_ms),
        "money": (book.wallet(), book.equity(), book.funding, book.realized_pnl),
        "peak": book.peak_equity,
        "next_sample_ms": book._next_sample_ms,
        "held": (dict(book._held_positions), book._held_balance),
        "orders": sorted((cid, o.status, o.stop_price) for cid, o in book.orders.items()),
    }


def test_the_books_are_marked_at_the_last_bars_close(runs: Runs) -> None:
    plain = books_state(runs.plain)
    assert books_state(runs.fast) == plain
    assert plain["prices"][0] == runs.last_bar.close


def risk_state(rig: Any) -> tuple[Any, ...]:
    r = rig.risk
    return (
        r.state,
        r.reason,
        r.peak_equity,
        r.day_start_equity,
        r._last_equity,
        r._last_realized,
        r._day,
        r._trades_today,
    )


def test_the_risk_manager_saw_the_last_bars_equity(runs: Runs) -> None:
    plain = risk_state(runs.plain)
    assert risk_state(runs.fast) == plain
    assert plain[4] == runs.plain.book.equity()  # the equity check at the close


def exec_state(rig: Any) -> dict[str, Any]:
    """The ExecManager's latest targets (with their reasons) and what it journaled of them,
    its equity check's schedule, last bars, lags, the stale-order watch (a heap: compared
    as a set), the protective orders it awaits answers for, and its counters."""
    em = rig.em
    return {
        "targets": dict(em._targets),
        "journaled": (dict(em._journaled_target), dict(em._denied_target)),
        "held": dict(em._closed_by_protection),
        "equity": (em._next_equity_ms, em._last_equity),
        "bars": dict(em._last_bar_open),
        "lag": dict(em._lag_ms),
        "marked": set(em._marked),
        "stale": (sorted(em._stale), set(em._watched)),
        "fired": (dict(em._fired_seen), em._fired_due),
        "counters": asdict(em.counters),
    }


def test_the_exec_manager_ends_the_last_bar_as_on_item_leaves_it(runs: Runs) -> None:
    plain = exec_state(runs.plain)
    assert exec_state(runs.fast) == plain
    assert plain["bars"][SYMBOL] == runs.last_bar.open_time_ms
    assert plain["equity"] == (runs.last_bar.close_time_ms + 1000, runs.plain.book.equity())


def strategy_state(rig: Any) -> Any:
    st = rig.strategy._states[SYMBOL]
    return (
        st.fast.values,
        st.slow.values,
        st.fast.sum,
        st.slow.sum,
        st.regime,
        st.target,
        st.last_open_ms,
    )


def test_the_strategy_took_the_last_bar_and_repeats_its_proposal(runs: Runs) -> None:
    assert strategy_state(runs.fast) == strategy_state(runs.plain)
    assert strategy_state(runs.plain)[-1] == runs.last_bar.open_time_ms
    # What on_bar returned for the last bar in the plain loop, reason and all.
    assert runs.fast.strategy.last_proposals(SYMBOL) == runs.last_proposals
    # In ACTIVE it is the ExecManager's latest target; outside ACTIVE it is denied (silently,
    # as at every quiet bar) and recorded nowhere.
    if runs.last_proposals and str(runs.plain.risk.state) == "ACTIVE":
        assert runs.fast.em.target(SYMBOL) == runs.last_proposals[0]


# --- the catch-up's own rules ---------------------------------------------------------------


def test_without_last_proposals_the_last_quiet_bar_runs_through_the_pipeline(
    week: Klines,
) -> None:
    """A strategy that cannot say what it proposed at a bar it absorbed: each skip's last
    quiet bar goes through on_bar and the whole pipeline, as before the catch-up, and the
    run is the same."""
    data = _head(week, 3000)
    rigs: list[Any] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "_Rig", _kept(rigs))
        caught = run_backtest(data, BASE)
        mp.setattr(SmaCrossover, "last_proposals", None)
        # (its on_start says the same: nothing, before the slow window is full)
        mp.setattr(SmaCrossover, "on_start", lambda self, symbol, view: NO_PROPOSALS)
        piped = run_backtest(data, BASE)
    with_catch_up, without = rigs
    assert with_catch_up.caught_up and without.caught_up == []
    assert len(without.bars_seen) - len(with_catch_up.bars_seen) == len(with_catch_up.caught_up)
    assert piped.fast_path_skips == caught.fast_path_skips
    assert piped.fast_path_bars == caught.fast_path_bars - caught.fast_path_skips
    assert list(piped.equity) == list(caught.equity)
    assert piped.journal.fills == caught.journal.fills
    assert list(piped.journal.orders.items()) == list(caught.journal.orders.items())
    assert piped.counters == caught.counters


def test_a_proposal_other_than_the_worked_target_is_refused(week: Klines) -> None:
    """A quiet bar proposes the target already worked; anything else would be decided,
    journaled and worked by the pipeline, so the catch-up refuses it loudly, as it does a
    bar not newer than the last."""
    rigs: list[Any] = []
    case = CASES["a position with a stop-loss and a take-profit"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "_Rig", _kept(rigs))
        run_backtest(_head(week, case.bars), case.config)
    (rig,) = rigs
    worked = rig.em.target(SYMBOL)
    assert worked is not None and worked.qty == _position(rig)
    later = week.open_time[case.bars]
    close = D(week.close[case.bars])
    rig.clock.catch_up(later + 59_999)
    mark = MarkPrice(SYMBOL, close, close, D(0), 0, later + 59_999, later + 59_999)
    other = replace(worked, qty=-worked.qty)
    with pytest.raises(RuntimeError, match="not a target already worked"):
        rig.em.catch_up_bar(mark, later, (other,))
    assert rig.em.target(SYMBOL) == worked
    with pytest.raises(RuntimeError, match="is not newer"):
        rig.em.catch_up_bar(mark, later, ())


def test_in_halted_a_target_not_denied_yet_is_refused(week: Klines) -> None:
    """HALTED and flat, a quiet bar's target is one the ExecManager denied already (for the
    same reason): it repeats silently. A new one would be denied and journaled by the
    pipeline, so the catch-up refuses it loudly."""
    rigs: list[Any] = []
    case = CASES["HALTED after a drawdown, flat"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "_Rig", _kept(rigs))
        run_backtest(_head(week, case.bars), case.config)
    (rig,) = rigs
    assert case.state(rig)
    (denied,) = rig.strategy.last_proposals(SYMBOL)  # the last flip's target, denied once
    later = week.open_time[case.bars]
    close = D(week.close[case.bars])
    rig.clock.catch_up(later + 59_999)
    mark = MarkPrice(SYMBOL, close, close, D(0), 0, later + 59_999, later + 59_999)
    rig.em.catch_up_bar(mark, later, (denied,))  # denied already: silent
    with pytest.raises(RuntimeError, match="would be denied and journaled"):
        rig.em.catch_up_bar(mark, later + 60_000, (replace(denied, qty=-denied.qty),))
