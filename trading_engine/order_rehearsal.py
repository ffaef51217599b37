"""The order path rehearsed between market-data items, so that a real order finds it warm.

Between two orders the market data, the fills and the event loop push the order path's code
and objects out of the CPU's caches and its branch predictors: run cold, the same Python
costs 3-5x what it costs warm (README, "Where tick-to-order goes"). A live order is nearly
always cold (one every few thousand items). Every `rehearse_every_items` market-data items the
daemon's sink (`ItemSink`) runs the steps an order takes, on the symbol of the last item,
without any effect: the books read, the order built as a target would build it, the decision
and the order events, every pre-trade check (`RiskManager.rehearse`: nothing counted), the
journal's encoding of the record (`SqliteJournal.rehearse_many`: nothing written), the wire
parameters and the HMAC-signed request (`LiveVenue.rehearse`: nothing sent). The order is
planned by the ExecManager's own `plan_target_order`, for a market target that turns the
position (a crossover's flip: every check of an entry runs). No client id is
taken, no event is journaled or published, nothing is logged: the exchange, the journal, the
books and the strategy cannot tell that it ran. HFT engines do the same ("warming the hot
path"). It costs ~20-30 us each time; the backtester does not call it.

A step that raises disables the rehearsals for the rest of the run (one warning): they are an
optimization, never a reason for the daemon to stop. A rehearsal asks nothing the market
recorder journals (`trading_engine.market_recorder`: the answers of `gap_open` and
`clock_offset_ms`), so the parity audit replays a session without rehearsing.
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_CEILING, Decimal

from core.enums import OrderType
from core.events import DecisionMade, Event, OrderSubmitted
from core.instrument import Instrument
from core.orders import OrderRequest, TargetPosition
from trading_engine.exec_desk import target_action
from trading_engine.main_trading_strategy import proposals_problem
from trading_engine.target_order import plan_target_order

log = logging.getLogger(__name__)

_ZERO = Decimal(0)
# A client id of our own shape, never sent (Binance's ^[\.A-Z\:/a-z0-9_-]{1,36}$)
REHEARSAL_CLIENT_ID = "rehearsal-order-path-0000000000"


class OrderRehearsal:
    """`run(symbol, now_ms)`: one rehearsal (see the module docstring). Each collaborator is
    a callable of the real object, so the same code runs as on the order path; the journal's
    and the venue's steps are optional (a journal or venue without them is not rehearsed)."""

    __slots__ = (
        "_check",
        "_encode",
        "_instruments",
        "_max_order_notional",
        "_position_prices",
        "_sign",
        "_strategy",
        "enabled",
        "runs",
    )

    def __init__(
        self,
        *,
        instruments: Mapping[str, Instrument],
        position_prices: Callable[[str], tuple[Decimal, Decimal | None, Decimal | None]],
        check: Callable[..., bool],
        encode: Callable[[Sequence[Event]], object] | None,
        sign: Callable[[OrderRequest], object] | None,
        strategy: str,
        max_order_notional: Callable[[], Decimal],
    ) -> None:
        self._instruments = instruments
        self._position_prices = position_prices
        self._max_order_notional = max_order_notional
        self._check = check
        self._encode = encode
        self._sign = sign
        self._strategy = strategy
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
        # A market target that turns the position (a crossover's flip), or opens the smallest
        # one the exchange takes: planned by the ExecManager's own function, as a real target.
        if inst.floor_qty(abs(position), OrderType.MARKET):
            qty = -position
        else:  # flat, or less than a lot
            qty = smallest_order_qty(inst, price)
        target = TargetPosition(symbol=symbol, qty=qty, reason="rehearsal")
        proposals_problem((target,))  # what the ExecManager asks of a strategy's answer
        plan = plan_target_order(
            target,
            inst,
            position=position,
            mark=mark,
            working=_ZERO,
            has_working=False,
            max_order_notional=self._max_order_notional(),
        )
        if plan is None:
            return
        request = OrderRequest(
            symbol=symbol,
            side=plan.side,
            type=plan.type,
            quantity=plan.qty,
            client_order_id=REHEARSAL_CLIENT_ID,
            price=plan.price,
            reduce_only=plan.reduce_only,
        )
        decision = DecisionMade(
            event_time_ms=now,
            recv_time_ms=now,
            symbol=symbol,
            strategy=self._strategy,
            action=target_action(target),
            reason=target.reason,
        )
        # No market-data gap, no clock offset, no lag: every check runs to its end. Not the
        # ExecManager's `gap_open` / `clock_offset_ms`: a recorded session journals each of
        # their answers for the parity audit's replay, which rehearses nothing.
        approved = self._check(
            request, gap_open=False, clock_offset_ms=0, data_lag_ms=0, now_ms=now
        )
        submitted = OrderSubmitted(event_time_ms=now, recv_time_ms=now, request=request)
        if self._encode is not None:
            self._encode((decision, submitted))
        if approved and self._sign is not None:
            self._sign(request)
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
