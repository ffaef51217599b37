"""What the start-up refuses of the account before trading it, each in one DaemonError line:
symbols the exchange does not list, Hedge Mode, Multi-Assets Mode, a symbol dropped from
`symbols` whose position or orders the exchange still holds, and a position of a traded
symbol that the journal does not explain and that is above the position limit."""

import logging
from collections.abc import Collection, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

from core.enums import Side
from core.errors import RejectedError
from core.events import Event, OrderFilled, OrderPartiallyFilled, VenueSnapshot
from core.instrument import Instrument
from core.orders import Order, outside_order
from gateway.user_wire import (
    MalformedMessage,
    parse_position_risk,
    parse_rest_algo_order,
    parse_rest_order,
)
from gateway.wire import parse_premium_index_mark
from rest_connect.connection import RestConnection
from trading_engine.daemon_error import DaemonError, needs_the_user

log = logging.getLogger("daemon")


async def read_instruments(rest: RestConnection, symbols: Collection[str]) -> dict[str, Instrument]:
    """exchangeInfo -> the instruments of `symbols`; one the exchange does not list is refused."""
    info = await rest.call("futures_exchange_info")
    known = {e.get("symbol"): e for e in info.get("symbols", [])}
    missing = [sym for sym in symbols if sym not in known]
    if missing:
        raise needs_the_user(
            f"symbols: {', '.join(missing)} not traded on this exchange "
            f"(it lists {', '.join(sorted(str(k) for k in known)[:20])})"
        )
    return {sym: Instrument.from_exchange_info(known[sym]) for sym in symbols}


HEDGE_MODE = (
    "the account is in Hedge Mode (Binance's Position Mode: Hedge), and this daemon keeps one "
    "position per symbol: switch the Position Mode to One-way in the futures settings (with "
    "no open position or order), then start again"
)


async def check_one_way_mode(rest: RestConnection) -> None:
    """The books keep one position per symbol (one-way mode). In Hedge Mode Binance keeps a
    LONG and a SHORT one and refuses every order without a positionSide (-4061): refused at
    start, in one line, rather than switched (the setting is the account's, for every
    symbol). An answer that says nothing either way lets the start go on."""
    answer = await rest.call("futures_get_position_mode", weight=30)
    hedge = answer.get("dualSidePosition") if isinstance(answer, dict) else None
    if str(hedge).lower() == "true":  # True, or "true" from a lenient proxy
        raise needs_the_user(HEDGE_MODE)


MULTI_ASSETS_MODE = (
    "the account is in Multi-Assets Mode (Binance's Asset Mode: Multi-Assets), and this daemon "
    "keeps its books in USDT alone: switch the Asset Mode to Single-Asset in the futures "
    "settings (with no open position or order), then start again"
)


async def check_single_asset_mode(rest: RestConnection) -> None:
    """The books keep one margin wallet, USDT (Single-Asset Mode). In Multi-Assets Mode the
    margin is the USD value of every asset held (USDC, BNB, BTC, BNFCR credits...), the
    account's totals are USD sums and a loss may be settled in another asset than USDT: the
    books' wallet and equity, and with them the drawdown and daily-loss limits, would be
    wrong. Refused at start, in one line, rather than switched (the setting is the
    account's). Read from `GET /fapi/v1/accountConfig` (reference 7.5, weight 5), which says
    it beside the position mode. An answer that says nothing either way lets the start go
    on, and so does an exchange that refuses the query (logged)."""
    try:
        answer = await rest.call("futures_account_config", weight=5)
    except RejectedError as exc:
        log.warning("account configuration unreadable (%s): Multi-Assets Mode not checked", exc)
        return
    multi = answer.get("multiAssetsMargin") if isinstance(answer, dict) else None
    if str(multi).lower() == "true":  # True, or "true" from a lenient proxy
        raise needs_the_user(MULTI_ASSETS_MODE)


