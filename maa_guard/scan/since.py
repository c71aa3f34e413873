"""What an incremental collection builds on, and what it leaves for the next one.

The earlier snapshot is a file; beside it (``NAME.delta.json`` for ``NAME.json``) a small
state file holds Graph's delta links taken with it, the audit categories its exclusion history
read, and when its chain of incremental collections began with a full one. Both are written
together, atomically: a snapshot and a state that do not belong together (the state names
another collection time) are never mixed, and the collection is then read in full.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maa_guard.collect.delta import DELTA_COLLECTIONS
from maa_guard.collect.incremental import Baseline
from maa_guard.errors import InputError, OutputError
from maa_guard.snapshot.codec import format_datetime, parse_datetime
from maa_guard.snapshot.file import load_snapshot, snapshot_chunks
from maa_guard.storage.files import write_all_atomically
from maa_guard.storage.userdata import create_private_file, user_data_dir

if TYPE_CHECKING:
    from maa_guard.collect.collector import Collected

STATE_KIND = "maa-guard delta state"
STATE_VERSION = 1
_HINT = "delete it to collect in full next time"


def state_path(snapshot_path: Path) -> Path:
    """``tenant.json`` -> ``tenant.delta.json``; ``tenant`` -> ``tenant.delta.json``."""
    stem = snapshot_path.name[:-5] if snapshot_path.name.endswith(".json") else snapshot_path.name
    return snapshot_path.with_name(f"{stem}.delta.json")


def recorded_snapshot_path(environ: Mapping[str, str], endpoint: str, tenant_hint: str) -> Path:
    """Where ``scan --record`` keeps the last snapshot of a tenant it collects live: the user
    data folder, one file per Graph endpoint and tenant (``AZURE_TENANT_ID``, if set)."""
    key = hashlib.sha256(f"{endpoint}\n{tenant_hint.lower()}".encode()).hexdigest()[:16]
    return user_data_dir(environ) / "snapshots" / f"{key}.json"


def load_baseline(path: Path) -> tuple[Baseline | None, str]:
    """The earlier collection at ``path``, or None and why the next one is read in full.

    A missing file is no baseline (the first collection); a malformed snapshot or state file
    is bad input (exit 2)."""
    if not path.exists():
        return None, f"{path} does not exist yet"
    snapshot = load_snapshot(path)
    state_file = state_path(path)
    if not state_file.exists():
        return None, f"no delta state {state_file.name} beside it"
    state = _read_state(state_file)
    if state["collected_at"] != snapshot.collected_at:
        return None, f"{state_file.name} belongs to another collection of {path.name}"
    baseline = Baseline(
        snapshot, state["links"], state["history_categories"], state["full_collected_at"]
    )
    return baseline, ""


def write_collected(path: Path, collected: Collected, private: bool = False) -> None:
    """The snapshot and its delta state, both or neither. ``private``: new files are made
    readable by their owner only (those maa-guard keeps for itself, as its databases)."""
    created = _private_files((path, state_path(path))) if private else []
    snapshot = collected.snapshot
    state = {
        "kind": STATE_KIND,
        "version": STATE_VERSION,
        "tenant": snapshot.tenant.id,
        "collected_at": format_datetime(snapshot.collected_at),
        "full_collected_at": format_datetime(collected.full_collected_at),
        "delta_links": dict(sorted(collected.links.items())),
        "history_categories": None
        if collected.history_categories is None
        else list(collected.history_categories),
    }
    text = json.dumps(state, indent=1, ensure_ascii=False) + "\n"
    try:
        write_all_atomically([(path, snapshot_chunks(snapshot)), (state_path(path), (text,))])
    except BaseException:
        for made in created:  # empty: nothing half-written is left
            made.unlink(missing_ok=True)
        raise


def _private_files(targets: tuple[Path, ...]) -> list[Path]:
    """Creates each missing target empty and 0600 (the write then keeps that mode); returns
    those it created."""
    created: list[Path] = []
    for target in targets:
        if target.exists():
            continue
        try:
            create_private_file(target)
        except OSError as error:
            for made in created:
                made.unlink(missing_ok=True)
            raise OutputError(
                f"cannot write {target}: {error.strerror or error}",
                "check that the folder is writable",
            ) from None
        created.append(target)
    return created


def _read_state(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path}: {error}", _HINT) from None
    except ValueError as error:
        raise InputError(f"{path}: not valid JSON: {error}", _HINT) from None
    if not isinstance(raw, dict) or raw.get("kind") != STATE_KIND:
        raise InputError(f"{path}: not a maa-guard delta state file", _HINT)
    if raw.get("version") != STATE_VERSION:
        raise InputError(
            f"{path}: unknown delta state version {raw.get('version')!r}",
            "upgrade maa-guard, or " + _HINT,
        )
    return {
        "collected_at": _moment(raw, "collected_at", path),
        "full_collected_at": _moment(raw, "full_collected_at", path),
        "links": _links(raw.get("delta_links"), path),
        "history_categories": _categories(raw.get("history_categories"), path),
    }


def _moment(raw: Mapping[str, Any], key: str, path: Path) -> datetime:
    value = raw.get(key)
    try:
        if isinstance(value, str):
            return parse_datetime(value)
    except ValueError:
        pass
    raise InputError(f"{path}: {key}: expected a date and time with a time zone", _HINT)


def _links(value: Any, path: Path) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InputError(f"{path}: delta_links: expected an object", _HINT)
    links: dict[str, str] = {}
    for name, link in value.items():
        if name not in DELTA_COLLECTIONS or not isinstance(link, str) or not link:
            raise InputError(f"{path}: delta_links.{name}: not a delta link of maa-guard", _HINT)
        links[name] = link
    return links


def _categories(value: Any, path: Path) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InputError(f"{path}: history_categories: expected a list of strings or null", _HINT)
    return tuple(value)
