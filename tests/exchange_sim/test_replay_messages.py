"""Stream messages and REST rows have the keys, key order and value types of real examples."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from exchange_sim.replay import loaders
from exchange_sim.replay.catalog import bundled
from exchange_sim.replay.events import (
    AggTradeEvent,
    BookTickerEvent,
    DepthUpdateEvent,
    MarkPriceEvent,
)
from exchange_sim.replay.grid import DATA_DIR, load_grids
from exchange_sim.replay.kline_store import KlineRow, kline_message, kline_rest_row
from exchange_sim.replay.messages import (
    DepthSequencer,
    agg_trade_message,
    agg_trade_rest_row,
    book_ticker_message,
    book_ticker_rest,
    combined,
    depth_update_message,
    mark_price_message,
    premium_index_rest,
    stream_name,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "binance_api"
GRIDS = load_grids()


def _fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


def _types(d: dict) -> dict:
    return {k: type(v) for k, v in d.items()}


def test_agg_trade_message_matches_real_capture_plus_nq():
    real = _fixture("ws_market/futures_aggTrade__CTKUSDT_2021-07-22__cryptofeed.json")["data"]
    ev = AggTradeEvent(
        symbol="BTCUSDT",
        data_time_ms=1723161256322,
        agg_id=3_000_000_000,
        price=Decimal("61800.30"),
        qty=Decimal("0.250"),
        first_trade_id=5266583935,
        last_trade_id=5266583937,
        trade_time_ms=1723161256322,
        buyer_is_maker=False,
    )

    msg = agg_trade_message(ev, event_time_ms=1723161256325, trade_time_ms=1723161256322)

    expected_types = _types(real) | {"nq": str}
    assert _types(msg) == expected_types
    assert [k for k in msg if k != "nq"] == list(real)
    assert (msg["p"], msg["q"], msg["nq"]) == ("61800.30", "0.250", "0.250")


def test_book_ticker_message_reproduces_the_recorded_message():
    real = _fixture("ws_market/futures_bookTicker__BTCUSDT_2024-08-08__hftbacktest.json")
    grid = GRIDS["BTCUSDT"]
    tape = loaders.load_book_ticker_csv(
        DATA_DIR / "bookticker/BTCUSDT-um-bookTicker-2024-08-08T2354_2400.csv.gz", grid
    )
    ev = BookTickerEvent(
        symbol="BTCUSDT",
        data_time_ms=int(tape.event_time[0]),
        update_id=int(tape.update_id[0]),
        bid_price=grid.price(tape.bid_price[0]),
        bid_qty=grid.qty(tape.bid_qty[0]),
        ask_price=grid.price(tape.ask_price[0]),
        ask_qty=grid.qty(tape.ask_qty[0]),
        transaction_time_ms=int(tape.transaction_time[0]),
    )

    msg = book_ticker_message(
        ev, event_time_ms=ev.data_time_ms, transaction_time_ms=ev.transaction_time_ms
    )

    assert combined(stream_name("BTCUSDT", "bookTicker"), msg) == real
    assert list(msg) == list(real["data"])


def test_depth_update_message_reproduces_the_recorded_message():
    real = _fixture("ws_market/futures_depthUpdate_0ms__BTCUSDT_2024-08-08__hftbacktest.json")
    path = DATA_DIR / "raw_ws/BTCUSDT-um-ws-raw-depth-2024-08-08T2354_2400.jsonl.gz"
    first = next(msg["data"] for _, msg in loaders.iter_raw_ws(path) if msg.get("stream"))
    u = bundled("btcusdt-2024-08-08").depth_updates["BTCUSDT"][0]
    ev = DepthUpdateEvent(
        symbol=u.symbol,
        data_time_ms=u.event_time,
        transaction_time_ms=u.transaction_time,
        first_update_id=u.first_update_id,
        final_update_id=u.final_update_id,
        prev_final_update_id=u.prev_final_update_id,
        bids=u.bids,
        asks=u.asks,
    )

    msg = depth_update_message(
        ev, event_time_ms=u.event_time, transaction_time_ms=u.transaction_time
    )

    assert first == real["data"]
    assert msg == real["data"]
    assert list(msg) == list(real["data"])


def test_mark_price_message_reproduces_the_recorded_message_plus_ap():
    real = _fixture("ws_market/futures_markPriceUpdate_1s__BTCUSDT_2023-04-04__hftbacktest.json")
    marks = loaders.load_raw_ws(
        DATA_DIR / "raw_ws/BTCUSDT-um-ws-raw-2023-04-04T2358_2359.jsonl.gz", GRIDS, "BTCUSDT"
    ).mark_prices
    ev = MarkPriceEvent(
        symbol="BTCUSDT",
        data_time_ms=int(marks.event_time[0]),
        mark_price=marks.mark_price[0],
        index_price=marks.index_price[0],
        settle_price=marks.settle_price[0],
        funding_rate=marks.funding_rate[0],
        next_funding_time_ms=int(marks.next_funding_time[0]),
    )

    msg = mark_price_message(
        ev, event_time_ms=ev.data_time_ms, next_funding_time_ms=ev.next_funding_time_ms
    )

    without_ap = {k: v for k, v in msg.items() if k != "ap"}
    assert without_ap == real["data"]
    assert msg["ap"] == real["data"]["p"]


def test_mark_price_message_prints_eight_decimals_without_exponent():
    ev = MarkPriceEvent(
        symbol="BTCUSDT",
        data_time_ms=0,
        mark_price=Decimal("61800.25"),
        index_price=Decimal("61800.25"),
        settle_price=Decimal("61800.25"),
        funding_rate=Decimal("0.0000001"),
        next_funding_time_ms=28_800_000,
        derived=True,
    )

    msg = mark_price_message(ev, event_time_ms=1000, next_funding_time_ms=28_800_000)

    assert (msg["p"], msg["r"]) == ("61800.25000000", "0.00000010")


@pytest.mark.parametrize(
    "name",
    [
        "ws_market/futures_kline_1m__closed__SUSHIUSDT_2021-07-22__cryptofeed.json",
        "ws_market/futures_kline_1m__open__CTKUSDT_2021-07-22__cryptofeed.json",
    ],
)
def test_kline_message_has_the_real_keys_and_types(name):
    real = _fixture(name)["data"]
    row = KlineRow(
        symbol="BTCUSDT",
        interval="1m",
        open_time=1723161240000,
        close_time=1723161299999,
        open="61800.30",
        high="61839.80",
        low="61800.00",
        close="61807.80",
        volume="125.967",
        quote_volume="7786316.85560",
        trade_count=1751,
        taker_buy_volume="50.874",
        taker_buy_quote_volume="3144714.02100",
        first_trade_id=5266583935,
        last_trade_id=5266585685,
        closed=real["k"]["x"],
    )

    msg = kline_message(row, event_time_ms=1723161300001)

    assert _types(msg) == _types(real)
    assert list(msg["k"]) == list(real["k"])
    assert _types(msg["k"]) == _types(real["k"])
    assert msg["k"]["x"] is real["k"]["x"]


def test_agg_trade_rest_row_matches_docs_element():
    real = _fixture("rest/GET_fapi_v1_aggTrades__docs.json")[0]
    ev = AggTradeEvent(
        symbol="BTCUSDT",
        data_time_ms=1,
        agg_id=7,
        price=Decimal("61800.30"),
        qty=Decimal("0.006"),
        first_trade_id=10,
        last_trade_id=12,
        trade_time_ms=1,
        buyer_is_maker=True,
    )

    row = agg_trade_rest_row(ev, trade_time_ms=5)

    assert list(row) == list(real)
    assert _types(row) == _types(real)


def test_kline_rest_row_matches_real_element_types():
    real = _fixture("rest/GET_fapi_v1_klines__BTCUSDT_1m_2024-04-10__ccxt.json")[1]
    row = KlineRow(
        symbol="BTCUSDT",
        interval="1m",
        open_time=1712738520000,
        close_time=1712738579999,
        open="71471.00",
        high="71471.00",
        low="70459.40",
        close="70459.40",
        volume="0.120",
        quote_volume="8518.17600",
        trade_count=9,
        taker_buy_volume="0.061",
        taker_buy_quote_volume="4359.72600",
        first_trade_id=1,
        last_trade_id=9,
        closed=True,
    )

    assert kline_rest_row(row) == real


def test_depth_sequencer_chains_pu_to_previous_u():
    seq = DepthSequencer(last_update_id=100)

    first = seq.next_ids(3)
    second = seq.next_ids(2)

    assert first == (101, 103, 100)
    assert second == (104, 105, 103)


def test_premium_index_rest_has_the_docs_keys_and_types():
    real = _fixture("rest/GET_fapi_v1_premiumIndex__docs.json")
    ev = MarkPriceEvent(
        symbol="BTCUSDT",
        data_time_ms=1,
        mark_price=Decimal("61800.25"),
        index_price=Decimal("61800.25"),
        settle_price=Decimal("61800.25"),
        funding_rate=Decimal("0.0001"),
        next_funding_time_ms=28_800_000,
        derived=True,
    )

    body = premium_index_rest(ev, time_ms=1000, next_funding_time_ms=28_800_000)

    assert set(body) == set(real)
    assert _types(body) == {k: type(real[k]) for k in body}
    assert (body["markPrice"], body["interestRate"]) == ("61800.25000000", "0.00010000")


def test_book_ticker_rest_has_the_docs_keys_and_types():
    real = _fixture("rest/GET_fapi_v1_ticker_bookTicker__docs.json")
    ev = BookTickerEvent(
        symbol="BTCUSDT",
        data_time_ms=1,
        update_id=2,
        bid_price=Decimal("61800.20"),
        bid_qty=Decimal("2.507"),
        ask_price=Decimal("61800.30"),
        ask_qty=Decimal("2.510"),
        transaction_time_ms=1,
    )

    body = book_ticker_rest(ev, time_ms=5)

    assert list(body) == list(real)
    assert _types(body) == _types(real)
