"""The tenant fixture held in memory: collections, relationships, singletons and tokens.

See ``docs/emulator-fixture.md`` for the contract.
"""

from __future__ import annotations

import copy
import json
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from maa_guard.emulator.changelog import ChangeLog
from maa_guard.emulator.wire import Json
from maa_guard.errors import InputError
from maa_guard.snapshot.codec import parse_datetime

# The provisional access-policy property listing excluded apps (``maa.exclusionsProperty``).
EXCLUSIONS_PROPERTY = "excludedApplicationIds"


class FixtureError(InputError):
    """The fixture does not follow the contract (exit code 2 through ``main()``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "see docs/emulator-fixture.md for the tenant fixture contract")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a bearer token stands for: an application (app-only) or a user (delegated)."""

    kind: str
    id: str
    permissions: frozenset[str]
    app_id: str = ""

    @property
    def app_only(self) -> bool:
        return self.kind == "application"


class Tenant:
    """Mutable under ``lock``: MAA writes change collections while readers page through them."""

    def __init__(self, fixture: Mapping[str, Any]) -> None:
        _require_objects(fixture)
        self.lock = threading.RLock()
        self.id = str(fixture.get("tenant", {}).get("id", ""))
        self.collections: dict[str, list[Json]] = _collections(fixture.get("collections", {}))
        self.relationships: dict[str, dict[str, list[Json]]] = _relationships(
            fixture.get("relationships", {})
        )
        self.singletons: dict[str, Json] = copy.deepcopy(dict(fixture.get("singletons", {})))
        self.tokens: dict[str, Principal] = _tokens(fixture.get("tokens", {}))
        self.maa: Json = copy.deepcopy(dict(fixture.get("maa", {})))
        self.emitted_audit: list[Json] = []
        self.audit_category = "Role"  # of the MAA events the emulator writes (see profiles.py)
        self.generation = 0
        self.changes = ChangeLog()
        self._names = {name.lower(): name for name in self.collections}
        self._rels = {name.lower(): name for name in self.relationships}
        self._indexes: dict[tuple[str, str], tuple[tuple[int, int, int], dict[str, Json]]] = {}
        self._orders: dict[tuple[str, str], tuple[tuple[int, int, int], TimeOrder]] = {}

    @property
    def exclusions_property(self) -> str:
        """The access-policy property that lists excluded apps (``maa.exclusionsProperty``)."""
        return str(self.maa.get("exclusionsProperty") or EXCLUSIONS_PROPERTY)

    def touch(self) -> None:
        """Marks a change, so cached filtered lists are recomputed (callers hold ``lock``)."""
        self.generation += 1

    def changed(self, collection: str, item_id: str, removed: bool = False) -> None:
        """Logs a change of an object for delta queries and marks the tenant changed (callers
        hold ``lock``)."""
        self.changes.record(collection, item_id, removed)
        self.touch()

    def collection_name(self, path: str) -> str | None:
        if len(self._names) != len(self.collections):
            self._names = {name.lower(): name for name in self.collections}
        return self._names.get(path.lower())

    def relationship_name(self, template: str) -> str | None:
        if len(self._rels) != len(self.relationships):
            self._rels = {name.lower(): name for name in self.relationships}
        return self._rels.get(template.lower())

    def find(self, collection: str, item_id: str) -> Json | None:
        return self.find_by(collection, "id", item_id)

    def find_by(self, collection: str, key: str, value: str) -> Json | None:
        """Case-insensitive lookup through an index rebuilt when the collection changes."""
        items = self.collections.get(collection, [])
        stamp = (self.generation, len(items), id(items))
        cached = self._indexes.get((collection, key))
        if cached is None or cached[0] != stamp:
            index: dict[str, Json] = {}
            for item in reversed(items):
                index[str(item.get(key, "")).lower()] = item
            cached = self._indexes[(collection, key)] = (stamp, index)
        return cached[1].get(value.lower())

    def by_time(self, collection: str, prop: str) -> TimeOrder:
        """The items with a date in ``prop``, sorted by it, rebuilt when the collection changes
        (callers hold ``lock``): a date-range filter bisects instead of scanning."""
        items = self.collections.get(collection, [])
        stamp = (self.generation, len(items), id(items))
        cached = self._orders.get((collection, prop))
        if cached is None or cached[0] != stamp:
            cached = self._orders[(collection, prop)] = (stamp, TimeOrder.of(items, prop))
        return cached[1]


