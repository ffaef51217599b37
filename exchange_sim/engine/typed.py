"""The engine's objects and event records as `core` domain types (the typed in-process API).

Pure conversions: an engine `Order` -> `core.orders.Order`, a trade row -> `core.orders.Fill`,
an event record -> `core.events` events. Quantities in contracts, prices and money in USDT.
"""

from decimal import Decimal

from core.account import Balance
from core.account import Position as CorePosition
from core.enums import (
    AlgoStatus,
    ExecutionType,
    ExpiryReason,
    MarginType,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from core.events import (
    BalanceChanged,
    Event,
    FundingPaid,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    PositionChanged,
)
from core.instrument import Instrument
from core.orders import Fill
from core.orders import Order as CoreOrder
from exchange_sim.engine.events import AccountUpdate, EngineEvent, OrderUpdate
from exchange_sim.engine.fmt import ZERO, q8
from exchange_sim.engine.state import Algo, Order, UserTrade

EXPIRY_WORDS: dict[ExpiryReason, str] = {
    ExpiryReason.NONE: "expired",
    ExpiryReason.SELF_TRADE_PREVENTION: "self-trade prevention",
    ExpiryReason.IOC_REMAINDER: "IOC remainder",
    ExpiryReason.IOC_REMAINDER_AFTER_STP: "IOC remainder after self-trade prevention",
    ExpiryReason.REDUCE_ONLY: "reduce-only order can no longer reduce",
    ExpiryReason.LIQUIDATION: "account liquidation",
    ExpiryReason.GTE_UNSATISFIED: "GTE condition unsatisfied",
    ExpiryReason.SYMBOL_DELISTED: "symbol delisted",
    ExpiryReason.STOP_TRIGGERED: "initial order expired after the stop triggered",
    ExpiryReason.MARKET_REMAINDER: "MARKET remainder",
}

_ALGO_AS_ORDER = {
    AlgoStatus.NEW: OrderStatus.NEW,
    AlgoStatus.TRIGGERING: OrderStatus.NEW,
    AlgoStatus.TRIGGERED: OrderStatus.NEW,
    AlgoStatus.FINISHED: OrderStatus.FILLED,
    AlgoStatus.CANCELED: OrderStatus.CANCELED,
    AlgoStatus.REJECTED: OrderStatus.REJECTED,
    AlgoStatus.EXPIRED: OrderStatus.EXPIRED,
}


def avg_price(o: Order, inst: Instrument) -> Decimal:
    """Average fill price (USDT, 8 decimals as the wire shows it); 0 before any fill."""
    if o.filled_steps == 0:
        return ZERO
    return q8(o.cum_quote / inst.from_steps(o.filled_steps))


def core_order(o: Order, inst: Instrument) -> CoreOrder:
    """The engine's order as the daemon sees orders (`core.orders.Order`)."""
    return CoreOrder(
        client_order_id=o.client_id,
        symbol=o.symbol,
        side=Side(o.side),
        type=OrderType(o.type),
        quantity=inst.from_steps(o.qty_steps),
        price=o.price if o.type == "LIMIT" else None,
        time_in_force=TimeInForce(o.tif),
        status=o.status,
        created_ms=o.time,
        updated_ms=o.update_time,
        order_id=o.order_id,
        filled_qty=inst.from_steps(o.filled_steps),
        avg_price=avg_price(o, inst),
        stop_price=o.stop_price or None,
        reduce_only=o.reduce_only,
        close_position=o.close_position,
    )


def core_algo_order(a: Algo, inst: Instrument) -> CoreOrder:
    """A conditional as a `core.orders.Order` without an exchange order id (not placed yet);
    the status folds the algo lifecycle onto the order one (TRIGGERED still counts as open)."""
    market = a.order_type.endswith("MARKET")
    return CoreOrder(
        client_order_id=a.client_id,
        symbol=a.symbol,
        side=Side(a.side),
        type=OrderType(a.order_type),
        quantity=inst.from_steps(a.qty_steps),
        price=None if market else a.price,
        time_in_force=TimeInForce(a.tif),
        status=_ALGO_AS_ORDER[a.status],
        created_ms=a.create_time,
        updated_ms=a.update_time,
        stop_price=a.trigger_price or None,
        reduce_only=a.reduce_only,
        close_position=a.close_position,
    )


def core_fill(t: UserTrade, client_order_id: str, inst: Instrument) -> Fill:
    return Fill(
        symbol=t.symbol,
        order_id=t.order_id,
        client_order_id=client_order_id,
        trade_id=t.trade_id,
        side=Side(t.side),
        price=t.price,
        qty=t.qty,
        commission=t.commission,
        commission_asset=inst.margin_asset,
        realized_pnl=t.realized_pnl,
        is_maker=t.maker,
        trade_time_ms=t.time,
        recv_time_ms=t.time,
    )


def core_events(ev: EngineEvent, inst: Instrument | None) -> list[Event]:
    """`core.events` for one record (`inst` of the record's symbol, None for account-wide
    records). Algo updates, TRADE_LITE, margin calls and config updates have no core event."""
    t = ev.time_ms
    if isinstance(ev, OrderUpdate):
        assert inst is not None
        o = ev.order
        ids = {"symbol": o.symbol, "client_order_id": o.client_id}
        if ev.x is ExecutionType.NEW:
            return [OrderAccepted(event_time_ms=t, recv_time_ms=t, order_id=o.order_id, **ids)]
        if ev.x in (ExecutionType.TRADE, ExecutionType.CALCULATED):
            fill = Fill(
                symbol=o.symbol,
                order_id=o.order_id,
                client_order_id=o.client_id,
                trade_id=ev.trade_id,
                side=Side(o.side),
                price=ev.last_price,
                qty=inst.from_steps(ev.last_steps),
                commission=ev.commission or ZERO,
                commission_asset=inst.margin_asset,
                realized_pnl=ev.realized,
                is_maker=ev.maker,
                trade_time_ms=t,
                recv_time_ms=t,
            )
            kind = OrderFilled if o.status is OrderStatus.FILLED else OrderPartiallyFilled
            return [
                kind(
                    event_time_ms=t,
                    recv_time_ms=t,
                    fill=fill,
                    cumulative_qty=inst.from_steps(o.filled_steps),
                    avg_price=avg_price(o, inst),
                )
            ]
        if ev.x is ExecutionType.CANCELED:
            return [OrderCanceled(event_time_ms=t, recv_time_ms=t, order_id=o.order_id, **ids)]
        if ev.x is ExecutionType.EXPIRED:
            return [
                OrderExpired(
                    event_time_ms=t,
                    recv_time_ms=t,
                    order_id=o.order_id,
                    reason=EXPIRY_WORDS[o.er],
                    **ids,
                )
            ]
        return [
            OrderAmended(
                event_time_ms=t,
                recv_time_ms=t,
                order_id=o.order_id,
                price=o.price,
                quantity=inst.from_steps(o.qty_steps),
                **ids,
            )
        ]
    if isinstance(ev, AccountUpdate):
        out: list[Event] = []
        if ev.funding_symbol:
            out.append(
                FundingPaid(
                    event_time_ms=t,
                    recv_time_ms=t,
                    symbol=ev.funding_symbol,
                    amount=ev.funding_amount,
                    rate=ev.funding_rate,
                )
            )
        balance = Balance(
            asset="USDT",
            wallet_balance=ev.wallet,
            available_balance=ev.wallet,  # as the gateway reads ACCOUNT_UPDATE: cross wallet
            cross_wallet_balance=ev.wallet,
            update_time_ms=t,
            balance_change=ev.funding_amount,  # as the wire's `bc`
        )
        out.append(
            BalanceChanged(event_time_ms=t, recv_time_ms=t, balance=balance, reason=ev.reason)
        )
        for st in ev.positions:
            pos = st.position
            position = CorePosition(
                symbol=pos.symbol,
                qty=pos.amt,
                entry_price=pos.entry,
                leverage=st.leverage,
                margin_type=MarginType(st.margin_type),
                update_time_ms=pos.update_time,
            )
            out.append(
                PositionChanged(
                    event_time_ms=t, recv_time_ms=t, position=position, reason=ev.reason
                )
            )
        return out
    return []


__all__ = [
    "EXPIRY_WORDS",
    "avg_price",
    "core_algo_order",
    "core_events",
    "core_fill",
    "core_order",
]
