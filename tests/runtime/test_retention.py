"""`[retention]`: what the daemon keeps besides its journal stays bounded on disk."""

from pathlib import Path

from runtime.retention import keep_newest, keep_within
from runtime.settings import load_settings
from trading_engine.journal_dir import EARLIER_RUNS, earlier_runs
from trading_engine.market_recorder import SESSION_DIR, session_files


def _runs(journal_dir: Path, names: list[str]) -> None:
    for name in names:
        run = journal_dir / EARLIER_RUNS / name
        run.mkdir(parents=True)
        (run / "journal.sqlite3").write_bytes(b"x")


def test_the_defaults_bound_earlier_runs_market_sessions_and_the_feature_log():
    retention = load_settings(None, env_file=None).retention

    assert (retention.earlier_runs, retention.market_sessions) == (10, 10)
    assert retention.market_sessions_mb == 500
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


def test_keep_within_deletes_the_oldest_files_until_the_rest_fit(tmp_path: Path) -> None:
    files = [tmp_path / f"session-{n}.jsonl.gz" for n in (1, 2, 3, 4)]
    for f, size in zip(files, (400, 300, 200, 100), strict=True):
        f.write_bytes(b"x" * size)

    deleted = keep_within(files, 350)  # 1,000 bytes: without the 400 and the 300, 300 are left

    assert deleted == files[:2]
    assert [f.exists() for f in files] == [False, False, True, True]


def test_keep_within_a_budget_below_zero_deletes_them_all(tmp_path: Path) -> None:
    files = [tmp_path / f"session-{n}.jsonl.gz" for n in (1, 2)]
    for f in files:
        f.write_bytes(b"x")

    assert keep_within(files, -1) == files


def test_keep_within_passes_over_a_file_already_gone_without_a_warning(
    tmp_path: Path, caplog
) -> None:
    """The count limit may delete a session the size limit still lists: it frees nothing."""
    files = [tmp_path / f"session-{n}.jsonl.gz" for n in (1, 2, 3)]
    for f in files[1:]:
        f.write_bytes(b"x" * 100)

    deleted = keep_within(files, 150)  # 200 bytes present: the first present one goes

    assert deleted == [files[1]]
    assert files[2].exists()
    assert not [r for r in caplog.records if "cannot delete" in r.getMessage()]
