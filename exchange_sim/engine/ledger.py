"""`Ledger`: accounts and their money: wallet, positions, fees, funding, margin (USDT, Decimal).

It books what the matching decided (a fill at a price, a funding instant) and answers margin
questions (totals, open-order margin, the -2019/-2027 checks, who must be liquidated). It never
matches and never emits events: the engine does, from what the ledger returns.
"""

from collections.abc import Mapping
from decimal import Decimal

from exchange_sim.engine.book import SymbolBook
from exchange_sim.engine.config import EngineConfig
from exchange_sim.engine.fmt import ZERO, q8
from exchange_sim.engine.margin import (
    bracket_liquidation_price,
    maintenance_margin,
    max_notional,
    open_order_margin,
)
from exchange_sim.engine.state import Account, Income, Order, UserTrade
from exchange_sim.errors import BinanceError


class Totals:
    """Cross-margin totals of one account in USDT (section 7.2 / 11.3)."""

    __slots__ = ("available", "maint", "open_order_im", "position_im", "upnl", "wallet")

    def __init__(self) -> None:
        self.wallet = ZERO
        self.upnl = ZERO
        self.position_im = ZERO
        self.open_order_im = ZERO
        self.maint = ZERO
        self.available = ZERO

    @property
    def margin_balance(self) -> Decimal:
        return self.wallet + self.upnl


class FillBooking:
    """What booking one fill did to the account: realized PnL and fee (USDT), the trade id."""

    __slots__ = ("fee", "realized", "trade_id")

    def __init__(self, realized: Decimal, fee: Decimal, trade_id: int) -> None:
        self.realized = realized
        self.fee = fee
        self.trade_id = trade_id


