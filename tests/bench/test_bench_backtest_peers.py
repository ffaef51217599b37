"""bench/bench_backtest_peers.py: the crossings it counts, the bars it hands backtesting.py,
and one clear line when backtesting.py is not installed (it is a benchmark's peer, not a
requirement)."""

import sys

import numpy as np

from tests.bench.support import load_bench

bench = load_bench("bench_backtest_peers")
Klines = bench.Klines


def test_crossings_are_counted_strictly_both_ways():
    # SMA 1 against SMA 2 of 1, 3, 1, 3: fast 3, 1, 3 against slow 2, 2, 2 from the second
    # bar on: down from 3 > 2 to 1 < 2, then up again: two crossings.
    assert bench.crossings([1.0, 3.0, 1.0, 3.0], fast=1, slow=2) == 2
    # Against SMA 2 the close is above when it rose and below when it fell: up, flat, down
    # goes through a bar on the slow SMA, which is no strict crossing on consecutive bars.
    assert bench.crossings([1.0, 2.0, 2.0, 1.0], fast=1, slow=2) == 0
    # Fewer bars than the slow window: nothing to cross.
    assert bench.crossings([1.0, 2.0], fast=1, slow=2) == 0


def test_crossings_match_a_plain_loop_on_the_default_windows():
    rng = np.random.default_rng(7)
    close = list(100 + np.cumsum(rng.normal(size=2_000)))
    fast = [sum(close[i - 9 : i + 1]) / 10 for i in range(49, len(close))]
    slow = [sum(close[i - 49 : i + 1]) / 50 for i in range(49, len(close))]
    expected = sum(
        1
        for i in range(1, len(fast))
        if (fast[i - 1] < slow[i - 1] and fast[i] > slow[i])
        or (fast[i - 1] > slow[i - 1] and fast[i] < slow[i])
    )

    assert expected > 10
    assert bench.crossings(close) == expected


def test_the_frame_holds_the_bars_as_floats_on_their_open_times():
    data = Klines([0, 60_000], ["1.5", "2"], ["3", "4"], ["1", "1.25"], ["2", "3.5"], ["7", "8"])

    df = bench.frame(data)

    assert list(df.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert df["Close"].tolist() == [2.0, 3.5]
    assert df["Low"].tolist() == [1.0, 1.25]
    assert [str(t) for t in df.index] == ["1970-01-01 00:00:00", "1970-01-01 00:01:00"]


def test_without_backtesting_py_it_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "backtesting", None)  # import fails

    assert bench.main(["1000"]) == 2
    assert capsys.readouterr().err == (
        "backtesting.py is not installed: pip install backtesting==0.6.6\n"
    )
