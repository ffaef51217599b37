"""Fill-realism knobs with hand-computed expectations: latency draws for a seed and their order,
acknowledgement latency, a market order walking the recorded top of book into the impact
level, a funding settlement through the engine into the books, a leveraged position liquidated
at the liquidation price of the protocol reference's formula, and the knobs in summary.json."""

import gzip
import json
import random
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from backtest import realism
from backtest.data import Klines, Trades
from backtest.realism import (
    BookFeed,
    BookTicker,
    DepthTape,
    LatencyKind,
    LatencyModel,
    RealismError,
    impact_offset,
    load_brackets,
    load_funding,
    parse_latency,
    rng_for,
)
from backtest.runner import ACCOUNT, BacktestConfig, _Rig, backtest_risk, run_backtest
from backtest.venue import InProcessVenue, VenueConfig
from core.clock import SimClock
from core.enums import OrderType, Side, TimeInForce
from core.events import OrderAccepted, OrderFilled, OrderPartiallyFilled
from core.market import BookTicker as CoreBookTicker
from core.orders import OrderProposal, OrderRequest
from exchange_sim.engine import EngineConfig, Exchange
from exchange_sim.replay.grid import load_instruments
from trading_engine.exec_manager import BarSource
from trading_engine.main_trading_strategy import NO_PROPOSALS, Proposals, StrategyBase

SYMBOL = "BTCUSDT"
T0 = 1_746_403_200_000  # 2025-05-05T00:00Z, a funding settlement instant
INSTRUMENTS = {SYMBOL: load_instruments()[SYMBOL]}  # tick 0.10, step 0.001
HOUR = 3_600_000
ROOT = Path(__file__).resolve().parents[2]


def rig(*, balance: str = "10000", leverage: int = 20, **venue_knobs):
    clock = SimClock(T0)
    engine = Exchange(INSTRUMENTS, clock, EngineConfig(taker_fee=D("0.0005")))
    engine.create_account("a", {"USDT": D(balance)})
    engine.change_leverage("a", {"symbol": SYMBOL, "leverage": str(leverage)})
    engine.drain_user_events()
    events: list = []
    venue = InProcessVenue(
        engine=engine,
        account="a",
        clock=clock,
        instruments=INSTRUMENTS,
        config=VenueConfig(**venue_knobs),
        listener=events.append,
    )
    return clock, engine, venue, events


def trade(clock, engine, venue, price: str, at_ms: int) -> None:
    venue.release(at_ms)
    clock.set_ms(max(clock.now_ms(), at_ms))
    engine.on_trade(SYMBOL, D(price), D("1"), False, at_ms)
    venue.pump()


def market(cid: str, side: Side, qty: str) -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL, side=side, type=OrderType.MARKET, quantity=D(qty), client_order_id=cid
    )


def fills(events) -> list[tuple[str, D, D, int]]:
    return [
        (e.fill.client_order_id, e.fill.price, e.fill.qty, e.recv_time_ms)
        for e in events
        if isinstance(e, OrderFilled | OrderPartiallyFilled)
    ]


# --- latency ----------------------------------------------------------------------------------


def test_latency_specs_parse_and_print_back():
    assert parse_latency(20) == LatencyModel(ms=20)
    assert parse_latency("lognormal:median=20,sigma=0.5") == LatencyModel(
        kind=LatencyKind.LOGNORMAL, median=20.0, sigma=0.5
    )
    assert parse_latency("empirical:5,10,40").samples == (5, 10, 40)
    for spec in ("0", "35", "lognormal:median=20,sigma=0.5", "empirical:5,10,40"):
        assert parse_latency(spec).spec() == spec
    for bad in ("-1", "lognormal:median=0,sigma=1", "empirical:", "gamma:k=2", "fast"):
        with pytest.raises(RealismError):
            parse_latency(bad)


def test_a_latency_that_is_not_a_number_says_which_forms_are_taken():
    for bad in ("x", "2.5", "lognormal:median=a,sigma=1", "empirical:5,x"):
        with pytest.raises(RealismError) as e:
            parse_latency(bad)
        assert str(e.value) == (
            f"bad latency {bad!r}: expected whole milliseconds (20), "
            "lognormal:median=MS,sigma=S or empirical:MS,MS,..."
        )
        assert "int()" not in str(e.value) and "float" not in str(e.value)


def test_draws_for_a_seed_are_fixed_and_streams_are_independent():
    # Empirical: uniform index into the samples from random.Random("7:entry").
    expected_rng = random.Random("7:entry")
    expected = [(5, 10, 40)[expected_rng.randrange(3)] for _ in range(8)]
    draw = parse_latency("empirical:5,10,40").sampler(rng_for(7, "entry"))
    assert [draw() for _ in range(8)] == expected
    # Lognormal: exp(N(ln median, sigma)) rounded to the ms; sigma 0 is the median itself.
    flat = parse_latency("lognormal:median=20,sigma=0").sampler(rng_for(7, "entry"))
    assert [flat() for _ in range(3)] == [20, 20, 20]
    a = parse_latency("lognormal:median=20,sigma=0.5").sampler(rng_for(7, "entry"))
    b = parse_latency("lognormal:median=20,sigma=0.5").sampler(rng_for(7, "entry"))
    c = parse_latency("lognormal:median=20,sigma=0.5").sampler(rng_for(8, "entry"))
    da, db, dc = [a() for _ in range(50)], [b() for _ in range(50)], [c() for _ in range(50)]
    assert da == db and da != dc
    assert 5 < sorted(da)[25] < 80  # around the median of 20 ms


