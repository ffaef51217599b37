"""The ML strategy's decisions and orders: Buy / Sell / Hold with thresholds and a hold period,
the limit price at or inside the spread (snapped to the tick on purpose), the market fallback
without a book, re-pricing when the book runs away, and the live feature log."""

import re
import time
from dataclasses import replace
from decimal import Decimal as D

import pytest

from core.account import Position
from core.market import BookTicker
from core.orders import TargetPosition
from model import features
from model.live import FEATURE_LOG_COLUMNS, FeatureLog, LinearModel, read_feature_log
from tests.model.support import ROOT, bars_of, week
from tests.trading_engine.support import INSTRUMENTS
from trading_engine.strategies.logistic_regression import (
    DEFAULT_HOLD_BARS,
    LogisticRegressionStrategy,
    PriceMode,
    limit_price,
)

RET_1 = features.FEATURE_NAMES.index("ret_1")
BTC = INSTRUMENTS["BTCUSDT"]  # tick 0.10, step 0.001
STEP_MS = 60_000


def momentum_model(metadata=None) -> LinearModel:
    """logit(BUY) = 1000 * ret_1, logit(SELL) = -1000 * ret_1, logit(HOLD) = 0: after a +0.1%
    bar P(BUY) = e / (e + 1 + 1/e) = 0.665; after a flat bar 1/3 each (HOLD)."""
    n = len(features.FEATURE_NAMES)
    buy = tuple(1000.0 if i == RET_1 else 0.0 for i in range(n))
    return LinearModel(
        classes=(-1, 0, 1),
        feature_names=features.FEATURE_NAMES,
        coef=(tuple(-w for w in buy), (0.0,) * n, buy),
        intercept=(0.0, 0.0, 0.0),
        metadata=metadata or {},
    )


class View:
    """The part of the AccountView the strategy reads: the position."""

    def __init__(self) -> None:
        self.qty: dict[str, D] = {}

    def position(self, symbol: str) -> Position:
        return Position(symbol=symbol, qty=self.qty.get(symbol, D(0)), entry_price=D(0))


class Series:
    """Real warm-up bars, then hand-made bars one minute apart (close = high = low)."""

    def __init__(self, strategy: LogisticRegressionStrategy) -> None:
        warm = bars_of(week().iloc[: features.WARMUP_BARS])
        strategy.warm(warm[:-1])
        self.last = warm[-1]
        self.k = 0
        self.close = warm[-2].close  # the last bar fed: the first move is from it

    def bar(self, move: str):
        """The next bar, `move` = "up" (+0.1%), "down" (-0.1%) or "flat"."""
        factor = {"up": D("1.001"), "down": D("0.999"), "flat": D(1)}[move]
        self.close = (self.close * factor).quantize(D("0.1"))
        bar = replace(
            self.last,
            open_time_ms=self.last.open_time_ms + self.k * STEP_MS,
            close_time_ms=self.last.open_time_ms + self.k * STEP_MS + STEP_MS - 1,
            close=self.close,
            high=self.close,
            low=self.close,
        )
        self.k += 1
        return bar


def book(bid: str, ask: str, t: int) -> BookTicker:
    return BookTicker("BTCUSDT", t, D(bid), D("1"), D(ask), D("1"), t, t, t)


def sides(strategy, series, moves, view=None):
    out = []
    for m in moves:
        (target,) = strategy.on_bar(series.bar(m), view)
        out.append((target.qty > 0) - (target.qty < 0))
    return out


# --- Buy / Sell / Hold ---------------------------------------------------------------------


def test_hold_keeps_the_side_for_hold_bars_then_goes_flat():
    s = LogisticRegressionStrategy(model=momentum_model(), entry_probability=0.36, hold_bars=2)
    series = Series(s)
    # up: BUY -> long; two HOLD bars keep it; the third HOLD is flat; down: SELL -> short.
    got = sides(s, series, ["up", "flat", "flat", "flat", "down", "flat"])
    assert got == [1, 1, 1, 0, -1, -1]


def test_a_signal_below_the_threshold_is_hold():
    # After +0.1%: P(BUY) 0.665 < 0.7 -> HOLD, flat (hold_bars 0).
    s = LogisticRegressionStrategy(model=momentum_model(), entry_probability=0.7, hold_bars=0)
    series = Series(s)
    (target,) = s.on_bar(series.bar("up"), None)
    assert target.qty == 0 and "p_buy=0.665" in target.reason and "HOLD: flat" in target.reason


