"""The files a backtest writes from its result: equity.csv, trades.csv, orders.csv,
summary.json and, with matplotlib, the PNG plots."""

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

from backtest import metrics
from backtest.runner import BacktestResult

if TYPE_CHECKING:
    from backtest.report import Benchmark

EQUITY_COLUMNS = ("time_ms", "equity", "drawdown", "position")
TRADE_COLUMNS = (
    "time_ms",
    "client_order_id",
    "order_id",
    "trade_id",
    "side",
    "price",
    "qty",
    "commission",
    "commission_asset",
    "realized_pnl",
    "is_maker",
    "position_after",
)
ORDER_COLUMNS = (
    "client_order_id",
    "order_id",
    "symbol",
    "side",
    "type",
    "quantity",
    "price",
    "stop_price",
    "reduce_only",
    "close_position",
    "status",
    "filled_qty",
    "submitted_ms",
    "updated_ms",
    "reason",
    "why_sent",
    "why_cancelled",
)


def write_outputs(result: BacktestResult, out_dir: Path) -> list[Path]:
    """summary.json, equity.csv, trades.csv, orders.csv (and PNG plots when matplotlib is
    installed) into `out_dir`; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    path = out_dir / "equity.csv"
    dd = metrics.drawdowns(result.equity)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(EQUITY_COLUMNS)
        for t, e, d, p in zip(result.times_ms, result.equity, dd, result.positions, strict=True):
            w.writerow((t, repr(e), repr(d), repr(p)))
    written.append(path)
    path = out_dir / "trades.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(TRADE_COLUMNS)
        for f in result.journal.fills:
            w.writerow(
                (
                    f.time_ms,
                    f.client_order_id,
                    f.order_id,
                    f.trade_id,
                    f.side,
                    f"{f.price:f}",
                    f"{f.qty:f}",
                    f"{f.commission:f}",
                    f.commission_asset,
                    f"{f.realized_pnl:f}",
                    str(f.is_maker).lower(),
                    f"{f.position_after:f}",
                )
            )
    written.append(path)
    path = out_dir / "orders.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(ORDER_COLUMNS)
        reasons = result.journal.reasons
        for o in result.journal.orders.values():
            cid = o.client_order_id
            w.writerow(
                (
                    o.client_order_id,
                    "" if o.order_id is None else o.order_id,
                    o.symbol,
                    o.side,
                    o.type,
                    o.quantity,
                    o.price,
                    o.stop_price,
                    str(o.reduce_only).lower(),
                    str(o.close_position).lower(),
                    o.status,
                    f"{o.filled_qty:f}",
                    o.submitted_ms,
                    o.updated_ms,
                    o.reason,
                    reasons.sent_text(cid),
                    reasons.cancelled_text(cid) if o.status == "CANCELED" else "",
                )
            )
    written.append(path)
    path = out_dir / "summary.json"
    path.write_text(json.dumps(result.summary_dict(), indent=2, sort_keys=True) + "\n")
    written.append(path)
    written.extend(_plots(result, out_dir))
    return written


def _plots(result: BacktestResult, out_dir: Path) -> list[Path]:
    """Equity + drawdown and price with entries/exits/stops, as PNG (backtest.report: UTC
    date axes); nothing without matplotlib."""
    from backtest import report

    types = {o.client_order_id: str(o.type) for o in result.journal.orders.values()}
    changes = [(c.event_time_ms, str(c.current)) for c in result.journal.state_changes]
    pngs = [
        report.plot_equity(
            result.times_ms,
            result.equity,
            out_dir / "equity.png",
            report.equity_title(
                result.config.symbol,
                result.config.strategy,
                result.summary.total_return,
                result.summary.max_drawdown,
            ),
            changes,
            _buy_and_hold_line(result),
        ),
        report.plot_price(
            result.price_times,
            result.prices,
            result.journal.fills,
            types,
            out_dir / "price.png",
            changes,
        ),
    ]
    return [p for p in pngs if p is not None]


def _buy_and_hold_line(result: BacktestResult) -> "Benchmark | None":
    """The starting capital held in the symbol over the run, for the equity chart."""
    from backtest import report

    held = result.buy_and_hold
    if held is None:
        return None
    capital = float(result.config.starting_balance)
    times, equity = held.equity_line(capital, result.price_times, result.prices)
    return report.Benchmark(times_ms=times, equity=equity, label=held.label(capital))
