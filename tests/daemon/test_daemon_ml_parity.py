"""Live/batch parity of the ML strategy (issue 10 acceptance): the daemon runs the shipped model
on the local exchange and logs, per closed bar, the bar and the features it computed live
(`journal/features.csv`); offline, `model.features.compute_features` (the vectorized batch
form used for training and backtests) recomputes them from the same bars: identical to 1e-9.
The logged bars are checked against the exchange's own klines over REST, and the logged
probabilities against the decisions the daemon journaled."""

import json
import re
import signal
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from model import features
from model.live import load_linear_model, read_feature_log
from runtime.settings import resolve_model_path
from tests.daemon.harness import (
    exchange_process,
    journal_rows,
    start_daemon,
    wait_for,
    write_config,
)
from tests.daemon.shared_runs import run_once

MODEL = resolve_model_path("models/btcusdt-1m")
WARM = 301  # LogisticRegressionStrategy.warmup_bars: REST history first, then the stream
DECISIONS = "SELECT payload FROM events WHERE kind = 'DecisionMade' ORDER BY seq"
ML_FAST = {
    "execution": {"heartbeat_s": 2.0},
    "strategy": {"name": "logistic_regression", "model_path": MODEL, "log_features": True},
}


def _klines(rest_url: str, start_ms: int, end_ms: int) -> list[list]:
    """The exchange's 1m klines in [start, end], over REST like any client (127.0.0.1)."""
    out: list[list] = []
    while start_ms <= end_ms:
        url = (
            f"{rest_url}/fapi/v1/klines?symbol=BTCUSDT&interval=1m"
            f"&startTime={start_ms}&endTime={end_ms}&limit=1500"
        )
        with urllib.request.urlopen(url, timeout=10) as resp:
            page = json.loads(resp.read())
        if not page:
            break
        out.extend(page)
        start_ms = int(page[-1][0]) + 60_000
    return out


def _lines(path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh) - 1  # the header


def _run_daemon(workdir, live_bars: int):
    """Run the daemon on a 60x local exchange until it has logged `live_bars` bars from the
    stream after its warm-up (1m klines: the exchange's clock is the wall clock, so a live
    bar closes once a minute) and journaled a decision; then stop it (SIGINT) as a user does.
    Returns (feature log, the exchange's klines over the logged span, the daemon's stdout)."""
    with exchange_process(speed=60, admin=False) as ex:
        write_config(workdir, ex, **ML_FAST)
        daemon = start_daemon(workdir, "--duration", "170")
        csv = workdir / "journal" / "features.csv"
        try:
            # Generous limits: they only matter on a loaded machine (it takes ~8 s alone).
            wait_for(lambda: _lines(csv) >= WARM + live_bars, 90 + 65 * live_bars, "bars")
            wait_for(lambda: journal_rows(workdir, DECISIONS), 60, "a decision journaled")
        finally:
            daemon.send_signal(signal.SIGINT)
            out, err = daemon.communicate(timeout=60)
        assert daemon.returncode == 0, err[-2000:]
        log = read_feature_log(csv)
        first, last = int(log["open_time_ms"].iloc[0]), int(log["open_time_ms"].iloc[-1])
        return log, _klines(ex.rest_url, first, last), out


