"""`core.redaction`: what must never be shown, and what names an endpoint without it."""

import pytest

from core.redaction import (
    SECRET_LIKE,
    hide_secret_like,
    redact,
    redact_userinfo,
    url_without_userinfo,
)


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
    "ws_url",
    [
        "wss://bob:pa'ss@proxy.lan:8443",  # a quote: one of RFC 3986's sub-delims
        'wss://bob:pa"ss@proxy.lan:8443',
        "wss://bob:pa<ss@proxy.lan:8443",
        "wss://bob:p@ss@proxy.lan:8443",  # unescaped: the host is after the last '@'
    ],
)
def test_a_password_the_config_accepts_is_redacted_whole_in_the_start_timeout_line(ws_url):
    # [endpoints] ws_url takes these; the gateway's line names the URL as it is (LiveVenue.start)
    line = f"user data stream at {ws_url} did not connect within 30.0 s"
    shown = "user data stream at wss://<redacted>@proxy.lan:8443 did not connect within 30.0 s"
    assert redact(line) == shown


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


KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"  # Binance's shape


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f'symbols = ["{KEY}"]', f'symbols = ["{SECRET_LIKE}"]'),
        (f'rest_url = "https://h/{KEY}/x"', f'rest_url = "{SECRET_LIKE}"'),  # whole, not in part
        ("k = MC4CAQAwBQYDK2VwBCIE/IJ7s3BsGqt+Xx5tUSaRQ", f"k = {SECRET_LIKE}"),  # base64
        ("token 0123456789abcdef0123", f"token {SECRET_LIKE}"),  # 20 hex digits
        ("a" * 64, SECRET_LIKE),
        ("a" * 63 + "g", SECRET_LIKE),  # one letter past f: not a digest
        (KEY.lower(), SECRET_LIKE),  # lowercase, but not hex
        ("0123456789ABCDEF0123456789ABCDEF01234567", SECRET_LIKE),  # 40 hex, uppercase
        ("0123456789abcdef0123456789abcdef012345678", SECRET_LIKE),  # 41 hex: no digest's length
    ],
)
def test_words_shaped_like_a_secret_are_hidden_whole(text, shown):
    assert hide_secret_like(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        'symbols = ["1000SHIBUSDT", "BTCUSDT"] is not allowed',
        "models/btcusdt-1m/versions/20261130T112220Z-16ada749/model.json",  # runs of 16 and 8
        "2025-05-05T00:00:00Z 1746403200000 1746403200000123456789",  # digits alone: times
        "strategy 'my_strategies.py:Breakout': no file /home/me/my_strategies.py",
        "abcdefghijklmnopqrstuvwxyz",  # letters alone, under 64: a word
        # a journal folder named by the git commit it ran: SHA-1, 40 lowercase hex digits
        "journal_dir = runs/ab736bd0c3f4e5d6a7b8c9d0e1f2a3b4c5d6e7f8",
        # a model file's sha256, as the start line names it
        "(sha256 16ada749dd4698a6e8e5cb150f05b89b3a8fe6cc38303fb2da89abc8acaa6035)",
    ],
)
def test_ordinary_words_are_left_alone(text):
    assert hide_secret_like(text) == text


def test_one_line_escapes_line_breaks_and_control_characters_only():
    from core.redaction import one_line

    assert one_line("a\nb\r\tc\x1b[2J\x7f d é") == "a\\nb\\r\\tc\\x1b[2J\\x7f d é"
    assert one_line("plain text: 1,000 USDT") == "plain text: 1,000 USDT"
