"""Benchmark: resident memory of the daemon over a replayed 24-hour session at high speed.

Starts the local exchange as a separate process (`python -m exchange_sim --data klines-week
--speed N --ready-json` with a fixed demo key), then `python app.py` attached to it (a
config.toml in a temporary directory with `[endpoints] rest_url/ws_url`, `mode = "local"`,
journal and log directories in that directory; BINANCE_API_KEY/SECRET in the environment),
and samples the daemon's resident set (`/proc/<pid>/status` VmRSS; the exchange is another
process and is not counted) every `--sample-s` seconds until `--hours` of market data have
been replayed (wall time x speed), then stops both with SIGTERM.

Reported: RSS after the warm-up (`--warmup-hours` of replay), at the end, the peak (and the
kernel's VmHWM), and the slope of RSS over replayed time after the warm-up (least squares, MiB
per replayed hour). Targets: <= 150 MiB and < 1 MiB per hour. Also the daemon's CPU use, the
stream lag its heartbeat lines report (is the DataStream keeping up with the replay?), its
fills, and the exchange's aggTrade rate (the trades the daemon had to process per second).

Every progress line and the end of the run also give what grows on disk and in the kernel
(`footprint`): the daemon's open file descriptors and threads, the sizes of journal.sqlite3,
its SQLite -wal, journal.wal, the recorded market sessions and the logs, and the journal's
rows per table; the last line puts the growth per wall hour (the daemon's clocks, heartbeats
and reconciliations run on wall time whatever the replay speed).

`--tracemalloc` runs the daemon under tracemalloc (which costs memory and time of its own:
the RSS figures of such a run are not the daemon's) and prints the allocation sites that grew
most between the end of the warm-up and the end of the run.

    python bench/bench_daemon_memory.py [--speed 480] [--hours 24] [--sample-s 5]
                                        [--warmup-hours 2] [--tracemalloc] [--keep DIR]
"""

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RSS_TARGET_MIB = 150.0
SLOPE_TARGET_MIB_PER_H = 1.0
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
_TICK_HZ = os.sysconf("SC_CLK_TCK")
_LAG = re.compile(r"stream lag (-?\d+) ms")
_FILLS = re.compile(r"fills (\d+)")
_AGG = re.compile(r"(\w+) [\d.]+ \(aggTrade (\d+)")


# --- sampling --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    wall_s: float  # since the exchange was ready
    replay_h: float  # market data replayed: wall x speed
    rss_mib: float
    cpu_s: float  # user + system CPU of the daemon so far
    # from the daemon's status.json (rewritten at each heartbeat): its market-data items and
    # its CPU seconds, read together by the daemon (-1 before the first heartbeat)
    items: int = -1
    status_cpu_s: float = -1.0


