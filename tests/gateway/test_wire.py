"""Wire parsers on real captured Binance frames, and their refusal of malformed ones."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.wire import (
    MalformedMessage,
    decode_frame,
    parse_agg_trade,
    parse_book_ticker,
    parse_kline,
    parse_mark_price,
    parse_premium_index_mark,
    parse_rest_agg_trade,
    parse_rest_kline,
)

WS = Path(__file__).resolve().parents[1] / "fixtures" / "binance_api" / "ws_market"
REST = WS.parent / "rest"


def data(name: str) -> dict:
    return json.loads((WS / name).read_text())["data"]


def test_real_agg_trade_frame_becomes_a_trade():
    trade = parse_agg_trade(data("futures_aggTrade__CTKUSDT_2021-07-22__cryptofeed.json"), 7)

    assert (trade.symbol, trade.agg_id, trade.price, trade.qty) == (
        "CTKUSDT",
        16599292,
        Decimal("1.01100"),
        Decimal("10"),
    )
    assert (trade.trade_time_ms, trade.event_time_ms, trade.recv_time_ms) == (
        1626992741421,
        1626992741575,
        7,
    )
    assert trade.buyer_is_maker is False and trade.trade_count == 1


def test_real_kline_frames_keep_the_closed_flag():
    closed = parse_kline(data("futures_kline_1m__closed__SUSHIUSDT_2021-07-22__cryptofeed.json"))
    still_open = parse_kline(data("futures_kline_1m__open__CTKUSDT_2021-07-22__cryptofeed.json"))

    assert closed.closed and not still_open.closed
    assert closed.close_time_ms - closed.open_time_ms == 59_999
    assert (closed.quote_volume, closed.taker_buy_quote_volume) == (
        Decimal("22875.8590"),
        Decimal("14464.6960"),
    )


def test_the_documented_premium_index_answer_gives_its_mark_price():
    body = json.loads((REST / "GET_fapi_v1_premiumIndex__docs.json").read_text())

    assert parse_premium_index_mark(body) == Decimal("11793.63104562")


@pytest.mark.parametrize("body", [{}, [], None, {"markPrice": 11793.6}, {"markPrice": "x"}])
def test_a_premium_index_answer_without_a_decimal_mark_is_malformed(body):
    with pytest.raises(MalformedMessage):
        parse_premium_index_mark(body)


def test_real_book_ticker_and_mark_price_frames():
    book = parse_book_ticker(data("futures_bookTicker__BTCUSDT_2024-08-08__hftbacktest.json"), 1)
    mark = parse_mark_price(
        data("futures_markPriceUpdate_1s__BTCUSDT_2023-04-04__hftbacktest.json"), 1
    )

    assert (book.bid_price, book.ask_price, book.ask_qty) == (
        Decimal("61800.20"),
        Decimal("61800.30"),
        Decimal("2.510"),
    )
    assert mark.mark_price == Decimal("28147.27373413")
    assert mark.next_funding_time_ms == 1680652800000


def test_rest_rows_parse_like_the_documented_examples():
    row = {"a": 2201534871, "p": "67000.00", "q": "0.125", "f": 5012348890, "l": 5012348893,
           "T": 1716000000321, "m": False}  # fmt: skip
    kline = [1716000000000, "67000.00", "67012.50", "66990.10", "67005.40", "84.312",
             1716000059999, "5649338.11760", 2311, "41.020", "2748614.90480", "0"]  # fmt: skip

    trade = parse_rest_agg_trade("BTCUSDT", row, 5)
    bar = parse_rest_kline("BTCUSDT", "1m", kline)

    assert trade.trade_count == 4 and trade.event_time_ms == trade.trade_time_ms
    assert bar.trade_count == 2311 and bar.taker_buy_volume == Decimal("41.020")


@pytest.mark.parametrize(
    "change",
    [
        {"a": "16599292"},
        {"p": 1.011},
        {"q": "ten"},
        {"m": "false"},
        {"T": None},
    ],
)
def test_agg_trade_with_a_wrong_field_type_is_malformed(change):
    frame = {**data("futures_aggTrade__CTKUSDT_2021-07-22__cryptofeed.json"), **change}

    with pytest.raises(MalformedMessage):
        parse_agg_trade(frame, 0)


def test_agg_trade_without_a_field_is_malformed():
    frame = data("futures_aggTrade__CTKUSDT_2021-07-22__cryptofeed.json")
    del frame["a"]

    with pytest.raises(MalformedMessage):
        parse_agg_trade(frame, 0)


def test_decode_frame_accepts_json_and_refuses_trailing_garbage():
    assert decode_frame(' {"a": 1}') == {"a": 1}
    assert decode_frame(b'{"a": 1}') == {"a": 1}
    with pytest.raises(ValueError):
        decode_frame('{"a": 1} trailing')
    with pytest.raises(ValueError):
        decode_frame('{"a": ')


def test_real_book_ticker_frame_of_2021_keeps_every_field():
    # cryptofeed sample_data/BINANCE_FUTURES.ws.1.0 (first bookTicker message, 2021-07-22)
    book = parse_book_ticker(data("futures_bookTicker__SUSHIUSDT_2021-07-22__cryptofeed.json"), 3)

    assert (book.symbol, book.update_id) == ("SUSHIUSDT", 600859600576)
    assert (book.bid_price, book.bid_qty, book.ask_price, book.ask_qty) == (
        Decimal("7.6110"),
        Decimal("2"),
        Decimal("7.6120"),
        Decimal("297"),
    )
    assert (book.transaction_time_ms, book.event_time_ms, book.recv_time_ms) == (
        1626992741012,
        1626992741017,
        3,
    )
