"""Engine configuration: fees, fill model, funding schedule, leverage brackets (all documented).

Units: fees and rates are fractions (0.0002 = 0.02 %), times are ms, notionals are USDT.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

EIGHT_HOURS_MS = 8 * 60 * 60 * 1000


class FillMode(StrEnum):
    """When a recorded trade fills a resting limit order (see EngineConfig.fill_mode)."""

    THROUGH = "through"  # only a trade strictly beyond our price (the queue ahead absorbs ours)
    TOUCH = "touch"  # a trade at our price too (freqtrade's and nautilus_trader's default)


@dataclass(frozen=True, slots=True)
class Bracket:
    """One leverage tier (GET /fapi/v1/leverageBracket): MM = notional * mmr - cum."""

    bracket: int
    initial_leverage: int
    notional_cap: Decimal
    notional_floor: Decimal
    maint_margin_ratio: Decimal
    cum: Decimal


def _b(n: int, lev: int, cap: str, floor: str, mmr: str, cum: str) -> Bracket:
    return Bracket(n, lev, Decimal(cap), Decimal(floor), Decimal(mmr), Decimal(cum))


# The illustrative BTCUSDT tiers of the protocol reference (section 7.6).
DEFAULT_BRACKETS: tuple[Bracket, ...] = (
    _b(1, 125, "50000", "0", "0.004", "0"),
    _b(2, 100, "600000", "50000", "0.005", "50"),
    _b(3, 75, "3000000", "600000", "0.0065", "950"),
    _b(4, 50, "12000000", "3000000", "0.01", "11450"),
    _b(5, 25, "70000000", "12000000", "0.02", "131450"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """Knobs of the matching engine. Defaults follow the protocol reference.

    - maker_fee / taker_fee: VIP 0 USD-M rates (section 11.6).
    - fill_mode: "through" = a resting limit fills only when a recorded trade prints strictly
      beyond its price (conservative: the queue ahead of us is assumed to absorb trades at our
      price); "touch" = a trade at our price fills it too. The aggressor side of the recorded
      trade is not considered; the fill is at our limit price, as maker, for at most the
      trade's quantity (shared by our orders in price-time priority).
    - legacy_conditional_orders: True = STOP/TAKE_PROFIT(_MARKET) accepted on POST /fapi/v1/order
      as before 2025-12-09 (same orderId after trigger); False = -4120 there (algo API only).
    - default_leverage: leverage of a symbol the account never changed.
    - funding_interval_ms: funding settles at multiples of this since the epoch (8 h = 00/08/16
      UTC) using the mark price and rate in force just before the settlement instant.
    - fixed_funding_rate: when set, used instead of the rate recorded in on_mark_price.
    - brackets: per-symbol leverage tiers; symbols not listed use `default_brackets`.
    - stp_mode: the selfTradePreventionMode reported when the client sends none. Our own orders
      never match each other (they only trade against the recorded market), so STP never fires.
    - book_ticker_levels: with only bookTicker data, a taker walks a synthetic book made of the
      touch repeated at this many consecutive ticks, each with the touch quantity; what is left
      after that is unfillable (MARKET remainder EXPIRED, LIMIT remainder rests / expires).
    - emit_trade_lite: also emit TRADE_LITE before each fill's ORDER_TRADE_UPDATE.
    - max_algo_orders: open conditional orders per account across all symbols (-4045 beyond).
    - margin_call_ratio: when set (e.g. Decimal("0.8")), a MARGIN_CALL event is sent once the
      margin ratio (maintenance margin / margin balance) reaches it; None = never (default).
    - margin_check: False disables the -2019 / -2027 checks (e.g. to study a strategy's signal
      without sizing limits).
    - cancel_all_takes_algos: True = `DELETE /fapi/v1/allOpenOrders` also cancels the symbol's
      open conditional (algo) orders. Whether Binance's does since the algo migration is not
      known (the reference's problem 11: UNSURE); False (default) = normal orders only, as the
      reference leans. A client must be right under both: tests run it both ways.
    """

    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0005")
    fill_mode: FillMode = FillMode.THROUGH
    legacy_conditional_orders: bool = False
    default_leverage: int = 20
    funding_interval_ms: int = EIGHT_HOURS_MS
    fixed_funding_rate: Decimal | None = None
    brackets: Mapping[str, tuple[Bracket, ...]] = field(default_factory=dict)
    default_brackets: tuple[Bracket, ...] = DEFAULT_BRACKETS
    stp_mode: str = "EXPIRE_MAKER"
    book_ticker_levels: int = 10
    emit_trade_lite: bool = False
    max_algo_orders: int = 200
    margin_check: bool = True
    margin_call_ratio: Decimal | None = None
    cancel_all_takes_algos: bool = False

    def __post_init__(self) -> None:
        if self.fill_mode not in tuple(FillMode):
            raise ValueError(f"fill_mode must be 'through' or 'touch', not {self.fill_mode!r}")
        object.__setattr__(self, "fill_mode", FillMode(self.fill_mode))  # "touch" is taken too
        if self.funding_interval_ms <= 0:
            raise ValueError("funding_interval_ms must be positive")
        if self.book_ticker_levels < 1:
            raise ValueError("book_ticker_levels must be >= 1")

    def brackets_for(self, symbol: str) -> tuple[Bracket, ...]:
        return self.brackets.get(symbol, self.default_brackets)
