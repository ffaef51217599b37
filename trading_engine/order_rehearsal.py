"""The order path rehearsed between market-data items, so that a real order finds it warm.

Between two orders the market data, the fills and the event loop push the order path's code
and objects out of the CPU's caches and its branch predictors: run cold, the same Python
costs 3-5x what it costs warm (README, "Where tick-to-order goes"). A live order is nearly
always cold (one every few thousand items). Every `rehearse_every_items` market-data items the
daemon's sink (`ItemSink`) runs the steps an order takes, on the symbol of the last item,
without any effect: a market target that turns the position (a crossover's flip: every check
of an entry runs), or opens the smallest one the exchange takes when flat, worked by the
ExecManager's own code down to the order it hands to the venue (`ExecManager._dry_run`, with
the effects of `trading_engine.order_effects.dry_effects`): the books read, the order planned,
the decision and the order events built, every pre-trade check (`RiskManager.rehearse`:
nothing counted), the journal's encoding of the record (`SqliteJournal.rehearse_many`: nothing
written), the wire parameters, the HMAC-signed request and the rate governor's check
(`LiveVenue.rehearse`: nothing sent). No client id is taken, no event is journaled or
published, nothing is logged, and the ExecManager's own state is put back: the exchange, the
journal, the books and the strategy cannot tell that it ran. HFT engines do the same
("warming the hot path"). It costs ~45 us each time; the backtester does not call it.

A step that raises disables the rehearsals for the rest of the run (one warning): they are an
optimization, never a reason for the daemon to stop. A rehearsal asks nothing the market
recorder journals (`trading_engine.market_recorder`: the answers of `gap_open` and
`clock_offset_ms`), so the parity audit replays a session without rehearsing.
"""

import logging
from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, Decimal

from core.enums import OrderType
from core.instrument import Instrument
from core.orders import TargetPosition
from trading_engine.main_trading_strategy import proposals_problem

log = logging.getLogger(__name__)


class OrderRehearsal:
    """`run(symbol, now_ms)`: one rehearsal (see the module docstring). `dry_run(target,
    now_ms)`: the ExecManager's order path for `target` without effect, True when it ran."""

    __slots__ = ("_dry_run", "_instruments", "_position_prices", "enabled", "runs")

    def __init__(
        self,
        *,
        instruments: Mapping[str, Instrument],
        position_prices: Callable[[str], tuple[Decimal, Decimal | None, Decimal | None]],
        dry_run: Callable[[TargetPosition, int], bool],
    ) -> None:
        self._instruments = instruments
        self._position_prices = position_prices
        self._dry_run = dry_run
        self.enabled = True
        self.runs = 0

    def run(self, symbol: str, now_ms: int) -> None:
        """Rehearse an order of `symbol` at `now_ms` (see the module docstring)."""
        if not self.enabled:
            return
        inst = self._instruments.get(symbol)
        if inst is None:
            return
        try:
            self._rehearse(inst, symbol, now_ms)
        except Exception as exc:  # an optimization must never stop the daemon
            self.enabled = False
            log.warning("order path rehearsal failed, no more rehearsals this run: %r", exc)

    def _rehearse(self, inst: Instrument, symbol: str, now: int) -> None:
        position, mark, last = self._position_prices(symbol)
        price = last if last is not None else mark
        if price is None or price <= 0:
            return  # no price yet: no order could be planned either
        if inst.floor_qty(abs(position), OrderType.MARKET):
            qty = -position
        else:  # flat, or less than a lot
            qty = smallest_order_qty(inst, price)
        target = TargetPosition(symbol=symbol, qty=qty, reason="rehearsal")
        targets = (target,)
        proposals_problem(targets)  # what the ExecManager asks of a strategy's answer
        if self._dry_run(target, now):
            self.runs += 1


def smallest_order_qty(inst: Instrument, price: Decimal) -> Decimal:
    """The smallest market quantity on the lot grid at `price` that meets the minimum
    notional (and the lot's minimum)."""
    lot = inst.market_lot
    qty = lot.min_qty
    if inst.min_notional and price > 0 and qty * price < inst.min_notional:
        steps = (inst.min_notional / (price * lot.step_size)).to_integral_value(ROUND_CEILING)
        qty = max(qty, steps * lot.step_size)
    return qty
