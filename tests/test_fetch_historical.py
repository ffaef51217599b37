"""fetch_historical.py against the loopback fake exchange: pagination, faults, resume, CLI."""

import argparse
import asyncio
import csv
import gzip
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import fetch_historical
from exchange_sim.server import LocalExchange
from gateway.market_rest import IpBanStop
from market_history.download import DownloadReport, length_text
from market_history.schema import Kind
from market_history.store import HistoryStore
from tests.ctrl_c import ctrl_c_while_importing
from tests.gateway.fake_exchange import FakeBinance, load_agg_trades, load_ohlcv_klines

ROOT = Path(__file__).resolve().parents[1]
M1 = Kind.klines("1m")
OHLCV = ("open", "high", "low", "close", "volume")
START, END = "2025-05-05", "2025-05-08"  # three days, 4320 bars, 3 pages of 1500


@pytest.fixture
async def fake():
    klines = load_ohlcv_klines(rows=3 * 1440 + 60)
    async with FakeBinance(load_agg_trades(), klines=klines) as server:
        server.server_time_ms = klines[-1][0] + 60_000
        yield server


def args(fake, out, *extra: str, kind: str = "klines", start=START, end=END):
    return fetch_historical.parse_args(
        ["--symbol", "BTCUSDT", "--kind", kind, "--start", start, "--end", end,
         "--base-url", fake.base_url, "--out", str(out), "--quiet", *extra]
    )  # fmt: skip


def stored_rows(out) -> list[list]:
    table = HistoryStore(out).read("BTCUSDT", M1, 0, 2**62)
    return [list(r.values()) for r in table.to_pylist()]


def source_rows(fake, days: int = 3) -> list[list]:
    return [r[:11] for r in fake.klines[: days * 1440]]


def klines_calls(fake) -> list[str]:
    return [c for c in fake.rest_calls if "/klines" in c]


async def test_multi_day_range_is_downloaded_identical_to_the_source(fake, tmp_path):
    report = await fetch_historical.run(args(fake, tmp_path))

    assert stored_rows(tmp_path) == source_rows(fake)
    assert len(klines_calls(fake)) == 3 and all("limit=1500" in c for c in klines_calls(fake))
    assert report.gaps == [] and report.duplicates == 0 and report.rows_written == 4320


async def test_injected_429_and_dropped_connection_mid_run_are_survived(fake, tmp_path):
    fake.fault_plan = {3: "429", 4: "drop"}  # the 2nd and 3rd klines requests

    report = await fetch_historical.run(args(fake, tmp_path))

    assert stored_rows(tmp_path) == source_rows(fake)
    assert report.rows_written == 4320
    assert len(klines_calls(fake)) == 5  # 3 pages + the two failed attempts


async def test_interrupted_run_resumes_without_downloading_anything_twice(fake, tmp_path):
    fake.ban_after_requests = 3  # /time, 1st and 2nd page; the 3rd page gets 418
    with pytest.raises(IpBanStop):
        await fetch_historical.run(args(fake, tmp_path))
    first_rows = len(stored_rows(tmp_path))
    fake.banned, fake.ban_after_requests = False, None
    fake.rest_calls.clear()

    report = await fetch_historical.run(args(fake, tmp_path))

    assert first_rows == 3000
    assert report.rows_received == 4320 - 3000 and report.duplicates == 0
    assert f"startTime={fake.klines[3000][0]}&" in klines_calls(fake)[0]
    assert stored_rows(tmp_path) == source_rows(fake)


async def test_second_run_over_a_complete_range_requests_no_data(fake, tmp_path):
    await fetch_historical.run(args(fake, tmp_path))
    fake.rest_calls.clear()

    report = await fetch_historical.run(args(fake, tmp_path))

    assert klines_calls(fake) == [] and report.rows_received == 0


async def test_exchange_gap_and_duplicates_are_reported(fake, tmp_path):
    k = fake.klines
    outage = (k[100][0], k[105][0])
    fake.klines = k[:100] + k[105:700] + [k[699]] + k[700:]  # 5 bars missing, 1 sent twice

    report = await fetch_historical.run(args(fake, tmp_path, end="2025-05-06"))

    assert report.gaps == [outage]
    assert report.duplicates == 1
    assert report.rows_written == 1440 - 5
    assert any("gaps in the exchange data" in line for line in report.lines())


