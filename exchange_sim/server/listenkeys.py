"""listenKey lifecycle (reference 7.9 and 10.1): one active 64-char key per account.

A key is valid for `validity_ms` (60 minutes) after creation or the last keepalive. POST while a
key is active returns the same key and extends it. Expired or deleted keys are unknown (-1125).
"""

from collections.abc import Hashable
from dataclasses import dataclass

from exchange_sim.errors import BinanceError

from .auth import random_token

LISTEN_KEY_VALIDITY_MS = 60 * 60 * 1000


@dataclass(slots=True)
class _Key:
    key: str
    account_id: Hashable
    expires_ms: int


def unknown_listen_key() -> BinanceError:
    return BinanceError(-1125, "This listenKey does not exist.")


class ListenKeys:
    """Active keys by key and by account; expiry is checked against the caller's clock (ms)."""

    def __init__(self, validity_ms: int = LISTEN_KEY_VALIDITY_MS) -> None:
        self.validity_ms = validity_ms
        self._by_key: dict[str, _Key] = {}
        self._by_account: dict[Hashable, str] = {}

    def create(self, account_id: Hashable, now_ms: int) -> str:
        current = self._by_account.get(account_id)
        if current is not None and self._by_key[current].expires_ms > now_ms:
            self._by_key[current].expires_ms = now_ms + self.validity_ms
            return current
        if current is not None:
            self._remove(current)
        key = random_token(64)
        self._by_key[key] = _Key(key, account_id, now_ms + self.validity_ms)
        self._by_account[account_id] = key
        return key

    def keepalive(self, account_id: Hashable, key: str | None, now_ms: int) -> str:
        """Extend the account's key (clients send `listenKey`; if given it must be valid)."""
        current = self._by_account.get(account_id)
        if current is None or self._by_key[current].expires_ms <= now_ms:
            raise unknown_listen_key()
        if key and key != current:
            raise unknown_listen_key()
        self._by_key[current].expires_ms = now_ms + self.validity_ms
        return current

    def close(self, account_id: Hashable) -> str | None:
        current = self._by_account.get(account_id)
        if current is not None:
            self._remove(current)
        return current

    def account_of(self, key: str, now_ms: int) -> Hashable | None:
        entry = self._by_key.get(key)
        if entry is None or entry.expires_ms <= now_ms:
            return None
        return entry.account_id

    def key_of(self, account_id: Hashable) -> str | None:
        return self._by_account.get(account_id)

    def expire_due(self, now_ms: int) -> list[str]:
        """Remove and return every key whose validity has ended."""
        due = [k.key for k in self._by_key.values() if k.expires_ms <= now_ms]
        for key in due:
            self._remove(key)
        return due

    def force_expire(self, key: str | None = None) -> list[str]:
        """Expire `key` (or every key) now, whatever its validity."""
        keys = [key] if key is not None else list(self._by_key)
        for k in keys:
            if k in self._by_key:
                self._remove(k)
        return [k for k in keys if k]

    def _remove(self, key: str) -> None:
        entry = self._by_key.pop(key)
        if self._by_account.get(entry.account_id) == key:
            del self._by_account[entry.account_id]
