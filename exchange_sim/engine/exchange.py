"""`Exchange`: the pure matching engine of the local Binance USD-M Futures exchange."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from exchange_sim.engine.account import AccountEndpoints
from exchange_sim.engine.fmt import q8
from exchange_sim.engine.state import Account
from exchange_sim.errors import BinanceError


class Exchange(AccountEndpoints):
    """Accounts, matching, margin, funding and liquidation, driven by recorded market data.

    No I/O and no wall clock: time is the injected SimClock. See the package docstring for the
    public methods.
    """

    def create_account(
        self, account_id: str, balances: Mapping[str, Decimal] | None = None
    ) -> None:
        """Open an account with a USDT wallet balance (only USDT is a margin asset here)."""
        if account_id in self._accounts:
            raise ValueError(f"account {account_id!r} already exists")
        balances = dict(balances or {})
        unsupported = set(balances) - {"USDT"}
        if unsupported:
            raise ValueError(f"only USDT balances are supported, got {sorted(unsupported)}")
        wallet = q8(Decimal(balances.get("USDT", Decimal(0))))
        self._accounts[account_id] = Account(
            account_id=account_id, wallet=wallet, update_time=self._clock.now_ms()
        )

    def has_account(self, account_id: str) -> bool:
        return account_id in self._accounts

    def drain_user_events(self) -> list[tuple[str, dict[str, Any]]]:
        """User-data-stream events (account_id, event) generated since the last drain, in order."""
        events, self._events = self._events, []
        return events

    # --- read-only market state for the server --------------------------------------------

    def symbols(self) -> list[str]:
        return list(self._syms)

    def last_price(self, symbol: str) -> Decimal | None:
        """Last recorded trade price (USDT), None before the first trade."""
        return self._last_price(self._sym(symbol))

    def mark_price(self, symbol: str) -> Decimal | None:
        """Last recorded mark price (USDT), None before the first update."""
        return self._sym(symbol).mark

    def book_top(self, symbol: str) -> tuple[Decimal, Decimal, Decimal, Decimal] | None:
        """Last recorded (bid, bid_qty, ask, ask_qty); our own fills do not change it."""
        return self._sym(symbol).recorded_top

    def funding_info(self, symbol: str) -> tuple[Decimal | None, Decimal, int]:
        """(index price, last recorded funding rate, recorded next funding time ms)."""
        s = self._sym(symbol)
        return s.index_price, s.funding_rate, s.next_funding_time

    def check_symbol(self, symbol: str) -> None:
        """Raise BinanceError(-1121) for an unknown symbol."""
        self._sym(symbol)


__all__ = ["BinanceError", "Exchange"]
