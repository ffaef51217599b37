"""Every offline tool tells a mistake in one form, `tool: error: message` (exit status 2),
whether argparse refused a flag or the tool refused an input: the backtester said
`backtest_trading_strategy.py: error:` for a flag and `backtest_trading_strategy.py:` for the
rest, the analysis tools `python -m analysis.pnl: error:` beside `model.train: error:`, and
`python -m backtest.parity` a bare `error:`."""

import importlib
from pathlib import Path

import pytest

# (module, the name its lines start with, its other required flags but the bad input)
TOOLS = [
    ("backtest_trading_strategy", "backtest_trading_strategy.py", ["--out", "{tmp}/o"]),
    (
        "fetch_historical",
        "fetch_historical.py",
        ["--symbol", "BTCUSDT", "--kind", "klines", "--out", "{tmp}/store"],
    ),
    ("model.train", "model.train", ["--symbol", "BTCUSDT", "--interval", "1m", "--out", "{tmp}"]),
    ("model.review", "model.review", ["--registry", "{tmp}/registry"]),
    ("analysis.pnl", "analysis.pnl", ["--out", "{tmp}/pnl"]),
    ("analysis.correlation", "analysis.correlation", ["--out", "{tmp}/c.png"]),
    ("analysis.visualize", "analysis.visualize", ["--out", "{tmp}/v.png"]),
]
# The input each refuses: a data file that is not there (fetch_historical reads none: its
# --start after its --end).
BAD_INPUT = {
    "fetch_historical": ["--start", "2025-05-02", "--end", "2025-05-01"],
    "model.review": ["--candidate", "{tmp}/missing.json"],
    "analysis.pnl": ["--trades", "{tmp}/missing.csv"],
}


def _run(module: str, argv: list[str], tmp: Path, capsys) -> tuple[int, str]:
    main = importlib.import_module(module).main
    argv = [a.replace("{tmp}", str(tmp)) for a in argv]
    try:
        status = main(argv)
    except SystemExit as e:
        status = e.code
    return status, capsys.readouterr().err


@pytest.mark.parametrize(("module", "name", "required"), TOOLS)
def test_a_flag_the_tool_lacks_is_one_error_line(module, name, required, tmp_path, capsys):
    status, err = _run(module, [*required, "--no-such-flag"], tmp_path, capsys)

    assert status == 2
    assert err.startswith(f"{name}: error: ") and err.count("\n") == 1, err


@pytest.mark.parametrize(("module", "name", "required"), TOOLS)
def test_an_input_the_tool_refuses_is_the_same_error_line(module, name, required, tmp_path, capsys):
    bad = BAD_INPUT.get(module, ["--data", "{tmp}/missing.csv"])

    status, err = _run(module, [*required, *bad], tmp_path, capsys)

    assert status == 2
    assert err.startswith(f"{name}: error: ") and err.count("\n") == 1, err


def test_the_parity_audit_s_flag_and_input_errors_name_it_as_the_others_do(tmp_path, capsys):
    flag = _run("backtest.parity", [str(tmp_path), "--no-such-flag"], tmp_path, capsys)
    journal = _run("backtest.parity", [str(tmp_path / "missing")], tmp_path, capsys)

    assert flag == (2, "backtest.parity: error: unrecognized arguments: --no-such-flag\n")
    assert journal[0] == 2
    assert journal[1] == f"backtest.parity: error: no journal at {tmp_path / 'missing'}\n"
