"""With zero fees, zero latency, zero slippage and fills at the bar close, the backtest of
SMA-crossover (10/50, 1000 USDT) on the bundled week of real BTCUSDT 1m klines makes exactly
the trades of the plain loop below, and the same realized PnL to the last Decimal digit.

The reference is the strategy's rule written out by hand: from the 50th close on, the regime
is long while SMA10 > SMA50 and short while SMA10 < SMA50 (equal: unchanged); when the regime
changes the target is +/- floor(1000 / close) to the 0.001 BTC step, and the position moves to
it at that bar's close. A flip from +a to -b is one order of a + b; its realized PnL is
a * (close - entry). Risk limits are loose and there is no protective stop, so nothing but
the strategy decides.
"""

import csv
import gzip
from decimal import ROUND_FLOOR
from decimal import Decimal as D
from pathlib import Path

from backtest.data import load
from backtest.runner import BacktestConfig, run_backtest
from risk_manager.config import RiskConfig

KLINES = (
    Path(__file__).resolve().parents[2]
    / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
)
STEP = D("0.001")
LOOSE = RiskConfig(
    leverage=10,
    max_order_notional_usdt=D(100_000),
    max_position_notional_usdt=D(100_000),
    max_total_notional_usdt=D(100_000),
    max_orders_per_minute=1_000,
    stop_loss_pct=D(0),
    take_profit_pct=D(0),
    max_daily_loss_pct=D(0),
    max_drawdown_pct=D(0),
    max_trades_per_day=0,
    circuit_breaker_errors=0,
)


def reference_trades(fast: int = 10, slow: int = 50, notional: D = D(1000)):
    """[(time_ms, side, qty, price)] and the realized PnL of the hand-written loop."""
    with gzip.open(KLINES, "rt") as fh:
        bars = [(int(r["open_time"]), D(r["close"])) for r in csv.DictReader(fh)]
    closes: list[D] = []
    trades = []
    regime, position, entry, realized = 0, D(0), D(0), D(0)
    for open_ms, close in bars:
        closes.append(close)
        if len(closes) < slow:
            continue
        sma_fast = sum(closes[-fast:]) / fast
        sma_slow = sum(closes[-slow:]) / slow
        new = 1 if sma_fast > sma_slow else -1 if sma_fast < sma_slow else regime
        if new == regime:
            continue
        regime = new
        size = (notional / close).quantize(STEP, rounding=ROUND_FLOOR)
        target = size if regime > 0 else -size
        delta = target - position
        side = "BUY" if delta > 0 else "SELL"
        trades.append((open_ms + 59_999, side, abs(delta), close))
        if position:  # the old position closes at this close (it always flips here)
            realized += abs(position) * (close - entry) * (1 if position > 0 else -1)
        position, entry = target, close
    return trades, realized


def test_the_backtest_makes_the_reference_loops_trades():
    expected, expected_pnl = reference_trades()
    result = run_backtest(
        load(KLINES),
        BacktestConfig(
            strategy_params={"fast": 10, "slow": 50, "order_notional_usdt": D(1000)},
            maker_fee=D(0),
            taker_fee=D(0),
            latency_ms=0,
            slippage_bps=D(0),
            risk=LOOSE,
            protect_positions=False,
        ),
    )
    fills = result.journal.fills
    got = [(f.time_ms, f.side, f.qty, f.price) for f in fills]
    assert len(expected) > 100  # the week has well over a hundred regime changes
    assert got == expected
    assert sum((f.realized_pnl for f in fills), D(0)) == expected_pnl
    assert sum((f.commission for f in fills), D(0)) == 0
    # Hand-checkable: the week's first regime (long) starts with the 00:49 bar of 2025-05-05,
    # close 94667.8: 1000 / 94667.8 = 0.01056.. -> 0.010 BTC bought at the close; at 01:05
    # SMA10 falls below SMA50 at 94513.3: sell 0.020 (flip to -0.010), realizing
    # 0.010 x (94513.3 - 94667.8) = -1.545 USDT.
    assert expected[:2] == [
        (1_746_406_199_999, "BUY", D("0.010"), D("94667.8")),
        (1_746_407_159_999, "SELL", D("0.020"), D("94513.3")),
    ]
    assert fills[1].realized_pnl == D("-1.545")
    assert len(expected) == 291 and expected_pnl == D("-10.3882")
    # Books end where the reference ends: wallet = start + realized (no fees, no funding).
    assert result.summary.fees == 0
    assert result.counters["book_differences"] == 0