def test_hold_bars_default_to_the_models_label_horizon():
    with_horizon = momentum_model({"label": {"kind": "forward", "horizon": 7}})
    assert LogisticRegressionStrategy(model=with_horizon).hold_bars == 7
    assert LogisticRegressionStrategy(model=momentum_model()).hold_bars == DEFAULT_HOLD_BARS
    assert LogisticRegressionStrategy(model=with_horizon, hold_bars=3).hold_bars == 3


# --- the price --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "bid", "ask", "buy", "want"),
    [
        (PriceMode.PASSIVE, "100.0", "100.1", True, "100.0"),
        (PriceMode.PASSIVE, "100.0", "100.1", False, "100.1"),
        (PriceMode.INSIDE, "100.0", "100.1", True, "100.0"),  # one tick wide: nothing inside
        (PriceMode.INSIDE, "100.0", "100.2", True, "100.1"),  # two ticks: one inside
        (PriceMode.INSIDE, "100.0", "100.5", False, "100.4"),
        (PriceMode.CROSS, "100.0", "100.5", True, "100.5"),  # marketable, known worst price
        (PriceMode.CROSS, "100.0", "100.5", False, "100.0"),
        (PriceMode.MARKET, "100.0", "100.5", True, None),
    ],
)
def test_limit_price_at_or_inside_the_spread(mode, bid, ask, buy, want):
    got = limit_price(buy, D(bid), D(ask), mode, D("0.1"))
    assert got == (None if want is None else D(want))


def test_the_target_is_priced_from_the_last_book_and_snapped_to_the_tick():
    s = LogisticRegressionStrategy(
        model=momentum_model(),
        entry_probability=0.36,
        instruments={"BTCUSDT": BTC},
        price_mode="passive",
        order_notional_usdt=1000,
    )
    series = Series(s)
    bar = series.bar("up")
    # An off-grid book (tick 0.10): a buy's price floors, never rounding toward the ask.
    s.on_book(book("60000.07", "60000.13", bar.close_time_ms - 5), View())
    (target,) = s.on_bar(bar, View())
    assert target.qty > 0 and target.price == D("60000.0")
    # Selling (SELL signal from long): the ask ceils to 60000.2.
    view = View()
    view.qty["BTCUSDT"] = target.qty
    down = series.bar("down")
    s.on_book(book("60000.07", "60000.13", down.close_time_ms - 5), view)
    (short,) = s.on_bar(down, view)
    assert short.qty < 0 and short.price == D("60000.2")


def test_without_a_book_or_with_a_stale_one_the_fallback_is_a_market_order():
    s = LogisticRegressionStrategy(model=momentum_model(), entry_probability=0.36)
    series = Series(s)
    (target,) = s.on_bar(series.bar("up"), View())
    assert target.price is None and target.qty > 0  # no book seen
    bar = series.bar("down")
    s.on_book(book("100", "100.1", bar.close_time_ms - 60_001), View())
    (target,) = s.on_bar(bar, View())
    assert target.price is None and target.qty < 0  # the book is over a minute older


def test_a_reached_target_keeps_its_price_and_is_not_re_priced():
    s = LogisticRegressionStrategy(
        model=momentum_model(), entry_probability=0.36, price_mode="passive", reprice_ms=1000
    )
    series = Series(s)
    bar = series.bar("up")
    view = View()
    s.on_book(book("100.0", "100.1", bar.close_time_ms), view)
    (target,) = s.on_bar(bar, view)
    view.qty["BTCUSDT"] = target.qty  # filled
    assert s.on_book(book("101.0", "101.1", bar.close_time_ms + 5000), view) == ()
    (again,) = s.on_bar(series.bar("flat"), view)  # HOLD: still long, nothing to work
    assert again.qty == target.qty and again.price == target.price
    # the side is the earlier BUY's, held (it read "HOLD: long", as if the HOLD went long)
    assert again.reason.endswith(
        f"HOLD: long held, at most {s.hold_bars - 1} more bars without a signal"
    )


