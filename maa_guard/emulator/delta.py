"""Graph delta queries on users, groups, servicePrincipals and applications.

``GET /{collection}/delta`` starts a round: every object, paged by ``@odata.nextLink``, the last
page carrying ``@odata.deltaLink``. Following that link returns what changed since (the
current state of each changed object, ``{"id", "@removed": {"reason": "changed"}}`` for each
deleted one), paged the same way. ``$deltatoken=latest`` answers a link for "now" and no objects.
As Graph, the state tokens carry the first request's ``$select``; they are signed like the skip
tokens of a collection. https://learn.microsoft.com/en-us/graph/delta-query-overview
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from maa_guard.emulator import odata
from maa_guard.emulator.changelog import Change
from maa_guard.emulator.reads import ReadContext
from maa_guard.emulator.routes import Target
from maa_guard.emulator.tenant import Tenant
from maa_guard.emulator.wire import Call, Json, Reply, error

_SKIP, _DELTA = "$skiptoken", "$deltatoken"
_REMOVED = {"reason": "changed"}  # a soft delete, as Graph reports one


@dataclass(frozen=True, slots=True)
class State:
    """Where a round stands. ``since`` is None in a full round, else the sequence of the change
    log the round reports changes after; ``upto`` the sequence it reports up to (the next
    deltaLink's ``since``); ``epoch`` the change log's epoch when the round began."""

    collection: str
    since: int | None
    upto: int
    offset: int
    epoch: int
    select: tuple[str, ...] | None
    size: int


def read(context: ReadContext, call: Call, target: Target) -> Reply:
    """The page for this delta request, or Graph's error for it."""
    if not context.tenant.changes.delta_enabled or context.faults.delta_off(target.template):
        return error(
            400, "Request_UnsupportedQuery", "Delta query is not supported on this resource."
        )
    if "$filter" in call.query or "$orderby" in call.query or "$expand" in call.query:
        return error(
            400, "Request_UnsupportedQuery", "The emulator's delta query takes $select and $top."
        )
    state = _state(context, call, target)
    if isinstance(state, Reply):
        return state
    if call.query.get(_DELTA) == "latest":
        return Reply(200, _body(context, call, state, [], _DELTA, state))
    return _page(context, call, state)


def _state(context: ReadContext, call: Call, target: Target) -> State | Reply:
    top = odata.page_size(call.query, "directory")  # the default when there is no $top
    if isinstance(top, Reply):
        return top
    with context.tenant.lock:
        now, epoch = context.tenant.changes.sequence, context.tenant.changes.epoch
    skip, delta = call.query.get(_SKIP), call.query.get(_DELTA)
    if skip is not None and delta is not None:
        return _invalid()
    if delta == "latest" or (skip is None and delta is None):
        select = odata.parse_select(call.query)
        since = now if delta == "latest" else None
        return State(target.collection, since, now, 0, epoch, select, top)
    kind, token = (_SKIP, skip) if skip is not None else (_DELTA, delta)
    state = _decode(context, kind, token or "")
    if state is None or state.collection != target.collection:
        return _invalid()
    if state.epoch != epoch or context.faults.take("expire_deltatoken", target.template):
        return error(
            410,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must "
            "be synchronized again.",
        )
    size = top if "$top" in call.query else state.size  # a link keeps its round's page size
    if kind == _DELTA:  # a new round of the changes since the token's round
        return replace(state, upto=now, offset=0, size=size)
    return replace(state, size=size)


def _page(context: ReadContext, call: Call, state: State) -> Reply:
    tenant = context.tenant
    end = state.offset + state.size
    with tenant.lock:
        if state.since is None:
            items = tenant.collections.get(state.collection, [])
            total, page = len(items), [dict(item) for item in items[state.offset : end]]
        else:
            changes = tenant.changes.since(state.collection, state.since, state.upto)
            total, page = len(changes), _changed(tenant, changes[state.offset : end])
    values = _selected(page, state.select)
    if end < total:
        return Reply(200, _body(context, call, state, values, _SKIP, replace(state, offset=end)))
    following = replace(state, since=state.upto, offset=0)
    return Reply(200, _body(context, call, state, values, _DELTA, following))


def _changed(tenant: Tenant, changes: list[Change]) -> list[Json]:
    """Each changed object as it is now; a deleted one (or one gone since) as removed."""
    page: list[Json] = []
    for change in changes:
        item = None if change.removed else tenant.find(change.collection, change.id)
        page.append({"id": change.id, "@removed": dict(_REMOVED)} if item is None else dict(item))
    return page


def _selected(page: list[Json], select: tuple[str, ...] | None) -> list[Json]:
    """``$select`` on the objects (profiles serve these collections as they are)."""
    return [item if "@removed" in item else odata.project(item, select) for item in page]


def _body(
    context: ReadContext, call: Call, state: State, values: list[Json], kind: str, link: State
) -> Json:
    origin = call.origin or context.base_url()
    name = state.collection
    if state.select is not None:
        name += "(" + ",".join(state.select) + ")"
    url = f"{origin}/{call.version}/{state.collection}/delta?{kind}={_encode(context, kind, link)}"
    return {
        "@odata.context": f"{origin}/{call.version}/$metadata#{name}",
        "value": values,
        "@odata.nextLink" if kind == _SKIP else "@odata.deltaLink": url,
    }


def _invalid() -> Reply:
    return error(400, "BadRequest", "The state token is not valid: send the link as received.")


# ---- state tokens: opaque to clients, signed so a forged or edited one is refused ------------


def _encode(context: ReadContext, kind: str, state: State) -> str:
    payload = json.dumps(asdict(state), separators=(",", ":")).encode()
    text = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{text}.{_signature(context, kind, text)}"


def _signature(context: ReadContext, kind: str, text: str) -> str:
    return hmac.new(context.secret, f"{kind}|{text}".encode(), hashlib.sha256).hexdigest()[:24]


def _decode(context: ReadContext, kind: str, token: str) -> State | None:
    text, _, signature = token.partition(".")
    if not hmac.compare_digest(signature.encode(), _signature(context, kind, text).encode()):
        return None
    try:
        raw: Any = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        select = raw["select"]
        return State(
            str(raw["collection"]),
            None if raw["since"] is None else int(raw["since"]),
            int(raw["upto"]),
            int(raw["offset"]),
            int(raw["epoch"]),
            None if select is None else tuple(str(name) for name in select),
            int(raw["size"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
