"""Two kline downloads that overlap, concatenated into one file (in either order), read as the
bars they hold by every tool: the bars repeated identically are dropped and the rest put in
time order, by one rule (`backtest.data.bar_rows`). The tools refused such a file ("rows are
not in time order", "open_time is not strictly increasing"): only a repeat of the bar just
before was dropped."""

import gzip
from pathlib import Path

import numpy as np
import pytest

import backtest_trading_strategy as backtest
from analysis import correlation, visualize
from analysis._common import load_klines as analysis_klines
from backtest.data import RepeatedTime, bar_rows, load
from model.train_data import load_bars
from tests.model.support import WEEK

with gzip.open(WEEK, "rt") as fh:
    HEADER, *BARS = fh.read().splitlines()[:301]  # the header and the week's first 300 bars


def _file(tmp: Path, name: str, rows: list[str]) -> Path:
    path = tmp / f"BTCUSDT-{name}.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def _overlapping(tmp: Path) -> Path:
    """Bars 0-199 and bars 100-299, one download after the other: 100 bars twice."""
    return _file(tmp, "overlap", [*BARS[:200], *BARS[100:]])


def _times() -> list[int]:
    return [int(row.split(",")[0]) for row in BARS]


def test_the_backtester_reads_overlapping_downloads_as_the_bars_they_hold(tmp_path):
    whole = _file(tmp_path, "whole", BARS)

    for path in (_overlapping(tmp_path), _file(tmp_path, "later-first", [*BARS[100:], *BARS])):
        data = load(path)
        assert data.open_time == _times() and data == load(whole)


def test_the_backtest_command_runs_on_overlapping_downloads(tmp_path):
    argv = ["--data", str(_overlapping(tmp_path)), "--out", str(tmp_path / "o"), "--no-html"]
    assert backtest.main(argv) == 0


def test_training_reads_overlapping_downloads_as_the_bars_they_hold(tmp_path):
    bars = load_bars(
        _overlapping(tmp_path), symbol="BTCUSDT", interval="1m", start_ms=None, end_ms=None
    )

    assert list(bars["open_time"]) == _times()


def test_the_analysis_commands_read_overlapping_downloads_as_the_bars_they_hold(tmp_path):
    start = str(_times()[150])

    bars = analysis_klines(_overlapping(tmp_path), start=start, warm_bars=20)

    assert list(bars["open_time"]) == _times()[130:]  # the warm bars are the 20 before


@pytest.mark.parametrize("module", [visualize, correlation])
def test_the_analysis_commands_run_on_overlapping_downloads(tmp_path, monkeypatch, module):
    monkeypatch.setattr(module, "plot", lambda *_args, **_kwargs: None)
    argv = ["--data", str(_overlapping(tmp_path)), "--out", str(tmp_path / "x.png")]
    assert module.main(argv) == 0


def test_bars_out_of_order_are_put_in_time_order():
    times = np.array([3, 1, 2], dtype=np.int64)

    assert bar_rows(times, [["c", "a", "b"]]).tolist() == [1, 2, 0]


def test_an_in_order_file_keeps_its_rows():
    assert bar_rows(np.array([1, 2, 5], dtype=np.int64), [["a", "b", "c"]]) is None


def test_a_repeat_anywhere_later_is_dropped_and_another_bar_at_its_time_refused():
    times = np.array([1, 2, 3, 2, 3, 4], dtype=np.int64)

    assert bar_rows(times, [list("abcbcd")]).tolist() == [0, 1, 2, 5]
    with pytest.raises(RepeatedTime, match=r"^open time 3 repeats with another bar$") as e:
        bar_rows(times, [list("abcbxd")])
    assert e.value.row == 4  # the later of the two, in the file


def test_a_repeated_time_with_another_bar_is_refused_by_every_tool_naming_it(tmp_path, capsys):
    cells = BARS[150].split(",")
    cells[4] = str(float(cells[4]) + 1)  # another close at bar 150's time
    path = _file(tmp_path, "clash", [*BARS[:200], *BARS[100:150], ",".join(cells), *BARS[151:]])
    says = f"open time {cells[0]} repeats with another bar"

    assert backtest.main(["--data", str(path), "--out", str(tmp_path / "o")]) == 2
    assert f"line 252, {says}" in capsys.readouterr().err  # file line 252: data row 251
    assert visualize.main(["--data", str(path), "--out", str(tmp_path / "x.png")]) == 2
    assert capsys.readouterr().err == (
        f"analysis.visualize: error: --data {path}: {says} at row 251 (line 252)\n"
    )
