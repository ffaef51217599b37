"""Parity audit (backtest/parity.py) without processes: a "live" session is the daemon's own
objects (ExecManager, RiskManager, BookKeeper, sma_crossover, the SQLite journal) wired through
the MarketRecorder exactly as trading_engine/daemon.py wires them, trading against the
in-process engine on a zigzag of trades; the audit of that recording must be empty, and a
divergence made on purpose must be named with both sides."""

import contextlib
import csv
import gzip
import inspect
import json
import shutil
import sys
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import orjson
import pytest

from backtest import parity
from backtest.venue import InProcessVenue, VenueConfig
from backtest_trading_strategy import main as backtest_main
from book_keeper.book_keeper import BookKeeper
from book_keeper.journal import SqliteJournal
from core.account import Balance, Position
from core.clock import SimClock
from core.enums import OrderStatus, OrderType, Side, TradingState
from core.events import (
    AUTOMATIC_RESET,
    CANCEL_ALL,
    DecisionMade,
    OrderCanceled,
    OrderFilled,
    StreamState,
    StreamStateChanged,
    VenueSnapshot,
)
from core.market import Bar, BookTicker, MarkPrice, Trade
from core.orders import ClientOrderIds, Order, OrderRequest, TargetPosition
from exchange_sim.engine import EngineConfig, Exchange
from exchange_sim.replay.grid import load_instruments
from model import registry
from risk_manager.config import RiskConfig
from risk_manager.risk_manager import DAY_MS, RiskManager
from runtime.settings import resolve_model_path
from trading_engine.exec_manager import BarSource, ExecConfig, ExecManager
from trading_engine.limits_restore import restore_limits as _restore_limits
from trading_engine.main_trading_strategy import STRATEGIES, StrategyBase, make_strategy
from trading_engine.market_recorder import (
    MarketRecorder,
    read_session,
    session_files,
    session_header,
)

SYMBOL = "BTCUSDT"
T0 = 1_746_403_200_000
INSTRUMENTS = {SYMBOL: load_instruments()[SYMBOL]}
PARAMS = {"order_notional_usdt": D(100), "allow_short": True, "fast": 2, "slow": 5}


