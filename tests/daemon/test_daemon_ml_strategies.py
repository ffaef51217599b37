"""The other strategies the config can name run in the daemon too: `strategy.name = "rsi_macd"`
trades the local exchange and its books end identical to the exchange's."""

import json

import pytest

from tests.daemon.harness import exchange_process, journal_rows, start_daemon, write_config

# 1 s bars from trades and short periods (warm-up 8 bars): decisions within seconds.
RSI_MACD_FAST = {
    "execution": {"heartbeat_s": 5.0, "bar_source": "trades"},
    "strategy": {
        "name": "rsi_macd",
        "bar_interval": "1s",
        "rsi_period": 5,
        "macd_fast": 3,
        "macd_slow": 6,
        "macd_signal": 3,
    },
}


@pytest.mark.slow
def test_rsi_macd_chosen_in_the_config_trades_and_ends_identical_to_the_exchange(tmp_path):
    with exchange_process(speed=20, admin=False) as ex:
        write_config(tmp_path, ex, **RSI_MACD_FAST)
        daemon = start_daemon(tmp_path, "--duration", "20")
        out, err = daemon.communicate(timeout=90)
    assert daemon.returncode == 0, err[-2000:]
    assert "trading BTCUSDT (rsi_macd)" in out

    summary = json.loads((tmp_path / "journal" / "summary.json").read_text())
    assert summary["fills"] >= 1 and summary["final_differences"] == 0, out[-1500:]
    decisions = [
        json.loads(p)
        for (p,) in journal_rows(tmp_path, "SELECT payload FROM events WHERE kind = 'DecisionMade'")
    ]
    ours = [d for d in decisions if d["strategy"] == "rsi_macd"]
    assert ours and all(d["reason"].startswith("rsi5=") for d in ours)


def test_a_flow_model_on_the_local_exchange_is_warned_about_at_start(tmp_path):
    """The local exchange's taker buy volume and trade counts are synthesized from 1m OHLCV:
    a model trained with the flow features was accepted there in silence."""
    from model.registry import resolve_model_path
    from tests.daemon.harness import ROOT

    doc = json.loads(resolve_model_path(ROOT / "models/btcusdt-1m").read_text())
    doc["feature_config"]["flow"] = True
    flow_model = tmp_path / "flow-model.json"
    flow_model.write_text(json.dumps(doc))
    with exchange_process(speed=20, admin=False) as ex:
        write_config(tmp_path, ex, strategy={"model_path": str(flow_model)})
        daemon = start_daemon(tmp_path, "--duration", "2")
        out, err = daemon.communicate(timeout=90)

    assert daemon.returncode == 0, err[-2000:]
    warning = (
        "WARNING: strategy logistic_regression uses the taker-flow features (taker buy volume, "
        "trade count), and the local exchange synthesizes them: "
    )
    [line] = [x for x in out.splitlines() if x.startswith(warning)]
    assert line.endswith("judge it on Binance's own data (--mode testnet)")
    assert line in (tmp_path / "logs" / "trading_engine.log").read_text()