async def test_agg_trades_are_downloaded_by_id_and_resumed(fake, tmp_path):
    fake.published = 1500
    fake.server_time_ms = fake.trades[1499]["T"] + 1
    start, end = fake.trades[0]["T"], fake.trades[1200]["T"]
    span = {"kind": "aggTrades", "start": _iso(start), "end": _iso(end)}

    report = await fetch_historical.run(args(fake, tmp_path, **span))
    again = await fetch_historical.run(args(fake, tmp_path, **span))

    table = HistoryStore(tmp_path).read("BTCUSDT", Kind.agg_trades(), 0, 2**62)
    expected = [t["a"] for t in fake.trades[:1500] if start <= t["T"] < end]
    assert table["agg_id"].to_pylist() == expected
    assert report.gaps == [] and again.rows_received == 0


async def test_rows_received_counts_only_the_trades_in_the_range(fake, tmp_path):
    # The id pages go past --end (1000 trades a page): all 1500 were counted as received.
    fake.published = 1500
    fake.server_time_ms = fake.trades[1499]["T"] + 1
    start, end = fake.trades[0]["T"], fake.trades[1200]["T"]
    in_range = [t for t in fake.trades[:1500] if start <= t["T"] < end]

    report = await fetch_historical.run(
        args(fake, tmp_path, kind="aggTrades", start=_iso(start), end=_iso(end))
    )

    assert report.rows_received == report.rows_written == len(in_range)
    assert report.lines()[0].startswith(f"BTCUSDT aggTrades: {len(in_range)} rows received in ")


def _quiet_hours(fake, after: int, hours: int) -> tuple[int, int]:
    """Trades from index `after` on moved `hours` later: a quiet stretch the ids run across
    (trade `after - 1` directly followed by trade `after`); its [start, end) in ms."""
    shift = hours * 3_600_000
    for t in fake.trades[after:]:
        t["T"] += shift
    fake.published = len(fake.trades)
    fake.server_time_ms = fake.trades[-1]["T"] + 1
    return fake.trades[after - 1]["T"] + 1, fake.trades[after]["T"]


async def test_a_quiet_stretch_the_ids_prove_is_stored_as_done(fake, tmp_path):
    quiet_start, quiet_end = _quiet_hours(fake, after=800, hours=3)
    start, end = quiet_start + 600_000, quiet_end - 600_000  # inside it: no trade at all
    span = {"kind": "aggTrades", "start": _iso(start), "end": _iso(end)}

    report = await fetch_historical.run(args(fake, tmp_path, **span))
    again = await fetch_historical.run(args(fake, tmp_path, **span))

    assert report.rows_received == 0 and report.not_served == []
    assert HistoryStore(tmp_path).missing("BTCUSDT", Kind.agg_trades(), start, end) == []
    assert again.requests == 0


async def test_a_window_before_a_fresh_exchanges_trades_is_not_stored_as_done(tmp_path):
    """The local exchange serves trades from its replay's start only: a window before it was
    answered empty, stored as done with 0 rows, and skipped by every later run."""
    async with LocalExchange(data="klines-week", symbols=["BTCUSDT"], speed="step") as ex:
        await ex.step(20 * 60_000)
        t0 = ex.time_map.exchange_start_ms  # its first trade is at or after this
        before = (t0 - 2 * 3_600_000, t0 - 3_600_000)
        across = (t0 - 3_600_000, t0 + 10 * 60_000)

        def run(span: tuple[int, int]) -> argparse.Namespace:
            return fetch_historical.parse_args(
                ["--symbol", "BTCUSDT", "--kind", "aggTrades", "--start", _iso(span[0]),
                 "--end", _iso(span[1]), "--base-url", ex.rest_url, "--out", str(tmp_path),
                 "--quiet"]
            )  # fmt: skip

        empty = await fetch_historical.run(run(before))
        empty_again = await fetch_historical.run(run(before))
        partial = await fetch_historical.run(run(across))
        partial_again = await fetch_historical.run(run(across))

    store = HistoryStore(tmp_path)
    kind = Kind.agg_trades()
    stored = store.read("BTCUSDT", kind, 0, 2**62)["trade_time"].to_pylist()
    first = stored[0]
    assert t0 <= first < across[1] and partial.rows_written == len(stored) > 0
    assert empty.rows_written == 0 and empty.not_served == [before]
    assert empty_again.requests > 0 and empty_again.resumed_from == []  # asked for again
    assert partial.not_served == [(across[0], first)]
    assert store.missing("BTCUSDT", kind, *across) == [(across[0], first)]
    assert partial_again.rows_written == 0 and partial_again.resumed_from == [(first, across[1])]
    assert any(line.startswith("not served by the exchange") for line in empty.lines())


