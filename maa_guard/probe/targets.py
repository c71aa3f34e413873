"""What the probe reads: every Graph endpoint maa-guard reads, with the permission each needs.

The paths and ``$select`` lists are the collector's own (``maa_guard.collect``), so the probe
asks Graph exactly what a scan asks; only ``$top`` is small, and only the first page is read.
Access policies and approval requests are read without ``$select``, so undocumented properties
show. docs/assumptions.md cites Microsoft's page for each permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from maa_guard.collect.apps import APP_FIELDS, GRAPH_APP_ID, SP_FIELDS
from maa_guard.collect.directory import GROUP_FIELDS, USER_FIELDS
from maa_guard.collect.intune import (
    ASSIGNMENT_FIELDS,
    AUDIT_CATEGORIES,
    AUDIT_EVENTS,
    AUDIT_FIELDS,
    POLICIES,
    REQUEST_FIELDS,
    REQUESTS,
    ROLE_ASSIGNMENTS,
    ROLE_DEFINITIONS,
)
from maa_guard.collect.permissions import (
    APPLICATION_READ,
    AUDIT_LOG_READ,
    AUDIT_READ,
    DIRECTORY_READ,
    GROUP_MEMBER_READ,
    POLICY_READ,
    RBAC_READ,
    USER_READ,
)
from maa_guard.collect.tenant import CA_FIELDS, SIGN_INS, SP_ACTIVITY
from maa_guard.snapshot.codec import format_datetime

LICENSE_READ = "LicenseAssignment.Read.All"
# Enough of each collection to see its shape; access policies and requests get a larger first
# page because their property counts and shares are what the report is about.
SAMPLE_TOP = "5"
MAA_TOP = "100"
AUDIT_TOP = "200"
MAX_POLICY_READS = 20
MAX_CATEGORIES = 60
# Words that make an audit event, category or activity type one of MAA's.
MAA_WORDS = ("approv", "exclu")
ACTIVITY_TYPES_PATH = f"{AUDIT_EVENTS}/getAuditActivityTypes(category='{{category}}')"
GRAPH_SP_PATH = f"servicePrincipals(appId='{GRAPH_APP_ID}')"


@dataclass(frozen=True, slots=True)
class Target:
    """One endpoint: ``path`` may hold ``{id}`` or ``{category}``, filled in when read."""

    key: str
    path: str
    permission: str
    query: tuple[tuple[str, str], ...] = ()
    version: str = "beta"

    def params(self) -> dict[str, str]:
        return dict(self.query)

    def filled(self, placeholder: str, value: str) -> Target:
        """``{placeholder}`` replaced in the path and the query (``value`` as it goes there)."""
        mark = "{" + placeholder + "}"
        query = tuple((name, text.replace(mark, value)) for name, text in self.query)
        return Target(
            self.key, self.path.replace(mark, value), self.permission, query, self.version
        )

    def shown_query(self) -> str:
        return "&".join(f"{name}={text}" for name, text in self.query)


def _window_clause(start: datetime, end: datetime) -> str:
    return (
        f"activityDateTime ge {format_datetime(start)} "
        f"and activityDateTime lt {format_datetime(end)}"
    )


def _sign_in_clause(start: datetime) -> str:
    return (
        "signInEventTypes/any(t: t eq 'servicePrincipal') "
        f"and createdDateTime ge {format_datetime(start)}"
    )


def first_targets(now: datetime, days: int) -> tuple[Target, ...]:
    """The reads that need nothing read before them, in report order."""
    start = now - timedelta(days=days)
    return (
        Target("policies.list", POLICIES, RBAC_READ, (("$top", MAA_TOP),)),
        Target("requests.list", REQUESTS, RBAC_READ, (("$top", MAA_TOP),)),
        Target(
            "requests.select",
            REQUESTS,
            RBAC_READ,
            (("$select", REQUEST_FIELDS), ("$top", SAMPLE_TOP)),
        ),
        Target(
            "rbac.roleDefinitions",
            ROLE_DEFINITIONS,
            RBAC_READ,
            (("$select", "id,displayName,isBuiltIn"), ("$top", SAMPLE_TOP)),
        ),
        Target(
            "rbac.roleAssignments",
            ROLE_ASSIGNMENTS,
            RBAC_READ,
            (("$select", ASSIGNMENT_FIELDS), ("$top", SAMPLE_TOP)),
        ),
        Target(
            "directory.groups",
            "groups",
            GROUP_MEMBER_READ,
            (("$select", GROUP_FIELDS), ("$top", SAMPLE_TOP)),
        ),
        Target(
            "directory.users", "users", USER_READ, (("$select", USER_FIELDS), ("$top", SAMPLE_TOP))
        ),
        Target(
            "apps.servicePrincipals",
            "servicePrincipals",
            APPLICATION_READ,
            (("$select", SP_FIELDS), ("$top", SAMPLE_TOP)),
        ),
        Target(
            "apps.applications",
            "applications",
            APPLICATION_READ,
            (("$select", APP_FIELDS), ("$top", SAMPLE_TOP)),
        ),
        Target(
            "apps.graphServicePrincipal",
            GRAPH_SP_PATH,
            APPLICATION_READ,
            (("$select", "id,appRoles"),),
        ),
        Target(
            "tenant.conditionalAccess",
            "identity/conditionalAccess/policies",
            POLICY_READ,
            (("$select", CA_FIELDS),),
        ),
        Target(
            "audit.events",
            AUDIT_EVENTS,
            AUDIT_READ,
            (
                ("$filter", _window_clause(start, now)),
                ("$select", AUDIT_FIELDS),
                ("$top", AUDIT_TOP),
            ),
        ),
        Target("audit.categories", AUDIT_CATEGORIES, AUDIT_READ),
        Target(
            "signIns.report",
            SP_ACTIVITY,
            AUDIT_LOG_READ,
            (
                ("$select", "id,appId,applicationAuthenticationClientSignInActivity"),
                ("$top", SAMPLE_TOP),
            ),
        ),
        Target(
            "signIns.log",
            SIGN_INS,
            AUDIT_LOG_READ,
            (
                ("$filter", _sign_in_clause(start)),
                ("$select", "id,appId,createdDateTime,signInEventTypes"),
                ("$top", SAMPLE_TOP),
            ),
        ),
        Target(
            "tenant.organization",
            "organization",
            DIRECTORY_READ,
            (("$select", "id,displayName"),),
            "v1.0",
        ),
        Target(
            "tenant.subscribedSkus",
            "subscribedSkus",
            LICENSE_READ,
            (("$select", "skuPartNumber,servicePlans"),),
            "v1.0",
        ),
    )


POLICY_BY_ID = Target("policies.get", f"{POLICIES}/{{id}}", RBAC_READ)
GRAPH_ASSIGNED_TO = Target(
    "apps.graphAppRoleAssignedTo",
    "servicePrincipals/{id}/appRoleAssignedTo",
    APPLICATION_READ,
    (("$top", SAMPLE_TOP),),
)
ACTIVITY_TYPES = Target("audit.activityTypes", ACTIVITY_TYPES_PATH, AUDIT_READ)
EVENTS_BY_CATEGORY_KEY = "audit.eventsByCategory"


def events_by_category(now: datetime, days: int) -> Target:
    """The window's events of one category, filtered as the exclusion history is."""
    start = now - timedelta(days=days)
    clause = f"{_window_clause(start, now)} and category eq '{{category}}'"
    return Target(
        EVENTS_BY_CATEGORY_KEY,
        AUDIT_EVENTS,
        AUDIT_READ,
        (("$filter", clause), ("$select", AUDIT_FIELDS), ("$top", AUDIT_TOP)),
    )


def all_targets(now: datetime, days: int) -> tuple[Target, ...]:
    """Every endpoint in report order: a read that needs another's answer follows it."""
    follows = {
        "policies.list": POLICY_BY_ID,
        "apps.graphServicePrincipal": GRAPH_ASSIGNED_TO,
        "audit.events": events_by_category(now, days),
        "audit.categories": ACTIVITY_TYPES,
    }
    ordered: list[Target] = []
    for target in first_targets(now, days):
        ordered.append(target)
        if target.key in follows:
            ordered.append(follows[target.key])
    return tuple(ordered)


def odata_quoted(value: str) -> str:
    """A string literal's inside for an OData URL: a single quote is doubled."""
    return value.replace("'", "''")


def in_function_call(value: str) -> str:
    """A category inside ``getAuditActivityTypes(category='...')``, as the collector sends it:
    OData-quoted, then percent-encoded (the quotes kept)."""
    return quote(odata_quoted(value), safe="'")


def is_maa_text(*texts: object) -> bool:
    joined = " ".join(str(text) for text in texts if text is not None).lower()
    return any(word in joined for word in MAA_WORDS)