def _zigzag(n: int) -> list[tuple[int, D]]:
    """(time ms, price): 4 trades a second, a slow wave so the 2/5 SMAs cross often."""
    out = []
    price = D("60000.0")
    for i in range(n):
        leg = (i // 24) % 2  # 6 s up, 6 s down
        price += D("1.5") if leg == 0 else D("-1.5")
        out.append((T0 + 250 * i, price))
    return out


STOPS = "the daemon stops: SIGTERM"  # the reason of the shutdown's cancels (`_shutdown`)


def record_live_session(
    journal_dir: Path,
    n_trades: int = 240,
    strategy_name: str = "sma_crossover",
    params: dict | None = None,
    held_exit: Side | None = None,
    pause: tuple[int, int, int] | None = None,
    start_qty: D = D(0),
    late_fills: bool = False,
    kill: tuple[int, str] | None = None,
    kill_file: Path | None = None,
    restored: str | None = None,
    reset_halt: bool = False,
    reset_reason: str = "--reset-halt",
    stop_pending: str | None = None,
    earlier_peak: D | None = None,
    earlier_wallet: bool = False,
    max_drawdown_pct: D = D(10),
    between: tuple[int, Callable[[], object]] | None = None,
    stop_decision: bool = True,
) -> int:
    """Run a session through the daemon's objects and the recorder; its decision count.
    `held_exit`: the session starts as a restart after a stop closed a position (that
    stop's side), as the daemon restores it from the journal. `pause` (trade index, ms,
    trades): the daemon does not run for that long before that trade (the clock jumps, the
    market moved on), notices it at the trade as the daemon's pause watch does, and the
    reconciliation it then asks for answers that many trades later. `start_qty`: the session
    starts with that position open at 60000.0 and no stop-loss on the exchange (the start-up
    reconciliation's end places one). That end is read 1 ms after the start-up snapshot, as
    on a busy machine. `late_fills`: a fill reaches the daemon 1 ms after the event the
    engine sent next (its REST answer behind the user stream, a busy machine).
    `kill` (trade index, how): the kill switch is pulled before that trade, "signal" as the
    daemon's SIGUSR1 handler does, "file" by creating `kill_file` (the risk's kill-switch file)
    for the tick path to find. `restored`: the trading state the journal held at the start
    (REDUCING / HALTED from an earlier session), reset to ACTIVE with `reset_halt`, the
    reset's reason `reset_reason` (an AUTOMATIC_RESET one: the daemon's automatic resume).
    `stop_pending`: the session is stopped (SIGTERM) at the first trade where a position's
    stop-loss replacement is pending (the old one's cancel not yet confirmed), keeping the
    protection as the daemon's shutdown does: it waits for the new stop to go out, the stop
    entry recorded "before" that wait or "after" it. `earlier_peak`: the journal is an
    earlier session's, whose equity (net of transfers) peaked there two days before; the
    session starts as the daemon's restart does, its limits' counts restored from the journal
    (`trading_engine.daemon._restore_limits`) and recorded; `max_drawdown_pct` the limit
    measured from that peak; `earlier_wallet`: that session also journaled the account's
    10,000 USDT (its start's reconciliation), so the restart knows its last equity (what an
    operator's reset re-arms the limits from). `between` (trade index, action): `action()`
    runs before that trade (between two items, as an operator's `model.review --promote`
    does)."""
    clock = SimClock(T0 - 1_000)
    engine = Exchange(INSTRUMENTS, clock, EngineConfig())
    engine.create_account("live", {"USDT": D(10_000)})
    engine.change_leverage("live", {"symbol": SYMBOL, "leverage": "3"})
    if start_qty:  # an earlier session's position, its stop gone
        engine.on_trade(SYMBOL, D("60000.0"), abs(start_qty), False, T0 - 1_000)
        engine.new_order("live", {"symbol": SYMBOL, "side": "BUY" if start_qty > 0 else "SELL",
                                  "type": "MARKET", "quantity": f"{abs(start_qty):f}"})  # fmt: skip
    engine.drain_user_events()
    journal = SqliteJournal(journal_dir)
    if earlier_peak is not None:  # the earlier session's highest snapshot, 2 days ago
        journal.snapshot(
            time_ms=T0 - 2 * DAY_MS, equity=earlier_peak, wallet=earlier_peak, unrealized_pnl=D(0)
        )
        if earlier_wallet:
            journal.record(_start_snapshot(engine, T0 - 2 * DAY_MS))
    recorder = MarketRecorder(journal_dir, clock)
    book = BookKeeper(
        starting_balances=None, instruments=INSTRUMENTS, clock=clock, leverage={SYMBOL: 3}
    )
    # A tight stop-loss: some positions end at their stop (fills triggered by market data).
    risk_config = RiskConfig(
        leverage=3,
        stop_loss_pct=D("0.005"),
        kill_switch_file=None if kill_file is None else str(kill_file),
        max_drawdown_pct=max_drawdown_pct,
    )
    risk = RiskManager(config=risk_config, instruments=INSTRUMENTS, clock=clock, view=book)
    limits = None
    if earlier_peak is not None:  # as trading_engine.daemon restores the books and limits
        limits = _restore_limits(journal, [], risk, book, clock.now_ms(), book.restore(journal))
    risk.file_exists = recorder.kill_file(risk.file_exists)  # as trading_engine.daemon wires it
    params = PARAMS if params is None else params
    strategy = make_strategy(strategy_name, **params, instruments=INSTRUMENTS)
    model = strategy.model_identity() if hasattr(strategy, "model_identity") else None
    if hasattr(strategy, "model_switched"):  # as trading_engine.daemon wires it
        strategy.model_switched = recorder.model_switched
    ids = ClientOrderIds("bfd", 1)
    # Requests reach the engine 1 ms after they are made, before the next market data, as
    # the local exchange handles a request at once (its replay publishes a little late).
    venue = InProcessVenue(
        engine=engine,
        account="live",
        clock=clock,
        instruments=INSTRUMENTS,
        config=VenueConfig(latency_ms=1),
    )
    em = ExecManager(
        venue=venue,
        book=book,
        risk=risk,
        strategy=strategy,
        journal=journal,
        clock=recorder.clock,
        instruments=INSTRUMENTS,
        ids=ids,
        config=ExecConfig(symbols=(SYMBOL,), bar_interval="1s", bar_source=BarSource.TRADES),
        gap_open=recorder.gap_open(lambda s: False),
        clock_offset_ms=recorder.clock_offset(lambda: 3),
    )
    if held_exit is not None:
        em.hold_exit(SYMBOL, held_exit)
    recorder.start(
        session_header(
            strategy=strategy_name,
            strategy_params={**params, "instruments": INSTRUMENTS},
            risk=risk_config,
            exec_config=em.config,
            instruments=INSTRUMENTS,
            client_id_prefix=ids.prefix,
            client_id_next=ids.next_seq,
            local={"data": "test", "speed": 1.0, "attached": False},
            held_exits=em.held_exits(),
            limits=limits,
            model=model,
        )
    )
    if restored is not None:  # as trading_engine.daemon restores (and resets) the state
        risk.restore_state(TradingState(restored), "daily loss limit (an earlier session)")
        recorder.restored(restored, "daily loss limit (an earlier session)")
        if reset_halt:
            recorder.reset(em.reset)(reset_reason)
    on_event = recorder.events(em.on_event)
    venue.listener = on_event
    if late_fills:
        venue.listener = LateFills(on_event, clock)
    on_item = _as_the_sink(recorder.items(em.on_item))
    clock.set_ms(T0 - 900)
    with recorder.reconciling(em.reconciling)():  # as trading_engine.daemon wires it
        on_event(StreamStateChanged(event_time_ms=T0 - 900, recv_time_ms=T0 - 900,
                                    stream="user", state=StreamState.CONNECTED))  # fmt: skip
        on_event(_start_snapshot(engine, T0 - 900))
        clock.set_ms(T0 - 899)  # the loop comes back to the daemon a ms later
    note_pause = recorder.pause(em.note_pause)  # as trading_engine.daemon wires it
    for i, (t, price) in enumerate(_zigzag(n_trades)):
        if pause is not None and i >= pause[0]:
            t += pause[1]
        if stop_pending is not None and _released_until_pending(venue, em, book, t):
            break  # SIGTERM now: a stop-loss is being replaced
        venue.release(t)
        clock.set_ms(t)
        if pause is not None and i == pause[0]:
            note_pause(pause[1])
        if pause is not None and i == pause[0] + pause[2]:
            on_event(_snapshot_of(book, t, "resumed after a pause"))
        if between is not None and i == between[0]:
            between[1]()
        if kill is not None and i == kill[0] and kill[1] == "signal":
            recorder.kill(em.kill)("SIGUSR1 kill switch")  # the daemon's handler, between items
        if kill is not None and i == kill[0] and kill[1] == "file":
            assert kill_file is not None
            kill_file.touch()
        bid, ask = price - D("0.1"), price
        engine.on_book_ticker(SYMBOL, bid, D(5), ask, D(5), t)
        venue.pump()
        on_item(BookTicker(SYMBOL, i, bid, D(5), ask, D(5), t, t, t))
        engine.on_trade(SYMBOL, price, D("0.010"), i % 3 == 0, t)
        venue.pump()
        on_item(Trade(SYMBOL, i, price, D("0.010"), i, i, i % 3 == 0, t, t, t))
        if i % 4 == 0:
            nf = (t // 28_800_000 + 1) * 28_800_000
            engine.on_mark_price(SYMBOL, price, price, D("0.0001"), nf, t)
            venue.pump()
            on_item(MarkPrice(SYMBOL, price, price, D("0.0001"), nf, t, t))
    if stop_pending is not None:  # as trading_engine.daemon's shutdown with a position open
        assert em.protection_pending and book.position(SYMBOL).qty
        if stop_pending == "before":  # (the daemon's wait cannot end before it ends)
            recorder.stopping(cancel_orders=True, keep_protection=True)
        while em.protection_pending:  # _settle_protection: the venue's events settle it
            clock.set_ms(clock.now_ms() + 1)
            venue.release(clock.now_ms())
        if stop_pending == "after":
            at = recorder.stopping(cancel_orders=True, keep_protection=True, reason=STOPS)
            em.decide_stop_cancels(STOPS, keep_protection=True, now_ms=at)
        em.stop_trading()
        venue.cancel_all(SYMBOL, keep_protection=True)
        venue.release(clock.now_ms() + 1)
        recorder.close()
        journal.close()
        return em.counters.decisions
    venue.release(clock.now_ms() + 1)
    if stop_decision:  # as trading_engine.daemon's shutdown
        at = recorder.stopping(cancel_orders=True, reason=STOPS)
        em.decide_stop_cancels(STOPS, keep_protection=False, now_ms=at)
    else:  # as a daemon before the stop's cancels were decided (journaled)
        recorder.stopping(cancel_orders=True)
    em.stop_trading()
    venue.cancel_all(SYMBOL)
    venue.release(clock.now_ms() + 1)
    recorder.close()
    journal.close()
    return em.counters.decisions


def _as_the_sink(on_item):
    """`on_item` whose errors (a strategy's) are swallowed, as trading_engine.item_sink
    counts and logs them and goes on with the next item."""

    def sink(item) -> None:
        with contextlib.suppress(Exception):
            on_item(item)

    return sink


def _released_until_pending(venue: InProcessVenue, em: ExecManager, book, t: int) -> bool:
    """The requests due by `t`, one due time at a time, until a position's protection is
    pending (True: a stop-loss replacement waits for the old one's cancel)."""
    while (due := venue.next_due_ms()) is not None and due <= t:
        venue.release(due)
        if em.protection_pending and book.position(SYMBOL).qty:
            return True
    return False


class LateFills:
    """The daemon's receipt order on a busy machine: an order's fill (its REST answer) comes
    after the event the engine sent next (the user stream's), 1 ms later."""

    def __init__(self, on_event, clock: SimClock) -> None:
        self.on_event, self.clock = on_event, clock
        self.held: OrderFilled | None = None
        self.late = 0

    def __call__(self, event) -> None:
        if isinstance(event, OrderFilled) and self.held is None:
            self.held = event
            return
        self.on_event(event)
        if self.held is not None:
            held, self.held = self.held, None
            self.clock.set_ms(self.clock.now_ms() + 1)
            self.late += 1
            self.on_event(held)


def _usdt(wallet: D, t: int) -> Balance:
    """A USDT balance read at `t` with nothing in use: all of the wallet is available."""
    return Balance(
        asset="USDT",
        wallet_balance=wallet,
        available_balance=wallet,
        cross_wallet_balance=wallet,
        update_time_ms=t,
    )


def _start_snapshot(engine: Exchange, t: int) -> VenueSnapshot:
    """The account as the live engine holds it at the start (no open order)."""
    (usdt,) = engine.balance("live", {})
    held = engine.position_risk("live", {"symbol": SYMBOL})  # none while flat
    qty, entry = (D(held[0]["positionAmt"]), D(held[0]["entryPrice"])) if held else (D(0), D(0))
    return VenueSnapshot(
        event_time_ms=t,
        recv_time_ms=t,
        balances=(_usdt(D(usdt["balance"]), t),),
        positions=(Position(symbol=SYMBOL, qty=qty, entry_price=entry, leverage=3),),
        open_orders=(),
        reason="start",
        symbols=(SYMBOL,),
    )


def _snapshot_of(book: BookKeeper, t: int, reason: str) -> VenueSnapshot:
    """What a reconciliation reads at `t` of an exchange the books agree with."""
    return VenueSnapshot(
        event_time_ms=t,
        recv_time_ms=t,
        balances=(_usdt(book.wallet(), t),),
        positions=(book.position(SYMBOL),),
        open_orders=tuple(o for o in book.orders.values() if not o.is_terminal),
        reason=reason,
        symbols=(SYMBOL,),
    )


@pytest.fixture(scope="module")
def live_session(tmp_path_factory) -> tuple[Path, int]:
    journal_dir = tmp_path_factory.mktemp("parity") / "journal"
    decisions = record_live_session(journal_dir)
    return journal_dir, decisions


def _copy(session: tuple[Path, int], tmp_path: Path) -> Path:
    target = tmp_path / "journal"
    shutil.copytree(session[0], target)
    return target


def _session(journal_dir: Path):
    """The journal's latest recorded session (the one the audit reads)."""
    return read_session(session_files(journal_dir)[-1])


def _rewrite_header(journal_dir: Path, change) -> None:
    """The recorded session's header as `change` (in place, on the parsed JSON) leaves it."""

    def rewrite(lines: list[bytes]) -> list[bytes]:
        header = orjson.loads(lines[0])
        change(header)
        return [orjson.dumps(header) + b"\n", *lines[1:]]

    _rewrite_entries(journal_dir, rewrite)


def _rewrite_entries(journal_dir: Path, change) -> None:
    """The recorded session's lines (the header first) as `change` leaves them."""
    path = session_files(journal_dir)[-1]
    with gzip.open(path, "rb") as fh:
        lines = fh.read().splitlines(keepends=True)
    with gzip.open(path, "wb") as fh:
        fh.write(b"".join(change(lines)))


def _journaled(journal_dir: Path, kind: str) -> list:
    """The events of `kind` the session's journal holds, in journal order (read-only: the
    audit's own reading is left as it was)."""
    with SqliteJournal(journal_dir, readonly=True) as journal:
        return [e for _, e in journal.load_events([kind])]


def _states(journal_dir: Path) -> list[tuple[str, str]]:
    """(state, reason) of each trading state change the journal holds, in order."""
    return [(str(e.current), e.reason) for e in _journaled(journal_dir, "TradingStateChanged")]


def _without(journal_dir: Path, code: str) -> None:
    """The recording without its entries of kind `code` (what the replay could not know)."""
    prefix = f'["{code}",'.encode()
    _rewrite_entries(journal_dir, lambda lines: [x for x in lines if not x.startswith(prefix)])


def test_the_recorded_session_holds_what_the_exec_manager_was_fed(live_session):
    session = _session(live_session[0])
    kinds = [type(e[2]).__name__ for e in session.entries if e[0] == "i"]
    assert kinds.count("Trade") == 240 and kinds.count("BookTicker") == 240
    assert kinds.count("MarkPrice") == 60
    assert session.header["strategy"] == "sma_crossover"
    assert session.header["strategy_params"]["fast"] == 2
    # each item's clock reading is the (simulated) clock at that item: the trade times
    trades = [e for e in session.entries if e[0] == "i" and isinstance(e[2], Trade)]
    assert [e[1] for e in trades] == [T0 + 250 * i for i in range(240)]
    assert [e[2].trade_time_ms for e in trades] == [e[1] for e in trades]


def test_an_identical_replay_gives_an_empty_diff(live_session, capsys):
    journal_dir, decisions = live_session
    result = parity.audit(journal_dir)

    assert result.divergence is None, result.lines()
    assert result.decisions == decisions >= 6  # the zigzag makes the strategy trade
    assert result.fills >= 3
    assert result.replay.book_differences == 0
    with SqliteJournal(journal_dir, readonly=True) as journal:
        stops = [o for o in journal.load_orders() if o.type is OrderType.STOP_MARKET]
    # a stop that triggered and filled (its side then stays flat until the strategy turns)
    assert sum(1 for o in stops if o.filled_qty > 0) >= 1
    assert parity.run(journal_dir) == 0
    out = capsys.readouterr().out
    assert out == f"parity: identical ({decisions} decisions, {result.fills} fills)\n"


def test_a_session_file_audits_that_session_and_several_say_which(live_session, tmp_path, capsys):
    """A journal with several recorded sessions: its folder audits the newest and says which
    (it was silent: only parity.json named it); one of its session files audits that one."""
    journal_dir = _copy(live_session, tmp_path)
    (session,) = session_files(journal_dir)
    older = session.with_name("session-1.jsonl.gz")  # an earlier run's, differing
    shutil.copy(session, older)
    _rewrite_header(journal_dir, lambda h: h["risk"].update(stop_loss_pct="0.01"))

    assert parity.run(journal_dir) == 1  # the newest: its header no longer matches
    assert parity.run(older) == 0  # the session file given: that one
    out = capsys.readouterr().out.splitlines()
    note = "one of 2 recorded: --replay-journal takes a session file to audit another)"
    assert out[-2:] == [
        f"parity: identical ({live_session[1]} decisions, {parity.audit(older).fills} fills)",
        f"  (session {older}, {note}",
    ]
    assert any(line == f"  (session {session}, {note}" for line in out)

    stray = journal_dir / "market" / "notes.jsonl.gz"
    stray.write_bytes(b"")
    assert parity.run(stray) == 2
    assert capsys.readouterr().err == (
        f"backtest.parity: error: {stray} is not a recorded session (session-<ms>.jsonl.gz)\n"
    )


def test_a_changed_stop_loss_is_named_at_the_first_protective_decision(live_session, tmp_path):
    """The replay runs a 0.01 % stop-loss where the session ran 0.005 %: the first stop-loss
    decision is the first divergence, with both texts."""
    journal_dir = _copy(live_session, tmp_path)
    _rewrite_header(journal_dir, lambda h: h["risk"].update(stop_loss_pct="0.01"))
    live = parity.load_live(journal_dir, _session(journal_dir))
    first_stop = next(i for i, d in enumerate(live.decisions) if "STOP_MARKET" in d.action)

    result = parity.audit(journal_dir)

    d = result.divergence
    assert d is not None and d.what == "decision" and d.index == first_stop
    assert "stop-loss 0.005%" in d.live and "stop-loss 0.01%" in d.replay
    assert d.live.split()[0] == d.replay.split()[0]  # same time: only the level differs
    assert parity.run(journal_dir) == 1


def test_a_fill_that_differs_is_named_with_both_sides(live_session):
    journal_dir = live_session[0]
    session = _session(journal_dir)
    live = parity.load_live(journal_dir, session)
    replay = parity.replay_session(session, live)
    assert parity.diff(live, replay) is None
    changed = list(replay.fills)
    changed[1] = replace(changed[1], price=changed[1].price + D("0.1"))
    replay.fills[:] = changed

    d = parity.diff(live, replay)

    assert d is not None and d.what == "fill" and d.index == 1
    f = live.fills[1]
    assert f"{f.client_order_id} {f.side} {f.qty:f} @ {f.price:f}" in d.live
    assert f"@ {f.price + D('0.1'):f}" in d.replay
    assert d.lines()[0] == "parity: first divergence at fill #2"


def test_a_missing_decision_is_named_as_none_on_the_replay_side(live_session):
    journal_dir = live_session[0]
    session = _session(journal_dir)
    live = parity.load_live(journal_dir, session)
    replay = parity.replay_session(session, live)
    last = len(replay.decisions) - 1
    del replay.decisions[last]

    d = parity.diff(live, replay)

    assert d is not None and d.what == "decision" and d.index == last
    assert d.replay == "(none)" and d.live == parity.decision_text(live.decisions[last])


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert parity.run(tmp_path / "missing") == 2
    (tmp_path / "j").mkdir()
    SqliteJournal(tmp_path / "j").close()
    assert parity.run(tmp_path / "j") == 2  # a journal without a recorded session
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("backtest.parity: error: no journal at")
    assert err[1].startswith("backtest.parity: error: no recorded session in")


def test_a_relative_journal_path_is_named_as_a_path_like_the_other_journal_lines(
    tmp_path, monkeypatch, capsys
):
    """As `shown_path` names a journal directory elsewhere ("the journal in ./journal"), not
    the bare `journal` given. Before: "no journal at journal"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "j").mkdir()
    SqliteJournal(tmp_path / "j").close()

    assert parity.run("journal") == parity.run("j") == 2

    assert capsys.readouterr().err.splitlines() == [
        "backtest.parity: error: no journal at ./journal",
        (
            "backtest.parity: error: no recorded session in ./j/market (sessions are recorded in "
            "local mode)"
        ),
    ]


def test_a_request_goes_before_market_items_of_its_own_ms_and_after_older_ones():
    first = parity._request_first
    assert first(1_000, 1_001)  # a later item: published after
    assert first(1_000, 1_000)  # same ms: the exchange's replay publishes it just after
    assert not first(1_000, 999)  # an older item: already published


def _snapshot(
    qty: str, entry: str, wallet: str = "9999.95264420", open_orders: tuple = ()
) -> VenueSnapshot:
    return VenueSnapshot(
        event_time_ms=T0,
        recv_time_ms=T0,
        balances=(Balance(asset="USDT", wallet_balance=D(wallet), available_balance=D(1)),),
        positions=(Position(symbol=SYMBOL, qty=D(qty), entry_price=D(entry), leverage=3),),
        open_orders=open_orders,
        reason="start",
    )


def test_a_session_that_starts_with_a_position_gets_it_on_the_engine_at_the_same_wallet():
    """A later session in the same journal: the engine account starts as the exchange's
    snapshot shows it (the opening fee is added first, so the wallet is exact)."""
    engine, _, kept = parity._engine_at_start(INSTRUMENTS, T0, _snapshot("-0.002", "60000.10"), 3)
    assert kept == []

    (usdt,) = engine.balance(parity.ACCOUNT, {})
    assert usdt["balance"] == "9999.95264420"
    (pos,) = engine.position_risk(parity.ACCOUNT, {"symbol": SYMBOL})
    assert D(pos["positionAmt"]) == D("-0.002") and D(pos["entryPrice"]) == D("60000.10")


def _kept_stop(cid: str, *, protective: bool = True) -> Order:
    return Order(
        client_order_id=cid,
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.STOP_MARKET if protective else OrderType.LIMIT,
        quantity=D(0) if protective else D("0.002"),
        price=None if protective else D("59000.0"),
        time_in_force=None,
        status=OrderStatus.NEW,
        created_ms=T0,
        updated_ms=T0,
        order_id=777,  # the live exchange's algo id
        stop_price=D("61200.0") if protective else None,
        close_position=protective,
    )


def test_the_stop_a_stop_kept_for_the_open_position_is_placed_again_on_the_engine():
    """The daemon stopped with a short position open and kept its stop-loss on the exchange:
    the next session's replay starts with that stop resting on the engine, tracked under
    the engine's algo id."""
    snapshot = _snapshot("-0.002", "60000.10", open_orders=(_kept_stop("bot-7"),))
    engine, _, kept = parity._engine_at_start(INSTRUMENTS, T0, snapshot, 3)

    [order] = kept
    [resting] = engine.open_algo_orders(parity.ACCOUNT, {"symbol": SYMBOL})
    assert resting["clientAlgoId"] == "bot-7" and D(resting["triggerPrice"]) == D("61200.0")
    assert order.order_id == resting["algoId"] and order.client_order_id == "bot-7"


def test_other_orders_kept_open_are_bad_input():
    snapshot = _snapshot("-0.002", "60000.10", open_orders=(_kept_stop("bot-8", protective=False),))
    with pytest.raises(parity.ParityInputError, match="other than protective stops"):
        parity._engine_at_start(INSTRUMENTS, T0, snapshot, 3)


def test_a_starting_position_off_the_tick_grid_is_bad_input():
    with pytest.raises(parity.ParityInputError, match="off the tick grid"):
        parity._engine_at_start(INSTRUMENTS, T0, _snapshot("0.003", "60000.15"), 3)


def test_an_order_filled_at_an_older_touch_is_placed_before_the_late_published_item():
    """The exchange stamped the order at 1006 ms but filled it at the touch of 1000 ms (its
    replay published the 1005 ms touch late): of the two positions within the window only
    'after the first touch' gives that fill, so that is where the order goes."""
    engine = Exchange(INSTRUMENTS, SimClock(T0), EngineConfig())
    engine.create_account(parity.ACCOUNT, {"USDT": D(10_000)})
    feed = [
        (T0 + 1000, 0, BookTicker(SYMBOL, 1, D("99.9"), D(5), D("100.0"), D(5), T0 + 1000, 0, 0)),
        (T0 + 1005, 1, BookTicker(SYMBOL, 2, D("100.9"), D(5), D("101.0"), D(5), T0 + 1005, 0, 0)),
    ]
    buy = OrderRequest(
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.MARKET,
        quantity=D("0.5"),
        client_order_id="x-1",
    )
    place = parity._placement
    assert place(engine, feed, 0, T0 + 1006, buy, INSTRUMENTS, [(D("101.0"), D("0.5"))]) == 2
    assert place(engine, feed, 0, T0 + 1006, buy, INSTRUMENTS, [(D("100.0"), D("0.5"))]) == 1
    # no position reproduces it: the usual one (the diff will then name the fill)
    assert place(engine, feed, 0, T0 + 1006, buy, INSTRUMENTS, [(D("99.0"), D("0.5"))]) == 2
    # outside the window: never moved
    far = T0 + 1005 + parity.PLACEMENT_WINDOW_MS + 1
    assert place(engine, feed, 0, far, buy, INSTRUMENTS, [(D("100.0"), D("0.5"))]) == 2


class LimitFlipper(StrategyBase):
    """A test strategy of resting limit orders: each closed bar flips the target between
    long and short 0.002, at 3 USDT better than the close (filled as maker when the zigzag
    comes back, re-placed when the next bar's price no longer fits)."""

    name = "parity_limit_test"

    def __init__(self, **_params: object) -> None:
        self.bars = 0

    def on_bar(self, bar: Bar, view: object) -> tuple[TargetPosition, ...]:
        self.bars += 1
        side = 1 if self.bars % 2 else -1
        price = bar.close - D(3) if side > 0 else bar.close + D(3)
        target = D("0.002") * side
        return (
            TargetPosition(symbol=bar.symbol, qty=target, price=price, reason=f"flip {self.bars}"),
        )


def test_resting_limit_orders_maker_fills_and_cancels_replay_identical(tmp_path, monkeypatch):
    monkeypatch.setitem(STRATEGIES, LimitFlipper.name, LimitFlipper)
    journal_dir = tmp_path / "journal"
    record_live_session(journal_dir, strategy_name=LimitFlipper.name, params={})

    result = parity.audit(journal_dir)

    assert result.divergence is None, result.lines()
    live = parity.load_live(journal_dir, _session(journal_dir))
    assert sum(f.is_maker for f in live.fills) >= 3  # resting limit orders filled as maker
    assert sum("cancel" in d.action for d in live.decisions) >= 3  # re-placed ones canceled


def test_a_journal_a_daemon_still_runs_on_is_refused_in_one_line(live_session, tmp_path, capsys):
    journal_dir = _copy(live_session, tmp_path)
    running = SqliteJournal(journal_dir)  # holds the writer lock, as a running daemon does
    try:
        assert parity.run(journal_dir) == 2
    finally:
        running.close()

    err = capsys.readouterr().err
    assert err == (
        f"backtest.parity: error: a daemon is still running on {journal_dir} (its journal is "
        "locked): "
        "stop it, then audit its session\n"
    )


def test_a_session_with_a_hole_is_bad_input_naming_the_hole(live_session, tmp_path, capsys):
    """The recorder dropped entries while the disk refused its file (and marked where): the
    replay would diverge somewhere after it, for no reason the audit could name."""
    journal_dir = _copy(live_session, tmp_path)
    hole = orjson.dumps(["h", 37, T0 + 10_000, T0 + 19_000]) + b"\n"  # 00:00:10 to 00:00:19
    _rewrite_entries(journal_dir, lambda lines: [*lines[:100], hole, *lines[100:]])

    assert parity.run(journal_dir) == 2

    session = session_files(journal_dir)[-1]
    assert capsys.readouterr().err == (
        f"backtest.parity: error: {session}: the recording has 1 hole (the disk refused the "
        "file; the entries "
        "were dropped): 37 entries from 2025-05-05 00:00:10 UTC to 2025-05-05 00:00:19 UTC: a "
        "replay without them cannot be compared with the journal\n"
    )


def test_a_session_the_size_limit_stopped_is_bad_input_naming_where_and_the_limit(
    live_session, tmp_path, capsys
):
    """The recording stopped at 00:00:10 (the session reached the limit by itself) while the
    journal holds the whole run: compared, everything after would read as a divergence."""
    journal_dir = _copy(live_session, tmp_path)
    mark = orjson.dumps(["h", 0, T0 + 10_000, T0 + 10_000, "size_limit", 500_000_000]) + b"\n"
    _rewrite_entries(journal_dir, lambda lines: [*lines[:100], mark])

    assert parity.run(journal_dir) == 2

    session = session_files(journal_dir)[-1]
    assert capsys.readouterr().err == (
        f"backtest.parity: error: {session}: the recording has 1 hole (the session reached "
        "[retention] "
        "market_sessions_mb = 500 by itself and stopped recording: raise it (0 = no limit) to "
        "record whole sessions): from 2025-05-05 00:00:10 UTC to the session's end: a replay "
        "without them cannot be compared with the journal\n"
    )


def test_a_session_cut_short_says_where_its_recording_ends(live_session, tmp_path):
    """A disk still full at the stop (or a kill): the file's end is missing. The audit
    replays what there is and says where it ends, beside the divergence that follows."""
    journal_dir = _copy(live_session, tmp_path)
    path = session_files(journal_dir)[-1]
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    cut = read_session(path)
    last = cut.last_ms()
    assert not cut.complete and last is not None and last < T0 + 250 * 239

    result = parity.audit(journal_dir)

    assert result.cut_short_at_ms == last
    at = datetime.fromtimestamp(last / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    assert result.lines()[-1] == (
        f"  (the recording is cut short at {at} UTC: the daemon was killed, or its disk was "
        "full at the stop; what the journal holds after that was not replayed)"
    )


def test_a_session_started_with_a_side_held_after_a_stop_replays_identical(tmp_path):
    """A restart after a stop closed a long: the daemon holds that side flat (restored from
    the journal) and the session header says so; the replay starts so too. Read without it,
    the replay's first long target buys where the session did not."""
    journal_dir = tmp_path / "journal"
    decisions = record_live_session(journal_dir, held_exit=Side.SELL)

    result = parity.audit(journal_dir)

    assert result.divergence is None, result.lines()
    assert result.decisions == decisions
    _rewrite_header(journal_dir, lambda h: h.pop("held_exits"))
    assert parity.audit(journal_dir).divergence is not None


def test_the_stop_loss_the_start_up_reconciliation_places_replays_at_its_recorded_time(
    tmp_path,
):
    """The session starts short 0.004 with no stop-loss on the exchange: the end of the
    start-up reconciliation places one, at a clock reading 1 ms after the snapshot (a busy
    machine). The recording holds that end with its reading, so the replay places the same
    stop at the same ms. Read without it (a replay of the events one by one), the stop went
    out at the snapshot's reading: a false divergence of 1 ms at the first decision."""
    journal_dir = tmp_path / "journal"
    decisions = record_live_session(journal_dir, start_qty=D("-0.004"))
    session = _session(journal_dir)
    assert [e for e in session.entries if e[0] in "rR"] == [("r", T0 - 900), ("R", T0 - 899)]
    first = _journaled(journal_dir, "DecisionMade")[0]
    # stop_loss_pct 0.005 (%): 60000.0 * (1 + 0.005 / 100) = 60003.0, at the end's reading
    assert (first.event_time_ms, first.action) == (
        T0 - 899,
        "BUY close-position STOP_MARKET stop 60003.0",
    )

    result = parity.audit(journal_dir)

    assert result.divergence is None, result.lines()
    assert result.decisions == decisions
    _rewrite_entries(journal_dir, lambda lines: [x for x in lines if not x.startswith(b'["r')])
    divergence = parity.audit(journal_dir).divergence
    assert divergence is not None
    assert (divergence.what, divergence.index) == ("decision", 0)
    assert divergence.live.startswith(f"{T0 - 899} BTCUSDT exec_manager: BUY close-position")
    assert divergence.replay.startswith(f"{T0 - 900} BTCUSDT exec_manager: BUY close-position")


def test_a_fill_the_daemon_got_after_the_next_event_is_replayed_at_its_own_reading(
    tmp_path, monkeypatch
):
    """A busy machine: each fill's REST answer reaches the daemon 1 ms after the user
    stream's next event (the engine sent them the other way round). The stop-loss planned
    once the entry has filled is decided at the fill's reading; the replay hands the fill on
    at its own entry, not with the event before it, so the audit is empty. Handed on with
    that event (as before), the stop-loss was replayed 1 ms early (the reviewer's false
    divergence under load)."""
    journal_dir = tmp_path / "journal"
    decisions = record_live_session(journal_dir, late_fills=True)

    result = parity.audit(journal_dir)

    assert result.divergence is None, result.lines()
    assert result.decisions == decisions and result.fills >= 2
    deliver_through = parity.ParityVenue.deliver_through
    monkeypatch.setattr(  # every event before the matching one handed on with it
        parity.ParityVenue, "deliver_through", lambda venue, key, later: deliver_through(venue, key)
    )
    divergence = parity.audit(journal_dir).divergence
    assert divergence is not None and divergence.what == "decision"
    live_ms, live_rest = divergence.live.split(" ", 1)
    replay_ms, replay_rest = divergence.replay.split(" ", 1)
    assert int(live_ms) == int(replay_ms) + 1 and live_rest == replay_rest
    assert "STOP_MARKET" in live_rest and "(stop-loss " in live_rest


def _parity_venue() -> parity.ParityVenue:
    engine = Exchange(INSTRUMENTS, SimClock(T0), EngineConfig())
    return parity.ParityVenue(engine=engine, account="a", clock=SimClock(T0),
                              instruments=INSTRUMENTS, due_order=lambda _c: None,
                              due_cancel=lambda _c: None, request_time=lambda: T0)  # fmt: skip


def _canceled(cid: str) -> OrderCanceled:
    return OrderCanceled(event_time_ms=T0, recv_time_ms=T0, symbol=SYMBOL,
                         client_order_id=cid, order_id=None)  # fmt: skip


def test_a_held_event_waits_for_its_own_entry_and_the_earliest_of_a_key_goes_first():
    """`deliver_through` pairs the engine's events with the recording's entries by key, in
    order: one with an entry still to come waits; of two of a key with one entry to come,
    the earlier goes now and the later waits (their order kept)."""
    venue = _parity_venue()
    got: list[str] = []
    venue.listener = lambda e: got.append(e.client_order_id)
    venue.held.extend([_canceled("x"), _canceled("y"), _canceled("x"), _canceled("z")])
    later = Counter({("OrderCanceled", "x"): 1, ("OrderCanceled", "y"): 0})

    assert venue.deliver_through(("OrderCanceled", "z"), later) == 3
    assert got == ["x", "y", "z"]  # the first x has no entry to come; the second waits
    assert [e.client_order_id for e in venue.held] == ["x"]
    assert venue.deliver_through(("OrderCanceled", "x"), Counter()) == 1
    assert got == ["x", "y", "z", "x"] and not venue.held


def test_an_event_whose_entry_passed_before_the_engine_sent_it_goes_at_the_next_one():
    """The engine behind the daemon: the entry of x finds nothing held; x, sent after, is
    handed on with the next entry's event, though an entry of its key is still to come
    (waiting for it would hand every later x on one entry late)."""
    venue = _parity_venue()
    got: list[str] = []
    venue.listener = lambda e: got.append(e.client_order_id)
    later = Counter({("OrderCanceled", "x"): 1})

    assert venue.deliver_through(("OrderCanceled", "x"), later) == 0
    venue.held.extend([_canceled("x"), _canceled("z"), _canceled("x")])
    assert venue.deliver_through(("OrderCanceled", "z"), later) == 2

    assert got == ["x", "z"] and [e.client_order_id for e in venue.held] == ["x"]


def test_a_session_with_a_pause_replays_the_entries_it_held(tmp_path):
    """The daemon does not run for 30 s (a suspended process; the fake clock jumps): at the
    first trade after it, it notices the pause and holds entries (data lag over
    `max_data_lag_ms`) until the reconciliation it asks for answers, 40 trades (10 s) later.
    The recording says when it noticed the pause and how long it was; the replay holds the
    same entries from the same point, so the audit is empty. Read without that entry (the
    backtester invents no pause), the replay enters where the daemon held."""
    journal_dir = tmp_path / "journal"
    decisions = record_live_session(journal_dir, n_trades=320, pause=(120, 30_000, 40))
    held = _journaled(journal_dir, "RiskDenied")
    assert any("behind the exchange" in e.reason for e in held)  # the daemon held an entry
    session = _session(journal_dir)
    resumed = T0 + 250 * 120 + 30_000
    assert [e for e in session.entries if e[0] == "p"] == [("p", resumed, 30_000)]

    result = parity.audit(journal_dir)

    assert result.divergence is None, result.lines()
    assert result.decisions == decisions
    assert result.replay.counters["denied"] >= 1
    _without(journal_dir, "p")
    assert parity.audit(journal_dir).divergence is not None


def test_a_session_killed_by_sigusr1_replays_the_kill_at_its_recorded_reading(tmp_path):
    """SIGUSR1 at trade 150 (a position open: the zigzag has traded by then): the daemon goes
    REDUCING, cancels, flattens, then HALTED. The recording has the kill with its reading;
    the replay pulls it there, so the audit is empty. Without that entry (the backtester
    cannot know a signal came) the replay trades on: a divergence."""
    journal_dir = tmp_path / "journal"
    decisions = record_live_session(journal_dir, n_trades=240, kill=(150, "signal"))
    states = _states(journal_dir)
    assert states[0] == ("REDUCING", "kill switch: SIGUSR1 kill switch")
    assert states[-1][0] == "HALTED"
    session = _session(journal_dir)
    assert [e for e in session.entries if e[0] == "k"] == [
        ("k", T0 + 250 * 150, "SIGUSR1 kill switch")
    ]

    result = parity.audit(journal_dir)

    assert result.divergence is None, result.lines()
    assert result.decisions == decisions
    _without(journal_dir, "k")
    assert parity.audit(journal_dir).divergence is not None


def test_a_kill_switch_file_found_on_the_tick_path_replays_from_the_recording(tmp_path):
    """The kill-switch file appears before trade 150; the ExecManager's own check (once a
    second, on an item) finds it. The recording says so at that item's reading; the replay's
    check answers from it, not from the disk: the audit is empty whether the file is still
    there (it is: a kill switch left for the operator) or gone, and without the entry the
    replay trades on."""
    journal_dir = tmp_path / "journal"
    flag = tmp_path / "KILL"
    decisions = record_live_session(journal_dir, n_trades=240, kill=(150, "file"), kill_file=flag)
    states = _states(journal_dir)
    assert states[0] == ("REDUCING", f"kill switch: file {flag} exists")
    session = _session(journal_dir)
    found = [e for e in session.entries if e[0] == "f"]
    # checked at most once a second from the first item (T0): found at the first check
    # from trade 150 (T0 + 37.5 s) on, at T0 + 38 s
    assert found == [("f", T0 + 38_000)]

    assert (result := parity.audit(journal_dir)).divergence is None, result.lines()
    assert result.decisions == decisions
    flag.unlink()
    assert parity.audit(journal_dir).divergence is None
    _without(journal_dir, "f")
    assert parity.audit(journal_dir).divergence is not None


def test_a_halted_state_restored_at_the_start_replays_without_trading(tmp_path):
    """The journal held HALTED from an earlier session: the daemon makes no entry all
    session, and neither does the replay (the restored state is recorded); without that
    entry the replay trades from the first cross."""
    journal_dir = tmp_path / "journal"
    decisions = record_live_session(journal_dir, n_trades=240, restored="HALTED")
    session = _session(journal_dir)
    assert ("x", "HALTED", "daily loss limit (an earlier session)") in session.entries

    result = parity.audit(journal_dir)

    assert result.divergence is None, result.lines()
    assert result.decisions == decisions
    assert result.fills == 0
    _without(journal_dir, "x")
    assert parity.audit(journal_dir).divergence is not None


def test_a_reset_halt_at_the_start_replays_at_its_recorded_reading(tmp_path):
    """`--reset-halt` over a HALTED state restored at the start: the daemon trades as usual,
    and so does the replay (it restores the state, then resets it at the same reading)."""
    journal_dir = tmp_path / "journal"
    decisions = record_live_session(journal_dir, n_trades=240, restored="HALTED", reset_halt=True)
    states = _states(journal_dir)
    assert states == [("ACTIVE", "operator reset: --reset-halt")]
    session = _session(journal_dir)
    assert ("X", T0 - 1_000, "--reset-halt") in session.entries

    result = parity.audit(journal_dir)

    assert result.divergence is None, result.lines()
    assert result.decisions == decisions >= 6
    assert result.fills >= 3


def test_a_drawdown_limit_on_the_peak_a_restart_restored_fires_in_the_replay_too(tmp_path):
    """A restart on a journal whose equity peaked at 10101 USDT two days before, the
    drawdown limit at 1 %: from 10000 USDT the session is 101 / 10101 = 0.9999 % below the
    peak, and the first fee takes it past 1 % (REDUCING, flatten, HALTED). The daemon
    restored that peak from its journal and recorded it; the replay restores the same counts,
    so the audit is empty. A recording without them (a session recorded before they were)
    measures from 10000 and trades on: a divergence."""
    journal_dir = tmp_path / "journal"
    decisions = record_live_session(
        journal_dir, n_trades=240, earlier_peak=D(10101), max_drawdown_pct=D(1)
    )
    states = _states(journal_dir)
    assert states[0][0] == "REDUCING" and "below the peak 10101.00 USDT (max 1%)" in states[0][1]
    assert states[-1][0] == "HALTED"
    header = _session(journal_dir).header
    assert header["limits"]["peak_equity"] == "10101"

    result = parity.audit(journal_dir)

    assert result.divergence is None, result.lines()
    assert result.decisions == decisions
    assert result.fills >= 2  # the entry, and the flatten the limit sent
    _rewrite_header(journal_dir, lambda h: h.pop("limits"))
    assert parity.audit(journal_dir).divergence is not None


@pytest.mark.parametrize("automatic", [True, False], ids=["automatic_resume", "reset_halt"])
def test_an_automatic_resume_at_the_start_replays_with_the_limits_it_kept(tmp_path, automatic):
    """A restart that lifts a HALTED state by itself (the user stream's failure cleared: the
    daemon's AUTOMATIC_RESET) on a journal whose equity peaked at 10101 USDT, the drawdown
    limit at 1 %, its last equity 10000. The resume re-arms nothing: the restored peak still
    counts, the first fee takes the session past 1 % below it (REDUCING, flatten, HALTED).
    `--reset-halt` at the same point re-arms the peak from 10000 and the session trades on.
    The replay resets with the recorded reason at the recorded reading, so it does the same:
    the audit is empty either way."""
    journal_dir = tmp_path / "journal"
    reason = f"{AUTOMATIC_RESET}: the user stream's failure is cleared" if automatic else None
    decisions = record_live_session(
        journal_dir,
        n_trades=240,
        earlier_peak=D(10101),
        earlier_wallet=True,
        max_drawdown_pct=D(1),
        restored="HALTED",
        reset_halt=True,
        **({"reset_reason": reason} if reason else {}),
    )
    states = _states(journal_dir)
    session = _session(journal_dir)
    assert session.header["limits"]["peak_equity"] == "10101"
    assert D(session.header["limits"]["equity"]) == 10000
    if automatic:
        assert states[0] == ("ACTIVE", reason)
        assert ("X", T0 - 1_000, reason) in session.entries
        assert states[1][0] == "REDUCING" and "below the peak 10101.00 USDT" in states[1][1]
        assert states[-1][0] == "HALTED"
    else:
        assert states == [("ACTIVE", "operator reset: --reset-halt")]

    result = parity.audit(journal_dir)

    assert result.divergence is None, result.lines()
    assert result.decisions == decisions
    assert result.fills >= (2 if automatic else 3)
    if automatic:  # replayed as an operator's reset, it would have traded on: it matters
        recorded = f'"{reason}"'.encode()
        _rewrite_entries(
            journal_dir, lambda lines: [x.replace(recorded, b'"--reset-halt"') for x in lines]
        )
        assert parity.audit(journal_dir).divergence is not None


def test_limit_counts_the_header_holds_in_a_shape_the_audit_cannot_read_are_bad_input(
    live_session, tmp_path, capsys
):
    journal_dir = _copy(live_session, tmp_path)
    _rewrite_header(journal_dir, lambda h: h.update(limits={"at_ms": T0, "peak_equity": "x"}))

    assert parity.run(journal_dir) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "backtest.parity: error: cannot rebuild the session's settings: a number in its header "
        "is not a decimal"
    ]


class Adder(StrategyBase):
    """A test strategy that adds to its long: 0.002 more at each closed bar (market), so
    the stop-loss moves on the same side at each fill (its closePosition replacement waits
    for the old one's cancel: -4130)."""

    name = "parity_adder_test"

    def __init__(self, **_params: object) -> None:
        self.bars = 0

    def on_bar(self, bar: Bar, view: object) -> tuple[TargetPosition, ...]:
        self.bars += 1
        return (TargetPosition(symbol=bar.symbol, qty=D("0.002") * self.bars, reason="add"),)


def test_a_stop_loss_placed_while_the_shutdown_waits_for_it_replays_before_the_stop(
    tmp_path, monkeypatch
):
    """SIGTERM while a position's stop-loss is being replaced (the old one's cancel sent,
    the new one waiting for its confirmation): the daemon's shutdown waits for the new stop
    to go out before it stops trading. Recorded before that wait, the stop entry made the
    replay stop trading first: the new stop never went out, a divergence (the protective
    decision, or its fill). Recorded where the daemon stops trading, after the wait (as
    trading_engine.daemon now does), the audit is empty."""
    monkeypatch.setitem(STRATEGIES, Adder.name, Adder)
    before, after = tmp_path / "before", tmp_path / "after"
    kw = {"n_trades": 240, "strategy_name": Adder.name, "params": {}}
    record_live_session(before / "journal", stop_pending="before", **kw)
    decisions = record_live_session(after / "journal", stop_pending="after", **kw)

    assert parity.audit(before / "journal").divergence is not None
    result = parity.audit(after / "journal")
    assert result.divergence is None, result.lines()
    assert result.decisions == decisions


class Raiser(StrategyBase):
    """A test strategy that raises on every third closed bar and otherwise flips between
    long and flat (as /tmp's walkthrough strategy raising in on_bar)."""

    name = "parity_raiser_test"

    def __init__(self, **_params: object) -> None:
        self.bars = 0

    def on_bar(self, bar: Bar, view: object) -> tuple[TargetPosition, ...]:
        self.bars += 1
        if self.bars % 3 == 0:
            raise ZeroDivisionError("division by zero")
        qty = D("0.002") * (self.bars % 2)
        return (TargetPosition(symbol=bar.symbol, qty=qty, reason="flip"),)


def test_a_strategy_s_errors_are_counted_under_the_verdict_not_logged(
    tmp_path, monkeypatch, capsys
):
    """The replay meets the errors the daemon met (and logged): the audit prints its verdict
    and one note with both counts, not a traceback per error."""
    monkeypatch.setitem(STRATEGIES, Raiser.name, Raiser)
    journal_dir = tmp_path / "journal"
    decisions = record_live_session(journal_dir, strategy_name=Raiser.name, params={})

    status = backtest_main(["--replay-journal", str(journal_dir)])

    out, err = capsys.readouterr()
    fills = parity.audit(journal_dir).fills
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        f"parity: identical ({decisions} decisions, {fills} fills)",
        "  (the strategy raised on 19 items in the replay; 19 in the session)",
    ]


def _before_the_count(line: bytes) -> bytes:
    """A stop entry as recorded before it carried the daemon's item errors (4 fields)."""
    row = orjson.loads(line)
    return orjson.dumps(row[:4]) + b"\n" if isinstance(row, list) and row[0] == "s" else line


def test_a_session_recorded_without_its_error_count_says_so(tmp_path, monkeypatch):
    monkeypatch.setitem(STRATEGIES, Raiser.name, Raiser)
    journal_dir = tmp_path / "journal"
    record_live_session(journal_dir, strategy_name=Raiser.name, params={})
    _rewrite_entries(journal_dir, lambda lines: [_before_the_count(x) for x in lines])

    lines = parity.audit(journal_dir).lines()

    assert lines[1:] == [
        "  (the strategy raised on 19 items in the replay; not counted in this recording)"
    ]


def _constant_model(reg: Path, side: int) -> str:
    """A registry version of the shipped model made to say `side` (1 BUY, -1 SELL) on every
    bar whatever the features (zero coefficients, the intercept on one class)."""
    doc = json.loads(registry.promoted(Path(resolve_model_path("models/btcusdt-1m"))).read_text())
    doc["linear"]["coef"] = [[0.0] * len(doc["feature_names"]) for _ in doc["classes"]]
    doc["linear"]["intercept"] = [3.0 if c == side else -3.0 for c in doc["classes"]]
    src = reg.parent / f"side{side}.json"
    src.write_text(json.dumps(doc))
    return registry.add(reg, src)


def test_a_model_promoted_during_the_session_is_switched_to_at_the_same_bar(tmp_path):
    """A registry's hot swap (long -> short) is recorded where the daemon switched; the
    replay switches there too. The replay once ran the whole session on the start model: the
    short never came, and a session whose switch changed no decision was "identical"."""
    reg = tmp_path / "registry"
    long_model, short_model = _constant_model(reg, 1), _constant_model(reg, -1)
    registry.promote(reg, long_model, "test: start")
    journal_dir = tmp_path / "journal"
    params = {"model_path": str(reg), "order_notional_usdt": D(200), "allow_short": True}
    promote = (400, lambda: registry.promote(reg, short_model, "test: a better model"))

    decisions = record_live_session(
        journal_dir, 600, "logistic_regression", params, between=promote
    )

    switches = [e for e in read_session(session_files(journal_dir)[-1]).entries if e[0] == "m"]
    assert [e[2]["version"] for e in switches] == [short_model]
    reasons = [d.reason for d in _journaled(journal_dir, "DecisionMade")]
    assert any("BUY: long" in r for r in reasons) and any("SELL: short" in r for r in reasons)
    result = parity.audit(journal_dir)
    assert result.divergence is None, result.lines()
    assert result.decisions == decisions


# --- backtest_trading_strategy.py --replay-journal: --out, and the flags it refuses ---------------


def test_replay_journal_with_out_writes_the_audit_report_there(live_session, tmp_path, capsys):
    journal_dir, decisions = live_session
    out = tmp_path / "audit"

    status = backtest_main(["--replay-journal", str(journal_dir), "--out", str(out)])

    assert status == 0
    printed = capsys.readouterr().out
    verdict = printed.splitlines()[0]
    # the verdict, then where the report went (as the README says): nothing else
    assert printed == f"{verdict}\nparity report -> {out}\n"
    assert (out / "parity.txt").read_text() == verdict + "\n"
    doc = json.loads((out / "parity.json").read_text())
    assert doc["verdict"] == "identical" and doc["exit_code"] == 0
    assert doc["first_divergence"] is None
    assert doc["live"]["decisions"] == doc["replay"]["decisions"] == decisions
    rows = list(csv.DictReader((out / "parity_decisions.csv").open()))
    assert [r["n"] for r in rows] == [str(i) for i in range(1, decisions + 1)]
    assert all(r["same"] == "1" and r["live"] == r["replay"] for r in rows)
    fills = list(csv.DictReader((out / "parity_fills.csv").open()))
    assert len(fills) == doc["live"]["fills"] >= 3 and all(r["same"] == "1" for r in fills)


def test_replay_journal_with_out_reports_the_first_divergence_in_the_files(
    live_session, tmp_path, capsys
):
    journal_dir = _copy(live_session, tmp_path)
    _rewrite_header(journal_dir, lambda h: h["risk"].update(stop_loss_pct="0.01"))
    out = tmp_path / "audit"

    status = backtest_main(["--replay-journal", str(journal_dir), "--out", str(out)])

    assert status == 1
    doc = json.loads((out / "parity.json").read_text())
    first = doc["first_divergence"]
    assert doc["verdict"] == "diverged" and first["what"] == "decision"
    rows = list(csv.DictReader((out / "parity_decisions.csv").open()))
    assert [r["same"] for r in rows[: first["n"]]] == ["1"] * (first["n"] - 1) + ["0"]
    assert rows[first["n"] - 1]["live"] == first["live"]
    assert "stop-loss 0.01%" in rows[first["n"] - 1]["replay"]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--strategy", "rsi_macd"], "--strategy"),
        (["--start", "2025-05-06", "--end", "2025-05-07"], "--start, --end"),
        (["--data", "x.csv", "--symbol", "ETHUSDT"], "--data, --symbol"),
        (["--fees", "-0.0001,0.0005"], "--fees"),
        (["--param", "fast=3"], "--param"),
        (["--no-html"], "--no-html"),
        (["--symbol", "BTCUSDT"], "--symbol"),  # even the default's value: it is not used
    ],
)
def test_replay_journal_refuses_the_backtests_own_flags_in_one_line(
    live_session, tmp_path, capsys, extra, named
):
    out = tmp_path / "audit"

    status = backtest_main(["--replay-journal", str(live_session[0]), *extra, "--out", str(out)])

    assert status == 2
    err = capsys.readouterr().err
    assert err == (
        f"backtest_trading_strategy.py: error: {named} cannot be used with --replay-journal: "
        "the audit "
        "replays the session with the settings it recorded (only --out DIR is taken)\n"
    )
    assert not out.exists()  # nothing written, nothing audited