class Ledger:
    """Accounts, positions, wallet, fees, funding and margin; prices come from the books."""

    __slots__ = ("_books", "_cfg", "_next_tran_id", "accounts")

    def __init__(self, config: EngineConfig, books: Mapping[str, SymbolBook]) -> None:
        self._cfg = config
        self._books = books  # read-only here: instruments, brackets, mark and last prices
        self.accounts: dict[str, Account] = {}
        self._next_tran_id = 9_000_000_001

    # --- accounts --------------------------------------------------------------------------

    def open_account(self, account_id: str, wallet: Decimal, now_ms: int) -> Account:
        if account_id in self.accounts:
            raise ValueError(f"account {account_id!r} already exists")
        acct = self.accounts[account_id] = Account(
            account_id=account_id, wallet=q8(wallet), update_time=now_ms
        )
        return acct

    def account(self, account_id: str) -> Account:
        """The account, or BinanceError -2015 (what an unknown API key gets)."""
        acct = self.accounts.get(account_id)
        if acct is None:
            raise BinanceError(
                -2015, "Invalid API-key, IP, or permissions for action.", http_status=401
            )
        return acct

    def leverage(self, acct: Account, symbol: str) -> int:
        return acct.leverage.get(symbol, self._cfg.default_leverage)

    def new_tran_id(self) -> int:
        self._next_tran_id += 1
        return self._next_tran_id - 1

    # --- margin ----------------------------------------------------------------------------

    def totals(self, acct: Account) -> Totals:
        t = Totals()
        t.wallet = acct.wallet
        t.upnl, t.maint, t.position_im = self._position_sums(acct, initial_margin=True)
        for symbol in acct.open_orders:
            t.open_order_im += self.open_order_im(acct, symbol)
        t.available = t.margin_balance - t.position_im - t.open_order_im
        return t

    def margin_balance_and_maint(self, acct: Account) -> tuple[Decimal, Decimal]:
        """(margin balance, maintenance margin) in USDT: `totals(acct)`'s two (the same sums),
        without the initial margins. The liquidation check runs at every mark price of an
        account with a position and needs only these; the position and open-order margins
        (and the Totals object) are about half of what `totals` costs."""
        upnl, maint, _ = self._position_sums(acct, initial_margin=False)
        return acct.wallet + upnl, maint

    def _position_sums(
        self, acct: Account, *, initial_margin: bool
    ) -> tuple[Decimal, Decimal, Decimal]:
        """(unrealized PnL, maintenance margin, position initial margin or 0) over the open
        positions, each marked at its book's reference price (else its entry)."""
        upnl = maint = im = ZERO
        for symbol, pos in acct.positions.items():
            if pos.amt == 0:
                continue
            b = self._books[symbol]
            mark = b.ref_price() or pos.entry
            notional = abs(pos.amt) * mark
            upnl += pos.amt * (mark - pos.entry)
            maint += maintenance_margin(b.brackets, notional)
            if initial_margin:
                im += notional / self.leverage(acct, symbol)
        return upnl, maint, im

    def liquidation_price(self, acct: Account, symbol: str) -> Decimal:
        """The position's liquidation price (USDT; 0 when it has none), section 11.4: the
        mark at which its margin balance meets its maintenance margin (in the tier of the
        notional at that mark, not at the current one), the account's other positions held at
        their marks. What positionRisk reports, and where the backtester
        liquidates a position a bar's path passes through."""
        pos = acct.positions.get(symbol)
        if pos is None or pos.amt == 0:
            return ZERO
        other_mm = other_upnl = ZERO
        for other, p in acct.positions.items():
            if other == symbol or p.amt == 0:
                continue
            o = self._books[other]
            mark = o.ref_price() or p.entry
            other_mm += maintenance_margin(o.brackets, abs(p.amt) * mark)
            other_upnl += p.amt * (mark - p.entry)
        return bracket_liquidation_price(
            self._books[symbol].brackets,
            wallet=acct.wallet,
            other_mm=other_mm,
            other_upnl=other_upnl,
            amt=pos.amt,
            entry=pos.entry,
        )

    def open_order_im(
        self, acct: Account, symbol: str, extra: tuple[bool, Decimal, Decimal] | None = None
    ) -> Decimal:
        """Open-order initial margin of `symbol`, optionally with one more (is_buy, qty, price)."""
        inst = self._books[symbol].inst
        buys: list[tuple[Decimal, Decimal]] = []
        sells: list[tuple[Decimal, Decimal]] = []
        for o in acct.open_orders.get(symbol, {}).values():
            if o.reduce_only or o.type != "LIMIT":
                continue
            (buys if o.is_buy else sells).append((inst.from_steps(o.remaining_steps), o.price))
        if extra is not None:
            is_buy, qty, price = extra
            (buys if is_buy else sells).append((qty, price))
        if not buys and not sells:
            return ZERO
        pos = acct.positions.get(symbol)
        amt = pos.amt if pos else ZERO
        return open_order_margin(amt, buys, sells, self.leverage(acct, symbol))

    def check_margin(
        self,
        acct: Account,
        symbol: str,
        is_buy: bool,
        qty: Decimal,
        price: Decimal,
        *,
        immediate: bool = False,
    ) -> None:
        """-2027 / -2019 for a new order of `qty` contracts valued at `price` USDT.

        -2027: the position after a full fill would exceed the bracket cap of the leverage.
        -2019: the initial margin the order adds exceeds the available balance. A resting order
        adds open-order margin (see margin.open_order_margin); an `immediate` (MARKET) order adds
        position margin for the part that increases exposure.
        """
        if not self._cfg.margin_check:
            return
        pos = acct.positions.get(symbol)
        amt = pos.amt if pos else ZERO
        signed = qty if is_buy else -qty
        lev = self.leverage(acct, symbol)
        after = abs(amt + signed)
        if after > abs(amt) and after * price > max_notional(self._books[symbol].brackets, lev):
            raise BinanceError(
                -2027, "Exceeded the maximum allowable position at current leverage."
            )
        if immediate:
            closable = max(ZERO, -amt) if is_buy else max(ZERO, amt)
            need = max(ZERO, qty - closable) * price / lev
        else:
            before = self.open_order_im(acct, symbol)
            need = self.open_order_im(acct, symbol, (is_buy, qty, price)) - before
        if need > self.totals(acct).available:
            raise BinanceError(-2019, "Margin is insufficient.")

    def notionals(self, acct: Account, symbol: str) -> tuple[Decimal, Decimal]:
        """(bid, ask) notional of the account's open LIMIT orders on `symbol` (`b`/`a`)."""
        inst = self._books[symbol].inst
        bid = ask = ZERO
        for o in acct.open_orders.get(symbol, {}).values():
            if o.type != "LIMIT":
                continue
            value = inst.from_steps(o.remaining_steps) * o.price
            if o.is_buy:
                bid += value
            else:
                ask += value
        return bid, ask

    def closable_steps(self, o: Order) -> int:
        """How much of a reduce-only order may still execute: the opposite position size."""
        pos = o.account.positions.get(o.symbol)
        if pos is None or pos.amt == 0 or (pos.amt > 0) == o.is_buy:
            return 0
        return int(abs(pos.amt) / self._books[o.symbol].inst.lot.step_size)

    # --- booking -----------------------------------------------------------------------------

    def book_fill(
        self,
        o: Order,
        price: Decimal,
        qty: Decimal,
        maker: bool,
        now_ms: int,
        *,
        calculated: bool = False,
    ) -> FillBooking:
        """Position, wallet, trade and income rows of one execution of `o` (not its status).

        `calculated` is a liquidation: the clearance fee (instrument.liquidationFee of the
        notional) is capped at what is left of the wallet.
        """
        book = self._books[o.symbol]
        acct = o.account
        pos = acct.position(o.symbol)
        realized = pos.apply(qty if o.is_buy else -qty, price)
        pos.update_time = now_ms
        notional = price * qty
        if calculated:
            fee = q8(notional * book.inst.liquidation_fee)
            fee = min(fee, max(ZERO, acct.wallet + realized))
        else:
            fee = q8(notional * (self._cfg.maker_fee if maker else self._cfg.taker_fee))
        acct.wallet = acct.wallet + realized - fee
        acct.update_time = now_ms
        trade_id = book.new_trade_id()
        acct.trades.setdefault(o.symbol, []).append(
            UserTrade(
                o.symbol, trade_id, o.order_id, o.side, price, qty, realized, fee, maker, now_ms
            )
        )
        if realized:
            acct.incomes.append(
                Income(
                    o.symbol, "REALIZED_PNL", realized, now_ms, self.new_tran_id(), str(trade_id)
                )
            )
        if fee:
            acct.incomes.append(
                Income(o.symbol, "COMMISSION", -fee, now_ms, self.new_tran_id(), str(trade_id))
            )
        return FillBooking(realized, fee, trade_id)

    def settle_funding(self, now_ms: int) -> list[tuple[Account, str, Decimal, Decimal]]:
        """Funding at the settlement instant: amount = -positionAmt * mark * rate (longs pay).

        Returns (account, symbol, amount USDT, rate) of every non-zero payment, in order.
        """
        paid = []
        for acct in self.accounts.values():
            for symbol, pos in acct.positions.items():
                b = self._books[symbol]
                if pos.amt == 0 or b.mark is None:
                    continue
                rate = (
                    self._cfg.fixed_funding_rate
                    if self._cfg.fixed_funding_rate is not None
                    else b.funding_rate
                )
                income = -q8(pos.amt * b.mark * rate)
                if not income:
                    continue
                acct.wallet += income
                acct.update_time = now_ms
                acct.incomes.append(
                    Income(symbol, "FUNDING_FEE", income, now_ms, self.new_tran_id())
                )
                paid.append((acct, symbol, income, rate))
        return paid

    def insurance_clear(self, acct: Account, now_ms: int) -> bool:
        """After a liquidation: a negative wallet is reset to 0 by the insurance fund."""
        if acct.wallet >= 0:
            return False
        acct.incomes.append(Income("", "INSURANCE_CLEAR", -acct.wallet, now_ms, self.new_tran_id()))
        acct.wallet = ZERO
        return True

    def margin_states(self) -> list[tuple[Account, str]]:
        """Accounts to act on at the current marks: (account, "liquidate" | "margin_call").

        Liquidation when margin balance <= maintenance margin (section 11.3); MARGIN_CALL once
        the ratio reaches EngineConfig.margin_call_ratio (if set), once per crossing.
        """
        threshold = self._cfg.margin_call_ratio
        out: list[tuple[Account, str]] = []
        for acct in self.accounts.values():
            if not any(p.amt for p in acct.positions.values()):
                acct.margin_called = False
                continue
            balance, maint = self.margin_balance_and_maint(acct)
            if maint > 0 and balance <= maint:
                out.append((acct, "liquidate"))
                acct.margin_called = False
            elif threshold is not None and maint > 0:
                ratio = maint / balance
                if ratio >= threshold and not acct.margin_called:
                    acct.margin_called = True
                    out.append((acct, "margin_call"))
                elif ratio < threshold:
                    acct.margin_called = False
        return out


__all__ = ["FillBooking", "Ledger", "Totals"]
