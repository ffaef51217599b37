"""PnL from a trades file, a daemon's journal or a signals file: the cumulative curve and the
per-trade distribution.

    python -m analysis.pnl --trades out/trades.csv --out pnl.png
    python -m analysis.pnl --journal journal --out pnl.png
    python -m analysis.pnl --signals signals.csv [--notional 1000] [--fee 0.0005] --out pnl.png

Trades file (the backtester's trades.csv; columns time_ms, realized_pnl, commission, and
optionally side, qty, position_after): each fill adds realized_pnl - commission (USDT) to the
cumulative PnL. With side, qty and position_after a trade is a round trip of the position, as
`backtest.metrics.trade_pnls` counts it: it opens when a fill leaves flat (or flips) and ends at
the fill that brings it back to flat or flips it; its result is its fills' realized_pnl minus
their commissions, the entry's included, a flipping fill's commission split by quantity between
the trade it ends and the one it opens (a position closed in several fills is one trade).
Without them a fill with a non-zero realized_pnl ends a trade and carries every commission
since the previous one. With a symbol column (a journal's), each symbol has its own trades.

Journal (a live or local `python app.py` session's `journal/` directory or its
journal.sqlite3, opened read-only, also while the daemon runs): its fills, every session of it,
read as a trades file whose position_after is the running position per symbol; commissions
paid in another asset than the fill's quote asset (BNB) are left out and counted in the output.

Signals file (columns time_ms or open_time, close, signal in {-1, 0, 1}: the position held from
this bar's close to the next one's): bar t earns signal_t * notional * (close_t+1 / close_t - 1)
USDT and every change of signal pays |signal_t - signal_t-1| * notional * fee. A trade is a run
of one non-zero signal; it is charged its entry and exit fees; a run still open at the end is a
trade marked to the last close without an exit fee. Bad input exits 2 with one line.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis._common import (
    InputError,
    Parser,
    check_out,
    need_columns,
    numeric_columns,
    pyplot,
    read_csv,
    run,
    save,
    times,
)
from backtest.metrics import FillRow, trade_ends, trade_role
from core.enums import Side
from core.wording import counted
from runtime.flags import exit_status, nonempty_path

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PROG = "python -m analysis.pnl"


@dataclass(frozen=True, slots=True)
class Pnl:
    """A cumulative PnL curve (USDT at `times_ms`) and the per-trade results (USDT)."""

    times_ms: np.ndarray
    cumulative: np.ndarray
    trades: np.ndarray
    fees: float
    source: str

    @property
    def total(self) -> float:
        return float(self.cumulative[-1]) if len(self.cumulative) else 0.0


def from_trades(df: pd.DataFrame, what: str = "trades", *, label: str = "") -> Pnl:
    """PnL of the fills in a trades.csv DataFrame (see the module docstring). `what` names
    the input in errors (`--trades PATH`), `label` in the chart's title (default: `what`)."""
    import numpy as np

    need_columns(df, ("time_ms", "realized_pnl", "commission"), what)
    if len(df) == 0:
        raise InputError(f"{what}: no fills")
    positions = {"side", "qty", "position_after"} <= set(df.columns)
    # Checked before sorting, so that a bad cell is named by its row in the file.
    numeric_columns(df, ("time_ms", "realized_pnl", "commission"), what)
    if positions:
        numeric_columns(df, ("qty", "position_after"), what)
    df = df.sort_values("time_ms", kind="stable").reset_index(drop=True)
    realized = df["realized_pnl"].to_numpy(dtype=float)
    fee = df["commission"].to_numpy(dtype=float)
    if positions:
        buys = (df["side"].astype(str).str.upper() == "BUY").tolist()
        qtys = df["qty"].to_numpy(dtype=float).tolist()
        afters = df["position_after"].to_numpy(dtype=float).tolist()
        roles = [trade_role(*x) for x in zip(buys, qtys, afters, strict=True)]
    else:
        roles = [(bool(r != 0.0), 1.0) for r in realized.tolist()]
    # Each symbol's trades apart: in a journal of BTCUSDT and ETHUSDT, an ETHUSDT entry's fee
    # is not a cost of the BTCUSDT trade that closes next. Listed in the order they ended.
    symbols = df["symbol"].astype(str).tolist() if "symbol" in df.columns else [""] * len(df)
    by_symbol: dict[str, list[int]] = {}
    for i, sym in enumerate(symbols):
        by_symbol.setdefault(sym, []).append(i)
    ended: list[tuple[int, float]] = []
    for rows in by_symbol.values():
        fills = [
            FillRow(
                0, 0.0, 0.0, fee[i], realized[i], ends_trade=roles[i][0], closing_share=roles[i][1]
            )
            for i in rows
        ]
        ended += [(rows[k], result) for k, result in trade_ends(fills)]
    trades = [result for _, result in sorted(ended)]
    return Pnl(
        times_ms=df["time_ms"].to_numpy(dtype="int64"),
        cumulative=np.cumsum(realized - fee),
        trades=np.asarray(trades, dtype=float),
        fees=float(fee.sum()),
        source=label or what,
    )


