"""`UserEvents`: what each account's user-data stream hears, in generation order.

The engine tells it what happened (an order update, a fill's account update, an algo update,
funding, a margin call, a leverage change); it records the event with the values of that
instant (order fields, open-order notionals, marks), since the order keeps changing afterwards.
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core.clock import SimClock
from exchange_sim.engine import wire
from exchange_sim.engine.book import SymbolBook
from exchange_sim.engine.config import EngineConfig
from exchange_sim.engine.fmt import ZERO
from exchange_sim.engine.ledger import Ledger
from exchange_sim.engine.state import Account, Algo, Order


class UserEvents:
    """The pending user-data events: (account_id, event) in the order they happened."""

    __slots__ = ("_books", "_cfg", "_clock", "_ledger", "pending")

    def __init__(
        self,
        config: EngineConfig,
        clock: SimClock,
        books: Mapping[str, SymbolBook],
        ledger: Ledger,
    ) -> None:
        self._cfg = config
        self._clock = clock
        self._books = books
        self._ledger = ledger
        self.pending: list[tuple[str, dict[str, Any]]] = []

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        events, self.pending = self.pending, []
        return events

    def order_update(
        self,
        o: Order,
        x: str,
        *,
        last_steps: int = 0,
        last_price: Decimal = ZERO,
        commission: Decimal | None = None,
        trade_id: int = 0,
        maker: bool = False,
        realized: Decimal = ZERO,
    ) -> None:
        """ORDER_TRADE_UPDATE with execution type `x` (fill fields only for a fill)."""
        bid, ask = self._ledger.notionals(o.account, o.symbol)
        self.pending.append(
            (
                o.account.account_id,
                wire.order_trade_update(
                    o,
                    self._books[o.symbol].inst,
                    now_ms=self._clock.now_ms(),
                    x=x,
                    bid_notional=bid,
                    ask_notional=ask,
                    last_steps=last_steps,
                    last_price=last_price,
                    commission=commission,
                    trade_id=trade_id,
                    maker=maker,
                    realized=realized,
                ),
            )
        )

    def trade_lite(self, o: Order, steps: int, price: Decimal, trade_id: int, maker: bool) -> None:
        """TRADE_LITE, before the fill's ORDER_TRADE_UPDATE, when EngineConfig enables it."""
        if not self._cfg.emit_trade_lite:
            return
        inst = self._books[o.symbol].inst
        now = self._clock.now_ms()
        self.pending.append(
            (
                o.account.account_id,
                wire.trade_lite(
                    o, inst, now_ms=now, steps=steps, price=price, trade_id=trade_id, maker=maker
                ),
            )
        )

    def account_update(self, acct: Account, reason: str, symbols: list[str]) -> None:
        """ACCOUNT_UPDATE: the wallet and the positions of `symbols` now."""
        entries = []
        for symbol in symbols:
            b = self._books[symbol]
            entries.append(
                wire.position_entry(
                    acct.position(symbol),
                    b.inst,
                    mark=b.ref_price(),
                    taker_fee=self._cfg.taker_fee,
                    margin_type=acct.margin_type.get(symbol, "CROSSED"),
                )
            )
        self.pending.append(
            (
                acct.account_id,
                wire.account_update(
                    now_ms=self._clock.now_ms(),
                    reason=reason,
                    asset="USDT",
                    wallet=acct.wallet,
                    positions=entries,
                ),
            )
        )

    def funding(self, acct: Account, symbol: str, amount: Decimal, rate: Decimal) -> None:
        """ACCOUNT_UPDATE m=FUNDING_FEE (wallet only, as Binance)."""
        self.pending.append(
            (
                acct.account_id,
                wire.account_update(
                    now_ms=self._clock.now_ms(),
                    reason="FUNDING_FEE",
                    asset="USDT",
                    wallet=acct.wallet,
                    positions=[],
                ),
            )
        )

    def algo_update(self, a: Algo) -> None:
        """ALGO_UPDATE of the conditional's current status; stamps its updateTime."""
        a.update_time = self._clock.now_ms()
        inst = self._books[a.symbol].inst
        self.pending.append((a.account.account_id, wire.algo_update(a, inst, now_ms=a.update_time)))

    def margin_call(self, acct: Account) -> None:
        """MARGIN_CALL (section 10.6) with the open positions at their marks."""
        rows = []
        for symbol, pos in acct.positions.items():
            if pos.amt == 0:
                continue
            b = self._books[symbol]
            rows.append(
                (
                    pos,
                    b.inst,
                    b.ref_price() or pos.entry,
                    b.brackets,
                    acct.margin_type.get(symbol, "CROSSED"),
                )
            )
        self.pending.append(
            (
                acct.account_id,
                wire.margin_call(now_ms=self._clock.now_ms(), wallet=acct.wallet, rows=rows),
            )
        )

    def config_update(self, acct: Account, symbol: str, leverage: int) -> None:
        """ACCOUNT_CONFIG_UPDATE `ac` after a leverage change."""
        now = self._clock.now_ms()
        self.pending.append(
            (
                acct.account_id,
                {
                    "e": "ACCOUNT_CONFIG_UPDATE",
                    "E": now,
                    "T": now,
                    "ac": {"s": symbol, "l": leverage},
                },
            )
        )


__all__ = ["UserEvents"]
