"""``POST /$batch``: at most 20 requests, unique ids, ``dependsOn``, a status per item."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from maa_guard.emulator.wire import Call, Json, Reply, error

MAX_REQUESTS = 20

Handle = Callable[[Call], Reply]


def run(handle: Handle, call: Call) -> Reply:
    """Run each item through ``handle`` (the service's own request handler), in order."""
    if call.method != "POST":
        return error(405, "BadRequest", "The $batch endpoint accepts POST only.")
    items = _requests(call.body)
    if isinstance(items, Reply):
        return items
    results: dict[str, Json] = {}
    faults: list[str] = []
    for item in items:
        results[str(item["id"])] = _run_item(handle, call, item, results, faults)
    body = {"responses": [results[str(item["id"])] for item in items]}
    return Reply(200, body, fault=faults[0] if faults else None)


def _requests(body: bytes) -> list[Json] | Reply:
    try:
        parsed = json.loads(body or b"null")
    except ValueError:
        return error(400, "BadRequest", "Invalid batch payload format.")
    items = parsed.get("requests") if isinstance(parsed, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return error(400, "BadRequest", "Invalid batch payload format.")
    if len(items) > MAX_REQUESTS:
        return error(
            400, "BadRequest", f"Too many requests in the batch. Maximum is {MAX_REQUESTS}."
        )
    return _validate(items)


def _validate(items: list[Json]) -> list[Json] | Reply:
    seen: set[str] = set()
    for item in items:
        if not all(isinstance(item.get(key), str) for key in ("id", "method", "url")):
            return error(400, "BadRequest", "Each request needs string id, method and url.")
        if item["id"] in seen:
            return error(400, "BadRequest", f"Batch request ids must be unique: '{item['id']}'.")
        depends = item.get("dependsOn", [])
        if not isinstance(depends, list) or any(d not in seen for d in depends):
            return error(400, "BadRequest", "dependsOn must name earlier requests in the batch.")
        if "body" in item and not _has_content_type(item.get("headers")):
            return error(400, "BadRequest", "A request with a body needs a Content-Type header.")
        seen.add(item["id"])
    return items


def _has_content_type(headers: Any) -> bool:
    return isinstance(headers, dict) and any(k.lower() == "content-type" for k in headers)


def _run_item(
    handle: Handle, outer: Call, item: Json, results: Mapping[str, Json], faults: list[str]
) -> Json:
    """An item's reset or truncate fault breaks the whole batch response."""
    failed = [d for d in item.get("dependsOn", []) if results[d]["status"] >= 400]
    if failed:
        reply = error(424, "FailedDependency", "The dependent request failed.")
    else:
        reply = handle(_inner_call(outer, item))
    if reply.fault:
        faults.append(reply.fault)
    return {"id": item["id"], "status": reply.status, "headers": reply.headers, "body": reply.body}


def _inner_call(outer: Call, item: Json) -> Call:
    parts = urlsplit(item["url"])
    path = parts.path.lstrip("/")
    version = outer.version
    for prefix in ("beta/", "v1.0/"):
        if path.startswith(prefix):
            version, path = prefix.rstrip("/"), path[len(prefix) :]
    headers = {k.lower(): str(v) for k, v in dict(item.get("headers") or {}).items()}
    if "authorization" in outer.headers:
        headers["authorization"] = outer.headers["authorization"]
    body = item.get("body")
    raw = b"" if body is None else json.dumps(body).encode()
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    method = item["method"].upper()
    return Call(method, version, path, query, parts.query, headers, raw, True, outer.origin)
