"""API credentials that can be used but never shown.

A `Secret` renders as a mask in `str`, `repr`, f-strings and exception messages; only
`reveal()` returns the value, and only the REST signer should call it.
"""

import re

_API_KEY_RE = re.compile(r"[A-Za-z0-9]{64}")


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def masked(self) -> str:
        return "****"

    def hint(self) -> str:
        """Which API key this is (its last 4 characters), for the status line of a public key."""
        if len(self._value) < 32:
            return "****"
        return f"****{self._value[-4:]}"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"Secret({self.masked()})"

    def __format__(self, spec: str) -> str:
        return format(self.masked(), spec)

    def __reduce__(self):  # never pickle a secret into a file or a subprocess by accident
        raise TypeError("Secret values cannot be pickled")


def api_key_problem(name: str, value: str) -> str | None:
    """Why `value` cannot be a Binance API key or secret, without quoting it; None if plausible."""
    if not value:
        return f"{name} is empty"
    if value != value.strip():
        return f"{name} has leading or trailing whitespace"
    if not _API_KEY_RE.fullmatch(value):
        return (
            f"{name} does not look like a Binance key "
            f"(expected 64 letters and digits, got {len(value)} characters)"
        )
    return None