def test_a_book_running_away_re_prices_the_target_at_most_every_reprice_ms():
    s = LogisticRegressionStrategy(
        model=momentum_model(), entry_probability=0.36, price_mode="passive", reprice_ms=5000
    )
    series = Series(s)
    bar = series.bar("up")
    t = bar.close_time_ms
    view = View()
    s.on_book(book("100.0", "100.1", t), view)
    (target,) = s.on_bar(bar, view)
    assert target.price == D("100.0")
    # The bid moves up (away from our buy) too soon: wait; a bid moving down: ours is fine.
    assert s.on_book(book("100.3", "100.4", t + 4999), view) == ()
    assert s.on_book(book("99.5", "99.6", t + 6000), view) == ()
    (moved,) = s.on_book(book("100.3", "100.4", t + 7000), view)
    assert moved == TargetPosition(
        symbol="BTCUSDT", qty=target.qty, price=D("100.3"), reason="re-price"
    )
    # Another 5 s must pass from the new price.
    assert s.on_book(book("100.6", "100.7", t + 11_999), view) == ()
    assert s.on_book(book("100.6", "100.7", t + 12_000), view)[0].price == D("100.6")


def test_reprice_ms_0_never_re_prices():
    s = LogisticRegressionStrategy(
        model=momentum_model(), entry_probability=0.36, price_mode="passive", reprice_ms=0
    )
    series = Series(s)
    bar = series.bar("up")
    s.on_book(book("100.0", "100.1", bar.close_time_ms), View())
    s.on_bar(bar, View())
    assert s.on_book(book("105.0", "105.1", bar.close_time_ms + 10**6), View()) == ()


def test_a_model_trained_on_other_bars_than_the_strategy_gets_is_refused():
    one_minute = momentum_model({"interval": "1m"})
    with pytest.raises(ValueError, match="trained on 1m bars, the strategy gets 1s bars"):
        LogisticRegressionStrategy(model=one_minute, bar_interval="1s")
    assert LogisticRegressionStrategy(model=one_minute, bar_interval="1m").bar_interval == "1m"


def test_a_model_trained_on_another_symbol_is_refused_naming_it():
    btc = momentum_model({"symbol": "BTCUSDT"})
    eth = {"ETHUSDT": INSTRUMENTS["ETHUSDT"]}
    said = "the model was trained on BTCUSDT, the strategy trades ETHUSDT"
    with pytest.raises(ValueError, match=said):
        LogisticRegressionStrategy(model=btc, instruments=eth)  # the symbols of a backtest
    with pytest.raises(ValueError, match=said.replace("ETHUSDT", "BTCUSDT, ETHUSDT")):
        LogisticRegressionStrategy(model=btc, symbols=("BTCUSDT", "ETHUSDT"))  # a config's
    assert LogisticRegressionStrategy(model=btc, symbols=("BTCUSDT",)).symbols == ("BTCUSDT",)
    # A model built in memory that does not say its symbol, or a strategy told none, is not
    # checked (a model file must say it: below).
    assert LogisticRegressionStrategy(model=momentum_model(), instruments=eth)
    assert LogisticRegressionStrategy(model=btc).symbols == ()


@pytest.mark.parametrize(
    ("drop", "set_", "says"),
    [
        ("symbol", {}, "symbol is None, not the symbol it was trained on"),
        ("interval", {}, "interval is None, not the bar interval it was trained on"),
        (None, {"symbol": ["BTCUSDT"]}, "symbol is ['BTCUSDT'], not the symbol"),
    ],
)
def test_a_model_file_that_does_not_say_its_symbol_or_interval_is_refused(
    tmp_path, drop, set_, says
):
    # Such a file was traded on any symbol and interval, unchecked: a model trained on ETH
    # 5m bars whose metadata was lost traded BTC 1m bars without a word.
    import json

    from model.registry import promoted

    shipped = promoted(ROOT / "models/btcusdt-1m")
    assert shipped is not None
    doc = json.loads(shipped.read_text())
    doc.pop(drop, None)
    doc.update(set_)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=re.escape(f"model file {path}: {says}")):
        LogisticRegressionStrategy(model_path=path, symbols=("BTCUSDT",), bar_interval="1m")
    # The same file with both fields trades.
    doc.update(symbol="BTCUSDT", interval="1m")
    path.write_text(json.dumps(doc))
    assert LogisticRegressionStrategy(model_path=path, symbols=("BTCUSDT",), bar_interval="1m")


@pytest.mark.parametrize("horizon", ["20", 0, 2.5, True])
def test_a_model_file_whose_label_horizon_is_not_a_whole_number_of_bars_is_refused(
    tmp_path, horizon
):
    # The hold (hold_bars = the label horizon) fell back to 15 bars without a word for a
    # horizon written as "20": positions held for another length than the model was made for.
    import json

    from model.registry import promoted

    shipped = promoted(ROOT / "models/btcusdt-1m")
    assert shipped is not None
    doc = json.loads(shipped.read_text())
    assert doc["label"]["horizon"] == 15
    doc["label"]["horizon"] = horizon
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    says = f"model file {path}: label.horizon is {horizon!r}, not a whole number of bars >= 1"
    with pytest.raises(ValueError, match=re.escape(says)):
        LogisticRegressionStrategy(model_path=path, symbols=("BTCUSDT",), bar_interval="1m")
    doc["label"]["horizon"] = 20
    path.write_text(json.dumps(doc))
    assert LogisticRegressionStrategy(model_path=path, symbols=("BTCUSDT",)).hold_bars == 20


