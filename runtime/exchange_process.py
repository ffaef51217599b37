"""The embedded local exchange as a child process: `python -m exchange_sim` on 127.0.0.1.

`python app.py` with no keys and no `[endpoints]` starts it, reads the one JSON line it prints
when it listens (`--ready-json`: REST and websocket URLs, the demo account's key and secret),
trades it, and stops it on exit. A separate process (not a task in the daemon's loop) keeps the
exchange's replay work off the daemon's event loop and lets tests kill either side alone.

The child's other output (its log lines, stderr) is read by the daemon and written to
`<log_dir>/exchange_sim.log`, which rotates as the daemon's own log does (`runtime.log_setup`:
5 x 10 MB), so a daemon left running for weeks does not fill the disk with it, through the same
redaction (no API key, signature or listenKey). The child does not inherit the account's
BINANCE_API_KEY / BINANCE_API_SECRET: it makes its own demo key.
"""

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from runtime.log_setup import LOG_MAX_BYTES, RedactionFilter, rotating_file

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]  # where `exchange_sim` lives
READY_TIMEOUT_S = 60.0  # loading and indexing a week of klines takes a few seconds
STOP_TIMEOUT_S = 3.0


class ExchangeStartError(RuntimeError):
    """The local exchange did not come up; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class ExchangeEndpoints:
    rest_url: str
    ws_url: str
    api_key: str
    api_secret: str


class LocalExchangeProcess:
    """Start with `await proc.start()` (returns the endpoints), stop with `await proc.stop()`."""

    def __init__(
        self,
        *,
        data: str,
        symbols: tuple[str, ...],
        speed: float,
        port: int,
        balance: Decimal,
        log_dir: Path,
        python: str = sys.executable,
        log_max_bytes: int = LOG_MAX_BYTES,
    ) -> None:
        self.args = [
            python,
            "-m",
            "exchange_sim",
            "--data",
            data,
            "--symbols",
            ",".join(symbols),
            "--speed",
            repr(speed),
            "--port",
            str(port),
            "--balance",
            format(balance.normalize(), "f"),  # "100.000000000" is 100 to its 8 decimals
            "--status-every",
            "0",
            "--ready-json",
            "--exit-with-parent",  # a kill -9 of the daemon must not leave an orphan exchange
        ]
        self.log_path = log_dir / "exchange_sim.log"
        self.log_max_bytes = log_max_bytes
        self._proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self._log_copy: asyncio.Task[None] | None = None

    def _last_log_line(self) -> str:
        """Why the child said it stopped: the last line it wrote to its log (stderr)."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(max(0, self.log_path.stat().st_size - 4096))
                lines = fh.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return "no output"
        return lines[-1].strip()[:200] if lines else "no output"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> ExchangeEndpoints:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = rotating_file(self.log_path, self.log_max_bytes)
        handler.addFilter(RedactionFilter())
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.args,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,  # Ctrl+C reaches the daemon, which stops the child
                env=_child_env(),
            )
        except BaseException:
            handler.close()
            raise
        self._log_copy = asyncio.get_running_loop().create_task(self._copy_log(handler))
        assert self._proc.stdout is not None
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                line = await self._proc.stdout.readline()
        except TimeoutError:
            await self.stop()
            raise ExchangeStartError(
                f"the local exchange did not start within {READY_TIMEOUT_S:.0f} s "
                f"(see {self.log_path})"
            ) from None
        try:
            ready = json.loads(line)
            endpoints = ExchangeEndpoints(
                rest_url=ready["rest_url"],
                ws_url=ready["ws_url"],
                api_key=ready["api_key"],
                api_secret=ready["api_secret"],
            )
        except (ValueError, KeyError, TypeError):
            await self.stop()
            said = line.decode(errors="replace").strip()[:200] or self._last_log_line()
            raise ExchangeStartError(
                f"the local exchange failed to start (see {self.log_path}): {said}"
            ) from None
        self._drain = asyncio.get_running_loop().create_task(self._drain_stdout())
        log.info("local exchange started (pid %d) at %s", self._proc.pid, endpoints.rest_url)
        return endpoints

    async def _copy_log(self, handler: logging.Handler) -> None:
        """The child's stderr, line by line as it wrote them, into its rotating log file."""
        assert self._proc is not None and self._proc.stderr is not None
        stderr = self._proc.stderr
        try:
            while line := await stderr.readline():
                text = line.decode(errors="replace").rstrip("\n")
                handler.handle(logging.makeLogRecord({"msg": text}))  # filtered, then written
        finally:
            handler.close()

    async def _drain_stdout(self) -> None:
        """Keep reading the child's stdout so it never blocks on a full pipe."""
        assert self._proc is not None and self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            log.debug("exchange_sim: %s", line.decode(errors="replace").rstrip())

    async def stop(self) -> None:
        """SIGTERM, wait up to STOP_TIMEOUT_S, then SIGKILL; never hangs."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
        if self._log_copy is not None:  # its last lines (why it stopped) reach the file
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await self._log_copy
            except TimeoutError:  # a grandchild holding the pipe open: not waited for
                self._log_copy.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._log_copy
            self._log_copy = None
        self._proc = None


_ACCOUNT_KEYS = frozenset({"BINANCE_API_KEY", "BINANCE_API_SECRET"})


def _child_env() -> dict[str, str]:
    """The daemon's environment, with the project importable from any working directory,
    without the account's API keys (the local exchange has no use for them)."""
    env = {k: v for k, v in os.environ.items() if k not in _ACCOUNT_KEYS}
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = f"{PROJECT_ROOT}{os.pathsep}{path}" if path else str(PROJECT_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env
