"""bench/bench_long_run.py: it runs and prints its comparison, and what it counts catches a
cost that grows with the orders a run has seen (function calls: the same on any machine)."""

import argparse
import asyncio
import re

from tests.bench.support import load_bench

bench = load_bench("bench_long_run")


def test_script_prints_the_first_and_last_passes_side_by_side(capsys):
    status = bench.main(["--passes", "2", "--count", "200"])

    out = capsys.readouterr().out
    assert status == 0
    for label in ("calls per item", "calls per reconciliation", "calls per heartbeat", "RSS (MiB)"):
        line = next(line for line in out.splitlines() if line.startswith(label))
        assert re.search(r"\(([+-])\d+\.\d%\) \[(flat|GREW): within \+\d+%\]", line), line
    cpu = next(line for line in out.splitlines() if line.startswith("CPU per item (us)"))
    assert "[not judged" in cpu
    assert "0 difference(s) found by them" in out  # the fake exchange is the books' account
    assert re.search(r"[\d,]+ items in \d+ s", out)


def test_a_reconciliation_costs_the_same_with_thousands_of_orders_ended():
    # ~850 orders a pass: the reconciliation of the third pass sees twice the ended orders of
    # the second's, in the venue's tracker and the books. A pass over them (each order's
    # status read: two calls) would add ~1,700 calls to its ~3,300.
    args = argparse.Namespace(passes=3, every=50, count=500, reconcile_s=60.0, heartbeat_s=10.0,
                              verbose=False)  # fmt: skip

    figures = asyncio.run(bench.run(args))

    second, third = figures[1], figures[2]
    assert third.tracked >= second.tracked + 800 and third.ended >= second.ended + 800
    assert third.calls_per_reconcile <= second.calls_per_reconcile * 1.1
    assert third.calls_per_heartbeat == second.calls_per_heartbeat
    assert abs(third.calls_per_item - second.calls_per_item) <= 0.01 * second.calls_per_item
