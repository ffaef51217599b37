"""Pure matching engine of the local Binance USD-M Futures exchange (no I/O, no asyncio).

Structure (composition; each component owns its state, collaborators are passed in):
    Engine (engine.py)        the order flow: accept, match, fill, rest, expire, trigger,
                              liquidate; recorded market data in; the typed API
    SymbolBook (book.py)      one symbol: market state, our resting orders and the recorded
                              liquidity, in integer ticks and steps; hot-path thresholds
    Ledger (ledger.py)        accounts: wallet, positions, fees, funding, margin checks
    TriggerBook (triggers.py) conditional (algo) orders armed on the last or the mark price
    Timers (timers.py)        countdownCancelAll, GTD expiry, funding instants
    UserEvents (events.py)    typed records of what happened, per account, in order
Statuses are core.enums StrEnums (OrderStatus through core.orders' transition table,
AlgoStatus through its lifecycle, ExpiryReason for `er`). The Binance wire (REST parameters
in, JSON out, user-data-stream JSON) is exchange_sim.server.wire_adapter / wire_format.

Typed API (`Engine`, `core` types in and out):
    engine = Engine(instruments, clock, config)      # or Exchange(...).engine
    engine.create_account(account_id, Decimal("10000"))
    engine.submit(account_id, core.orders.OrderRequest) -> core.orders.Order
    engine.cancel_order(account_id, symbol, order_id=... | client_order_id=...) -> Order
    engine.order(...), engine.open_orders(account_id, symbol=None) -> [Order]
    engine.fills(account_id, symbol) -> [core.orders.Fill]
    engine.position(account_id, symbol) -> core.account.Position; engine.balance(account_id)
    engine.drain_events() -> [(account_id, core.events.Event)]   # OrderAccepted, OrderFilled,
        # OrderPartiallyFilled, OrderCanceled, OrderExpired, OrderAmended, BalanceChanged,
        # PositionChanged, FundingPaid
    Conditional (algo) orders: submit() arms STOP/STOP_MARKET/TAKE_PROFIT(_MARKET) and
    closePosition requests (legacy=True: rest them as orders instead);
    engine.cancel_conditional(account_id, symbol, algo_id=... | client_algo_id=...)
        -> reports.AlgoReport; engine.conditional(...), engine.open_conditionals(...)
    Cancel-all: engine.cancel_open_orders(account_id, symbol) -> [Order];
        engine.cancel_open_conditionals(account_id, symbol) -> [AlgoReport]
    engine.drain_reports() -> [(account_id, reports.Report)]    # OrderReport, AlgoReport,
        # AccountReport, OtherReport: the user stream's reports as typed values (what a
        # client reads from the JSON), for a client that keeps its own order book
        # (backtest/venue.py feeds them to gateway.order_tracker); one drain per engine:
        # drain_events, drain_reports and Exchange.drain_user_events share the records.
    Trailing stops: submit(..., callback_rate=Decimal percent, activate_price=None | Decimal)
    with a TRAILING_STOP_MARKET request (core.orders.OrderRequest has no such fields).
    Not typed yet: modify, countdownCancelAll, leverage / margin-type changes (use the wire).
    Rejections raise exchange_sim.errors.BinanceError(code, msg) with Binance's code.

Historical one-object facade (`Exchange`, used by the server, the backtest runner, bench;
backtest/venue.py takes one and uses its `.engine`):
    from exchange_sim.engine import Exchange, EngineConfig
    ex = Exchange(instruments: Mapping[str, core.instrument.Instrument], clock: SimClock,
                  config: EngineConfig | None = None)
    ex.create_account(account_id, balances={"USDT": Decimal("10000")})

Market data in (recorded data drives everything; times in ms; the engine moves the clock
forward to the time of any data that makes something happen, never back):
    on_trade(symbol, price: Decimal, qty: Decimal, buyer_is_maker: bool, time_ms)
    on_trade_ticks(symbol, price_ticks: int, qty_steps: int, buyer_is_maker, time_ms)  # hot
    on_trades_batch(symbol, price_ticks, qty_steps, buyer_is_maker, time_ms)  # numpy arrays
    on_book_ticker(symbol, bid, bid_qty, ask, ask_qty, time_ms)
    on_depth(symbol, bids: [(price, qty)], asks: [(price, qty)], time_ms)
    on_mark_price(symbol, mark, index, funding_rate, next_funding_time_ms, time_ms)
    on_time(now_ms) / advance(now_ms)    # dead-man switch, GTD expiry, funding settlement

REST operations: (account_id: str, params: Mapping[str, str]) -> JSON-ready dict/list, or raise
exchange_sim.errors.BinanceError(code, msg, http_status). Params are the decoded request
strings without timestamp/recvWindow/signature.
    new_order, test_order, batch_orders, query_order, open_order, open_orders, all_orders,
    cancel_order, cancel_batch_orders, cancel_all_open_orders, modify_order,
    countdown_cancel_all,
    new_algo_order, cancel_algo_order, query_algo_order, open_algo_orders, all_algo_orders,
    cancel_all_algo_orders,
    account(account_id, params, version=2|3), balance(..., version), position_risk(...,
    version), change_leverage, change_margin_type, get_position_mode, set_position_mode,
    commission_rate, leverage_bracket, symbol_config, account_config, user_trades, income

User-data events out: drain_user_events() -> [(account_id, event_dict)] in generation order
(ORDER_TRADE_UPDATE, ACCOUNT_UPDATE, ALGO_UPDATE, ACCOUNT_CONFIG_UPDATE; TRADE_LITE and
MARGIN_CALL when enabled in EngineConfig). `E`/`T` come from the clock.

Read-only helpers: last_price(symbol), mark_price(symbol), book_top(symbol),
funding_info(symbol), symbols(), has_account(account_id), check_symbol(symbol).

Model choices (documented deviations from a real exchange):
- Our orders trade only against the recorded market, never against each other, and our fills
  never appear on the public tape; so self-trade prevention never fires.
- Resting LIMIT orders fill from recorded trades (EngineConfig.fill_mode "through"/"touch"),
  at their own price as maker, each trade's quantity shared in price-time priority.
- MARKET and crossing LIMIT orders take from the recorded depth (on_depth), else from a
  synthetic book built from bookTicker (touch qty repeated on `book_ticker_levels` ticks), else
  (no book data at all) at the last trade price with unlimited size. What we take is removed
  from our copy of the book until the next recorded book update.
- One-way mode and cross margin only (marginType ISOLATED is stored and reported, not
  simulated); Hedge Mode is refused with -1020.
- Conditional orders (STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET, TRAILING_STOP_MARKET)
  trigger on the last recorded trade price (CONTRACT_PRICE) or the recorded mark price
  (MARK_PRICE); they go through the Algo API, or through /fapi/v1/order with
  EngineConfig.legacy_conditional_orders.
"""

from exchange_sim.engine.config import DEFAULT_BRACKETS, Bracket, EngineConfig, FillMode
from exchange_sim.engine.engine import Engine
from exchange_sim.engine.exchange import Exchange

__all__ = ["DEFAULT_BRACKETS", "Bracket", "Engine", "EngineConfig", "Exchange", "FillMode"]