def test_requests_reach_the_engine_after_their_draw_and_never_overtake():
    # Draws 40 then 5 ms: the second request (sent 1 ms later) waits for the first (due +40).
    clock, engine, venue, events = rig(entry_latency=parse_latency("empirical:40,5"), seed=1)
    draws_rng = random.Random("1:entry")
    d1, d2 = ((40, 5)[draws_rng.randrange(2)] for _ in range(2))
    trade(clock, engine, venue, "100000", T0)
    venue.submit(market("x1", Side.BUY, "0.001"))
    clock.set_ms(T0 + 1)
    venue.submit(market("x2", Side.BUY, "0.001"))
    due1 = T0 + d1
    due2 = max(T0 + 1 + d2, due1)
    assert [d for d, _, _ in sorted(venue.queue)] == [due1, due2]
    trade(clock, engine, venue, "100100", T0 + 100)
    assert [(c, t) for c, _, _, t in fills(events)] == [("x1", due1), ("x2", due2)]
    assert venue.stats.entry_latency_draws == 2
    assert venue.stats.entry_latency_ms_total == d1 + d2


def test_acknowledgements_arrive_after_the_ack_latency():
    clock, engine, venue, events = rig(latency_ms=20, ack_latency=parse_latency("30"))
    trade(clock, engine, venue, "100000", T0)
    venue.submit(market("x1", Side.BUY, "0.001"))
    trade(clock, engine, venue, "100000", T0 + 25)  # the request executed at T0 + 20
    assert not fills(events)  # its fill is on the way
    trade(clock, engine, venue, "100000", T0 + 49)
    assert not fills(events)
    trade(clock, engine, venue, "100000", T0 + 50)
    assert fills(events) == [("x1", D("100000.0"), D("0.001"), T0 + 50)]
    filled = next(e for e in events if isinstance(e, OrderFilled))
    assert filled.fill.trade_time_ms == T0 + 20  # the engine's time, received 30 ms later


# --- top of book and impact -------------------------------------------------------------------


def test_a_market_order_takes_the_recorded_top_then_walks_to_the_impact_level():
    clock, engine, venue, events = rig()
    tick = INSTRUMENTS[SYMBOL].tick_size
    quotes = BookTicker(
        [T0, T0 + 1_000],
        ["99999.9", "99999.9"],
        ["1.000", "1.000"],
        ["100000.0", "100000.0"],
        ["0.004", "0.004"],
    )
    venue.book_feed = BookFeed(engine, SYMBOL, quotes, tick, D(2))
    # 2 bps of 100,000 = 20.0 USDT = 200 ticks beyond the best ask.
    assert impact_offset(D("100000.0"), D(2), tick) == D("20.0")
    assert impact_offset(D("100000.0"), D(0), tick) == tick  # at least one tick
    trade(clock, engine, venue, "100000", T0)
    venue.submit(market("x1", Side.BUY, "0.010"))
    assert fills(events) == [
        ("x1", D("100000.0"), D("0.004"), T0),  # the recorded ask, its whole quantity
        ("x1", D("100020.0"), D("0.006"), T0),  # the rest one impact step beyond
    ]
    # The top stays eaten until the next recorded quote.
    clock.set_ms(T0 + 500)
    venue.submit(market("x2", Side.BUY, "0.001"))
    assert fills(events)[-1] == ("x2", D("100020.0"), D("0.001"), T0 + 500)
    clock.set_ms(T0 + 1_000)
    venue.submit(market("x3", Side.BUY, "0.001"))
    assert fills(events)[-1] == ("x3", D("100000.0"), D("0.001"), T0 + 1_000)


def test_with_recorded_depth_a_market_order_walks_the_levels_then_the_impact_level():
    clock, engine, venue, events = rig()
    tick = INSTRUMENTS[SYMBOL].tick_size
    depth = DepthTape(
        snapshot_ms=T0,
        bids=[["99999.9", "1.000"]],
        asks=[["100000.0", "0.002"], ["100000.5", "0.003"], ["100001.0", "0.001"]],
        update_ms=[T0 + 100, T0 + 300],
        updates=[
            ([], [["100001.0", "0"]]),  # that level is gone
            ([], [["100000.0", "0.004"]]),
        ],
        gaps=0,
    )
    # The first quote is older than the depth: it does not override it; the second is newer.
    quotes = BookTicker(
        [T0 - 5, T0 + 400],
        ["99999.9", "99999.8"],
        ["1.000", "1.000"],
        ["100000.0", "99999.9"],
        ["0.009", "0.001"],
        depth,
    )
    feed = BookFeed(engine, SYMBOL, quotes, tick, D(2))
    venue.book_feed = feed
    trade(clock, engine, venue, "100000", T0 + 200)
    venue.submit(market("x1", Side.BUY, "0.010"))
    # 2 bps of the last level, 100000.5: 20.0001 -> 201 ticks = 20.1 beyond it: 100020.6.
    assert impact_offset(D("100000.5"), D(2), tick) == D("20.1")
    assert fills(events) == [
        ("x1", D("100000.0"), D("0.002"), T0 + 200),
        ("x1", D("100000.5"), D("0.003"), T0 + 200),
        ("x1", D("100020.6"), D("0.005"), T0 + 200),
    ]
    # The next diff hands the engine the recorded book again: best 0.004, 100000.5 back to
    # 0.003 (what we took is forgotten at a recorded update, as with the top of book).
    clock.set_ms(T0 + 300)
    venue.submit(market("x2", Side.BUY, "0.005"))
    assert fills(events)[-2:] == [
        ("x2", D("100000.0"), D("0.004"), T0 + 300),
        ("x2", D("100000.5"), D("0.001"), T0 + 300),
    ]
    # A newer bookTicker quote is merged on top of the depth (better levels dropped).
    clock.set_ms(T0 + 400)
    venue.submit(market("x3", Side.BUY, "0.003"))
    assert fills(events)[-2:] == [
        ("x3", D("99999.9"), D("0.001"), T0 + 400),
        ("x3", D("100000.5"), D("0.002"), T0 + 400),
    ]
    assert venue.stats.book_updates == 3 and venue.stats.depth_gaps == 0