def journal_trades(path: Path) -> tuple[pd.DataFrame, int]:
    """The journal's fills as a trades DataFrame (time_ms, symbol, side, qty, realized_pnl,
    commission, position_after), and how many commissions were in another asset."""
    import pandas as pd

    from book_keeper.journal import SqliteJournal
    from book_keeper.journal_errors import JournalError

    try:
        with SqliteJournal(path, readonly=True) as journal:
            fills = journal.load_fills()
    except (JournalError, OSError) as e:
        raise InputError(f"--journal {path}: {e}") from None
    position: dict[str, Decimal] = {}
    rows = []
    other_asset = 0
    for f in sorted(fills, key=lambda f: (f.trade_time_ms, f.trade_id)):
        signed = f.qty if f.side is Side.BUY else -f.qty
        after = position[f.symbol] = position.get(f.symbol, Decimal(0)) + signed
        in_quote = f.symbol.endswith(f.commission_asset)
        other_asset += not in_quote
        rows.append(
            {
                "time_ms": f.trade_time_ms,
                "symbol": f.symbol,
                "side": f.side.value,
                "qty": float(f.qty),
                "realized_pnl": float(f.realized_pnl),
                "commission": float(f.commission) if in_quote else 0.0,
                "position_after": float(after),
            }
        )
    columns = ["time_ms", "symbol", "side", "qty", "realized_pnl", "commission", "position_after"]
    return pd.DataFrame(rows, columns=columns), other_asset


def from_signals(
    df: pd.DataFrame, *, notional: float, fee: float, what: str = "signals", label: str = ""
) -> Pnl:
    """PnL of holding `signal * notional` USDT from each close to the next (module docstring);
    `what` and `label` as `from_trades`'."""
    import numpy as np

    tcol = "time_ms" if "time_ms" in df.columns else "open_time"
    need_columns(df, (tcol, "close", "signal"), what)
    if len(df) < 2:
        raise InputError(f"{what}: need at least 2 rows")
    numeric_columns(df, (tcol, "close", "signal"), what)
    df = df.sort_values(tcol, kind="stable").reset_index(drop=True)
    close = df["close"].to_numpy(dtype=float)
    sig = df["signal"].to_numpy(dtype=float)
    if (close <= 0).any():
        raise InputError(f"{what}: non-positive close")
    if not np.isin(sig, (-1.0, 0.0, 1.0)).all():
        raise InputError(f"{what}: signal must be -1, 0 or 1")
    ret = np.append(close[1:] / close[:-1] - 1.0, 0.0)  # the last bar has no next close
    bar_pnl = sig * notional * ret
    change = np.abs(np.diff(sig, prepend=0.0))
    bar_fee = change * notional * fee
    trades = []
    i, n = 0, len(sig)
    while i < n:
        if sig[i] == 0:
            i += 1
            continue
        j = i
        while j + 1 < n and sig[j + 1] == sig[i]:
            j += 1
        exit_fee = notional * fee if j + 1 < n else 0.0  # a run open at the end: no exit yet
        trades.append(bar_pnl[i : j + 1].sum() - notional * fee - exit_fee)
        i = j + 1
    return Pnl(
        times_ms=df[tcol].to_numpy(dtype="int64"),
        cumulative=np.cumsum(bar_pnl - bar_fee),
        trades=np.asarray(trades, dtype=float),
        fees=float(bar_fee.sum()),
        source=label or what,
    )


