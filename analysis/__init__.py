"""Offline analysis commands, each importable and each writing a PNG (matplotlib, Agg backend):

- `analysis.pnl`: cumulative PnL and the per-trade distribution from a backtest's trades.csv
  or from a signals file;
- `analysis.visualize`: price with SMA / EMA / Bollinger bands and buy/sell markers;
- `analysis.correlation`: the correlation heatmap of `model.features` and forward returns.

Nothing here is on the live path; numbers are floats (a report, not a ledger).
"""
