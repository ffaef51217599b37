"""Run a backtest: the daemon's pipeline on recorded data, against the in-process engine.

The SAME objects as `python app.py` (trading_engine.daemon): `ExecManager`, `RiskManager`,
`BookKeeper`, the strategy from `make_strategy`, a journal; only the venue
(`backtest.venue.InProcessVenue` over `exchange_sim.engine.Exchange`) and the clock (a
`SimClock`) differ.

Klines drive the engine through a small deterministic path inside each 1m bar, so that resting
orders and stops can fill within it: open -> low -> high -> close for a bar that closed at or
above its open, open -> high -> low -> close otherwise, as trades at open +0, +20 s, +40 s and
+59.999 s, each of a quarter of the bar's volume (at least one lot); a stop or take-profit
level armed between two of these prices is traded at on the way (volume 0), so the order it
triggers fills at its level, not at the bar's low or high; so is the position's liquidation
price (the engine's), where the mark is set for the engine to liquidate at it (a gap past it
at the open liquidates at the open). A mark price equal to the close follows the last
trade, then the ExecManager gets that MarkPrice and the closed `Bar` (`BarSource.KLINES`) at
the bar's close time: a market order the strategy sends then, with no latency and no
slippage, fills at the close. With `slippage_bps` the engine also gets a synthetic best
bid/ask that far (at least a tick) either side of each path price, so takers
pay it. Trades data drives the engine trade by trade (a mark each second at the last price)
and the ExecManager builds 1m bars from the trades (`BarSource.TRADES`).

Fast path (`BacktestConfig.fast_path`, on by default; backtest/fast_path.py): with a strategy
that implements `BarFastForward` (SmaCrossover does), the bars / trades at which nothing can
happen (no decision change, no stop level reached, no limit near, no funding or day roll) are
taken vectorized and only the others go through the pipeline above (for klines, the last
quiet bar before each of them is brought to its close state without it: `catch_up`); the
results are the plain loop's exactly (tests/backtest/test_fast_path.py). `fast_path=False`
runs every bar / trade.

Funding: kline and trade files carry no funding rates; with `funding` (a recorded funding-rate
CSV, or "auto" for the bundled file of the symbol) each mark price update carries the recorded
rate of the next settlement and the engine settles it at its time (`backtest.realism`);
otherwise the rate is 0. Fill realism (latency distributions, acknowledgement latency, the
recorded top of book for trades data, leverage and brackets): `backtest.realism` and
`backtest.venue`; `_realism` applies them.
"""

import bisect
import contextlib
import gc
import time
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

from backtest import metrics, realism
from backtest.buy_and_hold import BuyAndHold, buy_and_hold
from backtest.data import DataError, Klines, MarketData, Trades, clip
from backtest.instruments import backtest_instruments, instrument_of
from backtest.journal_folder import fresh_backtest_journal
from backtest.json_values import jsonable
from backtest.progress import PROGRESS_EVERY, each_row, progress_bar
from backtest.recording import RecordingJournal, TeeJournal
from backtest.venue import InProcessVenue, VenueConfig, send_synthetic_touch
from book_keeper.book_keeper import BookKeeper
from book_keeper.journal import SqliteJournal, Synchronous
from core.clock import SimClock
from core.instrument import Instrument
from core.market import Bar, MarkPrice, Trade
from core.orders import ClientOrderIds
from exchange_sim.engine import EngineConfig, Exchange
from gateway.bars import BarBuilder
from risk_manager.config import RiskConfig
from risk_manager.risk_manager import RiskManager
from runtime.settings import Settings, risk_config
from trading_engine.exec_manager import BarSource, ExecConfig, ExecManager
from trading_engine.main_trading_strategy import make_strategy

ACCOUNT = "backtest"
MINUTE_MS = 60_000
WARM_HISTORY_BARS = 1500  # the most history a warm-up reads: one page of REST klines, as live
_PATH_OFFSETS_MS = (0, 20_000, 40_000, MINUTE_MS - 1)
_CLOSE_OFFSET_MS = _PATH_OFFSETS_MS[-1]
_EIGHT_HOURS_MS = 8 * 60 * 60 * 1000
_MIN_TRADE_SKIP = 32  # quiet trades worth taking at once (a skip costs about 30 trades' time)
_ZERO = Decimal(0)


