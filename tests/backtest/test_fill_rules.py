"""The backtest's fill rules, each on a hand-built tape (BTCUSDT: tick 0.1, lot 0.001):

- a resting limit order fills on a recorded trade strictly beyond its price by default
  (`fill_mode` "through": the queue ahead of it takes the prints at its price), or at its price
  with "touch" (freqtrade's and nautilus_trader's default); as maker, at its own price, for at
  most each trade's quantity (partial fills);
- a stop that the price gaps through fills at the first price after the gap (the bar's open,
  the next trade), not at its trigger;
- an order that waits for its latency fills at the market of the moment it arrives.
"""

from dataclasses import replace
from decimal import Decimal as D
from typing import ClassVar

import pytest

from backtest.data import Klines, Trades
from backtest.realism import RealismError
from backtest.runner import BacktestConfig, backtest_risk, run_backtest
from core.enums import OrderType, Side, TimeInForce
from core.market import Bar, Trade
from core.orders import OrderProposal
from trading_engine.main_trading_strategy import NO_PROPOSALS, Proposals, StrategyBase

T0 = 1_746_403_200_000  # 2025-05-05 00:00 UTC
MINUTE = 60_000


def buy(kind: OrderType, qty: str, price: str = "") -> OrderProposal:
    return OrderProposal(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=kind,
        quantity=D(qty),
        price=D(price) if price else None,
        time_in_force=TimeInForce.GTC if price else None,
        reason="script",
    )


class OnTrades(StrategyBase):
    """Sends STEPS[n] at the n-th trade (0 first)."""

    name = "on_trades"
    STEPS: ClassVar[dict[int, tuple[OrderProposal, ...]]] = {}

    def __init__(self, **common: object) -> None:
        super().__init__(**common)  # type: ignore[arg-type]
        self.n = 0

    def on_trade(self, trade: Trade, view) -> Proposals:  # type: ignore[no-untyped-def]
        self.n += 1
        return self.STEPS.get(self.n - 1, NO_PROPOSALS)


class BidOnFirstTrade(OnTrades):
    STEPS: ClassVar = {0: (buy(OrderType.LIMIT, "0.010", "99990.0"),)}


class BuyOnFirstTrade(OnTrades):
    STEPS: ClassVar = {0: (buy(OrderType.MARKET, "0.010"),)}


class OnBars(StrategyBase):
    """Sends STEPS[n] at the close of the n-th bar (0 first)."""

    name = "on_bars"
    STEPS: ClassVar[dict[int, tuple[OrderProposal, ...]]] = {}

    def __init__(self, **common: object) -> None:
        super().__init__(**common)  # type: ignore[arg-type]
        self.n = 0

    def on_bar(self, bar: Bar, view) -> Proposals:  # type: ignore[no-untyped-def]
        self.n += 1
        return self.STEPS.get(self.n - 1, NO_PROPOSALS)


class BidAtFirstClose(OnBars):
    STEPS: ClassVar = {0: (buy(OrderType.LIMIT, "0.010", "99000.0"),)}


class BuyAtFirstClose(OnBars):
    STEPS: ClassVar = {0: (buy(OrderType.MARKET, "0.010"),)}


def trades(*rows: tuple[int, str, str]) -> Trades:
    """(ms after T0, price, qty) per trade."""
    return Trades(
        [T0 + t for t, _, _ in rows],
        [p for _, p, _ in rows],
        [q for _, _, q in rows],
        [False] * len(rows),
    )


def bars(*ohlc: tuple[str, str, str, str]) -> Klines:
    return Klines(
        [T0 + i * MINUTE for i in range(len(ohlc))],
        *(list(col) for col in zip(*ohlc, strict=True)),
        ["10"] * len(ohlc),
    )


def fills(data, strategy: type, **knobs) -> list[tuple[int, D, D, bool]]:
    """(ms after T0, price, qty, maker) of each fill of `strategy`'s run on `data`."""
    config = BacktestConfig(
        strategy=f"{__name__}:{strategy.__name__}",
        strategy_params={"order_notional_usdt": D(1000)},
        protect_positions=False,
        stale_order_ms=3_600_000,
        **knobs,
    )
    journal = run_backtest(data, config).journal
    return [(f.time_ms - T0, f.price, f.qty, f.is_maker) for f in journal.fills]


# Prints at the bid's price (0.004 twice), then below it (0.003, then 0.010).
TOUCH_TAPE = trades(
    (0, "100000.0", "0.001"),
    (1_000, "99990.0", "0.004"),
    (2_000, "99990.0", "0.004"),
    (3_000, "99980.0", "0.003"),
    (4_000, "99980.0", "0.010"),
)


def test_by_default_prints_at_the_bids_price_do_not_fill_it_prints_below_do():
    assert fills(TOUCH_TAPE, BidOnFirstTrade) == [
        (3_000, D("99990.0"), D("0.003"), True),  # at its own price, for the print's size
        (4_000, D("99990.0"), D("0.007"), True),  # the rest
    ]


