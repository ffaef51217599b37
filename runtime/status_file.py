"""`<journal_dir>/status.json`: what the daemon is doing, for `python app.py --status`.

The daemon rewrites the file at start, at every heartbeat, within about a second of a change
a monitor acts on (the trading state, a stream down or up, orders in doubt or none, a
reconciliation done; at most once a second) and when it stops (atomically, not fsync'ed: it
is a view, the journal is the record). `python app.py --status` reads it and
asks the journal's lock whether a process still holds the journal, so a person on a VPS (or a
monitoring script) sees at a glance whether the daemon runs, is stuck, died, or stopped:

    exit 0  running, last heartbeat within 3 heartbeats
    exit 1  not responding (the journal is held but the heartbeats stopped), or gone without
            stopping (killed, crashed: the journal is free), or the file is unreadable; or
            running with trouble that has not cleared (`trouble`): an order's outcome unknown
            for over `DOUBT_MAX_S`, or no reconciliation with the exchange for
            `STALE_RECONCILES` intervals and a margin (said in one `WARNING:` line)
    exit 2  (`app.py`, before this module reads anything) journal_dir is not a directory, or
            status.json or the journal's lock cannot be read by this user (`read_problem`)
    exit 3  stopped cleanly, or no daemon ever ran with this journal_dir (as `systemctl
            status` says of an inactive unit)
    exit 4  running, but not trading: still starting (connecting, reconciling, warming up),
            or trading HALTED or REDUCING (a loss limit, the circuit breaker or the kill
            switch): it refuses entries until an operator resets it, so a check that only
            asks "is it up?" must not read it as fine

How long ago the daemon wrote the file is measured on the machine's steady count
(CLOCK_BOOTTIME, which NTP does not step) when the file was written since this boot (its
`boot_id` is this one's), else on the wall clock: comparing wall-clock times, a forward step
of more than 3 heartbeats read a healthy daemon as "not responding" until its next heartbeat,
and a backward step read a dead one's last heartbeat as fresh.
"""

import functools
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any

from core.atomic_file import write_atomic
from core.clock import steady_ns
from core.enums import TradingState
from core.redaction import hide_secret_like, shown_path

FILE_NAME = "status.json"
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")  # Linux: new at every boot
STALE_HEARTBEATS = 3  # a heartbeat older than this many intervals: not responding
DOUBT_MAX_S = 60  # an order's outcome unknown longer than this: trouble, not a passing state
# No reconciliation for this many `reconcile_interval_s`, plus the margin (a pass's own REST
# reads and their retries): the periodic one fails, and the books go unchecked.
STALE_RECONCILES = 3
RECONCILE_MARGIN_S = 60
USER_STREAM = "user stream"  # its key in `streams_down`: while down, fills are not heard
# A running daemon in these states takes no entries until an operator resets it.
NOT_TRADING_STATES = frozenset({TradingState.HALTED, TradingState.REDUCING})
# USDT amounts, written exact (as summary.json's): "9,999.93" read as no number by a monitor
MONEY_FIELDS = ("equity", "wallet", "unrealized_pnl", "realized_pnl", "realized_pnl_today")


class DaemonState(StrEnum):
    STARTING = "starting"  # journal_dir claimed; connecting, reconciling, warming up
    RUNNING = "running"
    STOPPED = "stopped"


class StartPhase(StrEnum):
    """What a start waits on, in status.json's `start_phase` (`--status` shows it)."""

    CONNECTING = "connecting to {exchange} (symbols, account modes, leverage)"
    RESTORING = "restoring the books from the journal"
    WARMING = "warming the strategy with the last closed bars from {exchange}"
    RECONCILING = "reconciling the books and orders with {exchange}"
    STREAMING = "opening the market data stream"


class StatusExit(IntEnum):
    RUNNING = 0
    UNHEALTHY = 1
    NOT_RUNNING = 3
    NOT_TRADING = 4


