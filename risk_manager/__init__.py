"""Pre-trade risk checks, portfolio limits, kill switch, circuit breaker, position protection."""

from risk_manager.config import RiskConfig
from risk_manager.risk_manager import IllegalStateTransition, LimitCounts, RiskManager, RiskView

__all__ = ["IllegalStateTransition", "LimitCounts", "RiskConfig", "RiskManager", "RiskView"]
