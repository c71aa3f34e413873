"""GET: collections with opaque skip tokens, entities, relationships and singletons."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from maa_guard.emulator import audit, odata
from maa_guard.emulator.faults import Faults
from maa_guard.emulator.profiles import Profile, profile_named
from maa_guard.emulator.routes import Target
from maa_guard.emulator.tenant import Tenant
from maa_guard.emulator.wire import Call, Json, Reply, error


class ListCache:
    """Filtered item lists by (route, parent, cast, filter, tenant generation): one pass over a
    large collection per filter, not one per page."""

    def __init__(self, size: int = 64) -> None:
        self._items: OrderedDict[tuple[object, ...], list[Json]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> list[Json] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[object, ...], items: list[Json]) -> None:
        with self._lock:
            self._items[key] = items
            while len(self._items) > self._size:
                self._items.popitem(last=False)


@dataclass(frozen=True, slots=True)
class ReadContext:
    tenant: Tenant
    faults: Faults
    secret: bytes
    base_url: Callable[[], str]
    profile: Profile = field(default_factory=lambda: profile_named("default"))
    cache: ListCache = field(default_factory=ListCache)


def read(context: ReadContext, call: Call, target: Target) -> Reply:
    if target.kind in ("collection", "relationship"):
        return _page(context, call, target)
    if target.kind == "function":
        return _function(context, call, target)
    with context.tenant.lock:
        item = _single(context.tenant, target)
    body = {"@odata.context": _context_url(context, call, target)}
    body.update(_entity_view(context, item, target, call))
    return Reply(200, body)


def _function(context: ReadContext, call: Call, target: Target) -> Reply:
    """The audit-log functions: a collection of strings."""
    with context.tenant.lock:
        events = list(context.tenant.collections.get(target.collection, []))
    if target.relationship == "getAuditCategories":
        values = audit.categories(events)
    else:
        values = audit.activity_types(events, target.item_id)
    root = f"{_origin(context, call)}/{call.version}/$metadata#"
    return Reply(200, {"@odata.context": root + "Collection(Edm.String)", "value": values})


def _single(tenant: Tenant, target: Target) -> Json:
    if target.kind == "singleton":
        return dict(tenant.singletons[target.template])
    found = tenant.find(target.collection, target.item_id)
    return dict(found or {})


def _entity_view(context: ReadContext, item: Json, target: Target, call: Call) -> Json:
    exclusions = context.tenant.exclusions_property
    item = context.profile.served(target.collection, [item], exclusions)[0]
    if not odata.include_unknown_enums(call.header("prefer")):
        item = odata.mask_enums(target.collection, [item])[0]
    return odata.project(item, odata.parse_select(call.query))


def _items(tenant: Tenant, target: Target) -> list[Json]:
    with tenant.lock:
        if target.kind == "collection":
            items = list(tenant.collections[target.collection])
        else:
            items = list(tenant.relationships[target.relationship].get(target.item_id.lower(), []))
    if target.cast:
        wanted = "#" + target.cast.lower()
        items = [i for i in items if str(i.get("@odata.type", "")).lower() == wanted]
    return items


def _page(context: ReadContext, call: Call, target: Target) -> Reply:
    size = odata.page_size(call.query, target.endpoint_class)
    if isinstance(size, Reply):
        return size
    items = _filtered(context, call, target)
    if isinstance(items, Reply):
        return items
    offset = _offset(context, call, target)
    if isinstance(offset, Reply):
        return offset
    return Reply(200, _page_body(context, call, target, items, offset, size))


def _filtered(context: ReadContext, call: Call, target: Target) -> list[Json] | Reply:
    text = call.query.get("$filter")
    predicate = None if text is None else odata.parse_filter(text, target.template)
    if isinstance(predicate, Reply):
        return predicate
    key = (target.template, target.item_id.lower(), target.cast, text, context.tenant.generation)
    cached = context.cache.get(key)
    if cached is not None:
        return cached
    plan = None
    if text is not None and target.kind == "collection" and not target.cast:
        plan = odata.ranged(text, target.template)
    if plan is not None:
        span, rest = plan
        items = _dated(context.tenant, target, span)
        if rest is not None:
            items = [item for item in items if rest(item)]
    else:
        items = _items(context.tenant, target)
        if predicate is not None:
            items = [item for item in items if predicate(item)]
    context.cache.put(key, items)
    return items


def _dated(tenant: Tenant, target: Target, span: odata.TimeRange) -> list[Json]:
    """A date-range filter's items by bisecting the collection sorted by that date."""
    with tenant.lock:
        order = tenant.by_time(target.collection, span.prop)
        return order.between(span.low, span.low_open, span.high, span.high_open)


