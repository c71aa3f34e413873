"""MAA interception of writes, as Microsoft documents it for Graph callers.

A write to a protected route needs a base64 ``x-msft-approval-justification`` header: the
emulator files an approval request and answers 412 (or 403 in ``approval_mode="403"``) with
``x-msft-approval-code``. Once a delegated approver approves, the same method, URL and body with
``x-msft-approval-code`` is applied and the request completes. An application's app-only call
passes when a policy of the write's type excludes it; delegated calls never do, and no exclusion
exempts a change to the access policies themselves.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from maa_guard.emulator import approvals, audit, writes
from maa_guard.emulator.profiles import Profile, profile_named
from maa_guard.emulator.routes import Target
from maa_guard.emulator.tenant import Principal, Tenant
from maa_guard.emulator.wire import Call, Json, Reply, error
from maa_guard.snapshot.codec import format_datetime, parse_datetime

REQUESTS = approvals.REQUESTS
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_ACTIVE = ("needsApproval", "approved")
_BY_COLLECTION = {
    "deviceappmanagement/mobileapps": "app",
    "devicemanagement/devicemanagementscripts": "script",
    "devicemanagement/devicehealthscripts": "script",
    "devicemanagement/deviceshellscripts": "script",
    "devicemanagement/roledefinitions": "role",
    "devicemanagement/roleassignments": "role",
    "devicemanagement/rolescopetags": "role",
    "devicemanagement/devicecompliancepolicies": "compliancePolicy",
    "devicemanagement/configurationpolicies": "configurationPolicy",
    "devicemanagement/devicecategories": "tenantConfiguration",
}
_DEVICE_ACTIONS = {"wipe": "deviceWipe", "retire": "deviceRetire"}
_OPERATIONS = {"POST": "Create", "PATCH": "Update", "PUT": "Update", "DELETE": "Delete"}
# ``payloadType`` names the internal Intune type, as live requests do.
PAYLOAD_TYPE_PREFIX = "Microsoft.Management.Services.Api."


@dataclass(frozen=True, slots=True)
class Filed:
    """What a resubmission must repeat, kept out of the Graph-visible request."""

    method: str
    url: str
    body: str
    entity: str
    principal: str


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def fixture_clock(tenant: Tenant) -> Callable[[], datetime]:
    """Real time, or, when the fixture sets ``maa.startTime``, time running on from that moment
    (a converted snapshot starts at its ``collected_at``, so pending requests stay pending)."""
    start = tenant.maa.get("startTime")
    if not start:
        return utc_now
    origin, began = parse_datetime(str(start)), time.monotonic()
    return lambda: origin + timedelta(seconds=time.monotonic() - began)


AfterFiling = Callable[[str], Reply | None]


class Maa:
    """The write handler the service calls for POST/PATCH/PUT/DELETE.

    ``after_filing`` (tests, fault injection) is called with the new request's code once it is
    filed and the tenant lock is released, before the reply leaves: it may block (a client
    killed or timed out while waiting) and may return a reply to send instead (a 5xx after the
    request was filed, as a proxy in front of Graph could answer).
    """

    def __init__(
        self,
        tenant: Tenant,
        approval_mode: str,
        now: Callable[[], datetime] = utc_now,
        profile: Profile | None = None,
    ) -> None:
        self.tenant, self.approval_mode, self.now = tenant, approval_mode, now
        self.profile = profile or profile_named("default")
        self.expiry = timedelta(hours=float(tenant.maa.get("expiryHours", 72)))
        self.filed: dict[str, Filed] = {}
        self.after_filing: AfterFiling | None = None

    def __call__(self, call: Call, target: Target, principal: Principal) -> Reply:
        with self.tenant.lock:
            reply = self._handle(call, target, principal)
        code = reply.headers.get("x-msft-approval-code")
        hook = self.after_filing
        if code is not None and hook is not None:
            return hook(code) or reply
        return reply

    def _handle(self, call: Call, target: Target, principal: Principal) -> Reply:
        self.expire()
        if target.collection == REQUESTS and target.kind == "action":
            return approvals.act(self.tenant, call, target, principal, self.now())
        refused = self.profile.refused_write(call, target.collection, writes.parse_body(call))
        if refused is not None:
            return refused
        kind = protected_type(call, target)
        covering = approvals.covering_policies(self.tenant, kind) if kind else []
        if kind is None or (kind != approvals.ACCESS_POLICY_TYPE and not covering):
            return self._apply(call, target, principal)
        return self._gate(call, target, principal, kind, covering)

    def _apply(self, call: Call, target: Target, principal: Principal) -> Reply:
        current = self.tenant.find(target.collection, target.item_id) if target.item_id else None
        keep = self.profile.hidden_properties(target.collection, current or {})
        return writes.apply(self.tenant, call, target, principal, self.now(), keep)

    def expire(self) -> None:
        """Requests past ``expirationDateTime`` that were never completed become ``expired``."""
        now = self.now()
        for request in self.tenant.collections.get(REQUESTS, []):
            if request.get("status") in _ACTIVE and _expired(request, now):
                request["status"] = "expired"
                request["lastModifiedDateTime"] = format_datetime(now)
                self.tenant.touch()

    def _gate(
        self, call: Call, target: Target, principal: Principal, kind: str, covering: list[Json]
    ) -> Reply:
        if self._excluded(principal, kind, covering):
            return self._pass(call, target, principal)
        code = call.header("x-msft-approval-code")
        justification = call.header("x-msft-approval-justification")
        if code is not None and justification is not None:
            return error(400, "BadRequest", "Send either an approval justification or a code.")
        if code is not None:
            return self._resubmit(call, target, principal, code.strip())
        return self._file(call, target, principal, kind, justification)

    def _excluded(self, principal: Principal, kind: str, covering: list[Json]) -> bool:
        """An app-only call by an app a covering policy excludes. Access-policy changes are
        protected by every policy and no exclusion exempts them: an exclusion exempts only
        writes of its own policy's type."""
        if not principal.app_only or kind == approvals.ACCESS_POLICY_TYPE:
            return False
        return approvals.excludes(self.tenant, covering, principal.app_id)

    def _pass(self, call: Call, target: Target, principal: Principal) -> Reply:
        resource = audit.Resource(target.item_id or target.collection, "", target.collection)
        audit.record(
            self.tenant, principal, self.now(), "MAA pass: excluded application",
            "Pass OperationApprovalRequest", [resource],
        )  # fmt: skip
        return self._apply(call, target, principal)

    def _file(
        self, call: Call, target: Target, principal: Principal, kind: str, header: str | None
    ) -> Reply:
        text = _justification(header, call)
        if isinstance(text, Reply):
            return text
        body = writes.parse_body(call)
        if isinstance(body, Reply):
            return body
        filed = self._filed_record(call, target, principal)
        if self._active_for(filed.entity):
            return error(
                409, "Conflict", "An active Approval Request already exists for this entity"
            )
        payload = request_payload(self.tenant, call, target, body)
        request = approvals.new_request(
            self.tenant, principal, kind, text, self.now(), self.expiry, payload
        )
        self.tenant.collections.setdefault(REQUESTS, []).append(request)
        self.filed[request["id"]] = filed
        resource = audit.Resource(request["id"], text[:64], "OperationApprovalRequest")
        audit.record(
            self.tenant, principal, self.now(), "MAA block: approval request filed",
            "Create OperationApprovalRequest", [resource],
        )  # fmt: skip
        return approval_required(self.approval_mode, request["id"], call)

    def _filed_record(self, call: Call, target: Target, principal: Principal) -> Filed:
        body = _canonical(call.body)
        entity = f"{target.collection}/{target.item_id}" if target.item_id else ""
        entity = entity or f"{target.collection}|{call.method}|{body}"
        who = f"{principal.kind}:{principal.id}".lower()
        return Filed(call.method, _url(call), body, entity.lower(), who)

    def _active_for(self, entity: str) -> bool:
        for request_id, filed in self.filed.items():
            request = self.tenant.find(REQUESTS, request_id)
            if filed.entity == entity and request and request.get("status") in _ACTIVE:
                return True
        return False

    def _resubmit(self, call: Call, target: Target, principal: Principal, code: str) -> Reply:
        if not _GUID.match(code):
            return error(400, "BadRequest", "Invalid approval header format, expected GUID format")
        filed, request = self.filed.get(code.lower()), self.tenant.find(REQUESTS, code)
        if filed is None or request is None or request.get("status") != "approved":
            return error(403, "Forbidden", "An error has occurred")
        if filed != self._filed_record(call, target, principal):
            return error(403, "Forbidden", "An error has occurred")
        reply = self._apply(call, target, principal)
        if reply.status < 300:
            approvals.complete(self.tenant, request, principal, self.now())
        return reply


