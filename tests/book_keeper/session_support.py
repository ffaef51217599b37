"""The seeded random session the checkpoint tests journal (no tests here): what the daemon
journals, simplified, with the awkward cases in it.

Orders submitted (with their decision, or denied), accepted, left in doubt (UNKNOWN) and
resolved, partly and fully filled, cancelled, rejected, expired; fills late, out of the
exchange's order and repeated; fills of the exchange's own liquidation order, of an order the
journal never had and of a symbol no longer traded; account updates that agree and disagree
with the fills, funding both ways, transfers, fees in BNB; reconciliation snapshots; the
trading state through REDUCING, HALTED and an operator's reset; balance snapshots. Times are
ms from `T0`, money USDT. Used by test_checkpoint_equivalence.py and test_checkpoint.py.
"""

import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from book_keeper.book_keeper import BookKeeper
from book_keeper.checkpoint import EVERY_RECORDS
from book_keeper.journal import SqliteJournal
from book_keeper.symbol_book import position_step
from core.account import Balance, Position
from core.clock import SimClock
from core.enums import OrderStatus, OrderType, Side, TimeInForce, TradingState
from core.events import (
    AUTOMATIC_RESET,
    BalanceChanged,
    DecisionMade,
    FundingPaid,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
    OrderRejected,
    OrderStatusUnknown,
    OrderSubmitted,
    PositionChanged,
    RiskDenied,
    TradingStateChanged,
    VenueSnapshot,
)
from core.instrument import Instrument
from core.orders import Fill, Order, OrderRequest
from tests.book_keeper.support import T0

D = Decimal
TRADED = ("BTCUSDT", "ETHUSDT")
UNTRADED = "XRPUSDT"  # traded by an earlier run: its fills move the wallet, nothing more
PRICE = {"BTCUSDT": D("60000"), "ETHUSDT": D("3000"), UNTRADED: D("0.5")}
LOT = {"BTCUSDT": D("0.001"), "ETHUSDT": D("0.01"), UNTRADED: D("1")}
E8 = D("0.00000001")


@dataclass
class _Open:
    request: OrderRequest
    status: OrderStatus
    filled: Decimal = Decimal(0)
    order_id: int | None = None


def _order_event(cls: type, cid: str, o: _Open, t: int, **fields: Any) -> Any:
    """An event of our order `cid` as the user stream gives it: exchange and receive time `t`."""
    return cls(
        event_time_ms=t, recv_time_ms=t, symbol=o.request.symbol, client_order_id=cid, **fields
    )


def _fill_event(
    f: Fill, cumulative: Decimal, *, final: bool = True, event_ms: int, recv_ms: int
) -> OrderFilled | OrderPartiallyFilled:
    """The order event that reports fill `f` (`cumulative`: the order's filled quantity)."""
    cls = OrderFilled if final else OrderPartiallyFilled
    return cls(
        event_time_ms=event_ms,
        recv_time_ms=recv_ms,
        fill=f,
        cumulative_qty=cumulative,
        avg_price=f.price,
    )


