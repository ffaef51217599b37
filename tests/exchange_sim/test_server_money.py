"""Money over the wire: fees, realized PnL, funding and liquidation, checked through python-binance
`AsyncClient` (REST) and the `websockets` library (user stream and `@markPrice@1s`) against a
running stepped `LocalExchange`.

Every expected value is computed in the test by hand, with Decimal, from the reference formulas
(`binance-usdm-futures-api.md` sections 11.3, 11.4, 11.6, 11.7) and from what the exchange
published (fill prices and quantities from userTrades, marks from `@markPrice@1s`, rates from
`/fapi/v1/commissionRate`, brackets from `/fapi/v1/leverageBracket`); never by calling the
engine's own arithmetic. Money is in USDT, quantities in BTC, times in exchange ms.

The liquidation is driven by real recorded prices: the `klines-week` data set replays the week
of 2025-05-05 (trades synthesized deterministically from real 1m klines), and BTCUSDT falls
about 0.5 % in the first two hours of 2025-05-06, enough to liquidate a 125x long.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import websockets

from exchange_sim.engine import EngineConfig
from exchange_sim.server import LocalExchange, connected_client
from tests.exchange_sim.ws_helpers import events_until_quiet

E8 = Decimal("0.00000001")  # Binance prints balances, fees, PnL and liq prices with 8 decimals
SYMBOL = "BTCUSDT"


def d(value: Any) -> Decimal:
    """Decimal of a wire value (python-binance leaves JSON numbers as float: go through str)."""
    return Decimal(str(value))


def q8(value: Decimal) -> Decimal:
    return value.quantize(E8, rounding=ROUND_HALF_UP)


def cut8(value: Decimal) -> Decimal:
    """How Binance prints amounts derived from the mark price: cut to 8 decimals (the
    reference's section 7.4 example, the real positionRisk capture of 2024-07-28)."""
    return value.quantize(E8, rounding=ROUND_DOWN)


async def _marks_through(ws, until_ms: int) -> list[dict]:
    """`markPriceUpdate`s from `ws` up to and including the one with E >= `until_ms` (the
    replay publishes one mark per whole second)."""
    out: list[dict] = []
    while not out or out[-1]["E"] < until_ms:
        out.append(json.loads(await asyncio.wait_for(ws.recv(), 5.0)))
    return out


async def _usdt(client) -> dict:
    return next(b for b in await client.futures_account_balance() if b["asset"] == "USDT")


def _fills(events: list[dict], order_id: int | None = None) -> list[dict]:
    """The `o` objects of the fill ORDER_TRADE_UPDATEs (x = TRADE or CALCULATED)."""
    return [
        e["o"]
        for e in events
        if e["e"] == "ORDER_TRADE_UPDATE"
        and e["o"]["x"] in ("TRADE", "CALCULATED")
        and (order_id is None or e["o"]["i"] == order_id)
    ]


# --- 1. fees and realized PnL ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """What the exchange reported for: MARKET BUY 0.010, then a resting LIMIT SELL 0.004 above
    the ask that the replay trades through (maker), then a MARKET SELL 0.003 (taker)."""

    rates: dict
    start_wallet: Decimal
    open_id: int
    maker_close_id: int
    maker_close_price: Decimal
    taker_close_id: int
    trades: list[dict]
    incomes: list[dict]
    events: list[dict]
    balance: dict
    account: dict


@pytest.fixture
async def round_trip(exchange_factory) -> RoundTrip:
    ex: LocalExchange = await exchange_factory()
    await ex.step(1000)
    async with connected_client(ex) as client:
        key = await client.futures_stream_get_listen_key()
        async with websockets.connect(f"{ex.ws_url}/private/ws?listenKey={key}") as user_ws:
            rates = await client.futures_commission_rate(symbol=SYMBOL)
            start_wallet = d((await _usdt(client))["balance"])
            opened = await client.futures_create_order(
                symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.010"
            )
            ask = d((await client.futures_orderbook_ticker(symbol=SYMBOL))["askPrice"])
            limit_price = ask + 20
            resting = await client.futures_create_order(
                symbol=SYMBOL,
                side="SELL",
                type="LIMIT",
                timeInForce="GTC",
                quantity="0.004",
                price=str(limit_price),
            )
            for _ in range(10):  # the replay trades above ask + 20 within the first minutes
                await ex.step(30_000)
                order = await client.futures_get_order(symbol=SYMBOL, orderId=resting["orderId"])
                if order["status"] == "FILLED":
                    break
            assert order["status"] == "FILLED", "precondition: the resting close filled"
            closed = await client.futures_create_order(
                symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.003"
            )
            events = await events_until_quiet(user_ws)
            return RoundTrip(
                rates=rates,
                start_wallet=start_wallet,
                open_id=opened["orderId"],
                maker_close_id=resting["orderId"],
                maker_close_price=limit_price,
                taker_close_id=closed["orderId"],
                trades=await client.futures_account_trades(symbol=SYMBOL),
                incomes=await client.futures_income_history(symbol=SYMBOL),
                events=events,
                balance=await _usdt(client),
                account=await client.futures_account(),
            )


def _expected_commission(trade: dict, rates: dict) -> Decimal:
    """Section 11.6: commission = fill qty * fill price * (maker rate if maker else taker)."""
    rate = d(rates["makerCommissionRate"] if trade["maker"] else rates["takerCommissionRate"])
    return d(trade["qty"]) * d(trade["price"]) * rate


def _entry_price(trades: list[dict], open_id: int) -> Decimal:
    """Entry = quantity-weighted average price of the opening fills (section 11.6)."""
    opening = [t for t in trades if t["orderId"] == open_id]
    qty = sum(d(t["qty"]) for t in opening)
    return sum(d(t["qty"]) * d(t["price"]) for t in opening) / qty


def _expected_realized(trade: dict, entry: Decimal) -> Decimal:
    """Section 11.6, closing a long: realized = closed qty * (exit price - entry price)."""
    return d(trade["qty"]) * (d(trade["price"]) - entry)


async def test_resting_limit_close_fills_as_maker_at_its_price_and_market_orders_as_taker(
    round_trip: RoundTrip,
) -> None:
    by_order = {}
    for t in round_trip.trades:
        by_order.setdefault(t["orderId"], []).append(t)

    maker_fills = by_order[round_trip.maker_close_id]

    assert all(t["maker"] for t in maker_fills)
    assert {d(t["price"]) for t in maker_fills} == {round_trip.maker_close_price}
    assert sum(d(t["qty"]) for t in maker_fills) == Decimal("0.004")
    assert not any(t["maker"] for t in by_order[round_trip.open_id])
    assert not any(t["maker"] for t in by_order[round_trip.taker_close_id])
    assert all(f["m"] for f in _fills(round_trip.events, round_trip.maker_close_id))


async def test_commission_of_each_fill_is_qty_times_price_times_its_rate(
    round_trip: RoundTrip,
) -> None:
    expected = {t["id"]: _expected_commission(t, round_trip.rates) for t in round_trip.trades}

    from_trades = {t["id"]: d(t["commission"]) for t in round_trip.trades}
    from_stream = {f["t"]: d(f["n"]) for f in _fills(round_trip.events)}
    from_income = {
        int(i["tradeId"]): -d(i["income"])
        for i in round_trip.incomes
        if i["incomeType"] == "COMMISSION"
    }

    assert len(expected) >= 3  # open (taker), maker close, taker close
    assert from_trades == expected
    assert from_stream == expected
    assert from_income == expected


async def test_reducing_fills_realize_closed_qty_times_exit_minus_entry(
    round_trip: RoundTrip,
) -> None:
    entry = _entry_price(round_trip.trades, round_trip.open_id)
    expected = {
        t["id"]: _expected_realized(t, entry)
        for t in round_trip.trades
        if t["orderId"] != round_trip.open_id
    }

    from_trades = {
        t["id"]: d(t["realizedPnl"])
        for t in round_trip.trades
        if t["orderId"] != round_trip.open_id
    }
    from_stream = {
        f["t"]: d(f["rp"]) for f in _fills(round_trip.events) if f["i"] != round_trip.open_id
    }
    from_income = {
        int(i["tradeId"]): d(i["income"])
        for i in round_trip.incomes
        if i["incomeType"] == "REALIZED_PNL"
    }
    opening_rp = {
        d(t["realizedPnl"]) for t in round_trip.trades if t["orderId"] == round_trip.open_id
    }

    assert from_trades == expected
    assert from_stream == expected
    assert from_income == {k: v for k, v in expected.items() if v != 0}
    assert opening_rp == {Decimal(0)}


async def test_wallet_is_start_minus_commissions_plus_realized_pnl(round_trip: RoundTrip) -> None:
    entry = _entry_price(round_trip.trades, round_trip.open_id)
    commissions = sum(_expected_commission(t, round_trip.rates) for t in round_trip.trades)
    realized = sum(
        _expected_realized(t, entry)
        for t in round_trip.trades
        if t["orderId"] != round_trip.open_id
    )
    expected = round_trip.start_wallet - commissions + realized

    usdt_asset = next(a for a in round_trip.account["assets"] if a["asset"] == "USDT")
    last_wb = [e for e in round_trip.events if e["e"] == "ACCOUNT_UPDATE"][-1]["a"]["B"][0]["wb"]

    assert d(round_trip.balance["balance"]) == expected
    assert d(round_trip.balance["crossWalletBalance"]) == expected
    assert d(round_trip.account["totalWalletBalance"]) == expected
    assert d(usdt_asset["walletBalance"]) == expected
    assert d(last_wb) == expected


# --- 2. funding -------------------------------------------------------------------------------

FUNDING_RATE = Decimal("0.0001")
FUNDING_INTERVAL_MS = 60_000


@dataclass(frozen=True, slots=True)
class FundingRun:
    """A 0.010 BTC long held across one settlement (every minute, fixed rate 0.0001)."""

    position_amt: Decimal
    wallet_before: Decimal
    wallet_after: Decimal
    marks: list[dict]
    incomes: list[dict]
    events: list[dict]


@pytest.fixture
async def funding_run(exchange_factory) -> FundingRun:
    config = EngineConfig(funding_interval_ms=FUNDING_INTERVAL_MS, fixed_funding_rate=FUNDING_RATE)
    ex: LocalExchange = await exchange_factory(engine_config=config)
    async with connected_client(ex) as client:
        key = await client.futures_stream_get_listen_key()
        async with (
            websockets.connect(f"{ex.ws_url}/market/ws/btcusdt@markPrice@1s") as mark_ws,
            websockets.connect(f"{ex.ws_url}/private/ws?listenKey={key}") as user_ws,
        ):
            await ex.step(1000)
            await client.futures_create_order(
                symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.010"
            )
            positions = await client.futures_position_information(symbol=SYMBOL)
            wallet_before = d((await _usdt(client))["balance"])
            await ex.step(FUNDING_INTERVAL_MS + 5_000)  # one settlement instant passes
            marks = await _marks_through(mark_ws, ex.now_ms() - 1000)
            return FundingRun(
                position_amt=d(positions[0]["positionAmt"]),
                wallet_before=wallet_before,
                wallet_after=d((await _usdt(client))["balance"]),
                marks=marks,
                incomes=await client.futures_income_history(
                    symbol=SYMBOL, incomeType="FUNDING_FEE"
                ),
                events=await events_until_quiet(user_ws),
            )


def _expected_funding(run: FundingRun, settle_ms: int) -> Decimal:
    """Section 11.7: funding = -positionAmt * mark * rate (longs pay a positive rate), with the
    mark in force at the settlement instant: the last `@markPrice@1s` published BEFORE it (a
    mark stamped at the instant itself arrives after the settlement, EngineConfig docstring).
    Rounded to the 8 decimals of a balance."""
    mark = d([m["p"] for m in run.marks if m["E"] < settle_ms][-1])
    return q8(-run.position_amt * mark * FUNDING_RATE)


async def test_funding_fee_income_is_minus_position_times_mark_times_rate(
    funding_run: FundingRun,
) -> None:
    [income] = funding_run.incomes
    settle_ms = income["time"]

    expected = _expected_funding(funding_run, settle_ms)

    assert settle_ms % FUNDING_INTERVAL_MS == 0  # paid at the settlement instant
    assert d(income["income"]) == expected
    assert expected < 0  # a long pays a positive rate


async def test_funding_account_update_shows_the_wallet_moved_by_the_funding_fee(
    funding_run: FundingRun,
) -> None:
    [update] = [
        e for e in funding_run.events if e["e"] == "ACCOUNT_UPDATE" and e["a"]["m"] == "FUNDING_FEE"
    ]
    expected = _expected_funding(funding_run, update["E"])

    wallet = d(update["a"]["B"][0]["wb"])

    assert update["E"] % FUNDING_INTERVAL_MS == 0
    assert update["a"]["B"][0]["a"] == "USDT"
    assert wallet == funding_run.wallet_before + expected
    assert funding_run.wallet_after == funding_run.wallet_before + expected
    assert d(update["a"]["B"][0]["bc"]) == expected  # Binance's `bc`: the funding amount


# --- 3. liquidation -----------------------------------------------------------------------

LIQ_BALANCE = Decimal("80")  # USDT of the account: a 125x long of 0.100 BTC uses almost all
LIQ_LEVERAGE = 125
LIQ_QTY = Decimal("0.100")
STEP_MS = 10 * 60_000  # stepping 10 min at a time; the listenKey is kept alive between steps
MAX_STEPS = 18  # 3 h of replay: the 2025-05-06 00:00-02:00 dip reaches the price in ~1 h 45


@dataclass(frozen=True, slots=True)
class LeveragedLong:
    """A 0.100 BTC long at 125x on an 80 USDT cross account, just opened on `klines-week`."""

    ex: LocalExchange
    client: Any
    wallet: Decimal
    position: dict
    bracket: dict
    liquidation_fee: Decimal


@pytest.fixture
async def leveraged_long(exchange_factory) -> AsyncIterator[LeveragedLong]:
    # Funding off: settlement instants follow the wall clock the test starts at, and a funding
    # payment would move the wallet and with it the liquidation price during the run.
    config = EngineConfig(fixed_funding_rate=Decimal(0))
    ex: LocalExchange = await exchange_factory(
        data="klines-week", balance=LIQ_BALANCE, engine_config=config
    )
    await ex.step(60_000)  # the first synthesized trades and marks of 2025-05-06
    async with connected_client(ex) as client:
        await client.futures_change_leverage(symbol=SYMBOL, leverage=LIQ_LEVERAGE)
        await client.futures_create_order(
            symbol=SYMBOL, side="BUY", type="MARKET", quantity=str(LIQ_QTY)
        )
        [position] = await client.futures_position_information(symbol=SYMBOL)
        brackets = await client.futures_leverage_bracket(symbol=SYMBOL)
        entry = brackets[0] if isinstance(brackets, list) else brackets
        notional = abs(d(position["positionAmt"])) * d(position["markPrice"])
        bracket = next(
            b for b in entry["brackets"] if d(b["notionalFloor"]) <= notional < d(b["notionalCap"])
        )
        info = await client.futures_exchange_info()
        symbol_info = next(s for s in info["symbols"] if s["symbol"] == SYMBOL)
        yield LeveragedLong(
            ex=ex,
            client=client,
            wallet=d((await _usdt(client))["balance"]),
            position=position,
            bracket=bracket,
            liquidation_fee=d(symbol_info["liquidationFee"]),
        )


def _section_11_4_long(long: LeveragedLong) -> Decimal:
    """Section 11.4, sole cross one-way long: LP = (Q*EP - WB - cum) / (Q*(1 - MMR)),
    with WB the wallet after the opening commission, Q = |positionAmt|, EP = entry price,
    MMR / cum of the bracket holding the position's notional."""
    qty = abs(d(long.position["positionAmt"]))
    entry = d(long.position["entryPrice"])
    mmr = d(long.bracket["maintMarginRatio"])
    cum = d(long.bracket["cum"])
    return (qty * entry - long.wallet - cum) / (qty * (1 - mmr))


async def test_liquidation_price_is_the_section_11_4_formula(
    leveraged_long: LeveragedLong,
) -> None:
    expected = _section_11_4_long(leveraged_long)

    printed = d(leveraged_long.position["liquidationPrice"])

    assert d(leveraged_long.position["positionAmt"]) == LIQ_QTY
    assert printed == cut8(expected)
    assert 0 < printed < d(leveraged_long.position["entryPrice"])


@dataclass(frozen=True, slots=True)
class LiquidationRun:
    """The replay stepped until the long is gone: marks seen, user events, account after."""

    long: LeveragedLong
    marks: list[dict]
    events: list[dict]
    positions_after: list[dict]
    wallet_after: Decimal
    incomes: list[dict]


@pytest.fixture
async def liquidation_run(leveraged_long: LeveragedLong) -> LiquidationRun:
    ex, client = leveraged_long.ex, leveraged_long.client
    key = await client.futures_stream_get_listen_key()
    async with (
        websockets.connect(f"{ex.ws_url}/market/ws/btcusdt@markPrice@1s") as mark_ws,
        websockets.connect(f"{ex.ws_url}/private/ws?listenKey={key}") as user_ws,
    ):
        marks: list[dict] = []
        for _ in range(MAX_STEPS):
            await ex.step(STEP_MS)
            await client.futures_stream_keepalive(listenKey=key)
            marks += await _marks_through(mark_ws, ex.now_ms() - 1000)
            positions = await client.futures_position_information(symbol=SYMBOL)
            if all(d(p["positionAmt"]) == 0 for p in positions):
                break
        return LiquidationRun(
            long=leveraged_long,
            marks=marks,
            events=await events_until_quiet(user_ws),
            positions_after=positions,
            wallet_after=d((await _usdt(client))["balance"]),
            incomes=await client.futures_income_history(symbol=SYMBOL),
        )


def _autoclose_updates(run: LiquidationRun) -> list[dict]:
    return [
        e["o"]
        for e in run.events
        if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["c"].startswith("autoclose-")
    ]


def _liquidation_fill(run: LiquidationRun) -> dict:
    [fill] = [o for o in _autoclose_updates(run) if o["x"] == "CALCULATED"]
    return fill


async def test_long_is_liquidated_by_the_first_mark_at_or_below_the_liquidation_price(
    liquidation_run: LiquidationRun,
) -> None:
    price = _section_11_4_long(liquidation_run.long)
    fill = _liquidation_fill(liquidation_run)

    before = [d(m["p"]) for m in liquidation_run.marks if m["E"] < fill["T"]]
    [trigger] = [d(m["p"]) for m in liquidation_run.marks if m["E"] == fill["T"]]

    assert len(before) > 3600  # more than an hour of real prices above the liquidation price
    assert min(before) > price
    assert trigger <= price
    assert not [p for p in liquidation_run.positions_after if d(p["positionAmt"]) != 0]


async def test_liquidation_order_is_an_autoclose_sell_filled_calculated_at_the_mark(
    liquidation_run: LiquidationRun,
) -> None:
    fill = _liquidation_fill(liquidation_run)
    tick = Decimal("0.10")
    [mark] = [d(m["p"]) for m in liquidation_run.marks if m["E"] == fill["T"]]

    updates = _autoclose_updates(liquidation_run)

    assert [o["x"] for o in updates] == ["NEW", "CALCULATED"]
    assert fill["S"] == "SELL"
    assert fill["X"] == "FILLED"
    assert d(fill["z"]) == LIQ_QTY
    # engine rule (market.py `_liquidate`): the mark rounded to the tick against the account
    assert d(fill["L"]) == (mark / tick).to_integral_value(rounding=ROUND_FLOOR) * tick


async def test_liquidation_books_loss_and_clearance_fee_capped_at_what_is_left(
    liquidation_run: LiquidationRun,
) -> None:
    long = liquidation_run.long
    fill = _liquidation_fill(liquidation_run)
    exit_price = d(fill["L"])
    # Section 11.6: realized = Q * (exit - entry). Engine rule (market.py `_liquidate`): the
    # clearance fee is liquidationFee * notional, capped at what is left of the wallet; a wallet
    # still negative after that is reset to 0 (INSURANCE_CLEAR).
    realized = LIQ_QTY * (exit_price - d(long.position["entryPrice"]))
    fee = min(
        q8(LIQ_QTY * exit_price * long.liquidation_fee), max(Decimal(0), long.wallet + realized)
    )
    expected_wallet = max(Decimal(0), long.wallet + realized - fee)
    liq_incomes = {
        i["incomeType"]: d(i["income"])
        for i in liquidation_run.incomes
        if i["tradeId"] == str(fill["t"])
    }
    last_update = [e for e in liquidation_run.events if e["e"] == "ACCOUNT_UPDATE"][-1]

    assert d(fill["rp"]) == realized
    assert d(fill["n"]) == fee
    assert liq_incomes == {"REALIZED_PNL": realized, "COMMISSION": -fee}
    assert liquidation_run.wallet_after == expected_wallet
    assert d(last_update["a"]["B"][0]["wb"]) == expected_wallet
    assert [d(p["pa"]) for p in last_update["a"]["P"]] == [Decimal(0)]
