"""Exact integer representation of a symbol's prices and quantities, and their wire strings.

Replayed market data is held as integers: prices in ticks (multiples of `tickSize`) and
quantities in steps (multiples of LOT_SIZE `stepSize`), so sums and comparisons are exact and
numpy-fast. Binance prints market-data prices with the symbol's `pricePrecision` decimals, which
can be finer than the tick (BTCUSDT: tick 0.10, trades print "61800.30"), and quantities with
`quantityPrecision` decimals; quote amounts (price x qty) get both: BTCUSDT klines print quote
volume with 2 + 3 = 5 decimals ("5649338.11760"). `WireGrid` reproduces these strings exactly.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from core.instrument import Instrument

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
INSTRUMENTS_FILE = DATA_DIR / "instruments.json"


def to_units(text: str, decimals: int) -> int:
    """Parse a decimal string into an integer count of 10**-decimals; raise if it is finer.

    Accepts exponent notation ("6.818e-05") because freqtrade-derived files contain it.
    """
    if "e" in text or "E" in text:
        scaled = Decimal(text).scaleb(decimals)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{text!r} has more than {decimals} decimals")
        return int(scaled)
    whole, _, frac = text.strip().partition(".")
    if len(frac) > decimals:
        if frac[decimals:].strip("0"):
            raise ValueError(f"{text!r} has more than {decimals} decimals")
        frac = frac[:decimals]
    if whole in ("", "-", "+"):
        whole += "0"
    return int(whole + frac.ljust(decimals, "0"))


def format_units(units: int, decimals: int) -> str:
    """Fixed-point string of `units` x 10**-decimals (never exponent notation)."""
    if decimals == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


def units_decimal(units: int, decimals: int) -> Decimal:
    """Exact Decimal of `units` x 10**-decimals, keeping trailing zeros ("61800.30")."""
    return Decimal(units).scaleb(-decimals)


@dataclass(frozen=True, slots=True)
class WireGrid:
    """Integer ticks/steps of one symbol <-> Binance market-data strings and Decimals.

    price_decimals / qty_decimals: decimals printed on the wire (pricePrecision,
    quantityPrecision, never fewer than the tick/step need). tick_units / step_units: the tick
    and step in those printed units (BTCUSDT: tick 0.10 = 10 units of 0.01).
    """

    instrument: Instrument
    price_decimals: int
    qty_decimals: int
    tick_units: int
    step_units: int

    @classmethod
    def for_instrument(cls, instrument: Instrument) -> "WireGrid":
        pd = max(instrument.price_precision, instrument.price_decimals)
        qd = max(instrument.quantity_precision, instrument.qty_decimals)
        return cls(
            instrument=instrument,
            price_decimals=pd,
            qty_decimals=qd,
            tick_units=to_units(str(instrument.tick_size), pd),
            step_units=to_units(str(instrument.lot.step_size), qd),
        )

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def quote_decimals(self) -> int:
        """Decimals of a price x qty product (kline quote volume, REST quoteQty)."""
        return self.price_decimals + self.qty_decimals

    # --- parsing (exact; raises ValueError when off the grid) -----------------------------

    def parse_price(self, text: str) -> int:
        """Price string -> ticks."""
        units = to_units(text, self.price_decimals)
        ticks, rest = divmod(units, self.tick_units)
        if rest:
            raise ValueError(f"{self.symbol}: price {text} is not on the tick grid")
        return ticks

    def parse_qty(self, text: str) -> int:
        """Quantity string -> steps."""
        units = to_units(text, self.qty_decimals)
        steps, rest = divmod(units, self.step_units)
        if rest:
            raise ValueError(f"{self.symbol}: quantity {text} is not on the step grid")
        return steps

    def parse_quote(self, text: str) -> int:
        """Quote amount string -> units of 10**-quote_decimals."""
        return to_units(text, self.quote_decimals)

    def parse_prices(self, texts: Iterable[str]) -> np.ndarray:
        return np.fromiter((self.parse_price(t) for t in texts), dtype=np.int64)

    def parse_qtys(self, texts: Iterable[str]) -> np.ndarray:
        return np.fromiter((self.parse_qty(t) for t in texts), dtype=np.int64)

    # --- rendering ------------------------------------------------------------------------

    def price_str(self, ticks: int) -> str:
        return format_units(int(ticks) * self.tick_units, self.price_decimals)

    def qty_str(self, steps: int) -> str:
        return format_units(int(steps) * self.step_units, self.qty_decimals)

    def quote_units(self, ticks: int, steps: int) -> int:
        """price x qty in units of 10**-quote_decimals (exact integer)."""
        return int(ticks) * self.tick_units * int(steps) * self.step_units

    def quote_str(self, units: int) -> str:
        return format_units(int(units), self.quote_decimals)

    def price(self, ticks: int) -> Decimal:
        return units_decimal(int(ticks) * self.tick_units, self.price_decimals)

    def qty(self, steps: int) -> Decimal:
        return units_decimal(int(steps) * self.step_units, self.qty_decimals)

    def quote(self, units: int) -> Decimal:
        return units_decimal(int(units), self.quote_decimals)

    def ticks_of(self, price: Decimal) -> int:
        """Decimal price -> ticks (raises if off the grid)."""
        return self.parse_price(format(price, "f"))

    def steps_of(self, qty: Decimal) -> int:
        return self.parse_qty(format(qty, "f"))


def load_exchange_info(path: Path | None = None) -> dict[str, Any]:
    """The bundled (or given) exchangeInfo-shaped JSON document."""
    with open(path or INSTRUMENTS_FILE, encoding="utf-8") as fh:
        return json.load(fh)


def load_instruments(path: Path | None = None) -> dict[str, Instrument]:
    """symbol -> Instrument for every `symbols[]` entry of an exchangeInfo-shaped file."""
    info = load_exchange_info(path)
    return {s["symbol"]: Instrument.from_exchange_info(s) for s in info["symbols"]}


def load_grids(path: Path | None = None) -> dict[str, WireGrid]:
    """symbol -> WireGrid for every instrument of the bundled (or given) file."""
    return {sym: WireGrid.for_instrument(ins) for sym, ins in load_instruments(path).items()}


def grids_for(instruments: Mapping[str, Instrument]) -> dict[str, WireGrid]:
    return {sym: WireGrid.for_instrument(ins) for sym, ins in instruments.items()}
