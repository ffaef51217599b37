"""`UserEvents`: what happened to each account, as typed records in generation order.

The engine tells it what happened (an order update, a fill's account update, an algo update,
funding, a margin call, a leverage change); it records the values of that instant (a copy of
the order, open-order notionals, positions at their marks), since the live objects keep
changing. Two readers turn the records into something else: the server's wire format
(exchange_sim.server.wire_format.user_event: Binance user-data-stream JSON) and the typed API
(exchange_sim.engine.typed.core_events: `core.events`).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from core.clock import SimClock
from core.enums import ExecutionType
from core.fast_init import fast_init
from exchange_sim.engine.book import SymbolBook
from exchange_sim.engine.config import EngineConfig
from exchange_sim.engine.fmt import ZERO
from exchange_sim.engine.ledger import Ledger
from exchange_sim.engine.margin import maintenance_margin
from exchange_sim.engine.state import Account, Algo, Order, Position


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdate:
    """An order changed (ORDER_TRADE_UPDATE): `order` is a copy taken at that instant.

    Fill fields are set for x = TRADE / CALCULATED only; `commission` is None otherwise.
    `bid_notional`/`ask_notional` are the account's open LIMIT notionals on the symbol (USDT).
    """

    account_id: str
    time_ms: int
    order: Order
    x: ExecutionType
    bid_notional: Decimal
    ask_notional: Decimal
    last_steps: int = 0
    last_price: Decimal = ZERO
    commission: Decimal | None = None
    trade_id: int = 0
    maker: bool = False
    realized: Decimal = ZERO


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeLite:
    """TRADE_LITE (only with EngineConfig.emit_trade_lite), before the fill's OrderUpdate."""

    account_id: str
    time_ms: int
    order: Order
    steps: int
    price: Decimal
    trade_id: int
    maker: bool


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PositionState:
    """One position as ACCOUNT_UPDATE reports it: a copy, its mark (None = unknown)."""

    position: Position
    mark: Decimal | None
    margin_type: str
    leverage: int


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AccountUpdate:
    """Wallet (and the positions of the symbols concerned) changed; `reason` is Binance `m`.

    Like Binance's ACCOUNT_UPDATE it carries no available balance (computing one costs a pass
    over the open orders at every fill); ask the engine's `balance()` for it.
    """

    account_id: str
    time_ms: int
    reason: str
    wallet: Decimal
    positions: tuple[PositionState, ...] = ()
    funding_symbol: str = ""  # reason FUNDING_FEE: the symbol and what was paid
    funding_amount: Decimal = ZERO
    funding_rate: Decimal = ZERO


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AlgoUpdate:
    """A conditional order changed (ALGO_UPDATE): copies of it and of the order it placed."""

    account_id: str
    time_ms: int
    algo: Algo


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginCallRow:
    symbol: str
    amt: Decimal
    mark: Decimal
    upnl: Decimal
    maint: Decimal
    margin_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginCall:
    account_id: str
    time_ms: int
    wallet: Decimal
    rows: tuple[MarginCallRow, ...] = field(default=())


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigUpdate:
    """Leverage of a symbol changed (ACCOUNT_CONFIG_UPDATE `ac`)."""

    account_id: str
    time_ms: int
    symbol: str
    leverage: int


EngineEvent = OrderUpdate | TradeLite | AccountUpdate | AlgoUpdate | MarginCall | ConfigUpdate


