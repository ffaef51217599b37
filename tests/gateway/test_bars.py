"""Bars from trades: real trades vs real klines, streaming vs vectorized, empty buckets."""

import csv
import gzip
from decimal import Decimal
from pathlib import Path

import pytest

from core.market import Trade
from gateway.bars import BarBuilder, bars_from_trades, frame_to_bars, trades_frame

MARKET = Path(__file__).resolve().parents[1] / "fixtures" / "market"
SPOT = {
    "BTCUSDT": (
        "BTCUSDT-spot-trades-2024-08-08T2354_2024-08-09T0005.csv.gz",
        "BTCUSDT-spot-1m-2024-08-08T2354_2024-08-09T0006.csv",
    ),
    "ETHUSDT": (
        "ETHUSDT-spot-trades-2024-08-08T2354_2024-08-09T0005.csv.gz",
        "ETHUSDT-spot-1m-2024-08-08T2354_2024-08-09T0006.csv",
    ),
}


def raw_trades(symbol: str) -> list[Trade]:
    """Each recorded trade as an aggregate of one trade (f = l = trade id)."""
    with gzip.open(MARKET / SPOT[symbol][0], "rt") as fh:
        return [
            Trade(
                symbol,
                int(r["id"]),
                Decimal(r["price"]),
                Decimal(r["qty"]),
                int(r["id"]),
                int(r["id"]),
                r["is_buyer_maker"] == "true",
                int(r["time"]),
                int(r["event_time"]),
                0,
            )
            for r in csv.DictReader(fh)
        ]


def aggregated(trades: list[Trade]) -> list[Trade]:
    """Merge consecutive fills at the same ms, price and taker side (as Binance's aggTrades)."""
    out: list[Trade] = []
    for t in trades:
        prev = out[-1] if out else None
        if prev and (prev.trade_time_ms, prev.price, prev.buyer_is_maker) == (
            t.trade_time_ms,
            t.price,
            t.buyer_is_maker,
        ):
            out[-1] = Trade(
                t.symbol,
                prev.agg_id,
                prev.price,
                prev.qty + t.qty,
                prev.first_trade_id,
                t.last_trade_id,
                t.buyer_is_maker,
                t.trade_time_ms,
                t.event_time_ms,
                0,
            )
        else:
            out.append(Trade(t.symbol, len(out) + 1, *_rest(t)))
    return out


def _rest(t: Trade) -> tuple:
    return (t.price, t.qty, t.first_trade_id, t.last_trade_id, t.buyer_is_maker,
            t.trade_time_ms, t.event_time_ms, 0)  # fmt: skip


def real_klines(symbol: str) -> dict[int, tuple[Decimal, ...]]:
    with open(MARKET / SPOT[symbol][1]) as fh:
        return {
            int(r["open_time"]): tuple(
                Decimal(r[k]) for k in ("open", "high", "low", "close", "volume")
            )
            for r in csv.DictReader(fh)
        }


def streaming(trades: list[Trade], interval: str) -> list:
    builder = BarBuilder(trades[0].symbol, interval)
    bars = []
    for t in trades:
        bars.extend(builder.add(t))
    return bars


def full_minutes(trades: list[Trade]) -> range:
    first = trades[0].trade_time_ms // 60_000 * 60_000 + 60_000
    last = trades[-1].trade_time_ms // 60_000 * 60_000  # still open: excluded
    return range(first, last, 60_000)


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_streaming_bars_from_real_trades_equal_real_klines(symbol):
    trades = raw_trades(symbol)
    klines = real_klines(symbol)

    bars = {b.open_time_ms: b for b in streaming(trades, "1m")}

    minutes = list(full_minutes(trades))
    assert len(minutes) == 10
    for t in minutes:
        b = bars[t]
        assert (b.open, b.high, b.low, b.close, b.volume) == klines[t], t


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_vectorized_bars_from_real_trades_equal_real_klines(symbol):
    trades = raw_trades(symbol)
    klines = real_klines(symbol)

    frame = bars_from_trades(trades_frame(trades), "1m").set_index("open_time")

    for t in full_minutes(trades):
        row = frame.loc[t]
        assert (row.open, row.high, row.low, row.close, row.volume) == klines[t], t


