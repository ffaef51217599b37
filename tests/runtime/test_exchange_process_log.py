"""The local exchange child's log (`exchange_sim.log`) rotates as the daemon's own log does."""

import asyncio
import json
import sys
from decimal import Decimal

from runtime.exchange_process import LocalExchangeProcess, _child_env
from runtime.log_setup import LOG_BACKUPS

READY = {"rest_url": "http://127.0.0.1:9", "ws_url": "ws://127.0.0.1:9", "api_key": "k",
         "api_secret": "s"}  # fmt: skip


def _fake_exchange(tmp_path, lines: int):
    """A stand-in for `python -m exchange_sim`: `lines` log lines of 100 bytes on stderr, then
    the ready line on stdout, then it waits to be stopped."""
    script = tmp_path / "fake_exchange.py"
    script.write_text(
        "import sys, time\n"
        f"for i in range({lines}):\n"
        "    sys.stderr.write(f'{i:05d} ' + 'x' * 93 + '\\n')\n"
        "sys.stderr.flush()\n"
        f"print({json.dumps(json.dumps(READY))}, flush=True)\n"
        "time.sleep(60)\n"
    )
    launcher = tmp_path / "python"
    launcher.write_text(f'#!/bin/sh\nshift 2\nexec {sys.executable} {script} "$@"\n')
    launcher.chmod(0o755)
    return str(launcher)


def test_the_exchange_log_rotates_at_its_size_keeping_the_newest_lines(tmp_path):
    # 60 lines of 100 bytes (0-59) into files of at most 1,000 bytes: 9 lines a file (with a
    # 10th it would reach 1,000), so the file moves on at lines 9, 18, 27, 36, 45 and 54; at
    # the 6th move the oldest (0-8) is dropped: LOG_BACKUPS = 5 older files keep 9-53, the
    # log 54-59.
    logs = tmp_path / "logs"
    proc = LocalExchangeProcess(
        data="x", symbols=("BTCUSDT",), speed=1.0, port=0, balance=Decimal(1), log_dir=logs,
        python=_fake_exchange(tmp_path, 60), log_max_bytes=1_000,
    )  # fmt: skip

    async def run() -> None:
        await proc.start()
        await proc.stop()

    asyncio.run(run())

    files = [logs / "exchange_sim.log"] + [
        logs / f"exchange_sim.log.{n}" for n in range(1, LOG_BACKUPS + 1)
    ]
    assert all(f.stat().st_size <= 1_000 for f in files)
    assert not (logs / f"exchange_sim.log.{LOG_BACKUPS + 1}").exists()
    kept = [line for f in reversed(files) for line in f.read_text().splitlines()]
    assert [int(line[:5]) for line in kept] == list(range(9, 60))


def test_the_exchange_log_carries_no_key_signature_or_listen_key(tmp_path):
    key = "Ab3" * 21 + "x"  # 64 letters and digits
    signature = "3c66" * 16
    script = tmp_path / "fake_exchange.py"
    script.write_text(
        "import sys, time\n"
        f"sys.stderr.write('API key    {key}\\n')\n"
        f"sys.stderr.write('GET /fapi/v1/order?timestamp=1&signature={signature}\\n')\n"
        f"sys.stderr.write('GET /private/ws?listenKey={key[::-1]}\\n')\n"
        "sys.stderr.flush()\n"
        f"print({json.dumps(json.dumps(READY))}, flush=True)\n"
        "time.sleep(60)\n"
    )
    launcher = tmp_path / "python"
    launcher.write_text(f'#!/bin/sh\nshift 2\nexec {sys.executable} {script} "$@"\n')
    launcher.chmod(0o755)
    logs = tmp_path / "logs"
    proc = LocalExchangeProcess(
        data="x", symbols=("BTCUSDT",), speed=1.0, port=0, balance=Decimal(1), log_dir=logs,
        python=str(launcher),
    )  # fmt: skip

    async def run() -> None:
        await proc.start()
        await proc.stop()

    asyncio.run(run())

    text = (logs / "exchange_sim.log").read_text()
    assert text.count("<redacted>") == 3, text
    assert key not in text and signature not in text and key[::-1] not in text


def test_the_exchange_does_not_inherit_the_accounts_api_keys(monkeypatch):
    monkeypatch.setenv("BINANCE_API_KEY", "k" * 64)
    monkeypatch.setenv("BINANCE_API_SECRET", "s" * 64)

    env = _child_env()

    assert "BINANCE_API_KEY" not in env and "BINANCE_API_SECRET" not in env
    assert env["PYTHONUNBUFFERED"] == "1"
