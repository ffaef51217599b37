"""A restart of a daemon halted because its user stream failed for good (the API key revoked:
the listenKey refused). Once the key is fixed the start gets through (its signed requests
accepted; its user stream must connect before anything is traded, or the start fails), which
clears that cause: it resumes ACTIVE by itself, as `--reset-halt` would, and says why. Before,
it stayed HALTED (a REDUCING one flattened the position first) until a restart with
`--reset-halt`. A halt with any other cause, or one after which a liquidation was journaled,
or with the kill-switch file there, still waits for the operator."""

import io

from core.enums import TradingState
from core.events import TradingStateChanged
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


def test_a_halt_by_the_user_stream_failing_is_lifted_by_a_start_that_gets_through() -> None:
    rig = make_rig()
    out = io.StringIO()
    daemon = Daemon(load_settings(None, env_file=None), out=out)

    daemon._restore_trading_state([_halted(KEY_REVOKED)], rig.risk, rig.em)

    assert rig.risk.state is TradingState.ACTIVE
    [resumed] = [e for e in rig.journal.events if isinstance(e, TradingStateChanged)]
    assert (resumed.previous, resumed.current) == (TradingState.HALTED, TradingState.ACTIVE)
    assert resumed.reason == (
        "automatic reset at start: the user stream's failure is cleared: this start's signed "
        "requests were accepted"
    )
    assert out.getvalue() == (
        f"trading state was HALTED ({KEY_REVOKED}): resumed ACTIVE, as --reset-halt would (the "
        "user stream's failure is cleared: this start's signed requests were accepted; the "
        "limits re-armed from now)\n"
    )


def test_a_reducing_left_by_the_user_stream_failing_resumes_instead_of_flattening() -> None:
    rig = make_rig()
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())

    daemon._restore_trading_state([_halted(KEY_REVOKED, TradingState.REDUCING)], rig.risk, rig.em)

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