@dataclass(frozen=True, slots=True)
class HostTime:
    """A reading of this machine's clocks: the wall clock (ms since the epoch; what NTP steps),
    the steady count (ms since boot, CLOCK_BOOTTIME: no step moves it) and the boot that count
    began at (None where the OS does not say: the steady count is then never compared)."""

    wall_ms: int
    steady_ms: int | None = None
    boot_id: str | None = None


def host_time() -> HostTime:
    """The clocks now: what the daemon writes into status.json and `--status` reads against."""
    return HostTime(time.time_ns() // 1_000_000, steady_ns() // 1_000_000, boot_id())


@functools.cache
def boot_id() -> str | None:
    """This boot's id, or None (not Linux, no /proc): a steady count is comparable only
    between two readings of the same boot (it starts again at each)."""
    try:
        return BOOT_ID_FILE.read_text().strip() or None
    except OSError:
        return None


def time_fields(prefix: str, at: HostTime) -> dict[str, Any]:
    """status.json's record of a moment: `<prefix>_ms` on the wall clock (shown to the user)
    and `<prefix>_steady_ms` on the steady count (measured from), e.g. `updated_ms`."""
    return {f"{prefix}_ms": at.wall_ms, f"{prefix}_steady_ms": at.steady_ms}


def elapsed_ms(status: Mapping[str, Any], prefix: str, now: HostTime) -> int:
    """ms from the moment status.json recorded as `prefix` to `now`: on the steady count when
    the file was written during this boot (a wall-clock step since moves neither reading),
    else on the wall clock (another boot, another OS, or a file of an older daemon)."""
    steady = status.get(f"{prefix}_steady_ms")
    if (
        now.boot_id is not None
        and now.steady_ms is not None
        and status.get("boot_id") == now.boot_id
        and isinstance(steady, int)
    ):
        return now.steady_ms - steady
    return now.wall_ms - int(status[f"{prefix}_ms"])


def status_path(journal_dir: str | os.PathLike[str]) -> Path:
    return Path(journal_dir) / FILE_NAME


def write_status(journal_dir: str | os.PathLike[str], status: Mapping[str, Any]) -> None:
    """Replace the status file (atomic rename; no fsync on the event loop)."""
    data = json.dumps(status, indent=2, sort_keys=True).encode()
    write_atomic(status_path(journal_dir), data, durable=False)


def read_problem(journal_dir: str | os.PathLike[str], *also: Path) -> str | None:
    """Why this user cannot read status.json (or `also`, the journal's lock), or None when it
    can or the file does not exist: the daemon makes them readable by its user only, so this
    is `--status` run as another user (or a status.json that is a directory), not a daemon
    that died."""
    for path in (status_path(journal_dir), *also):
        try:
            with open(path, "rb"):
                pass
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError:
            return (
                f"cannot read {shown_path(path)} (permission denied): run --status as the user "
                "the daemon runs as (what it writes is readable by that user only)"
            )
        except OSError as e:
            return f"cannot read {shown_path(path)}: {e.strerror or e}"
    return None


def unclean_stop_note(journal_dir: str | os.PathLike[str]) -> str | None:
    """What a start says of the last run when it did not stop cleanly (killed or crashed: its
    status.json still says starting or running), read after journal_dir is claimed (so that
    run is over) and before this run's status replaces it; None otherwise. Only `--status`
    said it: a restart after `kill -9` read as after any stop."""
    try:
        status = json.loads(status_path(journal_dir).read_text())
        state = DaemonState(status["state"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none, or unreadable: --status says that
    if state is DaemonState.STOPPED:
        return None
    updated = status.get("updated_ms")
    at = _utc(updated) if isinstance(updated, int) else "?"
    was = "starting" if state is DaemonState.STARTING else "running"
    left = (
        "its embedded local exchange ended with it, the position and orders there too"
        if status.get("exchange_embedded")
        else "the journal and the start-up reconciliation with the exchange take up what it left"
    )
    return (
        f"the last run (pid {status.get('pid', '?')}) did not stop cleanly: killed or crashed "
        f"while {was}, its last status at {at}; {left}"
    )


@dataclass(frozen=True, slots=True)
class StatusReport:
    exit_status: StatusExit
    lines: list[str]


def report(
    journal_dir: str | os.PathLike[str], *, journal_held: bool, now: HostTime | None = None
) -> StatusReport:
    """What `--status` prints. `journal_held`: a process holds the journal's writer lock;
    `now`: this machine's clocks (read when not given)."""
    now = host_time() if now is None else now
    path = status_path(journal_dir)
    try:
        status = json.loads(path.read_text())
        if not isinstance(status, dict):
            raise ValueError("not a JSON object")
        state = DaemonState(status["state"])
        updated = int(status["updated_ms"])
        since_update = elapsed_ms(status, "updated", now)
    except FileNotFoundError:
        return StatusReport(
            StatusExit.NOT_RUNNING,
            # journal_dir as --check-config shows it: a secret-shaped path is not shown
            [
                hide_secret_like(
                    f"daemon: never run with journal_dir = {journal_dir} (no {shown_path(path)})"
                )
            ],
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        why = f'it has no "{e.args[0]}" field' if isinstance(e, KeyError) else e
        return StatusReport(
            StatusExit.UNHEALTHY,
            [hide_secret_like(f"daemon: {shown_path(path)} is unreadable: {why}")],
        )
    ago = _ago(since_update)
    at = _utc(updated)  # as the daemon's wall clock read it (its log lines carry that time)
    if state is DaemonState.STARTING:
        # Not trading yet, and the journal's lock comes later in the start: the process says.
        pid = status.get("pid")
        if isinstance(pid, int) and _alive(pid):
            if isinstance(began := status.get("started_ms"), int):  # the start's beginning
                ago, at = _ago(elapsed_ms(status, "started", now)), _utc(began)
            line = f"daemon: starting, pid {pid}, for {ago} (since {at}); not trading yet"
            if isinstance(phase := status.get("start_phase"), str):  # what it waits on
                line += f": {phase} (for {_ago(elapsed_ms(status, 'start_phase', now))})"
            return StatusReport(StatusExit.NOT_TRADING, [line])
        return StatusReport(
            StatusExit.UNHEALTHY,
            [
                "daemon: not running: it did not stop cleanly (killed or crashed while "
                f"starting, {at}), pid {pid}"
            ],
        )
    if state is DaemonState.STOPPED:
        head = (
            f"daemon: stopped {ago} ago ({at}): {status.get('stop_reason', '?')}, "
            f"exit status {status.get('exit_status', '?')}"
        )
        exit_status = StatusExit.NOT_RUNNING
    elif not journal_held:
        head = (
            f"daemon: not running: it did not stop cleanly (killed or crashed); last heartbeat "
            f"{ago} ago ({at}), pid {status.get('pid', '?')}"
        )
        exit_status = StatusExit.UNHEALTHY
    elif since_update > STALE_HEARTBEATS * float(status.get("heartbeat_s", 10)) * 1000:
        head = (
            f"daemon: not responding: pid {status.get('pid', '?')} holds the journal, but the "
            f"last heartbeat was {ago} ago ({at})"
        )
        exit_status = StatusExit.UNHEALTHY
    else:
        up = _ago(elapsed_ms(status, "started", now) if "started_ms" in status else since_update)
        head = (
            f"daemon: running, pid {status.get('pid', '?')}, up {up}; last heartbeat {ago} ago "
            f"({at})"
        )
        exit_status = StatusExit.RUNNING
        if status.get("trading_state") in NOT_TRADING_STATES:
            head += f"; NOT TRADING: {status['trading_state']}"
            exit_status = StatusExit.NOT_TRADING
        problems = trouble(status, now)
        if problems:  # it runs, but what a monitor must act on has not cleared
            return StatusReport(
                StatusExit.UNHEALTHY,
                [head, "WARNING: " + "; ".join(problems), *_details(status, now, live=True)],
            )
    # A start that failed wrote no account figures: its one line says it all.
    failed_start = state is DaemonState.STOPPED and "equity" not in status
    # A clean stop's last stream lag says nothing now; a dead or stuck daemon's is a clue.
    # A daemon that died took its embedded exchange with it (`--exit-with-parent`) too.
    ended = "at the stop" if state is DaemonState.STOPPED else None
    if state is not DaemonState.STOPPED and not journal_held:
        ended = "at its last heartbeat"
    details = (
        []
        if failed_start
        else _details(status, now, live=state is not DaemonState.STOPPED, ended=ended)
    )
    return StatusReport(exit_status, [head, *details])


def trouble(s: Mapping[str, Any], now: HostTime) -> list[str]:
    """What a running daemon has not recovered from on its own, each as a person says it (none
    from the file of an older daemon, which lacks the fields): orders whose outcome has been
    unknown for over `DOUBT_MAX_S` (a lost answer the reconciliation has not settled), and a
    last reconciliation older than `STALE_RECONCILES` of its intervals and a margin (the
    periodic one fails: fills missed while the user stream was down stay unbooked)."""
    problems = []
    doubt = s.get("orders_in_doubt")
    if isinstance(doubt, int) and doubt > 0 and isinstance(s.get("orders_in_doubt_since_ms"), int):
        for_ms = elapsed_ms(s, "orders_in_doubt_since", now)
        if for_ms > DOUBT_MAX_S * 1000:
            problems.append(
                f"{doubt} order(s) in doubt for {_ago(for_ms)} (since "
                f"{_utc(s['orders_in_doubt_since_ms'])}): the exchange has not said what became "
                "of them; see the log"
            )
    interval_s = s.get("reconcile_interval_s")
    if isinstance(interval_s, int | float) and interval_s > 0 and "last_reconciled_ms" in s:
        limit_ms = (STALE_RECONCILES * interval_s + RECONCILE_MARGIN_S) * 1000
        at = s["last_reconciled_ms"]
        ago_ms = elapsed_ms(s, "last_reconciled", now) if isinstance(at, int) else None
        if ago_ms is not None and ago_ms > limit_ms:
            problems.append(
                f"no reconciliation with the exchange for {_ago(ago_ms)} (every {interval_s:g} s "
                "expected): the books are unchecked; see the log"
            )
    return problems


def money(value: Decimal) -> str:
    """USDT to the cent, for a person: a loss that rounds to nothing is "0.00", not the
    "-0.00" the heartbeat showed of a position a tick under water."""
    return f"{value:z,.2f}"


def money_shown(value: Any) -> str:
    """A status.json amount as `--status` shows it: the exact decimal the daemon writes, to
    the cent; an older daemon's file held the cents already ("9,999.93"), shown as written."""
    try:
        return money(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)


def stream_lag_text(lag_ms: int | None) -> str:
    """The stream lag as the heartbeat and `--status` say it: `-` before the first trade; a
    negative lag (a trade's exchange time ahead of our estimate of the exchange's clock, by
    less than that estimate's error) is `~0 ms`: "-33 ms" read as a broken figure."""
    if lag_ms is None:
        return "-"
    return f"{lag_ms} ms" if lag_ms >= 0 else "~0 ms"


def _details(
    s: Mapping[str, Any], now: HostTime, *, live: bool, ended: str | None = None
) -> list[str]:
    """The account (equity, PnL, positions) and what this run did, each figure labeled as
    this run's or the journal's: after a restart on the same journal they differ. The stream
    lag and the streams down not of a daemon that stopped cleanly (`live` False); `now` for
    the reconciliation's age; `ended`: the daemon is no more (`_holdings_line`)."""
    state = s.get("trading_state", "?")
    if s.get("state_reason"):
        state += f" ({s['state_reason']})"
    positions = s.get("positions") or {}
    held = ", ".join(f"{sym} {qty}" for sym, qty in positions.items()) or "flat"
    lag = s.get("stream_lag_ms")
    run = f"this run: orders sent {s.get('orders_submitted', '?')}, fills {s.get('fills', '?')}"
    if "orders_submitted_total" in s:  # written by daemons since the figures were split
        run += (
            f"; whole journal: orders {s['orders_submitted_total']}, "
            f"fills {s.get('fills_total', '?')}"
        )
    usdt = {key: money_shown(s.get(key, "?")) for key in MONEY_FIELDS}
    lines = [
        f"venue: {s.get('venue', '?')}; trading {', '.join(s.get('symbols', []))} with "
        f"{s.get('strategy', '?')}; trading state {state}",
        f"equity {usdt['equity']} USDT (wallet {usdt['wallet']}, unrealized "
        f"{usdt['unrealized_pnl']}); realized PnL {usdt['realized_pnl']} over the "
        f"whole journal (before fees); today {usdt['realized_pnl_today']} (wallet change "
        "since 00:00 UTC: after fees and funding)",
        _holdings_line(s, held, ended=ended)
        + (f"; stream lag {stream_lag_text(lag)}" if live else "")
        + (gap_note(bool(s.get("gap_open")), s.get("gap_symbols")) if live else ""),
        run,
    ]
    model = _model_line(s.get("model"))
    if model:
        lines.insert(1, model)
    settled = _settled_line(s, now)
    if settled:
        lines.append(settled)
    untracked = untracked_note(s.get("unknown_client_ids"), s.get("hand_order_reports"))
    if untracked:
        lines.append(untracked)
    calls = s.get("margin_calls")
    if isinstance(calls, int) and calls > 0:
        last = s.get("last_margin_call_ms")
        lines.append(
            f"MARGIN CALL from the exchange: {calls} this run"
            + (f", the last at {_utc(last)}" if isinstance(last, int) else "")
            + " (liquidation may follow)"
        )
    errors = s.get("item_errors")
    if isinstance(errors, int) and errors > 0:
        lines.append(
            f"ERRORS on market-data items this run: {errors} (a strategy's among them; each "
            "is in the log with its traceback)"
        )
    slow = s.get("strategy_slow_calls")
    if isinstance(slow, int) and slow > 0:
        lines.append(
            f"strategy calls over {s.get('strategy_max_call_ms', '?')} ms this run: {slow} "
            f"(slowest {s.get('strategy_slowest_ms', '?')} ms): each held the event loop"
        )
    stopped = s.get("recording_stopped_ms")
    if isinstance(stopped, int):
        lines.append(
            f"recording: stopped at the size limit ([retention] market_sessions_mb = "
            f"{s.get('recording_limit_mb', '?')}) since {_utc(stopped)}: this session's parity "
            "audit refuses it; raise the limit (0 = none) to record whole sessions"
        )
    down = s.get("streams_down")
    if live and down and isinstance(down, dict):  # a clean stop's streams closed with it
        market = {k: v for k, v in down.items() if k != USER_STREAM}
        if market:
            lines.append(
                "market data DISCONNECTED ("
                + ", ".join(f"{k} {v}" for k, v in market.items())
                + ") at the last update"
            )
        if USER_STREAM in down:
            lines.append(_user_stream_note(down[USER_STREAM]))
    return lines


def _model_line(model: Any) -> str | None:
    """Which model trades (after a hot swap, the new one): its file, registry version and the
    start of its bytes' sha256, as the log names it at start; None for a strategy without."""
    if not isinstance(model, dict) or not model.get("path"):
        return None
    version = f", registry version {model['version']}" if model.get("version") else ""
    sha = str(model.get("sha256") or "?")[:12]
    return f"model: {shown_path(model['path'])}{version} (sha256 {sha}...)"


def _holdings_line(s: Mapping[str, Any], held: str, *, ended: str | None) -> str:
    """The position and open orders. Those of a daemon that is no more (`ended`: when its
    figures were written, "at the stop" or "at its last heartbeat" of one killed) with its
    embedded local exchange (`exchange_embedded`) are no exchange's any more: the account and
    its orders (a position's stop-loss) ended with it, and "open orders 1" read as a stop
    still working (a killed daemon's exchange stops within a second, `--exit-with-parent`)."""
    orders = s.get("open_orders", "?")
    embedded = s.get("exchange_embedded") is True
    if ended is None or not embedded or (held == "flat" and orders == 0):
        return f"position {held}; open orders {orders}"
    return (
        f"{ended}: position {held}, open orders {orders}; they ended with the embedded "
        "local exchange, which stopped with the daemon"
    )


def _user_stream_note(state: Any) -> str:
    """--status's line while the user stream (the listenKey websocket) is down: the daemon does
    not hear of its fills and order updates until it reconnects and reconciles. One that
    failed (a fatal error: the key refused, an IP ban) is not retried: it said "until it
    reconnects" of a stream only a restart brings back."""
    if state == "failed":
        return (
            "user stream FAILED: given up (see the log for why); fills and order updates are "
            "not heard until the daemon is restarted"
        )
    return (
        f"user stream DISCONNECTED ({state}): fills and order updates are not heard until it "
        "reconnects (a reconciliation over REST follows)"
    )


def _settled_line(s: Mapping[str, Any], now: HostTime) -> str | None:
    """`orders in doubt 0; last reconciliation 12 s ago, no difference`: whether the daemon has
    settled with the exchange (a fault's outcome no longer awaited, the books compared since).
    Each half only when the file holds its fields: None from an older daemon's, which had
    neither (nothing to say rather than a guess)."""
    parts = []
    doubt = s.get("orders_in_doubt")
    if isinstance(doubt, int):
        parts.append(f"orders in doubt {doubt}")
    if "last_reconciled_ms" in s:
        at = s["last_reconciled_ms"]
        if at is None:
            parts.append("last reconciliation none yet")
        elif isinstance(at, int):
            found = _differences(s.get("last_reconcile_differences"))
            ago = _ago(elapsed_ms(s, "last_reconciled", now))
            parts.append(f"last reconciliation {ago} ago" + (f", {found}" if found else ""))
        else:
            parts.append("last reconciliation unknown")
    return "; ".join(parts) or None


def untracked_note(unknown_ids: Any, hand_orders: Any) -> str | None:
    """`--status`'s and the closing summary's line on the exchange's reports of orders the
    daemon does not track (stream or REST), each kind only when some came: those with an id
    of ours point at something wrong (an order it forgot), those of orders placed by hand are
    left alone by design. None when neither came, or from a file without the fields (an
    older daemon's)."""
    parts = []
    if isinstance(unknown_ids, int) and unknown_ids > 0:
        parts.append(f"{unknown_ids} with an id of ours (not applied: worth a look)")
    if isinstance(hand_orders, int) and hand_orders > 0:
        parts.append(f"{hand_orders} of orders placed by hand (left alone)")
    if not parts:
        return None
    return "reports of orders not tracked, this run: " + ", ".join(parts)


def _differences(n: Any) -> str | None:
    """What a reconciliation found, as a person says it; None when the file does not say."""
    if not isinstance(n, int):
        return None
    if n == 0:
        return "no difference"
    return "1 difference" if n == 1 else f"{n} differences"


def gap_note(gap_open: bool, symbols: Any = None) -> str:
    """The heartbeat's and --status's note ` (gap open: ETHUSDT)`: whose entries are held
    while their trades are backfilled (a gap holds its own symbol's entries only);
    ` (gap open)` from a status file that does not say (an older daemon's)."""
    if isinstance(symbols, list) and symbols:
        return f" (gap open: {', '.join(str(sym) for sym in symbols)})"
    return " (gap open)" if gap_open else ""


def _alive(pid: int) -> bool:
    """Whether a process `pid` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(ms: int) -> str:
    s = max(0, ms) // 1000
    if s < 120:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 172_800:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86_400} days"
