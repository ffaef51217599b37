"""Counts in words for the tools' console lines and reports: `1 trade`, `2 trades`."""


def counted(n: int, noun: str, plural: str = "") -> str:
    """`n` and `noun`, plural but for exactly 1 (`plural`, else the noun + s): "bootstrap of
    1 trades" read as a slip in lines that are otherwise exact."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