async def check_untraded_symbols(
    rest: RestConnection, symbols: Collection[str], journal_open: Collection[Order] = ()
) -> list[str]:
    """`symbols`: those the journal traded that `symbols` no longer names. A position or open
    order of one of them on the exchange would be left to itself: no stop-loss moved or put
    back, no fill booked, the position out of the equity the limits watch, and out of the
    heartbeat and the closing summary, so forgotten. Refused at start, in one line that says
    what is there and what to do; a symbol flat with no order (closed before it was removed)
    is fine. An exchange that does not list the symbol any more holds nothing of it.

    Returns a warning per such symbol whose orders the journal (`journal_open`: its open
    orders) still holds open: they ended while no daemon ran, and how is not booked (its
    stop-loss filled? the fill's PnL would be taken as money moved in or out)."""
    held: list[tuple[str, str]] = []
    warnings: list[str] = []
    for symbol in sorted(symbols):
        try:
            rows = await rest.call("futures_position_information", weight=5, symbol=symbol)
            orders = await rest.call("futures_get_open_orders", symbol=symbol)
            algos = await rest.call("futures_get_open_algo_orders", symbol=symbol)
        except RejectedError as exc:
            log.info("%s, traded before, is not listed by the exchange (%s)", symbol, exc)
            continue
        qty = sum((parse_position_risk(r).qty for r in rows), Decimal(0))
        what = [
            f"{o.type.value} {o.side.value} {o.quantity:f}" + (f" @ {o.price:f}" if o.price else "")
            for o in (parse_rest_order(r, 0) for r in orders)
        ] + [
            f"{a.order_type.value} {a.side.value} at {a.trigger_price:f}"
            for a in (parse_rest_algo_order(r, 0) for r in algos)
        ]
        if not qty and not what:
            if ended := [o for o in journal_open if o.symbol == symbol]:
                warnings.append(
                    f"{symbol} is no longer in symbols, and its order(s) "
                    + ", ".join(
                        f"{o.client_order_id} ({o.side.value} {o.type.value})" for o in ended
                    )
                    + ", open when a daemon last traded it, are no longer open on the exchange: "
                    "if one filled (a stop-loss while the daemon was down), that fill is not "
                    "booked and the wallet's change is taken as money moved in or out; add "
                    f"{symbol} back to symbols for one start to book how they ended"
                )
            continue
        found = [f"position {qty:f}"] if qty else []
        if what:
            found.append(f"{len(what)} open order(s): {', '.join(what)}")
        held.append((symbol, f"{symbol} {'; '.join(found)}"))
    if held:
        names = ", ".join(symbol for symbol, _ in held)
        raise needs_the_user(
            f"symbols: {names} {'is' if len(held) == 1 else 'are'} no longer in symbols, but "
            f"this daemon traded there and the exchange holds: {', '.join(h for _, h in held)}."
            " Not traded, it would be forgotten (no stop-loss managed, no fill booked, out of "
            f"the equity, the limits and the summary): add {names} back to symbols, or close "
            "the position and cancel the orders on the exchange, then start again"
        )
    return warnings


async def set_leverage(rest: RestConnection, symbols: Collection[str], leverage: int) -> None:
    """`risk.leverage` on each symbol; one the exchange refuses is refused in one line."""
    for symbol in symbols:
        try:
            await rest.call(
                "futures_change_leverage",
                symbol=symbol,
                leverage=leverage,
                mutating=True,
            )
        except RejectedError as exc:
            msg = f"cannot set leverage {leverage} on {symbol}: {exc}"
            raise needs_the_user(msg) from None