def backtest_risk(order_notional_usdt: Decimal) -> RiskConfig:
    """The daemon's default limits (`[risk]` of an empty config.toml, `runtime.settings`),
    without a kill-switch file, with order and position caps fitted to the strategy's size:
    a reversal is one order of twice the position, so caps are 3 x the notional."""
    cap = max(Decimal(500), order_notional_usdt * 3)
    return replace(
        risk_config(Settings()),
        kill_switch_file=None,
        max_order_notional_usdt=cap,
        max_position_notional_usdt=cap,
        max_total_notional_usdt=cap,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestConfig:
    """What a backtest runs and under which assumptions (written into summary.json)."""

    symbol: str = "BTCUSDT"
    strategy: str = "sma_crossover"
    strategy_params: Mapping[str, Any] = field(default_factory=dict)
    starting_balance: Decimal = Decimal(10_000)
    maker_fee: Decimal = Decimal("0.0002")  # Binance VIP 0
    taker_fee: Decimal = Decimal("0.0005")
    latency_ms: int = 0
    slippage_bps: Decimal = _ZERO
    risk: RiskConfig | None = None  # None: backtest_risk(strategy's order notional)
    protect_positions: bool = True  # the RiskManager's exchange-side stops, as live
    stale_order_ms: int = 30_000  # a resting order older than this is cancelled (risk.*)
    reentry_hold: bool = True  # a side its stop closed waits for the target to turn (risk.*)
    # A strategy call over this is warned about and counted (strategy.max_call_ms), as live;
    # measured in real time, so it decides nothing and is not part of the results.
    max_strategy_call_ms: Decimal = Decimal(100)
    progress: bool = False  # a tqdm bar on stderr
    journal_dir: Path | None = None  # also write the daemon's SQLite journal there
    # Fill realism (backtest.realism), as plain values so summary.json shows them:
    seed: int = 0  # seeds every random draw of the run (latency distributions)
    entry_latency: str = ""  # "" = latency_ms; "lognormal:median=20,sigma=0.5"; "empirical:.."
    ack_latency: str = "0"  # engine event -> the daemon (ms or a distribution as above)
    funding: str = "none"  # a funding-rate CSV, "auto" (the bundled one of the symbol), "none"
    book_ticker: str = ""  # bookTicker CSV (trades data): takers take the recorded top of book
    # A resting limit order fills on a recorded trade strictly beyond its price ("through",
    # conservative: the queue ahead of it takes a print at its price) or at it ("touch").
    fill_mode: str = "through"
    leverage: int | None = None  # None = the risk config's leverage
    brackets: str = ""  # a saved GET /fapi/v1/leverageBracket answer; "" = engine's default
    exchange_info: str = ""  # a saved GET /fapi/v1/exchangeInfo answer; "" = the bundled one
    # Skip, vectorized, the bars at which nothing can happen (backtest/fast_path.py): the same
    # results as the plain bar-by-bar loop (False), which stays as the reference.
    fast_path: bool = True
    # Trading starts here (epoch ms); the klines before it only warm the strategy (its last
    # `warmup_bars` of them, as the daemon warms from REST klines at start-up). None: at the
    # data's first row, cold.
    trade_from_ms: int | None = None

    def used_leverage(self) -> int:
        """The leverage the run trades at: `leverage` (--leverage), else its risk limits'
        (without any, `backtest_risk`'s: the daemon's default)."""
        if self.leverage is not None:
            return self.leverage
        return (self.risk or backtest_risk(_ZERO)).leverage

    def settings(self) -> dict[str, Any]:
        """summary.json's `settings`: the leverage as the run used it, never None (the report
        showed `leverage n/a` beside `risk.leverage 3`), in `risk` too (--leverage replaces
        it there for the run's checks)."""
        skip = ("risk", "progress", "journal_dir", "fast_path")
        out = {k: v for k, v in asdict(self).items() if k not in skip}
        out["leverage"] = self.used_leverage()
        risk = None if self.risk is None else replace(self.risk, leverage=out["leverage"])
        out["risk"] = asdict(risk) if risk is not None else None
        return jsonable(out)


@dataclass(slots=True)
class BacktestResult:
    config: BacktestConfig
    summary: metrics.Summary
    times_ms: array  # type: ignore[type-arg]
    equity: array  # type: ignore[type-arg]
    positions: array  # type: ignore[type-arg]
    journal: RecordingJournal
    counters: dict[str, int]
    units: int  # bars or trades replayed
    kind: str  # "klines" | "trades"
    wall_s: float
    price_times: array  # type: ignore[type-arg]
    prices: array  # type: ignore[type-arg]
    fast_path_bars: int = 0  # bars (trades, for trades data) the fast path took at once
    fast_path_skips: int = 0  # runs of such bars
    warm_bars: int = 0  # closed bars before trade_from_ms handed to the strategy
    warm_asked: int = 0  # the strategy's warmup_bars, when it was warmed (not in summary.json)
    # The RiskManager's trading state at the end and why it is not ACTIVE (a daily-loss or
    # drawdown limit halts the run: the strategy's later orders are denied, not sent).
    trading_state: str = "ACTIVE"
    state_reason: str = ""
    # Strategy calls over config.max_strategy_call_ms, and the slowest (ms): real time, so
    # not in summary.json (the same run gives the same summary on any machine).
    slow_strategy_calls: int = 0
    slowest_strategy_call_ms: float = 0.0
    # The model a model strategy traded (file, sha256 of its bytes, registry version), else
    # None: `settings.strategy_params.model_path` may name a registry, i.e. any version.
    model: dict[str, Any] | None = None
    # The books' money at the end, exact (`ledger`): wallet = start + realized - fees +
    # funding, equity = wallet + unrealized; the metrics are floats of the same.
    ledger: dict[str, Decimal | int] = field(default_factory=dict)
    # The market's own move over the rows traded (`backtest.buy_and_hold`), beside the
    # strategy's return; None only for a result made without `run_backtest`.
    buy_and_hold: BuyAndHold | None = None

    def metrics(self) -> dict[str, Any]:
        """summary.json's `metrics`: the run's (`summary`) and the market's own move over it
        (`buy_and_hold_return`), as every report of a run gives them (the model's holdout and
        review backtests too)."""
        metric_values = self.summary.to_dict()
        if self.buy_and_hold is not None:
            metric_values["buy_and_hold_return"] = float(self.buy_and_hold.total_return)
        return metric_values

    def summary_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metrics": self.metrics(),
            "ledger": self.ledger,
            "settings": self.config.settings(),
            "data": {"kind": self.kind, "rows": self.units, "warm_bars": self.warm_bars},
            "trading_state": {
                "at_end": self.trading_state,
                "reason": self.state_reason,
                "changes": [
                    {
                        "time_ms": c.event_time_ms,
                        "from": str(c.previous),
                        "to": str(c.current),
                        "reason": c.reason,
                    }
                    for c in self.journal.state_changes
                ],
            },
            "counters": self.counters,
            "orders": len(self.journal.orders),
            "journal_events": dict(sorted(self.journal.counts.items())),
        }
        if self.model is not None:
            out["model"] = self.model
        if self.buy_and_hold is not None:
            out["buy_and_hold"] = self.buy_and_hold.to_dict()
        return jsonable(out)


