"""A restart of a daemon halted because its user stream failed for good (the API key revoked:
the listenKey refused). Once the key is fixed the start gets through (its signed requests
accepted; its user stream must connect before anything is traded, or the start fails), which
clears that cause: it resumes ACTIVE by itself and says why. Before, it stayed HALTED (a
REDUCING one flattened the position first) until a restart with `--reset-halt`. Unlike
`--reset-halt` the resume re-arms no limit: the drawdown peak, the day's loss and its trades
count on from before the halt. A halt with any other cause, or one after which a liquidation
was journaled, or with the kill-switch file there, still waits for the operator."""

import io
from decimal import Decimal

import pytest

from core.enums import Side, TradingState
from core.events import OrderFilled, TradingStateChanged
from core.orders import Fill
from risk_manager import LimitCounts
from runtime.settings import load_settings
from tests.trading_engine.support import T0, make_rig
from trading_engine.daemon import Daemon

KEY_REVOKED = (
    "user stream failed: futures_stream_get_listen_key: HTTP 401 -2015 Invalid API-key, IP, or "
    "permissions for action."
)


def _halted(reason: str, current: TradingState = TradingState.HALTED) -> TradingStateChanged:
    return TradingStateChanged(
        event_time_ms=T0,
        recv_time_ms=T0,
        previous=TradingState.REDUCING if current is TradingState.HALTED else TradingState.ACTIVE,
        current=current,
        reason=reason,
    )


def _liquidated() -> OrderFilled:
    """A fill of the exchange's liquidation order, as a start-up reconciliation recovers it."""
    fill = Fill(
        symbol="BTCUSDT", order_id=7, client_order_id="autoclose-1796388612382", trade_id=501,
        side=Side.SELL, price=Decimal(90000), qty=Decimal("0.1"), commission=Decimal("0.1"),
        commission_asset="USDT", realized_pnl=Decimal(-50), is_maker=False,
        trade_time_ms=T0 + 1, recv_time_ms=T0 + 2,
    )  # fmt: skip
    return OrderFilled(
        event_time_ms=T0 + 1, recv_time_ms=T0 + 2, fill=fill, cumulative_qty=Decimal("0.1"),
        avg_price=Decimal(90000),
    )  # fmt: skip


def test_a_halt_by_the_user_stream_failing_is_lifted_by_a_start_that_gets_through() -> None:
    rig = make_rig()
    out = io.StringIO()
    daemon = Daemon(load_settings(None, env_file=None), out=out)

    daemon._restore_trading_state([_halted(KEY_REVOKED)], rig.risk, rig.em)
    daemon._resume_if_cleared(())

    assert rig.risk.state is TradingState.ACTIVE
    [resumed] = [e for e in rig.journal.events if isinstance(e, TradingStateChanged)]
    assert (resumed.previous, resumed.current) == (TradingState.HALTED, TradingState.ACTIVE)
    assert resumed.reason == (
        "automatic reset at start: the user stream's failure is cleared: this start's signed "
        "requests were accepted"
    )
    assert out.getvalue() == (
        f"trading state was HALTED ({KEY_REVOKED}): resumed ACTIVE (the user stream's failure "
        "is cleared: this start's signed requests were accepted); the limits were not "
        "re-armed: the drawdown peak, the day's loss and its trades count on from before the "
        "halt\n"
    )