def _page_body(
    context: ReadContext, call: Call, target: Target, items: list[Json], offset: int, size: int
) -> Json:
    faults, template = context.faults, target.template
    if faults.take("empty_page", template):
        return _body(context, call, target, [], offset)
    page = items[offset : offset + size]
    following = offset + len(page)
    if faults.take("loop", template):
        following = offset
    elif len(page) > 1 and following < len(items) and faults.take("duplicate", template):
        following -= 1
    if target.kind == "collection":
        page = context.profile.served(target.collection, page, context.tenant.exclusions_property)
    if not odata.include_unknown_enums(call.header("prefer")):
        page = odata.mask_enums(target.collection, page)
    select = odata.parse_select(call.query)
    values = [odata.project(item, select) for item in page]
    return _body(context, call, target, values, following if following < len(items) else None)


def _body(
    context: ReadContext, call: Call, target: Target, values: list[Json], following: int | None
) -> Json:
    body: Json = {"@odata.context": _context_url(context, call, target), "value": values}
    if following is not None:
        body["@odata.nextLink"] = _next_link(context, call, following)
    return body


def _origin(context: ReadContext, call: Call) -> str:
    """Where this request came in (links lead back the same way), else the emulator's URL."""
    return call.origin or context.base_url()


def _context_url(context: ReadContext, call: Call, target: Target) -> str:
    root = f"{_origin(context, call)}/{call.version}/$metadata#"
    select = odata.parse_select(call.query)
    if target.kind == "relationship":
        return root + "directoryObjects"
    name = target.template if target.kind == "singleton" else target.collection
    if select is not None:
        name += "(" + ",".join(select) + ")"
    return root + name + ("/$entity" if target.kind == "entity" else "")


# ---- skip tokens: opaque to clients, signed so a forged or edited one is refused --------------


def _token(context: ReadContext, call: Call, offset: int) -> str:
    raw = f"{offset}:{_signature(context, call, offset)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _signature(context: ReadContext, call: Call, offset: int) -> str:
    scope = f"{call.path.lower()}|{call.query.get('$filter', '')}|{offset}".encode()
    return hmac.new(context.secret, scope, hashlib.sha256).hexdigest()[:20]


def _offset(context: ReadContext, call: Call, target: Target) -> int | Reply:
    token = call.query.get("$skiptoken")
    if token is None:
        return 0
    offset = _decode_token(context, call, token)
    if offset is None or context.faults.take("expire_skiptoken", target.template):
        return error(
            400,
            "Directory_ExpiredPageToken",
            "The specified page token value has expired and can no longer be included in "
            "your request.",
        )
    return offset


def _decode_token(context: ReadContext, call: Call, token: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset_text, signature = raw.split(":", 1)
        offset = int(offset_text)
    except ValueError:
        return None
    if not hmac.compare_digest(signature, _signature(context, call, offset)):
        return None
    return offset


def _next_link(context: ReadContext, call: Call, offset: int) -> str:
    pairs = [(k, v) for k, v in call.query.items() if k != "$skiptoken"]
    pairs.append(("$skiptoken", _token(context, call, offset)))
    query = "&".join(f"{k}={quote(v, safe=_SAFE)}" for k, v in pairs)
    return f"{_origin(context, call)}/{call.version}/{call.path}?{query}"


_SAFE = "$,'():=/-"
