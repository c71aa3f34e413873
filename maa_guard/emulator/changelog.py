"""The tenant's change log, which Graph delta queries read: one entry per change of an object.

The emulator is generous about what a change is: any change to an object's own item, and any
change to a relationship list under it, marks the object changed. Graph's own delta tracks
properties and, for groups, ``members`` and ``owners``; a client that handles more changes
than Graph reports handles Graph.
"""

from __future__ import annotations

from dataclasses import dataclass

# The collections served at ``/{collection}/delta``.
DELTA_COLLECTIONS = ("users", "groups", "servicePrincipals", "applications")


@dataclass(frozen=True, slots=True)
class Change:
    """``sequence`` counts from 1; ``removed`` when the object was deleted."""

    sequence: int
    collection: str
    id: str
    removed: bool = False


class ChangeLog:
    """Appended under ``tenant.lock``. A delta token holds the ``sequence`` it was issued at and
    the ``epoch``; :meth:`expire` starts a new epoch, so every earlier token has expired."""

    def __init__(self) -> None:
        self.entries: list[Change] = []
        self.epoch = 0
        self.delta_enabled = True

    @property
    def sequence(self) -> int:
        """The sequence of the latest change (0 before any)."""
        return len(self.entries)

    def record(self, collection: str, item_id: str, removed: bool = False) -> Change:
        change = Change(self.sequence + 1, collection, item_id, removed)
        self.entries.append(change)
        return change

    def expire(self) -> None:
        self.epoch += 1

    def since(self, collection: str, after: int, upto: int) -> list[Change]:
        """The latest change of each object of ``collection`` in ``(after, upto]``, oldest first."""
        latest: dict[str, Change] = {}
        for change in self.entries[max(after, 0) : upto]:
            if change.collection == collection:
                key = change.id.lower()
                latest.pop(key, None)  # re-inserted: the order is that of the latest change
                latest[key] = change
        return list(latest.values())
