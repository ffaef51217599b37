"""REST under hostile input (issue 8, items 3-6): every bad request gets a Binance-shaped JSON
4xx answer, never a 500, a traceback or an echo of the request line, and no request holds the
event loop for more than 10 ms."""

import asyncio
import logging
from urllib.parse import quote

import pytest

from exchange_sim.server.signing import sign
from tests.exchange_sim.hostile_helpers import (
    LoopHold,
    http_request,
    public_get,
    raw_http,
    signed,
)

BIG = "1" * 5000  # over Python's 4,300-digit int() limit
INT_RANGE = "legal range is '^[0-9]{1,20}$'."
DECIMAL_RANGE = "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'."
SUPERSCRIPT_TWO = quote("²")  # str.isdigit() says yes, int() says no
ARABIC_TEN = quote("١٠")  # int() reads 10
FULL_WIDTH_ONE = quote("１")  # int() and Decimal() read 1


@pytest.fixture
async def ex(exchange_factory):
    return await exchange_factory(data=None)


def assert_binance_error(status: int, body: object, code: int, http: int = 400) -> None:
    assert (status, body) == (http, {"code": code, "msg": body["msg"]})  # type: ignore[index]


@pytest.mark.parametrize(
    "target",
    [
        f"/fapi/v1/depth?symbol=BTCUSDT&limit={SUPERSCRIPT_TWO}",
        f"/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit={SUPERSCRIPT_TWO}",
        f"/fapi/v1/depth?symbol=BTCUSDT&limit={BIG}",
        f"/fapi/v1/aggTrades?symbol=BTCUSDT&fromId={BIG}",
        f"/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime={ARABIC_TEN}",
        "/fapi/v1/depth?symbol=BTCUSDT&limit=5%0A",
        "/fapi/v1/aggTrades?symbol=BTCUSDT&startTime=-1",
    ],
)
async def test_malformed_integer_on_public_endpoint_is_1100_not_500(ex, target) -> None:
    status, headers, body = await public_get(ex, target)

    assert_binance_error(status, body, -1100)
    assert body["msg"].endswith(INT_RANGE)  # type: ignore[index]
    assert headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("method", "path", "payload", "name"),
    [
        ("GET", "/fapi/v1/order", f"symbol=BTCUSDT&orderId={BIG}", "orderId"),
        (
            "POST",
            "/fapi/v1/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTD&quantity=0.01&price=50000"
            f"&goodTillDate={BIG}",
            "goodTillDate",
        ),
        ("GET", "/fapi/v1/income", f"page={BIG}", "page"),
        ("GET", "/fapi/v1/allOrders", f"symbol=BTCUSDT&limit={BIG}", "limit"),
        ("POST", "/fapi/v1/leverage", f"symbol=BTCUSDT&leverage={BIG}", "leverage"),
        ("POST", "/fapi/v1/leverage", f"symbol=BTCUSDT&leverage={SUPERSCRIPT_TWO}", "leverage"),
        ("POST", "/fapi/v1/leverage", f"symbol=BTCUSDT&leverage={ARABIC_TEN}", "leverage"),
        (
            "POST",
            "/fapi/v1/countdownCancelAll",
            f"symbol=BTCUSDT&countdownTime={BIG}",
            "countdownTime",
        ),
        ("GET", "/fapi/v1/algoOrder", f"algoId={BIG}", "algoId"),
        (
            "DELETE",
            "/fapi/v1/batchOrders",
            "symbol=BTCUSDT&orderIdList=" + quote(f'["{BIG}"]'),
            "orderId",
        ),
    ],
)
async def test_malformed_integer_on_signed_endpoint_is_1100_not_500(
    ex, method, path, payload, name
) -> None:
    status, body = await signed(ex, method, path, payload, in_body=method != "GET")

    assert_binance_error(status, body, -1100)
    assert body["msg"] == f"Illegal characters found in parameter '{name}'; {INT_RANGE}"


