"""HMAC-SHA256 request signatures exactly as Binance defines them (reference section 2.2).

The signed payload is the raw query string (without `?`) concatenated directly with the raw
request body, both exactly as transmitted (still percent-encoded), with the trailing
`signature=<hex>` item removed from whichever part carried it.
"""

import hashlib
import hmac

_SIG_PREFIX = "signature="


def sign(secret: str, payload: str) -> str:
    """Lower-case hex HMAC-SHA256 of `payload` keyed with `secret`."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _strip_signature(part: str) -> tuple[str, str | None]:
    """Remove the `signature=` item from one `&`-separated part; return (rest, signature)."""
    if not part:
        return part, None
    items = part.split("&")
    for index in range(len(items) - 1, -1, -1):
        if items[index].startswith(_SIG_PREFIX):
            signature = items[index][len(_SIG_PREFIX) :]
            del items[index]
            return "&".join(items), signature
    return part, None


def split_signed_payload(raw_query: str, raw_body: str) -> tuple[str, str | None]:
    """Return (payload that was signed, transmitted signature or None)."""
    query, sig_q = _strip_signature(raw_query)
    body, sig_b = _strip_signature(raw_body)
    signature = sig_b if sig_b is not None else sig_q
    return query + body, signature


def signature_matches(secret: str, payload: str, signature: str) -> bool:
    """Case-insensitive constant-time comparison of the transmitted hex signature."""
    return hmac.compare_digest(sign(secret, payload), signature.lower())
