"""The emulator's request pipeline: identity, route, faults, permission, throttle, handler."""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from typing import Protocol

from maa_guard.emulator import batch, delta, routes
from maa_guard.emulator.faults import Faults
from maa_guard.emulator.profiles import Profile, profile_named
from maa_guard.emulator.reads import ReadContext, read
from maa_guard.emulator.tenant import Principal, Tenant
from maa_guard.emulator.throttle import Throttle, resource_units
from maa_guard.emulator.wire import (
    LOGGED_HEADERS,
    Call,
    LoggedRequest,
    Reply,
    error,
    not_found_segment,
)

_REQUESTS = "deviceManagement/operationApprovalRequests"
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class WriteHandler(Protocol):
    def __call__(self, call: Call, target: routes.Target, principal: Principal) -> Reply: ...

    def expire(self) -> None: ...


class Service:
    """Turns a :class:`Call` into a :class:`Reply`; thread-safe; logs every call it answers."""

    def __init__(
        self,
        tenant: Tenant,
        base_url: Callable[[], str],
        *,
        throttle: Throttle | None,
        faults: Faults,
        writes: WriteHandler | None = None,
        profile: Profile | None = None,
    ) -> None:
        self.tenant = tenant
        self.throttle = throttle
        self.faults = faults
        self.writes = writes
        self.profile = profile or profile_named("default")
        self.reads = ReadContext(
            tenant, faults, secrets.token_bytes(16), base_url, profile=self.profile
        )
        self._log: list[LoggedRequest] = []
        self._log_lock = threading.Lock()

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._log_lock:
            return list(self._log)

    def handle(self, call: Call) -> Reply:
        reply = self._answer(call)
        reply.headers.setdefault("request-id", str(uuid.uuid4()))
        client_id = call.header("client-request-id")
        if client_id:
            reply.headers["client-request-id"] = client_id
        self._record(call, reply)
        return reply

    def _record(self, call: Call, reply: Reply) -> None:
        headers = {name: call.headers[name] for name in LOGGED_HEADERS if name in call.headers}
        entry = LoggedRequest(
            call.method,
            f"/{call.version}/{call.path}",
            call.raw_query,
            headers,
            reply.status,
            call.in_batch,
            reply.fault,
        )
        with self._log_lock:
            self._log.append(entry)

    def _answer(self, call: Call) -> Reply:
        principal = self._principal(call)
        if isinstance(principal, Reply):
            return principal
        if call.path.lower() == "$batch" and not call.in_batch:
            return batch.run(self.handle, call)
        with self.tenant.lock:
            target = routes.resolve(self.tenant, call.path)
        if isinstance(target, Reply):
            return target
        if call.version == "v1.0" and routes.beta_only(target.template):
            return not_found_segment(target.template.split("/")[1])
        refused = self._refusal(call, target, principal)
        if refused is not None:
            return refused
        reply = self._dispatch(call, target, principal)
        if self.faults.take("reset", target.template):
            reply.fault = "reset"
        elif self.faults.take("truncate", target.template):
            reply.fault = "truncate"
        return reply

    def _principal(self, call: Call) -> Principal | Reply:
        authorization = call.header("authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if not token or scheme.lower() != "bearer":
            return error(401, "InvalidAuthenticationToken", "Access token is empty.")
        principal = self.tenant.tokens.get(token.strip())
        if principal is None:
            return error(401, "InvalidAuthenticationToken", "Access token validation failure.")
        return principal

    def _refusal(self, call: Call, target: routes.Target, principal: Principal) -> Reply | None:
        scripted = self.faults.scripted_status(target.template)
        if scripted is not None:
            return _scripted(scripted)
        if self.faults.server_error(target.template):
            return error(self.faults.status_5xx, "ServiceUnavailable", "Service unavailable.")
        if not self._permitted(call, target, principal):
            return error(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        return self._throttled(call, target, principal)

    def _permitted(self, call: Call, target: routes.Target, principal: Principal) -> bool:
        accepted = routes.accepted_permissions(target.template, call.method in _WRITES)
        held = principal.permissions - self.faults.denied(target.template)
        return bool(accepted & held)

    def _throttled(self, call: Call, target: routes.Target, principal: Principal) -> Reply | None:
        if self.throttle is None:
            return None
        klass, who = target.endpoint_class, principal.app_id or principal.id
        cost = resource_units(target.template, call.query) if klass == "directory" else 1
        decision = self.throttle.admit(klass, who, cost)
        if decision.admitted and klass == "intune" and call.method in _WRITES:
            decision = self.throttle.admit("intuneWrite", who)
        if decision.admitted:
            return None
        headers = {} if decision.retry_after is None else {"Retry-After": str(decision.retry_after)}
        return error(
            429, "TooManyRequests", "Too many requests, please retry after some time.", headers
        )

    def _dispatch(self, call: Call, target: routes.Target, principal: Principal) -> Reply:
        if call.method == "GET":
            if self.writes is not None and target.collection == _REQUESTS:
                with self.tenant.lock:
                    self.writes.expire()
            reply = (delta.read if target.kind == "delta" else read)(self.reads, call, target)
            if target.is_directory:
                reply.headers["x-ms-resource-unit"] = str(
                    resource_units(target.template, call.query)
                )
            return reply
        if target.kind in ("function", "delta"):
            return error(405, "BadRequest", f"The method {call.method} is not allowed here.")
        if call.method in _WRITES and self.writes is not None:
            return self.writes(call, target, principal)
        return error(405, "Request_BadRequest", f"The method {call.method} is not allowed here.")


def _scripted(status: int) -> Reply:
    headers = {"Retry-After": "1"} if status in (429, 503) else {}
    return error(status, "ScriptedFault", f"Scripted fault {status}.", headers)