@dataclass(frozen=True, slots=True)
class TimeOrder:
    """``keys[i]`` is the date of ``items[i]``; ``positions[i]`` its place in the collection."""

    keys: list[datetime]
    positions: list[int]
    items: list[Json]

    @classmethod
    def of(cls, items: list[Json], prop: str) -> TimeOrder:
        dated = []
        for position, item in enumerate(items):
            try:
                dated.append((parse_datetime(str(item.get(prop, ""))), position, item))
            except ValueError:
                continue  # no date: no date comparison selects it
        dated.sort(key=lambda entry: (entry[0], entry[1]))
        return cls([d[0] for d in dated], [d[1] for d in dated], [d[2] for d in dated])

    def between(
        self, low: datetime | None, low_open: bool, high: datetime | None, high_open: bool
    ) -> list[Json]:
        """The items dated in the range, in collection order."""
        start = 0 if low is None else (bisect_right if low_open else bisect_left)(self.keys, low)
        end = len(self.keys)
        if high is not None:
            end = (bisect_left if high_open else bisect_right)(self.keys, high)
        chosen = sorted(range(start, max(start, end)), key=self.positions.__getitem__)
        return [self.items[i] for i in chosen]


def load_fixture(fixture: Mapping[str, Any] | Path | str) -> Mapping[str, Any]:
    """A fixture dict, or a JSON file holding a fixture or a snapshot (converted)."""
    if isinstance(fixture, Mapping):
        return _from_snapshot(fixture) if "schema_version" in fixture else fixture
    try:
        loaded = json.loads(Path(fixture).read_text(encoding="utf-8"))
    except (OSError, ValueError) as problem:
        raise FixtureError(f"cannot read tenant fixture {fixture}: {problem}") from None
    if not isinstance(loaded, dict):
        raise FixtureError(f"tenant fixture {fixture}: expected a JSON object")
    return _from_snapshot(loaded, str(fixture)) if "schema_version" in loaded else loaded


def _from_snapshot(raw: Mapping[str, Any], origin: str = "snapshot") -> Mapping[str, Any]:
    from maa_guard.emulator.fixture import fixture_from_snapshot
    from maa_guard.snapshot.file import parse_snapshot

    return fixture_from_snapshot(parse_snapshot(dict(raw), origin))


_SECTIONS = ("tenant", "collections", "relationships", "singletons", "tokens", "maa")


def _require_objects(fixture: Mapping[str, Any]) -> None:
    """Each section of a fixture is a JSON object, whatever a hand-written file holds."""
    for name in _SECTIONS:
        if not isinstance(fixture.get(name, {}), Mapping):
            raise FixtureError(f"{name}: expected a JSON object")


def _collections(raw: Mapping[str, Any]) -> dict[str, list[Json]]:
    result: dict[str, list[Json]] = {}
    for name, items in raw.items():
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise FixtureError(f"collections.{name}: expected a list of objects")
        result[name.strip("/")] = copy.deepcopy(items)
    return result


def _relationships(raw: Mapping[str, Any]) -> dict[str, dict[str, list[Json]]]:
    result: dict[str, dict[str, list[Json]]] = {}
    for template, by_parent in raw.items():
        if template.count("{id}") != 1 or not isinstance(by_parent, dict):
            raise FixtureError(f"relationships.{template}: expected 'parent/{{id}}/name': {{...}}")
        result[template.strip("/")] = {
            str(parent).lower(): copy.deepcopy(list(items)) for parent, items in by_parent.items()
        }
    return result


def _tokens(raw: Mapping[str, Any]) -> dict[str, Principal]:
    return {token: _principal(token, entry) for token, entry in raw.items()}


def _principal(token: str, entry: Any) -> Principal:
    if not isinstance(entry, dict) or entry.get("kind") not in ("application", "user"):
        raise FixtureError(f"tokens[{token[:6]}...]: kind must be 'application' or 'user'")
    if entry["kind"] == "application":
        app_id = str(entry.get("appId", ""))
        roles = frozenset(str(role) for role in entry.get("roles", []))
        return Principal("application", app_id, roles, app_id=app_id)
    scopes = frozenset(str(entry.get("scp", "")).split())
    return Principal(
        "user", str(entry.get("userId", "")), scopes, app_id=str(entry.get("appId", ""))
    )
