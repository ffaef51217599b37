"""`python -m exchange_sim`: prints URLs and credentials, stops cleanly on SIGINT/SIGTERM, bad
args -> 2; under a parent: --ready-json, a fixed demo key (flags or environment), --balance."""

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from exchange_sim.__main__ import banner_credentials, main

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exchange_sim", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--speed", "fast"),
        ("--symbols", "NOPE"),
        ("--port", "70000"),
        ("--bogus",),
        ("--data", "/nonexistent/dir"),
        ("--status-every", "-1"),
        ("--data", "klines-week", "--data", "btcusdt-2024-08-08"),  # the last won, silently
    ],
)
def test_bad_arguments_exit_2_with_one_line(args) -> None:
    result = _run(*args)

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "error" in result.stderr


def test_a_mistyped_data_set_name_is_told_the_bundled_names() -> None:
    result = _run("--data", "klines-wek")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "exchange_sim: error: data directory klines-wek does not exist, nor is "
        "'klines-wek' a bundled data set (btcusdt-2023-04-04, btcusdt-2024-08-08, klines-week)"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("--port", "\u00b2"),
        ("--api-key", "short", "--api-secret", "s"),
        ("--api-key", "A" * 64),
        ("--api-key", "A" * 64, "--api-secret", "has space"),
        ("--balance", "-5"),
        ("--balance", "0"),
        ("--balance", "\u0661\u0660"),
        ("--balance", "1e3"),
    ],
)
def test_bad_key_balance_or_port_exit_2_with_one_line(args, capsys, monkeypatch) -> None:
    monkeypatch.delenv("EXCHANGE_SIM_API_KEY", raising=False)
    monkeypatch.delenv("EXCHANGE_SIM_API_SECRET", raising=False)

    with pytest.raises(SystemExit) as exit_:
        main(list(args))

    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "error" in err


@pytest.mark.parametrize("speed", ["inf", "1e308"])
def test_a_speed_too_large_to_replay_is_refused(capsys, speed) -> None:
    """`--speed inf` started an exchange whose replay task died at once (OverflowError, a
    traceback on stderr) while it went on serving no market data."""
    with pytest.raises(SystemExit) as exit_:
        main(["--speed", speed])

    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"exchange_sim: error: argument --speed: speed must be at most 1e+12 (or 'max'), "
        f"got {float(speed)!r}"
    ]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        # the data load's KeyError was the whole message: "exchange_sim: error: BTCUSDT"
        (["--symbols", ","], "--symbols ',': no symbol given (e.g. BTCUSDT,ETHUSDT)"),
        (["--symbols", ""], "--symbols '': no symbol given (e.g. BTCUSDT,ETHUSDT)"),
        # nan passed and printed a status line at every pass of the reporter's loop
        (["--status-every", "nan"], "argument --status-every: must be >= 0 (0 = never), got 'nan'"),
        (["--status-every", "inf"], "argument --status-every: must be >= 0 (0 = never), got 'inf'"),
    ],
)
def test_no_symbol_or_a_status_interval_that_is_no_number_is_said(capsys, args, said) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)

    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"exchange_sim: error: {said}"]


def test_a_symbol_given_twice_is_named(capsys) -> None:
    # It was refused as "BTCUSDT: history overlaps bars already in the store".
    with pytest.raises(SystemExit) as exit_:
        main(["--symbols", "BTCUSDT,ethusdt,btcusdt"])

    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("error: --symbols BTCUSDT,ethusdt,btcusdt: BTCUSDT given twice")
    assert len(err.splitlines()) == 1


def test_runs_serves_and_stops_cleanly_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchange_sim", "--speed", "10"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        rest_url = lines[0].split()[-1]
        with urllib.request.urlopen(f"{rest_url}/fapi/v1/time", timeout=5) as resp:
            served = resp.status
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert lines[0].startswith("REST") and rest_url.startswith("http://127.0.0.1:")
    assert lines[1].split()[-1].startswith("ws://127.0.0.1:")
    assert len(lines[2].split()[-1]) == 64
    assert served == 200
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_prints_a_status_line_with_the_last_trade_while_running() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchange_sim", "--speed", "10", "--status-every", "0.5"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(6)]  # 5 header lines, then a status
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()

    status = lines[5]
    assert status.startswith("20") and status.split()[0].endswith("Z")
    assert "BTCUSDT 6" in status and "aggTrade 3000" in status and "recorded" in status
    assert "ws clients 0" in status


KEY = "K" * 32 + "0123456789abcdef" * 2
SECRET = "local-demo-secret"
# The keys do not depend on the market data: the lightest bundled set (a week of BTCUSDT 1m
# klines, as tests/daemon/harness.py runs) is ready ~3x sooner than the default day of trades
# (which test_runs_serves_and_stops_cleanly_on_ctrl_c starts).
LIGHT = ("--data", "klines-week", "--symbols", "BTCUSDT")


