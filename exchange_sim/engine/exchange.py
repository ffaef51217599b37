"""`Exchange`: the engine and its Binance wire adapter behind the historical one-object surface.

`Exchange(instruments, clock, config)` keeps every method the server, the backtester, the bench
and the tests call: market data in (`on_trade`, `on_trade_ticks`, ..., bound straight to the
engine so the hot path pays no extra call), the REST operations (`new_order(account_id,
params)` -> JSON, delegated to `exchange_sim.server.wire_adapter.WireAdapter`), user events out
(`drain_user_events`) and read-only market state. New code should use `.engine` (typed API:
`core` order requests in, `core` orders, fills and events out) and leave the dicts to the
server.
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core.clock import SimClock
from core.instrument import Instrument
from exchange_sim.engine.config import EngineConfig
from exchange_sim.engine.engine import Engine
from exchange_sim.engine.state import Account
from exchange_sim.errors import BinanceError


class Exchange:
    """Accounts, matching, margin, funding and liquidation, driven by recorded market data.

    No I/O and no wall clock: time is the injected SimClock. See the package docstring for the
    public methods.
    """

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        clock: SimClock,
        config: EngineConfig | None = None,
    ) -> None:
        # The wire adapter is the server's; imported here so that `exchange_sim.engine` itself
        # never needs the server package (which pulls in aiohttp) to be importable.
        from exchange_sim.server.wire_adapter import WireAdapter

        engine = Engine(instruments, clock, config)
        self.engine = engine
        self.wire = WireAdapter(engine)
        # Market data in: the engine's bound methods themselves (hot path, no extra frame).
        self.on_trade = engine.on_trade
        self.on_trade_ticks = engine.on_trade_ticks
        self.on_trades_batch = engine.on_trades_batch
        self.on_book_ticker = engine.on_book_ticker
        self.on_depth = engine.on_depth
        self.on_mark_price = engine.on_mark_price
        self.on_time = engine.on_time
        self.advance = engine.on_time

    # --- accounts and user events ---------------------------------------------------------------

    def create_account(
        self, account_id: str, balances: Mapping[str, Decimal] | None = None
    ) -> None:
        """Open an account with a USDT wallet balance (only USDT is a margin asset here)."""
        balances = dict(balances or {})
        unsupported = set(balances) - {"USDT"}
        if unsupported:
            raise ValueError(f"only USDT balances are supported, got {sorted(unsupported)}")
        self.engine.create_account(account_id, Decimal(balances.get("USDT", Decimal(0))))

    def has_account(self, account_id: str) -> bool:
        return account_id in self.engine.ledger.accounts

    def drain_user_events(self) -> list[tuple[str, dict[str, Any]]]:
        """User-data-stream events (account_id, event) generated since the last drain, in order."""
        return self.wire.drain_user_events()

    # --- read-only market state for the server ------------------------------------------------

    def symbols(self) -> list[str]:
        return list(self.engine.books)

    def last_price(self, symbol: str) -> Decimal | None:
        """Last recorded trade price (USDT), None before the first trade."""
        return self.engine.book(symbol).last_price()

    def mark_price(self, symbol: str) -> Decimal | None:
        """Last recorded mark price (USDT), None before the first update."""
        return self.engine.book(symbol).mark

    def book_top(self, symbol: str) -> tuple[Decimal, Decimal, Decimal, Decimal] | None:
        """Last recorded (bid, bid_qty, ask, ask_qty); our own fills do not change it."""
        return self.engine.book(symbol).recorded_top

    def funding_info(self, symbol: str) -> tuple[Decimal | None, Decimal, int]:
        """(index price, last recorded funding rate, recorded next funding time ms)."""
        b = self.engine.book(symbol)
        return b.index_price, b.funding_rate, b.next_funding_time

    def check_symbol(self, symbol: str) -> None:
        """Raise BinanceError(-1121) for an unknown symbol."""
        self.engine.book(symbol)

    # --- state some tests inspect (read-only views of the components' state) ---------------------

    @property
    def _accounts(self) -> dict[str, Account]:
        return self.engine.ledger.accounts

    @property
    def _countdowns(self) -> dict[tuple[str, str], int]:
        return self.engine.timers.countdowns

    # --- REST operations: (account_id, params) -> JSON, see WireAdapter ----------------------

    def new_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.new_order(account_id, params)

    def test_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.test_order(account_id, params)

    def query_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.query_order(account_id, params)

    def open_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.open_order(account_id, params)

    def cancel_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.cancel_order(account_id, params)

    def cancel_all_open_orders(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.cancel_all_open_orders(account_id, params)

    def modify_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.modify_order(account_id, params)

    def countdown_cancel_all(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.countdown_cancel_all(account_id, params)

    def new_algo_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.new_algo_order(account_id, params)

    def cancel_algo_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.cancel_algo_order(account_id, params)

    def query_algo_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.query_algo_order(account_id, params)

    def cancel_all_algo_orders(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.cancel_all_algo_orders(account_id, params)

    def change_leverage(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.change_leverage(account_id, params)

    def change_margin_type(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.change_margin_type(account_id, params)

    def get_position_mode(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.get_position_mode(account_id, params)

    def set_position_mode(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.set_position_mode(account_id, params)

    def commission_rate(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.commission_rate(account_id, params)

    def account_config(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        return self.wire.account_config(account_id, params)

    def batch_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        return self.wire.batch_orders(account_id, params)

    def open_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        return self.wire.open_orders(account_id, params)

    def all_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        return self.wire.all_orders(account_id, params)

    def cancel_batch_orders(
        self, account_id: str, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        return self.wire.cancel_batch_orders(account_id, params)

    def open_algo_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        return self.wire.open_algo_orders(account_id, params)

    def all_algo_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        return self.wire.all_algo_orders(account_id, params)

    def symbol_config(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        return self.wire.symbol_config(account_id, params)

    def user_trades(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        return self.wire.user_trades(account_id, params)

    def income(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        return self.wire.income(account_id, params)

    def account(
        self, account_id: str, params: Mapping[str, str], version: int = 2
    ) -> dict[str, Any]:
        return self.wire.account(account_id, params, version)

    def balance(
        self, account_id: str, params: Mapping[str, str], version: int = 3
    ) -> list[dict[str, Any]]:
        return self.wire.balance(account_id, params, version)

    def position_risk(
        self, account_id: str, params: Mapping[str, str], version: int = 3
    ) -> list[dict[str, Any]]:
        return self.wire.position_risk(account_id, params, version)

    def leverage_bracket(
        self, account_id: str, params: Mapping[str, str]
    ) -> list[dict[str, Any]] | dict[str, Any]:
        return self.wire.leverage_bracket(account_id, params)


__all__ = ["BinanceError", "Exchange"]