# --- funding ----------------------------------------------------------------------------------


def write_gz(path: Path, text: str) -> Path:
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


class JoinTheBid(StrategyBase):
    """Notes every book it is shown; at the first, a post-only bid of 0.001 at its best bid."""

    name = "join_the_bid"

    def __init__(self, **common: object) -> None:
        super().__init__(**common)  # type: ignore[arg-type]
        self.seen: list[tuple[int, D, D]] = []

    def on_book(self, tick: CoreBookTicker, view) -> Proposals:  # type: ignore[no-untyped-def]
        self.seen.append((tick.transaction_time_ms - T0, tick.bid_price, tick.ask_price))
        if len(self.seen) > 1:
            return NO_PROPOSALS
        return (
            OrderProposal(
                symbol=SYMBOL,
                side=Side.BUY,
                type=OrderType.LIMIT,
                quantity=D("0.001"),
                price=tick.bid_price,
                time_in_force=TimeInForce.GTX,
                reason="join",
            ),
        )


def test_a_trades_backtest_shows_the_strategy_the_recorded_book_as_of_each_trade(
    tmp_path, built_strategies
):
    """As the daemon's bookTicker stream, conflated to the latest quote before each trade:
    quote 1 (at +500 ms) is replaced by quote 2 (+600 ms) before the trade at +1,000 ms. A
    book-driven strategy quotes from it. (A backtest used to show it no book at all:
    logistic_regression, which quotes from the book, fell back to market orders there.)"""

    book = write_gz(
        tmp_path / "BTCUSDT-um-bookTicker-x.csv.gz",
        "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,"
        f"event_time\n1,99990.0,1.0,100000.0,1.0,{T0 - 500},{T0 - 500}\n"
        f"2,99995.0,1.0,100005.0,1.0,{T0 + 500},{T0 + 500}\n"
        f"3,99996.0,1.0,100006.0,1.0,{T0 + 600},{T0 + 600}\n"
        f"4,99997.0,1.0,100007.0,1.0,{T0 + 1_500},{T0 + 1_500}\n",
    )
    data = Trades([T0, T0 + 1_000, T0 + 2_000], ["99995.0"] * 3, ["0.5"] * 3, [False] * 3)
    made = built_strategies
    config = BacktestConfig(
        strategy=f"{__name__}:JoinTheBid",
        strategy_params={"order_notional_usdt": D(1000)},
        book_ticker=str(book),
    )

    result = run_backtest(data, config)

    assert made[0].seen == [
        (-500, D("99990.0"), D("100000.0")),
        (600, D("99996.0"), D("100006.0")),
        (1_500, D("99997.0"), D("100007.0")),
    ]
    [order] = result.journal.orders.values()
    assert (order.type, order.price, order.status) == ("LIMIT", "99990.0", "NEW")


def test_funding_files_of_every_layout_load_on_the_minute(tmp_path):
    freqtrade = write_gz(tmp_path / "a.csv.gz", "time,funding_rate\n1746403200001,6.818e-05\n")
    binance = tmp_path / "b.csv"
    binance.write_text(
        "symbol,fundingTime,fundingRate,markPrice\n"
        "BTCUSDT,1746403200000,0.00010000,94000.1\nBTCUSDT,1746432000000,-0.00002,94001\n"
    )
    vision = tmp_path / "c.csv"
    vision.write_text(
        "calc_time,funding_interval_hours,last_funding_rate\n1746417600000,4,0.0001\n"
    )
    f = load_funding(freqtrade)
    assert f.times == (T0,) and f.rates == (D("0.00006818"),) and f.interval_ms == 8 * HOUR
    f = load_funding(binance)
    assert f.rate_at(T0) == D("0.0001") and f.rate_at(T0 + 8 * HOUR) == D("-0.00002")
    assert f.interval_ms == 8 * HOUR and f.rate_at(T0 + HOUR) == 0
    assert f.next_rate(T0 - 1) == (D("0.0001"), T0)
    assert f.next_rate(T0) == (D("-0.00002"), T0 + 8 * HOUR)
    assert f.times_between(T0, T0 + 8 * HOUR) == [T0]
    assert list(f.times_array()) == [T0, T0 + 8 * HOUR]
    assert load_funding(vision).times == (T0 + 4 * HOUR,)
    with pytest.raises(RealismError):
        load_funding(tmp_path / "missing.csv")


