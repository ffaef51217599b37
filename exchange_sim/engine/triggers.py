"""`TriggerBook`: armed conditional (algo) orders, by symbol and by the price they watch.

It owns the algo ids and the per-symbol trigger lists and decides which conditionals a price
fires; what firing does (placing the real order) belongs to the engine. CONTRACT_PRICE triggers
also shape the symbol book's hot-path thresholds (`SymbolBook.refresh` reads them).
"""

from collections.abc import Iterable
from decimal import Decimal

from exchange_sim.engine.state import Algo


class SymbolTriggers:
    """The armed conditionals of one symbol: on the last trade price or on the mark price."""

    __slots__ = ("contract", "mark")

    def __init__(self) -> None:
        self.contract: list[Algo] = []
        self.mark: list[Algo] = []


class TriggerBook:
    """Every algo order (by id) and the armed ones per symbol."""

    __slots__ = ("algos", "by_symbol", "next_algo_id")

    def __init__(self, symbols: Iterable[str]) -> None:
        self.algos: dict[int, Algo] = {}
        self.by_symbol: dict[str, SymbolTriggers] = {name: SymbolTriggers() for name in symbols}
        self.next_algo_id = 1_000_000_000_001

    def new_algo_id(self) -> int:
        self.next_algo_id += 1
        return self.next_algo_id - 1

    def arm(self, a: Algo) -> None:
        """Start watching `a`'s working price; list it on its account unless it is legacy."""
        if a.legacy_order is None:  # a legacy conditional is listed as an order instead
            acct = a.account
            acct.open_algos[a.algo_id] = a
            acct.algos[a.algo_id] = a
            acct.algos_by_client.setdefault(a.client_id, []).append(a)
            self.algos[a.algo_id] = a
        watch = self.by_symbol[a.symbol]
        (watch.mark if a.working_type == "MARK_PRICE" else watch.contract).append(a)

    def drop(self, a: Algo) -> None:
        """Stop watching `a` (fired, canceled or its legacy order ended); not open any more."""
        watch = self.by_symbol[a.symbol]
        for triggers in (watch.contract, watch.mark):
            if a in triggers:
                triggers.remove(a)
        a.account.open_algos.pop(a.algo_id, None)

    def fired_by_last(self, symbol: str, price: Decimal) -> list[Algo]:
        """CONTRACT_PRICE conditionals the last trade price fires (trailing ones move too)."""
        return [a for a in self.by_symbol[symbol].contract if a.observe(price)]

    def fired_by_mark(self, symbol: str, mark: Decimal) -> list[Algo]:
        return [a for a in self.by_symbol[symbol].mark if a.observe(mark)]


__all__ = ["SymbolTriggers", "TriggerBook"]
