"""A kline file the backtester replays trains and plots too: a bar repeated identically (a
file made of overlapping downloads) is dropped by each reader, as the backtester drops it, and
a repeated open time holding another bar is refused by each, naming it. model.train and the
analysis commands refused the first ("open_time is not strictly increasing")."""

import gzip
from pathlib import Path

import pandas as pd
import pytest

import backtest_trading_strategy as backtest
from analysis import correlation, visualize
from model.inputs import bars_in_time_order
from model.train_data import load_bars
from tests.model.support import WEEK

with gzip.open(WEEK, "rt") as fh:
    ROWS = fh.read().splitlines()[:201]  # the header and the week's first 200 bars


def _file(tmp: Path, extra_row: str) -> Path:
    """The 200 bars with `extra_row` after bar 100 (file line 102)."""
    path = tmp / "BTCUSDT-repeated.csv"
    path.write_text("\n".join([*ROWS[:101], extra_row, *ROWS[101:]]) + "\n")
    return path


def test_a_bar_repeated_identically_is_dropped_by_training_as_by_the_backtester(tmp_path):
    path = _file(tmp_path, ROWS[100])

    bars = load_bars(path, symbol="BTCUSDT", interval="1m", start_ms=None, end_ms=None)

    assert len(bars) == 200 and bars["open_time"].is_monotonic_increasing
    assert backtest.main(["--data", str(path), "--out", str(tmp_path / "o"), "--no-html"]) == 0


@pytest.mark.parametrize("module", [visualize, correlation])
def test_a_bar_repeated_identically_is_dropped_by_the_analysis_commands(
    tmp_path, capsys, monkeypatch, module
):
    monkeypatch.setattr(module, "plot", lambda *_args, **_kwargs: None)
    path = _file(tmp_path, ROWS[100])

    assert module.main(["--data", str(path), "--out", str(tmp_path / "x.png")]) == 0


def test_a_repeated_open_time_with_another_bar_is_refused_naming_it(tmp_path, capsys):
    cells = ROWS[100].split(",")
    other = ",".join([*cells[:4], str(float(cells[4]) + 1), *cells[5:]])  # another close
    path = _file(tmp_path, other)

    assert visualize.main(["--data", str(path), "--out", str(tmp_path / "x.png")]) == 2

    assert capsys.readouterr().err == (
        f"analysis.visualize: error: --data {path}: open time {cells[0]} repeats with another "
        "bar at row 101 (line 102)\n"
    )


def test_a_repeat_of_any_earlier_bar_is_dropped_and_the_rows_put_in_time_order():
    df = pd.DataFrame({"open_time": [1, 2, 3, 2], "close": [5.0, 6.0, 7.0, 6.0]})

    kept, problem = bars_in_time_order(df, ["close"])

    assert problem is None and list(kept["open_time"]) == [1, 2, 3]
    clash = pd.DataFrame({"open_time": [1, 2, 3, 2], "close": [5.0, 6.0, 7.0, 6.5]})
    said = "open time 2 repeats with another bar at row 4 (line 5)"
    assert bars_in_time_order(clash, ["close"])[1] == said