@pytest.mark.parametrize("reset_halt", [False, True], ids=["automatic", "reset_halt"])
def test_the_automatic_resume_keeps_what_the_limits_counted_before_the_halt(reset_halt) -> None:
    """The start restored the day's counts from the journal (peak 10,500, the day from 10,000
    with 80 USDT of its 100 lost by the time the stream failed, 2 trades of 3); the automatic
    resume lifts the halt and nothing else: 20 USDT more reaches the daily loss, and no
    balance snapshot is journaled for a re-arming that did not happen. `--reset-halt` at the
    same point re-arms them all from the last equity (9,920), as before."""
    rig = make_rig(max_daily_loss_usdt=Decimal(100), max_trades_per_day=3)
    rig.risk.restore_limits(
        LimitCounts(
            at_ms=T0,
            peak_equity=Decimal(10500),
            trades_today=2,
            equity=Decimal(9920),
            day_start_equity=Decimal(10000),
        )
    )
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())
    daemon.reset_halt = reset_halt
    snapshots: list[int] = []

    daemon._restore_trading_state(
        [_halted(KEY_REVOKED)], rig.risk, rig.em, snapshot=lambda: snapshots.append(1)
    )
    daemon._resume_if_cleared(())

    risk = rig.risk
    assert risk.state is TradingState.ACTIVE
    if reset_halt:  # the operator's reset: unchanged
        assert (risk.peak_equity, risk.day_start_equity, risk.trades_today) == (
            Decimal(9920), Decimal(9920), 0
        )  # fmt: skip
        assert snapshots == [1]
        assert risk.on_equity(Decimal(9900), Decimal(0)) is None
        return
    assert (risk.peak_equity, risk.day_start_equity, risk.trades_today) == (
        Decimal(10500), Decimal(10000), 2
    )  # fmt: skip
    assert snapshots == []
    assert risk.on_equity(Decimal(9901), Decimal(0)) is None
    changed = risk.on_equity(Decimal(9900), Decimal(0))
    assert changed is not None and changed.reason == (
        "max daily loss: lost 100.00 USDT today (max 100 USDT)"
    )


def test_a_reducing_left_by_the_user_stream_failing_resumes_instead_of_flattening() -> None:
    rig = make_rig()
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())

    daemon._restore_trading_state([_halted(KEY_REVOKED, TradingState.REDUCING)], rig.risk, rig.em)
    daemon._resume_if_cleared(())

    assert rig.risk.state is TradingState.ACTIVE


def test_a_halt_by_the_user_stream_with_a_liquidation_since_waits_for_the_operator() -> None:
    rig = make_rig()
    out = io.StringIO()
    daemon = Daemon(load_settings(None, env_file=None), out=out)

    daemon._restore_trading_state(
        [_halted(KEY_REVOKED)],
        rig.risk,
        rig.em,
        forced_fill_since=lambda ms: "autoclose-1796388612382" if ms == T0 else None,
    )

    assert rig.risk.state is TradingState.HALTED
    assert out.getvalue() == (
        f"trading state restored: HALTED ({KEY_REVOKED}); no new entries until an operator "
        "restarts with --reset-halt\n"
    )


def test_a_halt_by_the_user_stream_with_a_liquidation_found_at_the_start_waits() -> None:
    """The liquidation was made while no daemon ran: the journal does not hold it when the
    state is restored, the start-up reconciliation recovers it. The halt is not lifted."""
    rig = make_rig()
    out = io.StringIO()
    daemon = Daemon(load_settings(None, env_file=None), out=out)

    daemon._restore_trading_state(
        [_halted(KEY_REVOKED)], rig.risk, rig.em, forced_fill_since=lambda ms: None
    )
    daemon._resume_if_cleared([_liquidated()])

    assert rig.risk.state is TradingState.HALTED
    assert not [e for e in rig.journal.events if isinstance(e, TradingStateChanged)]
    assert out.getvalue() == (
        f"trading state restored: HALTED ({KEY_REVOKED}); no new entries until an operator "
        "restarts with --reset-halt (a fill of the exchange's own order "
        "autoclose-1796388612382 was found at the start)\n"
    )


def test_a_halt_by_the_user_stream_stays_when_the_kill_switch_is_pulled_during_the_start() -> None:
    rig = make_rig()
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())
    daemon._restore_trading_state([_halted(KEY_REVOKED)], rig.risk, rig.em)

    daemon._kill(rig.em, "SIGUSR1 received during start-up")
    daemon._resume_if_cleared(())

    assert rig.risk.state is TradingState.HALTED


def test_a_halt_by_the_user_stream_with_the_kill_file_there_waits_for_the_operator(
    tmp_path,
) -> None:
    kill = tmp_path / "KILL"
    kill.touch()
    rig = make_rig(kill_switch_file=str(kill))
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())

    daemon._restore_trading_state([_halted(KEY_REVOKED)], rig.risk, rig.em)

    assert rig.risk.state is TradingState.HALTED


def test_a_halt_by_a_limit_still_waits_for_the_operator() -> None:
    rig = make_rig()
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())

    daemon._restore_trading_state(
        [_halted("max daily loss: lost 600.00 USDT today (max 500 USDT)")], rig.risk, rig.em
    )

    assert rig.risk.state is TradingState.HALTED
