"""Whatever a user types after `backtest_trading_strategy.py --data FILE --out DIR`: a run
(exit 0, summary.json written) or one line on stderr and exit 2 (argparse's usage and its
one error line for a value of the wrong type), never a traceback.

`test_cli_inputs.py` names each refusal by hand. Here hypothesis draws the options a user sets
(numbers in range and out of it, negative, zero, huge, words where numbers go, the latency
forms, strategy parameters as `--param KEY=VALUE`, times as ms and ISO dates, the strategy's
name, Monte Carlo runs) on 300 real 1m bars, and requires one of the two answers.
"""

import gzip
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import backtest_trading_strategy as cli
from tests.backtest.test_cli import KLINES

with gzip.open(KLINES, "rt") as fh:
    ROWS = fh.read().splitlines()[:301]  # the header and 300 bars
FIRST_MS, LAST_MS = int(ROWS[1].split(",")[0]), int(ROWS[-1].split(",")[0])

_NUMBERS = st.sampled_from(
    ["0", "1", "2", "3", "7", "50", "-1", "0.5", "1e3", "1e400", "nan", "inf", "", "x", "10000"]
)
_MS = st.one_of(
    st.integers(FIRST_MS - 10 * 60_000, LAST_MS + 10 * 60_000).map(str),
    st.sampled_from(["2025-05-05", "2025-05-05T01:00", "2025-05-05T01:00:00Z", "yesterday", "-5"]),
)
_LATENCY = st.one_of(
    _NUMBERS,
    st.sampled_from(
        [
            "lognormal:median=20,sigma=0.5",
            "lognormal:median=-1,sigma=0.5",
            "lognormal:sigma=0.5",
            "empirical:5,10,20",
            "empirical:",
            "empirical:a,b",
            "uniform:1,2",
        ]
    ),
)
_PARAM = st.tuples(
    st.sampled_from(["fast", "slow", "order_notional_usdt", "allow_short", "bogus", ""]),
    st.sampled_from(["3", "20", "0", "-2", "true", "1000", "'x'", "[1, 2]", "1.5", ""]),
).map(lambda kv: f"{kv[0]}={kv[1]}")
_OPTIONS = {
    "--fees": st.sampled_from(["0.0002,0.0005", "0,0", "-0.0001,0.0004", "0.5,0.5", "1", "a,b"]),
    "--latency-ms": _NUMBERS,
    "--slippage-bps": _NUMBERS,
    "--balance": _NUMBERS,
    "--fast": _NUMBERS,
    "--slow": _NUMBERS,
    "--notional": _NUMBERS,
    "--leverage": _NUMBERS,
    "--seed": _NUMBERS,
    "--start": _MS,
    "--end": _MS,
    "--latency": _LATENCY,
    "--ack-latency": _LATENCY,
    "--fill-mode": st.sampled_from(["through", "touch", "never"]),
    "--strategy": st.sampled_from(["sma_crossover", "rsi_macd", "nope", "nope.py:Nope"]),
    "--param": _PARAM,
    "--monte-carlo": st.sampled_from(["0", "2", "-1", "x"]),
    "--funding": st.sampled_from(["none", "auto", "missing.csv"]),
}
_FLAGS = ["--no-stops", "--no-fast-path", "--no-warm"]


@st.composite
def _argv(draw: st.DrawFn) -> list[str]:
    argv: list[str] = []
    for name in draw(st.lists(st.sampled_from(sorted(_OPTIONS)), max_size=4, unique=True)):
        argv += [name, draw(_OPTIONS[name])]
    argv += draw(st.lists(st.sampled_from(_FLAGS), max_size=2, unique=True))
    return argv


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "klines.csv"
    path.write_text("\n".join(ROWS) + "\n")
    return path


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(argv=_argv())
def test_any_options_give_a_run_or_one_line_and_exit_2(data, capsys, argv):
    with TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        capsys.readouterr()
        try:
            rc = cli.main(
                ["--data", str(data), "--out", str(out), "--no-progress", "--no-html", *argv]
            )
        except SystemExit as e:  # argparse's refusal of a value of the wrong type
            err = capsys.readouterr().err
            assert e.code == 2 and "Traceback" not in err, err
            assert ": error: argument " in err.splitlines()[-1], err
            event("refused by argparse")
            return
        err = capsys.readouterr().err
        assert "Traceback" not in err, err
        event(f"exit {rc}")
        if rc == 0:
            assert (out / "summary.json").is_file()
        else:
            assert rc == 2, (rc, err)
            lines = [line for line in err.splitlines() if line.strip()]
            assert len(lines) == 1, err
