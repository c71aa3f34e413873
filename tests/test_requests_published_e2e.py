"""MAA301-MAA305 end to end: the real collector over loopback HTTP against the emulator.

An automation app files a write (MAA answers 412 with a code), a delegated approver approves
it, the app completes it with the code; a second write stays pending. In the ``published``
profile Graph shows ``requestor`` and ``approver`` as null, so the identities come from the MAA
audit events; in the ``default`` profile from Graph. The findings are the same either way; only
the evidence says where each identity came from. Also: a request no audit event names, a
malformed request and a refused ``$select``, and a lost approval code found again by the
request's ``payloadId`` and ``payloadOperation``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from builders import (
    TENANT_ID,
    Json,
    add_policy,
    add_sp,
    approver_group,
    new_snapshot,
)
from test_approval_support import APP_URL, START, Clock, client_for, rows, running

from maa_guard.approval import Phase, StateStore, TrackedChange
from maa_guard.approval.state import StoredChange
from maa_guard.catalogue import load_catalogue
from maa_guard.checks import all_checks
from maa_guard.collect import GraphClient, StaticTokenCredential, collect, resolve_endpoint
from maa_guard.config import Settings
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.emulator.fixture_parts import fixture_id
from maa_guard.evaluate.engine import ScanResult, evaluate
from maa_guard.gate.decision import exit_code
from maa_guard.model import SourceState, Status
from maa_guard.snapshot import MalformedItem, Snapshot, SourceStatus
from maa_guard.snapshot.file import parse_snapshot, snapshot_to_json

COLLECTED_AT = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
FILED_AT = COLLECTED_AT - timedelta(hours=2)
TODAY = date(2026, 11, 1)
REQUESTS = "deviceManagement/operationApprovalRequests"
APPS = "deviceAppManagement/mobileApps"
AUTOMATION = "app-automation"
APPROVER = "u-approver"
PORTAL_APP = fixture_id(TENANT_ID, "mobileApp", "company-portal")
API = "Microsoft.Management.Services.Api."
REQUEST_RULES = ("MAA301", "MAA302", "MAA303", "MAA304", "MAA305")
PASS, SKIPPED, ERROR = Status.PASS, Status.SKIPPED, Status.ERROR


def tenant_fixture() -> Json:
    """An app policy approved by grp-apps (u-approver, u-other); the automation app may write
    apps; no request yet."""
    snap = new_snapshot()
    add_policy(snap, "p-app", "app", approvers=["grp-apps"])
    approver_group(snap, "grp-apps", [APPROVER, "u-other"])
    add_sp(snap, AUTOMATION, name="Nightly automation")
    return fixture_from_snapshot(parse_snapshot(snap))


@pytest.fixture(params=["published", "default"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(
        tenant_fixture(),
        profile=request.param,
        throttle=False,
        now=lambda: FILED_AT,
        fixed_tokens=True,
    ) as served:
        yield served


def _send(emulator: Emulator, method: str, path: str, token: str, **options: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **options.pop("headers", {})}
    url = f"{emulator.url}/beta/{path}"
    return httpx.request(method, url, headers=headers, timeout=30, **options)


def _file(emulator: Emulator, method: str, path: str, text: str, body: Json | None) -> str:
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    headers = {"x-msft-approval-justification": encoded}
    answer = _send(
        emulator, method, path, graphroles.app_token(AUTOMATION), headers=headers, json=body
    )
    assert answer.status_code == 412, answer.text
    return answer.headers["x-msft-approval-code"]


def _approve_and_complete(emulator: Emulator, code: str, body: Json) -> None:
    approve = f"{REQUESTS}/{code}/approve"
    decision = {"justification": "checked with the app owner", "approvalSource": "adminConsole"}
    answer = _send(emulator, "POST", approve, graphroles.user_token(APPROVER), json=decision)
    assert answer.status_code == 200, answer.text
    headers = {"x-msft-approval-code": code}
    path = f"{APPS}/{PORTAL_APP}"
    token = graphroles.app_token(AUTOMATION)
    answer = _send(emulator, "PATCH", path, token, headers=headers, json=body)
    assert answer.status_code < 300, answer.text


def _collect(emulator: Emulator) -> Snapshot:
    async def go() -> Snapshot:
        endpoint = resolve_endpoint("global", emulator.url)
        credential = StaticTokenCredential(graphroles.READER_TOKEN)
        async with GraphClient(credential, endpoint, timeout=30) as client:
            return await collect(client, Settings(), 30, now=COLLECTED_AT)

    return asyncio.run(go())


def _scan(snapshot: Snapshot) -> ScanResult:
    settings = Settings(only_rules=REQUEST_RULES)
    return evaluate(snapshot, load_catalogue(), all_checks(), settings, TODAY, tool_version="t")


def _outcomes(result: ScanResult) -> dict[str, dict[str, Status]]:
    found: dict[str, dict[str, Status]] = {rule: {} for rule in REQUEST_RULES}
    for item in result.findings:
        assert item.resource.id not in found[item.rule_id], item
        found[item.rule_id][item.resource.id] = item.status
    return found


def _event(emulator: Emulator, activity_type: str, code: str) -> str:
    [event] = [
        e
        for e in emulator.audit_events
        if e["activityType"] == activity_type and e["resources"][0]["resourceId"] == code
    ]
    return str(event["id"])


def test_a_filed_approved_and_completed_write_is_judged_in_both_profiles(
    emulator: Emulator,
) -> None:
    rename = {"displayName": "Company Portal 2"}
    code = _file(emulator, "PATCH", f"{APPS}/{PORTAL_APP}", "CHG0042 rename the portal", rename)
    _approve_and_complete(emulator, code, rename)
    pending = _file(emulator, "DELETE", f"{APPS}/{PORTAL_APP}", "CHG0043 retire the portal", None)

    snapshot = _collect(emulator)
    result = _scan(snapshot)

    assert snapshot.sources["approval_requests"] == SourceStatus(SourceState.COMPLETE)
    by_id = {r.id: r for r in snapshot.approval_requests}
    published = emulator.profile.published
    assert (by_id[code].requestor is None) is published
    done = by_id[code]
    assert (done.status, done.payload_id, done.payload_type, done.payload_operation) == (
        "completed",
        PORTAL_APP,
        f"{API}MobileApp",
        "Update",
    )
    assert (done.payload_name, done.payload_subtype) == ("Company Portal", "")
    assert (by_id[pending].payload_operation, by_id[pending].payload_name) == (
        "Delete",
        "Company Portal 2",
    )
    assert _outcomes(result) == {
        "MAA301": {code: PASS},
        "MAA302": {code: PASS},
        "MAA303": {code: PASS},
        "MAA304": {pending: PASS},
        "MAA305": {code: PASS},
    }
    requestor = {"id": AUTOMATION, "displayName": "Nightly automation", "source": "graph"}
    approver = {"id": APPROVER, "displayName": APPROVER, "source": "graph"}
    if published:
        filed_event = _event(emulator, "Create OperationApprovalRequest", code)
        approve_event = _event(emulator, "Approve OperationApprovalRequest", code)
        requestor.update(source="audit-log", eventId=filed_event)
        approver.update(source="audit-log", eventId=approve_event)
    [self_approval] = [f for f in result.findings if f.rule_id == "MAA301"]
    assert self_approval.message == "approved by someone other than the requestor"
    assert self_approval.evidence == {
        "requestor": requestor,
        "approver": approver,
        "status": "completed",
    }
    # Every request is named after its requestor, from Graph or from the audit log.
    assert {f.resource.display_name for f in result.findings} == {"Nightly automation"}
    [outside] = [f for f in result.findings if f.rule_id == "MAA305"]
    assert outside.evidence["member_of"] == ["grp-apps"]
    assert exit_code(result) == 0


def test_published_requests_without_any_audit_event_are_errors_not_passes() -> None:
    fixture = tenant_fixture()
    fixture["maa"] = {**fixture.get("maa", {}), "requestEventsAudited": False}
    fixture["collections"][REQUESTS] = [
        {
            "id": "r-old",
            "status": "approved",
            "requestDateTime": "2026-10-30T09:00:00Z",
            "requestor": {"application": {"id": AUTOMATION, "displayName": "Nightly automation"}},
            "approver": {"user": {"id": APPROVER, "displayName": APPROVER}},
            "requestJustification": "CHG0040 add the VPN profile",
            "requiredOperationApprovalPolicyTypes": ["app"],
        }
    ]
    with Emulator(
        fixture, profile="published", throttle=False, now=lambda: FILED_AT, fixed_tokens=True
    ) as served:
        result = _scan(_collect(served))

    assert _outcomes(result) == {
        "MAA301": {"r-old": ERROR},
        "MAA302": {"r-old": ERROR},
        "MAA303": {"r-old": PASS},
        "MAA304": {TENANT_ID: SKIPPED},
        "MAA305": {"r-old": ERROR},
    }
    messages = {f.rule_id: f.message for f in result.findings if f.status is ERROR}
    assert messages == {
        "MAA301": "could not verify: requestor and approver are null in Graph and no MAA audit "
        "event names this request",
        "MAA302": "could not verify: approver is null in Graph and no MAA audit event names this "
        "request",
        "MAA305": "could not verify: approver is null in Graph and no MAA audit event names this "
        "request",
    }
    assert exit_code(result) == 3


def test_a_malformed_request_and_a_refused_select_leave_the_source_complete() -> None:
    fixture = tenant_fixture()
    fixture["collections"][REQUESTS] = [
        {"id": "r-broken", "status": "approved", "requestDateTime": "yesterday"},
        {
            "id": "r-good",
            "status": "needsApproval",
            "requestDateTime": "2026-10-31T09:00:00Z",
            "expirationDateTime": "2026-11-03T09:00:00Z",
            "requestJustification": "CHG0044 add the VPN profile",
            "payloadId": PORTAL_APP,
            "payloadOperation": "Update",
            "payload": '{"secret": "do-not-keep"}',
            "displayPayload": '{"secret": "do-not-keep"}',
        },
    ]
    faults = {"script": {REQUESTS: [400]}}
    with Emulator(
        fixture,
        profile="published",
        throttle=False,
        now=lambda: FILED_AT,
        faults=faults,
        fixed_tokens=True,
    ) as served:
        snapshot = _collect(served)
        reads = [r for r in served.requests if r.path.endswith(REQUESTS)]

    selects = [parse_qs(r.query).get("$select", [""])[0] for r in reads]
    assert [r.status for r in reads] == [400, 200]
    assert "payloadOperation" in selects[0].split(",") and selects[1] == ""
    assert snapshot.sources["approval_requests"] == SourceStatus(
        SourceState.COMPLETE,
        malformed=(
            MalformedItem(
                "approvalRequest",
                "r-broken",
                "requestDateTime",
                "expected an ISO 8601 date-time with a time zone, got the string 'yesterday'",
            ),
        ),
    )
    assert [(r.id, r.payload_id, r.payload_operation) for r in snapshot.approval_requests] == [
        ("r-good", PORTAL_APP, "Update")
    ]
    assert "do-not-keep" not in snapshot_to_json(snapshot)
    result = _scan(snapshot)
    assert _outcomes(result) == {
        "MAA301": {"r-broken": ERROR},
        "MAA302": {"r-broken": ERROR},
        "MAA303": {"r-broken": ERROR},
        "MAA304": {"r-good": PASS, "r-broken": ERROR},
        "MAA305": {"r-broken": ERROR},
    }
    assert json.loads(snapshot_to_json(snapshot))["sources"]["approval_requests"]["malformed"] == [
        {
            "kind": "approvalRequest",
            "id": "r-broken",
            "path": "requestDateTime",
            "problem": "expected an ISO 8601 date-time with a time zone, got the string "
            "'yesterday'",
        }
    ]
    assert exit_code(result) == 3


# ---- a lost approval code is found by the request's object and operation -----------------------


def _planted(change_id: str, method: str, url: str, text: str, endpoint: str) -> StoredChange:
    """A row as a command leaves it when it dies after committing it and before any answer."""
    tracked = TrackedChange(
        change_id, START, START, method, url, "", None, Phase.SENDING, None, None, endpoint
    )
    return StoredChange(tracked, b"{}", "", f"{text} [maa-guard ref {change_id}]", "", "")


def _filed(emulator: Emulator, method: str, path: str, text: str) -> str:
    headers = {
        "Authorization": "Bearer automation",
        "x-msft-approval-justification": base64.b64encode(text.encode()).decode(),
    }
    answer = httpx.request(method, f"{emulator.url}{path}", headers=headers, json={}, timeout=30)
    assert answer.status_code == 412, answer.text
    return answer.headers["x-msft-approval-code"]


def test_reconciliation_takes_the_request_for_the_same_object_and_operation_first(
    tmp_path: Path,
) -> None:
    """The service shows the object, the operation and a shortened justification (no reference):
    the object and operation find the request. A request tagged with another change's reference
    is never taken for the same object; a create (no object yet) is found by its reference."""
    rename = ("0000000000aa", "PATCH", "/beta" + APP_URL, "CHG-1 rename")
    remove = ("0000000000bb", "DELETE", "/beta/deviceAppManagement/mobileApps/m2", "CHG-2")
    create = ("0000000000cc", "POST", "/beta/deviceManagement/deviceManagementScripts", "CHG-3")
    clock = Clock()
    with running("412", clock, profile="published") as emulator:
        shortened = _filed(emulator, *rename[1:])
        _filed(emulator, *remove[1:3], "CHG-2 [maa-guard ref 0000000000ff]")
        created = _filed(emulator, *create[1:3], "CHG-3 [maa-guard ref 0000000000cc]")
        state = StateStore(tmp_path / "s.db")
        with state, client_for(emulator, state, now=clock) as client:
            for row in (rename, remove, create):
                state.add(_planted(*row, client.endpoint.root))
            settled = client.reconcile()

    assert sorted((c.change_id, c.phase, c.code, c.outcome) for c in settled) == [
        (
            "0000000000aa",
            Phase.PENDING,
            shortened,
            "code recovered from the request list by its object and operation (Update m1)",
        ),
        (
            "0000000000cc",
            Phase.PENDING,
            created,
            "code recovered from the request list by reference 0000000000cc",
        ),
    ]
    assert [(r["id"], r["phase"], r["code"]) for r in rows(tmp_path / "s.db")] == [
        ("0000000000aa", "pending", shortened),
        ("0000000000bb", "sending", None),
        ("0000000000cc", "pending", created),
    ]