def protected_type(call: Call, target: Target) -> str | None:
    """The ``policyType`` that would protect this write, or None for an unprotected route."""
    collection = target.collection.lower()
    if collection == writes.POLICIES.lower():
        return approvals.ACCESS_POLICY_TYPE
    if collection == "devicemanagement/manageddevices":
        if target.kind == "action":
            return _DEVICE_ACTIONS.get(target.relationship)
        return "deviceDelete" if call.method == "DELETE" and target.kind == "entity" else None
    return _BY_COLLECTION.get(collection)


def request_payload(tenant: Tenant, call: Call, target: Target, body: Json | None) -> Json:
    """What live requests say about their object (the undocumented ``payload*`` properties):
    its id ("" for a create), its name (``displayName``, a device's ``deviceName``; for a
    create the body's), the internal type, the body's ``@odata.type``, the operation and the
    write's body as compact JSON text (``displayPayload``: the same text)."""
    operation = "Action" if target.kind == "action" else _OPERATIONS.get(call.method, "Update")
    item = tenant.find(target.collection, target.item_id) if target.item_id else None
    named = item if item is not None else (body or {})
    text = "" if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return {
        "payloadId": target.item_id,
        "payloadName": str(named.get("displayName") or named.get("deviceName") or ""),
        "payloadType": PAYLOAD_TYPE_PREFIX + writes.type_name(target.collection),
        "payloadSubtype": str((body or {}).get("@odata.type") or ""),
        "payloadOperation": operation,
        "payload": text,
        "displayPayload": text,
    }


