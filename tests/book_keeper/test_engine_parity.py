"""The BookKeeper agrees with the local exchange's engine to the last Decimal digit.

The in-process `exchange_sim.engine.Exchange` (no network) trades: a taker buy, a resting buy
filled in two maker parts (entry with a repeating decimal), a funding settlement, a maker
reduce, a taker flip and a taker reduce. Its ORDER_TRADE_UPDATE fills become core `Fill`s and
its ACCOUNT_UPDATEs `BalanceChanged` / `PositionChanged`, as the gateway will parse them; the
books must then equal the engine's `account()` / `positionRisk` numbers and internal state.
"""

from decimal import Decimal

from book_keeper import BookKeeper
from core.account import Balance, Position
from core.enums import OrderType, Side, TimeInForce
from core.events import (
    BalanceChanged,
    Event,
    OrderAccepted,
    OrderFilled,
    OrderPartiallyFilled,
    OrderSubmitted,
    PositionChanged,
)
from core.market import MarkPrice
from core.orders import Fill, OrderRequest
from tests.exchange_sim.test_engine_support import T0, instruments, limit, make_exchange, market

D = Decimal
SYMBOL = "BTCUSDT"
FUNDING_TIME = 1723161600000  # the first 8 h boundary after T0


def to_fill(o: dict) -> Fill:
    """A core Fill from the `o` object of an ORDER_TRADE_UPDATE with x = TRADE."""
    return Fill(
        symbol=o["s"],
        order_id=o["i"],
        client_order_id=o["c"],
        trade_id=o["t"],
        side=Side(o["S"]),
        price=D(o["L"]),
        qty=D(o["l"]),
        commission=D(o["n"]),
        commission_asset=o["N"],
        realized_pnl=D(o["rp"]),
        is_maker=o["m"],
        trade_time_ms=o["T"],
        recv_time_ms=o["T"],
    )


def to_events(raw: dict) -> list[Event]:
    """Core events of one user-data event of the engine (the parts the books use)."""
    t = raw["E"]
    if raw["e"] == "ORDER_TRADE_UPDATE":
        o = raw["o"]
        if o["x"] == "NEW":
            return [
                OrderAccepted(
                    event_time_ms=t,
                    recv_time_ms=t,
                    symbol=o["s"],
                    client_order_id=o["c"],
                    order_id=o["i"],
                )
            ]
        if o["x"] == "TRADE":
            cls = OrderFilled if o["X"] == "FILLED" else OrderPartiallyFilled
            return [
                cls(
                    event_time_ms=t,
                    recv_time_ms=t,
                    fill=to_fill(o),
                    cumulative_qty=D(o["z"]),
                    avg_price=D(o["ap"]),
                )
            ]
        return []
    if raw["e"] == "ACCOUNT_UPDATE":
        a = raw["a"]
        out: list[Event] = [
            BalanceChanged(
                event_time_ms=t,
                recv_time_ms=t,
                reason=a["m"],
                balance=Balance(
                    asset=b["a"], wallet_balance=D(b["wb"]), available_balance=D(b["cw"])
                ),
            )
            for b in a["B"]
        ]
        out += [
            PositionChanged(
                event_time_ms=t,
                recv_time_ms=t,
                reason=a["m"],
                position=Position(symbol=p["s"], qty=D(p["pa"]), entry_price=D(p["ep"])),
            )
            for p in a["P"]
        ]
        return out
    return []


class Driver:
    """Sends orders to the engine and feeds everything it reports to the BookKeeper."""

    def __init__(self) -> None:
        self.ex, self.clock = make_exchange()  # 10000 USDT, mark 61800.0, book 61800.2/61800.3
        self.ex.drain_user_events()
        self.books = BookKeeper(
            starting_balances={"USDT": D("10000")},
            instruments=instruments(),
            clock=self.clock,
        )
        self.seq = 0

    def order(self, params: dict[str, str]) -> None:
        self.seq += 1
        cid = f"bk-{self.seq}"
        price = params.get("price")
        request = OrderRequest(
            symbol=SYMBOL,
            side=Side(params["side"]),
            type=OrderType(params["type"]),
            quantity=D(params["quantity"]),
            client_order_id=cid,
            price=None if price is None else D(price),
            time_in_force=TimeInForce.GTC if price is not None else None,
        )
        now = self.clock.now_ms()
        self.books.apply(OrderSubmitted(event_time_ms=now, recv_time_ms=now, request=request))
        self.ex.new_order("alice", {**params, "newClientOrderId": cid})
        self.pump()

    def pump(self) -> None:
        for _, raw in self.ex.drain_user_events():
            for event in to_events(raw):
                self.books.apply(event)


