"""Smoke test of bench/bench_backtest.py with tiny sizes: it times the lean reference loop
first and gives its rates beside that loop's p50. No timing assertions."""

import re

from tests.bench.support import load_bench

bench = load_bench("bench_backtest")


def test_a_rate_is_given_as_multiples_of_the_lean_loops_p50():
    # 50,000 bars/s is 20 us a bar; against a p50 of 2.5 us that is 8x.
    assert bench.per_item(50_000, 2.5) == "20.0 us each = 8.0x the lean loop's p50 2.5 us"


def test_the_script_prints_the_reference_loop_first_and_the_bars_rate_beside_it(
    capsys, monkeypatch, tmp_path
):
    monkeypatch.setattr(bench, "SHARED", tmp_path / "none")  # the bundled week: fast to read

    bench.main(["2000", "--orders", "", "--reference-orders", "200"])

    lines = capsys.readouterr().out.splitlines()
    assert re.match(
        r"lean reference loop \(bench_reference_loop\.py, 200 ordering ticks\): "
        r"p50 [\d.]+ us, p99 [\d.]+ us: the machine's speed now",
        lines[0],
    )
    rate = next(line for line in lines if line.startswith("SMA 10/50 on 2,000 1m bars"))
    assert re.search(r"bars/s with the load; [\d.]+ us each = [\d.]+x the lean loop's p50", rate)
