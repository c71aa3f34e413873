"""Reading and writing snapshot files: strict, with the JSON path of any problem."""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from maa_guard.errors import InputError
from maa_guard.snapshot.codec import (
    DecodeError,
    SharedValues,
    decoder_for,
    indented_json,
    json_name,
    newline,
    string_pool,
)
from maa_guard.snapshot.gcpause import paused_gc
from maa_guard.snapshot.jsonstream import Items, JsonStream, StreamError
from maa_guard.snapshot.model import (
    SCHEMA_VERSION,
    SOURCES,
    AuditActor,
    AuditResource,
    DirectoryObjectRef,
    Identity,
    IdentitySet,
    Snapshot,
)

_HINT = "re-collect the snapshot, or check it against docs/snapshot.md"
# Small values repeated over many items (an event's actor, a request's approver, a member):
# equal ones share one object once loaded.
SHARED_CLASSES = (AuditActor, AuditResource, Identity, IdentitySet, DirectoryObjectRef)


def load_snapshot(path: Path) -> Snapshot:
    """Streams the file: array items are decoded one by one, never held as a tree of dicts."""
    try:
        with path.open("r", encoding="utf-8") as handle, paused_gc():
            return _decode_members(JsonStream(handle).members(), str(path))
    except FileNotFoundError:
        raise InputError(f"snapshot file {path} not found", "check the --snapshot path") from None
    except IsADirectoryError:
        raise InputError(f"snapshot path {path} is a directory", "name a JSON file") from None
    except StreamError as error:
        raise InputError(f"{path}: not valid JSON: {error}", _HINT) from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text", _HINT) from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply", _HINT) from None
    except ValueError as error:  # e.g. an integer longer than Python will convert
        raise InputError(f"{path}: not a valid snapshot: {error}", _HINT) from None
    except OSError as error:
        raise InputError(f"cannot read snapshot {path}: {error.strerror}") from None


def parse_snapshot(raw: Any, origin: str = "snapshot") -> Snapshot:
    """Decodes an already parsed JSON document."""
    if not isinstance(raw, dict):
        raise InputError(f"{origin}: expected a JSON object at the top level", _HINT)
    return _decode_members(raw.items(), origin)


def _decode_members(members: Iterable[tuple[str, Any]], origin: str) -> Snapshot:
    """Checks ``schema_version`` before reporting any other problem, wherever it stands."""
    fields = _snapshot_fields()
    values: dict[str, Any] = {}
    version: Any = _ABSENT
    problem: DecodeError | None = None
    with string_pool(SharedValues(SHARED_CLASSES)):
        for key, value in members:
            if key == "schema_version":
                version = values[key] = _check_version(_materialise(value), origin)
            elif key in fields and problem is None:
                try:
                    values[key] = _decode_member(fields[key], value)
                except DecodeError as error:
                    problem = error.within(key)
            else:
                _materialise(value)
            if problem is not None and version is not _ABSENT:
                break
    if version is _ABSENT:
        raise InputError(f"{origin}: schema_version: required field is missing", _HINT)
    if problem is not None:
        raise InputError(f"{origin}: {problem}", _HINT)
    return _construct(values, origin)


_ABSENT = object()


def _check_version(version: Any, origin: str) -> int:
    if type(version) is not int or version != SCHEMA_VERSION:
        raise InputError(
            f"{origin}: schema_version: unknown version {version!r} "
            f"(this maa-guard reads {SCHEMA_VERSION})",
            "upgrade maa-guard or re-collect the snapshot with this version",
        )
    return version


def _snapshot_fields() -> dict[str, Any]:
    hints = typing.get_type_hints(Snapshot)
    return {field.name: hints[field.name] for field in dataclasses.fields(Snapshot)}


def _decode_member(hint: Any, value: Any) -> Any:
    if isinstance(value, Items):
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is not tuple or not dataclasses.is_dataclass(args[0]):
            return decoder_for(hint)(list(value))
        decode_item = decoder_for(typing.cast(Any, args[0]))
        items = []
        for index, item in enumerate(value):
            try:
                items.append(decode_item(item))
            except DecodeError as error:
                raise error.within(f"[{index}]") from None
        return tuple(items)
    return decoder_for(hint)(value)


def _materialise(value: Any) -> Any:
    return list(value) if isinstance(value, Items) else value


def _construct(values: dict[str, Any], origin: str) -> Snapshot:
    for field in dataclasses.fields(Snapshot):
        if field.name not in values and field.default is dataclasses.MISSING:
            raise InputError(f"{origin}: {field.name}: required field is missing", _HINT)
    unknown = sorted(set(values["sources"]) - set(SOURCES))
    if unknown:
        raise InputError(
            f"{origin}: sources: unknown data source {unknown[0]!r}",
            f"known sources: {', '.join(SOURCES)}",
        )
    return Snapshot(**values)


def snapshot_to_json(snapshot: Snapshot) -> str:
    return "".join(snapshot_chunks(snapshot))


# Array items per chunk: a few hundred KiB of text, few enough writes to cost nothing.
ITEMS_PER_CHUNK = 256


def snapshot_chunks(snapshot: Snapshot) -> Iterator[str]:
    """The snapshot file's text (``json.dumps(encode(snapshot), indent=1,
    ensure_ascii=False)`` and a line break) in pieces: each member, the items of a list
    ``ITEMS_PER_CHUNK`` at a time. Neither the whole text nor a tree of dicts is ever built,
    so a writer holds one chunk beside the snapshot."""
    separator = "{"
    for field in dataclasses.fields(snapshot):
        value = getattr(snapshot, field.name)
        key = json.dumps(json_name(Snapshot, field), ensure_ascii=False)
        yield f"{separator}{newline(1)}{key}: "
        separator = ","
        if isinstance(value, tuple) and value:
            yield from _array_chunks(value)
        else:
            yield indented_json(value, 1)
    yield "\n}\n"


def _array_chunks(items: tuple[Any, ...]) -> Iterator[str]:
    """A list two levels deep (a member of the document), as ``indented_json`` writes it."""
    gap = "," + newline(2)
    for start in range(0, len(items), ITEMS_PER_CHUNK):
        texts = [indented_json(item, 2) for item in items[start : start + ITEMS_PER_CHUNK]]
        yield ("[" + newline(2) if start == 0 else gap) + gap.join(texts)
    yield newline(1) + "]"
