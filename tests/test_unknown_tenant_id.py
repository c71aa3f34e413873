"""When the tenant's own id is unknown (its organization could not be read), an app's home tenant
cannot be compared with it: the rules that need the comparison say `error`, never `fail`."""

from __future__ import annotations

from builders import ERROR, FAIL, PASS, TENANT_ID, add_policy, add_sp, finding, new_snapshot, scan

APP = "11111111-2222-3333-4444-555555555555"
RESOURCE = APP


def _excluded_own_app(tenant_id: str) -> dict[str, object]:
    snap = new_snapshot()
    snap["tenant"]["id"] = tenant_id
    add_sp(snap, APP, name="Own App")
    add_policy(snap, "p1", "app", exclusions=[APP])
    return snap


def test_the_home_tenant_check_cannot_verify_without_the_tenants_id() -> None:
    result = scan(_excluded_own_app(""))
    mine = finding(result, "MAA406", RESOURCE)
    assert mine.status is ERROR
    assert mine.message == (
        "could not verify: the tenant's own id is unknown (its organization could not be read), "
        "so whether the app is registered here cannot be told"
    )
    assert "multi-tenant" not in finding(result, "MAA402", RESOURCE).message


def test_with_the_tenants_own_id_the_app_is_judged() -> None:
    result = scan(_excluded_own_app(TENANT_ID))
    assert finding(result, "MAA406", RESOURCE).status is PASS
    assert finding(result, "MAA402", RESOURCE).status is FAIL  # no Conditional Access covers it