def test_replay_journal_errors_start_as_the_commands_other_errors(tmp_path, capsys):
    """They start `backtest_trading_strategy.py: error: ` as the command's other errors do, not
    as `python -m backtest.parity`'s (`backtest.parity: error: `)."""
    status = backtest_main(["--replay-journal", str(tmp_path / "missing")])

    assert status == 2
    assert capsys.readouterr().err == (
        f"backtest_trading_strategy.py: error: no journal at {tmp_path / 'missing'}\n"
    )


def test_replay_journal_given_twice_exits_2_naming_it(live_session, tmp_path, capsys):
    other = tmp_path / "other"

    with pytest.raises(SystemExit) as exit_:
        backtest_main(["--replay-journal", str(live_session[0]), "--replay-journal", str(other)])

    assert exit_.value.code == 2
    assert "--replay-journal given twice: it takes one value" in capsys.readouterr().err


def test_python_m_backtest_parity_with_an_out_that_is_a_file_is_one_line_exit_2(tmp_path, capsys):
    """`--out` a file: a FileExistsError traceback once the audit had run (the backtester's
    `--replay-journal` checks it first; `python -m backtest.parity` did not)."""
    afile = tmp_path / "afile"
    afile.write_text("")

    assert parity.main([str(tmp_path / "journal"), "--out", str(afile)]) == 2
    assert capsys.readouterr().err == f"backtest.parity: error: --out: {afile} is not a directory\n"


