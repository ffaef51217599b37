"""Backtests on the live code: the daemon's ExecManager, RiskManager, BookKeeper and strategy
trading the in-process matching engine (`backtest.venue.InProcessVenue`) on recorded data.

    backtest.data       kline / trade files -> columns (klines CSV[.gz], aggTrades, trades, store)
    backtest.venue      InProcessVenue: core.venue.Venue over exchange_sim.engine.Exchange
    backtest.runner     run_backtest(): the pipeline, the clock, the loops over bars and trades
    backtest.recording  what a run keeps of its journal: orders, fills, event counts
    backtest.outputs    equity.csv, trades.csv, orders.csv, summary.json and the plots
    backtest.metrics    pure functions of the equity curve and the fills
"""