class _Rig:
    """The daemon's objects wired to the in-process venue."""

    def __init__(
        self,
        config: BacktestConfig,
        inst: Instrument,
        start_ms: int,
        bar_source: BarSource,
        sqlite: Any = None,
        end_ms: int | None = None,
    ) -> None:
        symbol = config.symbol
        instruments = {symbol: inst}
        params = dict(config.strategy_params)
        params.setdefault("instruments", instruments)
        self.strategy = make_strategy(config.strategy, **params)
        notional = Decimal(
            str(
                params.get(
                    "order_notional_usdt", getattr(self.strategy, "order_notional_usdt", 100)
                )
            )
        )
        risk_config = config.risk or backtest_risk(notional)
        self.risk_config = risk_config
        self.clock = SimClock(start_ms)
        self.realism = _realism(config, start_ms, end_ms)
        if self.realism.book_ticker is not None and bar_source is BarSource.KLINES:
            raise ValueError("book_ticker needs trades data (its quotes interleave with trades)")
        if config.leverage is not None:
            risk_config = replace(risk_config, leverage=config.leverage)
            self.risk_config = risk_config
        self.engine = Exchange(
            instruments,
            self.clock,
            EngineConfig(
                maker_fee=config.maker_fee, taker_fee=config.taker_fee, **self.realism.engine
            ),
        )
        self.engine.create_account(ACCOUNT, {"USDT": config.starting_balance})
        self.engine.change_leverage(
            ACCOUNT, {"symbol": symbol, "leverage": str(risk_config.leverage)}
        )
        self.engine.drain_user_events()
        self.book = BookKeeper(
            starting_balances={"USDT": config.starting_balance},
            instruments=instruments,
            clock=self.clock,
            leverage={symbol: risk_config.leverage},
            revalue_eagerly=False,
        )
        self.risk = RiskManager(
            config=risk_config, instruments=instruments, clock=self.clock, view=self.book
        )
        self.journal = RecordingJournal()
        self.venue = InProcessVenue(
            engine=self.engine,
            account=ACCOUNT,
            clock=self.clock,
            instruments=instruments,
            config=self.realism.venue,
        )
        self.funding = self.realism.funding
        if self.realism.book_ticker is not None:
            self.venue.book_feed = realism.BookFeed(
                self.engine, symbol, self.realism.book_ticker, inst.tick_size, config.slippage_bps
            )
        self.em = ExecManager(
            venue=self.venue,
            book=self.book,
            risk=self.risk,
            strategy=self.strategy,
            journal=self.journal if sqlite is None else TeeJournal(self.journal, sqlite),
            clock=self.clock,
            instruments=instruments,
            ids=ClientOrderIds("bt"),
            config=ExecConfig(
                symbols=(symbol,),
                bar_source=bar_source,
                protect_positions=config.protect_positions,
                stale_order_ms=config.stale_order_ms,
                reentry_hold=config.reentry_hold,
                max_strategy_call_ms=config.max_strategy_call_ms,
            ),
            gap_open=lambda s: False,
            clock_offset_ms=lambda: 0,
        )
        self.venue.listener = self.em.on_event


@dataclass(slots=True)
class _Realism:
    engine: dict[str, Any]  # EngineConfig keywords
    venue: VenueConfig
    funding: realism.FundingRates | None
    book_ticker: realism.BookTicker | None
    resolved: dict[str, Any]  # BacktestConfig fields as actually used ("auto" -> its file)


def _realism(config: BacktestConfig, start_ms: int, end_ms: int | None = None) -> _Realism:
    """The realism knobs of `config` as objects; RealismError (a ValueError) for a bad one."""
    resolved: dict[str, Any] = {}
    entry = realism.parse_latency(config.entry_latency or config.latency_ms)
    ack = realism.parse_latency(config.ack_latency)
    engine: dict[str, Any] = {"fill_mode": realism.parse_fill_mode(config.fill_mode)}
    if config.brackets:
        engine["brackets"] = {config.symbol: realism.load_brackets(config.brackets, config.symbol)}
    funding = None
    source = config.funding
    if source == "auto":
        found = realism.bundled_funding(config.symbol, start_ms, end_ms or 2**62)
        source = "none" if found is None else str(found)
    if source not in ("", "none"):
        funding = realism.load_funding(source)
        engine["funding_interval_ms"] = funding.interval_ms
    resolved["funding"] = source or "none"
    book = None
    if config.book_ticker:
        book = realism.load_book_ticker(
            config.book_ticker, start_ms=start_ms - MINUTE_MS, symbol=config.symbol
        )
    venue = VenueConfig(
        latency_ms=config.latency_ms,
        entry_latency=entry,
        ack_latency=None if ack.is_zero else ack,
        seed=config.seed,
    )
    return _Realism(engine, venue, funding, book, resolved)


