"""A backtest's money on a tape small enough to compute by hand: each fill's price, its fee by
how it actually filled (a market order and a crossing limit are takers, a post-only order that
rested is a maker), fee rounding to 8 decimals, realized PnL as Binance's `rp`, funding at the
recorded settlement times on the position held then (a long pays a positive rate, a short
receives it and pays a negative one), and the final equity = start + realized - fees + funding +
unrealized, Decimal-exact in summary.json's `ledger` and trades.csv.

The run is the daemon's pipeline (ExecManager, RiskManager, BookKeeper) against the in-process
engine; the strategy is a script of proposals by bar. Expected values are written out with
Decimal from the formulas of the protocol reference (section 11.6, 11.7); the average entry is
the weighted mean of the opening fills.
"""

import csv
import gzip
import json
from decimal import ROUND_HALF_UP
from decimal import Decimal as D
from pathlib import Path
from typing import ClassVar

import pytest

from backtest.data import Klines
from backtest.outputs import write_outputs
from backtest.runner import BacktestConfig, run_backtest
from core.enums import OrderType, Side, TimeInForce
from core.market import Bar
from core.orders import OrderProposal
from trading_engine.main_trading_strategy import NO_PROPOSALS, Proposals, StrategyBase

E8 = D("0.00000001")
MINUTE = 60_000
T0 = 1_746_431_760_000  # 2025-05-05 07:56 UTC: bar 4 opens at the 08:00 settlement
H8 = T0 + 4 * MINUTE  # 08:00
H9 = H8 + 60 * MINUTE  # 09:00
H930 = H9 + 30 * MINUTE  # 09:30
MAKER, TAKER = D("0.00018"), D("0.00045")  # VIP fees: their fees need rounding


def q8(x: D) -> D:
    """Fees, PnL and funding are booked to 8 decimals, half up (as the local exchange books
    them; Binance documents 8 decimals, not the rounding: see the README)."""
    return x.quantize(E8, rounding=ROUND_HALF_UP)


def proposal(side: Side, kind: OrderType, qty: str, price: str = "", tif=None) -> OrderProposal:
    return OrderProposal(
        symbol="BTCUSDT",
        side=side,
        type=kind,
        quantity=D(qty),
        price=D(price) if price else None,
        time_in_force=tif,
        reason="script",
    )


class Script(StrategyBase):
    """Sends `STEPS[n]` at the close of the n-th bar (0 first)."""

    name = "script"
    STEPS: ClassVar[dict[int, tuple[OrderProposal, ...]]] = {
        0: (proposal(Side.BUY, OrderType.MARKET, "0.010"),),
        1: (proposal(Side.BUY, OrderType.LIMIT, "0.005", "99000.0", TimeInForce.GTX),),
        5: (proposal(Side.SELL, OrderType.LIMIT, "0.003", "99000.0", TimeInForce.GTC),),
        6: (proposal(Side.SELL, OrderType.MARKET, "0.020"),),
        7: (proposal(Side.BUY, OrderType.LIMIT, "0.001", "100300.0", TimeInForce.GTX),),
    }

    def __init__(self, **common: object) -> None:
        super().__init__(**common)  # type: ignore[arg-type]
        self.bars = 0

    def on_bar(self, bar: Bar, view) -> Proposals:  # type: ignore[no-untyped-def]
        self.bars += 1
        return self.STEPS.get(self.bars - 1, NO_PROPOSALS)


def tape() -> Klines:
    """100 bars from 07:56: flat at 100,000.0, then bar 2 dips to 98,900.0 (through the
    resting bid at 99,000.0) and closes at 99,500.0, bar 3 closes at 99,600.0 (the mark before
    08:00), bar 5 at 100,100.3, bars 6 on at 100,200.0 and the last falls to 100,000.0."""
    flat = ("100000.0",) * 4
    bars = [flat, flat, ("100000.0", "100000.0", "98900.0", "99500.0")]
    bars += [("99500.0", "99600.0", "99500.0", "99600.0"), ("99600.0",) * 4]
    bars += [("99600.0", "100100.3", "99600.0", "100100.3")]
    bars += [("100100.3", "100200.0", "100100.3", "100200.0")]
    bars += [("100200.0",) * 4] * 92
    bars += [("100200.0", "100200.0", "100000.0", "100000.0")]
    return Klines(
        [T0 + i * MINUTE for i in range(len(bars))],
        *(list(c) for c in zip(*bars, strict=True)),
        ["10"] * len(bars),
    )


