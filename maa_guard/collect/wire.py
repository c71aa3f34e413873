"""Graph's wire format: error bodies, Retry-After, $batch answers. Pure functions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from maa_guard.collect.errors import GraphError, PermissionDeniedError
from maa_guard.collect.paging import JsonObject
from maa_guard.collect.permissions import permission_for


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One inner response of ``$batch``: ``body`` is the parsed JSON (or ``{}``)."""

    path: str
    status: int
    body: JsonObject
    retry_after: float | None = None

    def error(self) -> GraphError:
        return graph_error(self.path, self.status, self.body)


def graph_error(path: str, status: int, body: Mapping[str, Any]) -> GraphError:
    """The typed error for a final non-2xx answer; 403 names the permission to grant."""
    error = body.get("error") if isinstance(body, Mapping) else None
    code = str(error.get("code", "")) if isinstance(error, Mapping) else ""
    message = str(error.get("message", "")) if isinstance(error, Mapping) else ""
    text = f"GET {path}: HTTP {status}" + (f" {code}" if code else "")
    if status == 403:
        permission = permission_for(path)
        return PermissionDeniedError(
            text + (f"; missing permission {permission}" if permission else ""),
            status=status,
            code=code,
            path=path,
            permission=permission,
            hint=f"grant the application permission {permission} and admin consent"
            if permission
            else "check the application's Graph permissions",
        )
    hint = "the token was rejected; check --auth and the tenant" if status == 401 else ""
    return GraphError(
        text + (f": {message[:200]}" if message else ""),
        status=status,
        code=code,
        path=path,
        hint=hint,
    )


def expired_page_token(error: GraphError) -> bool:
    return error.status in (400, 410) and "expiredpagetoken" in error.code.lower().replace("_", "")


def parse_json(content: bytes) -> JsonObject | None:
    if not content:
        return {}
    try:
        value = json.loads(content)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def query_of(path: str) -> dict[str, str]:
    if "?" not in path:
        return {}
    pairs = (part.split("=", 1) for part in path.split("?", 1)[1].split("&") if part)
    return {pair[0]: (pair[1] if len(pair) > 1 else "") for pair in pairs}


def batch_answers(body: Mapping[str, Any], items: Mapping[int, str]) -> dict[int, BatchItem]:
    answers: dict[int, BatchItem] = {}
    for response in body.get("responses", []) or []:
        if not isinstance(response, dict):
            continue
        index = int(str(response.get("id", "-1"))) if str(response.get("id", "")).isdigit() else -1
        if index not in items:
            continue
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        inner = response.get("body")
        answers[index] = BatchItem(
            items[index],
            int(response.get("status", 0)),
            inner if isinstance(inner, dict) else {},
            retry_after_seconds(str(headers["retry-after"])) if "retry-after" in headers else None,
        )
    missing = {i: BatchItem(p, 599, {}) for i, p in items.items() if i not in answers}
    return {**answers, **missing}
