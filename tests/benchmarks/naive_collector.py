"""The yardstick of ``bench_collect.py``: a naive, sequential Graph collector.

It reads what ``maa_guard.collect`` reads, the way typical PowerShell scripts do
(``Invoke-MgGraphRequest`` in a ``do { ... } while ($uri)`` loop): one request at a time,
following ``@odata.nextLink``, one GET per object and per relationship, no ``$batch``, no
``$top`` (the server's default page size), one nextLink chain for the whole audit window.
It is given the collector's ``$select`` lists, which only makes it faster. Like the SDK's
retry handler it honours ``Retry-After`` on 429/503/504 (else waits 2**attempt seconds).

Each source can be cut short after ``max_requests`` requests; :class:`SourceRun` then
extrapolates its time and request count linearly to all of the source's units (pages
items or objects). That is sound for a sequential client far below the directory and
Intune budgets (tens of requests per second), whose time per unit does not change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from maa_guard.collect.apps import APP_FIELDS, GRAPH_APP_ID, SP_FIELDS
from maa_guard.collect.directory import GROUP_FIELDS, USER_FIELDS
from maa_guard.collect.intune import (
    AUDIT_EVENTS,
    AUDIT_FIELDS,
    POLICIES,
    REQUEST_FIELDS,
    REQUESTS,
    ROLE_ASSIGNMENTS,
    ROLE_DEFINITIONS,
)
from maa_guard.collect.tenant import CA_FIELDS, CA_POLICIES, SP_ACTIVITY

Json = dict[str, Any]
RETRYABLE = (429, 503, 504)
MEMBERS = "?$select=id,displayName"


@dataclass(frozen=True, slots=True)
class SourceRun:
    name: str
    units_done: int
    units_total: int
    requests: int
    throttled: int
    seconds: float

    @property
    def complete(self) -> bool:
        return self.units_done >= self.units_total

    @property
    def factor(self) -> float:
        if self.complete or self.units_done == 0:
            return 1.0
        return self.units_total / self.units_done

    @property
    def estimated_seconds(self) -> float:
        return self.seconds * self.factor

    @property
    def estimated_requests(self) -> float:
        return self.requests * self.factor


class NaiveCollector:
    """``NaiveCollector(root, token)``: ``root`` is the Graph root without a version."""

    def __init__(self, root: str, token: str, max_requests: int = 0) -> None:
        self.root = root.rstrip("/")
        self.base = f"{self.root}/beta/"
        self.max_requests = max_requests
        self.requests = 0
        self.throttled = 0
        self.http = httpx.Client(
            timeout=httpx.Timeout(120.0),
            headers={
                "Authorization": f"Bearer {token}",
                "Prefer": "include-unknown-enum-members",
                "Accept": "application/json",
            },
        )

    def close(self) -> None:
        self.http.close()

    # ---- one request at a time ---------------------------------------------------------

    def get(self, url: str) -> Json | None:
        """One GET (absolute, or relative to /beta); None on 404."""
        absolute = url if url.startswith("http") else self.base + url
        for attempt in range(8):
            self.requests += 1
            response = self.http.get(absolute)
            if response.status_code not in RETRYABLE:
                break
            self.throttled += response.status_code == 429
            time.sleep(_retry_after(response, attempt))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: Json = response.json()
        return body

    def pages(self, url: str) -> Iterator[list[Json]]:
        link: str | None = url
        while link:
            page = self.get(link) or {}
            yield list(page.get("value", []))
            link = page.get("@odata.nextLink")

    def all(self, url: str) -> list[Json]:
        return [item for page in self.pages(url) for item in page]

    # ---- sources: each yields the units it finished --------------------------------------

    def run(self, name: str, total: int, units: Callable[[], Iterator[int]]) -> SourceRun:
        """Runs one source until done or ``max_requests`` were sent for it."""
        requests, throttled, started = self.requests, self.throttled, time.perf_counter()
        done = 0
        for count in units():
            done += count
            if self.max_requests and self.requests - requests >= self.max_requests:
                break
        return SourceRun(
            name,
            min(done, total),
            total,
            self.requests - requests,
            self.throttled - throttled,
            time.perf_counter() - started,
        )

    def policies(self) -> Iterator[int]:
        for item in self.all(f"{POLICIES}?$select=id"):
            self.get(f"{POLICIES}/{item['id']}")
            yield 1

    def approval_requests(self) -> Iterator[int]:
        for page in self.pages(f"{REQUESTS}?$select={REQUEST_FIELDS}"):
            yield len(page)

    def rbac(self) -> Iterator[int]:
        definitions = self.all(f"{ROLE_DEFINITIONS}?$select=id,displayName,isBuiltIn")
        self.all(f"{ROLE_ASSIGNMENTS}")
        for definition in definitions:
            self.all(f"{ROLE_DEFINITIONS}/{definition['id']}/roleAssignments?$select=id")
            yield 1

    def conditional_access(self) -> Iterator[int]:
        for page in self.pages(f"{CA_POLICIES}?$select={CA_FIELDS}"):
            yield len(page)

    def audit_events(self, start: str, end: str) -> Iterator[int]:
        clause = f"activityDateTime ge {start} and activityDateTime lt {end}"
        for page in self.pages(f"{AUDIT_EVENTS}?$filter={clause}&$select={AUDIT_FIELDS}"):
            yield len(page)

    def sign_in_activity(self) -> Iterator[int]:
        fields = "id,appId,applicationAuthenticationClientSignInActivity"
        for page in self.pages(f"{SP_ACTIVITY}?$select={fields}"):
            yield len(page)

    def tenant(self) -> Iterator[int]:
        for url in (
            f"{self.root}/v1.0/organization?$select=id,displayName",
            f"{self.root}/v1.0/subscribedSkus?$select=skuPartNumber,servicePlans",
            "deviceManagement?$select=unlicensedAdminstratorsEnabled",
        ):
            self.get(url)
            yield 1

    def groups(self, ids: Sequence[str]) -> Iterator[int]:
        for group_id in ids:
            if self.get(f"groups/{group_id}?$select={GROUP_FIELDS}") is not None:
                for relation in ("members", "transitiveMembers", "owners"):
                    self.all(f"groups/{group_id}/{relation}{MEMBERS}")
            yield 1

    def users(self, ids: Sequence[str]) -> Iterator[int]:
        for user_id in ids:
            if self.get(f"users/{user_id}?$select={USER_FIELDS}") is not None:
                self.all(f"users/{user_id}/licenseDetails?$select=servicePlans")
            yield 1

    def service_principals(self, app_ids: Sequence[str]) -> Iterator[int]:
        self.get(f"servicePrincipals(appId='{GRAPH_APP_ID}')?$select=id,appRoles")
        for app_id in app_ids:
            sp = self.get(f"servicePrincipals(appId='{app_id}')?$select={SP_FIELDS}")
            if sp is not None:
                self.all(f"servicePrincipals/{sp['id']}/owners{MEMBERS}")
                self.all(f"servicePrincipals/{sp['id']}/appRoleAssignments")
                app = self.get(f"applications(appId='{app_id}')?$select={APP_FIELDS}")
                if app is not None:
                    self.all(f"applications/{app['id']}/owners{MEMBERS}")
                    self.all(f"applications/{app['id']}/federatedIdentityCredentials")
            yield 1


def _retry_after(response: httpx.Response, attempt: int) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return float(2**attempt)
