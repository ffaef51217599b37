"""The fast path equals the plain bar-by-bar loop for any settings, not only the ones chosen.

`test_fast_path.py` compares the two on hand-picked cases. Here hypothesis draws the settings a
user may give (the SMA's periods and size, long-only or not, stop-loss, take-profit, the
re-entry hold, leverage, the drawdown and daily-loss limits, fees with a maker rebate, entry
and acknowledgement latency fixed or drawn from a distribution, slippage, the fill rule of
resting orders, the stale-order timeout, warm-up from the bars before the start) and a window of
the bundled real week, and requires everything both runs produce to be identical (the
journal, orders, fills, series, counters, summary and the live objects' state at the end:
`test_fast_path.both`), and the books to agree with the matching engine's ledger to the
last digit. A wrong "quiet" verdict shows up as a difference; how much the fast path took in
the examples is in `pytest --hypothesis-show-statistics`. rsi_macd and the ML strategy with
the shipped model (limit orders priced four ways), which have no fast path, are held to the
books' agreement and the stop-loss of an open position for their own drawn parameters.
"""

from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from backtest.data import Klines, Trades, load_klines
from backtest.runner import BacktestConfig, BacktestResult, backtest_risk, run_backtest
from core.enums import OrderStatus, OrderType, Side, TradingState
from tests.backtest.test_fast_path import RIGS, both, keep_rigs, repeated  # noqa: F401
from tests.backtest.test_reference_loop import KLINES

WEEK = load_klines(KLINES)
MINUTE_MS = 60_000


def _window(start: int, n: int) -> Klines:
    return Klines(*(getattr(WEEK, f)[start : start + n] for f in WEEK.__slots__))


def _config(
    draw: st.DrawFn, *, slow_max: int, warm_from: int | None, limits_pct: list[D]
) -> BacktestConfig:
    """`limits_pct`: the drawdown and daily-loss limits to draw from (0: off), to fit how far
    the data's prices go; as often, any value up to the largest of them (to the 0.001 %): a
    limit the exit's fee alone reaches lies in a window about as wide as that fee."""
    limit = st.one_of(
        st.sampled_from(limits_pct),
        st.decimals(D("0.005"), max(limits_pct), places=3),
    )
    fast = draw(st.integers(1, min(20, slow_max - 1)))
    slow = draw(st.integers(fast + 1, slow_max))
    notional = draw(st.sampled_from([D(200), D(1_000), D(5_000)]))
    risk = replace(
        backtest_risk(notional),
        stop_loss_pct=draw(st.sampled_from([D(0), D("0.2"), D("0.5"), D(2)])),
        take_profit_pct=draw(st.sampled_from([D(0), D("0.3"), D(1)])),
        max_drawdown_pct=draw(limit),
        max_daily_loss_pct=draw(limit),
        leverage=draw(st.sampled_from([1, 5, 20])),
    )
    maker, taker = draw(
        st.sampled_from([(D("0.0002"), D("0.0005")), (D(0), D(0)), (D("-0.0001"), D("0.0004"))])
    )
    return BacktestConfig(
        strategy_params={
            "fast": fast,
            "slow": slow,
            "order_notional_usdt": notional,
            "allow_short": draw(st.booleans()),
        },
        risk=risk,
        maker_fee=maker,
        taker_fee=taker,
        latency_ms=draw(st.sampled_from([0, 0, 150, 5_000])),
        # "" takes latency_ms; the distributions draw from the run's seed.
        entry_latency=draw(st.sampled_from(["", "", "lognormal:median=20,sigma=0.5"])),
        ack_latency=draw(st.sampled_from(["0", "0", "40", "empirical:1,50,400"])),
        seed=draw(st.integers(0, 3)),
        fill_mode=draw(st.sampled_from(["through", "touch"])),
        stale_order_ms=draw(st.sampled_from([30_000, 1_000])),
        slippage_bps=draw(st.sampled_from([D(0), D(1), D(5)])),
        reentry_hold=draw(st.booleans()),
        trade_from_ms=warm_from if warm_from is not None and draw(st.booleans()) else None,
    )


@st.composite
def _kline_runs(draw: st.DrawFn) -> tuple[Klines, BacktestConfig]:
    n = draw(st.integers(400, 1_500))
    start = draw(st.integers(0, len(WEEK) - n))
    data = _window(start, n)
    # Trading from bar 70 when warmed: the strategy warms from the bars before it.
    warm_from = int(data.open_time[70])
    return data, _config(
        draw, slow_max=60, warm_from=warm_from, limits_pct=[D(0), D(1), D(3), D(10)]
    )


TAPE = repeated("BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz", 2)  # 12 minutes, 42,626