def explained_positions(
    books: Mapping[str, Decimal], recovered: Iterable[Event]
) -> dict[str, Decimal]:
    """The position per symbol (signed contracts) the journal explains at a start: the
    books' as restored from it (`books`), moved by the fills the start recovered
    (`recovered`: the events its reconciliation emitted before the snapshot) of the orders
    this daemon sent, and of the exchange's own (a liquidation), made while it was down.
    Those of an order nobody here sent (by hand, another program, an earlier journal:
    booked under `outside:<its client id>`) are left out: a position they made is what the
    check is for. A symbol not in `books` is not counted."""
    ours = dict(books)
    for event in recovered:
        if not isinstance(event, OrderFilled | OrderPartiallyFilled):
            continue
        fill = event.fill
        if fill.symbol in ours and not outside_order(fill.client_order_id):
            ours[fill.symbol] += fill.qty if fill.side is Side.BUY else -fill.qty
    return ours


def explained_by_journal(ours: Decimal, theirs: Decimal) -> bool:
    """Whether the exchange's position (`theirs`, signed contracts) is one the journal's books
    (`ours`, after the fills the start recovered) held: the same, or part of it on the same
    side (reduced by hand while no daemon ran). Flat is always explained."""
    return theirs == 0 or (ours * theirs > 0 and abs(theirs) <= abs(ours))


def unknown_positions_refusal(
    held: Iterable[tuple[str, Decimal, Decimal, Decimal]], limit: Decimal
) -> str | None:
    """The start's refusal of the positions, each (symbol, the journal's qty, the exchange's
    qty, mark price in USDT), that the journal does not explain and whose notional at the
    mark is above `limit` (risk.max_position_notional_usdt, USDT); None when there is none.
    Adopted, such a position (the wrong account, a hedge held by hand) is the daemon's to
    trade: the strategy's first target closes it at market, and no order-size limit refuses
    a closing order. One within the limit is adopted, as any difference is."""
    found = [
        f"{symbol} {theirs:f} ({_usdt(abs(theirs) * mark)} USDT at the mark {mark:f}; "
        f"the journal holds {ours:f})"
        for symbol, ours, theirs, mark in held
        if not explained_by_journal(ours, theirs) and abs(theirs) * mark > limit
    ]
    if not found:
        return None
    one = len(found) == 1
    return (
        f"the exchange holds {'a position' if one else 'positions'} this daemon's journal does "
        f"not explain, above risk.max_position_notional_usdt = {limit:f}: {', '.join(found)}. "
        f"Started, the daemon would trade {'it' if one else 'them'} as its own (to its "
        f"strategy's target, at market): close or reduce {'it' if one else 'them'} on the "
        "exchange, or raise risk.max_position_notional_usdt, then start again"
    )


def _usdt(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


async def check_unknown_positions(
    rest: RestConnection,
    snapshot: VenueSnapshot,
    books: Mapping[str, Decimal],
    limit: Decimal,
    recovered: Iterable[Event] = (),
) -> None:
    """The start-up reconciliation's snapshot, before the books adopt it: a traded symbol's
    position the journal does not explain (`explained_positions`: the books' qty per symbol,
    as restored from the journal, with the fills of its own orders the start `recovered`,
    not those of orders placed outside it) is valued at the mark (`premiumIndex`, read for
    it alone) and refused above `limit` (`unknown_positions_refusal`). A mark that cannot be
    read fails the start: a position of unknown size is not adopted."""
    ours = explained_positions(books, recovered)
    held: list[tuple[str, Decimal, Decimal, Decimal]] = []
    for p in snapshot.positions:
        mine = ours.get(p.symbol)
        if mine is None or explained_by_journal(mine, p.qty):
            continue
        try:
            mark = parse_premium_index_mark(await rest.call("futures_mark_price", symbol=p.symbol))
        except (RejectedError, MalformedMessage) as exc:
            raise DaemonError(
                f"{p.symbol}: the exchange holds a position of {p.qty:f} the journal does not "
                f"explain, and its mark price cannot be read to value it: {exc}"
            ) from None
        held.append((p.symbol, mine, p.qty, mark))
    if (line := unknown_positions_refusal(held, limit)) is not None:
        raise needs_the_user(line)