def status_counts(workdir: Path) -> tuple[int, float]:
    """(items, CPU seconds) of this run from the daemon's status.json; (-1, -1) if unread."""
    try:
        status = json.loads((workdir / "journal" / "status.json").read_text())
        return int(status["items"]), float(status["cpu_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1, -1.0


def cost_per_item(samples: Sequence[Sample]) -> tuple[float, float] | None:
    """CPU us per market-data item over the first and the last 10 % of `samples` (by the
    daemon's own counts: both from one status.json); None without enough of them."""
    counted = [s for s in samples if s.items >= 0]
    k = max(2, len(counted) // 10)
    if len(counted) < 2 * k:
        return None
    spans = []
    for a, b in ((counted[0], counted[k - 1]), (counted[-k], counted[-1])):
        if b.items <= a.items:
            return None
        spans.append((b.status_cpu_s - a.status_cpu_s) * 1e6 / (b.items - a.items))
    return spans[0], spans[1]


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS / VmHWM of a process in MiB (empty once it has gone)."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0]) / 1024
    return out


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (0 once it has gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK_HZ


def slope_per_hour(samples: Sequence[Sample]) -> float:
    """Least-squares slope of RSS (MiB) over replayed hours."""
    n = len(samples)
    if n < 2:
        return 0.0
    mx = sum(s.replay_h for s in samples) / n
    my = sum(s.rss_mib for s in samples) / n
    sxx = sum((s.replay_h - mx) ** 2 for s in samples)
    if sxx == 0:
        return 0.0
    return sum((s.replay_h - mx) * (s.rss_mib - my) for s in samples) / sxx


JOURNAL_TABLES = ("orders", "fills", "events", "balance_snapshots")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _tree_size(folder: Path) -> int:
    return sum(_size(p) for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def footprint(workdir: Path, pid: int | None) -> dict[str, int]:
    """What the daemon of `workdir` holds open and has written: file descriptors and threads
    of `pid` (-1 once it has gone), file sizes in bytes, journal rows per table."""
    journal = workdir / "journal"
    out: dict[str, int] = {"fds": -1, "threads": -1}
    if pid is not None:
        with contextlib.suppress(OSError):
            out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
            out["threads"] = len(os.listdir(f"/proc/{pid}/task"))
    out["sqlite"] = _size(journal / "journal.sqlite3")
    out["sqlite_wal"] = _size(journal / "journal.sqlite3-wal")
    out["journal_wal"] = _size(journal / "journal.wal")
    out["market"] = _tree_size(journal / "market")
    out["logs"] = _tree_size(workdir / "logs")
    with contextlib.suppress(sqlite3.Error):
        uri = f"file:{journal / 'journal.sqlite3'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            for table in JOURNAL_TABLES:
                out[table] = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    return out


def footprint_line(f: dict[str, int]) -> str:
    mb = {k: f.get(k, 0) / 1e6 for k in ("sqlite", "sqlite_wal", "journal_wal", "market", "logs")}
    rows = ", ".join(f"{t} {f.get(t, 0):,}" for t in JOURNAL_TABLES)
    return (
        f"fds {f['fds']}, threads {f['threads']}; journal.sqlite3 {mb['sqlite']:.2f} MB, -wal "
        f"{mb['sqlite_wal']:.2f} MB, journal.wal {mb['journal_wal']:.2f} MB, market "
        f"{mb['market']:.2f} MB, logs {mb['logs']:.2f} MB; rows: {rows}"
    )


def growth_line(first: dict[str, int], last: dict[str, int], wall_s: float) -> str:
    """The growth from `first` to `last` per wall hour."""
    per_h = 3600 / max(1e-9, wall_s)

    def grown(*keys: str) -> float:
        return sum(last.get(k, 0) - first.get(k, 0) for k in keys) / 1e6 * per_h

    # SQLite's -wal holds what the last checkpoint has not copied yet (up to ~4 MB)
    sizes = (
        f"journal.sqlite3 with its -wal {grown('sqlite', 'sqlite_wal'):+.2f} MB, market "
        f"{grown('market'):+.2f} MB, logs {grown('logs'):+.2f} MB"
    )
    rows = ", ".join(
        f"{t} {(last.get(t, 0) - first.get(t, 0)) * per_h:+,.0f}" for t in JOURNAL_TABLES
    )
    return f"growth per wall hour: {sizes}; rows: {rows}"


STARTUP_GRACE_S = 60.0  # how long a short run waits past its end for the daemon to be up


def _trading(out: "LineReader") -> bool:
    """The daemon said it is trading (its signal handlers are in place)."""
    return any(line.startswith("application running") for line in out.lines)


@dataclass
class LineReader:
    """Collects the lines of a child's pipe in a thread (and mirrors a few to our stdout)."""

    stream: object
    lines: list[str] = field(default_factory=list)
    echo_every: int = 0
    _thread: threading.Thread | None = None

    def start(self) -> "LineReader":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        for raw in self.stream:  # type: ignore[attr-defined]
            line = raw.decode(errors="replace").rstrip() if isinstance(raw, bytes) else raw
            self.lines.append(line.rstrip())

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


# --- the two processes -----------------------------------------------------------------------


def start_exchange(
    *, data: str, symbols: str, speed: float, workdir: Path, key: str, secret: str
) -> tuple[subprocess.Popen[bytes], dict[str, str], LineReader, float]:
    """The local exchange on 127.0.0.1; (process, ready JSON, its stderr lines, ready time)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exchange_sim",
            "--data",
            data,
            "--symbols",
            symbols,
            "--speed",
            repr(speed),
            "--port",
            "0",
            "--status-every",
            "10",
            "--ready-json",
            "--api-key",
            key,
            "--api-secret",
            secret,
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    status = LineReader(proc.stderr).start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    line = b""
    while time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        if line.strip():
            break
    ready_at = time.monotonic()
    try:
        ready = json.loads(line)
        _ = ready["rest_url"], ready["ws_url"]
    except (ValueError, KeyError, TypeError):
        stop(proc, "exchange")
        tail = "\n".join(status.lines[-5:])
        raise SystemExit(f"the local exchange did not start: {line[:200]!r}\n{tail}") from None
    return proc, ready, status, ready_at


CONFIG = """\
mode = "local"
symbols = [{symbols}]
journal_dir = "{journal}"

[endpoints]
rest_url = "{rest_url}"
ws_url = "{ws_url}"

[execution]
heartbeat_s = {heartbeat_s}
reconcile_interval_s = {reconcile_s}
deadman_refresh_s = {deadman_s}
{execution_extra}
{extra}
[logging]
level = "INFO"
dir = "{logs}"
"""


# --active: a strategy that keeps trading. The exchange's klines are bars of its own (wall)
# clock, so at 480x a 1m kline spans 8 replayed hours and a strategy on 1m klines hardly
# trades; here SMA 3/8 on 1s bars built from the trades (8 replayed minutes each at 480x),
# 200 USDT a position (0.002 BTC clears the 100 USDT minimum notional, a flip of 0.004 BTC
# stays under the 500 USDT order cap), and the per-minute / per-day limits raised.
ACTIVE = """
[strategy]
name = "sma_crossover"
bar_interval = "1s"
fast_period = 3
slow_period = 8
order_notional_usdt = 200

[risk]
max_orders_per_minute = 1200
max_trades_per_day = 1000000
"""


def start_daemon(
    *,
    ready: dict[str, str],
    symbols: str,
    workdir: Path,
    duration_s: float,
    heartbeat_s: float,
    reconcile_s: float,
    deadman_s: float,
    active: bool,
    tracemalloc_dir: Path | None,
    warmup_s: float,
    end_s: float,
) -> tuple[subprocess.Popen[bytes], LineReader]:
    config = workdir / "config.toml"
    config.write_text(
        CONFIG.format(
            symbols=", ".join(f'"{s.strip()}"' for s in symbols.split(",")),
            journal=workdir / "journal",
            logs=workdir / "logs",
            rest_url=ready["rest_url"],
            ws_url=ready["ws_url"],
            heartbeat_s=heartbeat_s,
            reconcile_s=reconcile_s,
            deadman_s=deadman_s,
            execution_extra='bar_source = "trades"' if active else "",
            extra=ACTIVE if active else "",
        )
    )
    env = dict(os.environ)
    env["BINANCE_API_KEY"] = ready["api_key"]
    env["BINANCE_API_SECRET"] = ready["api_secret"]
    env["PYTHONPATH"] = str(ROOT)
    app = [str(ROOT / "app.py"), "--config", str(config), "--duration", f"{duration_s:.0f}"]
    if tracemalloc_dir is not None:
        # the second snapshot shortly before we stop it (the daemon starts ~2 s after the
        # exchange is ready; `warmup_s` and `end_s` count from then)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_traced", str(tracemalloc_dir)]
        cmd += [f"{warmup_s:.1f}", f"{max(warmup_s + 1, end_s - 5):.1f}", "--", *app]
    else:
        cmd = [sys.executable, *app]
    proc = subprocess.Popen(
        cmd,
        cwd=workdir,  # no .env of the repo; the KILL file would be looked for here
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=(workdir / "daemon.stderr").open("wb"),
    )
    assert proc.stdout is not None
    return proc, LineReader(proc.stdout).start()


def stop(proc: subprocess.Popen[bytes], what: str, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
    """SIGTERM, then SIGKILL after `timeout_s`; the exit status (None if it had to be killed)."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        print(f"{what} did not stop within {timeout_s:.0f} s: killed", file=sys.stderr)
        proc.kill()
        proc.wait()
        return None


# --- tracemalloc (debug runs) ----------------------------------------------------------------


def traced_main(argv: list[str]) -> int:
    """`--_traced DIR WARM_S LAST_S -- app.py ARGS`: run the daemon under tracemalloc and write
    two snapshots, WARM_S and LAST_S seconds after the start (only two: taking one is slow)."""
    import runpy
    import tracemalloc

    out, warm_s, last_s, _, script, *args = argv
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(8)
    started = time.monotonic()

    def snapshots() -> None:
        for name, at_s in (("warm", float(warm_s)), ("last", float(last_s))):
            time.sleep(max(0.0, started + at_s - time.monotonic()))
            tmp = out_dir / f"{name}.snapshot.tmp"
            tracemalloc.take_snapshot().dump(str(tmp))
            tmp.replace(out_dir / f"{name}.snapshot")

    threading.Thread(target=snapshots, daemon=True).start()
    sys.argv = [script, *args]
    sys.path.insert(0, str(Path(script).parent))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def report_growth(snap_dir: Path, top: int = 15) -> list[str]:
    import tracemalloc

    warm, last = snap_dir / "warm.snapshot", snap_dir / "last.snapshot"
    if not (warm.exists() and last.exists()):
        return ["tracemalloc: no snapshots (the run was too short)"]
    ignore = (
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
        tracemalloc.Filter(False, "<unknown>"),
    )
    a = tracemalloc.Snapshot.load(str(warm)).filter_traces(ignore)
    b = tracemalloc.Snapshot.load(str(last)).filter_traces(ignore)
    total_a = sum(s.size for s in a.statistics("filename"))
    total_b = sum(s.size for s in b.statistics("filename"))
    lines = [
        f"tracemalloc: traced Python memory {total_a / 2**20:.1f} MiB after the warm-up, "
        f"{total_b / 2**20:.1f} MiB at the end ({(total_b - total_a) / 2**20:+.2f} MiB); "
        f"largest growth by allocation site:"
    ]
    for stat in b.compare_to(a, "lineno")[:top]:
        frame = stat.traceback[0]
        where = os.path.relpath(frame.filename, ROOT) if frame.filename.startswith("/") else ""
        lines.append(
            f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  "
            f"{where or frame.filename}:{frame.lineno}"
        )
    by_trace = b.compare_to(a, "traceback")[:3]
    for stat in by_trace:
        lines.append(f"  traceback of {stat.size_diff / 1024:+.1f} KiB:")
        for text in stat.traceback.format()[-8:]:
            lines.append(f"    {text}")
    return lines


# --- the run ---------------------------------------------------------------------------------


def exchange_trade_rate(lines: Sequence[str], speed: float) -> str:
    """aggTrades per wall second published by the exchange, from its status lines."""
    firsts: dict[str, int] = {}
    lasts: dict[str, int] = {}
    count = 0
    for line in lines:
        found = _AGG.findall(line)
        if not found:
            continue
        count += 1
        for symbol, agg in found:
            firsts.setdefault(symbol, int(agg))
            lasts[symbol] = int(agg)
    if count < 2:
        return "exchange aggTrade rate: not enough status lines"
    span_s = (count - 1) * 10.0
    parts = [f"{sym} {(lasts[sym] - firsts[sym]) / span_s:,.0f}/s" for sym in lasts]
    return f"exchange aggTrades published (status lines, 10 s apart): {', '.join(parts)}"


def journal_counts(path: Path) -> str:
    """What the daemon did, from its journal: orders, fills, decisions, reconciliations."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            orders = db.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
            fills = db.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
            kinds = dict(db.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind").fetchall())
    except sqlite3.Error as exc:
        return f"journal: not readable ({exc})"
    return (
        f"journal: {orders} orders, {fills} fills, {kinds.get('DecisionMade', 0)} decisions, "
        f"{kinds.get('RiskDenied', 0)} denials, {kinds.get('VenueSnapshot', 0)} reconciliations"
    )


def run(args: argparse.Namespace) -> int:
    keep = Path(args.keep) if args.keep else None
    workdir = keep or Path(tempfile.mkdtemp(prefix="bench-daemon-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)  # 64 letters/digits, as the exchange wants
    secret = secrets.token_hex(32)
    replay_s = args.hours * 3600 / args.speed
    warmup_s = args.warmup_hours * 3600 / args.speed
    load = os.getloadavg()
    print(
        f"replaying {args.hours:g} h of {args.data} at {args.speed:g}x ({replay_s:.0f} s wall), "
        f"RSS sampled every {args.sample_s:g} s; load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} on {os.cpu_count()} CPUs; work dir {workdir}",
        flush=True,
    )
    exchange, ready, ex_lines, ready_at = start_exchange(
        data=args.data,
        symbols=args.symbols,
        speed=args.speed,
        workdir=workdir,
        key=key,
        secret=secret,
    )
    snap_dir = workdir / "tracemalloc" if args.tracemalloc else None
    daemon: subprocess.Popen[bytes] | None = None
    out: LineReader | None = None
    samples: list[Sample] = []
    hwm = 0.0
    first_footprint: dict[str, int] | None = None
    last_footprint: dict[str, int] | None = None
    first_wall = last_wall = 0.0
    try:
        daemon, out = start_daemon(
            ready=ready,
            symbols=args.symbols,
            workdir=workdir,
            duration_s=replay_s * 2 + 120,  # a safety net: we stop it with SIGTERM
            heartbeat_s=args.heartbeat_s,
            reconcile_s=args.reconcile_s,
            deadman_s=args.deadman_s,
            active=args.active,
            tracemalloc_dir=snap_dir,
            # the diff starts after the warm-up (and after the late imports of the first
            # minute), and ends shortly before the stop
            warmup_s=max(warmup_s, min(60.0, replay_s / 4)),
            end_s=replay_s,
        )
        next_hour = 1
        while True:
            wall = time.monotonic() - ready_at
            if daemon.poll() is not None:
                print(f"the daemon exited early with status {daemon.returncode}", file=sys.stderr)
                break
            status = proc_status(daemon.pid)
            if "VmRSS" in status:
                hwm = max(hwm, status.get("VmHWM", 0.0))
                items, status_cpu = status_counts(workdir)
                sample = Sample(
                    wall_s=wall,
                    replay_h=wall * args.speed / 3600,
                    rss_mib=status["VmRSS"],
                    cpu_s=proc_cpu_s(daemon.pid),
                    items=items,
                    status_cpu_s=status_cpu,
                )
                samples.append(sample)
                if sample.replay_h >= next_hour * args.print_every_hours:
                    next_hour += 1
                    now = footprint(workdir, daemon.pid)
                    if first_footprint is None:
                        first_footprint, first_wall = now, wall
                    print(
                        f"  {sample.replay_h:5.1f} h replayed: RSS {sample.rss_mib:6.1f} MiB, "
                        f"CPU {sample.cpu_s:6.1f} s; {footprint_line(now)}",
                        flush=True,
                    )
            if wall >= replay_s and (_trading(out) or wall >= replay_s + STARTUP_GRACE_S):
                last_footprint, last_wall = footprint(workdir, daemon.pid), wall
                break  # not before the daemon is up: a SIGTERM during its imports kills it
            time.sleep(min(args.sample_s, max(0.05, replay_s - wall)))
    finally:
        status_code = stop(daemon, "the daemon") if daemon is not None else None
        stop(exchange, "the exchange")
        ex_lines.join(2.0)
    if out is not None:
        out.join(2.0)
    daemon_lines = out.lines if out is not None else []
    figures = summarize(args, samples, hwm, daemon_lines, ex_lines.lines, status_code)
    figures.append(journal_counts(workdir / "journal" / "journal.sqlite3"))
    if first_footprint is not None and last_footprint is not None:
        figures.append(f"at the end: {footprint_line(last_footprint)}")
        figures.append(growth_line(first_footprint, last_footprint, last_wall - first_wall))
    for line in figures:
        print(line)
    if snap_dir is not None:
        for line in report_growth(snap_dir):
            print(line)
    if keep is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def summarize(
    args: argparse.Namespace,
    samples: Sequence[Sample],
    hwm: float,
    daemon_lines: Sequence[str],
    exchange_lines: Sequence[str],
    status_code: int | None,
) -> list[str]:
    if len(samples) < 2:
        return ["not enough samples: the daemon did not run (see daemon.stderr with --keep)"]
    warm = [s for s in samples if s.replay_h >= args.warmup_hours] or list(samples[-2:])
    first, last = warm[0], samples[-1]
    peak = max(s.rss_mib for s in samples)
    slope = slope_per_hour(warm)
    ok = peak <= RSS_TARGET_MIB and slope < SLOPE_TARGET_MIB_PER_H
    cpu = (last.cpu_s - samples[0].cpu_s) / max(1e-9, last.wall_s - samples[0].wall_s)
    heartbeats = [line for line in daemon_lines if line.startswith("application running |")]
    lags = [int(m.group(1)) for line in heartbeats if (m := _LAG.search(line))]
    fills = [int(m.group(1)) for line in heartbeats if (m := _FILLS.search(line))]
    lines = [
        f"daemon RSS: {first.rss_mib:.1f} MiB after the warm-up ({first.replay_h:.1f} h replayed), "
        f"{last.rss_mib:.1f} MiB at the end ({last.replay_h:.1f} h), peak {peak:.1f} MiB "
        f"(VmHWM {hwm:.1f} MiB); slope after the warm-up {slope:+.3f} MiB per replayed hour "
        f"({len(warm)} samples) [{'OK' if ok else 'ABOVE TARGET'}: target <= "
        f"{RSS_TARGET_MIB:.0f} MiB and < {SLOPE_TARGET_MIB_PER_H:g} MiB/h]",
        f"daemon CPU: {cpu * 100:.0f}% of one core on average over the run; exit status "
        f"{status_code}",
    ]
    if lags:
        ordered = sorted(lags)
        lines.append(
            f"stream lag in {len(lags)} heartbeats: median {ordered[len(ordered) // 2]} ms, "
            f"max {ordered[-1]} ms, last {lags[-1]} ms; fills {fills[-1] if fills else 0}"
        )
    else:
        lines.append(f"no heartbeat with a stream lag ({len(heartbeats)} heartbeat lines)")
    per_item = cost_per_item(warm)
    if per_item is not None:
        a, b = per_item
        lines.append(
            f"daemon CPU per market-data item (its status.json): {a:.1f} us over the first 10 % "
            f"of the run after the warm-up, {b:.1f} us over the last 10 % ({(b - a) / a:+.0%})"
        )
    lines.append(exchange_trade_rate(exchange_lines, args.speed))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--_traced"]:
        return traced_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speed", type=float, default=480.0, help="replay speed (x real time)")
    parser.add_argument("--hours", type=float, default=24.0, help="hours of data to replay")
    parser.add_argument("--warmup-hours", type=float, default=2.0)
    parser.add_argument("--sample-s", type=float, default=5.0, help="RSS sampling period")
    parser.add_argument("--heartbeat-s", type=float, default=10.0)
    parser.add_argument(
        "--reconcile-s",
        type=float,
        default=1.0,
        help="REST reconciliation period (the daemon's default is 60 s of wall time, which a "
        "fast replay would hardly exercise)",
    )
    parser.add_argument("--deadman-s", type=float, default=1.0, help="countdownCancelAll period")
    parser.add_argument("--active", action="store_true", help="a strategy that trades all day")
    parser.add_argument("--print-every-hours", type=float, default=4.0)
    parser.add_argument("--data", default="klines-week")
    parser.add_argument("--symbols", default="BTCUSDT")
    parser.add_argument("--tracemalloc", action="store_true", help="debug run: what grows")
    parser.add_argument("--keep", help="work directory to keep (config, journal, logs)")
    args = parser.parse_args(argv)
    if args.speed <= 0 or args.hours <= 0 or args.sample_s <= 0:
        parser.error("--speed, --hours and --sample-s must be > 0")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