def test_the_replayed_answers_pop_in_order_and_their_unrecorded_answer_pops_nothing():
    """A replay's `gap_open` / `clock_offset_ms` give the session's answers in order; their
    `__wrapped__` (what the order path's rehearsal would ask) answers the default and takes
    none of them."""
    gaps = deque([True, False])
    replayed = parity._replayed(gaps, False)
    assert inspect.unwrap(replayed)("BTCUSDT") is False and len(gaps) == 2
    assert [replayed("BTCUSDT"), replayed("BTCUSDT"), replayed("BTCUSDT")] == [True, False, False]
    offsets = deque([12])
    assert [parity._replayed(offsets, 0)() for _ in range(2)] == [12, 0]


class LowBid(StrategyBase):
    """A long 0.002 bid 50 USDT under each closed bar's close: it rests, never filled."""

    name = "parity_low_bid_test"

    def __init__(self, **_params: object) -> None:
        pass

    def on_bar(self, bar: Bar, view: object) -> tuple[TargetPosition, ...]:
        price = bar.close - D(50)
        return (TargetPosition(symbol=bar.symbol, qty=D("0.002"), price=price, reason="bid"),)


def test_the_orders_the_shutdown_cancels_are_a_decision_replayed_at_its_reading(
    tmp_path, monkeypatch
):
    """The daemon's stop cancels the resting orders: a cancel-all decision, journaled at the
    reading its recording's stop entry notes, and the replay decides the same."""
    monkeypatch.setitem(STRATEGIES, LowBid.name, LowBid)
    journal_dir = tmp_path / "journal"
    record_live_session(journal_dir, strategy_name=LowBid.name, params={})

    result = parity.audit(journal_dir)

    assert result.divergence is None, result.lines()
    decisions = parity.load_live(journal_dir, _session(journal_dir)).decisions
    assert [d for d in decisions if d.action == CANCEL_ALL] == [
        DecisionMade(
            event_time_ms=stop_ms(journal_dir),
            recv_time_ms=stop_ms(journal_dir),
            symbol=SYMBOL,
            strategy="exec_manager",
            action=CANCEL_ALL,
            reason=STOPS,
        )
    ]
    with SqliteJournal(journal_dir, readonly=True) as journal:
        [orders_csv, _] = journal.export_csv(tmp_path / "audit")
    with orders_csv.open(newline="") as fh:
        at_stop = [r for r in csv.DictReader(fh) if r["why_cancelled"] == f"exec_manager: {STOPS}"]
    assert at_stop and all(r["status"] == "CANCELED" for r in at_stop)


