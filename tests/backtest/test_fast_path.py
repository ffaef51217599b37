"""The fast path (backtest/fast_path.py) gives exactly what the plain bar-by-bar loop gives.

On the bundled real week of BTCUSDT 1m klines and on the bundled real trade captures, each
case runs the backtest twice, with
`fast_path=False` (every bar through the pipeline: the reference) and with the fast path, and
compares everything it produces: every event of the daemon's SQLite journal (decisions with
their reasons, orders, fills, state changes, in order), the orders, the fills, the equity,
position and price series (float for float), the counters and summary.json. Cases: the
protective stops on and off, a stop hit by a price gap, latency and slippage, and the
RiskManager's drawdown and daily-loss halts. The fast path must also really skip (most bars).
"""

import sqlite3
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backtest import runner
from backtest.data import Klines, Trades, load, load_klines
from backtest.fast_path import (
    breach_ticks,
    equity_floats,
    equity_levels,
    first_reach,
    price_ticks,
    tick_floats,
)
from backtest.runner import BacktestConfig, BacktestResult, backtest_risk, run_backtest
from core.market import Bar
from tests.backtest.test_reference_loop import KLINES
from tests.backtest.test_runner import gap_data
from trading_engine.strategies.sma_crossover import SmaCrossover

BASE = BacktestConfig(strategy_params={"order_notional_usdt": D(1000)})


def journal_file(path: Path) -> Path:
    files = sorted(path.glob("*.sqlite*"))
    assert files, f"no journal in {path}"
    return files[0]


RIGS: list[Any] = []


@pytest.fixture(autouse=True)
def keep_rigs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep each run's live objects, to compare their state at the end too."""

    class Kept(runner._Rig):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            RIGS.append(self)
            self.bars_seen: dict[int, Bar] = {}
            on_bar = self.strategy.on_bar

            def seen(bar: Bar, view: Any) -> Any:
                self.bars_seen[bar.open_time_ms] = bar
                return on_bar(bar, view)

            self.strategy.on_bar = seen  # type: ignore[method-assign]

    RIGS.clear()
    monkeypatch.setattr(runner, "_Rig", Kept)


def live_state(rig: Any, symbol: str = "BTCUSDT") -> dict[str, Any]:
    """What the next item would see: the strategy's windows and target, the ExecManager's
    equity-check schedule, latest target and bar, the bar being built, the RiskManager's
    equity memory, the books' prices and equity, the clock."""
    em, risk, book = rig.em, rig.risk, rig.book
    st = rig.strategy._states.get(symbol)
    builder = em._builders.get(symbol)
    return {
        "strategy": None
        if st is None
        else (
            st.fast.values,
            st.slow.values,
            st.fast.sum,
            st.slow.sum,
            st.regime,
            st.target,
            st.last_open_ms,
        ),
        "em": (em._next_equity_ms, em._last_equity, dict(em._last_bar_open), em.target(symbol)),
        "bar": None if builder is None else builder.current(),
        "risk": (risk.state, risk.peak_equity, risk.day_start_equity, risk._last_equity),
        "book": (book.mark_price(symbol), book.equity(), book.position(symbol)),
        "clock": rig.clock.now_ms(),
    }


def both(
    data: Klines | Trades, config: BacktestConfig, tmp_path: Path
) -> tuple[BacktestResult, BacktestResult]:
    plain = run_backtest(data, replace(config, fast_path=False, journal_dir=tmp_path / "plain"))
    fast = run_backtest(data, replace(config, fast_path=True, journal_dir=tmp_path / "fast"))
    assert plain.fast_path_bars == 0
    assert_identical(plain, fast, tmp_path)
    assert len(RIGS) == 2
    assert live_state(RIGS[0]) == live_state(RIGS[1])
    # Every bar the strategy still sees one by one is the bar the plain loop gave it.
    seen_plain, seen_fast = RIGS[0].bars_seen, RIGS[1].bars_seen
    assert seen_fast and all(seen_plain[t] == bar for t, bar in seen_fast.items())
    return plain, fast