def plot(pnl: Pnl, out: Path, title: str = "") -> Path:
    """Cumulative PnL over time (top) and the histogram of per-trade PnL (bottom)."""
    import numpy as np

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), gridspec_kw={"height_ratios": [3, 2]})
    x = times(pnl.times_ms)
    # A journal a minute old holds one fill: a line through one point draws nothing, and
    # matplotlib spans its date axis over years around it.
    few = len(x) < 3
    ax1.plot(x, pnl.cumulative, lw=1.0, color="tab:blue", marker="o" if few else None)
    if len(x) == 1:
        hour = np.timedelta64(3_600_000, "ms")
        ax1.set_xlim(x[0] - hour, x[0] + hour)
    ax1.axhline(0.0, color="grey", lw=0.6)
    ax1.set_ylabel("cumulative PnL (USDT)")
    ax1.set_xlabel("time (UTC)")  # the fills' times, as the backtest's plots say it
    ax1.set_title(title or f"PnL of {pnl.source}: {pnl.total:+.2f} USDT, fees {pnl.fees:.2f}")
    ax1.grid(alpha=0.3)
    t = pnl.trades
    if len(t):
        ax2.hist(t, bins=min(50, max(5, len(t) // 3)), color="tab:gray", edgecolor="white")
        ax2.axvline(float(np.mean(t)), color="tab:red", lw=1.0, label=f"mean {np.mean(t):+.2f}")
        wins = float((t > 0).mean())
        ax2.legend(title=f"{counted(len(t), 'trade')}, {wins:.0%} winners", loc="upper right")
    else:
        ax2.text(0.5, 0.5, "no closed trades", ha="center", va="center", transform=ax2.transAxes)
    ax2.set_xlabel("PnL per trade (USDT, after fees)")
    ax2.set_ylabel("trades")
    fig.tight_layout()
    return save(fig, out)


MAX_FEE = 0.01  # 1 %: ten times Binance's highest taker fee


# A signals file's position size (USDT) and fee per side (a fraction of it), unless given.
SIGNALS_NOTIONAL = 1000.0
SIGNALS_FEE = 0.0005


def parser() -> Parser:
    """The command line (`--help`)."""
    ap = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--trades", type=nonempty_path, help="a backtest's trades.csv")
    src.add_argument(
        "--journal", type=nonempty_path, help="a daemon's journal directory (or its file)"
    )
    src.add_argument(
        "--signals", type=nonempty_path, help="CSV with time_ms|open_time, close, signal"
    )
    ap.add_argument(
        "--notional",
        type=float,
        help=f"signals: position size, USDT (default: {SIGNALS_NOTIONAL:g})",
    )
    ap.add_argument(
        "--fee",
        type=float,
        help=f"signals: fee per side, a fraction of the notional (default: {SIGNALS_FEE:g})",
    )
    ap.add_argument("--out", required=True, type=nonempty_path, help="PNG file")
    return ap


def _main(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    out = check_out(args.out)
    for flag, value in (("--notional", args.notional), ("--fee", args.fee)):
        if value is not None and args.signals is None:  # a fill's own price and fee count
            raise InputError(f"{flag} is for --signals: the fills of a trades file or journal "
                             "carry their own size and fee")  # fmt: skip
    args.notional = SIGNALS_NOTIONAL if args.notional is None else args.notional
    args.fee = SIGNALS_FEE if args.fee is None else args.fee
    if not (args.notional > 0 and args.fee >= 0):
        raise InputError("--notional must be > 0 and --fee >= 0")
    if args.fee >= MAX_FEE:  # as the backtester's --fees: a percentage given by mistake
        raise InputError(
            f"--fee {args.fee:g}: fees are fractions ({args.fee:g} is {args.fee * 100:g} %; "
            f"0.0005 is 0.05 %), expected < {MAX_FEE:g}"
        )
    note = ""
    if args.trades is not None:
        pnl = from_trades(
            read_csv(args.trades, "--trades"), f"--trades {args.trades}", label=str(args.trades)
        )
    elif args.journal is not None:
        df, other_asset = journal_trades(args.journal)
        # the title read "PnL from --journal journal"
        pnl = from_trades(df, f"--journal {args.journal}", label=f"the journal in {args.journal}")
        if other_asset:
            note = f"; {other_asset} commission(s) in another asset not counted"
    else:
        df = read_csv(args.signals, "--signals")
        pnl = from_signals(
            df,
            notional=args.notional,
            fee=args.fee,
            what=f"--signals {args.signals}",
            label=str(args.signals),
        )
    plot(pnl, out)
    print(
        f"{counted(len(pnl.times_ms), 'row')}, {counted(len(pnl.trades), 'trade')}, "
        f"net PnL {pnl.total:+.4f} USDT "
        f"(fees {pnl.fees:.4f}{note}) -> {out}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(PROG, _main, argv)


def summary(pnl: Pnl) -> dict[str, Any]:
    """The numbers behind the plot, as plain data."""
    return {
        "rows": len(pnl.times_ms),
        "trades": len(pnl.trades),
        "total": pnl.total,
        "fees": pnl.fees,
    }


if __name__ == "__main__":
    sys.exit(exit_status(main))
