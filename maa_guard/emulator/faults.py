"""Faults on demand. Every key is optional; route keys match a route and everything below it.

``rate_5xx`` (0..1) answers that fraction of calls with ``status_5xx`` (503), optionally only on
``routes_5xx``, drawn from a generator seeded by ``seed``. ``reset``, ``truncate``,
``expire_skiptoken``, ``expire_deltatoken``, ``empty_page``, ``loop`` and ``duplicate`` take a
list of routes (the fault fires once per route) or a mapping route -> times. ``no_delta`` lists
routes whose delta query is not supported. ``script`` maps a route to a list of statuses
answered in order before normal service. ``deny`` maps a route to a permission the token is taken
to lack there. See ``docs/emulator.md``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from typing import Any

from maa_guard.errors import UsageError

COUNTED = (
    "reset",
    "truncate",
    "expire_skiptoken",
    "expire_deltatoken",
    "empty_page",
    "loop",
    "duplicate",
)
KNOWN = frozenset(
    {*COUNTED, "rate_5xx", "status_5xx", "routes_5xx", "seed", "script", "deny", "no_delta"}
)


def route_matches(key: str, template: str) -> bool:
    key, template = key.strip("/").lower(), template.lower()
    return template == key or template.startswith(key + "/")


class Faults:
    def __init__(self, spec: Mapping[str, Any] | None = None) -> None:
        spec = dict(spec or {})
        unknown = set(spec) - KNOWN
        if unknown:
            raise ValueError(f"unknown fault kinds: {', '.join(sorted(unknown))}")
        self.rate_5xx = float(spec.get("rate_5xx", 0.0))
        self.status_5xx = int(spec.get("status_5xx", 503))
        self.routes_5xx = tuple(str(r) for r in spec.get("routes_5xx", ()))
        self.no_delta = _routes(spec.get("no_delta", ()))
        self.deny = {str(k): str(v) for k, v in dict(spec.get("deny", {})).items()}
        self._random = random.Random(int(spec.get("seed", 0)))  # noqa: S311 - not crypto
        self._counts = {kind: _counts(spec.get(kind, ())) for kind in COUNTED}
        self._script = {
            str(k): [int(s) for s in v] for k, v in dict(spec.get("script", {})).items()
        }
        self._lock = threading.Lock()

    def take(self, kind: str, template: str) -> bool:
        """Whether fault ``kind`` fires for this route now (uses up one occurrence)."""
        with self._lock:
            counts = self._counts[kind]
            for key, left in counts.items():
                if left > 0 and route_matches(key, template):
                    counts[key] = left - 1
                    return True
        return False

    def scripted_status(self, template: str) -> int | None:
        with self._lock:
            for key, statuses in self._script.items():
                if statuses and route_matches(key, template):
                    return statuses.pop(0)
        return None

    def server_error(self, template: str) -> bool:
        if self.rate_5xx <= 0:
            return False
        if self.routes_5xx and not any(route_matches(k, template) for k in self.routes_5xx):
            return False
        with self._lock:
            return self._random.random() < self.rate_5xx

    def denied(self, template: str) -> frozenset[str]:
        return frozenset(p for key, p in self.deny.items() if route_matches(key, template))

    def delta_off(self, template: str) -> bool:
        return any(route_matches(key, template) for key in self.no_delta)


def _routes(raw: Any) -> tuple[str, ...]:
    return (raw,) if isinstance(raw, str) else tuple(str(route) for route in raw)


def _counts(raw: Any) -> dict[str, int]:
    if isinstance(raw, Mapping):
        return {str(k): int(v) for k, v in raw.items()}
    if isinstance(raw, str):
        return {raw: 1}
    return {str(route): 1 for route in raw}


def faults_from_options(options: list[str]) -> dict[str, Any]:
    """``--fault`` values for the CLI: ``rate_5xx=0.1``, ``status_5xx=500``, ``seed=3``,
    ``routes_5xx=groups``, ``reset=groups`` (repeatable; ``reset=groups:3`` for three times),
    ``script=groups:429,503``, ``deny=auditLogs/signIns:AuditLog.Read.All``, ``no_delta=users``."""
    spec: dict[str, Any] = {}
    for option in options:
        kind, separator, value = option.partition("=")
        if not separator or kind not in KNOWN:
            raise UsageError(
                f"--fault {option!r}: expected KIND=VALUE",
                f"KIND is one of {', '.join(sorted(KNOWN))}; see docs/emulator.md",
            )
        _add_option(spec, kind, value)
    return spec


def _add_option(spec: dict[str, Any], kind: str, value: str) -> None:
    route, _, extra = value.rpartition(":") if ":" in value else (value, "", "")
    if kind in ("rate_5xx",):
        spec[kind] = float(value)
    elif kind in ("status_5xx", "seed"):
        spec[kind] = int(value)
    elif kind in ("routes_5xx", "no_delta"):
        spec.setdefault(kind, []).append(value)
    elif kind == "script":
        spec.setdefault(kind, {})[route] = [int(s) for s in extra.split(",") if s]
    elif kind == "deny":
        spec.setdefault(kind, {})[route] = extra
    else:
        spec.setdefault(kind, {})[route or value] = int(extra) if extra else 1