def rising_klines(start_ms: int, n: int, first: int = 100_000, step: int = 10) -> Klines:
    """n 1m bars, each closing `step` USDT above the last (a straight line: SMA 2 > SMA 3)."""
    closes = [first + step * i for i in range(n)]
    opens = [first - step, *closes[:-1]]
    return Klines(
        [start_ms + 60_000 * i for i in range(n)],
        [str(o) for o in opens],
        [str(c) for c in closes],
        [str(o) for o in opens],
        [str(c) for c in closes],
        ["10"] * n,
    )


def test_a_recorded_funding_rate_is_paid_at_its_time_on_the_position_and_mark(tmp_path):
    funding = write_gz(tmp_path / "f.csv.gz", f"time,funding_rate\n{T0},0.0001\n")
    start = T0 - 10 * 60_000  # 23:50; the settlement at 00:00 falls in bar 10
    data = rising_klines(start, 20)
    config = BacktestConfig(
        strategy_params={"fast": 2, "slow": 3, "order_notional_usdt": D(1000)},
        maker_fee=D(0),
        taker_fee=D(0),
        funding=str(funding),
    )
    result = run_backtest(data, config)
    # Long from the close of bar 2 (100,020): 1000 / 100,020 -> 0.009 BTC (step 0.001).
    first = result.journal.fills[0]
    assert (first.side, first.price, first.qty) == ("BUY", D("100020"), D("0.009"))
    assert all(f.side == "BUY" for f in result.journal.fills)  # still long at 00:00
    # Settled with the mark in force just before 00:00: bar 9's close, 100,090.
    # Long pays: 0.009 * 100,090 * 0.0001 = 0.090081 USDT.
    assert result.summary.funding == pytest.approx(-0.090081, abs=1e-12)
    assert result.summary_dict()["settings"]["funding"] == str(funding)
    # Without a funding file nothing is paid.
    assert (
        run_backtest(data, BacktestConfig(**{**_kw(config), "funding": "none"})).summary.funding
        == 0
    )


def test_trades_replay_pays_the_recorded_rate_on_the_last_trade_price_mark(tmp_path):
    # A trade every 10 s from 23:54, each 10 USDT above the last; marks follow the trades.
    funding = write_gz(tmp_path / "f.csv.gz", f"time,funding_rate\n{T0},-0.0002\n")
    start = T0 - 6 * 60_000
    n = 42  # the last at 00:00:50
    data = Trades(
        [start + 10_000 * k for k in range(n)],
        [str(100_000 + 10 * k) for k in range(n)],
        ["0.5"] * n,
        [False] * n,
    )
    config = BacktestConfig(
        strategy_params={"fast": 2, "slow": 3, "order_notional_usdt": D(1000)},
        maker_fee=D(0),
        taker_fee=D(0),
        funding=str(funding),
    )
    result = run_backtest(data, config)
    buys = [f for f in result.journal.fills if f.time_ms < T0]
    assert buys and all(f.side == "BUY" for f in result.journal.fills)
    qty = sum(f.qty for f in buys)
    # The settlement at 00:00 uses the mark in force before it: the 23:59:50 trade's price,
    # 100,000 + 10 * 35 = 100,350. Shorts pay a negative rate, longs receive it.
    expected = qty * D(100_350) * D("0.0002")
    assert result.summary.funding == pytest.approx(float(expected), abs=1e-12)


def test_a_raw_capture_gives_the_rate_its_mark_price_stream_announced():
    raw = ROOT / "exchange_sim/data/raw_ws/BTCUSDT-um-ws-raw-2023-04-04T2358_2359.jsonl.gz"
    f = load_funding(raw)
    # The capture's last markPriceUpdate: "r":"0.00002754","T":1680652800000 (00:00 UTC).
    assert f.times == (1_680_652_800_000,) and f.rates == (D("0.00002754"),)


def _kw(config: BacktestConfig) -> dict:
    return {f: getattr(config, f) for f in config.__dataclass_fields__}


def test_auto_funding_picks_the_bundled_file_covering_the_data():
    path = realism.bundled_funding(SYMBOL, T0, T0 + 24 * HOUR)
    assert path is not None and path.name.startswith("BTCUSDT-um-8h-funding_rate")
    assert realism.bundled_funding(SYMBOL, 1_600_000_000_000, 1_600_086_400_000) is None


def test_the_settlements_a_funding_file_does_not_record_are_counted(tmp_path):
    # The file records 2025-05-05 08:00 and 16:00; a run of 3 days from 00:00 has 9
    # settlements (every 8 h from T0 to T0 + 64 h): T0 is before the file, T0 + 24 h .. 64 h
    # (6) after it, 7 in all.
    path = write_gz(
        tmp_path / "f.csv.gz", f"time,funding_rate\n{T0 + 8 * HOUR},1e-4\n{T0 + 16 * HOUR},1e-4\n"
    )
    funding = load_funding(path)

    gap = realism.unrecorded_funding(funding, T0, T0 + 72 * HOUR)

    assert gap == realism.UnrecordedFunding(
        settlements=9, unrecorded=7, recorded_from_ms=T0 + 8 * HOUR, recorded_to_ms=T0 + 16 * HOUR
    )


