"""Which access-policy property holds the exclusions: a configured name, ``auto``, or none.

Microsoft Graph publishes no exclusion property on ``operationApprovalPolicy``, so the raw
policy JSON is searched: a property whose name contains "exclu" holding appId GUIDs or objects
naming an app by ``appId``, ``servicePrincipalId`` or ``id``.
"""

from __future__ import annotations

from typing import Any

import pytest

from maa_guard.collect.budget import EndpointClass, charge
from maa_guard.config import AUTO_EXCLUSIONS_PROPERTY
from maa_guard.exclusions.provenance import (
    NO_POLICIES,
    TRUSTED,
    UNTRUSTED,
    find_exclusions_property,
    is_app_reference,
    no_property_status,
    property_status,
    read_policy_exclusions,
)
from maa_guard.model import ExclusionSource, SourceState
from maa_guard.snapshot import Exclusion, SourceStatus

APP_1 = "350f6c08-5658-4455-a594-a9245970fd44"
APP_2 = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"
SP_1 = "885cfe9d-ff9e-4b6a-b436-a94ab3a7454d"
PUBLISHED = {
    "@odata.type": "#microsoft.graph.operationApprovalPolicy",
    "id": "a44b31e5-8ba9-4337-9698-57b8e463df88",
    "displayName": "Apps - Windows",
    "description": "",
    "lastModifiedDateTime": "2026-07-01T10:00:00Z",
    "policyType": "app",
    "policyPlatform": "notApplicable",
    "policySet": {"policyType": "app", "policyPlatform": "notApplicable"},
    "approverGroupIds": ["b0c8a1e2-5f3d-4a7b-9c6e-1d2f3a4b5c6d"],
}


def policy(**extra: Any) -> dict[str, Any]:
    return {**PUBLISHED, **extra}


# ---- auto: finding the property -------------------------------------------------------------


@pytest.mark.parametrize(
    ("policies", "found"),
    [
        pytest.param([policy(excludedApplicationIds=[APP_1])], "excludedApplicationIds", id="ids"),
        pytest.param([policy(exclusions=[{"appId": APP_1}])], "exclusions", id="appId-objects"),
        pytest.param(
            [policy(excludedServicePrincipals=[{"servicePrincipalId": SP_1}])],
            "excludedServicePrincipals",
            id="servicePrincipalId-objects",
        ),
        pytest.param([policy(appExclusions=[{"id": APP_1}])], "appExclusions", id="id-objects"),
        pytest.param(
            [policy(EXCLUDEDAPPS=[APP_1]), policy()], "EXCLUDEDAPPS", id="any-case-some-policy"
        ),
        pytest.param(
            [policy(exemptApps=[APP_1], excludedAppIds=[])], "excludedAppIds", id="empty-app-list"
        ),
        pytest.param(
            [policy(excludedApps=[APP_1, "not-a-guid", 7, {"appId": "x"}])],
            "excludedApps",
            id="junk-beside-guids",
        ),
    ],
)
def test_auto_finds_the_exclusion_property(policies: list[dict[str, Any]], found: str) -> None:
    assert find_exclusions_property(policies) == found


@pytest.mark.parametrize(
    "policies",
    [
        pytest.param([policy()], id="published-properties-only"),
        pytest.param([], id="no-policies"),
        pytest.param([policy(excludedPlatforms=["android", "iOS"])], id="non-guid-strings"),
        pytest.param([policy(exclusions=[{"appId": "x"}, {"name": APP_1}])], id="junk-objects"),
        pytest.param([policy(exclusions=[])], id="empty-list-not-named-for-apps"),
        pytest.param([policy(hasExclusions=True)], id="not-a-list"),
        pytest.param(
            [policy(excludedApps=[APP_1]), policy(excludedApps=None)], id="null-on-one-policy"
        ),
        pytest.param([policy(**{"excludedApps@odata.type": [APP_1]})], id="annotation"),
        pytest.param([policy(exemptApplicationIds=[APP_1])], id="name-without-exclu"),
    ],
)
def test_auto_finds_none(policies: list[dict[str, Any]]) -> None:
    assert find_exclusions_property(policies) is None


def test_the_property_drafts_write_wins_even_with_ids_that_are_not_guids() -> None:
    raws = [policy(excludedApplicationIds=["excluded-app"], excludedApps=[APP_1, APP_2])]
    assert find_exclusions_property(raws) == "excludedApplicationIds"


def test_the_property_with_the_most_app_references_wins_then_the_first_name() -> None:
    raws = [
        policy(excludedApps=[APP_1], exclusionList=[APP_1, APP_2]),
        policy(excludedApps=[], exclusionList=[SP_1]),
    ]
    assert find_exclusions_property(raws) == "exclusionList"
    tied = [policy(zExcluded=[APP_1], aExcluded=[APP_2])]
    assert find_exclusions_property(tied) == "aExcluded"


