"""At shutdown a position left open keeps a stop-loss: a stop being replaced gets the time to
go out, and the closing summary warns when only a take-profit is left."""

import asyncio
import io
import time
from decimal import Decimal as D

from runtime.settings import load_settings
from tests.trading_engine.support import make_rig
from tests.trading_engine.test_exec_manager import add_to_long_with_a_stop, go_long
from trading_engine.daemon import Daemon, _left_open


def test_a_stop_being_replaced_goes_out_before_the_shutdown_goes_on() -> None:
    # Long 0.100 from 60000 with its stop at 58800.0, added to at 62000: the old stop's cancel
    # is sent, the new one (59780.0) waits for its confirmation, which comes 0.1 s later.
    rig = make_rig(stop_loss_pct=D(2))
    old, _add = add_to_long_with_a_stop(rig)
    assert rig.em.protection_pending
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, rig.venue.confirm_cancel, old.client_order_id)
        started = time.monotonic()
        await daemon._settle_protection(rig.em, time.monotonic() + 4.0)
        return time.monotonic() - started

    took = asyncio.run(scenario())

    new = rig.venue.submitted[-1]
    assert (new.type.value, new.stop_price) == ("STOP_MARKET", D("59780.0"))
    assert not rig.em.protection_pending
    assert 0.09 <= took < 1.0


def test_a_position_left_with_only_a_take_profit_is_a_warning() -> None:
    # take-profit 4 % from 60000 = 62400.0, no stop-loss
    rig = make_rig(stop_loss_pct=D(0), take_profit_pct=D(4))
    go_long(rig, "0.100", "60000")
    tp = rig.venue.submitted[-1]
    rig.venue.accept(tp.client_order_id)

    assert _left_open(rig.book, ["BTCUSDT"]) == [
        "WARNING: position BTCUSDT 0.100 left open WITHOUT an exchange-side stop-loss (only "
        "TAKE_PROFIT_MARKET 62400.0)"
    ]