def local_klines(ex: LocalExchange, out: Path, span: tuple[int, int]) -> argparse.Namespace:
    return fetch_historical.parse_args(
        ["--symbol", "BTCUSDT", "--kind", "klines", "--interval", "1m", "--start",
         _iso(span[0]), "--end", _iso(span[1]), "--base-url", ex.rest_url, "--out", str(out),
         "--quiet"]
    )  # fmt: skip


async def test_a_kline_window_before_a_fresh_exchanges_bars_is_not_stored_as_done(tmp_path):
    """The local exchange serves klines from a day before its replay's start only: a window
    before that (after the symbol's listing) was answered empty, stored as done with 0 rows,
    and skipped by every later run."""
    async with LocalExchange(data="klines-week", symbols=["BTCUSDT"], speed="step") as ex:
        await ex.step(20 * 60_000)
        first = ex.time_map.exchange_start_ms - 86_400_000  # its first bar opens here
        before = (first - 2 * 3_600_000, first - 3_600_000)
        across = (first - 3_600_000, first + 10 * 60_000)

        empty = await fetch_historical.run(local_klines(ex, tmp_path, before))
        empty_again = await fetch_historical.run(local_klines(ex, tmp_path, before))
        partial = await fetch_historical.run(local_klines(ex, tmp_path, across))
        partial_again = await fetch_historical.run(local_klines(ex, tmp_path, across))

    store = HistoryStore(tmp_path)
    stored = store.read("BTCUSDT", M1, 0, 2**62)["open_time"].to_pylist()
    assert stored == [first + 60_000 * i for i in range(10)]
    assert empty.rows_written == 0 and empty.not_served == [before] and empty.gaps == []
    assert empty_again.requests > 0 and empty_again.resumed_from == []  # asked for again
    assert partial.rows_written == 10 and partial.not_served == [(across[0], first)]
    assert store.missing("BTCUSDT", M1, *across) == [(across[0], first)]
    assert partial_again.rows_written == 0 and partial_again.resumed_from == [(first, across[1])]
    assert partial_again.gaps == []  # the part not served is no outage of the exchange's
    assert any(
        line.startswith("not served by the exchange (no bar there, and no bar on both sides")
        for line in empty.lines()
    )


async def test_a_kline_window_before_the_listing_is_stored_as_done(tmp_path):
    """exchangeInfo's onboardDate for BTCUSDT is 1569398400000 (2019-09-25 08:00 UTC): no
    bar can open before it, so an empty answer there is the truth, stored as done (and no
    outage); after it, an empty answer proves nothing (the local exchange's bars start in
    its own week)."""
    listed = 1_569_398_400_000
    before = (listed - 5 * 86_400_000, listed - 86_400_000)  # 2019-09-20 to 09-24 08:00
    across = (listed - 3_600_000, listed + 3_600_000)
    async with LocalExchange(data="klines-week", symbols=["BTCUSDT"], speed="step") as ex:
        done = await fetch_historical.run(local_klines(ex, tmp_path, before))
        again = await fetch_historical.run(local_klines(ex, tmp_path, before))
        half = await fetch_historical.run(local_klines(ex, tmp_path, across))

    assert done.rows_written == 0 and done.not_served == [] and done.gaps == []
    assert done.before_listing == [before]
    assert again.requests == 0 and again.resumed_from == [before]
    assert half.before_listing == [(across[0], listed)]
    assert half.not_served == [(listed, across[1])]
    assert HistoryStore(tmp_path).missing("BTCUSDT", M1, *across) == [(listed, across[1])]
    assert (
        "before the symbol's listing (exchangeInfo onboardDate; nothing to fetch, stored as "
        "done): [2019-09-20T08:00:00Z, 2019-09-24T08:00:00Z) (5760 min)"
    ) in done.lines()