def test_a_funding_file_covering_the_run_leaves_nothing_unrecorded(tmp_path):
    path = write_gz(tmp_path / "f.csv.gz", f"time,funding_rate\n{T0},1e-4\n{T0 + 16 * HOUR},0\n")

    # The run [T0 + 1 min, T0 + 17 h) settles at 08:00 and 16:00, both inside the file's span.
    assert realism.unrecorded_funding(load_funding(path), T0 + 60_000, T0 + 17 * HOUR) is None


# --- leverage, brackets, liquidation ----------------------------------------------------------


def test_a_leveraged_long_is_liquidated_at_the_hand_computed_price():
    # Wallet 110 USDT, 20x, buy 0.020 BTC at 100,000 (taker fee 0.0005 * 2000 = 1 USDT):
    # wallet 109. Bracket 1 (notional < 50,000): MMR 0.004, cum 0. Section 11.4:
    # LP = (WB + cum - Q*EP) / (Q*MMR - Q) = (109 - 2000) / (0.00008 - 0.02) = 94929.7188...
    lp = (D(109) - D(2000)) / (D("0.020") * D("0.004") - D("0.020"))
    assert D("94929.71") < lp < D("94929.72")
    clock, engine, venue, events = rig(balance="110", leverage=20)
    trade(clock, engine, venue, "100000", T0)
    venue.submit(market("x1", Side.BUY, "0.020"))
    risk = engine.position_risk("a", {"symbol": SYMBOL})[0]
    assert D(risk["liquidationPrice"]) == pytest.approx(lp, abs=D("0.00000001"))
    # Mark one tick above the price (94929.8): margin balance 7.596 > maintenance 7.594384.
    engine.on_mark_price(SYMBOL, D("94929.8"), D("94929.8"), D(0), T0 + 8 * HOUR, T0 + 1_000)
    venue.pump()
    assert venue.stats.liquidations == 0
    # One tick below (94929.7): 7.594 <= 7.594376: the engine closes it at that mark.
    clock.set_ms(T0 + 2_000)
    engine.on_mark_price(SYMBOL, D("94929.7"), D("94929.7"), D(0), T0 + 8 * HOUR, T0 + 2_000)
    venue.pump()
    assert venue.stats.liquidations == 1
    liq = [f for f in fills(events) if f[0].startswith("autoclose-")]
    assert [(p, q) for _, p, q, _ in liq] == [(D("94929.7"), D("0.020"))]
    filled = next(
        e for e in events if isinstance(e, OrderFilled) and e.fill.client_order_id == liq[0][0]
    )
    assert filled.fill.side is Side.SELL
    assert filled.fill.realized_pnl == D("0.020") * (D("94929.7") - D("100000"))  # -101.406
    assert not any(isinstance(e, OrderAccepted) for e in events if "autoclose" in str(e))
    assert venue.stats.foreign_events == 0


def test_the_backtest_liquidates_a_leveraged_long_below_its_liquidation_price_only():
    # 60 USDT, 20x, no fees, no stops: long 0.009 BTC at 100,020 (bar 2's close). Bracket 1:
    # LP = (60 - 0.009 * 100,020) / (0.009 * 0.004 - 0.009) = 840.18 / 0.008964 = 93728.246..
    lp = (D(60) - D("0.009") * D(100_020)) / (D("0.009") * D("0.004") - D("0.009"))
    assert D("93728.24") < lp < D("93728.25")
    config = BacktestConfig(
        strategy_params={"fast": 2, "slow": 3, "order_notional_usdt": D(1000)},
        starting_balance=D(60),
        leverage=20,
        protect_positions=False,
        maker_fee=D(0),
        taker_fee=D(0),
    )
    outcomes = {}
    for close in ("93728.3", "93728.2"):  # the tick above and the tick below
        data = rising_klines(T0, 10)
        for col, value in zip(
            ("open_time", "open", "high", "low", "close", "volume"),
            (T0 + 600_000, data.close[-1], data.close[-1], close, close, "10"),
            strict=True,
        ):
            getattr(data, col).append(value)
        outcomes[close] = run_backtest(data, config)
    above, below = outcomes["93728.3"], outcomes["93728.2"]
    assert above.counters["venue_liquidations"] == 0  # the strategy sells itself, at the close
    assert [f.client_order_id[:3] for f in above.journal.fills] == ["bt-", "bt-"]
    assert below.counters["venue_liquidations"] == 1
    liq = below.journal.fills[-1]
    assert liq.client_order_id.startswith("autoclose-")
    assert (liq.side, liq.price, liq.qty) == ("SELL", D("93728.2"), D("0.009"))
    # The bar falls open -> high -> low (40 s in) -> close: the mark meets the level at the low.
    assert liq.time_ms == T0 + 600_000 + 40_000
    assert liq.realized_pnl == D("0.009") * (D("93728.2") - D("100020"))  # -56.6262
    assert below.counters["book_differences"] == 0 and below.counters["book_rejected_events"] == 0


