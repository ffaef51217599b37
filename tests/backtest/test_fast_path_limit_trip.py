"""The trades fast path when the fill that takes the position flat reaches a portfolio limit.

`backtest.fast_path.limit_to_trip` in `TradeFastPath.next_event`: the ExecManager feeds the
equity to the RiskManager on a schedule, so a limit reached by a fill trips only at the next
equity check. On trades that is the very next item: the fill comes inside the item that
closed a bar (the strategy's market order is executed inside `submit` at zero latency, after
that item's equity check), sets the check due (`_equity.next_ms = 0`), and the following
trade trips the limit. The fast path is asked about that following trade first: flat, no
order, the position at its target, everything after it looks quiet, and without the guard it
took them and met the halt inside the skip (`RuntimeError: fast path: a quiet trade changed
the trading state`). `test_fast_path.py` has the klines case
(`test_a_daily_loss_reached_by_the_fill_that_goes_flat_identical`). The limit must lie between
the worst loss the checks saw before the exit and the loss after it, a window about as wide
as the exit's fee, which the limits `test_fast_path_properties.py` draws did not hit.
"""

import json
import sqlite3
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from backtest.data import Trades
from backtest.runner import BacktestConfig, backtest_risk
from tests.backtest.test_fast_path import both, journal_file, keep_rigs, repeated  # noqa: F401


@pytest.fixture(scope="module")
def tape() -> Trades:
    """The 2024-08-08 BTCUSDT capture (21,313 real trades, 23:54-24:00 UTC) twice: 12 minutes,
    the second copy on 2024-08-09."""
    return repeated("BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz", 2)


def _positions_and_states(path: Path) -> list[tuple[str, int, str]]:
    """(kind, event time, the position's qty or the new trading state) of the journal's
    PositionChanged and TradingStateChanged events, in order."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT kind, event_time_ms, payload FROM events"
            " WHERE kind IN ('PositionChanged', 'TradingStateChanged') ORDER BY seq"
        ).fetchall()
    out = []
    for kind, t, payload in rows:
        body = json.loads(payload)
        out.append((kind, t, body["position"]["qty"] if "position" in body else body["current"]))
    return out


@pytest.mark.parametrize(
    "limit",
    [
        {"max_daily_loss_usdt": D(12)},
        {"max_daily_loss_pct": D("0.12")},
        {"max_drawdown_pct": D("0.12")},
    ],
    ids=["daily_loss_usdt", "daily_loss_pct", "drawdown_pct"],
)
def test_trades_a_limit_reached_by_the_fill_that_goes_flat_identical(
    tape: Trades, tmp_path: Path, limit: dict[str, D]
) -> None:
    """Long only, SMA 2/3 on 1m bars from the trades, 5,000 USDT orders, no stop-loss or
    take-profit, on 10,000 USDT: the first round trip buys 0.081 BTC at 61,800.3 (00:00:16 on
    2024-08-09, the day starting at 10,000 USDT) and its exit, at the first trade of 00:03
    (trade 27,061 of the tape, at the bar close that flips the SMAs), sells at 61,701.3. The
    equity checks before it saw a day's loss of 10.63 USDT at most (0.106 % of the start, a
    drawdown of 0.109 %), under each limit here (12 USDT, 0.12 %); marked at the exit's price
    the loss is 10.52, and the sell's taker fee (2.50 USDT) makes it 13.02 (0.130 %, drawdown
    0.132 %), over it. The fill comes inside that trade's item, after its equity step: the
    next trade (27,062, the same millisecond) trips the limit in the plain loop. The fast
    path, asked about trade 27,062, must leave it to the pipeline (`limit_to_trip`): without
    that it took the flat minutes after it as quiet and failed in `TradeFastPath.absorb`
    (`RuntimeError: fast path: a quiet trade changed the trading state ... REDUCING ...`)."""
    risk = replace(
        backtest_risk(D(5000)),
        leverage=1,
        stop_loss_pct=D(0),
        take_profit_pct=D(0),
        max_daily_loss_usdt=D(0),
        max_daily_loss_pct=D(0),
        max_drawdown_pct=D(0),
    )
    params = {"fast": 2, "slow": 3, "order_notional_usdt": D(5000), "allow_short": False}
    config = BacktestConfig(strategy_params=params, risk=replace(risk, **limit), reentry_hold=False)

    plain, fast = both(tape, config, tmp_path)

    # The plain loop: one round trip; the limit trips after its exit, at the same millisecond.
    buy, sell = plain.journal.fills
    assert (buy.side, sell.side, sell.position_after) == ("BUY", "SELL", 0)
    t = sell.time_ms
    assert _positions_and_states(journal_file(tmp_path / "plain")) == [
        ("PositionChanged", buy.time_ms, "0.081"),
        ("PositionChanged", t, "0.000"),
        ("TradingStateChanged", t, "REDUCING"),
        ("TradingStateChanged", t, "HALTED"),
    ]
    assert plain.trading_state == "HALTED"
    # HALTED and flat for the rest of the tape: the fast path still takes most of it.
    assert fast.fast_path_bars > 0.7 * len(tape)
