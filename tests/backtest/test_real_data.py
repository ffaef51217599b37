"""Acceptance on real data: whole months of 1m klines (../shared/data/market/klines) and the real
trade captures with their bookTicker (../shared/data/market/trades, bookticker) run through the
backtest, and summary.json's metrics equal an independent recomputation from equity.csv and
trades.csv; funding is recomputed from the funding-rate file, the positions in equity.csv and the
klines' closes. The big runs need ../shared (skipped without it) and are `slow`; the bundled week
and the bundled capture give CI the same checks on a bounded input.
"""

import bisect
import csv
import gzip
import itertools
import json
import math
from decimal import ROUND_HALF_UP
from decimal import Decimal as D
from pathlib import Path
from statistics import median

import pytest

from backtest.data import load
from backtest.outputs import write_outputs
from backtest.runner import BacktestConfig, run_backtest
from core.enums import OrderType, Side, TimeInForce
from core.market import Trade
from core.orders import OrderProposal
from exchange_sim.replay.grid import load_instruments
from trading_engine.main_trading_strategy import NO_PROPOSALS, Proposals, StrategyBase

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "market"
BUNDLED = ROOT / "exchange_sim" / "data"
YEAR_MS = 365 * 86_400_000
MINUTE_MS = 60_000
E8 = D("0.00000001")
SYMBOLS = set(load_instruments())  # the instruments the engine knows (BTCUSDT, ETHUSDT)


def shared_months() -> list[Path]:
    folder = SHARED / "klines"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*-um-1m-*.csv.gz") if p.name.split("-")[0] in SYMBOLS)


def shared_captures() -> list[Path]:
    folder = SHARED / "trades"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*-um-trades-*.csv.gz") if p.name.split("-")[0] in SYMBOLS)


def needs_shared(paths: list[Path]) -> list:
    if paths:
        return [pytest.param(p, id=p.name.split(".")[0]) for p in paths]
    return [pytest.param(None, marks=pytest.mark.skip(reason=f"{SHARED} is absent"))]


# --- the independent recomputation -------------------------------------------------------------


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def round_trips(fills: list[dict[str, str]]) -> tuple[list[D], D]:
    """The closed round trips' results from trades.csv, exactly (Decimal), and what the trade
    still open carries (its realized PnL net of its fees so far). A trade opens when a fill
    leaves flat or flips, and ends at the fill that brings the position back to flat or
    flips it; a flip's commission is split by quantity between the two trades."""
    results: list[D] = []
    pnl = fees = D(0)
    for f in fills:
        qty, after = D(f["qty"]), D(f["position_after"])
        before = after - qty if f["side"] == "BUY" else after + qty
        rp, fee = D(f["realized_pnl"]), D(f["commission"])
        flipped = before != 0 and after != 0 and (after > 0) != (before > 0)
        if before != 0 and after == 0:  # back to flat
            results.append(pnl + rp - fees - fee)
            pnl = fees = D(0)
        elif flipped:
            closing_fee = fee * abs(before) / qty
            results.append(pnl + rp - fees - closing_fee)
            pnl, fees = D(0), fee - closing_fee
        else:  # an entry, an addition or a partial reduce: the trade goes on
            pnl += rp
            fees += fee
    return results, pnl - fees


def daily_ratios(t: list[int], e: list[float]) -> tuple[float | None, float | None]:
    """(Sharpe, Sortino) of the UTC daily returns, x sqrt(365), with pandas: the curve's last
    sample of each day over the day before's (the first day: over the first sample)."""
    import pandas as pd

    curve = pd.Series(e, index=pd.to_datetime(t, unit="ms", utc=True))
    closes = curve.groupby(curve.index.floor("D")).last()
    r = closes / closes.shift(1, fill_value=e[0]) - 1
    sd = r.std(ddof=1) if len(r) > 1 else 0.0
    down = math.sqrt((r.clip(upper=0) ** 2).mean())
    year = math.sqrt(365)
    return (
        r.mean() / sd * year if sd > 0 else None,
        r.mean() / down * year if down > 0 and len(r) > 1 else None,
    )


