"""`python app.py` as a user runs it: exit codes and one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_app(*args: str, cwd: Path, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_the_flags(tmp_path):
    result = run_app("--help", cwd=tmp_path)
    assert result.returncode == 0
    for flag in (
        "--mode",
        "--config",
        "--symbol",
        "--duration",
        "--log-level",
        "--log-json",
        "--confirm-live",
        "--keep-orders",
        "--check-config",
    ):
        assert flag in result.stdout


def test_check_config_prints_effective_settings(tmp_path):
    result = run_app("--check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "mode = local" in result.stdout and "symbols = BTCUSDT" in result.stdout
    assert (tmp_path / "logs" / "trading_engine.log").is_file()


def test_bad_config_value_exits_2_with_one_line(tmp_path):
    (tmp_path / "config.toml").write_text("[risk]\nleverage = 500\n")
    result = run_app("--check-config", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "config error: risk.leverage = 500 is not allowed: expected an integer from 1 to 125"
    ]
    assert "Traceback" not in result.stderr


def test_live_mode_needs_confirmation(tmp_path):
    result = run_app("--mode", "live", cwd=tmp_path)
    assert result.returncode == 2
    assert "--confirm-live" in result.stderr and "Traceback" not in result.stderr


def test_testnet_without_keys_exits_2(tmp_path):
    result = run_app("--mode", "testnet", cwd=tmp_path)
    assert result.returncode == 2
    assert "BINANCE_API_KEY is not set" in result.stderr


def test_flags_override_config(tmp_path):
    result = run_app(
        "--check-config",
        "--symbol",
        "ethusdt,BTCUSDT",
        "--duration",
        "30",
        "--log-level",
        "debug",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "symbols = ETHUSDT, BTCUSDT" in result.stdout
    assert "duration_s = 30" in result.stdout
    assert 'logging.level = "DEBUG"' in result.stdout


def test_keys_never_printed(tmp_path):
    key, secret = "k" * 64, "S" * 60 + "abcd"
    result = run_app(
        "--check-config",
        "--mode",
        "testnet",
        cwd=tmp_path,
        env_extra={"BINANCE_API_KEY": key, "BINANCE_API_SECRET": secret},
    )
    assert result.returncode == 0, result.stderr
    assert key not in result.stdout + result.stderr
    assert secret not in result.stdout + result.stderr


def test_local_mode_refuses_a_symbol_the_data_set_lacks(tmp_path):
    result = run_app("--check-config", "--symbol", "SOLUSDT", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "config error: symbols: SOLUSDT not in the local data set klines-week "
        "(it has BTCUSDT, ETHUSDT)"
    ]


def test_local_mode_refuses_an_unknown_data_set(tmp_path):
    (tmp_path / "config.toml").write_text('[local]\ndata = "nope"\n')
    result = run_app("--check-config", cwd=tmp_path)
    assert result.returncode == 2
    assert 'local.data = "nope" is not allowed' in result.stderr
