"""Cross-margin arithmetic of section 11 of the protocol reference (one-way positions, USDT).

All functions are pure: Decimal in, Decimal out.
"""

from collections.abc import Iterable
from decimal import Decimal

from exchange_sim.engine.config import Bracket
from exchange_sim.engine.fmt import ZERO


def bracket_for(brackets: tuple[Bracket, ...], notional: Decimal) -> Bracket:
    """The tier whose [floor, cap) holds `notional` (the last tier beyond every cap)."""
    for b in brackets:
        if notional < b.notional_cap:
            return b
    return brackets[-1]


def maintenance_margin(brackets: tuple[Bracket, ...], notional: Decimal) -> Decimal:
    """MM = notional * MMR - cum of the notional's tier (0 for a flat position)."""
    if notional == 0:
        return ZERO
    b = bracket_for(brackets, notional)
    return notional * b.maint_margin_ratio - b.cum


def max_notional(brackets: tuple[Bracket, ...], leverage: int) -> Decimal:
    """Cap of the highest tier still allowing `leverage` (maxNotionalValue)."""
    caps = [b.notional_cap for b in brackets if b.initial_leverage >= leverage]
    return max(caps) if caps else ZERO


def max_leverage(brackets: tuple[Bracket, ...]) -> int:
    return max(b.initial_leverage for b in brackets)


def liquidation_price(
    *,
    wallet: Decimal,
    other_mm: Decimal,
    other_upnl: Decimal,
    amt: Decimal,
    entry: Decimal,
    mmr: Decimal,
    cum: Decimal,
) -> Decimal:
    """Section 11.4 formula for a one-way (BOTH) cross position; 0 when it cannot be liquidated.

    LP = (WB - TMM1 + UPNL1 + cumB - side*Q*EP) / (Q*MMR_B - side*Q), Q = |amt|, side = +-1.
    """
    if amt == 0:
        return ZERO
    side = 1 if amt > 0 else -1
    size = abs(amt)
    denominator = size * mmr - side * size
    if denominator == 0:
        return ZERO
    price = (wallet - other_mm + other_upnl + cum - side * size * entry) / denominator
    return price if price > 0 else ZERO


def bracket_liquidation_price(
    brackets: tuple[Bracket, ...],
    *,
    wallet: Decimal,
    other_mm: Decimal,
    other_upnl: Decimal,
    amt: Decimal,
    entry: Decimal,
) -> Decimal:
    """`liquidation_price` with the tier of the notional at the liquidation price itself, not
    at the current mark (section 11.4: "the bracket depends on notional at the liquidation
    price"): the mark at which the engine's check (margin balance <= notional x MMR - cum of
    that notional's tier) first holds. A long whose notional is in tier 2 at the mark but in
    tier 1 at its liquidation price is liquidated at tier 1's price; tier 2's is lower.

    The tier is the one whose own price falls inside it (one does: the check is monotonic in
    the price). Should rounding leave none at an exact tier boundary, the nearest to the mark
    of the tiers' prices is taken (a long's highest, a short's lowest): with Binance's `cum`
    (which makes the maintenance margin continuous) every tier's line lies under the true
    maintenance margin, so each tier's price is at or beyond the true one. Independent of
    the mark, so a caller may cache it on (wallet, position) alone."""
    size = abs(amt)
    prices = []
    for tier in brackets:
        lp = liquidation_price(
            wallet=wallet,
            other_mm=other_mm,
            other_upnl=other_upnl,
            amt=amt,
            entry=entry,
            mmr=tier.maint_margin_ratio,
            cum=tier.cum,
        )
        if lp > 0 and bracket_for(brackets, size * lp) is tier:
            return lp
        prices.append(lp)
    positive = [p for p in prices if p > 0]
    if not positive:
        return ZERO
    return max(positive) if amt > 0 else min(positive)


def open_order_margin(
    position_amt: Decimal,
    buys: Iterable[tuple[Decimal, Decimal]],
    sells: Iterable[tuple[Decimal, Decimal]],
    leverage: int,
) -> Decimal:
    """Initial margin reserved by open (non reduce-only) orders of one symbol, in USDT.

    Only the part of each side that would increase exposure reserves margin (a buy against a
    short first closes it), valued at the side's average order price; the larger side counts
    (one-way: both sides cannot fill into a bigger position at once). Open loss is ignored.
    (qty, price) pairs in contracts and USDT.
    """
    buy_im = _side_margin(list(buys), max(ZERO, -position_amt))
    sell_im = _side_margin(list(sells), max(ZERO, position_amt))
    return max(buy_im, sell_im) / leverage


def _side_margin(orders: list[tuple[Decimal, Decimal]], closable: Decimal) -> Decimal:
    qty = sum((q for q, _ in orders), ZERO)
    if qty <= closable or qty == 0:
        return ZERO
    notional = sum((q * p for q, p in orders), ZERO)
    return notional * (qty - closable) / qty
