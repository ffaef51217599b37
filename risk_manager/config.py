"""Limits of the RiskManager: one frozen, validated value object.

Money is Decimal USDT, percentages are Decimal percent (`Decimal("2")` = 2 %), times are ms.
A limit of 0 switches the rule off where the field says so; floats are refused so that no
binary fraction ever reaches a money comparison.
"""

from dataclasses import dataclass, fields
from decimal import Decimal

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskConfig:
    """Pre-trade limits, portfolio limits, protection levels, kill switch and circuit breaker."""

    # --- pre-trade (per order) -----------------------------------------------------------
    leverage: int = 3  # the leverage set on the exchange: margin = notional / leverage
    max_order_notional_usdt: Decimal = Decimal(500)
    max_position_notional_usdt: Decimal = Decimal(1000)  # per symbol, at the mark
    max_total_notional_usdt: Decimal = Decimal(2000)  # every symbol together, at the mark
    price_band_pct: Decimal = Decimal(5)  # a limit price at most this far from the mark
    # per symbol: an entry is refused at this many of our open orders there (its stop-loss
    # and take-profit count, as BookKeeper.open_order_count does); closing orders are not capped
    max_open_orders: int = 10
    max_orders_per_minute: int = 60  # every approved order, reduce-only included
    min_available_margin_usdt: Decimal = _ZERO  # reserve left free after the order's margin
    max_clock_offset_ms: int = 1000  # no entries when our clock may be off by more
    # no entries on market data read this far behind the exchange's clock: a backlog being
    # caught up (after a suspended process, a stalled loop), not the market now
    max_data_lag_ms: int = 5000
    # --- position protection (exchange-side closePosition orders) ---------------------------
    stop_loss_pct: Decimal = Decimal(2)  # from the entry; 0 = no stop-loss
    take_profit_pct: Decimal = _ZERO  # from the entry; 0 = no take-profit
    # --- portfolio limits: a breach moves ACTIVE -> REDUCING -> HALTED ------------------------
    max_daily_loss_usdt: Decimal = _ZERO  # per UTC day; 0 = off
    max_daily_loss_pct: Decimal = Decimal(5)  # of the day's starting equity; 0 = off
    max_drawdown_pct: Decimal = Decimal(10)  # from peak equity; 0 = off
    max_trades_per_day: int = 500  # per UTC day; 0 = off
    # --- circuit breaker and kill switch ------------------------------------------------------
    circuit_breaker_errors: int = 5  # errors or unknown orders within the window; 0 = off
    circuit_breaker_window_ms: int = 60_000
    kill_switch_file: str | None = None  # its existence kills; checked at most once per second

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("Decimal", Decimal) and not isinstance(value, Decimal):
                raise TypeError(f"RiskConfig.{f.name} must be a Decimal, not {value!r}")
            if f.type in ("int", int) and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"RiskConfig.{f.name} must be an int, not {value!r}")
        _require(1 <= self.leverage <= 125, "leverage", self.leverage, "an integer from 1 to 125")
        for name in (
            "max_order_notional_usdt",
            "max_position_notional_usdt",
            "max_total_notional_usdt",
        ):
            _require(getattr(self, name) > 0, name, getattr(self, name), "a USDT amount > 0")
        _require(
            self.max_order_notional_usdt
            <= self.max_position_notional_usdt
            <= self.max_total_notional_usdt,
            "max_position_notional_usdt",
            self.max_position_notional_usdt,
            "between max_order_notional_usdt and max_total_notional_usdt",
        )
        _require(
            _ZERO < self.price_band_pct <= _HUNDRED,
            "price_band_pct",
            self.price_band_pct,
            "a percentage in (0, 100]",
        )
        _require(
            1 <= self.max_open_orders <= 200, "max_open_orders", self.max_open_orders, "1 to 200"
        )
        _require(
            self.max_orders_per_minute >= 1,
            "max_orders_per_minute",
            self.max_orders_per_minute,
            "an integer >= 1",
        )
        for name in ("min_available_margin_usdt", "max_daily_loss_usdt"):
            _require(getattr(self, name) >= 0, name, getattr(self, name), "a USDT amount >= 0")
        _require(
            self.max_clock_offset_ms >= 0,
            "max_clock_offset_ms",
            self.max_clock_offset_ms,
            "milliseconds >= 0",
        )
        _require(
            self.max_data_lag_ms >= 1, "max_data_lag_ms", self.max_data_lag_ms, "milliseconds >= 1"
        )
        for name in ("stop_loss_pct", "take_profit_pct", "max_daily_loss_pct", "max_drawdown_pct"):
            value = getattr(self, name)
            _require(_ZERO <= value < _HUNDRED, name, value, "a percentage in [0, 100) (0 = off)")
        for name in ("max_trades_per_day", "circuit_breaker_errors"):
            _require(
                getattr(self, name) >= 0, name, getattr(self, name), "an integer >= 0 (0 = off)"
            )
        _require(
            self.circuit_breaker_window_ms >= 1,
            "circuit_breaker_window_ms",
            self.circuit_breaker_window_ms,
            "milliseconds >= 1",
        )
        _require(
            self.kill_switch_file is None or self.kill_switch_file != "",
            "kill_switch_file",
            self.kill_switch_file,
            "a file path, or None for no kill-switch file",
        )


def _require(ok: bool, name: str, value: object, allowed: str) -> None:
    if not ok:
        raise ValueError(f"RiskConfig.{name} = {value!r} is not allowed: expected {allowed}")