async def test_a_kline_window_inside_an_outage_the_bars_around_prove_is_done(fake, tmp_path):
    """A whole window without bars, with bars served before and after it: an outage of the
    exchange's own, stored as done and reported as a gap; past the last bar it serves, a
    window with none after it is not served."""
    k = fake.klines
    outage = (k[100][0], k[400][0])
    fake.klines = k[:100] + k[400:1440]  # bars 100-399 missing; the last bar is k[1439]
    fake.server_time_ms = k[1439][0] + 86_400_000
    inside = (k[150][0], k[300][0])
    after_last = (k[1439][0] + 3_600_000, k[1439][0] + 7_200_000)

    done = await fetch_historical.run(args(fake, tmp_path, start=_iso(inside[0]),
                                           end=_iso(inside[1])))  # fmt: skip
    fake.rest_calls.clear()
    again = await fetch_historical.run(args(fake, tmp_path, start=_iso(inside[0]),
                                            end=_iso(inside[1])))  # fmt: skip
    tail = await fetch_historical.run(args(fake, tmp_path, start=_iso(after_last[0]),
                                           end=_iso(after_last[1])))  # fmt: skip

    assert done.rows_written == 0 and done.not_served == [] and done.gaps == [inside]
    assert inside[0] > outage[0] and inside[1] < outage[1]
    assert again.requests == 0 and again.gaps == [inside]
    assert tail.not_served == [after_last] and tail.gaps == []


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


async def run_cli(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "fetch_historical.py"), *argv,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    ("symbol", "interval", "start", "end", "message"),
    [
        ("NOPEUSDT", "1m", START, END, "unknown symbol NOPEUSDT"),
        ("BTCUSDT", "1m", END, START, "is not after --start"),
        ("BTCUSDT", "7m", START, END, "unknown interval '7m'"),
    ],
)
async def test_bad_arguments_exit_2_with_one_line(
    fake, tmp_path, symbol, interval, start, end, message
):
    code, out, err = await run_cli(
        "--symbol", symbol, "--kind", "klines", "--interval", interval, "--start", start,
        "--end", end, "--base-url", fake.base_url, "--out", str(tmp_path),
    )  # fmt: skip

    assert code == 2
    assert err.count("\n") == 1 and message in err and out == ""