@st.composite
def _trade_runs(draw: st.DrawFn) -> tuple[Trades, BacktestConfig]:
    # 1m bars from trades: 12 of them, so short SMAs; warmed: trading from the 5th minute.
    warm_from = (TAPE.time[0] // MINUTE_MS + 5) * MINUTE_MS
    limits = [D(0), D("0.02"), D("0.1"), D(1)]  # the tape moves ~0.5 %
    return TAPE, _config(draw, slow_max=4, warm_from=warm_from, limits_pct=limits)


def _books_agree_with_the_exchange(result: BacktestResult) -> None:
    """The daemon's books against the matching engine's ledger at the end, and their own
    identities (summary.json's `ledger`), exact: nothing a setting can break."""
    ledger = result.summary_dict()["ledger"]
    money = {k: D(str(v)) for k, v in ledger.items()}
    assert money["wallet"] == money["exchange_wallet"]
    assert money["wallet"] == (
        money["starting_wallet"]
        + money["realized_pnl"]
        - money["fees"]
        + money["funding"]
        + money["adjustments"]
    )
    assert money["equity"] == money["wallet"] + money["unrealized_pnl"]
    c = result.counters
    assert (c["book_differences"], c["book_rejected_events"], c["bad_events"]) == (0, 0, 0)


def _open_position_is_guarded(config: BacktestConfig) -> None:
    """With a stop-loss configured, a position open at the end of an ACTIVE run has its
    stop-loss working on the exchange (the plain run's live objects, `RIGS[0]`)."""
    assert config.risk is not None
    rig = RIGS[0]
    position = rig.book.position(config.symbol).qty
    if not config.risk.stop_loss_pct or not position or rig.risk.state is not TradingState.ACTIVE:
        return
    stops = [
        o
        for o in rig.book.orders.values()
        if o.type is OrderType.STOP_MARKET and o.close_position and o.status is OrderStatus.NEW
    ]
    assert len(stops) == 1, f"position {position}, stops {stops}"
    assert stops[0].side is (Side.SELL if position > 0 else Side.BUY)


def _examples(n: int) -> settings:
    """`n` examples, as slow as a backtest is; keep_rigs is patched once per test, RIGS
    cleared at each example."""
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


def _both_hold(data: Klines | Trades, config: BacktestConfig) -> tuple[BacktestResult, ...]:
    """Fast path == plain loop (`both`), and the plain run's books and stop-loss hold."""
    RIGS.clear()
    with TemporaryDirectory() as tmp:
        plain, fast = both(data, config, Path(tmp))
    _books_agree_with_the_exchange(plain)
    _open_position_is_guarded(config)
    return plain, fast


@_examples(25)
@given(_kline_runs())
def test_on_klines_the_fast_path_gives_what_the_plain_loop_gives(
    run: tuple[Klines, BacktestConfig],
) -> None:
    data, config = run
    plain, fast = _both_hold(data, config)
    event(f"fast path took {fast.fast_path_bars * 10 // len(data) * 10} % of the bars or more")
    event(f"orders: {'none' if not plain.counters['submitted'] else 'some'}")
    event(f"halted: {plain.journal.counts.get('TradingStateChanged', 0) > 0}")


@_examples(15)
@given(_trade_runs())
def test_on_trades_the_fast_path_gives_what_the_plain_loop_gives(
    run: tuple[Trades, BacktestConfig],
) -> None:
    data, config = run
    plain, fast = _both_hold(data, config)
    event(f"fast path took {fast.fast_path_bars * 10 // len(data) * 10} % of the trades or more")
    event(f"halted: {plain.journal.counts.get('TradingStateChanged', 0) > 0}")


@st.composite
def _rsi_macd_runs(draw: st.DrawFn) -> tuple[Klines, BacktestConfig]:
    """rsi_macd (no fast path: the plain loop) with its own parameters drawn."""
    data, config = draw(_kline_runs())
    params = dict(config.strategy_params)
    del params["fast"], params["slow"]
    macd_fast = draw(st.integers(2, 15))
    params |= {
        "rsi_period": draw(st.integers(2, 30)),
        "oversold": draw(st.sampled_from([10, 25.5, 40])),
        "overbought": draw(st.sampled_from([55, 70, 90.0])),
        "macd_fast": macd_fast,
        "macd_slow": draw(st.integers(macd_fast + 1, 40)),
        "macd_signal": draw(st.integers(1, 12)),
    }
    return data, replace(config, strategy="rsi_macd", strategy_params=params)


@st.composite
def _logistic_regression_runs(draw: st.DrawFn) -> tuple[Klines, BacktestConfig]:
    """The shipped model (plain loop: no fast path), its entry threshold, how it prices its
    limit orders and how long it holds drawn."""
    data, config = draw(_kline_runs())
    kept = ("order_notional_usdt", "allow_short")
    params = {k: v for k, v in config.strategy_params.items() if k in kept}
    params |= {
        "model_path": str(MODEL),
        "entry_probability": draw(st.sampled_from([D("0.3"), D("0.36"), D("0.5")])),
        "price_mode": draw(st.sampled_from(["passive", "inside", "cross", "market"])),
        "hold_bars": draw(st.sampled_from([None, 1, 5, 30])),
    }
    return data, replace(config, strategy="logistic_regression", strategy_params=params)


MODEL = Path(__file__).resolve().parents[2] / "models" / "btcusdt-1m"


@_examples(30)
@given(st.one_of(_rsi_macd_runs(), _logistic_regression_runs()))
def test_strategies_without_a_fast_path_keep_the_books_for_any_settings(
    run: tuple[Klines, BacktestConfig],
) -> None:
    """rsi_macd and the ML strategy: the plain loop's books equal the engine's ledger and an
    open position ends guarded."""
    data, config = run
    RIGS.clear()
    result = run_backtest(data, replace(config, fast_path=False))
    _books_agree_with_the_exchange(result)
    _open_position_is_guarded(config)
    event(f"strategy: {config.strategy}")