def funding_file(folder: Path) -> Path:
    """Recorded rates: +0.01 % at 08:00 (the long pays), +0.02 % at 09:00 (the short
    receives), -0.03 % at 09:30 (the short pays); none at 08:30 (nothing settles)."""
    path = folder / "BTCUSDT-funding.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(f"calc_time,funding_interval_hours,last_funding_rate\n{H8 + 1},1,0.0001\n")
        fh.write(f"{H9 + 1},1,0.0002\n{H930 + 1},1,-0.0003\n")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[dict, list[dict[str, str]], dict, list[dict[str, str]]]:
    out = tmp_path_factory.mktemp("money")
    config = BacktestConfig(
        strategy=f"{__name__}:Script",
        strategy_params={"order_notional_usdt": D(1000)},
        maker_fee=MAKER,
        taker_fee=TAKER,
        protect_positions=False,  # no stop-loss orders: the script's fills only
        stale_order_ms=3_600_000,  # the bid rests until it fills
        funding=str(funding_file(out)),
    )
    result = run_backtest(tape(), config)
    write_outputs(result, out)
    summary = json.loads((out / "summary.json").read_text())
    with (out / "trades.csv").open() as fh:
        fills = list(csv.DictReader(fh))
    with (out / "equity.csv").open() as fh:
        curve = list(csv.DictReader(fh))
    orders = {o.client_order_id: o for o in result.journal.orders.values()}
    return summary, fills, orders, curve


def test_each_fill_is_priced_and_charged_by_how_it_filled(run):
    _, fills, _, _ = run
    got = [
        (f["side"], D(f["price"]), D(f["qty"]), f["is_maker"], D(f["commission"])) for f in fills
    ]
    assert got == [
        # Bar 0: MARKET at the close (no book: the last price), taker: 1,000 x 0.045 %.
        ("BUY", D("100000.0"), D("0.010"), "false", D("0.45")),
        # Bar 1's post-only bid rested; bar 2's low of 98,900.0 traded through it: maker at
        # its own price, 495 x 0.018 % = 0.0891.
        ("BUY", D("99000.0"), D("0.005"), "true", D("0.0891")),
        # Bar 5: a GTC sell limit at 99,000.0 crossed the market at 100,100.3: taker, at the
        # market's price (better than its limit): 300.3009 x 0.045 % = 0.135135405 -> 8
        # decimals half up 0.13513541 (half-even would give ...40).
        ("SELL", D("100100.3"), D("0.003"), "false", D("0.13513541")),
        # Bar 6: MARKET SELL 0.020 flips the long of 0.012 to a short of 0.008: 2,004 x 0.045 %.
        ("SELL", D("100200.0"), D("0.020"), "false", D("0.9018")),
    ]
    for f in fills:  # the rule by role, for every fill: qty x price x rate, 8 decimals
        rate = MAKER if f["is_maker"] == "true" else TAKER
        assert D(f["commission"]) == q8(D(f["qty"]) * D(f["price"]) * rate)


def test_realized_pnl_is_binances_rp_on_the_average_entry(run):
    _, fills, _, _ = run
    entry = (D("0.010") * D("100000.0") + D("0.005") * D("99000.0")) / D("0.015")
    assert str(entry)[:12] == "99666.666666"  # 1,495 / 0.015
    rp_reduce = q8(D("0.003") * (D("100100.3") - entry))  # closes 0.003 of the long
    rp_flip = q8(D("0.012") * (D("100200.0") - entry))  # closes the other 0.012, entry unchanged
    assert (rp_reduce, rp_flip) == (D("1.30090000"), D("6.40000000"))
    assert [D(f["realized_pnl"]) for f in fills] == [0, 0, rp_reduce, rp_flip]
    assert [D(f["position_after"]) for f in fills] == [
        D("0.010"),
        D("0.015"),
        D("0.012"),
        D("-0.008"),
    ]