def test_with_touch_the_prints_at_its_price_fill_it_a_print_at_a_time():
    assert fills(TOUCH_TAPE, BidOnFirstTrade, fill_mode="touch") == [
        (1_000, D("99990.0"), D("0.004"), True),
        (2_000, D("99990.0"), D("0.004"), True),
        (3_000, D("99990.0"), D("0.002"), True),
    ]


# Bar 1's low is the bid's price, bar 2's low is one tick under it.
TOUCH_BARS = bars(
    ("100000.0",) * 4,
    ("100000.0", "100500.0", "99000.0", "100200.0"),
    ("100200.0", "100300.0", "98999.9", "100400.0"),
)


def test_on_klines_a_bar_whose_low_is_the_bids_price_does_not_fill_it_by_default():
    # Bar 2 (up bar: open, low at +20 s, high, close) trades one tick under the bid.
    assert fills(TOUCH_BARS, BidAtFirstClose) == [
        (2 * MINUTE + 20_000, D("99000.0"), D("0.010"), True)
    ]


def test_on_klines_with_touch_the_bar_that_reaches_the_bids_price_fills_it():
    assert fills(TOUCH_BARS, BidAtFirstClose, fill_mode="touch") == [
        (MINUTE + 20_000, D("99000.0"), D("0.010"), True)
    ]


def test_a_bad_fill_mode_is_refused():
    with pytest.raises(RealismError, match="through or touch"):
        fills(TOUCH_BARS, BidAtFirstClose, fill_mode="queue")


# --- stops that the price gaps through ----------------------------------------------------------


def stop_run(data, strategy: type, **knobs) -> list[tuple[str, int, D]]:
    """(order type, ms after T0, price) of each fill, with a 2 % stop-loss on the position."""
    risk = replace(backtest_risk(D(1000)), stop_loss_pct=D(2), take_profit_pct=D(0))
    config = BacktestConfig(
        strategy=f"{__name__}:{strategy.__name__}",
        strategy_params={"order_notional_usdt": D(1000)},
        risk=risk,
        **knobs,
    )
    journal = run_backtest(data, config).journal
    return [
        (journal.orders[f.client_order_id].type, f.time_ms - T0, f.price) for f in journal.fills
    ]


def test_a_stop_gapped_through_between_bars_fills_at_the_next_bars_open():
    # Long 0.010 at 100,000.0, stop at 98,000.0; bar 1 opens at 97,000.0.
    data = bars(("100000.0",) * 4, ("97000.0", "97500.0", "96500.0", "97200.0"))

    got = stop_run(data, BuyAtFirstClose)

    assert got == [("MARKET", MINUTE - 1, D("100000.0")), ("STOP_MARKET", MINUTE, D("97000.0"))]


def test_with_slippage_a_gapped_stop_pays_it_beyond_the_open():
    # 1 bps of 97,000.0 = 9.7, 97 ticks: 96,990.3 (the entry paid 100,000.0 + 10.0).
    data = bars(("100000.0",) * 4, ("97000.0", "97500.0", "96500.0", "97200.0"))

    got = stop_run(data, BuyAtFirstClose, slippage_bps=D(1))

    assert got[0] == ("MARKET", MINUTE - 1, D("100010.0"))
    assert got[1] == ("STOP_MARKET", MINUTE, D("96990.3"))  # stop at 98,009.8, gapped


def test_on_trades_a_stop_gapped_through_fills_at_the_first_trade_past_it():
    # Long at 100,000.0 (the first trade), stop at 98,000.0; the price jumps to 97,000.0.
    data = trades(
        (0, "100000.0", "0.5"),
        (1_000, "99500.0", "0.5"),
        (2_000, "97000.0", "0.5"),
        (3_000, "97100.0", "0.5"),
    )

    got = stop_run(data, BuyOnFirstTrade)

    assert got == [("MARKET", 0, D("100000.0")), ("STOP_MARKET", 2_000, D("97000.0"))]


# --- latency --------------------------------------------------------------------------------------


def test_a_market_order_delayed_by_latency_fills_at_the_price_when_it_arrives():
    """Sent at bar 0's close (59.999 s), with 30 s of latency it reaches the engine at 89.999
    s: bar 1 (an up bar: open +0 s, low +20 s, high +40 s, close +59.999 s) last traded at its
    low, 99,000.0, at +20 s. Without latency: bar 0's close."""
    data = bars(("100000.0",) * 4, ("100000.0", "101000.0", "99000.0", "100500.0"))

    assert fills(data, BuyAtFirstClose) == [(MINUTE - 1, D("100000.0"), D("0.010"), False)]
    assert fills(data, BuyAtFirstClose, latency_ms=30_000) == [
        (MINUTE - 1 + 30_000, D("99000.0"), D("0.010"), False)
    ]