def expected_metrics(out: Path, starting_equity: float) -> dict[str, float | int | None]:
    """Every metric of summary.json from equity.csv and trades.csv alone (definitions in
    backtest/metrics.py's docstring, re-derived here; None where a denominator is 0)."""
    eq = rows(out / "equity.csv")
    t = [int(r["time_ms"]) for r in eq]
    e = [float(r["equity"]) for r in eq]
    pos = [float(r["position"]) for r in eq]
    fills = rows(out / "trades.csv")
    r = [e[i] / e[i - 1] - 1 for i in range(1, len(e))]
    steps = [b - a for a, b in itertools.pairwise(t) if b > a]
    per_year = YEAR_MS / median(steps)
    mean = sum(r) / len(r)
    var = sum((x - mean) ** 2 for x in r) / (len(r) - 1)
    down = math.sqrt(sum(min(x, 0) ** 2 for x in r) / len(r))
    peak, dd = e[0], []
    for ei in e:
        peak = max(peak, ei)
        dd.append(1 - ei / peak)
    worst = max(dd)
    longest, i = 0, 0
    while i < len(e):  # underwater stretches: peak sample before -> first sample back (or end)
        if dd[i] > 0:
            j = i
            while j < len(e) and dd[j] > 0:
                j += 1
            longest = max(longest, t[min(j, len(e) - 1)] - t[i - 1])
            i = j
        else:
            i += 1
    growth = e[-1] / e[0]
    ann = growth ** (YEAR_MS / (t[-1] - t[0])) - 1 if growth > 0 else -1.0
    exact, _ = round_trips(fills)
    results = [float(x) for x in exact]
    sharpe_daily, sortino_daily = daily_ratios(t, e)
    wins = sum(x for x in results if x > 0)
    losses = -sum(x for x in results if x < 0)
    sharpe = mean / math.sqrt(var) * math.sqrt(per_year) if var > 0 else None
    sortino = mean / down * math.sqrt(per_year) if down > 0 else None
    calmar = ann / worst if worst > 0 else None
    period = json.loads((out / "summary.json").read_text())["metrics"]
    if period["end_ms"] - period["start_ms"] < 86_400_000:  # under a day: not annualized
        ann = sharpe = sortino = calmar = None
    return {
        "starting_equity": starting_equity,
        "final_equity": e[-1],
        "total_return": e[-1] / e[0] - 1,
        "annualized_return": ann,
        "sharpe": sharpe,
        "sortino": sortino,
        "sharpe_daily": sharpe_daily,
        "sortino_daily": sortino_daily,
        "max_drawdown": worst,
        "calmar": calmar,
        "max_drawdown_duration_ms": longest,
        "win_rate": sum(1 for x in results if x > 0) / len(results) if results else None,
        "profit_factor": wins / losses if losses > 0 else None,
        "expectancy": sum(results) / len(results) if results else None,
        "exposure": sum(1 for p in pos if p) / len(pos),
        "turnover": sum(abs(float(f["price"]) * float(f["qty"])) for f in fills) / e[0],
        "fees": sum(float(f["commission"]) for f in fills),
        "fills": len(fills),
        "closed_trades": len(results),
    }


