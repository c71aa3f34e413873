"""Check functions, one per catalogue rule, registered by rule ID.

Part of evaluation: imports ``evaluate.context``, ``snapshot``, ``exclusions``, ``workloads``
and ``model``; never ``collect``, ``reporters``, ``scan`` or ``cli``.

A check is a pure function ``check(context, parameters) -> iterable of Outcome``. The engine
decides ``error`` for missing data before calling it, so a check only sees complete sources.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from maa_guard.evaluate.context import Context
from maa_guard.model import Outcome, Resource, Severity, Status

CheckFunction = Callable[[Context, Mapping[str, Any]], Iterable[Outcome]]
_AREA_MODULES = ("coverage", "approvers", "requests", "exclusions", "automation")
_REGISTRY: dict[str, CheckFunction] = {}


def check(rule_id: str) -> Callable[[CheckFunction], CheckFunction]:
    def register(function: CheckFunction) -> CheckFunction:
        if rule_id in _REGISTRY:
            raise RuntimeError(f"two checks registered for {rule_id}")
        _REGISTRY[rule_id] = function
        return function

    return register


def all_checks() -> dict[str, CheckFunction]:
    for module in _AREA_MODULES:
        importlib.import_module(f"{__name__}.{module}")
    return dict(_REGISTRY)


def passed(resource: Resource, message: str, **evidence: Any) -> Outcome:
    return Outcome(Status.PASS, resource, message, evidence)


def failed(
    resource: Resource, message: str, *, severity: Severity | None = None, **evidence: Any
) -> Outcome:
    return Outcome(Status.FAIL, resource, message, evidence, severity)


def skipped(resource: Resource, reason: str) -> Outcome:
    return Outcome(Status.SKIPPED, resource, reason)


def unverified(resource: Resource, reason: str, **evidence: Any) -> Outcome:
    return Outcome(Status.ERROR, resource, reason, evidence)
