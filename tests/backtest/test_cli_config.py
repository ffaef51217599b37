"""`--config PATH`: the backtest runs what `python app.py --config PATH` trades (its symbol,
[strategy] with its parameters, [risk], [local] starting balance), the flags over the file;
what a backtest cannot run is one line and exit 2, before anything is read or written."""

import json
from pathlib import Path

import pytest

import backtest_trading_strategy as cli

ROOT = Path(__file__).resolve().parents[2]
KLINES = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
ETH_KLINES = ROOT / "exchange_sim/data/klines/ETHUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
WINDOW = ["--start", "2025-05-06", "--end", "2025-05-06T03:00", "--no-progress", "--no-html"]
OWN = "tests.trading_engine.test_strategy_of_your_own:HoldLong"


def settings_run(tmp_path: Path, config: str, *flags: str, data: Path = KLINES) -> dict:
    """Run with `config` as the --config file; summary.json's settings."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(config)
    out = tmp_path / "out"
    argv = ["--data", str(data), "--config", str(cfg), *WINDOW, *flags, "--out", str(out)]
    assert cli.main(argv) == 0
    return json.loads((out / "summary.json").read_text())["settings"]


def refusal(tmp_path: Path, capsys, config: str, *flags: str) -> str:
    """Run with `config`: exit 2 and nothing written; the one line on stderr."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(config)
    argv = ["--data", str(KLINES), "--config", str(cfg), *WINDOW, *flags]
    assert cli.main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
    [line] = capsys.readouterr().err.splitlines()
    return line


def test_the_configs_strategy_runs_with_its_parameters(tmp_path):
    settings = settings_run(
        tmp_path,
        '[strategy]\nname = "rsi_macd"\nrsi_period = 7\norder_notional_usdt = 300\n'
        "allow_short = false\n",
    )

    assert settings["strategy"] == "rsi_macd"
    params = settings["strategy_params"]
    assert (params["rsi_period"], params["order_notional_usdt"]) == (7, "300")
    assert params["allow_short"] is False
    assert (params["macd_fast"], params["macd_slow"]) == (12, 26)  # the daemon's defaults


def test_the_configs_strategy_of_your_own_gets_its_strategy_params(tmp_path):
    settings = settings_run(
        tmp_path, f'[strategy]\nname = "{OWN}"\n[strategy.params]\nqty = "0.002"\nwarm_up = 4\n'
    )

    assert settings["strategy"] == OWN
    assert settings["strategy_params"]["qty"] == "0.002"
    assert settings["strategy_params"]["order_notional_usdt"] == "200"  # the daemon's default


def test_the_flags_override_the_config(tmp_path):
    settings = settings_run(
        tmp_path,
        '[strategy]\nname = "sma_crossover"\nfast_period = 5\nslow_period = 20\n'
        "order_notional_usdt = 300\n",
        "--slow",
        "30",
        "--notional",
        "400",
    )

    params = settings["strategy_params"]
    assert (params["fast"], params["slow"], params["order_notional_usdt"]) == (5, 30, "400")


def test_another_strategy_on_the_command_line_takes_none_of_the_configs_own_params(tmp_path):
    settings = settings_run(
        tmp_path,
        f'[strategy]\nname = "{OWN}"\nfast_period = 4\nslow_period = 9\n'
        '[strategy.params]\nqty = "0.002"\n',
        "--strategy",
        "sma_crossover",
    )

    assert settings["strategy"] == "sma_crossover"
    params = settings["strategy_params"]
    assert (params["fast"], params["slow"]) == (4, 9) and "qty" not in params


def test_the_configs_symbol_balance_and_order_age_are_used(tmp_path):
    settings = settings_run(
        tmp_path,
        'symbols = ["ETHUSDT"]\n[local]\nstarting_balance_usdt = 5000\n'
        '[risk]\nstale_order_ms = 60000\n[strategy]\nname = "sma_crossover"\nmax_call_ms = 250\n',
        data=ETH_KLINES,
    )

    assert (settings["symbol"], settings["starting_balance"]) == ("ETHUSDT", "5000")
    assert (settings["stale_order_ms"], settings["max_strategy_call_ms"]) == (60000, "250")


def test_symbol_and_balance_flags_override_the_config(tmp_path):
    settings = settings_run(
        tmp_path,
        'symbols = ["ETHUSDT", "BTCUSDT"]\n[local]\nstarting_balance_usdt = 5000\n'
        '[strategy]\nname = "sma_crossover"\n',
        "--symbol",
        "BTCUSDT",
        "--balance",
        "7000",
    )

    assert (settings["symbol"], settings["starting_balance"]) == ("BTCUSDT", "7000")


def test_several_config_symbols_without_symbol_exit_2(tmp_path, capsys):
    line = refusal(tmp_path, capsys, 'symbols = ["BTCUSDT", "ETHUSDT"]\n')

    assert line == (
        f"backtest_trading_strategy.py: error: --config {tmp_path / 'config.toml'}: symbols = "
        "BTCUSDT, ETHUSDT: a backtest trades one symbol; choose it with --symbol"
    )


def test_several_symbols_in_symbol_exit_2_saying_a_backtest_trades_one(tmp_path, capsys):
    """`--symbol BTCUSDT,ETHUSDT`, as the daemon takes it, was refused as the unknown symbol
    'BTCUSDT,ETHUSDT' "the bundled exchangeInfo has BTCUSDT, ETHUSDT"."""
    line = refusal(tmp_path, capsys, "", "--symbol", "BTCUSDT,ETHUSDT")

    assert line == (
        "backtest_trading_strategy.py: error: --symbol BTCUSDT,ETHUSDT: a backtest trades one "
        "symbol; run one backtest per symbol, each with its --data"
    )


def test_a_config_of_other_than_1m_bars_exits_2(tmp_path, capsys):
    line = refusal(
        tmp_path,
        capsys,
        '[strategy]\nname = "sma_crossover"\nbar_interval = "5m"\n',
    )

    assert line == (
        f"backtest_trading_strategy.py: error: --config {tmp_path / 'config.toml'}: "
        'strategy.bar_interval = "5m": the backtester replays 1m bars (a config with '
        'bar_interval = "1m" backtests)'
    )


@pytest.mark.parametrize("flag", ["--fast", "--slow"])
def test_an_sma_flag_for_another_strategy_exits_2(tmp_path, capsys, flag):
    line = refusal(tmp_path, capsys, '[strategy]\nname = "rsi_macd"\n', flag, "5")

    assert line == (
        f"backtest_trading_strategy.py: error: {flag} is for --strategy sma_crossover; "
        "rsi_macd takes "
        "--param KEY=VALUE"
    )


def test_the_model_flag_for_the_configs_rule_based_strategy_exits_2(tmp_path, capsys):
    line = refusal(tmp_path, capsys, '[strategy]\nname = "rsi_macd"\n', "--model", "m.json")

    assert line == (
        "backtest_trading_strategy.py: error: --model is for --strategy logistic_regression; "
        "rsi_macd "
        "takes no model"
    )
