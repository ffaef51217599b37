"""A directory of model versions, one of them promoted, with rollback.

Layout (plain files, never a pickle)::

    <dir>/versions/<version_id>/model.json   the model file, byte for byte as added
    <dir>/versions/<version_id>/meta.json    sha256, source path, time added, model metadata
    <dir>/versions/<version_id>/review.json  the reviews of this version as a candidate (a list:
                                             windows, both backtests' metrics, the decision)
    <dir>/PROMOTED                           {"promoted": id | null, "history": [...]}

A version id is the UTC time it was added plus the first 8 hex digits of the model file's
sha256 (`20250511T120000Z-1a2b3c4d`), so ids sort in the order versions were added; adding the
same bytes twice returns the existing id. `PROMOTED` holds the promoted id and an append-only
history of promotions and rollbacks; a rollback goes back to the version that was promoted
before the current one (replaying the history as a stack). Every write is atomic
(`core.atomic_file.write_atomic`): a crash leaves the old `PROMOTED` or the new one, and a
version's directory gets its files before `PROMOTED` can name it.

`--model PATH` everywhere takes a model file or a registry directory: `resolve_model_path`
maps a registry to its promoted version's `model.json` (`model.live.load_linear_model` calls it).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.atomic_file import write_atomic

PROMOTED_FILE = "PROMOTED"
VERSIONS_DIR = "versions"
MODEL_FILE = "model.json"
META_FILE = "meta.json"
REVIEW_FILE = "review.json"


class RegistryError(ValueError):
    """The registry cannot do what was asked (unknown version, nothing to roll back to...)."""


def is_registry(path: str | Path) -> bool:
    """A directory (an existing one, or one holding `versions/` or `PROMOTED`)."""
    return Path(path).is_dir()


def state_of(path: str | Path) -> str:
    """What `path` is to a command about to write a registry there: 'registry' (it holds
    `PROMOTED` or `versions/`), 'empty' (an empty directory), 'missing', 'file', or 'other' (a
    directory holding something else: writing there would litter it)."""
    p = Path(path)
    if not p.exists():
        return "missing"
    if not p.is_dir():
        return "file"
    if (p / PROMOTED_FILE).is_file() or (p / VERSIONS_DIR).is_dir():
        return "registry"
    return "other" if any(p.iterdir()) else "empty"


def registry_around(path: str | Path) -> Path | None:
    """The registry `path` is, or is inside (a directory holding `PROMOTED`, or a version's
    `versions/<id>/meta.json`), else None: a file written there by hand edits a version,
    which is never edited (its `model.json` is then refused), or lies where nothing reads it."""
    p = Path(path)
    # A relative path keeps its form (the registry is named as the user typed it), then the
    # working directory's parents are looked at too; only those `path` is inside count:
    # '../m.json' has '.' among its parents, and a user working in a registry was refused an
    # --out beside it.
    chain = [p, *p.parents, *([] if p.is_absolute() else Path.cwd().parents)]
    target = p.resolve()
    around = {target, *target.parents}
    for d in chain:
        if d.resolve() not in around:
            continue
        if (d / PROMOTED_FILE).is_file():
            return d
        if _holds_versions(d / VERSIONS_DIR):
            return d
    return None


def _holds_versions(versions: Path) -> bool:
    """A `versions/` folder with a version in it (an unreadable one is taken for none)."""
    try:
        return versions.is_dir() and any((v / META_FILE).is_file() for v in versions.iterdir())
    except OSError:
        return False


def _now() -> datetime:
    return datetime.now(UTC)


def _dump(doc: Any) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def _read_state(reg: Path) -> dict[str, Any]:
    p = reg / PROMOTED_FILE
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"promoted": None, "history": []}
    except (OSError, ValueError) as e:
        raise RegistryError(f"{p}: unreadable ({e})") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("history", []), list):
        raise RegistryError(f"{p}: not a registry PROMOTED file")
    doc.setdefault("history", [])
    doc.setdefault("promoted", None)
    return doc


def version_dir(reg: str | Path, version_id: str) -> Path:
    return Path(reg) / VERSIONS_DIR / version_id


def versions(reg: str | Path) -> list[dict[str, Any]]:
    """Every version's metadata (meta.json plus `version_id`), oldest first."""
    root = Path(reg) / VERSIONS_DIR
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        if not (d / MODEL_FILE).is_file():
            continue
        try:
            meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        meta["version_id"] = d.name
        meta["reviews"] = reviews(reg, d.name)
        out.append(meta)
    return out