async def test_order_id_list_holding_a_4300_digit_number_is_malformed_not_500(ex) -> None:
    payload = "symbol=BTCUSDT&orderIdList=" + quote(f"[{BIG}]")

    status, body = await signed(ex, "DELETE", "/fapi/v1/batchOrders", payload, in_body=True)

    assert_binance_error(status, body, -1102)


@pytest.mark.parametrize(
    "quantity",
    [quote("٠.٠١"), quote("０.01"), f"0.0{FULL_WIDTH_ONE}", "0.01%0A", "-0.01", "1e-2", ".5"],
)
async def test_quantity_must_be_ascii_digits_as_binance_requires(ex, quantity) -> None:
    payload = f"symbol=BTCUSDT&side=BUY&type=MARKET&quantity={quantity}"

    status, body = await signed(ex, "POST", "/fapi/v1/order", payload, in_body=True)

    assert_binance_error(status, body, -1100)
    assert body["msg"] == f"Illegal characters found in parameter 'quantity'; {DECIMAL_RANGE}"


async def test_leverage_in_arabic_indic_digits_is_refused_and_nothing_changes(ex) -> None:
    status, body = await signed(
        ex, "POST", "/fapi/v1/leverage", f"symbol=BTCUSDT&leverage={ARABIC_TEN}", in_body=True
    )
    _, config = await signed(ex, "GET", "/fapi/v1/symbolConfig", "symbol=BTCUSDT")

    assert_binance_error(status, body, -1100)
    assert config[0]["leverage"] != 10  # type: ignore[index]


async def test_timestamp_with_trailing_newline_is_malformed(ex) -> None:
    payload = f"timestamp={ex.now_ms()}%0A"
    target = f"/fapi/v2/balance?{payload}&signature={sign(ex.api_secret, payload)}"
    request = http_request("GET", target, headers=f"X-MBX-APIKEY: {ex.api_key}\r\n")

    response = await asyncio.to_thread(raw_http, ex.port, request)

    assert_binance_error(response.status, response.json(), -1102)
    assert "'timestamp'" in response.json()["msg"]


async def test_client_order_id_with_trailing_newline_is_1100(ex) -> None:
    payload = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01&newClientOrderId=abc%0A"

    status, body = await signed(ex, "POST", "/fapi/v1/order", payload, in_body=True)

    assert_binance_error(status, body, -1100)
    assert "'newClientOrderId'; legal range is" in body["msg"]


async def test_duplicated_parameter_is_1101_not_the_last_value(ex) -> None:
    status, _, body = await public_get(ex, "/fapi/v1/depth?symbol=BTCUSDT&limit=5&limit=10")

    assert (status, body) == (
        400,
        {"code": -1101, "msg": "Duplicate values for a parameter detected."},
    )


async def test_duplicated_parameter_in_a_signed_body_is_1101(ex) -> None:
    payload = "symbol=BTCUSDT&leverage=5&leverage=20"

    status, body = await signed(ex, "POST", "/fapi/v1/leverage", payload, in_body=True)

    assert_binance_error(status, body, -1101)


async def test_batch_order_with_a_malformed_field_is_refused_before_the_engine(ex) -> None:
    orders = '[{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","quantity":"٠.01"}]'
    payload = "batchOrders=" + quote(orders)

    status, body = await signed(ex, "POST", "/fapi/v1/batchOrders", payload, in_body=True)

    assert_binance_error(status, body, -1100)


async def test_deeply_nested_batch_orders_is_malformed_not_500(ex) -> None:
    payload = "batchOrders=" + "%5B" * 4000

    status, body = await signed(ex, "POST", "/fapi/v1/batchOrders", payload, in_body=True)

    assert_binance_error(status, body, -1102)


# --- errors of the HTTP layer --------------------------------------------------------------------


async def test_body_over_the_limit_is_413_json(ex) -> None:
    body = b"listenKey=" + b"A" * 20_000
    request = http_request("PUT", "/fapi/v1/listenKey", body, f"X-MBX-APIKEY: {ex.api_key}\r\n")

    response = await asyncio.to_thread(raw_http, ex.port, request)

    assert response.status == 413
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {
        "code": -1101,
        "msg": "Request body too large; the limit is 16384 bytes.",
    }