def test_a_liquidation_past_bankruptcy_is_cleared_by_the_insurance_fund_in_the_ledger():
    """The same 20x long of 0.009 at 100,020, the next bar gapping down to 90,000.0 (the
    engine liquidates at the first price after the gap, past the bankruptcy price, as a stop
    fills after a gap): rp 0.009 x (90,000 -
    100,020) = -90.18, the entry's fee 0.45009 (taker 0.05 %), no clearance fee left to take;
    the wallet 60 - 90.18 - 0.45009 = -30.63009 is reset to 0 by the insurance fund, which the
    books take as an adjustment, not as a difference with the exchange."""
    config = BacktestConfig(
        strategy_params={"fast": 2, "slow": 3, "order_notional_usdt": D(1000)},
        starting_balance=D(60),
        leverage=20,
        protect_positions=False,
    )
    data = rising_klines(T0, 10)
    bar = (T0 + 600_000, "90000.0", "90000.0", "90000.0", "90000.0", "10")
    for col, value in zip(
        ("open_time", "open", "high", "low", "close", "volume"), bar, strict=True
    ):
        getattr(data, col).append(value)

    result = run_backtest(data, config)

    led = result.ledger
    assert result.counters["venue_liquidations"] == 1
    assert result.journal.fills[-1].time_ms == T0 + 600_000  # the open, after the gap
    assert (led["realized_pnl"], led["fees"]) == (D("-90.18"), D("0.45009"))
    assert (led["adjustments"], led["wallet"], led["exchange_wallet"]) == (D("30.63009"), 0, 0)
    assert led["wallet"] == (
        led["starting_wallet"]
        + led["realized_pnl"]
        - led["fees"]
        + led["funding"]
        + led["adjustments"]
    )
    assert result.counters["book_differences"] == 0


def with_bar(data: Klines, bar: tuple[str, str, str, str]) -> Klines:
    """`data` and one more 1m bar (open, high, low, close), volume 10."""
    row = (data.open_time[-1] + 60_000, *bar, "10")
    for col, value in zip(
        ("open_time", "open", "high", "low", "close", "volume"), row, strict=True
    ):
        getattr(data, col).append(value)
    return data


LEVERED = BacktestConfig(
    strategy_params={"fast": 2, "slow": 3, "order_notional_usdt": D(1000)},
    starting_balance=D(60),
    leverage=20,
    protect_positions=False,
)


@pytest.mark.parametrize("fast_path", [True, False])
def test_on_klines_a_wick_through_the_liquidation_price_liquidates_there(fast_path):
    """A bar whose low (90,000.0) is far under the 20x long's liquidation price but closes
    above it (99,000.0): the mark follows the bar's path (open -> high -> low -> close for a
    down bar), so the engine liquidates where the path meets the liquidation price, as
    freqtrade checks a candle's low against it, not at the low and not never. By hand:
    long 0.009 at 100,020 (bar 2's close), taker fee 0.0005 x 900.18 = 0.45009, wallet
    59.54991. Bracket 1 (MMR 0.004, cum 0): LP = (59.54991 - 900.18) / (0.009 x 0.004 -
    0.009) = 840.63009 / 0.008964 = 93,778.457..; a long's first tick at or under it:
    93,778.4. rp = 0.009 x (93,778.4 - 100,020) = -56.1744; the clearance fee (1.2 % of
    843.0056 = 10.116..) is capped at the 3.37551 left: the wallet ends at 0."""
    lp = (D("59.54991") - D("900.18")) / (D("0.009") * D("0.004") - D("0.009"))
    assert D("93778.45") < lp < D("93778.46")
    data = with_bar(rising_klines(T0, 10), ("100090", "100090", "90000.0", "99000.0"))

    result = run_backtest(data, replace(LEVERED, fast_path=fast_path))

    assert result.counters["venue_liquidations"] == 1
    liq = result.journal.fills[-1]
    assert liq.client_order_id.startswith("autoclose-")
    assert (liq.side, liq.price, liq.qty) == ("SELL", D("93778.4"), D("0.009"))
    assert liq.time_ms == T0 + 600_000 + 40_000  # the path's low, not the bar's close
    assert liq.realized_pnl == D("-56.1744")
    assert liq.commission == D("3.37551")
    led = result.ledger
    assert (led["wallet"], led["exchange_wallet"], led["position"]) == (0, 0, 0)
    assert result.counters["book_differences"] == 0


@pytest.mark.parametrize("fast_path", [True, False])
def test_a_long_whose_tier_changes_on_the_way_down_is_liquidated_at_its_own_tier_s_price(
    fast_path,
):
    """The level the path is checked against is in the tier of the notional at the level,
    not at the mark. Long 0.599 at 100,020 (59,911.98 notional: tier 2), taker fee 29.95599,
    wallet 11,970.04401. Tier 1 (MMR 0.004, cum 0): LP = (59,911.98 - 11,970.04401) /
    (0.599 x 0.996) = 80,358.053..; notional there 48,134.47 < 50,000: tier 1 holds, first
    tick at or under it 80,358.0 (balance 192.50601 <= maintenance 192.537768). Tier 2's
    price (the mark's tier) 80,354.92.. would liquidate it 3.1 USDT lower, at 80,354.9."""
    q, entry, wallet = D("0.599"), D("100020"), D(12000) - D("29.95599")
    lp = (q * entry - wallet) / (q * (1 - D("0.004")))
    assert D("80358.05") < lp < D("80358.06") and q * lp < 50_000
    data = with_bar(rising_klines(T0, 10), ("100090", "100090", "70000.0", "99000.0"))
    config = replace(
        LEVERED,
        starting_balance=D(12000),
        strategy_params={"fast": 2, "slow": 3, "order_notional_usdt": D(60000)},
        fast_path=fast_path,
    )

    result = run_backtest(data, config)

    assert result.counters["venue_liquidations"] == 1
    entry_fill, liq = result.journal.fills
    assert (entry_fill.price, entry_fill.qty, entry_fill.commission) == (entry, q, D("29.95599"))
    assert (liq.side, liq.price, liq.qty) == ("SELL", D("80358.0"), q)
    assert liq.time_ms == T0 + 600_000 + 40_000
    assert liq.realized_pnl == q * (D("80358.0") - entry) == D("-11777.538")