def run_backtest(
    data: MarketData,
    config: BacktestConfig,
    *,
    instruments: Mapping[str, Instrument] | None = None,
) -> BacktestResult:
    """Replay `data` through the daemon's pipeline; every output in memory. With
    `config.trade_from_ms`, the klines before it warm the strategy and are not traded."""
    if instruments is None:
        instruments = backtest_instruments(config.exchange_info)
    inst = instrument_of(config.symbol, instruments, config.exchange_info)
    wall = time.perf_counter()
    history: MarketData | None = None
    if config.trade_from_ms is not None:
        history, data = split_history(data, config.trade_from_ms)
    start_ms = data.open_time[0] if isinstance(data, Klines) else data.time[0]
    klines = isinstance(data, Klines)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_collector_paused())
        sqlite = None
        if config.journal_dir is not None:
            fresh_backtest_journal(config.journal_dir)
            sqlite = stack.enter_context(
                SqliteJournal(config.journal_dir, synchronous=Synchronous.NORMAL)
            )
        source = BarSource.KLINES if klines else BarSource.TRADES
        rig = _Rig(config, inst, start_ms, source, sqlite, end_ms=data_period(data)[1])
        warm = []
        asked = 0
        if history is not None:
            asked = int(rig.strategy.warmup_bars)
            if isinstance(history, Klines):
                warm = closed_bars(history, config.symbol, asked, start_ms)
            else:
                warm = closed_trade_bars(history, config.symbol, asked, start_ms)
            rig.em.warm(warm)
        identity = getattr(rig.strategy, "model_identity", None)
        return replace(
            _run(rig, data, config, inst, wall),
            warm_bars=len(warm),
            warm_asked=asked,
            model=identity() if callable(identity) else None,
            buy_and_hold=buy_and_hold(data, config.symbol),
        )


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off during a run: the run makes (almost) no cyclic garbage,
    and its objects stay reachable until it ends (the engine, the books and the journal keep
    their history), so the collector's passes, longer as that history grows, free nothing
    (about 9 % of a 500,000-bar run). The previous state comes back after the run.

    The young generations are collected first: a previous run's objects (a cyclic graph, freed
    only by the collector) wait there, and would otherwise stay through this whole run."""
    was_enabled = gc.isenabled()
    gc.collect(1)
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def split_history(data: MarketData, trade_from_ms: int) -> tuple[MarketData | None, MarketData]:
    """(the rows before `trade_from_ms`, which warm the strategy, or None; the rows from it
    on); DataError when nothing is left to trade."""
    later = clip(data, trade_from_ms, None)
    if not len(later):
        when = datetime.fromtimestamp(trade_from_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        raise DataError(f"no rows to trade at or after {when} UTC (the data ends before)")
    if len(later) == len(data):
        return None, data
    return clip(data, None, trade_from_ms), later


def closed_bars(k: Klines, symbol: str, count: int, before_ms: int) -> list[Bar]:
    """The last `count` rows of `k` closed by `before_ms`, as the closed 1m bars the daemon's
    warm-up reads from REST (the taker volumes stay 0, as in the bars a backtest replays)."""
    end = bisect.bisect_right(k.open_time, before_ms - MINUTE_MS)
    out = []
    for i in range(max(0, end - max(0, count)), end):
        t0 = k.open_time[i]
        close, volume = Decimal(k.close[i]), Decimal(k.volume[i])
        o, h, lo = Decimal(k.open[i]), Decimal(k.high[i]), Decimal(k.low[i])
        bar = Bar(
            symbol=symbol,
            interval="1m",
            open_time_ms=t0,
            close_time_ms=t0 + MINUTE_MS - 1,
            open=o,
            high=h,
            low=lo,
            close=close,
            volume=volume,
            quote_volume=volume * close,
            taker_buy_volume=_ZERO,
            taker_buy_quote_volume=_ZERO,
            trade_count=0,
            closed=True,
        )
        out.append(bar)
    return out


def closed_trade_bars(t: Trades, symbol: str, count: int, before_ms: int) -> list[Bar]:
    """The last `count` 1m bars the trades of `t` close by `before_ms`, built as the run's
    ExecManager builds its bars from trades (`BarBuilder`, empty minutes included): the
    daemon's warm-up reads them from REST klines, which the exchange makes of the same
    trades. Trades data with --start traded cold, the trades before it left unread."""
    if count <= 0:
        return []
    oldest = before_ms - before_ms % MINUTE_MS - count * MINUTE_MS  # the first bar's open
    # From the last trade before that bar: a quiet minute there is a bar at that trade's price
    # (its own minute, partial here, is one more than `count` and is cut)
    first = max(0, bisect.bisect_left(t.time, oldest) - 1)
    builder = BarBuilder(symbol, "1m")
    bars: list[Bar] = []
    for i in range(first, bisect.bisect_left(t.time, before_ms)):
        ms, maker = t.time[i], t.buyer_is_maker[i]
        price, qty = Decimal(t.price[i]), Decimal(t.qty[i])
        bars += builder.add(Trade(symbol, i, price, qty, i, i, maker, ms, ms, ms))
    bars += builder.close_until(before_ms)
    return bars[-count:]


def _run(
    rig: "_Rig", data: MarketData, config: BacktestConfig, inst: Instrument, wall: float
) -> BacktestResult:
    start_ms = data.open_time[0] if isinstance(data, Klines) else data.time[0]
    series = _Series(
        times=array("q", [start_ms]),
        equity=array("d", [float(config.starting_balance)]),
        positions=array("d", [0.0]),
        price_times=array("q"),
        prices=array("d"),
    )
    times, equity, positions = series.times, series.equity, series.positions
    price_times, prices = series.price_times, series.prices
    config = replace(config, risk=rig.risk_config, **rig.realism.resolved)
    fast = (0, 0)
    if isinstance(data, Klines):
        fast = _run_klines(rig, data, config, inst, series)
    else:
        fast = _run_trades(rig, data, config, inst, series)
    funding = float(rig.book.funding)
    fill_rows = [f.metric_row() for f in rig.journal.fills]
    summary = metrics.summarize(
        times_ms=times,
        equity=equity,
        positions=positions,
        fills=fill_rows,
        funding=funding,
        period=data_period(data),
    )
    ledger = ledger_of(rig, config)
    counters = {k: int(v) for k, v in asdict(rig.em.counters).items()}
    counters.update({f"venue_{k}": int(v) for k, v in asdict(rig.venue.stats).items()})
    counters["book_differences"] = rig.book.differences
    counters["book_rejected_events"] = rig.book.rejected_events
    return BacktestResult(
        config=config,
        summary=summary,
        times_ms=times,
        equity=equity,
        positions=positions,
        journal=rig.journal,
        counters=counters,
        units=len(data),
        kind="klines" if isinstance(data, Klines) else "trades",
        wall_s=time.perf_counter() - wall,
        price_times=price_times,
        prices=prices,
        fast_path_bars=fast[0],
        fast_path_skips=fast[1],
        trading_state=str(rig.risk.state),
        state_reason=rig.risk.reason,
        slow_strategy_calls=rig.em.slow_strategy_calls,
        slowest_strategy_call_ms=rig.em.slowest_strategy_call_ms,
        ledger=ledger,
    )


def ledger_of(rig: "_Rig", config: BacktestConfig) -> dict[str, Decimal | int]:
    """The books' money at the end of a run, exact (USDT, contracts): what summary.json's
    `ledger` shows, so that a reader can check wallet = starting_wallet + realized_pnl - fees
    + funding and equity = wallet + unrealized_pnl to the last digit, and that the exchange's
    wallet is the books' (`exchange_wallet`)."""
    book = rig.book
    s = book.summary()
    position = book.position(config.symbol)
    mark = book.mark_price(config.symbol)
    return {
        "starting_wallet": config.starting_balance,
        "realized_pnl": s.realized_pnl,
        "fees": s.fees.get(book.asset, _ZERO),
        "funding": s.funding,
        "adjustments": s.adjustments,
        "wallet": s.wallet,
        "unrealized_pnl": s.unrealized_pnl,
        "equity": s.equity,
        "exchange_wallet": rig.engine.engine.ledger.account(ACCOUNT).wallet,
        "position": position.qty,
        "entry_price": position.entry_price,
        "mark_price": _ZERO if mark is None else mark,
        "fills": s.fills,
        "maker_fills": s.maker_fills,
        "volume": s.volume,
    }


