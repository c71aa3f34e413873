"""Shared pieces of the approval tests: the tenant, a fixture clock, and emulator helpers.

No tests here. The tenant has an app-only automation identity, an excluded app, a delegated
requester and a delegated approver (a direct member of the approver group), as in
``test_emulator_maa.py``.
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from maa_guard.approval import ApprovalClient, StateStore
from maa_guard.collect import StaticTokenCredential, resolve_endpoint
from maa_guard.emulator import Emulator

START = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
REQUESTS = "/beta/deviceManagement/operationApprovalRequests"
APP_URL = "/deviceAppManagement/mobileApps/m1"
MODES = ("403", "412")
SECRET_TOKEN = "eyJ0eXAi.secret-bearer-5f2a9c.sig"
WRITE_ROLES = [
    "DeviceManagementApps.ReadWrite.All",
    "DeviceManagementRBAC.ReadWrite.All",
    "DeviceManagementConfiguration.ReadWrite.All",
]


def _user(user_id: str) -> dict[str, Any]:
    return {"kind": "user", "userId": user_id, "appId": "portal", "scp": " ".join(WRITE_ROLES)}


_FIXTURE: dict[str, Any] = {
    "tenant": {"id": "t1"},
    "tokens": {
        "automation": {"kind": "application", "appId": "auto-app", "roles": WRITE_ROLES},
        SECRET_TOKEN: {"kind": "application", "appId": "auto-app", "roles": WRITE_ROLES},
        "other-app": {"kind": "application", "appId": "other-app", "roles": WRITE_ROLES},
        "excluded": {"kind": "application", "appId": "excluded-app", "roles": WRITE_ROLES},
        "reader": {
            "kind": "application",
            "appId": "reader-app",
            "roles": ["DeviceManagementApps.Read.All", "DeviceManagementRBAC.Read.All"],
        },
        "requester": _user("requester"),
        "approver": _user("approver"),
    },
    "collections": {
        "deviceManagement/operationApprovalPolicies": [
            {
                "id": "p-app",
                "displayName": "Apps",
                "policyType": "app",
                "approverGroupIds": ["g-approvers"],
                "excludedApplicationIds": ["excluded-app"],
            },
            {"id": "p-script", "policyType": "script", "approverGroupIds": ["g-approvers"]},
        ],
        "deviceManagement/operationApprovalRequests": [],
        "deviceManagement/auditEvents": [],
        "deviceManagement/deviceManagementScripts": [],
        "deviceManagement/deviceCategories": [],
        "deviceAppManagement/mobileApps": [
            {"id": "m1", "displayName": "Company Portal"},
            {"id": "m2", "displayName": "Edge"},
        ],
        "groups": [{"id": "g-approvers"}],
        "users": [
            {"id": "requester", "displayName": "Rita", "userPrincipalName": "rita@x"},
            {"id": "approver", "displayName": "Abe", "userPrincipalName": "abe@x"},
        ],
        "servicePrincipals": [
            {"id": "sp-auto", "appId": "auto-app", "displayName": "Automation"},
            {"id": "sp-excluded", "appId": "excluded-app", "displayName": "Excluded"},
        ],
    },
    "relationships": {
        "groups/{id}/members": {
            "g-approvers": [{"@odata.type": "#microsoft.graph.user", "id": "approver"}]
        }
    },
}


def tenant_fixture() -> dict[str, Any]:
    return copy.deepcopy(_FIXTURE)


class Clock:
    """The emulator's ``now``: moved by tests, never by sleeping."""

    def __init__(self) -> None:
        self.moment = START

    def __call__(self) -> datetime:
        return self.moment


@contextmanager
def running(mode: str, clock: Clock, **options: Any) -> Iterator[Emulator]:
    """The tenant in ``mode``; ``options`` go to :class:`Emulator` (``faults=...``)."""
    with Emulator(
        tenant_fixture(),
        throttle=False,
        approval_mode=mode,
        now=clock,
        **options,
        fixed_tokens=True,
    ) as e:
        yield e


def hold_filed_replies(emulator: Emulator, hook: Any) -> None:
    """``hook(code)`` runs after a request is filed, before its reply leaves (``after_filing``)."""
    emulator.service.writes.after_filing = hook


def client_for(
    emulator: Emulator, state: StateStore, token: str = "automation", **options: Any
) -> ApprovalClient:
    endpoint = resolve_endpoint("global", emulator.url)
    return ApprovalClient(StaticTokenCredential(token), endpoint, state, **options)


def graph(
    emulator: Emulator,
    method: str,
    path: str,
    token: str,
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    """A raw call, as the approver's browser or another tool would make it."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client() as http:
        return http.request(method, f"{emulator.url}{path}", headers=headers, json=body)


def decide(emulator: Emulator, code: str, verb: str = "approve", token: str = "approver") -> int:
    response = graph(emulator, "POST", f"{REQUESTS}/{code}/{verb}", token, {"justification": "ok"})
    return response.status_code


def service_requests(emulator: Emulator) -> list[dict[str, Any]]:
    return list(graph(emulator, "GET", REQUESTS, "approver").json()["value"])


def app_name(emulator: Emulator, app_id: str = "m1") -> str:
    path = f"/beta/deviceAppManagement/mobileApps/{app_id}"
    return str(graph(emulator, "GET", path, "automation").json()["displayName"])


def writes_sent(emulator: Emulator) -> list[tuple[str, str, str | None, str | None]]:
    """(method, path, justification header?, code header?) of every write the emulator saw,
    except a person's approve and reject actions."""
    return [
        (
            r.method,
            r.path,
            r.headers.get("x-msft-approval-justification"),
            r.headers.get("x-msft-approval-code"),
        )
        for r in emulator.requests
        if r.method != "GET" and not r.path.endswith(("/approve", "/reject"))
    ]


def rows(path: Path) -> list[dict[str, Any]]:
    """The state file's rows, read with plain sqlite3 (read-only)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute("SELECT * FROM changes ORDER BY created")]


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder`` with its bytes: 'untouched' means this is equal before and after."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
