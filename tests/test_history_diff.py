"""Drift between two scans: properties over generated tenants, and each category by example.

Properties (hypothesis): diff(A, A) is empty; applying diff(A, B) to A's keyed sets gives B's;
diff(B, A) is diff(A, B) turned around.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from builders import (
    add_group,
    add_policy,
    add_sp,
    add_user,
    certificate,
    exclusion,
    new_snapshot,
    registration,
    scan,
    secret,
    set_source,
    user_ref,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from maa_guard.history.diff import (
    approver_members,
    compute_drift,
    credential_states,
    exclusion_items,
    failing_findings,
    policy_states,
)
from maa_guard.history.drift import (
    ApproverMember,
    CredentialState,
    Drift,
    ExclusionItem,
    FieldChange,
    PolicyState,
    ScanSide,
)
from maa_guard.history.records import StoredFinding
from maa_guard.model import Severity, Status
from maa_guard.snapshot import Snapshot
from maa_guard.snapshot.file import parse_snapshot

Json = dict[str, Any]
POLICY_IDS = ("pol-1", "pol-2", "pol-3")
GROUPS = ("grp-a", "grp-b", "grp-c")
USERS = ("u-1", "u-2", "u-3", "u-4")
APPS = ("app-1", "app-2", "app-3")
KEYS = ("key-1", "key-2")
DATES = ("2027-01-01T00:00:00Z", "2027-06-01T00:00:00Z")
SUBJECTS = ("repo:contoso/intune:ref:refs/heads/main", "repo:contoso/intune:environment:prod")
FINGERPRINTS = tuple(f"{n:032x}" for n in range(6))

# ---- generated tenants ----------------------------------------------------------------------

policy_strategy = st.fixed_dictionaries(
    {
        "name": st.sampled_from(("Apps", "Scripts <b>")),
        "type": st.sampled_from(("app", "script")),
        "platform": st.sampled_from(("notApplicable", "windows10AndLater")),
        "approvers": st.sets(st.sampled_from(GROUPS)),
        "exclusions": st.sets(st.sampled_from(APPS)),
    }
)
credential_strategy = st.fixed_dictionaries(
    {
        "sp_secrets": st.dictionaries(st.sampled_from(KEYS), st.sampled_from(DATES)),
        "secrets": st.dictionaries(st.sampled_from(KEYS), st.sampled_from(DATES)),
        "certificates": st.dictionaries(st.sampled_from(KEYS), st.sampled_from(DATES)),
        "subject": st.none() | st.sampled_from(SUBJECTS),
    }
)
world_strategy = st.fixed_dictionaries(
    {
        "policies": st.dictionaries(st.sampled_from(POLICY_IDS), policy_strategy),
        "groups": st.dictionaries(st.sampled_from(GROUPS), st.sets(st.sampled_from(USERS))),
        "apps": st.dictionaries(st.sampled_from(APPS), credential_strategy),
        "findings": st.dictionaries(
            st.sampled_from(FINGERPRINTS), st.sampled_from((Status.FAIL, Status.PASS))
        ),
    }
)


def build(world: Json) -> ScanSide:
    snap = new_snapshot()
    for user in USERS:
        add_user(snap, user)
    for group_id, members in sorted(world["groups"].items()):
        add_group(snap, group_id, [user_ref(u) for u in sorted(members)])
    for policy_id, policy in sorted(world["policies"].items()):
        add_policy(
            snap,
            policy_id,
            policy["type"],
            sorted(policy["approvers"]),
            platform=policy["platform"],
            name=policy["name"],
            exclusions=sorted(policy["exclusions"]),
        )
    for app_id, creds in sorted(world["apps"].items()):
        add_sp(
            snap,
            app_id,
            secrets=[secret(k, end=d) for k, d in sorted(creds["sp_secrets"].items())],
            application=_registration(app_id, creds),
        )
    findings = tuple(
        StoredFinding("MAA101", "policy", fp, fp, status, Severity.HIGH, fp, f"finding {fp}")
        for fp, status in sorted(world["findings"].items())
    )
    return ScanSide(parse_snapshot(snap), findings)


def _registration(app_id: str, creds: Json) -> Json:
    app = registration(
        app_id,
        secrets=[secret(k, end=d) for k, d in sorted(creds["secrets"].items())],
        certificates=[certificate(k, end=d) for k, d in sorted(creds["certificates"].items())],
        federated=creds["subject"] is not None,
    )
    for fic in app["federatedIdentityCredentials"]:
        fic["subject"] = creds["subject"]
    return app


# ---- applying a drift to the earlier side's sets --------------------------------------------

_ATTRIBUTES = {
    "displayName": "display_name",
    "description": "description",
    "policyType": "policy_type",
    "policyPlatform": "policy_platform",
    "approverGroupIds": "approver_group_ids",
}


def scope(a: Snapshot, b: Snapshot) -> frozenset[str]:
    return frozenset(key[1] for key in (*exclusion_items(a), *exclusion_items(b)))


def keyed_sets(side: ScanSide, apps: frozenset[str]) -> dict[str, Any]:
    credentials = credential_states(side.snapshot, apps)
    return {
        "policies": policy_states(side.snapshot),
        "approvers": set(approver_members(side.snapshot)),
        "exclusions": set(exclusion_items(side.snapshot)),
        "credentials": {key: state.compared() for key, state in credentials.items()},
        "findings": set(failing_findings(side.findings)),
    }


def apply(drift: Drift, sets: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(sets)
    policies = result["policies"]
    for policy in drift.policies_removed:
        del policies[policy.id.lower()]
    for policy in drift.policies_added:
        policies[policy.id.lower()] = policy
    for change in drift.policies_changed:
        updates = {_ATTRIBUTES[c.field]: c.after for c in change.changes}
        policies[change.id.lower()] = replace(policies[change.id.lower()], **updates)
    result["approvers"] -= {_member_key(m) for m in drift.approvers_removed}
    result["approvers"] |= {_member_key(m) for m in drift.approvers_added}
    result["exclusions"] -= {_exclusion_key(e) for e in drift.exclusions_removed}
    result["exclusions"] |= {_exclusion_key(e) for e in drift.exclusions_added}
    credentials = result["credentials"]
    for state in drift.credentials_removed:
        del credentials[_credential_key(state)]
    for state in drift.credentials_added:
        credentials[_credential_key(state)] = state.compared()
    for change in drift.credentials_changed:
        fields = credentials[_credential_key(change.before)]
        fields.update({c.field: c.after for c in change.changes})
    result["findings"] -= {f.fingerprint for f in drift.findings_resolved}
    result["findings"] |= {f.fingerprint for f in drift.findings_new}
    return result


def _member_key(member: ApproverMember) -> tuple[str, str]:
    return member.group_id.lower(), member.member_id.lower()


def _exclusion_key(item: ExclusionItem) -> tuple[str, str]:
    return item.policy_id.lower(), item.app_id.lower()


def _credential_key(state: CredentialState) -> tuple[str, str, str, str]:
    return state.app_id.lower(), state.holder, state.kind, state.credential_id.lower()


@settings(max_examples=100, deadline=None)
@given(world_strategy)
def test_a_scan_has_no_drift_from_itself(world: Json) -> None:
    side = build(world)
    drift = compute_drift(side, build(world))
    assert drift.is_empty
    assert not drift.fails
    assert drift == Drift(before=drift.before, after=drift.after)


@settings(max_examples=200, deadline=None)
@given(world_strategy, world_strategy)
def test_applying_the_drift_to_a_gives_b(world_a: Json, world_b: Json) -> None:
    a, b = build(world_a), build(world_b)
    drift = compute_drift(a, b)
    apps = scope(a.snapshot, b.snapshot)
    assert apply(drift, keyed_sets(a, apps)) == keyed_sets(b, apps)


@settings(max_examples=100, deadline=None)
@given(world_strategy, world_strategy)
def test_the_drift_back_is_the_drift_turned_around(world_a: Json, world_b: Json) -> None:
    a, b = build(world_a), build(world_b)
    forth, back = compute_drift(a, b), compute_drift(b, a)
    assert set(back.policies_added) == set(forth.policies_removed)
    assert {_member_key(m) for m in back.approvers_added} == {
        _member_key(m) for m in forth.approvers_removed
    }
    assert {_exclusion_key(e) for e in back.exclusions_removed} == {
        _exclusion_key(e) for e in forth.exclusions_added
    }
    assert {f.fingerprint for f in back.findings_new} == {
        f.fingerprint for f in forth.findings_resolved
    }
    assert {c.id for c in back.policies_changed} == {c.id for c in forth.policies_changed}


# ---- each category by example ---------------------------------------------------------------


def tenant() -> Json:
    snap = new_snapshot()
    add_user(snap, "u-1")
    add_user(snap, "u-2")
    add_group(snap, "grp-a", [user_ref("u-1")])
    add_policy(snap, "pol-1", approvers=["grp-a"], name="Apps", exclusions=["app-1"])
    add_sp(
        snap,
        "app-1",
        name="Deployer",
        secrets=[secret("key-1")],
        application=registration("app-1", certificates=[certificate("cert-1")], federated=True),
    )
    return snap


def drift_of(a: Json, b: Json) -> Drift:
    return compute_drift(
        ScanSide(parse_snapshot(copy.deepcopy(a)), ()),
        ScanSide(parse_snapshot(copy.deepcopy(b)), ()),
    )


def test_a_changed_policy_names_its_fields() -> None:
    a, b = tenant(), tenant()
    b["policies"][0]["displayName"] = "Apps (all)"
    b["policies"][0]["approverGroupIds"] = ["grp-b", "grp-a"]
    drift = drift_of(a, b)
    [change] = drift.policies_changed
    assert (change.id, change.display_name) == ("pol-1", "Apps (all)")
    assert change.changes == (
        FieldChange("displayName", "Apps", "Apps (all)"),
        FieldChange("approverGroupIds", ("grp-a",), ("grp-a", "grp-b")),
    )
    assert drift.fails


def test_policies_added_and_removed() -> None:
    a, b = tenant(), tenant()
    add_policy(b, "pol-2", "script", approvers=[], name="Scripts")
    drift = drift_of(a, b)
    assert drift.policies_added == (
        PolicyState("pol-2", "Scripts", "script", "notApplicable", "", ()),
    )
    assert drift_of(b, a).policies_removed == drift.policies_added


def test_approver_membership_changes_name_the_user() -> None:
    a, b = tenant(), tenant()
    b["groups"][0]["transitiveMembers"] = [user_ref("u-2")]
    b["groups"][0]["members"] = [user_ref("u-2")]
    drift = drift_of(a, b)
    assert drift.approvers_added == (
        ApproverMember("grp-a", "grp-a", "u-2", "user", "u-2@contoso-test.example"),
    )
    assert drift.approvers_removed == (
        ApproverMember("grp-a", "grp-a", "u-1", "user", "u-1@contoso-test.example"),
    )


def test_an_exclusion_added_brings_its_app_credentials_into_view() -> None:
    a, b = tenant(), tenant()
    add_sp(a, "app-2", name="Reporter", secrets=[secret("key-9")])
    add_sp(b, "app-2", name="Reporter", secrets=[secret("key-9", end="2028-01-01T00:00:00Z")])
    b["policies"][0]["exclusions"].append(exclusion("app-2", "audit-log"))
    drift = drift_of(a, b)
    assert drift.exclusions_added == (ExclusionItem("pol-1", "Apps", "app", "app-2", "Reporter"),)
    [change] = drift.credentials_changed
    assert change.after.credential_id == "key-9"
    assert change.changes == (
        FieldChange("endDateTime", "2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"),
    )


def test_credential_changes_on_an_excluded_app() -> None:
    a, b = tenant(), tenant()
    sp = b["service_principals"][0]
    sp["passwordCredentials"].append(secret("key-2"))
    sp["application"]["keyCredentials"] = []
    sp["application"]["federatedIdentityCredentials"][0]["subject"] = "repo:x/y:ref:refs/heads/dev"
    drift = drift_of(a, b)
    assert [(c.holder, c.kind, c.credential_id) for c in drift.credentials_added] == [
        ("servicePrincipal", "secret", "key-2")
    ]
    assert [(c.holder, c.kind, c.credential_id) for c in drift.credentials_removed] == [
        ("application", "certificate", "cert-1")
    ]
    [change] = drift.credentials_changed
    assert change.changes == (
        FieldChange(
            "subject", "repo:contoso/intune:ref:refs/heads/main", "repo:x/y:ref:refs/heads/dev"
        ),
    )


def test_credentials_of_apps_never_excluded_are_not_drift() -> None:
    a, b = tenant(), tenant()
    add_sp(a, "app-9", secrets=[secret("key-1")])
    add_sp(b, "app-9", secrets=[secret("key-2")])
    assert drift_of(a, b).is_empty


def test_new_and_resolved_findings_come_from_the_real_rules() -> None:
    a = tenant()
    b = copy.deepcopy(a)
    b["policies"][0]["approverGroupIds"] = []
    before, after = scan(a), scan(b)
    drift = compute_drift(
        ScanSide(before.snapshot, tuple(StoredFinding.of(f) for f in before.findings)),
        ScanSide(after.snapshot, tuple(StoredFinding.of(f) for f in after.findings)),
    )
    new = {(f.rule_id, f.resource_id) for f in drift.findings_new}
    assert ("MAA103", "pol-1") in new
    assert all(f.status is Status.FAIL for f in drift.findings_new + drift.findings_resolved)
    assert drift.fails


def test_only_resolved_findings_do_not_fail_the_gate() -> None:
    snap = parse_snapshot(tenant())
    failing = StoredFinding("MAA101", "t", "x", "", Status.FAIL, Severity.LOW, "f" * 32, "m")
    drift = compute_drift(ScanSide(snap, (failing,)), ScanSide(snap, ()))
    assert drift.findings_resolved == (failing,)
    assert not drift.is_empty
    assert not drift.fails


def test_an_incomplete_source_is_a_warning() -> None:
    a, b = tenant(), tenant()
    set_source(b, "groups", "failed", "HTTP 403", "GroupMember.Read.All")
    drift = drift_of(a, b)
    assert drift.warnings == (
        "approver members may be inaccurate: in file -, groups is failed (HTTP 403); "
        "missing permission GroupMember.Read.All",
    )