@dataclass
class Session:
    """The exchange and the daemon, simplified: enough state to journal plausible records."""

    rng: random.Random
    journal: SqliteJournal
    t: int = T0
    n: int = 0  # client order id sequence
    wallet: Decimal = Decimal("10000")
    transfers: Decimal = Decimal(0)
    state: TradingState = TradingState.ACTIVE
    resets: int = 0  # returns to ACTIVE: every other one the daemon's automatic resume
    open: dict[str, _Open] = field(default_factory=dict)
    qty: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(PRICE, D(0)))
    entry: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(PRICE, D(0)))
    trade_id: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PRICE, 1_000))
    fills: list[Fill] = field(default_factory=list)  # for repeats and late ones
    kinds: list[str] = field(default_factory=list)  # what each step journaled

    def record(self, *events: object) -> None:
        if len(events) == 1:
            self.journal.record(events[0])  # type: ignore[arg-type]
        else:
            self.journal.record_many(events)  # type: ignore[arg-type]

    @classmethod
    def started(cls, seed: int, journal: SqliteJournal) -> "Session":
        """A session of `seed` on `journal`, its first record the start's reconciliation
        (10,000 USDT, no position, no order)."""
        session = cls(random.Random(seed), journal)
        session.record(
            VenueSnapshot(
                event_time_ms=T0,
                recv_time_ms=T0,
                balances=(session._balance(),),
                positions=(),
                open_orders=(),
                reason="start",
                symbols=TRADED,
            )
        )
        return session

    def tick(self) -> int:
        self.t += self.rng.randint(1, 40_000)
        return self.t

    # --- steps ---------------------------------------------------------------------------

    def step(self) -> str:
        r = self.rng
        weights = {
            self.submit: 14,
            self.answer: 12,
            self.fill: 16,
            self.late_or_repeated_fill: 3,
            self.end_order: 6,
            self.account_update: 8,
            self.funding: 3,
            self.transfer: 1,
            self.reconcile: 4,
            self.balance_snapshot: 6,
            self.trading_state: 2,
            self.strange_fill: 1,
            self.denied: 2,
        }
        action = r.choices(list(weights), weights=list(weights.values()))[0]
        kind = action()
        self.kinds.append(kind)
        return kind

    def submit(self) -> str:
        r = self.rng
        symbol = r.choice((*TRADED, *TRADED, UNTRADED))
        self.n += 1
        cid = f"t-{self.n}"
        side = r.choice((Side.BUY, Side.SELL))
        qty = LOT[symbol] * r.randint(1, 5)
        limit = r.random() < 0.6
        price = (PRICE[symbol] * D(r.uniform(0.99, 1.01))).quantize(LOT[symbol] * 10)
        request = OrderRequest(
            symbol=symbol,
            side=side,
            type=OrderType.LIMIT if limit else OrderType.MARKET,
            quantity=qty,
            client_order_id=cid,
            price=price if limit else None,
            time_in_force=TimeInForce.GTC if limit else None,
        )
        t = self.tick()
        decision = DecisionMade(
            event_time_ms=t,
            recv_time_ms=t,
            symbol=symbol,
            strategy="random",
            action=f"{side} {qty}",
            reason="seeded",
        )
        self.record(decision, OrderSubmitted(event_time_ms=t, recv_time_ms=t, request=request))
        self.open[cid] = _Open(request, OrderStatus.PENDING_SUBMIT)
        if r.random() < 0.03:  # the same intent journaled twice: the first one is kept
            self.record(OrderSubmitted(event_time_ms=t, recv_time_ms=t, request=request))
        return "submit"

    def _pick(self, *statuses: OrderStatus) -> tuple[str, _Open] | None:
        cids = [cid for cid, o in self.open.items() if not statuses or o.status in statuses]
        if not cids:
            return None
        cid = self.rng.choice(cids)
        return cid, self.open[cid]

    def answer(self) -> str:
        """The exchange's answer to a request in flight, or none (UNKNOWN), or a resolution."""
        got = self._pick(OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN)
        if got is None:
            return "nothing"
        cid, o = got
        t = self.tick()
        roll = self.rng.random()
        if o.status is OrderStatus.PENDING_SUBMIT and roll < 0.3:
            o.status = OrderStatus.UNKNOWN
            self.record(_order_event(OrderStatusUnknown, cid, o, t, reason="timeout"))
            return "unknown"
        if roll < 0.4:
            del self.open[cid]
            self.record(
                _order_event(OrderRejected, cid, o, t, code=-2019, reason="Margin is insufficient.")
            )
            return "rejected"
        o.order_id = o.order_id or 7_000_000 + self.n
        in_doubt, o.status = o.status is OrderStatus.UNKNOWN, OrderStatus.NEW
        if in_doubt and roll < 0.6:  # resolved by a reconciliation, not by the stream
            self.record(_order_event(OrderReconciled, cid, o, t, status=OrderStatus.NEW))
        else:
            self.record(_order_event(OrderAccepted, cid, o, t, order_id=o.order_id))
        return "accepted"

    def _fill_of(self, cid: str, o: _Open, qty: Decimal, t: int) -> Fill:
        symbol = o.request.symbol
        price = (PRICE[symbol] * D(self.rng.uniform(0.98, 1.02))).quantize(LOT[symbol] * 10)
        signed = qty if o.request.side is Side.BUY else -qty
        q, e, rp = position_step(self.qty[symbol], self.entry[symbol], signed, price)
        self.qty[symbol], self.entry[symbol] = q, e
        if self.rng.random() < 0.05:  # the exchange's rp disagrees with ours now and then
            rp += D("0.01")
        bnb = self.rng.random() < 0.1
        fee = (price * qty * D("0.0005")).quantize(E8, rounding=ROUND_HALF_UP)
        self.wallet += rp - (D(0) if bnb else fee)
        self.trade_id[symbol] += self.rng.randint(1, 50)
        return Fill(
            symbol=symbol,
            order_id=o.order_id or 1,
            client_order_id=cid,
            trade_id=self.trade_id[symbol],
            side=o.request.side,
            price=price,
            qty=qty,
            commission=D("0.0001") if bnb else fee,
            commission_asset="BNB" if bnb else "USDT",
            realized_pnl=rp,
            is_maker=self.rng.random() < 0.5,
            trade_time_ms=t,
            recv_time_ms=t + 3,
        )

    def fill(self) -> str:
        got = self._pick(
            OrderStatus.NEW,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.PENDING_SUBMIT,
            OrderStatus.UNKNOWN,
        )
        if got is None:
            return "nothing"
        cid, o = got
        t = self.tick()
        left = o.request.quantity - o.filled  # type: ignore[operator]
        lot = LOT[o.request.symbol]
        qty = left if left <= lot or self.rng.random() < 0.5 else lot
        f = self._fill_of(cid, o, qty, t)
        o.filled += qty
        final = o.filled == o.request.quantity
        self.record(_fill_event(f, o.filled, final=final, event_ms=t, recv_ms=t + 3))
        self.fills.append(f)
        if final:
            del self.open[cid]
        else:
            o.status = OrderStatus.PARTIALLY_FILLED
        return "fill"

    def late_or_repeated_fill(self) -> str:
        """A fill reported again (stream and REST), or one the exchange made before fills
        already journaled (trade id below theirs: booked in the exchange's order)."""
        if not self.fills:
            return "nothing"
        r = self.rng
        if r.random() < 0.5:
            f = r.choice(self.fills[-20:])
            t = self.tick()
            self.record(_fill_event(f, f.qty, event_ms=t, recv_ms=t))
            return "repeated fill"
        f = self.fills[-1]
        late = Fill(
            **{
                **{name: getattr(f, name) for name in f.__dataclass_fields__},
                "trade_id": f.trade_id - 1,
                "qty": LOT[f.symbol],
                "trade_time_ms": f.trade_time_ms - 1,
            }
        )
        self.record(
            _fill_event(
                late, late.qty, final=False, event_ms=late.trade_time_ms, recv_ms=self.tick()
            )
        )
        return "late fill"

    def end_order(self) -> str:
        got = self._pick(OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
        if got is None:
            return "nothing"
        cid, o = got
        t = self.tick()
        del self.open[cid]
        if self.rng.random() < 0.7:
            self.record(_order_event(OrderCanceled, cid, o, t, order_id=o.order_id))
            return "canceled"
        self.record(
            _order_event(OrderExpired, cid, o, t, order_id=o.order_id, reason="IOC remainder")
        )
        return "expired"

    def _balance(self, off: Decimal = D(0)) -> Balance:
        return Balance(
            asset="USDT",
            wallet_balance=self.wallet + off,
            available_balance=self.wallet,
            update_time_ms=self.t,
        )

    def account_update(self) -> str:
        """ACCOUNT_UPDATE (reason ORDER) after fills: agreeing, or ahead of fills, or off."""
        t = self.tick()
        off = self.rng.choice((D(0), D(0), D(0), D("0.5")))
        symbol = self.rng.choice(TRADED)
        position = Position(
            symbol=symbol,
            qty=self.qty[symbol] + (LOT[symbol] if off else 0),
            entry_price=self.entry[symbol],
            leverage=self.rng.choice((5, 10)),
            update_time_ms=t,
        )
        self.record(
            BalanceChanged(
                event_time_ms=t, recv_time_ms=t, balance=self._balance(off), reason="ORDER"
            ),
            PositionChanged(event_time_ms=t, recv_time_ms=t, position=position, reason="ORDER"),
        )
        return "account update"

    def funding(self) -> str:
        t = self.tick()
        settlement = t - t % 28_800_000
        symbol = self.rng.choice(TRADED)
        amount = D(self.rng.randint(-300, 300)) / 100
        self.wallet += amount
        if self.rng.random() < 0.5:
            self.record(
                FundingPaid(
                    event_time_ms=settlement,
                    recv_time_ms=t,
                    symbol=symbol,
                    amount=amount,
                    rate=D("0.0001"),
                )
            )
        else:
            self.record(
                BalanceChanged(
                    event_time_ms=settlement,
                    recv_time_ms=t,
                    balance=self._balance(),
                    reason="FUNDING_FEE",
                )
            )
        return "funding"

    def transfer(self) -> str:
        t = self.tick()
        amount = D(self.rng.choice((-500, 250, 1000)))
        self.wallet += amount
        self.transfers += amount
        reason = "DEPOSIT" if amount > 0 else "WITHDRAW"
        self.record(
            BalanceChanged(event_time_ms=t, recv_time_ms=t, balance=self._balance(), reason=reason)
        )
        return "transfer"

    def reconcile(self) -> str:
        t = self.tick()
        positions = tuple(
            Position(
                symbol=s,
                qty=self.qty[s],
                entry_price=self.entry[s],
                leverage=self.rng.choice((5, 10, 20)),
            )
            for s in TRADED
            if self.qty[s] or self.rng.random() < 0.5
        )
        orders = tuple(
            Order.from_request(o.request, t)
            for o in self.open.values()
            if o.request.symbol in TRADED and self.rng.random() < 0.8
        )
        self.record(
            VenueSnapshot(
                event_time_ms=t,
                recv_time_ms=t + 20,
                balances=(self._balance(self.rng.choice((D(0), D(0), D("-1.25")))),),
                positions=positions,
                open_orders=orders,
                reason=self.rng.choice(("periodic", "reconnect", "start")),
                symbols=TRADED if self.rng.random() < 0.8 else (),
            )
        )
        return "reconcile"

    def balance_snapshot(self) -> str:
        t = self.tick()
        unrealized = D(self.rng.randint(-5000, 5000)) / 1000
        self.journal.snapshot(
            time_ms=t,
            equity=self.wallet + unrealized,
            wallet=self.wallet,
            unrealized_pnl=unrealized,
            transfers=self.transfers,
        )
        return "balance snapshot"

    def trading_state(self) -> str:
        t = self.tick()
        nxt = {
            TradingState.ACTIVE: TradingState.REDUCING,
            TradingState.REDUCING: TradingState.HALTED,
            TradingState.HALTED: TradingState.ACTIVE,
        }[self.state]
        reason = "max drawdown"
        if nxt is TradingState.ACTIVE:  # an operator's reset, or the daemon's own (no reset)
            self.resets += 1
            reason = f"{AUTOMATIC_RESET}: cleared" if self.resets % 2 == 0 else "operator reset"
        self.record(
            TradingStateChanged(
                event_time_ms=t, recv_time_ms=t, previous=self.state, current=nxt, reason=reason
            )
        )
        self.state = nxt
        return f"state {nxt}"

    def strange_fill(self) -> str:
        """A liquidation by the exchange, or a fill of an order the journal never had."""
        t = self.tick()
        symbol = self.rng.choice(TRADED)
        liquidation = self.rng.random() < 0.6
        cid = f"autoclose-{t}" if liquidation else f"other-{t}"
        request = OrderRequest(
            symbol=symbol,
            side=Side.SELL,
            type=OrderType.MARKET,
            quantity=LOT[symbol],
            client_order_id=cid,
        )
        f = self._fill_of(cid, _Open(request, OrderStatus.NEW, order_id=9), LOT[symbol], t)
        self.record(_fill_event(f, f.qty, event_ms=t, recv_ms=t))
        return "liquidation" if liquidation else "foreign fill"

    def denied(self) -> str:
        self.n += 1
        t = self.tick()
        request = OrderRequest(
            symbol="BTCUSDT",
            side=Side.BUY,
            type=OrderType.MARKET,
            quantity=D("0.001"),
            client_order_id=f"t-{self.n}",
        )
        self.record(RiskDenied(event_time_ms=t, recv_time_ms=t, request=request, reason="halted"))
        return "denied"


def open_keeping(
    path: Path, instruments: dict[str, Instrument], every_records: int = EVERY_RECORDS
) -> SqliteJournal:
    """A journal opened as the daemon opens it: restored, its replay kept and checkpointed."""
    journal = SqliteJournal(path, writer_thread=False)
    live = BookKeeper(starting_balances=None, instruments=instruments, clock=SimClock(T0))
    journal.keep_checkpoints(live.restore(journal), every_records=every_records)
    return journal


def journal_session(
    journal: SqliteJournal, steps: int, *, seed: int = 7, session: Session | None = None
) -> Session:
    """`steps` steps of the random session (a new one of `seed` starts with its start
    snapshot), each applied."""
    if session is None:
        session = Session.started(seed, journal)
    session.journal = journal
    for _ in range(steps):
        session.step()
        journal.flush()
    return session