@pytest.mark.parametrize("interval", ["1s", "1m", "5m", "15s"])
def test_streaming_and_vectorized_bars_agree_on_every_field(interval):
    trades = aggregated(raw_trades("BTCUSDT"))

    live = streaming(trades, interval)
    batch = frame_to_bars(bars_from_trades(trades_frame(trades), interval), "BTCUSDT", interval)

    assert live == batch[: len(live)]
    assert len(batch) == len(live) + 1  # the last bucket is still open in the streaming form


def test_aggregating_trades_does_not_change_the_bars():
    raw = raw_trades("BTCUSDT")
    agg = aggregated(raw)

    assert len(agg) < len(raw)
    assert streaming(agg, "1m") == streaming(raw, "1m")


def test_bucket_without_trades_repeats_the_previous_close_with_zero_volume():
    t0 = 1_723_161_300_000
    builder = BarBuilder("BTCUSDT", "1m")
    trade = Trade("BTCUSDT", 1, Decimal("100.5"), Decimal("2"), 1, 3, False, t0 + 5, t0 + 6, 0)
    later = Trade("BTCUSDT", 2, Decimal("101"), Decimal("1"), 4, 4, True, t0 + 180_001, 0, 0)

    builder.add(trade)
    closed = builder.add(later)

    assert [b.open_time_ms for b in closed] == [t0, t0 + 60_000, t0 + 120_000]
    first, empty1, _ = closed
    assert first.trade_count == 3 and first.taker_buy_volume == Decimal("2")
    assert first.quote_volume == Decimal("201.0")
    assert (empty1.open, empty1.close, empty1.volume, empty1.trade_count) == (
        Decimal("100.5"),
        Decimal("100.5"),
        0,
        0,
    )


def test_close_until_closes_the_open_bar_when_time_passes():
    t0 = 1_723_161_300_000
    builder = BarBuilder("BTCUSDT", "1m")
    builder.add(Trade("BTCUSDT", 1, Decimal("1"), Decimal("1"), 1, 1, True, t0, t0, 0))

    assert builder.close_until(t0 + 59_999) == ()  # nothing closed (the shared empty tuple)
    (bar,) = builder.close_until(t0 + 60_000)
    assert bar.closed and bar.close_time_ms == t0 + 59_999 and builder.current() is None


def test_the_open_bar_shown_is_the_bar_handed_out_when_it_closes_but_for_closed():
    t0 = 1_723_161_300_000
    builder = BarBuilder("BTCUSDT", "1m")
    # a taker buy of 2 at 100.0 (agg of trades 1-3), then a taker sell of 1 at 99.5 (trade 4)
    builder.add(Trade("BTCUSDT", 1, Decimal("100.0"), Decimal("2"), 1, 3, False, t0, t0, 0))
    builder.add(Trade("BTCUSDT", 2, Decimal("99.5"), Decimal("1"), 4, 4, True, t0 + 5, t0, 0))

    shown = builder.current()
    (closed,) = builder.close_until(t0 + 60_000)

    assert shown is not None and not shown.closed and closed.closed
    expected = (
        t0,
        t0 + 59_999,
        (Decimal("100.0"), Decimal("100.0"), Decimal("99.5"), Decimal("99.5")),
        Decimal("3"),  # volume 2 + 1
        Decimal("299.5"),  # quote 200.0 + 99.5
        (Decimal("2"), Decimal("200.0")),  # taker-buy volume and quote: the first trade's
        4,  # trade ids 1-3 and 4
    )
    for bar in (shown, closed):
        assert (
            bar.open_time_ms,
            bar.close_time_ms,
            (bar.open, bar.high, bar.low, bar.close),
            bar.volume,
            bar.quote_volume,
            (bar.taker_buy_volume, bar.taker_buy_quote_volume),
            bar.trade_count,
        ) == expected


def test_trade_older_than_the_open_bar_is_refused():
    t0 = 1_723_161_300_000
    builder = BarBuilder("BTCUSDT", "1m")
    builder.add(Trade("BTCUSDT", 2, Decimal("1"), Decimal("1"), 2, 2, True, t0 + 60_000, 0, 0))

    with pytest.raises(ValueError):
        builder.add(Trade("BTCUSDT", 1, Decimal("1"), Decimal("1"), 1, 1, True, t0, 0, 0))