def test_a_property_that_is_junk_on_one_policy_is_not_taken() -> None:
    raws = [policy(excludedApps=[APP_1]), policy(excludedApps=["android"])]
    assert find_exclusions_property(raws) is None


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (APP_1, True),
        (APP_1.upper(), True),
        ("not-a-guid", False),
        ("", False),
        ({"appId": APP_1}, True),
        ({"servicePrincipalId": SP_1}, True),
        ({"id": APP_1}, True),
        ({"appId": "x", "displayName": "X"}, False),
        (None, False),
        (42, False),
    ],
)
def test_app_references(item: Any, expected: bool) -> None:
    assert is_app_reference(item) is expected


# ---- a configured name ----------------------------------------------------------------------


def test_a_configured_name_a_policy_carries_is_used_whatever_it_holds() -> None:
    raws = [policy(exemptApps=["excluded-app"], excludedApps=[APP_1])]
    assert find_exclusions_property(raws, "exemptApps") == "exemptApps"
    assert find_exclusions_property([policy(exemptApps=[])], "exemptApps") == "exemptApps"


def test_a_configured_name_no_policy_carries_falls_back_to_auto() -> None:
    raws = [policy(excludedApps=[APP_1])]
    assert find_exclusions_property(raws, "exemptApps") == "excludedApps"
    assert find_exclusions_property([policy()], "exemptApps") is None


def test_auto_is_the_default() -> None:
    assert AUTO_EXCLUSIONS_PROPERTY == "auto"
    assert find_exclusions_property([policy(excludedApps=[APP_1])], "auto") == "excludedApps"


# ---- reading the property -------------------------------------------------------------------


def test_objects_are_read_by_appid_then_service_principal_id_then_id() -> None:
    raw = policy(
        exclusions=[
            {"appId": APP_1, "servicePrincipalId": SP_1, "displayName": "Patch My PC"},
            {"servicePrincipalId": SP_1.replace("8", "9")},
            {"id": APP_2, "displayName": 5},
            {"appId": "x"},
            "plain-app-id",
            APP_1,
        ]
    )
    sp_2 = SP_1.replace("8", "9")
    source = ExclusionSource.POLICY_PROPERTY
    assert read_policy_exclusions(raw, "exclusions") == (
        Exclusion(APP_1, source, SP_1, "Patch My PC"),
        Exclusion(sp_2, source, sp_2),
        Exclusion(APP_2, source, APP_2),
        Exclusion("plain-app-id", source),
    )


# ---- the exclusions source's status ---------------------------------------------------------

HISTORY = "exclusion history from audit category 'MultiAdminApproval'"


def test_the_reason_names_the_property_read() -> None:
    assert property_status("excludedApps", "auto", HISTORY) == SourceStatus(
        SourceState.COMPLETE,
        reason="from the access policies' property 'excludedApps' and the audit log; "
        "exclusion history from audit category 'MultiAdminApproval'",
    )
    assert property_status("excludedApps", "exemptApps", "") == SourceStatus(
        SourceState.COMPLETE,
        reason="from the access policies' property 'excludedApps' and the audit log; "
        "no access policy carries the configured property 'exemptApps'",
    )


def test_without_a_property_the_reason_names_the_setting_and_the_declaration() -> None:
    untrusted = no_property_status(False, "auto", HISTORY)
    assert untrusted == SourceStatus(SourceState.PARTIAL, reason=f"{UNTRUSTED}; {HISTORY}")
    assert UNTRUSTED == (
        "no access policy carries an exclusion property (Microsoft Graph publishes none), so "
        "exclusions older than the audit log cannot be seen; declare every exclusion in "
        "[[exclusions]] ('maa-guard exclusions export' writes those the audit log shows; add the "
        "rest by hand from each access policy's Exclusions tab in the Intune admin center) and "
        "set graph.trust_declared_exclusions = true"
    )
    trusted = no_property_status(True, "exemptApps", HISTORY)
    assert trusted == SourceStatus(
        SourceState.DECLARED,
        reason=f"{TRUSTED}; no access policy carries the configured property 'exemptApps'; "
        f"{HISTORY}",
    )
    assert TRUSTED == (
        "the inventory is the [[exclusions]] declaration plus the audit log "
        "(graph.trust_declared_exclusions), because Microsoft Graph publishes no exclusion "
        "property and no access policy carries one; exclusions older than the audit log cannot "
        "be seen"
    )
    assert NO_POLICIES == "no access policy exists, so nothing is excluded"


# ---- the audit category functions' budget ---------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "deviceManagement/auditEvents/getAuditCategories",
        "deviceManagement/auditEvents/getAuditActivityTypes(category='MultiAdminApproval')",
    ],
)
def test_the_audit_category_functions_are_charged_to_intune(path: str) -> None:
    assert charge(path, {}) == (EndpointClass.INTUNE, 1.0)
