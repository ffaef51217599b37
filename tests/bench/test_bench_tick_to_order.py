"""Smoke test of bench/bench_tick_to_order.py with tiny sizes: it runs, the order it times is
a real signed python-binance request, and it prints its figures. No timing assertions."""

import asyncio
import hashlib
import hmac
import re
import sqlite3
import sys
from urllib.parse import parse_qsl

import pytest

from tests.bench.support import load_bench

bench = load_bench("bench_tick_to_order")


def test_script_prints_figures_and_targets_for_each_journal(capsys):
    status = bench.main(
        [
            "--orders",
            "15",
            "--journals",
            "NORMAL,MEMORY",
            "--cold-every",
            "300",
            "--cold-orders",
            "2",
            "--cold-journals",
            "MEMORY",
            "--calls",
            "3",
            "--reference-orders",
            "200",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert re.search(r"lean reference loop before the runs: p50 [\d.]+ us, p99 [\d.]+ us", out)
    assert re.search(r"lean reference loop after the runs: p50 [\d.]+ us, p99 [\d.]+ us", out)
    for label in (
        "flip every 50th trade, SqliteJournal NORMAL; 15 ordering ticks",
        "flip every 50th trade, MemoryJournal; 15 ordering ticks",
        "flip every 300th trade, MemoryJournal; 2 ordering ticks",
    ):
        line = next(line for line in out.splitlines() if label in line)
        assert re.search(r"p50 [\d.]+ us, p99 [\d.]+ us, p99\.9 [\d.]+ us", line)
        assert "p50 <= 50 us, p99 <= 250 us on this machine today" in line
        ratio = next(
            line for line in out.splitlines() if line.startswith(f"  {label.split(';')[0]}:")
        )
        assert re.search(
            r"p50 [\d.]+ us = [\d.]+x the lean loop's [\d.]+ us, p99 [\d.]+ us = ", ratio
        )
        assert re.search(
            r"the issue's target is 50/11 = 4.55x, 250/43 = 5.81x \[(met|NOT MET)\]$", ratio
        )
    assert "non-ordering ticks, on_item: Trade p50" in out
    assert "load average" in out
    assert "0 unexpected requests" in out
    calls = next(line for line in out.splitlines() if line.startswith("calls before the hand-off"))
    python, c = map(int, re.search(r"(\d+) Python, (\d+) C", calls).groups())  # type: ignore[union-attr]
    assert 20 < python < 1000 and c > 0  # the order path calls something, and not the world
    assert "py risk_manager" in calls or "py rest_connect" in calls or "py core" in calls
    # Issue 7's budget for the ordering tick (81 when this was written; deterministic): a
    # feature that lengthens the path shows here, not only as a slower p50.
    assert python < 100
    first = next(line for line in out.splitlines() if "the process's first ordering tick" in line)
    first_python = int(re.search(r"(\d+) Python", first).groups()[0])  # type: ignore[union-attr]
    assert first_python > python  # it also planned the signing of its request shape
    quiet = next(line for line in out.splitlines() if "a trade tick that does not order" in line)
    quiet_python = int(re.search(r"(\d+) Python", quiet).groups()[0])  # type: ignore[union-attr]
    assert 0 < quiet_python < 20  # the sink, the pause watch, the books' mark, the strategy


def result(journal: str, order_us: list[float], every: int = 50):
    """A run's result with only what the comparisons read."""
    return bench.Result(
        journal=journal,
        strategy="flip",
        every=every,
        order_us=order_us,
        order_sync_us=order_us,
        order_cpu_us=order_us,
        idle_us={},
        items=0,
        wall_s=1.0,
        orders_posted=len(order_us),
        algo_requests=0,
        fills=0,
        denied=0,
        unexpected=0,
    )


def small_run(orders: int, *extra: str, reference_orders: int = 200) -> int:
    """`bench.main` on a few ordering ticks in memory, no cold run, no call counts."""
    return bench.main(
        [
            *("--orders", str(orders), "--journals", "MEMORY", "--cold-orders", "0"),
            *("--calls", "0", "--reference-orders", str(reference_orders), *extra),
        ]
    )


def timing(p50_us: float, p99_us: float):
    return bench.reference.Timing(
        orders=100, p50_us=p50_us, p99_us=p99_us, cpu_p50_us=p50_us, cpu_p99_us=p99_us
    )


def test_each_run_is_given_as_multiples_of_the_mean_of_the_reference_loops_around_it():
    lines: list[str] = []
    # p50 of [50, 66, 80] is 66 (nearest rank), p99 is 80; the loop's means: 3.0 and 10.0 us.
    # A run at 12 / 14 us: 4.0x (<= 4.5x) and 1.4x (<= 5.8x), met.
    runs = [
        result("NORMAL", [50.0, 66.0, 80.0]),
        result("MEMORY", []),
        result("MEMORY", [10.0, 12.0, 14.0]),
    ]

    bench.compare(runs, timing(2.0, 8.0), timing(4.0, 12.0), out=lines.append)

    assert "p50 2.0 us before the runs, 4.0 us after; p99 8.0 / 12.0 us" in lines[0]
    assert lines[1] == (
        "  flip every 50th trade, SqliteJournal NORMAL: p50 66.0 us = 22.00x the lean loop's "
        "3.0 us, p99 80.0 us = 8.00x its 10.0 us; the issue's target is 50/11 = 4.55x, "
        "250/43 = 5.81x [NOT MET]"
    )
    assert lines[2] == "  flip every 50th trade, MemoryJournal: no ordering tick"
    assert lines[3] == (
        "  flip every 50th trade, MemoryJournal: p50 12.0 us = 4.00x the lean loop's "
        "3.0 us, p99 14.0 us = 1.40x its 10.0 us; the issue's target is 50/11 = 4.55x, "
        "250/43 = 5.81x [met]"
    )


def test_a_run_at_another_order_rate_is_set_against_the_loop_at_that_rate():
    lines: list[str] = []
    # At one order in 2,000 trades the loop's means are 12.0 / 40.0 us: 54 us is 4.50x (met),
    # where against the loop at one in 50 (10.0 us) it would be 5.4x.
    runs = [result("NORMAL", [54.0], every=2000), result("NORMAL", [46.0])]
    cold = (timing(11.0, 38.0), timing(13.0, 42.0))

    bench.compare(runs, timing(10.0, 30.0), timing(10.0, 30.0), lines.append, {2000: cold})
    bench.spread(runs, timing(10.0, 30.0), timing(10.0, 30.0), lines.append, {2000: cold})

    assert lines[1] == (
        "  the loop at one order in 2,000 trades (100 ordering ticks): p50 11.0 / 13.0 us, "
        "p99 38.0 / 42.0 us; means 12.00 / 40.00 us, for the runs at that rate"
    )
    assert lines[2].startswith(
        "  flip every 2000th trade, SqliteJournal NORMAL: p50 54.0 us = 4.50x the lean loop's "
        "12.0 us, p99 54.0 us = 1.35x its 40.0 us;"
    )
    assert lines[2].endswith("[met]")
    assert "p50 46.0 us = 4.60x the lean loop's 10.0 us" in lines[3]
    assert lines[3].endswith("[NOT MET]")
    assert "median 54.0 us = 4.50x the lean loop's 12.0 us" in lines[4]
    assert "median 46.0 us = 4.60x the lean loop's 10.0 us" in lines[5]


def test_repeated_runs_give_the_median_and_spread_of_each_modes_p50s():
    lines: list[str] = []
    runs = [
        result("NORMAL", [100.0]),
        result("MEMORY", [40.0]),
        result("NORMAL", [120.0]),
        result("MEMORY", [60.0]),
        result("NORMAL", [90.0]),
        result("MEMORY", [50.0]),
    ]

    bench.spread(runs, timing(2.0, 9.0), timing(3.0, 9.0), out=lines.append)

    # NORMAL: median 100, 90 is -10 %, 120 is +20 %; the loop's mean p50 2.5 us: 40x.
    assert lines == [
        "flip every 50th trade, SqliteJournal NORMAL, 3 runs alternating: p50s 100.0, 120.0, "
        "90.0 us; median 100.0 us = 40.00x the lean loop's 2.5 us, spread 90.0-120.0 us "
        "(-10% / +20% of the median)",
        "flip every 50th trade, MemoryJournal, 3 runs alternating: p50s 40.0, 60.0, 50.0 us; "
        "median 50.0 us = 20.00x the lean loop's 2.5 us, spread 40.0-60.0 us "
        "(-20% / +20% of the median)",
    ]


def test_repeat_alternates_the_journal_modes_each_run_with_a_fresh_journal(capsys):
    status = bench.main(
        [
            "--orders",
            "5",
            "--journals",
            "NORMAL,MEMORY",
            "--cold-orders",
            "0",
            "--calls",
            "0",
            "--repeat",
            "2",
            "--reference-orders",
            "200",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    heads = [line for line in out.splitlines() if line.startswith("tick-to-order (")]
    assert [h.split(";")[0] for h in heads] == [
        "tick-to-order (flip every 50th trade, SqliteJournal NORMAL",
        "tick-to-order (flip every 50th trade, MemoryJournal",
    ] * 2
    # The second NORMAL run did not restore the first one's orders and position: it filled
    # its orders as the first did.
    runs = [line for line in out.splitlines() if line.startswith("  run: ")]
    assert all("5 orders posted, 5 stop-loss orders, 5 fills" in r for r in runs), runs
    assert re.search(
        r"SqliteJournal NORMAL, 2 runs alternating: p50s [\d.]+, [\d.]+ us; median", out
    )
    assert re.search(r"MemoryJournal, 2 runs alternating: .* spread [\d.]+-[\d.]+ us", out)


def _run(tmp_path, *, orders: int, rehearse_every: int = bench.REHEARSE_EVERY):
    """A small flip run of the benchmark (an order every 20th trade), its requests kept."""
    one, span_ms = bench.capture()
    return asyncio.run(
        bench.measure(
            bench.endless_tape(one, span_ms),
            start_ms=bench.item_time(one[0]),
            max_items=20_000,
            orders=orders,
            journal_mode="NORMAL",
            strategy_name="flip",
            every=20,
            tmp=tmp_path,
            keep_sent=True,
            rehearse_every=rehearse_every,
        )
    )


def test_the_timed_request_is_signed_by_python_binance_and_answered(tmp_path):
    result = _run(tmp_path, orders=3)
    assert len(result.order_us) == 3
    assert all(us > 0 for us in result.order_us)
    sent = result.rig.session.sent
    orders = [s for s in sent if s.method == "POST" and s.path == "/fapi/v1/order"]
    assert len(orders) == 3
    first = orders[0]
    pairs = parse_qsl(first.body)
    assert pairs[-1][0] == "signature"
    unsigned = first.body.rsplit("&signature=", 1)[0]
    expected = hmac.new(bench.API_SECRET.encode(), unsigned.encode(), hashlib.sha256).hexdigest()
    assert pairs[-1][1] == expected
    params = dict(pairs)
    assert params["type"] == "MARKET" and params["symbol"] == "BTCUSDT"
    assert params["newClientOrderId"].startswith("bench-")
    assert {"timestamp", "recvWindow"} <= params.keys()
    # the fills came back through the user-stream callback and the stop-loss went out
    assert result.fills == 3 and result.unexpected == 0
    assert any(s.path == "/fapi/v1/algoOrder" for s in sent)


def test_rejects_an_unknown_journal_mode():
    with pytest.raises(ValueError):
        bench.main(["--journals", "SOMETIMES", "--orders", "1"])


def test_stages_are_timed_in_place_in_order_and_the_methods_restored_after(capsys):
    originals = {(cls, name): cls.__dict__[name] for _, cls, name in bench.StageTimer.STAGES}
    status = small_run(5, "--stages", "8")
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("stages of the ordering tick"))
    assert "median of 8 ticks" in lines[head]  # the first 5 are left out, as the docstring says
    starts = {}
    for line in lines[head + 1 :]:
        found = re.match(r"\s+(\S+)\s+starts at\s+([\d.]+) us, takes\s+([\d.]+) us", line)
        if not found:
            break
        starts[found[1]] = float(found[2])
    # Each stage of the order path ran, in the order the ExecManager calls them.
    order = [
        "strategy.on_trade",
        "ExecManager._decide",
        "ExecManager._submit",
        "RiskManager.check",
        "journal.record_many",
        "LiveVenue.submit",
        "RestConnection.sign",
        "RestConnection.start",
    ]
    assert [s for s in sorted(starts, key=starts.__getitem__) if s in order] == order
    assert re.search(r"RestConnection\.sign in a tight loop .*: [\d.]+ us", out)
    # The timers are gone: later runs (and other tests in this process) time the plain code.
    for (cls, name), original in originals.items():
        assert cls.__dict__[name] is original


def _wire(result) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """What reached the exchange, without the parts that follow the wall clock."""
    return [
        (
            s.method,
            s.path,
            [(k, v) for k, v in parse_qsl(s.body) if k not in ("timestamp", "signature")],
        )
        for s in result.rig.session.sent
    ]


def test_the_order_path_rehearsal_leaves_no_trace_on_the_wire_or_in_the_journal(tmp_path):
    """The daemon's wiring (real LiveVenue, python-binance signing, SqliteJournal, RiskManager)
    with a rehearsal every 5 items against none: the same requests reach the exchange, the
    same events are journaled, the same client ids are used, and the rehearsals ran."""
    warm = _run(tmp_path / "warm", orders=4, rehearse_every=5)
    cold = _run(tmp_path / "cold", orders=4, rehearse_every=0)
    assert warm.rehearsals > 50 and cold.rehearsals == 0
    assert len(warm.order_us) == len(cold.order_us) == 4
    assert _wire(warm) == _wire(cold)
    assert warm.unexpected == cold.unexpected == 0
    assert (warm.fills, warm.denied) == (cold.fills, cold.denied) == (4, 0)
    journals = []
    for path in (tmp_path / "warm", tmp_path / "cold"):
        db = sqlite3.connect(next(path.glob("journal-*/journal.sqlite3")))
        kinds = [k for (k,) in db.execute("SELECT kind FROM events ORDER BY seq")]
        orders = db.execute(
            "SELECT client_order_id, side, type, qty FROM orders ORDER BY 1"
        ).fetchall()
        db.close()
        journals.append((kinds, orders))
    assert journals[0] == journals[1]
    assert "DecisionMade" in journals[0][0] and len(journals[0][1]) == 8  # 4 orders, 4 stops


def test_rehearse_every_takes_a_list_and_labels_the_runs_that_differ_from_the_daemon(capsys):
    status = small_run(3, "--rehearse-every", f"{bench.REHEARSE_EVERY},0,7")
    out = capsys.readouterr().out
    assert status == 0
    heads = [line.split(";")[0] for line in out.splitlines() if line.startswith("tick-to-order (")]
    assert heads == [
        "tick-to-order (flip every 50th trade, MemoryJournal",
        "tick-to-order (flip every 50th trade, MemoryJournal, no rehearsal",
        "tick-to-order (flip every 50th trade, MemoryJournal, order path rehearsed every 7 items",
    ]
    runs = [line for line in out.splitlines() if line.startswith("  run: ")]
    assert runs[1].endswith(", 0 order path rehearsals")
    assert not runs[0].endswith(", 0 order path rehearsals")
    with pytest.raises(SystemExit):
        bench.main(["--rehearse-every", "-1", "--orders", "1"])


def test_an_order_rate_past_the_governors_budget_pauses_on_the_tape_and_the_run_ends(tmp_path):
    # An order every 2nd trade (with its stop-loss) passes the governor's 300 orders per 10 s of
    # the tape's time: its pauses are waits on the tape. On the wall clock they never ended (the
    # tape's time moves only with the items, which the benchmark held back): the run hung
    # (the suite's pytest-timeout bounds it; an `asyncio.wait_for` did not end it).
    one, span_ms = bench.capture()
    result = asyncio.run(
        bench.measure(
            bench.endless_tape(one, span_ms),
            start_ms=bench.item_time(one[0]),
            max_items=40_000,
            orders=1000,
            journal_mode="MEMORY",
            strategy_name="flip",
            every=2,
            tmp=tmp_path,
            rehearse_every=0,
        ),
    )
    assert len(result.order_us) == 1000
    assert result.rig.rest.governor.stats.pauses > 0
    assert result.handed_in_call < 1000  # those after a pause went from the venue's task
    assert result.rig.clock.now >= bench.item_time(one[0])


def test_opcodes_counts_the_bytecodes_of_the_ordering_tick_per_function(capsys):
    status = small_run(3, "--opcodes", "3", reference_orders=100)
    out = capsys.readouterr().out
    assert status == 0
    line = next(line for line in out.splitlines() if line.startswith("bytecodes before"))
    total, functions = re.search(  # type: ignore[union-attr]
        r"after the first\): ([\d,]+) in (\d+) Python functions", line
    ).groups()
    # 2,813 in 70 functions when this was written (deterministic for the same code): the
    # order path runs a few thousand, not the whole run's; the risk check is among them.
    assert 1_000 < int(total.replace(",", "")) < 10_000
    assert 20 < int(functions) < 200
    assert "risk_manager.risk_manager.RiskManager._evaluate " in line
    assert sys.gettrace() is None  # the tracer is gone after the run


def test_the_opcode_counter_stops_at_the_hand_off_and_keeps_ordering_ticks_only():
    counter = bench.OpcodeCounter()

    class Session:
        post = bench.FakeSession.post  # the hand-off's code, where counting ends

        def _request(self, method, url, kw):
            return None  # called past the hand-off: not counted

    def before() -> int:
        total = 0
        for i in range(3):
            total += i
        return total

    def after_hand_off() -> None:
        pass

    def order_path(hand_off: bool) -> None:
        before()
        if hand_off:
            Session().post("url")
            after_hand_off()  # not counted

    for ordered in (True, True, False):
        counter.start()
        order_path(hand_off=ordered)
        counter.stop(ordered=ordered)

    assert counter.first is not None  # the first ordering tick, kept apart
    [tick] = counter.samples  # the second; the tick that did not order is not kept
    assert tick == counter.first
    assert tick[f"{__name__}.{before.__qualname__}"] > 3 * 3  # its loop, counted once
    assert not any(name.endswith(("Session._request", "after_hand_off")) for name in tick)
    assert sys.gettrace() is None


def test_ecdf_gives_each_time_in_order_with_the_share_at_or_below_it():
    xs, ys = bench.ecdf([80.0, 40.0, 60.0, 50.0])

    assert xs == [40.0, 50.0, 60.0, 80.0]
    assert ys == [0.25, 0.5, 0.75, 1.0]


def test_plot_draws_each_run_and_the_targets_into_a_png(tmp_path):
    warm = result("NORMAL", [47.0, 40.0, 52.0])
    cold = result("MEMORY", [90.0, 70.0], every=2000)
    empty = result("FULL", [])  # a run with no ordering tick draws nothing
    path = tmp_path / "t2o.png"

    fig = bench.plot([warm, cold, empty], {50: 50.0, 2000: 54.6}, path)

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (ax,) = fig.axes
    steps = [line for line in ax.lines if line.get_drawstyle() == "steps-post"]
    assert [list(line.get_xdata()) for line in steps] == [[40.0, 47.0, 52.0], [70.0, 90.0]]
    assert [list(line.get_ydata()) for line in steps] == [[1 / 3, 2 / 3, 1.0], [0.5, 1.0]]
    verticals = sorted(line.get_xdata()[0] for line in ax.lines if list(line.get_ydata()) == [0, 1])
    assert verticals == [50.0, 50.0, 54.6, 250.0]  # 50 twice: the and at 1 in 50
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "flip every 50th trade, SqliteJournal NORMAL: p50 47.0 us"
    assert "p50 allowed at one order in 2,000 trades: 4.55x the lean loop = 54.6 us" in labels


def test_plot_option_draws_the_runs_against_the_loop_and_refuses_another_suffix(tmp_path, capsys):
    path = tmp_path / "t2o.png"

    assert small_run(3, "--plot", str(path)) == 0
    assert f"tick-to-order distribution drawn in {path}" in capsys.readouterr().out
    assert path.stat().st_size > 0
    with pytest.raises(SystemExit) as refused:
        small_run(3, "--plot", str(tmp_path / "t2o.txt"))
    assert refused.value.code == 2
    assert "--plot" in capsys.readouterr().err
