"""Aggregate individual trades into Binance aggTrades.

Rule (Binance, REST section 5.5 / stream `aggTrade`): only order-book (`MARKET`) trades take
part; insurance-fund and ADL trades are dropped (they are not aggTrades and not in klines).
Consecutive remaining trades merge into one aggregate trade when they share the price, the
taker side (`m`) and the trade time `T`, and their trade ids are adjacent (a dropped trade
between them splits the run, so `l - f + 1` always equals the number of constituents).
Aggregate ids are contiguous, starting at a caller-chosen id (see DEFAULT_FIRST_AGG_ID).
"""

import numpy as np

from exchange_sim.replay.tapes import MARKET, AggTradeTape, TradeTape

# Deterministic first aggregate id of a replay when the caller does not choose one. Chosen above
# 2**31 so 32-bit id handling bugs show up; it is not a real Binance id.
DEFAULT_FIRST_AGG_ID = 3_000_000_000


def aggregate_trades(trades: TradeTape, first_agg_id: int = DEFAULT_FIRST_AGG_ID) -> AggTradeTape:
    """Merge a trade tape into aggregate trades with ids first_agg_id, first_agg_id + 1, ..."""
    keep = trades.trade_type == MARKET
    ids = trades.trade_id[keep]
    price = trades.price[keep]
    qty = trades.qty[keep]
    time = trades.time[keep]
    event_time = trades.event_time[keep]
    maker = trades.buyer_maker[keep]
    recv = trades.recv_time_ns[keep]
    n = len(ids)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return AggTradeTape(
            symbol=trades.symbol,
            agg_id=empty,
            price=empty,
            qty=empty,
            first_trade_id=empty,
            last_trade_id=empty,
            time=empty,
            event_time=empty,
            buyer_maker=np.zeros(0, dtype=bool),
            recv_time_ns=empty,
            synthesized=trades.synthesized,
        )
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (
        (price[1:] != price[:-1])
        | (maker[1:] != maker[:-1])
        | (time[1:] != time[:-1])
        | (ids[1:] != ids[:-1] + 1)
    )
    starts = np.flatnonzero(new_group)
    ends = np.append(starts[1:] - 1, n - 1)
    return AggTradeTape(
        symbol=trades.symbol,
        agg_id=np.arange(first_agg_id, first_agg_id + len(starts), dtype=np.int64),
        price=price[starts],
        qty=np.add.reduceat(qty, starts),
        first_trade_id=ids[starts],
        last_trade_id=ids[ends],
        time=time[starts],
        event_time=event_time[ends],
        buyer_maker=maker[starts],
        recv_time_ns=recv[ends],
        synthesized=trades.synthesized,
    )