def _check_parity(workdir, log, rest, out: str, live_bars: int) -> None:
    model = load_linear_model(MODEL)
    names = list(features.FEATURE_NAMES)
    live = log[names].to_numpy()
    assert len(log) >= WARM + live_bars, f"only {len(log)} bars logged: {out[-1500:]}"
    opens = log["open_time_ms"].to_numpy()
    steps = np.flatnonzero(np.diff(opens) != 60_000)
    assert not len(steps), f"bars missed or repeated after {opens[steps].tolist()}: {out[-1500:]}"

    # The bars the daemon saw are the exchange's klines (OHLCV, to the last digit).
    by_open = {int(k[0]): k for k in rest}
    for row in log.itertuples(index=False):
        k = by_open.get(row.open_time_ms)
        assert k is not None, f"bar {row.open_time_ms} is not among the exchange's klines"
        got = [row.open, row.high, row.low, row.close, row.volume]
        assert [float(x) for x in k[1:6]] == got, (row.open_time_ms, k)

    # Offline: the batch form over the same bars.
    batch = features.compute_features(log, flow=model.flow)[names].to_numpy()
    assert np.isnan(live[: features.WARMUP_BARS - 1]).all()
    assert np.isnan(batch[: features.WARMUP_BARS - 1]).all()
    done = slice(features.WARMUP_BARS - 1, None)
    assert not np.isnan(live[done]).any()
    np.testing.assert_allclose(live[done], batch[done], rtol=0, atol=1e-9)

    # The decisions the daemon journaled carry the probabilities of those rows.
    reasons = [
        json.loads(p)["reason"]
        for (p,) in journal_rows(workdir, DECISIONS)
        if json.loads(p)["strategy"] == "logistic_regression"
        and json.loads(p)["reason"] != "re-price"  # a limit order following the book
    ]
    assert reasons, "no decision journaled"
    offline = [model.predict_proba(list(r)) for r in batch[done]]
    i_buy, i_sell = model.classes.index(1), model.classes.index(-1)
    seen = {f"p_buy={p[i_buy]:.3f} p_sell={p[i_sell]:.3f}" for p in offline}
    for reason in reasons:
        head = re.match(r"p_buy=\S+ p_sell=\S+", reason)
        assert head is not None and head.group(0) in seen, reason


def _warm_up_session(workdir) -> dict[str, Any]:
    """`_run_daemon` with no live bar: the exchange's klines over the logged span and the
    daemon's stdout (its feature log and its log file stay in `workdir`)."""
    _log, rest, out = _run_daemon(workdir, live_bars=0)
    return {"rest": rest, "out": out}


@pytest.fixture
def warm_up_session(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """One such session for this run (the two tests below read it): shared_runs."""
    return run_once(tmp_path_factory, "ml-warm-up", _warm_up_session)


@pytest.mark.shared_session("ml_warm_up")
def test_features_computed_by_the_running_daemon_equal_the_batch_form(warm_up_session):
    """Bounded (~15 s): the bars of the daemon's warm-up (REST klines from the exchange), run
    through the daemon's live feature code, against the batch form."""
    workdir, run = warm_up_session
    log = read_feature_log(workdir / "journal" / "features.csv")
    _check_parity(workdir, log, run["rest"], run["out"], live_bars=0)


@pytest.mark.slow
@pytest.mark.timeout(360)  # its own waits: 220 s for the bars, 60 for a decision, 60 to stop
def test_features_of_live_stream_bars_equal_the_batch_form(tmp_path):
    """Up to ~2.5 min: two more bars from the kline stream (one a minute, wall clock)."""
    log, rest, out = _run_daemon(tmp_path, live_bars=2)
    _check_parity(tmp_path, log, rest, out, live_bars=2)


@pytest.mark.shared_session("ml_warm_up")
def test_the_daemon_logs_which_model_file_it_trades_and_its_sha256(warm_up_session):
    # `strategy.model_path` names a registry: which version traded was nowhere in the log.
    import hashlib

    from model.registry import promoted

    workdir, _run = warm_up_session

    model_file = promoted(Path(MODEL))
    assert model_file is not None
    sha = hashlib.sha256(model_file.read_bytes()).hexdigest()
    text = (workdir / "logs" / "trading_engine.log").read_text()
    said = re.search(
        r"strategy logistic_regression: model (\S+) \(sha256 (\w+), registry version (\S+)\)", text
    )
    assert said is not None, text[-2000:]
    assert Path(said.group(1)).resolve() == model_file.resolve()
    assert said.group(2) == sha and said.group(3) == model_file.parent.name
