"""Smoke test of bench/bench_daemon_memory.py: a few replayed minutes against a real local
exchange process and a real `python app.py`, figures printed; the arithmetic it reports with.
No memory or timing assertions."""

import argparse
import contextlib
import re
import sqlite3

import pytest

from tests.bench.support import load_bench

bench = load_bench("bench_daemon_memory")


@pytest.mark.parametrize("active", [False, True], ids=["default", "active"])
def test_a_short_replay_prints_the_memory_figures(capsys, tmp_path, active):
    status = bench.main(
        [
            *(["--active"] if active else []),
            "--hours",
            "0.4",
            "--speed",
            "480",
            "--warmup-hours",
            "0.1",
            "--sample-s",
            "0.5",
            "--print-every-hours",
            "0.2",
            "--keep",
            str(tmp_path / "run"),
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    line = next(line for line in out.splitlines() if line.startswith("daemon RSS:"))
    assert re.search(r"[\d.]+ MiB after the warm-up .* peak [\d.]+ MiB", line)
    assert "MiB per replayed hour" in line
    assert "target <= 150 MiB and < 1 MiB/h" in line
    assert "exit status 0" in out  # the daemon stopped cleanly on SIGTERM
    assert "journal:" in out
    assert (tmp_path / "run" / "config.toml").read_text().count("127.0.0.1") == 2


def _sample(hours: float, mib: float) -> object:
    return bench.Sample(wall_s=hours * 7.5, replay_h=hours, rss_mib=mib, cpu_s=0.0)


def test_slope_is_mib_per_replayed_hour():
    flat = [_sample(h, 60.0) for h in (1, 2, 3, 4)]
    assert bench.slope_per_hour(flat) == 0.0
    growing = [_sample(h, 60.0 + 0.5 * h) for h in (1, 2, 3, 4)]
    assert abs(bench.slope_per_hour(growing) - 0.5) < 1e-9
    assert bench.slope_per_hour(growing[:1]) == 0.0


def test_summary_uses_samples_after_the_warm_up_and_the_heartbeats():
    args = argparse.Namespace(warmup_hours=2.0, speed=480.0)
    samples = [_sample(0.5, 80.0), _sample(2.0, 60.0), _sample(3.0, 61.0), _sample(4.0, 62.0)]
    heartbeat = (
        "application running | equity 10,000.00 USDT | position flat | open orders 0 | "
        "realized 0.00 | unrealized 0.00 | fills {fills} | stream lag {lag} ms | state ACTIVE"
    )
    lines = bench.summarize(
        args,
        samples,
        62.5,
        [heartbeat.format(fills=0, lag=3), heartbeat.format(fills=2, lag=1)],
        ["2025-05-06T00:00:00Z  BTCUSDT 94000.1 (aggTrade 100, synthesized)  ws clients 2"] * 2,
        0,
    )
    assert lines[0].startswith("daemon RSS: 60.0 MiB after the warm-up (2.0 h replayed)")
    assert "62.0 MiB at the end (4.0 h), peak 80.0 MiB (VmHWM 62.5 MiB)" in lines[0]
    assert "slope after the warm-up +1.000 MiB per replayed hour (3 samples) [ABOVE" in lines[0]
    assert "median 3 ms, max 3 ms, last 1 ms; fills 2" in lines[2]


def test_footprint_reads_the_journal_files_and_rows_and_growth_is_per_wall_hour(tmp_path):
    journal = tmp_path / "journal"
    (journal / "market").mkdir(parents=True)
    (journal / "market" / "session-1.jsonl.gz").write_bytes(b"x" * 2_000_000)
    (journal / "journal.wal").write_bytes(b"w" * 1_000)
    with contextlib.closing(sqlite3.connect(journal / "journal.sqlite3")) as db:
        for table in bench.JOURNAL_TABLES:
            db.execute(f"CREATE TABLE {table} (x)")
        db.executemany("INSERT INTO fills VALUES (?)", [(k,) for k in range(3)])
        db.commit()

    f = bench.footprint(tmp_path, None)

    assert (f["fds"], f["market"], f["journal_wal"], f["fills"], f["orders"]) == (
        -1,
        2_000_000,
        1_000,
        3,
        0,
    )
    assert "market 2.00 MB" in bench.footprint_line(f)
    later = {**f, "market": 3_000_000, "fills": 5}
    line = bench.growth_line(f, later, wall_s=1800.0)
    assert "market +2.00 MB" in line and "fills +4" in line


def test_cost_per_item_is_the_daemons_cpu_over_its_items_first_and_last_tenth():
    def s(items: int, cpu_s: float) -> object:
        return bench.Sample(
            wall_s=0.0, replay_h=0.0, rss_mib=60.0, cpu_s=0.0, items=items, status_cpu_s=cpu_s
        )

    # 20 heartbeats 1,000 items apart: 10 us an item at first, 20 us at the end; the two
    # samples taken before the first heartbeat are left out
    cpu = [1.0 + 0.01 * k for k in range(10)] + [1.09 + 0.02 * k for k in range(1, 11)]
    samples = [s(-1, -1.0), s(-1, -1.0)] + [s(1_000 * k, c) for k, c in enumerate(cpu)]

    first, last = bench.cost_per_item(samples)

    assert abs(first - 10.0) < 1e-6 and abs(last - 20.0) < 1e-6
    assert bench.cost_per_item(samples[:4]) is None  # too few to tell