def assert_summary_matches_csvs(out: Path, starting_equity: float) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    m = summary["metrics"]
    for key, value in expected_metrics(out, starting_equity).items():
        if value is None:
            assert m[key] is None, key
        else:
            assert m[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
    fills = rows(out / "trades.csv")
    assert_ledger_adds_up(summary, rows(out / "equity.csv"), fills)
    assert_fees_by_role(summary["settings"], fills)
    assert summary["counters"]["book_differences"] == 0  # the books agreed with the engine
    return summary


def assert_ledger_adds_up(summary: dict, eq: list[dict], fills: list[dict]) -> None:
    """summary.json's exact `ledger` against trades.csv, to the last digit: realized PnL and
    fees are the fills' sums, wallet = start + realized - fees + funding (what the exchange's
    wallet is too), equity = wallet + position x (mark - entry), the last row of equity.csv;
    the round trips and the trade still open add up to realized - fees."""
    led = {k: D(v) if isinstance(v, str) else v for k, v in summary["ledger"].items()}
    realized = sum((D(f["realized_pnl"]) for f in fills), D(0))
    fees = sum((D(f["commission"]) for f in fills), D(0))
    assert (led["realized_pnl"], led["fees"], led["fills"]) == (realized, fees, len(fills))
    assert led["maker_fills"] == sum(f["is_maker"] == "true" for f in fills)
    wallet = led["starting_wallet"] + realized - fees + led["funding"]
    assert led["adjustments"] == 0
    assert led["wallet"] == wallet == led["exchange_wallet"]
    position = D(fills[-1]["position_after"]) if fills else D(0)
    assert led["position"] == position
    unrealized = position * (led["mark_price"] - led["entry_price"])
    assert led["unrealized_pnl"] == unrealized
    assert led["equity"] == wallet + unrealized
    assert float(eq[-1]["equity"]) == float(led["equity"])
    assert float(led["funding"]) == summary["metrics"]["funding"]
    closed, still_open = round_trips(fills)
    assert float(sum(closed, D(0)) + still_open) == pytest.approx(float(realized - fees))


def assert_fees_by_role(settings: dict, fills: list[dict]) -> None:
    """Each fill paid qty x price x (maker rate if it rested, else taker rate), rounded half up
    to 8 decimals: the role is how it filled (trades.csv `is_maker`), not the order's type."""
    rates = {"true": D(settings["maker_fee"]), "false": D(settings["taker_fee"])}
    for f in fills:
        fee = (D(f["qty"]) * D(f["price"]) * rates[f["is_maker"]]).quantize(E8, ROUND_HALF_UP)
        assert D(f["commission"]) == fee, f


def funding_by_hand(out: Path, klines: Path, funding: Path) -> D:
    """sum over settlements T inside the data of -position(T-) * close(bar before T) * rate(T),
    each rounded to 8 decimals half up as the exchange books it (the months have no gaps, so
    each settlement is paid at the bar that opens at T)."""
    with gzip.open(funding, "rt") as fh:
        rate_rows = list(csv.reader(fh))[1:]
    rates = {(int(tm) + 30_000) // MINUTE_MS * MINUTE_MS: D(rate) for tm, rate in rate_rows}
    with gzip.open(klines, "rt") as fh:
        bars = list(csv.reader(fh))[1:]
    close_before = {int(b[0]) + MINUTE_MS: D(b[4]) for b in bars}  # T -> close of bar T-1m
    opens = {int(b[0]) for b in bars}
    first_open = int(bars[0][0])
    position = {int(r["time_ms"]): D(r["position"]) for r in rows(out / "equity.csv")}
    total = D(0)
    for tm, rate in rates.items():
        if tm <= first_open or tm not in opens:  # settled by the first data at or after T
            continue
        amount = (position[tm - 1] * close_before[tm] * rate).quantize(E8, ROUND_HALF_UP)
        total -= amount  # longs pay a positive rate
    return total


# --- klines: a bounded CI run and the real months ----------------------------------------------


def run_klines(path: Path, out: Path, *, params: dict | None = None, **knobs) -> dict:
    config = BacktestConfig(
        symbol=path.name.split("-")[0],
        strategy_params={"order_notional_usdt": D(1000), **(params or {})},
        funding="auto",
        **knobs,
    )
    result = run_backtest(load(path), config)
    write_outputs(result, out)
    summary = assert_summary_matches_csvs(out, 10_000.0)
    assert summary["data"] == {"kind": "klines", "rows": len(load(path)), "warm_bars": 0}
    return summary


def check_funding(summary: dict, out: Path, klines: Path) -> None:
    source = summary["settings"]["funding"]
    if source == "none":
        assert summary["metrics"]["funding"] == 0
        return
    by_hand = funding_by_hand(out, klines, Path(source))
    assert by_hand != 0  # the run held positions over recorded settlements
    assert summary["metrics"]["funding"] == pytest.approx(float(by_hand), abs=1e-9)


def test_the_bundled_week_with_recorded_funding_matches_its_recomputation(tmp_path):
    week = BUNDLED / "klines" / "BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
    summary = run_klines(week, tmp_path)
    assert summary["settings"]["funding"].endswith(
        "BTCUSDT-um-8h-funding_rate-2025-03-06_2025-06-03.csv.gz"
    )
    check_funding(summary, tmp_path, week)
    assert summary["metrics"]["fills"] > 50


@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("rsi_macd", {}),
        ("logistic_regression", {"model_path": str(ROOT / "models" / "btcusdt-1m")}),
    ],
)
def test_the_bundled_week_with_other_strategies_matches_its_recomputation(
    strategy, params, tmp_path
):
    """The shipped strategies besides sma_crossover: rsi_macd (long and short by MACD and
    RSI) and the default logistic-regression model, whose bars the fast path cannot skip."""
    week = BUNDLED / "klines" / "BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
    summary = run_klines(week, tmp_path, strategy=strategy, params=params)
    check_funding(summary, tmp_path, week)
    m = summary["metrics"]
    assert m["fills"] > 100 and m["closed_trades"] > 50
    assert m["sharpe_daily"] is not None and m["sortino_daily"] is not None


