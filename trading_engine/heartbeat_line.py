"""The heartbeat: the status line printed every `execution.heartbeat_s`, its notes each "" when
there is nothing to say (the line stays short); USDT to the cent as `--status` shows it."""

from datetime import UTC, datetime

from runtime.status_file import money, stream_lag_text
from trading_engine.exec_manager import ExecStatus


def slow_note(status: ExecStatus, max_call_ms: float) -> str:
    """The heartbeat's note of strategy calls over `strategy.max_call_ms` ("" without any)."""
    if not status.slow_strategy_calls:
        return ""
    return (
        f" | slow strategy calls {status.slow_strategy_calls} (over {max_call_ms:g} ms, "
        f"slowest {status.slowest_strategy_call_ms:,.0f} ms)"
    )


def item_errors_note(item_errors: int) -> str:
    """The heartbeat's note of market-data items that raised, a strategy's errors among them
    ("" without any): a strategy failing on every third bar stayed `state ACTIVE` with
    nothing but the log to say so."""
    if not item_errors:
        return ""
    return f" | ERRORS on items {item_errors} (see the log)"


def margin_call_note(st: ExecStatus) -> str:
    """ " | MARGIN CALL x2 (last 14:03:07 UTC)" once the exchange sent one this run."""
    if not st.counters.margin_calls or st.last_margin_call_ms is None:
        return ""
    at = datetime.fromtimestamp(st.last_margin_call_ms / 1000, tz=UTC).strftime("%H:%M:%S")
    return f" | MARGIN CALL x{st.counters.margin_calls} (last {at} UTC)"


def doubt_note(in_doubt: int) -> str:
    """The heartbeat's ` (2 in doubt)` after its open orders: orders whose outcome the daemon
    does not know yet (the request timed out or is unanswered, a cancel unconfirmed) and is
    resolving; only `--status` showed them. "" at 0: the line stays short."""
    return f" ({in_doubt} in doubt)" if in_doubt else ""


def heartbeat_line(
    st: ExecStatus,
    *,
    items_per_s: float,
    stream_lag_ms: int | None,
    gap: str,
    down: str,
    max_call_ms: float,
    item_errors: int = 0,
) -> str:
    """The status line: the books' figures, the market data's rate and lag, the gaps and
    links down (`gap`, `down`: their notes), and the trading state."""
    positions = ", ".join(f"{sym} {qty:f}" for sym, qty in st.positions.items()) or "flat"
    state = st.trading_state + (f" ({st.state_reason})" if st.state_reason else "")
    return (
        f"application running | equity {money(st.equity)} USDT | position {positions} | "
        f"open orders {st.open_orders}{doubt_note(st.orders_in_doubt)} | "
        f"realized {money(st.realized_pnl)} | "
        f"today {money(st.realized_pnl_today)} net of fees | "
        f"unrealized {money(st.unrealized_pnl)} | "
        f"fills {st.counters.fills} this run | "
        f"items {items_per_s:,.0f}/s | stream lag {stream_lag_text(stream_lag_ms)}{gap}"
        f"{down}{margin_call_note(st)}"
        f"{slow_note(st, max_call_ms)}{item_errors_note(item_errors)} | state {state}"
    )