def data_period(data: MarketData) -> tuple[int, int]:
    """(start, exclusive end) in ms of the rows replayed: from the first bar's open to the last
    bar's close (its open + 1m: its equity sample is stamped with Binance's close time, 1 ms
    before, which a report in minutes shows as the last bar's open), or from the first trade
    to just after the last one."""
    if isinstance(data, Klines):
        return data.open_time[0], data.open_time[-1] + MINUTE_MS
    return data.time[0], data.time[-1] + 1


@dataclass(slots=True)
class _Series:
    """What a run records as it goes: the equity curve (`times` in ms, `equity` in USDT,
    `positions` in contracts, one row each) and the prices the price plot draws
    (`price_times` in ms, `prices` in USDT)."""

    times: array  # type: ignore[type-arg]
    equity: array  # type: ignore[type-arg]
    positions: array  # type: ignore[type-arg]
    price_times: array  # type: ignore[type-arg]
    prices: array  # type: ignore[type-arg]

    def sample(self, t: int, book: BookKeeper, symbol: str) -> None:
        """One row of the equity curve at `t` (ms): the books' equity and position then."""
        self.times.append(t)
        self.equity.append(float(book.equity()))
        self.positions.append(float(book.position(symbol).qty))


def _run_klines(
    rig: _Rig,
    k: Klines,
    config: BacktestConfig,
    inst: Instrument,
    series: _Series,
) -> tuple[int, int]:
    """Every bar through the pipeline (`bar(i)`), except, with `config.fast_path`, the quiet
    bars `backtest.fast_path` finds and takes at once. (bars taken so, runs of them)."""
    symbol = config.symbol
    clock, engine, venue, em, book = rig.clock, rig.engine, rig.venue, rig.em, rig.book
    sample, price_times, prices = series.sample, series.price_times, series.prices
    tick = inst.tick_size
    step = inst.lot.step_size
    slip = config.slippage_bps
    queue = venue.queue
    on_trade_ticks = engine.on_trade_ticks
    on_book_ticker = engine.on_book_ticker
    on_mark = engine.on_mark_price
    on_item = em.on_item
    pump = venue.pump
    funding = rig.funding
    price = _PriceCache(tick)
    # A hit is a dict lookup, without the call (a tuple is never false): 4 prices a bar.
    seen = price.seen.get
    n = len(k)
    # The engine's armed CONTRACT_PRICE conditionals of the symbol (its live list).
    triggers = engine.engine.book(symbol).triggers.contract

    ledger = engine.engine.ledger
    acct = ledger.account(ACCOUNT)
    held = acct.positions
    liq_memo: list[Any] = [None, None]  # (wallet, amount, entry) -> its liquidation level

    def liquidation_level() -> tuple[int, bool] | None:
        """(ticks, long) of the price at which the position is liquidated, None when flat or
        when no price can liquidate it: the engine's liquidation price (section 11.4) on the
        tick grid, where a price path moving against the position first reaches it (a long's
        at or below it, a short's at or above). Memoised on the account's wallet and the
        position: 4 path prices a bar ask, the money changes only at a fill or funding. The
        key needs no mark: the ledger takes the leverage tier of the notional at the
        liquidation price, not at the mark (`margin.bracket_liquidation_price`), and the
        run's account holds this one symbol (no other position's mark in the formula)."""
        pos = held.get(symbol)
        if pos is None or not pos.amt:
            return None
        key = (acct.wallet, pos.amt, pos.entry)
        if key != liq_memo[0]:
            lp = ledger.liquidation_price(acct, symbol)
            long = pos.amt > 0
            rounding = ROUND_FLOOR if long else ROUND_CEILING
            ticks = int((lp / tick).to_integral_value(rounding=rounding))
            liq_memo[0], liq_memo[1] = key, ((ticks, long) if ticks > 0 else None)
        level: tuple[int, bool] | None = liq_memo[1]
        return level

    def liquidate_at(ticks: int, t: int) -> None:
        """The mark reaches `ticks` inside the bar: the engine checks the account's margin
        there and liquidates it at that mark (the bar's close mark follows, as always)."""
        p = inst.from_ticks(ticks)
        rate, next_funding = _funding_at(funding, t)
        on_mark(symbol, p, p, rate, next_funding, t)
        pump()

    def through_triggers(a: int, b: int, t: int) -> None:
        """The path from `a` to `b` ticks passes every price between them: a stop or
        take-profit level strictly between them is traded at on the way, nearest first, so the
        order it triggers fills there (plus the slippage), not at `b`, the bar's low or high;
        so is the position's liquidation price, where the mark (following the path) meets it:
        the engine liquidates there, not at the extreme and not only at the bar's close. A
        stop at the very level of the liquidation fires first. Volume 0: resting limit orders
        still fill on the path's own trades."""
        falling = b < a
        while True:
            # The nearest level strictly between a and b (a loop, not a list and its min/max:
            # the range test first, the trigger's two properties only for a level in range).
            lo, hi = (b, a) if falling else (a, b)
            stop: int | None = None
            for x in triggers:
                level = x.trigger_ticks
                if (
                    lo < level < hi
                    and (stop is None or (level > stop if falling else level < stop))
                    and not x.is_trailing
                    and x.triggers_on_rise != falling
                ):
                    stop = level
            liq = liquidation_level()
            if (
                liq is not None
                and liq[1] == falling
                and lo < liq[0] < hi
                and (stop is None or (liq[0] > stop if falling else liq[0] < stop))
            ):
                a = liq[0]
                liquidate_at(a, t)
                continue
            if stop is None:
                return
            a = stop
            if slip:
                send_synthetic_touch(on_book_ticker, symbol, a, slip, tick, t)
            on_trade_ticks(symbol, a, 0, False, t)
            pump()

    def held_any() -> bool:
        pos = held.get(symbol)
        return pos is not None and pos.amt != 0

    def bar(i: int) -> None:
        t0 = k.open_time[i]
        o, o_ticks = seen(k.open[i]) or price(k.open[i])
        h, h_ticks = seen(k.high[i]) or price(k.high[i])
        lo, lo_ticks = seen(k.low[i]) or price(k.low[i])
        c, c_ticks = seen(k.close[i]) or price(k.close[i])
        path = (
            (o_ticks, lo_ticks, h_ticks, c_ticks)
            if c >= o
            else (o_ticks, h_ticks, lo_ticks, c_ticks)
        )
        vol = Decimal(k.volume[i])
        q = max(1, int(vol / step) // 4)
        last = -1
        for p_ticks, off in zip(path, _PATH_OFFSETS_MS, strict=True):
            t = t0 + off
            if queue and queue[0][0] <= t:
                venue.release(t)
            clock.catch_up(t)
            if last >= 0 and (triggers or held_any()):
                through_triggers(last, p_ticks, t)
            last = p_ticks
            if slip:
                send_synthetic_touch(on_book_ticker, symbol, p_ticks, slip, tick, t)
            on_trade_ticks(symbol, p_ticks, q, False, t)
            pump()
            if off != _CLOSE_OFFSET_MS:  # the close: its mark follows
                liq = liquidation_level()
                if liq is not None and (p_ticks <= liq[0] if liq[1] else p_ticks >= liq[0]):
                    # At the level, or past it after a gap (the open): liquidated at this price.
                    liquidate_at(p_ticks, t)
        t_close = t0 + MINUTE_MS - 1
        rate, next_funding = _funding_at(funding, t_close)
        on_mark(symbol, c, c, rate, next_funding, t_close)
        pump()
        on_item(MarkPrice(symbol, c, c, rate, next_funding, t_close, t_close))
        on_item(Bar(symbol, "1m", t0, t_close, o, h, lo, c, vol, vol * c, _ZERO, _ZERO, 0, True))
        sample(t_close, book, symbol)
        price_times.append(t_close)
        prices.append(float(c))

    last_proposals = getattr(rig.strategy, "last_proposals", None)

    def catch_up(j: int) -> None:
        """Bar j, quiet (`KlineFastPath.next_event`) and taken by `absorb` (the strategy's
        windows, counters, the RiskManager's peak, the rows), brought to its close as `bar(j)`
        leaves it, without its path and the pipeline. The clock: at the close time. The
        engine: the close point's touch (with slippage), trade and mark price, as `bar(j)`
        makes them last; the path's earlier prices reach no order, stop or liquidation level
        (quiet), so they left only what these overwrite (last trade, touch), and a timer due
        meanwhile (funding, flat: nothing to pay) runs here to the same schedule. The books,
        the ExecManager and the strategy's target: `ExecManager.catch_up_bar`, given the
        mark `bar(j)` gives it and what `on_bar` returns for bar j (`last_proposals`)."""
        assert last_proposals is not None
        t0 = k.open_time[j]
        t_close = t0 + MINUTE_MS - 1
        c, c_ticks = seen(k.close[j]) or price(k.close[j])
        clock.catch_up(t_close)
        if slip:
            send_synthetic_touch(on_book_ticker, symbol, c_ticks, slip, tick, t_close)
        # The close's quantity as bar(j) computes it (it matters only to a fill, none here).
        on_trade_ticks(
            symbol, c_ticks, max(1, int(Decimal(k.volume[j]) / step) // 4), False, t_close
        )
        pump()
        rate, next_funding = _funding_at(funding, t_close)
        on_mark(symbol, c, c, rate, next_funding, t_close)
        pump()
        mark = MarkPrice(symbol, c, c, rate, next_funding, t_close, t_close)
        em.catch_up_bar(mark, t0, last_proposals(symbol))

    fast = None
    if config.fast_path:
        from backtest import fast_path

        try:
            fast = fast_path.KlineFastPath(
                rig,
                k,
                inst,
                symbol=symbol,
                slippage_bps=slip,
                funding_interval_ms=_funding_interval_ms(rig.funding),
            )
        except fast_path.NotApplicable:
            fast = None

    def taken(t_close: Any, eq: Any, position: float) -> None:
        """The rows of quiet bars (numpy arrays of their close times and equities, int64 and
        float64 in the machine's byte order, as the arrays' "q" and "d": no conversion)."""
        t_bytes = t_close.tobytes()
        series.times.frombytes(t_bytes)
        series.equity.frombytes(eq.tobytes())
        series.positions.extend(array("d", (position,)) * len(eq))
        price_times.frombytes(t_bytes)

    with progress_bar(n, config.progress, "bar") as bar_progress:
        if fast is None:
            each_row(n, bar, bar_progress)
        else:
            i = check_at = reported = misses = 0
            while i < n:
                if i >= check_at:
                    event = fast.next_event(i)
                    if event - 1 - i >= fast_path.MIN_SKIP:
                        # The last quiet bar too, then brought to its close (catch_up); with a
                        # strategy that cannot say what it proposed there, through the pipeline.
                        last = event - 1 if last_proposals is None else event
                        fast.absorb(i, last, taken)
                        prices.frombytes(fast.close_f[i:last].tobytes())
                        if last == event:
                            catch_up(event - 1)
                        i = last
                        misses = 0
                    else:  # events back to back: ask again less often (bars run live meanwhile)
                        misses = min(misses + 1, 4)
                    check_at = event + (1 << misses)
                    if i == n:
                        break
                bar(i)
                i += 1
                if i - reported >= PROGRESS_EVERY:
                    bar_progress.update(i - reported)
                    reported = i
        _finish(rig, symbol, series)
        bar_progress.update(n - bar_progress.n)
    return (0, 0) if fast is None else (fast.absorbed, fast.skips)


def _funding_at(funding: Any, t: int) -> tuple[Decimal, int]:
    """The funding rate and settlement time a mark price at `t` announces: the recorded ones
    (`realism` funding), else rate 0 at the next 8-hour boundary."""
    if funding is not None:
        rate: Decimal
        next_ms: int
        rate, next_ms = funding.next_rate(t)
        return rate, next_ms
    return _ZERO, (t // _EIGHT_HOURS_MS + 1) * _EIGHT_HOURS_MS


def _funding_interval_ms(funding: Any) -> int:
    return int(funding.interval_ms) if funding is not None else _EIGHT_HOURS_MS


class _PriceCache:
    """Price text -> (Decimal, ticks), memoised: a week of bars repeats few distinct prices.
    `seen` holds the prices memoised so far (the same dict for the whole run: cleared in
    place when it grows too large), for callers that look a hit up themselves."""

    __slots__ = ("_tick", "seen")

    def __init__(self, tick: Decimal) -> None:
        self.seen: dict[str, tuple[Decimal, int]] = {}
        self._tick = tick

    def __call__(self, text: str) -> tuple[Decimal, int]:
        hit = self.seen.get(text)
        if hit is None:
            if len(self.seen) > 200_000:
                self.seen.clear()
            d = Decimal(text)
            hit = self.seen[text] = (d, int(d / self._tick))
        return hit


def _dec(cache: dict[str, Decimal], s: str) -> Decimal:
    d = cache.get(s)
    if d is None:
        if len(cache) > 100_000:
            cache.clear()
        d = cache[s] = Decimal(s)
    return d


def _run_trades(
    rig: _Rig,
    tr: Trades,
    config: BacktestConfig,
    inst: Instrument,
    series: _Series,
) -> tuple[int, int]:
    """Every trade through the pipeline (`trade(i)`), except, with `config.fast_path`, the
    quiet runs `backtest.fast_path.TradeFastPath` finds and takes at once. (trades taken so,
    runs of them)."""
    symbol = config.symbol
    clock, engine, venue, em, book = rig.clock, rig.engine, rig.venue, rig.em, rig.book
    sample, price_times, prices = series.sample, series.price_times, series.prices
    tick = inst.tick_size
    step = inst.lot.step_size
    slip = config.slippage_bps
    queue = venue.queue
    dec_cache: dict[str, Decimal] = {}
    funding = rig.funding
    feed = venue.book_feed
    if feed is not None:
        slip = _ZERO  # the recorded book replaces the synthetic touch; slippage_bps = impact
    next_mark = tr.time[0]
    next_sample = tr.time[0] - tr.time[0] % MINUTE_MS + MINUTE_MS
    told = -1  # the last recorded quote handed to the ExecManager
    n = len(tr)

    def mark_rate(t: int) -> tuple[Decimal, int]:
        return _funding_at(funding, t)

    def trade(i: int) -> None:
        nonlocal next_mark, next_sample, told
        t = tr.time[i]
        price = _dec(dec_cache, tr.price[i])
        qty = _dec(dec_cache, tr.qty[i])
        if queue and queue[0][0] <= t:
            venue.release(t)
        clock.catch_up(t)
        if feed is not None:
            feed.feed_until(t)
            if feed.quote_index > told:  # the daemon's book stream, its latest quote at t
                told = feed.quote_index
                em.on_item(feed.book_ticker(told, t))
        if t >= next_sample:  # the minute before this trade is over: sample it
            sample(next_sample - 1, book, symbol)
            next_sample = t - t % MINUTE_MS + MINUTE_MS
        if t >= next_mark:  # a mark each second: the last trade price
            rate, nf = mark_rate(t)
            engine.on_mark_price(symbol, price, price, rate, nf, t)
            venue.pump()
            em.on_item(MarkPrice(symbol, price, price, rate, nf, t, t))
            next_mark = t - t % 1000 + 1000
            price_times.append(t)
            prices.append(float(price))
        p_ticks = int(price / tick)
        if slip:
            send_synthetic_touch(engine.on_book_ticker, symbol, p_ticks, slip, tick, t)
        engine.on_trade_ticks(symbol, p_ticks, max(1, int(qty / step)), tr.buyer_is_maker[i], t)
        venue.pump()
        em.on_item(Trade(symbol, i, price, qty, i, i, tr.buyer_is_maker[i], t, t, t))

    fast = None
    if config.fast_path:
        from backtest import fast_path

        try:
            fast = fast_path.TradeFastPath(
                rig,
                tr.time,
                tr.price,
                tr.qty,
                tr.buyer_is_maker,
                inst,
                symbol=symbol,
                slippage_bps=slip,
                funding_interval_ms=_funding_interval_ms(rig.funding),
            )
        except fast_path.NotApplicable:
            fast = None

    def rows(t_row: Any, eq: Any, position: float) -> None:
        series.times.frombytes(t_row.astype("<i8").tobytes())
        series.equity.frombytes(eq.astype("<f8").tobytes())
        series.positions.extend([position] * len(eq))

    def price_rows(t_mark: Any, p: Any) -> None:
        price_times.frombytes(t_mark.astype("<i8").tobytes())
        prices.frombytes(p.astype("<f8").tobytes())

    with progress_bar(n, config.progress, "trade") as bar_progress:
        if fast is None:
            each_row(n, trade, bar_progress)
        else:
            i = check_at = reported = 0
            while i < n:
                if i >= check_at:
                    resume, event = fast.next_event(i)
                    if resume - i >= _MIN_TRADE_SKIP:
                        next_sample, mark = fast.absorb(
                            i, resume, next_sample, rows, price_rows, mark_rate
                        )
                        if mark >= 0:
                            next_mark = mark
                        i = resume
                    check_at = event + 1
                    if i >= n:
                        break
                trade(i)
                i += 1
                if i - reported >= PROGRESS_EVERY:
                    bar_progress.update(i - reported)
                    reported = i
        _finish(rig, symbol, series)
        bar_progress.update(n - bar_progress.n)
    return (0, 0) if fast is None else (fast.absorbed, fast.skips)


def _finish(rig: _Rig, symbol: str, series: _Series) -> None:
    """Requests still in flight reach the engine; a last sample after them, and after the last
    trade of trades data (its minute is sampled only when a later trade starts the next one:
    the last minute's fills and prices were left out of the equity curve and the summary)."""
    while (due := rig.venue.next_due_ms()) is not None:
        rig.venue.release(due)
    if not series.times or rig.clock.now_ms() > series.times[-1]:
        series.sample(rig.clock.now_ms(), rig.book, symbol)