def assert_identical(a: BacktestResult, b: BacktestResult, tmp_path: Path) -> None:
    assert list(a.times_ms) == list(b.times_ms)
    assert list(a.equity) == list(b.equity)  # float for float
    assert list(a.positions) == list(b.positions)
    assert list(a.price_times) == list(b.price_times)
    assert list(a.prices) == list(b.prices)
    assert a.journal.fills == b.journal.fills
    assert list(a.journal.orders.items()) == list(b.journal.orders.items())
    assert a.journal.counts == b.journal.counts
    assert a.counters == b.counters
    assert a.summary_dict() == b.summary_dict()
    rows_a = _events(journal_file(tmp_path / "plain"))
    rows_b = _events(journal_file(tmp_path / "fast"))
    assert len(rows_a) == len(rows_b)
    for x, y in zip(rows_a, rows_b, strict=True):
        assert x == y


def _events(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT seq, event_time_ms, recv_time_ms, kind, symbol, payload FROM events"
            " ORDER BY seq"
        ).fetchall()


@pytest.fixture(scope="module")
def week() -> Klines:
    return load_klines(KLINES)


def test_stops_on_identical_and_most_bars_skipped(week: Klines, tmp_path: Path) -> None:
    plain, fast = both(week, BASE, tmp_path)
    stops = [o for o in plain.journal.orders.values() if o.type == "STOP_MARKET"]
    assert len(plain.journal.fills) > 250 and stops
    assert fast.fast_path_bars > 0.9 * len(week)


def test_stops_off_identical(week: Klines, tmp_path: Path) -> None:
    _, fast = both(week, replace(BASE, protect_positions=False), tmp_path)
    # The hand-checked reference loop's trade count (tests/backtest/test_reference_loop.py)
    # comes from this strategy: fast and plain make the same 291 fills here too.
    assert len(fast.journal.fills) == 291
    assert fast.fast_path_bars > 0.9 * len(week)


def test_a_stop_triggered_by_a_gap_identical(tmp_path: Path) -> None:
    data = gap_data()
    plain, fast = both(data, BASE, tmp_path)
    stop_ids = {cid for cid, o in plain.journal.orders.items() if o.type == "STOP_MARKET"}
    assert any(f.client_order_id in stop_ids for f in fast.journal.fills)  # it fired
    assert fast.fast_path_bars > 0


def head(week: Klines, n: int) -> Klines:
    return Klines(*(getattr(week, f)[:n] for f in week.__slots__))


def test_stops_hit_inside_bars_identical(week: Klines, tmp_path: Path) -> None:
    """Tight stops (0.3 %) and take-profits (0.5 %) on the week's first 4,000 bars: many fire
    within a bar's range, each an event of the fast path."""
    risk = replace(backtest_risk(D(1000)), stop_loss_pct=D("0.3"), take_profit_pct=D("0.5"))
    plain, fast = both(head(week, 4000), replace(BASE, risk=risk), tmp_path)
    fired = {o.client_order_id for o in plain.journal.orders.values() if o.status == "FILLED"}
    kinds = {o.type for o in plain.journal.orders.values() if o.client_order_id in fired}
    assert {"STOP_MARKET", "TAKE_PROFIT_MARKET"} <= kinds
    assert fast.fast_path_bars > 0.8 * 4000


def test_latency_and_slippage_identical(week: Klines, tmp_path: Path) -> None:
    config = replace(BASE, latency_ms=250, slippage_bps=D(2))
    plain, fast = both(week, config, tmp_path)
    assert plain.counters["submitted"] > 500
    assert fast.fast_path_bars > 0.8 * len(week)


def test_recorded_funding_identical(week: Klines, tmp_path: Path) -> None:
    """Recorded funding rates (the bundled BTCUSDT file): every settlement while a position
    is open is paid (FUNDING_FEE), each an event of the fast path."""
    plain, fast = both(head(week, 3000), replace(BASE, funding="auto"), tmp_path)
    assert plain.summary.funding != 0
    assert fast.fast_path_bars > 0.8 * 3000


