"""bench/bench_reference_loop.py: its two ways of signing build the same request, the one
python-binance sends for a futures MARKET order, and each run times the ticks that order."""

import asyncio
import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode

from tests.bench.support import load_bench

bench = load_bench("bench_reference_loop")


def _signed_by_python_binance() -> tuple[str, list[tuple[str, str]]]:
    async def sign() -> tuple[str, list[tuple[str, str]]]:
        client = bench.AsyncClient(bench.API_KEY, bench.SECRET.decode())
        try:
            uri, kwargs = bench.python_binance_signer(client)("SELL", "0.004", "ref-100")
            return uri, kwargs["data"]
        finally:
            await client.close_connection()

    return asyncio.run(sign())


def _checked(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The parameters, once the signature is shown to be HMAC-SHA256 of the rest."""
    *params, (name, signature) = pairs
    assert name == "signature"
    query = urlencode(params).encode()
    assert signature == hmac.new(bench.SECRET, query, hashlib.sha256).hexdigest()
    return dict(params)


def test_the_python_binance_request_is_a_signed_futures_market_order():
    uri, pairs = _signed_by_python_binance()

    assert uri == "https://fapi.binance.com/fapi/v1/order"  # built, never requested
    params = _checked(pairs)
    assert [k for k, _ in pairs[:-1]] == sorted(params)  # python-binance sorts by name
    assert {k: v for k, v in params.items() if k != "timestamp"} == {
        "newClientOrderId": "ref-100",
        "quantity": "0.004",
        "recvWindow": "5000",
        "side": "SELL",
        "symbol": "BTCUSDT",
        "type": "MARKET",
    }


def test_the_hand_rolled_request_carries_the_same_parameters_and_a_valid_signature():
    _, pairs = _signed_by_python_binance()
    body = bench.hand_rolled_signer()("SELL", "0.004", "ref-100").decode()

    hand_rolled = _checked(parse_qsl(body))
    python_binance = _checked(pairs)
    del hand_rolled["timestamp"], python_binance["timestamp"]
    assert hand_rolled == python_binance


def test_each_way_of_signing_times_the_ordering_ticks_only():
    tape = [60_000.0 + i for i in range(500)]
    for signing in bench.Signing:
        timing = bench.measure(orders=30, every=10, tape=tape, signing=signing)

        assert timing.orders == 30
        assert 0 < timing.p50_us <= timing.p99_us
        assert 0 < timing.cpu_p50_us <= timing.cpu_p99_us


def test_the_command_prints_both_loops_beside_the_issues_reference(capsys):
    bench.main(["--orders", "50"])

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("lean reference loop, python-binance signing, 50 ordering ticks")
    assert lines[1].startswith("lean reference loop, hand-rolled signing, 50 ordering ticks")
    assert lines[2] == "issue 7's reference: p50/p99 11/43 us"
