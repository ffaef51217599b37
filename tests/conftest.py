"""Shared test helpers: the loopback-only network guard, paths to the copied real fixtures, the
logging levels put back after each test, and hypothesis's profiles."""

import ipaddress
import json
import logging
import os
import socket
import sys
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

FIXTURES = Path(__file__).parent / "fixtures"

# The suite's processes keep compiled modules (`__pycache__`, git-ignored): where the machine
# sets PYTHONDONTWRITEBYTECODE, each xdist worker rewrote the asserts of every test module
# (~20 s of CPU) and each process a test starts (the daemon, the local exchange, the command
# lines: hundreds) compiled every module it imports, again. Set here, before the workers start.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

# The suite's property tests draw the same examples on every run ("ci", the default): a test
# run, CI's included, fails for the code, not for the draw. `HYPOTHESIS_PROFILE=hunt` draws new
# ones each run, to look for bugs (README, "Development").
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.register_profile("hunt", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def load_fixture(relative: str):
    return json.loads((FIXTURES / relative).read_text())


# Modules whose tests mostly wait on real time (a daemon, the local exchange, their sessions in
# other processes): collected first, so that xdist's first worker starts on them while the
# others take the CPU-bound rest, and no minute-long daemon run is left to finish alone at the
# end of the run.
WAITING_ON_REAL_TIME = (
    "tests/daemon/",
    "tests/gateway/test_data_stream_local_exchange.py",
    "tests/gateway/test_main_gateway_faults.py",
    "tests/gateway/test_main_gateway_resilience.py",
    "tests/rest_connect/test_connection.py",
    "tests/trading_engine/test_reducing_local_exchange.py",
    "tests/trading_engine/test_stop_guard_local_exchange.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of `WAITING_ON_REAL_TIME` first, each group in its collected order."""
    items.sort(key=lambda item: not item.nodeid.startswith(WAITING_ON_REAL_TIME))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "shared_session(name): reads the daemon session `name` (tests/daemon/shared_runs.py); "
        "collected next to the other tests reading it (tests/daemon/conftest.py)",
    )


@pytest.fixture
def btcusdt_entry_2022() -> dict:
    """Real BTCUSDT exchangeInfo entry (nautilus capture 2022-02-19): tick 0.10, notional 10."""
    info = load_fixture(
        "binance_api/rest/GET_fapi_v1_exchangeInfo__3symbols_2022-02-19__nautilus.json"
    )
    return next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")


@pytest.fixture
def btcusdt_entry_2021() -> dict:
    """Real BTCUSDT exchangeInfo entry (cryptofeed capture 2021-07-22): tick 0.01, notional 5."""
    return load_fixture(
        "binance_api/rest/GET_fapi_v1_exchangeInfo__BTCUSDT_entry_2021-07-22__cryptofeed.json"
    )


# --- loopback-only network guard -------------------------------------------------------------
# Tests may talk only to servers on this machine (the local exchange on 127.0.0.1). Any attempt
# to resolve or connect to another address fails the test loudly instead of leaking traffic.

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _is_loopback(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host is None or host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback or host in ("0.0.0.0", "::")
    except ValueError:
        return False


class NonLoopbackConnection(RuntimeError):
    pass


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guard(address) -> None:
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        raise NonLoopbackConnection(f"test tried to reach non-loopback address {address[0]!r}")


def _connect(self, address):
    _guard(address)
    return _real_connect(self, address)


def _connect_ex(self, address):
    _guard(address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host, *args, **kwargs):
    if not _is_loopback(host):
        raise NonLoopbackConnection(f"test tried to resolve non-loopback host {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def loopback_only():
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
    socket.getaddrinfo = _getaddrinfo
    yield
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex
    socket.getaddrinfo = _real_getaddrinfo


# --- logging levels as each test found them --------------------------------------------------
# A test that sets a logger's level (configure_logging, a benchmark's quiet root at ERROR) would
# change what caplog sees in every later test of its xdist worker: which tests those are depends
# on how the workers share the suite out. Seen: 8 tests asserting WARNING lines failed after
# tests/bench/test_bench_long_run.py had left the root at ERROR, and a DEBUG root left by
# tests/runtime/test_secret_redaction.py put websockets' lines first in another test's caplog.


def _levels() -> dict[str, int]:
    loggers = logging.root.manager.loggerDict.items()
    levels = {name: lg.level for name, lg in loggers if isinstance(lg, logging.Logger)}
    levels[""] = logging.root.level
    return levels


@pytest.fixture(autouse=True)
def logging_levels_as_found():
    before, disabled = _levels(), logging.root.manager.disable
    yield
    for name, level in _levels().items():
        if level != before.get(name, logging.NOTSET):
            logging.getLogger(name or None).setLevel(before.get(name, logging.NOTSET))
    logging.disable(disabled)
