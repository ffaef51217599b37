"""Command-line helpers shared by the project's tools (no other import: any CLI may use it)."""

import argparse
from typing import Any


class StoreOnce(argparse.Action):
    """A flag that takes one value: given twice, argparse's default keeps the last one in
    silence (`--data a.csv --data b.csv` ran on b.csv alone); this says so and exits 2."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, self.dest, None) is not self.default:
            parser.error(f"{option_string} given twice: it takes one value")
        setattr(namespace, self.dest, values)