def test_the_bundled_week_with_every_knob_on_still_matches(tmp_path):
    week = BUNDLED / "klines" / "BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
    summary = run_klines(
        week,
        tmp_path,
        entry_latency="lognormal:median=250,sigma=0.7",
        ack_latency="empirical:20,40,80",
        seed=11,
        slippage_bps=D(2),
        leverage=10,
    )
    s = summary["settings"]
    assert (s["entry_latency"], s["ack_latency"], s["seed"]) == (
        "lognormal:median=250,sigma=0.7",
        "empirical:20,40,80",
        11,
    )
    assert summary["counters"]["venue_entry_latency_draws"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("month", needs_shared(shared_months()))
def test_a_real_month_of_klines_matches_its_recomputation(month, tmp_path):
    summary = run_klines(month, tmp_path)
    assert summary["data"]["rows"] > 40_000  # a month or more of 1m bars
    assert summary["metrics"]["fills"] > 0
    check_funding(summary, tmp_path, month)


# --- trades with the recorded top of book ------------------------------------------------------


def book_for(trades: Path, *, depth: bool = False) -> str:
    """The book of the same session (symbol, time span): its bookTicker CSV, and with `depth`
    the raw websocket captures starting inside the span (their depth snapshot and diffs)."""
    market = trades.parent.parent
    parts = []
    csv_path = market / "bookticker" / trades.name.replace("-trades-", "-bookTicker-")
    if csv_path.is_file():
        parts.append(csv_path)
    if depth:
        symbol, span = trades.name.split("-trades-")[0], trades.name.split("-trades-")[1]
        start, _, end = span.split(".")[0].partition("_")
        end = end if "T" in end else start.split("T")[0] + "T" + end
        for raw in sorted((market / "raw_ws").glob(f"{symbol}-ws-raw-*.jsonl.gz")):
            raw_start = raw.name.split("-ws-raw-")[1].removeprefix("depth-").split("_")[0]
            if start <= raw_start <= end:
                parts.append(raw)
    return ",".join(str(p) for p in parts)


class LimitQuoter(StrategyBase):
    """Every `every`-th trade, with no order of its own open: a GTC limit at that trade's
    price, buying 0.01 BTC (plus a short to cover) when flat or short, selling when long. At
    the last price it often meets the recorded touch (a taker fill, then the rest resting),
    else it rests and fills from later prints (maker, often in parts)."""

    name = "limit_quoter"

    def __init__(self, every: int = 300, **common: object) -> None:
        super().__init__(**common)  # type: ignore[arg-type]
        self.every = every
        self.n = 0

    def on_trade(self, trade: Trade, view) -> Proposals:  # type: ignore[no-untyped-def]
        self.n += 1
        if self.n % self.every or view.open_orders(trade.symbol):
            return NO_PROPOSALS
        position = view.position(trade.symbol).qty
        return (
            OrderProposal(
                symbol=trade.symbol,
                side=Side.BUY if position <= 0 else Side.SELL,
                type=OrderType.LIMIT,
                quantity=D("0.01") + abs(position),
                price=trade.price,
                time_in_force=TimeInForce.GTC,
                reason="quote",
            ),
        )


def run_trades(path: Path, out: Path, book: str, *, strategy: str = "sma_crossover") -> dict:
    params: dict = {"fast": 2, "slow": 3} if strategy == "sma_crossover" else {}
    config = BacktestConfig(
        symbol=path.name.split("-")[0],
        strategy=strategy,
        strategy_params={**params, "order_notional_usdt": D(1000)},
        book_ticker=book,
        slippage_bps=D(1),
        entry_latency="lognormal:median=20,sigma=0.5",
        ack_latency="10",
        seed=3,
    )
    result = run_backtest(load(path), config)
    write_outputs(result, out)
    summary = assert_summary_matches_csvs(out, 10_000.0)
    assert summary["data"]["kind"] == "trades"
    if book:
        assert summary["counters"]["venue_book_updates"] > 0
    if book and "," not in book and ".jsonl" not in book:  # top of book only
        assert_taker_fills_at_the_recorded_top(out, Path(book), D(1))
    return summary


def assert_taker_fills_at_the_recorded_top(out: Path, book: Path, impact_bps: D) -> None:
    """Each taker fill is at the last recorded best quote at or before it, or one impact step
    beyond (2 levels: the touch with its size, then the impact level)."""
    with gzip.open(book, "rt") as fh:
        # By time, the file's order (update ids) within a millisecond: the last quote of a
        # millisecond is the book then (sorting by price too picked another one of them).
        quotes = sorted(
            (
                (int(r["transaction_time"]), D(r["best_bid_price"]), D(r["best_ask_price"]))
                for r in csv.DictReader(fh)
            ),
            key=lambda q: q[0],
        )
    times = [q[0] for q in quotes]
    tick = D("0.1") if "BTCUSDT" in book.name else D("0.01")
    takers = [f for f in rows(out / "trades.csv") if f["is_maker"] == "false"]
    assert takers
    for f in takers:
        i = bisect.bisect_right(times, int(f["time_ms"])) - 1
        _, bid, ask = quotes[i]
        price = D(f["price"])
        if f["side"] == "BUY":
            step = max(1, math.ceil(ask * impact_bps / 10_000 / tick)) * tick
            assert price in (ask, ask + step), (f, ask)
        else:
            step = max(1, math.ceil(bid * impact_bps / 10_000 / tick)) * tick
            assert price in (bid, bid - step), (f, bid)


def test_the_bundled_capture_with_its_book_matches_its_recomputation(tmp_path):
    trades = BUNDLED / "trades" / "BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"
    summary = run_trades(trades, tmp_path, book_for(trades))
    assert summary["settings"]["book_ticker"].endswith("bookTicker-2024-08-08T2354_2400.csv.gz")
    assert summary["metrics"]["fills"] >= 1
    # Six minutes: no annualized figures (their recomputation above says null), and why.
    assert summary["metrics"]["not_annualized_reason"].startswith("the run spans 5.")


QUOTER = f"{__name__}:LimitQuoter"


def assert_quoter_fills(out: Path) -> None:
    """The quoting strategy's fills: both roles, orders filled in parts, and round trips
    fewer than the fills that closed something (a position closed in parts is one trade)."""
    fills = rows(out / "trades.csv")
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    roles = {f["is_maker"] for f in fills}
    assert roles == {"true", "false"}
    per_order: dict[str, int] = {}
    for f in fills:
        per_order[f["client_order_id"]] = per_order.get(f["client_order_id"], 0) + 1
    assert max(per_order.values()) > 1
    assert 0 < metrics["closed_trades"] < sum(_reduces(f) for f in fills)


def _reduces(fill: dict[str, str]) -> bool:
    buy, after, qty = fill["side"] == "BUY", D(fill["position_after"]), D(fill["qty"])
    before = after - qty if buy else after + qty
    return before != 0 and (before > 0) != buy


def test_the_bundled_capture_with_a_quoting_strategy_matches_its_recomputation(tmp_path):
    trades = BUNDLED / "trades" / "BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"
    summary = run_trades(trades, tmp_path, book_for(trades), strategy=QUOTER)
    assert summary["metrics"]["fills"] > 20
    assert_quoter_fills(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("capture", needs_shared(shared_captures()))
def test_a_real_trade_capture_matches_its_recomputation(capture, tmp_path):
    summary = run_trades(capture, tmp_path / "top", book_for(capture))
    assert summary["data"]["rows"] > 10_000
    run_trades(capture, tmp_path / "quoter", book_for(capture), strategy=QUOTER)
    assert_quoter_fills(tmp_path / "quoter")
    book = book_for(capture, depth=True)
    if ".jsonl" in book:  # the session's depth was recorded too: walk it
        summary = run_trades(capture, tmp_path / "depth", book)
        assert summary["settings"]["book_ticker"] == book