async def test_the_progress_bar_shows_on_a_terminal(fake, tmp_path):
    """Into a pipe the bar is left out (below); on a terminal it shows, as the backtester's."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    main, tty = pty.openpty()
    fcntl.ioctl(tty, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 0 cols: no bar
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "fetch_historical.py"), "--symbol", "BTCUSDT", "--kind",
        "klines", "--start", START, "--end", "2025-05-06", "--base-url", fake.base_url,
        "--out", str(tmp_path), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=tty,
    )  # fmt: skip
    os.close(tty)

    def read_screen() -> bytes:  # as the child writes: a full terminal would block it
        screen = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal's other end closed: all read
                return screen
            if not chunk:
                return screen
            screen += chunk

    reading = asyncio.create_task(asyncio.to_thread(read_screen))
    await proc.communicate()
    screen = await reading
    os.close(main)

    assert proc.returncode == 0
    assert b"BTCUSDT: 100%" in screen and b"1440/1440" in screen


async def test_command_line_prints_the_closing_report_and_stops_on_418(fake, tmp_path):
    base = ["--symbol", "BTCUSDT", "--kind", "klines", "--start", START, "--end", "2025-05-06",
            "--base-url", fake.base_url, "--out", str(tmp_path)]  # fmt: skip
    code, out, err = await run_cli(*base)
    fake.banned = True
    banned_code, _, banned_err = await run_cli(*base[:-4], "--end", END, *base[-4:])

    assert code == 0 and "1440 new rows stored" in out and "gaps: none" in out
    assert "bar/s" not in err and "\r" not in err  # no progress bar into a pipe
    assert banned_code == 1 and "banned" in banned_err


# --- acceptance against the local exchange ------------------------------------------------------

SOURCE_KLINES = (
    ROOT / "exchange_sim" / "data" / "klines" / "BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
)


@pytest.fixture
async def week():
    """The local exchange on the real one-week 1m klines, moved two days past its history."""
    async with LocalExchange(data="klines-week", symbols=["BTCUSDT"], speed="step") as ex:
        await ex.step(2 * 86_400_000)
        yield ex


def source_ohlcv(ex: LocalExchange) -> dict[int, tuple[Decimal, ...]]:
    """The bundled source klines, re-based onto the exchange clock (whole minutes)."""
    shift = ex.time_map.exchange_start_ms - ex.time_map.data_start_ms
    with gzip.open(SOURCE_KLINES, "rt") as fh:
        return {
            int(r["open_time"]) + shift: tuple(Decimal(r[k]) for k in OHLCV)
            for r in csv.DictReader(fh)
        }


def week_args(ex: LocalExchange, out: Path) -> argparse.Namespace:
    now = ex.now_ms()
    start = now - now % 60_000 - 3 * 86_400_000
    return fetch_historical.parse_args(
        ["--symbol", "BTCUSDT", "--kind", "klines", "--interval", "1m",
         "--start", _iso(start), "--end", _iso(now), "--base-url", ex.rest_url,
         "--out", str(out), "--quiet"]
    )  # fmt: skip


def stored_ohlcv(out: Path) -> dict[int, tuple[Decimal, ...]]:
    rows = HistoryStore(out).read("BTCUSDT", M1, 0, 2**62).to_pylist()
    return {r["open_time"]: tuple(Decimal(r[k]) for k in OHLCV) for r in rows}


async def test_local_exchange_multi_day_download_equals_source_despite_429_and_drop(week, tmp_path):
    pages: list[int] = []

    def after_page(rows: int) -> None:
        if rows and not pages:  # first page stored: break the next requests
            week.faults.rest_rate_limit(count=1, retry_after_s=1)
            week.faults.rest_drop_mid_response(count=1)
        pages.append(rows)

    report = await fetch_historical.run(week_args(week, tmp_path), on_page=after_page)

    stored = stored_ohlcv(tmp_path)
    source = source_ohlcv(week)
    assert len(stored) == 3 * 1440
    assert all(stored[t] == source[t] for t in stored)
    assert report.gaps == [] and report.duplicates == 0
    assert [p for p in pages if p] == [1500, 1500, 1320]
    assert week.faults.rest_429_next == 0 and week.faults.rest_drop_next == 0  # both were hit


async def test_local_exchange_interrupted_download_resumes_without_refetching(week, tmp_path):
    class Stop(Exception):
        pass

    def stop_after_two_pages(rows: int) -> None:
        stop_after_two_pages.pages += rows > 0  # type: ignore[attr-defined]
        if stop_after_two_pages.pages == 2:  # type: ignore[attr-defined]
            raise Stop

    stop_after_two_pages.pages = 0  # type: ignore[attr-defined]
    with pytest.raises(Stop):
        await fetch_historical.run(week_args(week, tmp_path), on_page=stop_after_two_pages)

    report = await fetch_historical.run(week_args(week, tmp_path))

    stored = stored_ohlcv(tmp_path)
    source = source_ohlcv(week)
    assert report.rows_received == 3 * 1440 - 3000 and report.requests == 1
    assert len(stored) == 3 * 1440 and all(stored[t] == source[t] for t in stored)


# --- hostile command lines (issue 8, item 10) ---------------------------------------------------


def cli_main(capsys, *argv: str) -> tuple[int, str]:
    code = fetch_historical.main(list(argv))
    captured = capsys.readouterr()
    assert captured.out == ""
    return code, captured.err


def test_an_exchange_that_does_not_answer_exits_1_in_seconds_saying_nothing_was_fetched(
    capsys, tmp_path
) -> None:
    started = time.monotonic()
    code, err = cli_main(
        capsys, "--symbol", "BTCUSDT", "--kind", "klines", "--start", START, "--end", END,
        "--base-url", "http://127.0.0.1:9", "--out", str(tmp_path / "store"),
    )  # fmt: skip

    assert code == 1 and time.monotonic() - started < 5.0  # 3 attempts, not 12 (~45 s)
    [line] = [x for x in err.splitlines() if not x.startswith("WARNING")]
    assert line.startswith("fetch_historical.py: error: cannot reach http://127.0.0.1:9: ")
    assert line.endswith("; nothing downloaded (check the network or --base-url)")
    assert "resume" not in err


def test_a_run_that_downloads_nothing_leaves_no_directory_it_made(capsys, tmp_path) -> None:
    # `--out` was made before the first request: an unreachable exchange left it behind, empty.
    code, _ = cli_main(
        capsys, "--symbol", "BTCUSDT", "--kind", "klines", "--start", START, "--end", END,
        "--base-url", "http://127.0.0.1:9", "--out", str(tmp_path / "new" / "store"),
    )  # fmt: skip

    assert code == 1
    assert list(tmp_path.iterdir()) == []  # neither store nor its parent new/


def test_a_run_that_downloads_nothing_keeps_an_out_that_existed(capsys, tmp_path) -> None:
    out = tmp_path / "store"
    out.mkdir()

    code, _ = cli_main(
        capsys, "--symbol", "BTCUSDT", "--kind", "klines", "--start", START, "--end", END,
        "--base-url", "http://127.0.0.1:9", "--out", str(out),
    )  # fmt: skip

    assert code == 1
    assert out.is_dir()


def test_a_base_url_with_a_password_is_not_shown_in_the_error_or_the_log(capsys, tmp_path):
    code, err = cli_main(
        capsys, "--symbol", "BTCUSDT", "--kind", "klines", "--start", START, "--end", END,
        "--base-url", "http://trader:Pr0xyPw@127.0.0.1:9", "--out", str(tmp_path / "store"),
    )  # fmt: skip

    assert code == 1
    assert "fetch_historical.py: error: cannot reach http://<redacted>@127.0.0.1:9: " in err
    assert "Pr0xyPw" not in err


def test_an_agg_trades_report_gives_its_skipped_and_later_times_as_utc_times() -> None:
    # They were printed as raw ms ("already stored (skipped): [1796158380000, ...)") while a
    # klines report gave the same ranges as UTC times; trade gaps stay aggregate ids.
    report = DownloadReport(
        symbol="BTCUSDT",
        kind="aggTrades",
        start_ms=1746403200000,  # 2025-05-05T00:00:00Z
        end_ms=1746403500000,
        resumed_from=[(1746403200000, 1746403320000)],
        gaps=[(3000000005, 3000000007)],
        not_yet_available=(1746403440000, 1746403500000),
    )

    lines = report.lines()

    assert lines[1] == (
        "already stored (skipped): [2025-05-05T00:00:00Z, 2025-05-05T00:02:00Z) (2 min)"
    )
    assert lines[2] == "gaps in the exchange data, aggregate ids: [3000000005, 3000000007)"
    assert lines[3] == (
        "not yet available (after the exchange's now): "
        "[2025-05-05T00:04:00Z, 2025-05-05T00:05:00Z) (1 min)"
    )


def test_a_range_that_ends_at_a_trade_gives_its_length_in_minutes_and_seconds() -> None:
    # A fresh local exchange's first trade at 00:03:38.549 ended the range it did not serve:
    # "[2025-05-05T00:00:00Z, 2025-05-05T00:03:38Z) (3.64248 min)".
    report = DownloadReport(
        symbol="BTCUSDT",
        kind="aggTrades",
        start_ms=1746403200000,  # 2025-05-05T00:00:00Z
        end_ms=1746403500000,
        not_served=[(1746403200000, 1746403418549)],
    )

    assert report.lines()[-1].endswith(
        "[2025-05-05T00:00:00Z, 2025-05-05T00:03:38.549Z) (3 min 38.549 s)"
    )


@pytest.mark.parametrize(
    ("ms", "text"),
    [(120_000, "2 min"), (5_760 * 60_000, "5760 min"), (38_500, "38.5 s"), (61_000, "1 min 1 s")],
)
def test_a_range_length_is_whole_minutes_and_the_seconds_beyond(ms, text) -> None:
    assert length_text(ms) == text


def test_help_shows_the_defaults(capsys) -> None:
    with pytest.raises(SystemExit):
        fetch_historical.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 1m)" in text and "(default: data_store)" in text


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("", END, "--start: not an ISO date: ''"),
        ("NaT", END, "--start: not an ISO date: 'NaT'"),
        ("1677-01-01", END, "--start 1677-01-01 is before 2019-09-01"),
        ("2016-12-31", END, "--start 2016-12-31 is before 2019-09-01"),
        (START, "3000-01-01", "--end 3000-01-01 is after 2100-01-01"),
        (START, "NaT", "--end: not an ISO date: 'NaT'"),
    ],
)
def test_impossible_dates_exit_2_with_one_line_before_any_request(
    capsys, tmp_path, start, end, message
) -> None:
    out = tmp_path / "store"
    code, err = cli_main(
        capsys, "--symbol", "BTCUSDT", "--kind", "klines", "--start", start, "--end", end,
        "--base-url", "http://127.0.0.1:9", "--out", str(out),
    )  # fmt: skip

    assert code == 2
    assert err.count("\n") == 1 and message in err
    assert not out.exists()  # nothing was created: the run never started


def test_an_interval_for_agg_trades_exits_2_with_one_line_before_any_request(
    capsys, tmp_path
) -> None:
    # Aggregate trades have no interval: --interval 5m went unused without a word.
    out = tmp_path / "store"
    code, err = cli_main(
        capsys, "--symbol", "BTCUSDT", "--kind", "aggTrades", "--interval", "5m",
        "--start", START, "--end", END, "--base-url", "http://127.0.0.1:9", "--out", str(out),
    )  # fmt: skip

    assert code == 2
    assert err == (
        "fetch_historical.py: error: --interval 5m is for --kind klines: aggTrades have none\n"
    )
    assert not out.exists()


@pytest.mark.parametrize("kind", ["file", "proc", "under-proc", "under-file"])
def test_out_that_cannot_hold_the_store_exits_2_with_one_line(capsys, tmp_path, kind) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    out = {
        "file": a_file,
        "proc": Path("/proc"),
        "under-proc": Path("/proc/no-such-dir/store"),
        "under-file": a_file / "store",
    }[kind]

    code, err = cli_main(
        capsys, "--symbol", "BTCUSDT", "--kind", "klines", "--start", START, "--end", END,
        "--base-url", "http://127.0.0.1:9", "--out", str(out),
    )  # fmt: skip

    assert code == 2
    assert err.count("\n") == 1 and f"--out {out}" in err


@pytest.mark.parametrize(
    "url", ["not-a-url", "ftp://127.0.0.1", "http://", "http://127.0.0.1:99999", "127.0.0.1:80"]
)
def test_base_url_that_is_not_an_http_url_exits_2_at_once(capsys, tmp_path, url) -> None:
    started = time.monotonic()
    code, err = cli_main(
        capsys, "--symbol", "BTCUSDT", "--kind", "klines", "--start", START, "--end", END,
        "--base-url", url, "--out", str(tmp_path),
    )  # fmt: skip

    assert code == 2 and time.monotonic() - started < 1.0  # not retried as a network failure
    assert err == f"fetch_historical.py: error: --base-url: not an http(s) URL: {url!r}\n"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (START, "2030-01-01", "--end 2030-01-01 is after the exchange's current time"),
        ("2030-01-01", "2030-01-02", "--start 2030-01-01 is not before the exchange's current"),
    ],
)
async def test_range_after_the_exchange_clock_is_refused_before_downloading(
    fake, tmp_path, start, end, message
) -> None:
    with pytest.raises(fetch_historical.BadArguments, match=message):
        await fetch_historical.run(args(fake, tmp_path, start=start, end=end))

    assert klines_calls(fake) == []


async def test_command_line_with_an_end_after_the_exchange_clock_exits_2(fake, tmp_path) -> None:
    code, out, err = await run_cli(
        "--symbol", "BTCUSDT", "--kind", "klines", "--start", START, "--end", "2030-01-01",
        "--base-url", fake.base_url, "--out", str(tmp_path), "--quiet",
    )  # fmt: skip

    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "is after the exchange's current time 2025-05-08" in err


async def test_weekly_klines_open_on_mondays_and_the_current_week_is_not_stored(tmp_path):
    # Binance's 1w bars open on Mondays 00:00 UTC; the epoch was a Thursday, so a grid of
    # multiples of 7 days put every stored bar off-grid: all reported as one long outage, and
    # the current week's bar stored as if it had closed.
    week, monday = 7 * 86_400_000, 1735516800000  # Monday 2024-12-30

    def bar(i: int) -> list:
        t = monday + i * week
        return [t, "100", "101", "99", "100", "10", t + week - 1, "1000", 5, "4", "400", "0"]

    async with FakeBinance(load_agg_trades(), klines=[bar(i) for i in range(12)]) as server:
        server.server_time_ms = monday + 10 * week + 3 * 86_400_000  # Thursday in week 10
        argv = args(server, tmp_path, "--interval", "1w", start="2025-01-06", end="2025-03-12")

        report = await fetch_historical.run(argv)

    stored = HistoryStore(tmp_path).read("BTCUSDT", Kind.klines("1w"), 0, 2**62)
    assert stored["open_time"].to_pylist() == [monday + i * week for i in range(1, 10)]
    assert report.gaps == [] and report.rows_written == 9
    week10 = monday + 10 * week
    assert report.not_yet_available == (week10, week10 + week)


async def test_a_damaged_day_file_is_named_in_one_line_and_left_as_it_is(fake, tmp_path):
    base = ["--symbol", "BTCUSDT", "--kind", "klines", "--start", START, "--end", "2025-05-06",
            "--base-url", fake.base_url, "--out", str(tmp_path), "--quiet"]  # fmt: skip
    assert (await run_cli(*base))[0] == 0
    day = tmp_path / "BTCUSDT" / "klines-1m" / "2025-05-05.parquet"
    day.write_bytes(day.read_bytes()[:100])  # e.g. a copy cut short

    code, out, err = await run_cli(*base)

    assert code == 1 and out == "" and "Traceback" not in err
    assert err.startswith(f"fetch_historical.py: error: damaged history file {day} (")
    assert err.count("\n") == 1 and "move it away and run again" in err
    assert len(day.read_bytes()) == 100


async def test_downloaded_agg_trades_replay_in_the_backtester(fake, tmp_path):
    # The backtester takes "a market_history store Parquet file or folder", but refused the
    # aggTrades one fetch_historical.py writes: "unknown columns agg_id,price,qty,...".
    from backtest.data import Trades, load

    fake.published = 1500
    fake.server_time_ms = fake.trades[1499]["T"] + 1
    start, end = fake.trades[0]["T"], fake.trades[1200]["T"]
    await fetch_historical.run(
        args(fake, tmp_path, kind="aggTrades", start=_iso(start), end=_iso(end))
    )

    data = load(tmp_path / "BTCUSDT" / "aggTrades")

    sent = [t for t in fake.trades[:1500] if start <= t["T"] < end]
    assert isinstance(data, Trades)
    assert data.time == [t["T"] for t in sent]
    assert data.price == [t["p"] for t in sent] and data.qty == [t["q"] for t in sent]
    assert data.buyer_is_maker == [t["m"] for t in sent]


@pytest.mark.parametrize("word", ["now", "today"])
def test_now_and_today_are_utc_on_a_machine_in_another_time_zone(monkeypatch, word):
    """pandas reads "now" in the machine's local time: on a machine 9 h ahead of UTC,
    `--end now` asked for 9 h that have not happened yet (or refused it as in the future)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        before = time.time_ns() // 1_000_000
        got = fetch_historical._utc_ms(word, "end")
        after = time.time_ns() // 1_000_000
    finally:
        monkeypatch.undo()  # the TZ as it was
        time.tzset()
    if word == "now":
        assert before <= got <= after
    else:
        assert got == before - before % 86_400_000


def test_ctrl_c_while_the_script_imports_its_modules_exits_130_with_one_line(tmp_path):
    """pandas, pyarrow and aiohttp take about a second to import; a Ctrl+C there printed a
    KeyboardInterrupt traceback (the download's own Ctrl+C already said one line)."""

    run = ctrl_c_while_importing("fetch_historical.py", "market_history.download", tmp_path)

    assert run.returncode == 130, run.stderr[-2000:]
    assert run.stderr.splitlines() == ["interrupted: nothing was started"]
    assert run.stdout == ""