def test_a_session_of_a_daemon_whose_stop_decided_no_cancels_replays_none(tmp_path, monkeypatch):
    """Recorded before the shutdown's cancels were decisions (a stop entry of 5 fields, no
    such decision journaled): the replay decides none either."""
    monkeypatch.setitem(STRATEGIES, LowBid.name, LowBid)
    journal_dir = tmp_path / "journal"
    record_live_session(journal_dir, strategy_name=LowBid.name, params={}, stop_decision=False)
    _rewrite_entries(journal_dir, lambda lines: [_five_fields(x) for x in lines])

    assert parity.audit(journal_dir).divergence is None


def stop_ms(journal_dir: Path) -> int:
    """The clock reading of the recorded session's stop entry."""
    path = session_files(journal_dir)[-1]
    with gzip.open(path, "rb") as fh:
        rows = [orjson.loads(line) for line in fh.read().splitlines()[1:]]
    (stop,) = [r for r in rows if isinstance(r, list) and r[0] == "s"]
    return int(stop[1])


def _five_fields(line: bytes) -> bytes:
    """A stop entry as recorded before it carried the cancels' reason (5 fields)."""
    row = orjson.loads(line)
    return orjson.dumps(row[:5]) + b"\n" if isinstance(row, list) and row[0] == "s" else line


