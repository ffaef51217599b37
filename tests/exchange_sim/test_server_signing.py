"""The server's HMAC signer and verifier against the reference's three test vectors (2.2)."""

import pytest

from exchange_sim.server.signing import sign, signature_matches, split_signed_payload

SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
VECTOR_1 = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
    "&recvWindow=5000&timestamp=1591702613943"
)
VECTOR_3 = (
    "newClientOrderId=x-Cb7ytekJ1a2b3c4d5e6f7a8b9c0d1e&price=60000.0&quantity=0.002"
    "&recvWindow=10000&side=BUY&symbol=BTCUSDT&timeInForce=GTC&timestamp=1716000000000&type=LIMIT"
)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (VECTOR_1, "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"),
        (VECTOR_3, "80bf8dee4165d1c1fc545c0e853fc307795c10ba947e17f0cc71656d9dcb1abd"),
    ],
)
def test_sign_matches_reference_vectors(message: str, expected: str) -> None:
    assert sign(SECRET, message) == expected


def test_mixed_query_and_body_are_concatenated_without_separator() -> None:
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = (
        "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943"
        "&signature=30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"
    )

    payload, signature = split_signed_payload(query, body)

    assert signature == "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"
    assert signature_matches(SECRET, payload, signature)


def test_signature_comparison_ignores_hex_case() -> None:
    upper = "3C661234138461FCC7A7D8746C6558C9842D4E10870D2ECBEDF7777CAD694AF9"

    assert signature_matches(SECRET, VECTOR_1, upper)


def test_signature_in_query_string_is_removed_from_payload() -> None:
    query = VECTOR_1 + "&signature=abc"

    payload, signature = split_signed_payload(query, "")

    assert (payload, signature) == (VECTOR_1, "abc")
