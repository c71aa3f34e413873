"""Reading and writing snapshot files: strict, with the JSON path of any problem."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import typing
from pathlib import Path
from typing import Any

from maa_guard.codec import DecodeError, decoder_for, encode
from maa_guard.errors import InputError
from maa_guard.snapshot import SCHEMA_VERSION, Snapshot

_HINT = "re-collect the snapshot, or check it against docs/snapshot.md"


def load_snapshot(path: Path) -> Snapshot:
    try:
        with path.open("rb") as handle:
            raw = json.load(handle)
    except FileNotFoundError:
        raise InputError(f"snapshot file {path} not found", "check the --snapshot path") from None
    except IsADirectoryError:
        raise InputError(f"snapshot path {path} is a directory", "name a JSON file") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
            _HINT,
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text", _HINT) from None
    except OSError as error:
        raise InputError(f"cannot read snapshot {path}: {error.strerror}") from None
    return parse_snapshot(raw, str(path))


def parse_snapshot(raw: Any, origin: str = "snapshot") -> Snapshot:
    """Decode a parsed JSON document; consumes ``raw`` section by section to bound memory."""
    if not isinstance(raw, dict):
        raise InputError(f"{origin}: expected a JSON object at the top level", _HINT)
    version = raw.get("schema_version")
    if version is None:
        raise InputError(f"{origin}: schema_version: required field is missing", _HINT)
    if type(version) is not int or version != SCHEMA_VERSION:
        raise InputError(
            f"{origin}: schema_version: unknown version {version!r} "
            f"(this maa-guard reads {SCHEMA_VERSION})",
            "upgrade maa-guard or re-collect the snapshot with this version",
        )
    return _decode_snapshot(raw, origin)


def _decode_snapshot(raw: dict[str, Any], origin: str) -> Snapshot:
    hints = typing.get_type_hints(Snapshot)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Snapshot):
        if field.name not in raw:
            if field.default is dataclasses.MISSING:
                raise InputError(f"{origin}: {field.name}: required field is missing", _HINT)
            continue
        element = raw.pop(field.name)
        try:
            values[field.name] = decoder_for(hints[field.name])(element)
        except DecodeError as error:
            raise InputError(f"{origin}: {error.within(field.name)}", _HINT) from None
        del element
    return Snapshot(**values)


def snapshot_to_json(snapshot: Snapshot) -> str:
    return json.dumps(encode(snapshot), indent=1, ensure_ascii=False) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write the whole file or nothing: a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
