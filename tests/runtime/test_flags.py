"""Every command line's usage error: a key pasted into the wrong flag is not printed back."""

import importlib

import pytest

from runtime.flags import SecretSafeParser

KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"  # Binance's shape
SHOWN = "<not shown: looks like a secret>"
TRAIN = ["--data", "d.csv", "--symbol", "BTCUSDT", "--interval", "1m", "--out", "m"]
FETCH = ["--symbol", "BTCUSDT", "--kind", "klines", "--start", "2025-05-05", "--end", "2025-05-06"]


def test_the_parser_hides_a_secret_shaped_value_and_a_urls_password(capsys):
    parser = SecretSafeParser(prog="tool")
    parser.add_argument("--side", choices=("BUY", "SELL"))
    parser.add_argument("--url", type=int)

    with pytest.raises(SystemExit) as refused_key:
        parser.parse_args(["--side", KEY])
    key_line = capsys.readouterr().err.splitlines()[-1]
    with pytest.raises(SystemExit) as refused_url:
        parser.parse_args(["--url", "http://me:hunter2@proxy:8080"])
    url_line = capsys.readouterr().err.splitlines()[-1]

    assert refused_key.value.code == refused_url.value.code == 2
    assert key_line == (
        f"tool: error: argument --side: invalid choice: '{SHOWN}' (choose from 'BUY', 'SELL')"
    )
    assert (
        url_line == "tool: error: argument --url: invalid int value: 'http://<redacted>@proxy:8080'"
    )


@pytest.mark.parametrize(
    ("module", "argv", "said"),
    [
        (
            "backtest_trading_strategy",
            ["--data", "d.csv", "--out", "o", "--fill-mode", KEY],
            "fill mode must be through or touch, not",
        ),
        ("fetch_historical", ["--kind", KEY], "argument --kind: invalid choice"),
        ("fetch_historical", [*FETCH, "--base-url", KEY], "--base-url: not an http(s) URL"),
        ("backtest_trading_strategy", ["--data", "d.csv", "--out", "o", "--symbol", KEY], "symbol"),
        ("exchange_sim.__main__", ["--port", KEY], "argument --port: port must be 0..65535"),
        ("model.train", ["--interval", KEY], "argument --interval: invalid choice"),
        ("model.review", ["--metric", KEY], "argument --metric: invalid choice"),
        ("analysis.pnl", ["--trades", "t.csv", "--out", "p.png", KEY], "unrecognized arguments"),
        (
            "analysis.visualize",
            ["--data", "d.csv", "--out", "p.png", KEY],
            "unrecognized arguments",
        ),
        (
            "analysis.correlation",
            ["--data", "d.csv", "--out", "p.png", KEY],
            "unrecognized arguments",
        ),
        ("book_keeper.export", ["--journal", "j", "--out", "o", KEY], "unrecognized arguments"),
        ("backtest.parity", ["journal", KEY], "unrecognized arguments"),
        # refused after parsing, by the tool's own checks
        ("model.train", [*TRAIN, "--start", KEY], "bad time"),
        (
            "analysis.correlation",
            ["--data", "d.csv", "--out", "p.png", "--horizons", KEY],
            "--horizons",
        ),
        ("analysis.visualize", ["--data", KEY, "--out", "p.png"], "no such file"),
        ("book_keeper.export", ["--journal", KEY, "--out", "o"], "no journal at"),
        ("backtest.parity", [KEY], "no journal at"),
        ("model.review", ["--registry", KEY, "--list"], "no such registry"),
    ],
)
def test_each_tool_says_what_it_refused_without_the_key(
    capsys, tmp_path, monkeypatch, module, argv, said
):
    monkeypatch.chdir(tmp_path)  # nothing a tool might write lands in the project
    main = importlib.import_module(module).main

    try:
        status = main(argv)
    except SystemExit as e:
        status = e.code

    out, err = capsys.readouterr()
    assert status == 2
    assert said in err and SHOWN in err
    assert KEY[:20] not in out + err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("module", "argv", "flag"),
    [
        ("book_keeper.export", ["--journal", "j", "--out", ""], "--out"),
        ("book_keeper.export", ["--journal", "", "--out", "o"], "--journal"),
        ("backtest.parity", ["j", "--out", ""], "--out"),
        ("backtest.parity", [""], "journal"),
        ("model.train", [*TRAIN[:-1], ""], "--out"),
        ("model.train", [*TRAIN, "--holdout-days", "1", "--backtest-out", ""], "--backtest-out"),
        ("model.review", ["--registry", "", "--list"], "--registry"),
        ("model.review", ["--registry", "r", "--data", "", "--train-days", "1"], "--data"),
        ("fetch_historical", [*FETCH, "--out", ""], "--out"),
        # the analysis tools said `--data .: no such file` (Path("") is the working
        # directory), and `analysis.pnl --journal ""` read the journal found there
        ("analysis.pnl", ["--journal", "", "--out", "p.png"], "--journal"),
        ("analysis.pnl", ["--trades", "t.csv", "--out", ""], "--out"),
        ("analysis.visualize", ["--data", "", "--out", "p.png"], "--data"),
        ("analysis.visualize", ["--data", "d.csv", "--signals", "", "--out", "p.png"], "--signals"),
        ("analysis.correlation", ["--data", "", "--out", "p.png"], "--data"),
    ],
)
def test_each_tool_refuses_an_empty_path(capsys, tmp_path, monkeypatch, module, argv, flag):
    """`--out "$OUT"` with OUT unset named the working directory: `book_keeper.export`
    replaced an orders.csv there, `model.train` and `backtest.parity` wrote their files in
    it. One usage line, exit 2, nothing written."""
    monkeypatch.chdir(tmp_path)
    main = importlib.import_module(module).main

    try:
        status = main(argv)
    except SystemExit as e:
        status = e.code

    last_line = capsys.readouterr().err.splitlines()[-1]
    assert status == 2
    assert last_line.endswith(
        f"error: argument {flag}: an empty path (a file or folder name was expected)"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "module",
    [
        "backtest_trading_strategy",
        "model.review",
        "model.train",
        "fetch_historical",
        "analysis.pnl",
        "analysis.visualize",
        "analysis.correlation",
    ],
)
def test_each_offline_tool_tells_a_flag_mistake_in_one_line(capsys, tmp_path, monkeypatch, module):
    """The backtester and model.review printed their whole usage (~20 lines) before the
    error, pushing it off a small terminal; the other tools print the one line."""
    monkeypatch.chdir(tmp_path)
    main = importlib.import_module(module).main

    try:
        status = main(["--no-such-flag"])
    except SystemExit as e:
        status = e.code

    err = capsys.readouterr().err
    assert status == 2
    assert len(err.splitlines()) == 1 and ": error: " in err, err