class UserEvents:
    """The pending records, in the order they happened."""

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
        self.pending: list[EngineEvent] = []

    def drain(self) -> list[EngineEvent]:
        events, self.pending = self.pending, []
        return events

    def order_update(
        self,
        o: Order,
        x: ExecutionType,
        *,
        last_steps: int = 0,
        last_price: Decimal = ZERO,
        commission: Decimal | None = None,
        trade_id: int = 0,
        maker: bool = False,
        realized: Decimal = ZERO,
    ) -> None:
        bid, ask = self._ledger.notionals(o.account, o.symbol)
        self.pending.append(
            OrderUpdate(
                account_id=o.account.account_id,
                time_ms=self._clock.now_ms(),
                order=o.snapshot(),
                x=x,
                bid_notional=bid,
                ask_notional=ask,
                last_steps=last_steps,
                last_price=last_price,
                commission=commission,
                trade_id=trade_id,
                maker=maker,
                realized=realized,
            )
        )

    def trade_lite(self, o: Order, steps: int, price: Decimal, trade_id: int, maker: bool) -> None:
        if not self._cfg.emit_trade_lite:
            return
        self.pending.append(
            TradeLite(
                account_id=o.account.account_id,
                time_ms=self._clock.now_ms(),
                order=o.snapshot(),
                steps=steps,
                price=price,
                trade_id=trade_id,
                maker=maker,
            )
        )

    def account_update(self, acct: Account, reason: str, symbols: list[str]) -> None:
        """The wallet and the positions of `symbols` now."""
        states = []
        for symbol in symbols:
            pos = acct.position(symbol)
            states.append(
                PositionState(
                    position=Position(
                        pos.symbol, pos.amt, pos.entry, pos.realized, pos.update_time
                    ),
                    mark=self._books[symbol].ref_price(),
                    margin_type=acct.margin_type.get(symbol, "CROSSED"),
                    leverage=self._ledger.leverage(acct, symbol),
                )
            )
        self.pending.append(
            AccountUpdate(
                account_id=acct.account_id,
                time_ms=self._clock.now_ms(),
                reason=reason,
                wallet=acct.wallet,
                positions=tuple(states),
            )
        )

    def funding(self, acct: Account, symbol: str, amount: Decimal, rate: Decimal) -> None:
        """ACCOUNT_UPDATE m=FUNDING_FEE (wallet only, as Binance)."""
        self.pending.append(
            AccountUpdate(
                account_id=acct.account_id,
                time_ms=self._clock.now_ms(),
                reason="FUNDING_FEE",
                wallet=acct.wallet,
                funding_symbol=symbol,
                funding_amount=amount,
                funding_rate=rate,
            )
        )

    def algo_update(self, a: Algo) -> None:
        """The conditional's current status; stamps its updateTime."""
        a.update_time = self._clock.now_ms()
        self.pending.append(
            AlgoUpdate(account_id=a.account.account_id, time_ms=a.update_time, algo=a.snapshot())
        )

    def margin_call(self, acct: Account) -> None:
        """MARGIN_CALL (section 10.6) with the open positions at their marks."""
        rows = []
        for symbol, pos in acct.positions.items():
            if pos.amt == 0:
                continue
            b = self._books[symbol]
            mark = b.ref_price() or pos.entry
            rows.append(
                MarginCallRow(
                    symbol=symbol,
                    amt=pos.amt,
                    mark=mark,
                    upnl=pos.amt * (mark - pos.entry),
                    maint=maintenance_margin(b.brackets, abs(pos.amt) * mark),
                    margin_type=acct.margin_type.get(symbol, "CROSSED"),
                )
            )
        self.pending.append(
            MarginCall(
                account_id=acct.account_id,
                time_ms=self._clock.now_ms(),
                wallet=acct.wallet,
                rows=tuple(rows),
            )
        )

    def config_update(self, acct: Account, symbol: str, leverage: int) -> None:
        self.pending.append(
            ConfigUpdate(
                account_id=acct.account_id,
                time_ms=self._clock.now_ms(),
                symbol=symbol,
                leverage=leverage,
            )
        )


__all__ = [
    "AccountUpdate",
    "AlgoUpdate",
    "ConfigUpdate",
    "EngineEvent",
    "MarginCall",
    "MarginCallRow",
    "OrderUpdate",
    "PositionState",
    "TradeLite",
    "UserEvents",
]