def test_drawdown_halt_identical(week: Klines, tmp_path: Path) -> None:
    """A 2 % drawdown limit on 10,000 USDT with 5,000 USDT positions: the RiskManager halts
    after about 870 of the first 1,200 bars. HALTED and flat, the bars are quiet again
    between two of the strategy's regime flips (each flip's target is denied and journaled
    once; the ExecManager denies its repetitions silently), so they are skipped too."""
    risk = replace(backtest_risk(D(5000)), max_drawdown_pct=D(2), max_daily_loss_pct=D(0))
    config = replace(BASE, strategy_params={"order_notional_usdt": D(5000)}, risk=risk)
    plain, fast = both(head(week, 1200), config, tmp_path)
    assert plain.journal.counts.get("TradingStateChanged", 0) == 2  # REDUCING, HALTED
    assert plain.counters["denied"] > 5  # the flips after the halt, each denied once
    assert fast.fast_path_bars > 1000  # 812 when no HALTED bar could be quiet


@pytest.mark.parametrize(("pct", "usdt"), [(D(2), D(0)), (D(0), D(200))])
def test_daily_loss_halt_identical(week: Klines, tmp_path: Path, pct: D, usdt: D) -> None:
    """2 % of the 10,000 USDT start, as a percentage or in USDT: the same halt."""
    risk = replace(
        backtest_risk(D(5000)),
        max_daily_loss_pct=pct,
        max_daily_loss_usdt=usdt,
        max_drawdown_pct=D(0),
    )
    config = replace(BASE, strategy_params={"order_notional_usdt": D(5000)}, risk=risk)
    plain, fast = both(head(week, 1200), config, tmp_path)
    assert plain.journal.counts.get("TradingStateChanged", 0) == 2
    assert fast.fast_path_bars > 1000


def test_a_daily_loss_reached_by_the_fill_that_goes_flat_identical(
    week: Klines, tmp_path: Path
) -> None:
    """Long only, SMA 3/7 with 5,000 USDT orders and a 1 % daily loss: the fill that takes the
    position flat (bar 193 of the window) makes the day's loss 101.44 USDT, over the limit.
    The ExecManager feeds the equity to the RiskManager on a schedule, so the limit trips at
    the next check, the next bar's mark: flat, that bar looked quiet to the fast path (nothing
    open, no price level to reach), which took it and then failed on the halt
    (`catch_up_bar`: a quiet bar changed the state). Found by
    `test_fast_path_properties.py`."""
    risk = replace(
        backtest_risk(D(5000)),
        leverage=1,
        stop_loss_pct=D(0),
        take_profit_pct=D("0.3"),
        max_daily_loss_pct=D(1),
        max_drawdown_pct=D(0),
    )
    params = {"fast": 3, "slow": 7, "order_notional_usdt": D(5000), "allow_short": False}
    config = replace(BASE, strategy_params=params, risk=risk, reentry_hold=False)
    window = Klines(*(getattr(week, f)[6:406] for f in week.__slots__))
    plain, fast = both(window, config, tmp_path)
    assert plain.journal.counts.get("TradingStateChanged", 0) == 2  # REDUCING, HALTED
    assert fast.fast_path_bars > 100


def test_a_liquidation_inside_a_bar_identical(week: Klines, tmp_path: Path) -> None:
    """A 2x long on 600 USDT (1,000 USDT positions, no stops, no loss limits) meets a bar
    whose low wicks 70 % under its close (its liquidation price is about 37 % under the
    entry): the path liquidates it inside the bar, at the engine's liquidation price (40 s
    in: the low of a down bar's path), not at the low and not at the close. The equity at
    the bars' closes stays far from liquidation (600 USDT against a 1,000 USDT notional), so
    the fast path must find the event from the bar's low: skipping the bar, it kept the
    position (it did, with the close alone)."""
    data = head(week, 2000)
    entry_close = 1_746_406_199_999  # the first long's fill (the bar's close)
    j = data.open_time.index(entry_close + 1 - 60_000) + 10
    data.low[j] = f"{D(data.close[j]) * D('0.3'):.1f}"
    risk = replace(
        backtest_risk(D(1000)), leverage=2, max_drawdown_pct=D(0), max_daily_loss_pct=D(0)
    )
    config = replace(BASE, starting_balance=D(600), leverage=2, protect_positions=False, risk=risk)

    plain, fast = both(data, config, tmp_path)

    liq = [f for f in plain.journal.fills if f.client_order_id.startswith("autoclose-")]
    assert len(liq) == 1 and liq[0].side == "SELL"
    assert liq[0].time_ms == data.open_time[j] + 40_000
    assert D(data.low[j]) < liq[0].price < min(D(data.open[j]), D(data.close[j]))
    assert plain.trading_state == "HALTED"
    assert fast.fast_path_bars > 0.8 * len(data)