def test_a_flow_model_is_refused_on_bars_without_taker_volume():
    flow = replace(momentum_model(), flow=True)
    with pytest.raises(ValueError, match=r"taker-flow features \(flow on\).*--flow off"):
        LogisticRegressionStrategy(model=flow, taker_flow=False)
    assert LogisticRegressionStrategy(model=flow).model.flow
    assert not LogisticRegressionStrategy(model=momentum_model(), taker_flow=False).model.flow


def test_bad_pricing_parameters_are_refused():
    with pytest.raises(ValueError, match="price_mode"):
        LogisticRegressionStrategy(model=momentum_model(), price_mode="mid")
    with pytest.raises(ValueError, match="reprice_ms"):
        LogisticRegressionStrategy(model=momentum_model(), reprice_ms=-1)


# --- the live feature log -------------------------------------------------------------------


def test_feature_sink_sees_every_bar_and_the_log_reads_back_exactly(tmp_path):
    path = tmp_path / "features.csv"
    log = FeatureLog(path)
    s = LogisticRegressionStrategy(model=momentum_model(), feature_sink=log)
    bars = bars_of(week().iloc[: features.WARMUP_BARS + 3])
    s.warm(bars[:-3])
    rows = []
    for b in bars[-3:]:
        s.on_bar(b, None)
        rows.append(s.last_features("BTCUSDT"))
    log.close()

    df = read_feature_log(path)
    assert tuple(df.columns) == FEATURE_LOG_COLUMNS
    assert df["open_time_ms"].tolist() == [b.open_time_ms for b in bars]
    assert [str(c) for c in df["close"]] == [str(float(b.close)) for b in bars]
    feats = df[list(features.FEATURE_NAMES)]
    assert feats.iloc[: features.WARMUP_BARS - 1].isna().all().all()  # warm-up: no row
    assert feats.iloc[-3:].to_numpy().tolist() == rows  # repr round-trips every float


def test_a_feature_log_appends_to_an_existing_file_without_a_second_header(tmp_path):
    path = tmp_path / "features.csv"
    bar = bars_of(week().iloc[:1])[0]
    for _ in range(2):
        log = FeatureLog(path)
        log(bar, None)
        log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("symbol,open_time_ms")


def _lines_with(path, needle, timeout_s=30.0):
    """The file's lines once it holds `needle` (the writer thread is asynchronous; on a busy
    machine it may take seconds to be scheduled: the bound is only against a hang)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and needle in (text := path.read_text()):
            return text.splitlines()
        time.sleep(0.01)
    raise AssertionError(f"{path} never held {needle!r}")


def test_a_feature_log_at_its_size_limit_moves_to_dot_1_and_a_new_file_starts(tmp_path):
    path = tmp_path / "features.csv"
    first, second = bars_of(week().iloc[:2])
    log = FeatureLog(path, max_bytes=1)  # every batch fills it

    log(first, None)
    rotated = _lines_with(log.rotated_path, f"BTCUSDT,{first.open_time_ms},")
    log(second, None)
    rotated_again = _lines_with(log.rotated_path, f"BTCUSDT,{second.open_time_ms},")
    log.close()

    header = ",".join(FEATURE_LOG_COLUMNS)
    assert log.rotated_path == tmp_path / "features.csv.1"
    assert len(rotated) == 2 and rotated[0] == header
    assert len(rotated_again) == 2 and rotated_again[0] == header  # the first bar's file gone
    assert path.read_text().splitlines() == [header]


def test_a_restarted_feature_log_already_over_its_limit_starts_a_new_file(tmp_path):
    path = tmp_path / "features.csv"
    bar = bars_of(week().iloc[:1])[0]
    log = FeatureLog(path)
    log(bar, None)
    log.close()
    full = path.read_text()

    FeatureLog(path, max_bytes=len(full)).close()

    assert (tmp_path / "features.csv.1").read_text() == full
    assert path.read_text().splitlines() == [",".join(FEATURE_LOG_COLUMNS)]
