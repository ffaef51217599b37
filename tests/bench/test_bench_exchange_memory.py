"""Smoke test of bench/bench_exchange_memory.py: a few seconds at --speed max with one fast
reader against a real `python -m exchange_sim`, figures printed. No memory assertions."""

import re

from tests.bench.support import load_bench

bench = load_bench("bench_exchange_memory")


def test_a_short_run_prints_memory_and_backfill_figures(capsys):
    status = bench.main(["--minutes", "0.1"])

    out = capsys.readouterr().out
    assert status == 0
    assert re.search(r"messages read: [\d,]+", out)
    assert re.search(r"RSS after 1 min \d+ MiB, at the end \d+ MiB, peak \d+ MiB", out)
    assert re.search(r"backfill: [\d,]+ trades, [\d.]+ h of replay back", out)
