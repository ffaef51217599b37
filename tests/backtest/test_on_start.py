"""A backtest of klines starts its symbol as the live daemon does: `on_start` once, on the
warmed state, before the first bar is taken (live it comes with the first trade; klines have
none). On the bundled week of real BTCUSDT 1m klines."""

from decimal import Decimal as D

from backtest.data import Klines, load_klines
from backtest.runner import BacktestConfig, run_backtest
from tests.backtest.test_reference_loop import KLINES
from trading_engine.main_trading_strategy import NO_PROPOSALS, Proposals, StrategyBase


class Noting(StrategyBase):
    """Notes its calls; proposes nothing."""

    name = "noting"

    def __init__(self, **common: object) -> None:
        super().__init__(**common)  # type: ignore[arg-type]
        self.calls: list[tuple[str, object]] = []

    def on_start(self, symbol: str, view) -> Proposals:  # type: ignore[no-untyped-def]
        self.calls.append(("on_start", symbol))
        return NO_PROPOSALS

    def on_bar(self, bar, view) -> Proposals:  # type: ignore[no-untyped-def]
        self.calls.append(("on_bar", bar.open_time_ms))
        return NO_PROPOSALS


def test_on_start_comes_once_before_the_first_bar(built_strategies):
    week = load_klines(KLINES)
    bars = Klines(*(getattr(week, c)[:4] for c in week.__slots__))
    made = built_strategies
    config = BacktestConfig(
        strategy=f"{__name__}:Noting", strategy_params={"order_notional_usdt": D(1000)}
    )

    run_backtest(bars, config)

    assert made[0].calls == [
        ("on_start", "BTCUSDT"),
        *(("on_bar", t) for t in bars.open_time),
    ]


def test_sma_crossover_holds_the_warmed_regime_from_the_first_bar():
    """Warmed on the day before (as `--start` warms it), SMA 10/50 enters at the first bar's
    close on the regime the warm-up ended in, as the daemon enters at its first trade,
    instead of waiting for the next crossing."""
    week = load_klines(KLINES)
    start = 1440  # 2025-05-06 00:00 UTC
    day = Klines(*(getattr(week, c)[: start + 60] for c in week.__slots__))
    config = BacktestConfig(
        strategy_params={"fast": 10, "slow": 50, "order_notional_usdt": D(1000)},
        trade_from_ms=int(day.open_time[start]),
    )

    result = run_backtest(day, config)

    first = next(iter(result.journal.orders.values()))
    assert first.type == "MARKET" and first.submitted_ms == int(day.open_time[start]) + 59_999
    assert result.journal.reasons.sent_text(first.client_order_id).startswith(
        "sma_crossover: sma10="
    )
