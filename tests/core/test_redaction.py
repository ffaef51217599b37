"""`core.redaction`: what must never be shown, and what names an endpoint without it."""

import pytest

from core.redaction import redact, redact_userinfo, url_without_userinfo


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://bob:s3cret@proxy.lan:8080", "http://<redacted>@proxy.lan:8080"),
        ("wss://bob@fstream.example/ws", "wss://<redacted>@fstream.example/ws"),
        (
            "cannot reach https://bob:p%40ss@10.0.0.1:443/fapi: refused",
            "cannot reach https://<redacted>@10.0.0.1:443/fapi: refused",
        ),
        (
            "venue 'http://a:b@h:1', then ws://c:d@h:2",
            "venue 'http://<redacted>@h:1', then ws://<redacted>@h:2",
        ),
    ],
)
def test_the_userinfo_of_a_url_is_redacted_and_its_host_and_port_kept(text, shown):
    assert redact(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "https://fapi.binance.com/fapi/v1/aggTrades?symbol=BTCUSDT",
        "mail bob@example.com",
        "http://127.0.0.1:8080/path/with@sign",  # an '@' after the host is no userinfo
    ],
)
def test_urls_without_userinfo_are_left_alone(text):
    assert redact(text) == text


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("http://bob:s3cret@proxy.lan:8080/fapi", "http://proxy.lan:8080/fapi"),
        ("https://fapi.binance.com", "https://fapi.binance.com"),
        ("http://127.0.0.1:8080/x@y", "http://127.0.0.1:8080/x@y"),
    ],
)
def test_the_endpoint_of_a_url_is_the_url_without_its_userinfo(url, endpoint):
    assert url_without_userinfo(url) == endpoint


def test_userinfo_alone_is_redacted_where_other_secret_shapes_are_not_looked_for():
    # A config error names fields such as `api_key: ...`: only the URL's password goes.
    text = 'api_key: not read here; endpoints.rest_url = "http://bob:pw@h:1" is not allowed'
    assert redact_userinfo(text) == (
        'api_key: not read here; endpoints.rest_url = "http://<redacted>@h:1" is not allowed'
    )
