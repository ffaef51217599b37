"""What the daemon writes to `<journal_dir>/status.json` (runtime.status_file) for
`python app.py --status` and a monitor: the process and its settings, the books' figures, a
recording the size limit stopped."""

import os
import time
from typing import Any

from book_keeper.book_keeper import BookKeeper
from core.redaction import redact
from gateway.order_tracker import TrackerStats
from runtime.settings import Settings, shown_setting
from runtime.status_file import DaemonState, HostTime, host_time, time_fields
from trading_engine.exec_manager import ExecStatus
from trading_engine.market_recorder import MarketRecorder


def status_header(s: Settings, state: DaemonState, started: HostTime | None) -> dict[str, Any]:
    """What status.json says of the process and its settings, before any figure (`started`:
    this machine's clocks when the daemon began running, or while it starts when its start
    began; None: now)."""
    now = host_time()  # the wall clock and the steady count: --status measures on the latter
    return {
        "state": state.value,
        "pid": os.getpid(),
        "boot_id": now.boot_id,
        **time_fields("updated", now),
        **time_fields("started", started or now),
        "heartbeat_s": s.execution.heartbeat_s,
        "reconcile_interval_s": s.execution.reconcile_interval_s,  # --status ages against it
        "mode": s.mode,
        # Settings as --check-config shows them: a secret-shaped value is not written out.
        "venue": shown_setting(
            redact(s.rest_url) if s.attaches else f"local exchange ({s.local.data})"
        ),
        # Stopped with the daemon, its account and orders too (`--status` says so).
        "exchange_embedded": not s.attaches,
        "symbols": [shown_setting(sym) for sym in s.symbols],
        "strategy": shown_setting(s.strategy.name),
    }


def books_status(
    st: ExecStatus, book: BookKeeper, untracked: TrackerStats, max_call_ms: float
) -> dict[str, Any]:
    """The trading figures: the ExecManager's status (`st`), the whole journal's counts
    (`book`) and this run's reports of orders not tracked (`untracked`)."""
    return {
        "trading_state": st.trading_state.value,
        "state_reason": st.state_reason,
        # exact, as summary.json's (`--status` shows them to the cent): "9,999.93" with its
        # thousands separator was no number to a monitor reading the file
        "equity": f"{st.equity:f}",
        "wallet": f"{st.wallet:f}",
        "unrealized_pnl": f"{st.unrealized_pnl:f}",
        "realized_pnl": f"{st.realized_pnl:f}",
        "realized_pnl_today": f"{st.realized_pnl_today:f}",
        "positions": {sym: f"{qty:f}" for sym, qty in st.positions.items()},
        "open_orders": st.open_orders,
        "orders_submitted": st.counters.submitted,  # this run
        "fills": st.counters.fills,
        "orders_submitted_total": book.orders_submitted,  # the whole journal
        "fills_total": book.fill_count,
        # this run: market-data items and CPU seconds, read together (cost per item)
        "items": st.counters.items,
        "cpu_s": round(time.process_time(), 3),
        "margin_calls": st.counters.margin_calls,  # this run
        "last_margin_call_ms": st.last_margin_call_ms,
        "forced_fills": st.counters.forced_fills,  # liquidation / ADL fills, this run
        "strategy_max_call_ms": max_call_ms,
        "strategy_slow_calls": st.slow_strategy_calls,  # this run
        "strategy_slowest_ms": round(st.slowest_strategy_call_ms),
        "orders_in_doubt": st.orders_in_doubt,
        "order_rehearsals": st.order_rehearsals,  # this run: the order path kept warm
        # this run: reports of orders not tracked, ids of ours (something is off) and
        # orders placed by hand (left alone by design)
        "unknown_client_ids": untracked.unknown_client_ids,
        "hand_order_reports": untracked.hand_order_reports,
    }


def recording_status(recorder: MarketRecorder | None, limit_mb: int) -> dict[str, Any]:
    """A recorded session the size limit stopped: when, and the limit (MB), for --status
    (said otherwise only in one WARNING); nothing while it records or without one."""
    stopped = None if recorder is None else recorder.stopped_at_ms
    if stopped is None:
        return {}
    return {"recording_stopped_ms": stopped, "recording_limit_mb": limit_mb}
