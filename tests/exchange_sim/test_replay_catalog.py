"""Named bundled data sets and user data directories resolve to the right files."""

import shutil

import pytest

from exchange_sim.replay.catalog import (
    BUNDLED,
    DEFAULT_DATASET,
    bundled,
    load_dataset,
    resolve,
    spec_from_directory,
)
from exchange_sim.replay.grid import DATA_DIR
from exchange_sim.replay.timeline import MarketReplay


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_bundled_spec_points_at_existing_files(name):
    spec = BUNDLED[name]
    paths = [
        *spec.trades.values(),
        *spec.book_ticker.values(),
        *(p for ps in spec.raw_ws.values() for p in ps),
        *spec.klines.values(),
        *(p for pair in spec.funding.values() for p in pair if p),
    ]

    assert paths
    assert all((DATA_DIR / p).is_file() for p in paths)


def test_default_data_set_has_recorded_trades_for_both_symbols():
    ds = bundled(DEFAULT_DATASET)

    assert ds.symbols == ("BTCUSDT", "ETHUSDT")
    assert ds.recorded
    assert (len(ds.trades["BTCUSDT"]), len(ds.trades["ETHUSDT"])) == (21313, 14076)
    assert "BTCUSDT" in ds.snapshots
    assert set(ds.book_ticker) == {"BTCUSDT", "ETHUSDT"}


def test_bundled_data_set_is_loaded_once():
    assert bundled("klines-week") is bundled("klines-week")


def test_unknown_bundled_name_is_a_key_error():
    with pytest.raises(KeyError):
        bundled("nope")


def test_user_directory_laid_out_like_the_bundle_is_discovered(tmp_path):
    for rel in (
        "trades/ETHUSDT-um-trades-2024-08-08T2354_2400.csv.gz",
        "klines/ETHUSDT-um-1m-2025-05-05_2025-05-11.csv.gz",
        "funding/ETHUSDT-um-8h-funding_rate-2025-03-06_2025-06-15.csv.gz",
        "funding/ETHUSDT-um-8h-mark-2025-03-06_2025-06-15.csv.gz",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA_DIR / rel, tmp_path / rel)

    spec = spec_from_directory(tmp_path)

    assert spec.symbols == ("ETHUSDT",)
    assert spec.trades == {"ETHUSDT": "trades/ETHUSDT-um-trades-2024-08-08T2354_2400.csv.gz"}
    assert spec.funding["ETHUSDT"][1] == "funding/ETHUSDT-um-8h-mark-2025-03-06_2025-06-15.csv.gz"


def test_user_directory_with_only_klines_replays_synthesized_trades(tmp_path):
    rel = "klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
    (tmp_path / "klines").mkdir()
    shutil.copy(DATA_DIR / rel, tmp_path / rel)

    replay = MarketReplay(resolve(str(tmp_path)))

    events = replay.step()
    assert events and all(getattr(e, "synthesized", True) for e in events)
    assert len(replay.history("BTCUSDT")) == 1440


def test_user_directory_instruments_file_is_used(tmp_path):
    rel = "trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"
    (tmp_path / "trades").mkdir()
    shutil.copy(DATA_DIR / rel, tmp_path / rel)
    # a tick of 1.00 puts the recorded 61800.30 off the grid: proves the local file is read
    text = (
        (DATA_DIR / "instruments.json")
        .read_text()
        .replace('"tickSize": "0.10"', '"tickSize": "1.00"')
    )
    (tmp_path / "instruments.json").write_text(text)

    with pytest.raises(ValueError):
        load_dataset(spec_from_directory(tmp_path))


def test_missing_directory_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError):
        resolve(str(tmp_path / "absent"))


def test_empty_directory_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError):
        spec_from_directory(tmp_path)
