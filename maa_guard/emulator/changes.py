"""Changing the emulated tenant between two reads (tests): ``emulator.change``.

Each method takes ``tenant.lock``, marks the tenant changed (cached lists are recomputed) and
logs the change, so a delta query reports it. A name or id the fixture lacks raises
``LookupError``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from maa_guard.emulator.changelog import DELTA_COLLECTIONS
from maa_guard.emulator.tenant import Tenant
from maa_guard.emulator.wire import Json

_PARENT = "/{id}/"


class TenantChanges:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def put(self, collection: str, item: Mapping[str, Any]) -> None:
        """Adds ``item`` to ``collection``, or replaces the item with its ``id``."""
        with self.tenant.lock:
            self._put(self._collection(collection), item)

    def remove(self, collection: str, item_id: str) -> None:
        """Deletes the item with ``item_id`` and every relationship list under it."""
        with self.tenant.lock:
            name = self._collection(collection)
            items = self.tenant.collections[name]
            position = _position(items, item_id)
            if position is None:
                raise LookupError(f"{name} has no item {item_id!r}")
            removed = items.pop(position)
            for template, by_parent in self.tenant.relationships.items():
                if template.split(_PARENT, 1)[0].lower() == name.lower():
                    by_parent.pop(item_id.lower(), None)
            self.tenant.changed(name, str(removed["id"]), removed=True)

    def set_relationship(
        self, template: str, parent_id: str, items: Iterable[Mapping[str, Any]]
    ) -> None:
        """Replaces the list ``template`` (``groups/{id}/members``) holds for ``parent_id``,
        adding the template when the fixture has none; the parent counts as changed."""
        if template.count("{id}") != 1 or _PARENT not in template:
            raise ValueError(f"{template!r}: expected 'collection/{{id}}/name'")
        with self.tenant.lock:
            parent_collection = self._collection(template.strip("/").split(_PARENT, 1)[0])
            parent = self.tenant.find(parent_collection, parent_id)
            if parent is None:
                raise LookupError(f"{parent_collection} has no item {parent_id!r}")
            name = self.tenant.relationship_name(template.strip("/")) or template.strip("/")
            by_parent = self.tenant.relationships.setdefault(name, {})
            by_parent[parent_id.lower()] = [copy.deepcopy(dict(item)) for item in items]
            self.tenant.changed(parent_collection, str(parent["id"]))

    def append(self, collection: str, items: Iterable[Mapping[str, Any]]) -> None:
        """Appends ``items`` as they are (audit events, sign-in activity: lists that grow). On a
        delta collection each is a :meth:`put`."""
        with self.tenant.lock:
            name = self._collection(collection)
            for item in items:
                if name in DELTA_COLLECTIONS:
                    self._put(name, item)
                    continue
                self.tenant.collections[name].append(copy.deepcopy(dict(item)))
                self.tenant.changed(name, str(item.get("id", "")))

    def _collection(self, collection: str) -> str:
        name = self.tenant.collection_name(collection.strip("/"))
        if name is None:
            raise LookupError(f"the fixture has no collection {collection!r}")
        return name

    def _put(self, name: str, item: Mapping[str, Any]) -> None:
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise ValueError(f"{name}: an item needs a string 'id'")
        items = self.tenant.collections[name]
        position = _position(items, item_id)
        stored = copy.deepcopy(dict(item))
        if position is None:
            items.append(stored)
        else:
            items[position] = stored
        self.tenant.changed(name, item_id)


def _position(items: list[Json], item_id: str) -> int | None:
    wanted = item_id.lower()
    for position, item in enumerate(items):
        if str(item.get("id", "")).lower() == wanted:
            return position
    return None