async def test_over_long_url_is_400_json_without_echoing_it(ex) -> None:
    target = "/fapi/v1/depth?symbol=BTCUSDT&secret=" + "S" * 9000

    response = await asyncio.to_thread(raw_http, ex.port, http_request("GET", target))

    assert response.status == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["code"] == -1101
    assert b"SSSS" not in response.body and b"depth" not in response.body


@pytest.mark.parametrize("method", ["G\x01T", "FOO"])
async def test_invalid_http_method_is_400_json(ex, method) -> None:
    response = await asyncio.to_thread(raw_http, ex.port, http_request(method, "/fapi/v1/time"))

    assert response.status == 400
    assert response.json() == {
        "code": -1020,
        "msg": "Invalid HTTP method; this operation is not supported.",
    }


async def test_wrong_method_on_known_path_is_405_with_binance_5000_body(ex) -> None:
    response = await asyncio.to_thread(raw_http, ex.port, http_request("PATCH", "/fapi/v1/order"))

    assert response.status == 405
    assert response.headers["Allow"] == "POST, PUT, GET, DELETE"
    assert response.json() == {
        "code": -5000,
        "msg": "Path /fapi/v1/order, Method PATCH is invalid",
    }


async def test_unknown_path_is_404_with_binance_5000_body_and_a_short_echo(ex) -> None:
    status, _, body = await public_get(ex, "/fapi/v1/" + "x" * 5000)

    assert status == 404
    assert body["code"] == -5000  # type: ignore[index]
    assert len(body["msg"]) < 150  # type: ignore[index]


async def test_malformed_requests_log_one_line_each_without_traceback(ex, caplog) -> None:
    caplog.set_level(logging.INFO)
    bad = [
        http_request("G\x01T", "/"),
        http_request("GET", "/" + "a" * 9000),
        http_request("GET", "/fapi/v1/time", headers="X-Long: " + "h" * 9000 + "\r\n"),
    ]

    for request in bad:
        await asyncio.to_thread(raw_http, ex.port, request)

    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert len([r for r in caplog.records if "malformed HTTP request" in r.message]) == 3


# --- the worst request under the limits ----------------------------------------------------------


def _worst_requests(ex) -> list[bytes]:
    key = f"X-MBX-APIKEY: {ex.api_key}\r\n"
    escapes = "%41" * 5400  # a 16 KiB body of percent escapes, the costliest to decode
    signed_body = f"symbol=BTCUSDT&newClientOrderId={escapes[:15_000]}&timestamp={ex.now_ms()}"
    signed_body += f"&signature={sign(ex.api_secret, signed_body)}"
    many = "&".join(f"p{i}=" + "%C2%B2" * 25 for i in range(99))
    return [
        http_request("PUT", "/fapi/v1/listenKey", f"listenKey={escapes}".encode()[:16_000], key),
        http_request("POST", "/fapi/v1/order", signed_body.encode(), key),
        http_request("PUT", "/fapi/v1/listenKey", ("%" * 16_000).encode(), key),
        http_request("PUT", "/fapi/v1/listenKey", many.encode(), key),
        http_request("PUT", "/fapi/v1/listenKey", ("a=1&" * 4000).encode(), key),
        http_request("GET", "/fapi/v1/depth?symbol=BTCUSDT&limit=" + "%C2%B2" * 1300),
        http_request("POST", "/fapi/v1/batchOrders", b"batchOrders=" + b"[" * 8000, key),
    ]


async def test_no_request_under_the_limits_holds_the_loop_for_10_ms(ex) -> None:
    requests = _worst_requests(ex)

    async with LoopHold() as hold:
        responses = [await asyncio.to_thread(raw_http, ex.port, r) for r in requests]

    assert all(400 <= r.status < 500 for r in responses), [r.status for r in responses]
    assert all(set(r.json()) == {"code", "msg"} for r in responses)
    assert hold.longest_ms < 10, f"event loop held {hold.longest_ms:.1f} ms"