def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "exchange_sim", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _signed_get(rest_url: str, path: str, key: str, secret: str) -> Any:
    query = urllib.parse.urlencode({"timestamp": int(time.time() * 1000), "recvWindow": 10000})
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{rest_url}{path}?{query}&signature={signature}", headers={"X-MBX-APIKEY": key}
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def _ready(proc: subprocess.Popen) -> dict[str, str]:
    """The --ready-json line (the first line on stdout)."""
    assert proc.stdout is not None
    return json.loads(proc.stdout.readline())


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[str, str]:
    try:
        proc.send_signal(sig)
        return proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_ready_json_is_the_only_stdout_line_and_the_fixed_key_trades_until_sigterm() -> None:
    proc = _spawn(
        *LIGHT, "--ready-json", "--status-every", "0.2", "--balance", "2500.5",
        env={"EXCHANGE_SIM_API_KEY": KEY, "EXCHANGE_SIM_API_SECRET": SECRET},
    )  # fmt: skip
    ready = _ready(proc)
    balances = _signed_get(ready["rest_url"], "/fapi/v3/balance", KEY, SECRET)
    time.sleep(0.5)  # a few status lines
    rest_of_stdout, err = _stop(proc)

    assert ready == {
        "rest_url": ready["rest_url"],
        "ws_url": ready["ws_url"],
        "api_key": KEY,
        "api_secret": SECRET,
    }
    assert ready["rest_url"].startswith("http://127.0.0.1:")
    assert ready["ws_url"] == ready["rest_url"].replace("http://", "ws://")
    usdt = next(b for b in balances if b["asset"] == "USDT")
    assert usdt["balance"] == "2500.50000000"
    assert proc.returncode == 0
    assert rest_of_stdout == ""
    assert f"API key    ****{KEY[-4:]}" in err and "BTCUSDT" in err and "stopped" in err
    # stderr is what a parent logs (the daemon's exchange_sim.log): the key and the secret are
    # only in the ready line
    assert KEY not in err and SECRET not in err
    assert "Traceback" not in err


def test_key_flags_take_precedence_over_the_environment() -> None:
    other = "Z" * 64
    proc = _spawn(
        *LIGHT, "--ready-json", "--api-key", other, "--api-secret", "flag-secret",
        env={"EXCHANGE_SIM_API_KEY": KEY, "EXCHANGE_SIM_API_SECRET": SECRET},
    )  # fmt: skip
    ready = _ready(proc)
    account = _signed_get(ready["rest_url"], "/fapi/v2/account", other, "flag-secret")
    _stop(proc)

    assert (ready["api_key"], ready["api_secret"]) == (other, "flag-secret")
    assert "assets" in account
    assert proc.returncode == 0


def test_without_a_fixed_key_every_start_makes_a_random_one() -> None:
    first = _spawn(*LIGHT, "--ready-json")
    second = _spawn(*LIGHT, "--ready-json")
    keys = [_ready(p)["api_key"] for p in (first, second)]
    _stop(first)
    _stop(second)

    assert keys[0] != keys[1] and all(len(k) == 64 for k in keys)
    assert first.returncode == second.returncode == 0


def test_a_key_given_in_the_environment_is_not_printed_in_the_banner() -> None:
    """Under systemd or tmux the banner is kept in a log: a pair the user chose (and holds in
    .env) is named by the key's last 4 characters, not printed."""
    proc = _spawn(
        "--data", "klines-week", "--status-every", "0",
        env={"EXCHANGE_SIM_API_KEY": KEY, "EXCHANGE_SIM_API_SECRET": SECRET},
    )  # fmt: skip
    assert proc.stdout is not None
    banner = [proc.stdout.readline() for _ in range(5)]
    out, err = _stop(proc)

    assert banner[2:] == [
        f"API key    ****{KEY[-4:]} (the one given)\n",
        "API secret **** (the one given)\n",
        "Ctrl+C to stop.\n",
    ]
    assert proc.returncode == 0
    assert KEY not in "".join(banner) + out + err and SECRET not in "".join(banner) + out + err


def test_a_pair_drawn_at_random_is_shown_whole_the_only_way_to_learn_it() -> None:
    assert banner_credentials(KEY, SECRET, ready_json=False, given=False) == (KEY, SECRET)
    assert banner_credentials(KEY, SECRET, ready_json=True, given=False) == (
        f"****{KEY[-4:]} (in the --ready-json line)",
        "(in the --ready-json line)",
    )
