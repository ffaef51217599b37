"""Values that must never be written anywhere, whatever wrote them: a log line (ours,
python-binance's, aiohttp's), an error message that reaches the journal, status.json or the
exit line. One list for all of them (`runtime.log_setup.RedactionFilter`,
`rest_connect.errors`), so a shape caught in one place is caught in every place.

A URL's userinfo (`http://user:password@proxy:8080`, a proxy's or a gateway's credentials in
`[endpoints]`) is one of them: shown as `http://<redacted>@proxy:8080`, and left out of what
names the endpoint (`url_without_userinfo`, a journal's binding).
"""

import os
import re
from collections.abc import Iterable
from pathlib import Path

REDACTED = "<redacted>"

# (pattern, whether its first group is a name to keep): HMAC signatures, API-key headers,
# listenKeys in URLs, and key=value pairs that name a secret; and any 64-character token of
# letters and digits that is not a hex digest: the shape of Binance's API keys, secrets and
# listenKeys, so that one never told to us (a listenKey made at run time, quoted as a combined
# stream's name) is caught too; and the userinfo of a URL (what precedes the host's `@`: up to
# the last one before the path, as a URL's parser splits it, whatever the password holds that
# the config and the websocket library accept: a quote, `<`, an `@`, which stopped the match
# and left the password shown whole or in part); one redacted already is left as it is (a
# second pass with another mark, --check-config's, read `<redacted>` as a password).
_URL_USERINFO = re.compile(rf"(?i)(\b[a-z][a-z0-9+.-]*://)(?!{re.escape(REDACTED)}@)[^\s/?#]+(?=@)")
_PATTERNS = (
    (_URL_USERINFO, True),
    (re.compile(r"(?i)(signature['\"]?\s*[:=,]\s*['\"]?)[0-9a-f]{16,}"), True),
    (re.compile(r"(?i)(x-mbx-apikey['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9]+"), True),
    (re.compile(r"(?i)(listenKey['\"]?\s*[:=/]\s*['\"]?)[A-Za-z0-9]{16,}"), True),
    (
        re.compile(r"(?i)((?:api[_-]?key|api[_-]?secret|secret)['\"]?\s*[:=]\s*['\"]?)[^\s'\",&]+"),
        True,
    ),
    (re.compile(r"(/ws/)[A-Za-z0-9]{60,64}"), True),
    (
        re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z0-9]{0,63}[G-Zg-z])[A-Za-z0-9]{64}(?![A-Za-z0-9])"),
        False,
    ),
)


def redact(text: str, secrets: Iterable[str] = (), mark: str = REDACTED) -> str:
    """`text` with every non-empty one of `secrets` and every secret-shaped value replaced by
    `mark` (a pattern's named prefix, `signature=` say, is kept)."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, mark)
    for pattern, keeps_prefix in _PATTERNS:
        text = pattern.sub((lambda m: m.group(1) + mark) if keeps_prefix else mark, text)
    return text


# A URL's scheme and authority up to the host: the userinfo cannot hold '/', '?' or '#'.
_USERINFO = re.compile(r"(?i)^([a-z][a-z0-9+.-]*://)[^/?#]*@")


def url_without_userinfo(url: str) -> str:
    """`url` without its `user:password@`: the endpoint it names (scheme, host, port, path),
    which a change of password does not change."""
    return _USERINFO.sub(r"\1", url, count=1)


def redact_userinfo(text: str, mark: str = REDACTED) -> str:
    """`text` with the userinfo of every URL in it replaced by `mark` (host and port kept)."""
    return _URL_USERINFO.sub(lambda m: m.group(1) + mark, text)


SECRET_LIKE = "<not shown: looks like a secret>"
# A word of a message: up to whitespace, a quote, a bracket, a brace or a comma (a TOML value as
# a config error quotes it: "...", ["...", "..."], {k = "..."}).
_WORD = re.compile(r"""[^\s"'\[\](){},]+""")
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]{20,}")
# A git commit (SHA-1, 40) or a SHA-256 digest (64) as git, sha256sum and this project write
# them: lowercase hex. A journal or output folder named by the commit it ran, or a model's
# sha256, is a name to read, not a key; Binance's keys and secrets are 64 letters of both
# cases and digits, never lowercase hex (the log redaction leaves 64-hex digests alone too).
# Digits and letters both, as a hash has (`"a" * 64` is no digest).
_HEX_DIGEST = re.compile(r"(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])(?:[0-9a-f]{40}|[0-9a-f]{64})")


def _secret_like(word: str) -> bool:
    """20 or more letters and digits in a row, both among them, or 64 of either: the shape of
    an API key or secret (Binance's: 64), a token or base64 key material; not of a symbol
    (at most 20), a time stamp, a version id or a path segment, which `-`, `_`, `.`, `:` and
    `/` cut into shorter runs, nor of a git commit or SHA-256 digest (`_HEX_DIGEST`)."""
    for run in _ALNUM_RUN.findall(word):
        if _HEX_DIGEST.fullmatch(run):
            continue
        if len(run) >= 64 or (any(c.isdigit() for c in run) and not run.isdigit()):
            return True
    return False


def hide_secret_like(text: str, mark: str = SECRET_LIKE) -> str:
    """`text` with every word that looks like a secret (`_secret_like`) replaced by `mark`,
    whole: a key pasted into a URL or a path is not shown in part either."""
    return _WORD.sub(lambda m: mark if _secret_like(m.group()) else m.group(), text)


def shown_path(path: str | os.PathLike[str]) -> str:
    """A path as every message names it (a journal's directory, a config file, a tool's
    input): a relative one marked as a path (`./journal`: the default's bare `journal` read
    "journal journal was written"), and one that looks like a secret (an API key pasted as
    journal_dir or into a flag) not shown, as --check-config hides it (`hide_secret_like`)."""
    text = str(path)
    if not (Path(text).is_absolute() or text.startswith((".", "~"))):
        text = f".{os.sep}{text}"
    return hide_secret_like(text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """`text` with its line breaks and other control characters escaped as Python writes
    them (`\\n`, `\\x1b`): a message that quotes a user's value (a path, a setting) stays one
    line on the console and in a log, and cannot move the terminal's cursor."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