def test_funding_is_paid_at_the_recorded_times_on_the_position_then(run):
    summary, _, _, curve = run
    # 08:00: long 0.015, mark = bar 3's close 99,600.0, rate +0.0001: the long pays 0.1494.
    # 09:00: short 0.008 (flipped at 08:02), mark 100,200.0, rate +0.0002: receives 0.16032.
    # 09:30: the same short, rate -0.0003: pays 0.24048. 08:30 has no recorded rate.
    paid = [
        -q8(D("0.015") * D("99600.0") * D("0.0001")),
        -q8(D("-0.008") * D("100200.0") * D("0.0002")),
        -q8(D("-0.008") * D("100200.0") * D("-0.0003")),
    ]
    assert paid == [D("-0.1494"), D("0.16032"), D("-0.24048")]
    assert D(summary["ledger"]["funding"]) == sum(paid) == D("-0.22956")
    # Each is paid in the bar that opens at its time, the price flat around it: equity.csv's
    # rows (one per bar close, after the first row at the start) step by the payment there.
    equity = [D(r["equity"]) for r in curve]
    steps = {i: equity[i + 1] - equity[i] for i in (4, 34, 64, 94)}  # bars 4, 34, 64, 94
    assert [round(steps[i], 8) for i in (4, 34, 64, 94)] == [paid[0], 0, paid[1], paid[2]]
    assert [int(curve[i + 1]["time_ms"]) - 59_999 for i in (4, 64, 94)] == [H8, H9, H930]


def test_the_final_equity_adds_up_to_the_last_digit(run):
    summary, _, _, _ = run
    led = {k: D(v) if isinstance(v, str) else v for k, v in summary["ledger"].items()}
    realized = D("1.30090000") + D("6.40000000")
    fees = D("0.45") + D("0.0891") + D("0.13513541") + D("0.9018")
    funding = D("-0.22956")
    wallet = D(10_000) + realized - fees + funding
    assert wallet == D("10005.89530459")
    # The short of 0.008 opened at 100,200.0 (a flip opens its remainder at the fill price),
    # marked at the last close, 100,000.0: +1.6.
    unrealized = D("-0.008") * (D("100000.0") - D("100200.0"))
    assert (led["position"], led["entry_price"], led["mark_price"]) == (
        D("-0.008"),
        D("100200.0"),
        D("100000.0"),
    )
    assert (led["realized_pnl"], led["fees"], led["funding"]) == (realized, fees, funding)
    assert led["wallet"] == wallet == led["exchange_wallet"]
    assert led["unrealized_pnl"] == unrealized == D("1.6")
    assert led["equity"] == wallet + unrealized == D("10007.49530459")
    assert summary["metrics"]["final_equity"] == float(led["equity"])
    assert summary["metrics"]["fees"] == pytest.approx(float(fees), abs=1e-12)
    assert (led["fills"], led["maker_fills"]) == (4, 1)
    assert summary["counters"]["book_differences"] == 0  # the books agreed with the engine


def test_a_post_only_order_that_would_take_is_rejected_and_costs_nothing(run):
    _, fills, orders, _ = run
    # Bar 7: a post-only bid at 100,300.0 over the market at 100,200.0 would take: -5022.
    [gtx] = [o for o in orders.values() if o.price == "100300.0"]
    assert gtx.status == "REJECTED" and gtx.reason.startswith("-5022")
    assert not [f for f in fills if f["client_order_id"] == gtx.client_order_id]
    [rested] = [o for o in orders.values() if o.price == "99000.0" and o.side == "BUY"]
    assert (rested.status, rested.filled_qty) == ("FILLED", D("0.005"))


def test_the_round_trip_and_the_open_trade_split_the_flips_fee(run):
    """One closed trade: the long (entries 0.45 + 0.0891, exits 0.13513541 and the closing
    0.012/0.020 of 0.9018 = 0.54108) made 7.7009 - 1.21531541. The short carries the rest of
    the flip's fee (0.36072) while still open."""
    summary, _, _, _ = run
    m = summary["metrics"]
    long_trade = D("7.7009") - (D("0.45") + D("0.0891") + D("0.13513541") + D("0.54108"))
    assert m["closed_trades"] == 1 and m["win_rate"] == 1.0
    assert m["expectancy"] == pytest.approx(float(long_trade), abs=1e-12)