def test_books_equal_the_engine_account_to_the_last_digit():
    d = Driver()
    d.order(market("BUY", "0.100"))  # taker @ 61800.3
    d.order(limit("BUY", "0.200", "61750.0"))
    d.ex.on_trade(SYMBOL, D("61749.9"), D("0.150"), True, T0 + 1_000)  # maker 0.150 @ 61750.0
    d.ex.on_trade(SYMBOL, D("61749.0"), D("1.000"), True, T0 + 2_000)  # maker 0.050 @ 61750.0
    d.pump()
    d.ex.on_time(FUNDING_TIME)  # long 0.300 pays 0.3 * 61800.0 * 0.0001 = 1.854
    d.pump()
    d.order(limit("SELL", "0.100", "61900.0"))
    d.ex.on_trade(SYMBOL, D("61900.1"), D("0.500"), False, FUNDING_TIME + 1_000)  # maker reduce
    d.pump()
    d.order(market("SELL", "0.500"))  # taker @ 61800.2: closes 0.200, opens -0.300
    d.order(market("BUY", "0.100"))  # taker @ 61800.3: reduces the short to -0.200
    d.order(limit("SELL", "0.050", "62500.0"))  # rests: adds to the short, reserves margin
    d.books.mark(
        MarkPrice(
            SYMBOL, D("61800.0"), D("61800.0"), D("0.0001"), 0, d.clock.now_ms(), d.clock.now_ms()
        )
    )

    account = d.ex.account("alice", {})
    [risk] = d.ex.position_risk("alice", {"symbol": SYMBOL})
    engine_position = d.ex._accounts["alice"].positions[SYMBOL]
    incomes = d.ex.income("alice", {"symbol": SYMBOL})
    books = d.books
    pos = books.position(SYMBOL)
    # Hand check of the engine's numbers: entry after the adds
    # (0.1*61800.3 + 0.15*61750.0 = 15442.53) / 0.25 = 61770.12, then
    # (0.25*61770.12 + 0.05*61750.0 = 18530.03) / 0.3 = 61766.7666...;
    # rp 0.1*(61900.0 - 61766.7666...) = 13.32333333; flip 0.2*(61800.2 - 61766.7666...) =
    # 6.68666667; reduce the short 0.1*(61800.3 - 61800.2)*-1 = -0.01
    assert books.realized_pnl == D("13.32333333") + D("6.68666667") + D("-0.01")
    assert books.wallet() == D(account["totalWalletBalance"])
    assert books.unrealized_pnl() == D(account["totalUnrealizedProfit"])
    assert books.equity() == D(account["totalMarginBalance"])
    assert books.available_balance() == D(account["availableBalance"])
    assert (pos.qty, pos.entry_price) == (D(risk["positionAmt"]), D(risk["entryPrice"]))
    assert (pos.qty, pos.entry_price) == (engine_position.amt, engine_position.entry)
    assert books.realized_pnl == engine_position.realized
    assert books.realized_pnl == sum(
        D(i["income"]) for i in incomes if i["incomeType"] == "REALIZED_PNL"
    )
    assert books.funding == sum(D(i["income"]) for i in incomes if i["incomeType"] == "FUNDING_FEE")
    assert books.funding == D("-1.854")
    assert -books.fees["USDT"] == sum(
        D(i["income"]) for i in incomes if i["incomeType"] == "COMMISSION"
    )
    assert (books.differences, books.rp_mismatches, books.rejected_events) == (0, 0, 0)
    assert books.summary().fills == 6 and books.open_order_count() == 1


def test_entry_with_a_repeating_decimal_stays_exact_through_an_account_update():
    d = Driver()
    d.order(market("BUY", "0.100"))
    d.order(limit("BUY", "0.200", "61750.0"))
    d.ex.on_trade(SYMBOL, D("61749.9"), D("0.150"), True, T0 + 1_000)
    d.ex.on_trade(SYMBOL, D("61749.0"), D("1.000"), True, T0 + 2_000)
    d.pump()  # ACCOUNT_UPDATE printed ep "61766.76666667"

    assert d.books.position(SYMBOL).entry_price == d.ex._accounts["alice"].positions[SYMBOL].entry
    assert d.books.position(SYMBOL).entry_price == D("18530.03") / D("0.3")
    assert d.books.differences == 0