def test_on_klines_a_short_is_liquidated_where_a_bar_s_high_wick_meets_its_price():
    """The mirror: 20x short of 0.010 at 99,980 (bar 2's close of a falling line), taker fee
    0.0005 x 999.80 = 0.4999, wallet 59.5001. LP = (59.5001 + 999.80) / (0.010 x 0.004 +
    0.010) = 1059.3001 / 0.01004 = 105,507.97..; a short's first tick at or above it:
    105,508.0, met on the way up of an up bar (open -> low -> high -> close) at its high, 40 s
    in; rp = 0.010 x (99,980 - 105,508.0) = -55.28."""
    lp = (D("59.5001") + D("999.80")) / (D("0.010") * D("0.004") + D("0.010"))
    assert D("105507.97") < lp < D("105507.98")
    data = rising_klines(T0, 10, first=100_000, step=-10)
    data = with_bar(data, ("99910", "110000.0", "99910", "100000"))

    result = run_backtest(data, LEVERED)

    liq = result.journal.fills[-1]
    assert result.journal.fills[0].price == D("99980")
    assert (liq.side, liq.price, liq.qty) == ("BUY", D("105508.0"), D("0.010"))
    assert liq.time_ms == T0 + 600_000 + 40_000
    assert liq.realized_pnl == D("-55.28")


def test_on_klines_a_stop_above_the_liquidation_price_closes_the_long_first():
    """Both on the way down: the 2 % stop (98,019.6 under the fill at 100,020) is nearer than
    the liquidation price (93,778.4), so the stop fills at its level and nothing is
    liquidated."""
    data = with_bar(rising_klines(T0, 10), ("100090", "100090", "90000.0", "99000.0"))
    risk = replace(backtest_risk(D(1000)), stop_loss_pct=D(2), leverage=20)

    result = run_backtest(data, replace(LEVERED, protect_positions=True, risk=risk))

    assert result.counters["venue_liquidations"] == 0
    stop = result.journal.fills[-1]
    assert (stop.side, stop.price) == ("SELL", D("98019.6"))
    assert result.journal.orders[stop.client_order_id].type == "STOP_MARKET"


def test_leverage_and_brackets_from_the_config_reach_the_engine_and_the_books(tmp_path):
    brackets = tmp_path / "brackets.json"
    brackets.write_text(
        json.dumps(
            [
                {
                    "symbol": SYMBOL,
                    "brackets": [
                        {
                            "bracket": 2,
                            "initialLeverage": 50,
                            "notionalCap": 1000000,
                            "notionalFloor": 10000,
                            "maintMarginRatio": 0.01,
                            "cum": 50.0,
                        },
                        {
                            "bracket": 1,
                            "initialLeverage": 75,
                            "notionalCap": 10000,
                            "notionalFloor": 0,
                            "maintMarginRatio": 0.005,
                            "cum": 0.0,
                        },
                    ],
                }
            ]
        )
    )
    tiers = load_brackets(brackets, SYMBOL)
    assert [b.bracket for b in tiers] == [1, 2] and tiers[0].maint_margin_ratio == D("0.005")
    with pytest.raises(RealismError):
        load_brackets(brackets, "ETHUSDT")
    config = BacktestConfig(leverage=7, brackets=str(brackets))
    r = _Rig(config, INSTRUMENTS[SYMBOL], T0, BarSource.KLINES)
    answer = r.engine.leverage_bracket(ACCOUNT, {"symbol": SYMBOL})
    answer = answer[0] if isinstance(answer, list) else answer
    assert [b["maintMarginRatio"] for b in answer["brackets"]] == [0.005, 0.01]
    assert r.risk_config.leverage == 7
    assert r.engine.symbol_config(ACCOUNT, {"symbol": SYMBOL})[0]["leverage"] == 7


# --- the knobs in summary.json ----------------------------------------------------------------