def reviews(reg: str | Path, version_id: str) -> list[dict[str, Any]]:
    """The reviews recorded for a version, oldest first ([] when none or unreadable)."""
    try:
        doc = json.loads((version_dir(reg, version_id) / REVIEW_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if isinstance(doc, dict):  # one review, as written before reviews became a list
        doc = [doc]
    return [r for r in doc if isinstance(r, dict)] if isinstance(doc, list) else []


def record_review(reg: str | Path, version_id: str, review: dict[str, Any]) -> None:
    """Append a review (plain JSON data) to the version's review.json, atomically."""
    if not (version_dir(reg, version_id) / MODEL_FILE).is_file():
        raise RegistryError(f"{reg}: no version {version_id!r}")
    doc = [*reviews(reg, version_id), review]
    write_atomic(version_dir(reg, version_id) / REVIEW_FILE, _dump(doc))


def add(reg: str | Path, model_json_path: str | Path) -> str:
    """Copy a model file into the registry (it must load and match the feature code);
    return its version id. The same bytes added again return the existing id."""
    from model.live import load_linear_model  # late: model.live imports this module

    src = Path(model_json_path)
    model = load_linear_model(src)  # refuses a bad or mismatched model (ModelMismatchError)
    data = src.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    for meta in versions(reg):
        if meta.get("sha256") == sha:
            return str(meta["version_id"])
    now = _now()
    version_id = f"{now:%Y%m%dT%H%M%S}Z-{sha[:8]}"
    d = version_dir(reg, version_id)
    skip = {"linear", "unfolded", "format"}
    meta = {
        "version_id": version_id,
        "added_at": now.isoformat(timespec="seconds"),
        "sha256": sha,
        "source": str(src.resolve()),
        "model": {k: v for k, v in model.metadata.items() if k not in skip},
    }
    write_atomic(d / MODEL_FILE, data)
    write_atomic(d / META_FILE, _dump(meta))
    return version_id


def promoted_id(reg: str | Path) -> str | None:
    v = _read_state(Path(reg)).get("promoted")
    return v if isinstance(v, str) else None


def promoted(reg: str | Path) -> Path | None:
    """The promoted version's model.json, or None when nothing is promoted."""
    v = promoted_id(reg)
    return None if v is None else version_dir(reg, v) / MODEL_FILE


def promote(reg: str | Path, version_id: str, reason: str) -> None:
    """Make `version_id` the promoted version (recorded in the history with `reason`)."""
    reg = Path(reg)
    if not (version_dir(reg, version_id) / MODEL_FILE).is_file():
        raise RegistryError(f"{reg}: no version {version_id!r}")
    state = _read_state(reg)
    entry = {"action": "promote", "version_id": version_id, "reason": reason}
    _write_state(reg, state, version_id, entry)


def find_version(reg: str | Path, text: str) -> str:
    """The version id `text` names: the id itself or a unique start of it (its date-time or
    more); RegistryError naming the versions otherwise."""
    ids = [str(m["version_id"]) for m in versions(reg)]
    if text in ids:
        return text
    matches = [v for v in ids if text and v.startswith(text)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(ids) or "none"
    if matches:
        raise RegistryError(f"{reg}: {text!r} names {len(matches)} versions: {known}")
    raise RegistryError(f"{reg}: no version {text!r} (versions: {known})")


def promote_checked(reg: str | Path, version_id: str, reason: str) -> None:
    """`promote` for an operator's choice: only a version that loads with this code (a daemon
    on the registry would refuse to switch to another and keep trading the current one)."""
    reg = Path(reg)
    if not (version_dir(reg, version_id) / MODEL_FILE).is_file():
        raise RegistryError(f"{reg}: no version {version_id!r}")
    _check_loads(reg, version_id, "promote")
    promote(reg, version_id, reason)


def history(reg: str | Path) -> list[dict[str, Any]]:
    """The promotions and rollbacks, oldest first."""
    return _checked_history(Path(reg), _read_state(Path(reg)))


def _checked_history(reg: Path, state: dict[str, Any]) -> list[dict[str, Any]]:
    """The history, each entry an object naming its action and version: RegistryError naming
    the first that is not (a hand-edited PROMOTED), rather than a KeyError in a rollback. Only
    where the history is read: the promoted id alone still loads the model a daemon trades."""
    entries = list(state["history"])
    for i, e in enumerate(entries, 1):
        if not (
            isinstance(e, dict)
            and isinstance(e.get("action"), str)
            and isinstance(e.get("version_id"), str)
        ):
            raise RegistryError(
                f"{reg / PROMOTED_FILE}: history entry {i} is not an action on a version: "
                f"{json.dumps(e)[:60]}"
            )
    return entries


def _stack(history: list[dict[str, Any]]) -> list[str]:
    stack: list[str] = []
    for e in history:
        if e.get("action") == "promote":
            if stack and stack[-1] == str(e["version_id"]):
                continue  # promoted again while promoted: a rollback goes before it
            stack.append(str(e["version_id"]))
        elif e.get("action") == "rollback" and stack:
            stack.pop()
    return stack


def rollback(reg: str | Path, reason: str = "rollback") -> str:
    """Promote again the version promoted before the current one; return its id."""
    reg = Path(reg)
    state = _read_state(reg)
    stack = _stack(_checked_history(reg, state))
    if len(stack) < 2:
        raise RegistryError(f"{reg}: no earlier promoted version to roll back to")
    target = stack[-2]
    _check_loads(reg, target, "roll back to")
    entry = {"action": "rollback", "version_id": target, "from": stack[-1], "reason": reason}
    _write_state(reg, state, target, entry)
    return target


def _check_loads(reg: Path, version_id: str, action: str) -> None:
    """RegistryError unless the version's model.json loads with this code: a daemon on the
    registry refuses to switch to a model it cannot load and keeps trading the current one, so
    the rollback would not happen where it matters."""
    from model.live import ModelMismatchError, load_linear_model

    try:
        load_linear_model(version_dir(reg, version_id) / MODEL_FILE)
    except ModelMismatchError as e:
        raise RegistryError(f"{reg}: cannot {action} {version_id}: {e}") from None


def _write_state(reg: Path, state: dict[str, Any], version_id: str, entry: dict[str, Any]) -> None:
    entry["at"] = _now().isoformat(timespec="seconds")
    doc = {"promoted": version_id, "history": [*state["history"], entry]}
    write_atomic(reg / PROMOTED_FILE, _dump(doc))


def recorded_sha256(model_file: Path) -> str | None:
    """The sha256 a registry recorded when it added the version whose model file this is
    (its meta.json), or None for a file outside a registry (or a meta.json without one)."""
    if model_file.name != MODEL_FILE or model_file.parent.parent.name != VERSIONS_DIR:
        return None
    try:
        meta = json.loads((model_file.parent / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    sha = meta.get("sha256") if isinstance(meta, dict) else None
    return sha if isinstance(sha, str) else None


def resolve_model_path(path: str | Path) -> Path:
    """A model file as is; a registry directory -> its promoted version's model.json."""
    p = Path(path)
    if not p.is_dir():
        return p
    target = promoted(p)
    if target is None:
        raise RegistryError(f"{p}: registry has no promoted model")
    return target