# --- trades --------------------------------------------------------------------------------

TRADES = Path(__file__).resolve().parents[2] / "exchange_sim/data/trades"


def repeated(name: str, copies: int) -> Trades:
    """A bundled real trade capture, `copies` times, each copy a whole number of minutes
    after the one before (the price jumps at each seam, as after a gap)."""
    tr = load(TRADES / name)
    assert isinstance(tr, Trades)
    span = (tr.time[-1] // 60_000 + 1 - tr.time[0] // 60_000) * 60_000
    out = Trades([], [], [], [])
    for c in range(copies):
        out.time.extend(t + c * span for t in tr.time)
        out.price.extend(tr.price)
        out.qty.extend(tr.qty)
        out.buyer_is_maker.extend(tr.buyer_is_maker)
    return out


@pytest.fixture(scope="module")
def tape() -> Trades:
    """The 2024-08-08 BTCUSDT capture (21,313 trades, 6 minutes) five times: 30 minutes."""
    return repeated("BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz", 5)


FAST_SMA = replace(BASE, strategy_params={"order_notional_usdt": D(1000), "fast": 2, "slow": 3})


def test_trades_stops_on_identical(tape: Trades, tmp_path: Path) -> None:
    plain, fast = both(tape, FAST_SMA, tmp_path)
    assert plain.counters["submitted"] >= 10 and plain.journal.fills
    assert fast.fast_path_bars > 0.9 * len(tape)


def test_trades_warmed_from_the_trades_before_the_start_identical(
    tape: Trades, tmp_path: Path
) -> None:
    """--start on trades data: the strategy warms from the 1m bars of the trades before it
    (it started cold there), then the fast path takes the quiet trades as the plain loop."""
    start = tape.time[0] - tape.time[0] % 60_000 + 10 * 60_000  # ten minutes in: the 2nd copy
    plain, fast = both(tape, replace(FAST_SMA, trade_from_ms=start), tmp_path)
    assert plain.warm_bars == 3 and plain.journal.fills
    assert fast.fast_path_bars > 0.9 * len([t for t in tape.time if t >= start])


def test_trades_stops_off_identical(tape: Trades, tmp_path: Path) -> None:
    plain, fast = both(tape, replace(FAST_SMA, protect_positions=False), tmp_path)
    assert plain.journal.fills
    assert fast.fast_path_bars > 0.9 * len(tape)


def test_trades_stops_and_take_profits_hit_identical(tape: Trades, tmp_path: Path) -> None:
    risk = replace(backtest_risk(D(1000)), stop_loss_pct=D("0.1"), take_profit_pct=D("0.15"))
    plain, fast = both(tape, replace(FAST_SMA, risk=risk), tmp_path)
    fired = {o.client_order_id for o in plain.journal.orders.values() if o.status == "FILLED"}
    kinds = {o.type for o in plain.journal.orders.values() if o.client_order_id in fired}
    assert {"STOP_MARKET", "TAKE_PROFIT_MARKET"} <= kinds
    assert fast.fast_path_bars > 0.3 * len(tape)


def test_trades_state_right_after_a_skip_identical(tape: Trades, tmp_path: Path) -> None:
    """The tape cut one trade into a minute: the fast path takes everything before that
    minute's first trade, so the live objects' state at the end is the state it built."""
    minute = [t // 60_000 for t in tape.time]
    cut = next(i for i in range(len(minute) - 1, 0, -1) if minute[i] != minute[i - 1]) + 1
    short = Trades(*(getattr(tape, f)[:cut] for f in tape.__slots__))
    _, fast = both(short, FAST_SMA, tmp_path)
    assert fast.fast_path_bars >= 0.9 * cut


def test_trades_drawdown_halt_identical(tape: Trades, tmp_path: Path) -> None:
    """A 1 % drawdown limit with 5,000 USDT positions: the RiskManager halts after about 25
    minutes, at an equity check whose time the fast path must have replayed exactly."""
    risk = replace(backtest_risk(D(5000)), max_drawdown_pct=D(1), max_daily_loss_pct=D(0))
    params = {"order_notional_usdt": D(5000), "fast": 2, "slow": 3}
    plain, fast = both(tape, replace(BASE, strategy_params=params, risk=risk), tmp_path)
    assert plain.journal.counts.get("TradingStateChanged", 0) == 2
    assert fast.fast_path_bars > 0.5 * len(tape)


def test_trades_halted_for_most_of_the_run_identical_and_skipped(tmp_path: Path) -> None:
    """The same halt on 72 minutes of trades: HALTED and flat for the last ~47, quiet between
    the strategy's flips (each flip's target denied and journaled once, in the pipeline)."""
    tape = repeated("BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz", 12)
    risk = replace(backtest_risk(D(5000)), max_drawdown_pct=D(1), max_daily_loss_pct=D(0))
    params = {"order_notional_usdt": D(5000), "fast": 2, "slow": 3}
    plain, fast = both(tape, replace(BASE, strategy_params=params, risk=risk), tmp_path)
    assert plain.journal.counts.get("TradingStateChanged", 0) == 2
    assert plain.counters["denied"] > 10  # flips while HALTED
    assert fast.fast_path_bars > 0.6 * len(tape)  # 0.72 now; 0.29 when no HALTED trade was quiet


def test_trades_latency_slippage_and_warm_up_identical(tmp_path: Path) -> None:
    """SMA 5/12 on the 2023-04-04 capture (12,936 trades, 9 minutes) three times: twelve
    minutes of warm-up taken at once, then latency and slippage on every order."""
    tape = repeated("BTCUSDT-um-trades-2023-04-04T2358_2023-04-05T0007.csv.gz", 3)
    config = replace(
        BASE,
        strategy_params={"order_notional_usdt": D(1000), "fast": 5, "slow": 12},
        latency_ms=120,
        slippage_bps=D(1),
    )
    plain, fast = both(tape, config, tmp_path)
    assert plain.counters["submitted"] >= 2
    assert fast.fast_path_bars > 0.5 * len(tape)


# --- the pieces -------------------------------------------------------------------------------


def test_equity_floats_equal_the_books_decimal_arithmetic() -> None:
    rng = np.random.default_rng(7)
    tick = D("0.10")
    for wallet, qty, entry in [
        (D("10000"), D("0.010"), D("95000.10")),
        (D("9987.12345678"), D("-0.123"), D("103999.9")),
        (D("1000000.00000001"), D("1.5"), D("100000.05")),
        (D("12.5"), D("0.001"), D("3.333333333333333333333333333")),  # not exact: per close
        (D("5000"), D("0"), D("0")),
    ]:
        ticks = rng.integers(900_000, 1_100_000, size=300).astype(np.int64)
        got = equity_floats(wallet, qty, entry, ticks, tick)
        bounds = (int(ticks.min()), int(ticks.max()))
        got_bounded = equity_floats(wallet, qty, entry, ticks, tick, bounds)
        want = [float(wallet + (D(0) + qty * (int(t) * tick - entry))) for t in ticks]
        assert got.tolist() == want
        assert got_bounded.tolist() == want


def test_equity_levels_by_hand() -> None:
    """0.01 BTC long at 100,000 on a 600 USDT wallet (equity 600 + 0.01 * (p - 100,000)):
    half the notional at 80,000 (equity 400 = 0.5 * 0.01 * 80,000); the day's start 650
    minus 50 USDT is equity 600 at 100,000; minus 10 % (585) at 98,500. The short of the same
    on the same wallet: equity 600 - 0.01 * (p - 100,000) meets 0.005 * p at 106,666.66...;
    the level is one tick (0.1) wide of each root, on the safe side."""
    tick = D("0.1")
    long_ = equity_levels(
        D(600), D("0.01"), D(100_000), tick,
        day_start=D(650), max_daily_loss_usdt=D(50), max_daily_loss_pct=D(10),
    )  # fmt: skip
    assert long_ == [(800_001, True), (1_000_001, True), (985_001, True)]
    short = equity_levels(
        D(600), D("-0.01"), D(100_000), tick,
        day_start=None, max_daily_loss_usdt=D(50), max_daily_loss_pct=D(10),
    )  # fmt: skip
    assert short == [(1_066_666, False)]


def test_breach_ticks_covers_every_breaching_tick() -> None:
    """Around each level, exactly: every tick at which c0 + k * price <= 0 holds is on the
    level's side of it, and the level is at most two ticks from the first such tick."""
    tick = D("0.10")
    for c0, k in [
        (D("-400"), D("0.005")),
        (D("1600"), D("-0.015")),
        (D("-9987.12345678"), D("0.123")),
        (D("123.456"), D("-0.0033")),
        (D("-1000"), D("0.01")),  # the root on a tick: 100,000.0 (1,000,000 ticks) breaches
        (D("1000"), D("-0.01")),
    ]:
        level, below = breach_ticks(c0, k, tick)
        assert below == (k > 0)
        around = range(level - 5, level + 6)
        breaching = [t for t in around if c0 + k * (t * tick) <= 0]
        if below:
            assert all(t <= level for t in breaching)
            assert max(breaching) >= level - 2
        else:
            assert all(t >= level for t in breaching)
            assert min(breaching) <= level + 2


def test_first_reach_takes_the_nearest_level_of_each_side() -> None:
    """Lows 10, 9, 8, 7 and highs 12..15, one tick of margin: the stops below at 5 and 7
    are reached first by the low of 8 (bar 2, within a tick of 7); a level above at 14 by
    the high of 13 (bar 1), before that; a level below at 6 only by the low of 7 (bar 3);
    none at 1 (all four bars quiet)."""
    low = np.array([10, 9, 8, 7], dtype=np.int64)
    high = np.array([12, 13, 14, 15], dtype=np.int64)
    assert first_reach(low, high, [(5, True), (7, True)], 1) == 2
    assert first_reach(low, high, [(5, True), (7, True), (14, False)], 1) == 1
    assert first_reach(low, high, [(6, True)], 1) == 3
    assert first_reach(low, high, [(1, True), (20, False)], 1) == 4
    assert first_reach(low, high, [(10, True)], 0) == 0


def test_price_ticks_and_floats_are_exact() -> None:
    texts = ["104000.10", "99999.9", "0.1", "123456.7"]
    ticks = price_ticks(texts, D("0.10"))
    assert ticks.tolist() == [1040001, 999999, 1, 1234567]
    assert tick_floats(ticks, D("0.10")).tolist() == [float(t) for t in texts]


def _bar(t: int, close: D) -> Bar:
    return Bar("BTCUSDT", "1m", t, t + 59_999, close, close, close, close, D(1), close, D(0),
               D(0), 0, True)  # fmt: skip


def test_sma_fast_forward_matches_bar_by_bar(week: Klines) -> None:
    """bars_without_decision finds the first regime flip on_bar would make, and absorb_bars
    leaves the state on_bar would leave (the same proposals afterwards)."""
    closes = [D(c) for c in week.close[:3000]]
    units = np.array([int(c.scaleb(8)) for c in closes], dtype=np.int64)
    times = np.array(week.open_time[:3000], dtype=np.int64)
    ref, ff = SmaCrossover(), SmaCrossover()
    flips = []
    regime = 0
    for i, c in enumerate(closes):
        ref.on_bar(_bar(int(times[i]), c), None)  # type: ignore[arg-type]
        if ref.regime("BTCUSDT") != regime:
            flips.append(i)
            regime = ref.regime("BTCUSDT")
    i = 0
    found = []
    while i < len(closes):
        quiet = ff.bars_without_decision("BTCUSDT", times[i:], units[i:])
        if quiet:
            ff.absorb_bars("BTCUSDT", times[i : i + quiet], units[i : i + quiet])
            i += quiet
            continue
        before = ff.regime("BTCUSDT")
        ff.on_bar(_bar(int(times[i]), closes[i]), None)  # type: ignore[arg-type]
        if ff.regime("BTCUSDT") != before:
            found.append(i)
        i += 1
    assert found == flips and len(flips) > 50
    last = _bar(int(times[-1]) + 60_000, closes[-1])
    assert ff.on_bar(last, None) == ref.on_bar(last, None)  # type: ignore[arg-type]


def test_warmed_from_history_identical(week: Klines, tmp_path: Path) -> None:
    day2 = week.open_time[1440]
    plain, fast = both(week, replace(BASE, trade_from_ms=day2), tmp_path)
    assert plain.warm_bars == fast.warm_bars == 50
    assert fast.times_ms[0] == day2 and fast.fast_path_bars > 0.9 * (len(week) - 1440)
