"""Which directory objects changed since the last collection, from Graph's delta queries.

A collection asks each collection's delta function for a link to "now" (``$deltatoken=latest``:
no objects, one request) before it reads; the next collection follows that link and gets the
ids of the objects created, changed or deleted since, so it re-reads only those
(https://learn.microsoft.com/en-us/graph/delta-query-overview). Graph tracks only the
properties named in the first request's ``$select``, so each names every property the collector
reads. A link Graph no longer honours (410, or 400 ``syncStateNotFound`` after seven days,
or delta switched off) leaves the changes unknown: that collection is read in full, and a new
link is taken for the next time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from maa_guard.collect.endpoints import origin_of
from maa_guard.collect.errors import GraphError
from maa_guard.collect.graph import GraphClient
from maa_guard.collect.paging import JsonObject, PageGuard

# Per collection, the properties whose changes matter: those the collector reads, and for
# users the licences (an Intune licence comes from them), for groups members and owners.
TRACKED_PROPERTIES: dict[str, str] = {
    "users": "id,userPrincipalName,displayName,accountEnabled,userType,assignedLicenses",
    "groups": "id,displayName,securityEnabled,mailEnabled,groupTypes,isAssignableToRole,"
    "membershipRule,onPremisesSyncEnabled,members,owners",
    "servicePrincipals": "id,appId,displayName,accountEnabled,appOwnerOrganizationId,"
    "servicePrincipalType,passwordCredentials,keyCredentials",
    "applications": "id,appId,displayName,passwordCredentials,keyCredentials",
}
DELTA_COLLECTIONS = tuple(TRACKED_PROPERTIES)


@dataclass(frozen=True, slots=True)
class Tracked:
    """One collection's changes since the earlier link, and the link for the next time.

    ``changed``: lower-cased ids (and appIds) of the objects created, changed or removed; None
    when they cannot be known
    (no earlier link, or Graph refused it: ``note`` says which). ``link``: None when Graph gave
    none (the next collection then reads this collection in full)."""

    collection: str
    link: str | None
    changed: frozenset[str] | None
    note: str = ""


async def track_all(client: GraphClient, earlier: Mapping[str, str] | None) -> dict[str, Tracked]:
    """Every delta collection at once, each from its earlier link (``earlier``) if any."""
    links = earlier or {}
    found = await asyncio.gather(*(track(client, c, links.get(c)) for c in DELTA_COLLECTIONS))
    return {tracked.collection: tracked for tracked in found}


async def track(client: GraphClient, collection: str, earlier_link: str | None) -> Tracked:
    if not earlier_link:
        note = "no earlier delta link, read in full"
    elif not client.endpoint.same_origin(earlier_link):
        # A state file is input: a link elsewhere would be sent the token. Never followed.
        elsewhere = origin_of(earlier_link) or "a URL without scheme and host"
        note = (
            f"its delta link points to {elsewhere}, not to the Graph endpoint "
            f"{client.endpoint.origin}: not followed, read in full"
        )
    elif not names_collection(earlier_link, collection):
        note = f"its delta link is not one of {collection}/delta, read in full"
    else:
        try:
            changed, link = await _changes(client, collection, earlier_link)
            return Tracked(collection, link, changed)
        except GraphError as error:
            note = f"its delta link was refused ({_why(error)}), read in full"
    return Tracked(collection, await _latest(client, collection), None, note)


def names_collection(link: str, collection: str) -> bool:
    """A link of this collection's delta function (a state file is input: a link swapped
    between collections would report another collection's changes)."""
    path = urlsplit(link).path.rstrip("/").lower().removesuffix("()")
    name = collection.lower()
    return path.endswith((f"/{name}/delta", f"/{name}/microsoft.graph.delta"))


async def _changes(client: GraphClient, collection: str, link: str) -> tuple[frozenset[str], str]:
    """The ids on every page of a round, and the round's new deltaLink."""
    path = f"{collection}/delta"
    guard = PageGuard(path)
    changed: set[str] = set()
    page = await client.get_link(path, link)
    while True:
        items, next_link = guard.accept(page)
        changed.update(_keys(items))
        if next_link is None:
            return frozenset(changed), _delta_link(page, path)
        page = await client.get_link(path, next_link)


def _keys(items: list[JsonObject]) -> set[str]:
    """Each changed object's id, and its appId where it has one: an application registered
    (or restored) for a service principal that had none is known only by its appId."""
    keys = {str(item.get(name, "")).lower() for item in items for name in ("id", "appId")}
    keys.discard("")
    return keys


async def _latest(client: GraphClient, collection: str) -> str | None:
    """A link to now, with no objects; None when Graph gives none (delta is then unused)."""
    params = {"$select": TRACKED_PROPERTIES[collection], "$deltatoken": "latest"}
    path = f"{collection}/delta"
    try:
        page = await client.get(path, params, "v1.0")
        return _delta_link(page, path)
    except GraphError:
        return None


def _delta_link(page: JsonObject, path: str) -> str:
    link = page.get("@odata.deltaLink")
    if not isinstance(link, str) or not link:
        raise GraphError(f"GET {path}: the last page carries no @odata.deltaLink", path=path)
    return link


def _why(error: GraphError) -> str:
    return f"HTTP {error.status} {error.code}".strip() if error.status else error.message
