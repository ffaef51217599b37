"""Process-level harness: the local exchange and the daemon as separate processes, as a user
runs them (`python -m exchange_sim ...` and `python app.py` attached through [endpoints]).

Everything listens on 127.0.0.1. Keys are fixed so a restarted daemon trades the same account.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "k" * 32 + "0123456789abcdef0123456789abcdef"
API_SECRET = "s" * 32 + "fedcba9876543210fedcba9876543210"


@dataclass
class Exchange:
    proc: subprocess.Popen
    rest_url: str
    ws_url: str


@contextmanager
def exchange_process(
    *,
    speed: float,
    admin: bool = True,
    data: str = "klines-week",
    symbols: str = "BTCUSDT",
    port: int = 0,
) -> Iterator[Exchange]:
    args = [
        sys.executable, "-m", "exchange_sim", "--data", data, "--symbols", symbols,
        "--speed", str(speed), "--port", str(port), "--status-every", "0", "--ready-json",
        "--api-key", API_KEY, "--api-secret", API_SECRET,
    ]  # fmt: skip
    if admin:
        args.append("--admin")
    proc = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        ready = json.loads(line)
        yield Exchange(proc, ready["rest_url"], ready["ws_url"])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def inject_fault(ex: Exchange, spec: dict[str, Any]) -> None:
    """Switch a fault of the exchange on (`POST /_sim/faults`, admin mode): `{"fault": name,
    **kwargs}`, or `{"fault": "clear"}`."""
    request = urllib.request.Request(
        f"{ex.rest_url}/_sim/faults", data=json.dumps(spec).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as answer:  # the loopback exchange
        assert answer.status == 200


def write_config(
    workdir: Path, ex: Exchange, symbols: tuple[str, ...] = ("BTCUSDT",), **sections: dict[str, Any]
) -> Path:
    """config.toml attaching to `ex`, trading `symbols`, journal and logs inside `workdir`."""
    lines = [
        'mode = "local"',
        f"symbols = {json.dumps(list(symbols))}",
        f'journal_dir = "{workdir / "journal"}"',
        "[endpoints]",
        f'rest_url = "{ex.rest_url}"',
        f'ws_url = "{ex.ws_url}"',
        "[logging]",
        f'dir = "{workdir / "logs"}"',
    ]
    for name, values in sections.items():
        if name == "logging":
            lines[lines.index("[logging]") + 1 :] = lines[lines.index("[logging]") + 1 :]

        lines.append(f"[{name}]")
        for key, value in values.items():
            lines.append(f"{key} = {json.dumps(value)}")
    path = workdir / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def daemon_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    env.update(BINANCE_API_KEY=API_KEY, BINANCE_API_SECRET=API_SECRET)
    return env


def start_daemon(workdir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--config", str(workdir / "config.toml"), *args],
        cwd=workdir,
        env=daemon_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def journal_rows(workdir: Path, query: str) -> list[tuple]:
    db = sqlite3.connect(f"file:{workdir / 'journal' / 'journal.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


def wait_for(predicate, timeout_s: float, what: str, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (sqlite3.Error, OSError):
            pass  # the journal or the log is not created yet
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def exchange_account(ex: Exchange) -> dict[str, Any]:
    """The exchange's own view of the demo account, read over signed REST like any client."""
    from core.clock import LiveClock
    from rest_connect import create_rest_connection

    conn = await create_rest_connection(
        rest_url=ex.rest_url, api_key=API_KEY, api_secret=API_SECRET, clock=LiveClock()
    )
    try:
        account = await conn.call("futures_account", weight=5)
        positions = await conn.call("futures_position_information", weight=5, symbol="BTCUSDT")
        trades = await conn.call("futures_account_trades", weight=5, symbol="BTCUSDT", limit=1000)
        orders = await conn.call("futures_get_all_orders", weight=5, symbol="BTCUSDT", limit=1000)
        open_orders = await conn.call("futures_get_open_orders", weight=1, symbol="BTCUSDT")
        algo_open = await conn.call("futures_get_open_algo_orders", weight=1, symbol="BTCUSDT")
    finally:
        await conn.close()
    return {
        "account": account,
        "positions": positions,
        "trades": trades,
        "orders": orders,
        "open_orders": open_orders,
        "algo_open": algo_open,
    }


def assert_stopped_clean(venue: dict[str, Any], out: str) -> None:
    """After a clean stop: no working order on the exchange; a position left open keeps only
    its protective stop-loss / take-profit (and the closing summary says so)."""
    from decimal import Decimal

    assert venue["open_orders"] == [], venue["open_orders"]
    open_qty = sum((Decimal(p["positionAmt"]) for p in venue["positions"]), Decimal(0))
    if open_qty == 0:
        assert not venue["algo_open"], venue["algo_open"]
        return
    assert venue["algo_open"], "the position left open lost its stop-loss"
    for o in venue["algo_open"]:
        assert o["orderType"] in ("STOP_MARKET", "TAKE_PROFIT_MARKET"), o
        assert o.get("closePosition") is True or o.get("reduceOnly") is True, o
    assert "left open, guarded on the exchange by STOP_MARKET" in out, out[-1500:]
