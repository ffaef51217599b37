"""Our SMA 10/50 backtest beside backtesting.py on the same 500,000 bars, in one process.

Run:
  pip install backtesting==0.6.6        # once; not in requirements.txt (a benchmark's peer)
  python bench/bench_backtest_peers.py [N] [--repeat R]

Issue 9 sets 200,000 bars/s and gives, "for scale, measured on this kind of machine on the
same 500,000-bar SMA(10/50) series", backtesting.py 0.6.6 at 96.7 k bars/s. A figure taken on
another day says little on a machine whose speed moves by up to 2x (bench/HISTORY.md), so this
script times both here, alternating, on the series `bench_backtest.py` builds (the real
BTCUSDT USD-M 1m months of `../shared`, else the bundled week, repeated): our
`run_backtest` with the CLI's defaults (the daemon's ExecManager, RiskManager, BookKeeper and
strategy against the in-process matching engine, fast path on), and backtesting.py's own
documented `SmaCross` example (SMA 10/50 on closes, `position.close()` then `buy()` /
`sell()` on each crossover, from `backtesting.lib.crossover`), with enough cash for whole
BTC units (it trades no fractions) and the taker fee of VIP 0 (0.05 %). Timed: the run alone
(our `run_backtest`, its `Backtest.run`); building the inputs is not.

The two do not do the same work, and the output says how: backtesting.py fills each order at
the next bar's open inside one Python loop over the bars, and refuses an entry that its cash
cannot pay at that open (so it trades fewer times than the series crosses); ours sends every
order through the live pipeline (risk checks, journal records, the books, a protective
stop-loss placed and replaced on every flip) to a matching engine, and takes the quiet bars in
vectorized steps. Ours also runs without the protective stops (`protect_positions=False`), as
the peer's example has none: the same pipeline, one order a flip instead of an order, a
cancel and a stop. Printed per round: each rate, its trades or orders, and our rates as a
share of backtesting.py's and of the issue's 200,000.
"""

import argparse
import contextlib
import io
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_backtest  # noqa: E402

from backtest.data import Klines  # noqa: E402

FAST, SLOW = 10, 50
TAKER_FEE = 0.0005  # Binance USD-M VIP 0, as our backtest's default
CASH = 10_000_000  # whole BTC units at ~100 k USDT each: backtesting.py trades no fractions
ISSUE_PEER_BARS_PER_S = 96_700  # backtesting.py 0.6.6 as issue 9 quotes it


def crossings(close: Sequence[float], fast: int = FAST, slow: int = SLOW) -> int:
    """How often the fast SMA of `close` crosses the slow one strictly (below, then above,
    or the reverse, on consecutive bars): what each engine's strategy acts on."""
    c = np.asarray(close, dtype=float)
    if len(c) <= slow:
        return 0
    a = np.convolve(c, np.ones(fast) / fast, "valid")[slow - fast :]
    b = np.convolve(c, np.ones(slow) / slow, "valid")
    up = (a[:-1] < b[:-1]) & (a[1:] > b[1:])
    down = (a[:-1] > b[:-1]) & (a[1:] < b[1:])
    return int(up.sum() + down.sum())


def frame(data: Klines) -> pd.DataFrame:
    """The bars as backtesting.py takes them: OHLCV floats on a DatetimeIndex."""
    return pd.DataFrame(
        {
            name.capitalize(): np.array(getattr(data, name), dtype=float)
            for name in ("open", "high", "low", "close", "volume")
        },
        index=pd.to_datetime(np.asarray(data.open_time, dtype=np.int64), unit="ms"),
    )


def run_peer(df: pd.DataFrame, *, every_crossing: bool) -> tuple[float, int]:
    """backtesting.py's documented SmaCross on `df`: (seconds of `Backtest.run`, trades).
    `every_crossing`: one BTC a trade instead of the example's whole equity, so that no entry
    is refused and it trades on every crossing, as ours does."""
    sized = {"size": 1} if every_crossing else {}  # else its default: the whole equity
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class SmaCross(Strategy):
        n1 = FAST
        n2 = SLOW

        def init(self) -> None:
            self.sma1 = self.I(SMA, self.data.Close, self.n1)
            self.sma2 = self.I(SMA, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy(**sized)
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell(**sized)

    bt = Backtest(df, SmaCross, cash=CASH, commission=TAKER_FEE, finalize_trades=True)
    # Its progress bar (tqdm, on stderr) and its warnings are not ours to print.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        stats = bt.run()
        took = time.perf_counter() - started
    return took, int(stats["# Trades"])


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("n", nargs="?", type=int, default=500_000, help="bars")
    p.add_argument("--repeat", type=int, default=2, help="rounds, each engine once a round")
    args = p.parse_args(argv)
    if args.n < SLOW + 2 or args.repeat < 1:
        p.error(f"N takes at least {SLOW + 2} bars and --repeat at least 1")
    try:
        import backtesting
    except ImportError:
        print("backtesting.py is not installed: pip install backtesting==0.6.6", file=sys.stderr)
        return 2
    data = bench_backtest.bars(args.n)
    df = frame(data)
    print(
        f"{len(data):,} bars ({', '.join(s.name for s in bench_backtest.sources())}, repeated);"
        f" the SMA {FAST}/{SLOW} crosses {crossings(df['Close'].to_numpy()):,} times; "
        f"backtesting.py {backtesting.__version__}"
    )
    cfg = bench_backtest.config()
    bare_cfg = replace(cfg, protect_positions=False)
    for round_ in range(1, args.repeat + 1):
        doc_s, doc_trades = run_peer(df, every_crossing=False)
        every_s, every_trades = run_peer(df, every_crossing=True)
        ours_s, result = bench_backtest.timed(data, cfg)
        bare_s, bare = bench_backtest.timed(data, bare_cfg)
        doc, every, ours = len(df) / doc_s, len(df) / every_s, len(data) / ours_s
        c, b = result.counters, bare.counters
        print(
            f"round {round_}: backtesting.py {doc:,.0f} bars/s as documented ({doc_trades:,} "
            f"trades; the issue quotes {ISSUE_PEER_BARS_PER_S:,}), {every:,.0f} bars/s trading "
            f"every crossing ({every_trades:,} trades); ours {ours:,.0f} bars/s "
            f"({ours_s:.2f} s, {c['submitted']:,} orders, {c['fills']:,} fills) = "
            f"{ours / doc:.2f}x / {ours / every:.2f}x backtesting.py, "
            f"{ours / bench_backtest.TARGET_BARS_PER_S:.0%} of the issue's "
            f"{bench_backtest.TARGET_BARS_PER_S:,}; without the protective stops "
            f"{len(data) / bare_s:,.0f} bars/s ({bare_s:.2f} s, {b['submitted']:,} orders, "
            f"{b['fills']:,} fills) = {len(data) / bare_s / every:.2f}x backtesting.py "
            f"trading every crossing",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