def test_every_knob_is_in_the_settings_and_a_seed_makes_the_run_repeatable():
    data = rising_klines(T0, 60, step=-10)  # falling: SMA 2 < 3, the strategy goes short
    config = BacktestConfig(
        strategy_params={"fast": 2, "slow": 3},
        entry_latency="lognormal:median=200,sigma=1",
        ack_latency="empirical:10,50",
        seed=5,
        funding="auto",
        slippage_bps=D(1),
        leverage=5,
    )
    a, b = run_backtest(data, config), run_backtest(data, config)
    assert a.summary_dict() == b.summary_dict() and a.journal.fills == b.journal.fills
    s = a.summary_dict()["settings"]
    assert s["entry_latency"] == "lognormal:median=200,sigma=1"
    assert s["ack_latency"] == "empirical:10,50"
    assert s["seed"] == 5 and s["leverage"] == 5 and s["risk"]["leverage"] == 5
    assert s["funding"].endswith("BTCUSDT-um-8h-funding_rate-2025-03-06_2025-06-03.csv.gz")
    assert s["slippage_bps"] == "1" and s["maker_fee"] == "0.0002" and s["taker_fee"] == "0.0005"
    assert s["book_ticker"] == "" and s["brackets"] == ""
    assert a.counters["venue_entry_latency_draws"] > 0 and a.counters["venue_ack_latency_draws"] > 0
    c = run_backtest(data, BacktestConfig(**{**_kw(config), "seed": 6}))
    assert c.counters["venue_entry_latency_ms_total"] != a.counters["venue_entry_latency_ms_total"]


def test_book_ticker_needs_trades_data(tmp_path):
    quotes = write_gz(
        tmp_path / "q.csv.gz",
        "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,"
        f"event_time\n1,99999.9,1,100000.0,1,{T0},{T0}\n",
    )
    with pytest.raises(ValueError, match="trades data"):
        run_backtest(rising_klines(T0, 5), BacktestConfig(book_ticker=str(quotes)))


# --- the command line -------------------------------------------------------------------------

CAPTURE = ROOT / "exchange_sim/data/trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"
BOOK = ROOT / "exchange_sim/data/bookticker/BTCUSDT-um-bookTicker-2024-08-08T2354_2400.csv.gz"


def test_the_cli_flags_reach_summary_json(tmp_path):
    import backtest_trading_strategy as cli

    out = tmp_path / "out"
    argv = ["--data", str(CAPTURE), "--fast", "2", "--slow", "3", "--out", str(out)]
    knobs = ["--book-ticker", str(BOOK), "--latency", "empirical:5,30", "--ack-latency", "10"]
    knobs += ["--seed", "4", "--funding", "auto", "--leverage", "5", "--no-html"]
    assert cli.main([*argv, *knobs, "--fill-mode", "Touch"]) == 0
    s = json.loads((out / "summary.json").read_text())["settings"]
    assert s["book_ticker"] == str(BOOK) and s["entry_latency"] == "empirical:5,30"
    assert (s["ack_latency"], s["seed"], s["leverage"]) == ("10", 4, 5)
    assert s["fill_mode"] == "touch"
    assert s["funding"] == "none"  # the bundled rates (2025) do not cover an August 2024 capture


@pytest.mark.parametrize(
    "flags",
    [
        ["--latency", "gamma:3"],
        ["--ack-latency", "-5"],
        ["--leverage", "0"],
        ["--funding", "/nonexistent.csv"],
        ["--book-ticker", str(CAPTURE)],  # a trades file is no bookTicker
        ["--fill-mode", "queue"],
    ],
)
def test_bad_realism_flags_exit_2_with_one_line(flags, tmp_path, capsys):
    import backtest_trading_strategy as cli

    argv = ["--data", str(CAPTURE), "--out", str(tmp_path / "o"), "--no-html", *flags]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("backtest_trading_strategy.py: error: ") and "\n" not in err


@pytest.mark.slow  # two interpreters with pandas/matplotlib: ~4-9 s on 2 busy cores
def test_a_seed_gives_the_same_run_in_another_process(tmp_path):
    """Draws come from random.Random(str seed), hashed with SHA-512: no PYTHONHASHSEED, no
    process state. Two interpreters with different hash seeds write identical outputs."""
    import os
    import subprocess
    import sys

    week = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
    outs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        argv = [sys.executable, str(ROOT / "backtest_trading_strategy.py"), "--data", str(week)]
        argv += ["--end", "2025-05-05T08:00", "--latency", "lognormal:median=300,sigma=1"]
        argv += ["--ack-latency", "empirical:5,50,500", "--seed", "9", "--no-html"]
        argv += ["--no-progress", "--out", str(out)]
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        subprocess.run(argv, check=True, env=env, capture_output=True, cwd=ROOT, timeout=120)
        outs.append(out)
    for name in ("summary.json", "trades.csv", "orders.csv", "equity.csv"):
        a, b = ((o / name).read_bytes() for o in outs)
        assert a == b, name
    assert json.loads((outs[0] / "summary.json").read_text())["counters"]["venue_ack_latency_draws"]


def test_another_symbols_book_ticker_is_refused_before_the_run_naming_it(tmp_path, capsys):
    """ETHUSDT quotes for a BTCUSDT backtest once failed mid-run on the first ETH price, off
    BTCUSDT's tick grid ("price 2681.62 is not a multiple of 0.10")."""
    import backtest_trading_strategy as cli

    eth = BOOK.with_name(BOOK.name.replace("BTCUSDT", "ETHUSDT"))
    argv = ["--data", str(CAPTURE), "--out", str(tmp_path / "o"), "--no-html"]

    assert cli.main([*argv, "--book-ticker", str(eth)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"backtest_trading_strategy.py: error: {eth.name} holds ETHUSDT quotes, not BTCUSDT's"
    )