def approval_required(mode: str, code: str, call: Call) -> Reply:
    message = (
        "Approval Required. Request Approval using the request ID returned as part of the "
        f"x-msft-approval-code response header. x-msft-approval-code: {code}"
    )
    headers = {"x-msft-approval-code": code}
    if mode == "403":
        return Reply(403, {"error": {"code": "ApprovalRequired", "message": message}}, headers)
    detail = f"{message} - Operation ID (for customer support): {uuid.uuid4()}"
    detail += f" - Activity ID: {uuid.uuid4()} - Url: {_url(call)}"
    inner = {
        "_version": 3,
        "Message": detail,
        "CustomApiErrorPhrase": "",
        "RetryAfter": None,
        "ErrorSourceService": "",
        "HttpHeaders": json.dumps({"x-msft-approval-code": code}),
    }
    nested = json.dumps(inner, indent=1).replace("\n", "\r\n")
    return Reply(412, {"error": {"code": "BadRequest", "message": nested}}, headers)


def _justification(header: str | None, call: Call) -> str | Reply:
    if header is None:
        return error(
            400,
            "BadRequest",
            "Header 'x-msft-approval-justification' is required to request approval - "
            f"Operation ID (for customer support): {uuid.uuid4()} - Activity ID: "
            f"{uuid.uuid4()} - Url: {_url(call)}",
        )
    try:
        text = base64.b64decode(header.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return error(
            400,
            "BadRequest",
            "'x-msft-approval-justification' must be a valid base64 encoded string.",
        )
    if len(text) > 1024:
        return error(
            400,
            "BadRequest",
            "Decoded content of 'x-msft-approval-justification' header must be no greater than "
            "1024 characters",
        )
    return text


def _url(call: Call) -> str:
    query = f"?{call.raw_query}" if call.raw_query else ""
    return f"/{call.version}/{call.path}{query}".lower()


def _canonical(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), sort_keys=True) if body else ""
    except ValueError:
        return body.decode("utf-8", "replace")


def _expired(request: Json, now: datetime) -> bool:
    text = request.get("expirationDateTime")
    try:
        return bool(text) and parse_datetime(str(text)) <= now
    except ValueError:
        return False