CLOCKED_SMA = """\
import time

from trading_engine.strategies.sma_crossover import SmaCrossover


class ClockedSma(SmaCrossover):
    def on_bar(self, bar, view):
        self.last_seen = time.time()
        return super().on_bar(bar, view)
"""


def test_the_audit_warns_of_a_strategy_that_reads_the_clock(
    live_session, tmp_path, monkeypatch, request, caplog
):
    # A divergence such a strategy makes had no named cause; here it decides nothing: identical.
    journal_dir = _copy(live_session, tmp_path)
    (tmp_path / "parity_clocked_sma.py").write_text(CLOCKED_SMA)
    own = {"strategy": "parity_clocked_sma.py:ClockedSma", "strategy_dir": str(tmp_path)}
    _rewrite_header(journal_dir, lambda h: h.update(own))
    monkeypatch.setattr(sys, "path", list(sys.path))
    request.addfinalizer(lambda: sys.modules.pop("parity_clocked_sma", None))

    with caplog.at_level("WARNING", logger="backtest.parity"):
        result = parity.audit(journal_dir)

    assert result.divergence is None, result.lines()
    assert [r.getMessage() for r in caplog.records if r.name == "backtest.parity"] == [
        "strategy 'parity_clocked_sma.py:ClockedSma': parity_clocked_sma.py:8: time.time() "
        "reads the machine's clock: two runs on the same data can differ (backtests, the parity "
        "audit, the daemon); use the time of the item the callback is given (bar.close_time_ms, "
        "trade.trade_time_ms, tick.event_time_ms)"
    ]
