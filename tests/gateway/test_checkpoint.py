"""FileCheckpoint: durable, atomic, per symbol."""

import pytest

from gateway.checkpoint import FileCheckpoint, StreamCheckpoint


def test_saved_id_is_read_back_by_a_new_instance(tmp_path):
    FileCheckpoint(tmp_path).save("BTCUSDT", 3_000_000_123)

    assert FileCheckpoint(tmp_path).load("BTCUSDT") == 3_000_000_123
    assert FileCheckpoint(tmp_path).load("ETHUSDT") is None


def test_a_crash_mid_write_leaves_the_previous_id(tmp_path):
    checkpoint = FileCheckpoint(tmp_path)
    checkpoint.save("BTCUSDT", 10)
    (tmp_path / ".BTCUSDT.aggtrade.json.999.tmp").write_text('{"symbol": "BTC')  # torn temp file

    assert FileCheckpoint(tmp_path).load("BTCUSDT") == 10


def test_save_replaces_the_file_and_leaves_no_temporary(tmp_path):
    checkpoint = FileCheckpoint(tmp_path)
    checkpoint.save("BTCUSDT", 10)
    checkpoint.save("BTCUSDT", 11)

    assert checkpoint.load("BTCUSDT") == 11
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BTCUSDT.aggtrade.json"]


def test_corrupt_checkpoint_is_an_error_not_a_silent_restart(tmp_path):
    (tmp_path / "BTCUSDT.aggtrade.json").write_text('{"symbol": "BTCUSDT", "last_agg_id": "x"}')

    with pytest.raises(ValueError):
        FileCheckpoint(tmp_path).load("BTCUSDT")


def test_file_checkpoint_implements_the_interface(tmp_path):
    assert isinstance(FileCheckpoint(tmp_path), StreamCheckpoint)
