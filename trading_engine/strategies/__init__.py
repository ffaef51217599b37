"""Strategies: pure signal code behind the `TradingStrategy` interface; none touches a venue."""
