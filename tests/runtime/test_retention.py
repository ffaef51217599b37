"""`[retention]`: what the daemon keeps besides its journal stays bounded on disk."""

from pathlib import Path

from runtime.retention import keep_newest
from runtime.settings import load_settings
from trading_engine.daemon import EARLIER_RUNS, earlier_runs
from trading_engine.market_recorder import SESSION_DIR, session_files


def _runs(journal_dir: Path, names: list[str]) -> None:
    for name in names:
        run = journal_dir / EARLIER_RUNS / name
        run.mkdir(parents=True)
        (run / "journal.sqlite3").write_bytes(b"x")


def test_the_defaults_bound_earlier_runs_market_sessions_and_the_feature_log():
    retention = load_settings(None, env_file=None).retention

    assert (retention.earlier_runs, retention.market_sessions) == (10, 10)
    assert retention.features_csv_mb == 100


def test_earlier_runs_are_ordered_by_their_utc_stamp_then_their_second_in_the_same_second(
    tmp_path: Path,
) -> None:
    _runs(
        tmp_path,
        ["20261201-120000Z-10", "20261130-235959Z", "20261201-120000Z", "20261201-120000Z-2"],
    )

    got = [p.name for p in earlier_runs(tmp_path)]

    assert got == [
        "20261130-235959Z",
        "20261201-120000Z",
        "20261201-120000Z-2",
        "20261201-120000Z-10",
    ]


def test_keep_newest_deletes_the_oldest_runs_beyond_the_limit(tmp_path: Path) -> None:
    _runs(tmp_path, ["20261129-000000Z", "20261130-000000Z", "20261201-000000Z"])

    deleted = keep_newest(earlier_runs(tmp_path), 2)

    assert [p.name for p in deleted] == ["20261129-000000Z"]
    left = sorted(p.name for p in (tmp_path / EARLIER_RUNS).iterdir())
    assert left == ["20261130-000000Z", "20261201-000000Z"]


def test_keep_newest_with_zero_keeps_everything(tmp_path: Path) -> None:
    files = [tmp_path / f"session-{n}.jsonl.gz" for n in (1, 2, 3)]
    for f in files:
        f.write_bytes(b"x")

    assert keep_newest(files, 0) == []
    assert all(f.exists() for f in files)


def test_keep_newest_deletes_old_files_and_keeps_the_last_ones(tmp_path: Path) -> None:
    files = [tmp_path / f"session-{n}.jsonl.gz" for n in (1, 2, 3)]
    for f in files:
        f.write_bytes(b"x")

    keep_newest(files, 1)

    assert [f.exists() for f in files] == [False, False, True]


def test_the_oldest_market_sessions_go_by_their_start_time_not_their_name(
    tmp_path: Path,
) -> None:
    folder = tmp_path / SESSION_DIR
    folder.mkdir()
    for started in (999, 1000, 20_000):  # by name, "session-999" would sort last
        (folder / f"session-{started}.jsonl.gz").write_bytes(b"x")

    keep_newest(session_files(tmp_path), 2)

    assert sorted(p.name for p in folder.iterdir()) == [
        "session-1000.jsonl.gz",
        "session-20000.jsonl.gz",
    ]
