"""`maa-guard probe` end to end: the real CLI, credential and Graph client over loopback HTTP
against the emulator's two profiles; nothing of the tenant may leak into any output."""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from maa_guard.cli import main
from maa_guard.emulator import READER_ROLES, Emulator, fixture_from_snapshot
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

REPO = Path(__file__).resolve().parent.parent
DEMO = load_snapshot(demo_path("snapshot.json"))
# A bearer token of its own, so that finding it anywhere in the output means it leaked.
SECRET_TOKEN = "probe-e2e-bearer-3f9c2a7d51e04b8a9c0d"
FORMATS = ("table", "json", "markdown")


def demo_fixture() -> dict[str, Any]:
    fixture = fixture_from_snapshot(DEMO)
    fixture["tokens"][SECRET_TOKEN] = {
        "kind": "application",
        "appId": "9d3f4e1a-0b2c-4d5e-8f60-718293a4b5c6",
        "roles": list(READER_ROLES),
    }
    return fixture


FIXTURE = demo_fixture()


def demo_now() -> datetime:
    """Before every demo request expires, so the emulator expires none on first read."""
    return min(r.request_date_time for r in DEMO.approval_requests)


def window_days() -> int:
    """An audit window (from today) that reaches back to the demo's first event."""
    first = min(e.activity_date_time for e in DEMO.audit_events)
    return (datetime.now(timezone.utc) - first).days + 2


def probe_args(url: str, *extra: str) -> list[str]:
    days = str(window_days())
    return ["probe", "--auth", "token", "--graph-endpoint", url, "--days", days, *extra]


@pytest.fixture(autouse=True)
def signed_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", SECRET_TOKEN)


@pytest.fixture
def default_graph() -> Iterator[Emulator]:
    with Emulator(FIXTURE, now=demo_now, fixed_tokens=True) as emulator:
        yield emulator


@pytest.fixture
def published_graph() -> Iterator[Emulator]:
    with Emulator(FIXTURE, now=demo_now, profile="published", fixed_tokens=True) as emulator:
        yield emulator


def json_report(url: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = main(probe_args(url, "--format", "json"))
    captured = capsys.readouterr()
    assert (code, captured.err) == (0, "")
    document: dict[str, Any] = json.loads(captured.out)
    schema = json.loads((REPO / "docs" / "probe-schema.json").read_text(encoding="utf-8"))
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(document)) == []
    return document


def verdict(document: dict[str, Any], key: str) -> tuple[str, str]:
    (found,) = [a for a in document["assumptions"] if a["key"] == key]
    return found["verdict"], found["observation"]


POLICIES = FIXTURE["collections"]["deviceManagement/operationApprovalPolicies"]
REQUESTS = FIXTURE["collections"]["deviceManagement/operationApprovalRequests"]
EXCLUSION_EVENTS = sum("exclu" in e.activity_type.lower() for e in DEMO.audit_events)


# ---- the two profiles ----------------------------------------------------------------------


def test_the_default_profile_shows_the_exclusion_property(
    default_graph: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json_report(default_graph.url, capsys)
    policies, requests = document["access_policies"], document["approval_requests"]
    assert (policies["listed"], policies["read_by_id"]) == (len(POLICIES), len(POLICIES))
    assert policies["exclusion_property"] == {
        "name": "excludedApplicationIds",
        "types": ["array<empty>", "array<string>"],  # served on every policy, [] if none
        "count": len(POLICIES),
    }
    assert verdict(document, "policy.exclusion-property") == (
        "contradicted",
        f"excludedApplicationIds (array<empty>|array<string>) on {len(POLICIES)} of "
        f"{len(POLICIES)} policies",
    )
    assert requests["null_requestor"] == {"count": 0, "total": len(REQUESTS), "share": 0.0}
    assert verdict(document, "request.requestor-populated") == (
        "confirmed",
        f"requestor named on all {len(REQUESTS)} requests",
    )
    assert verdict(document, "audit.maa-category") == (
        "confirmed",
        f"exclusion events in Role ({EXCLUSION_EVENTS} events), chosen by its activity types",
    )
    assert {row["status"] for row in document["endpoints"]} == {200}


def test_the_published_profile_shows_no_exclusion_property_and_no_requestor(
    published_graph: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json_report(published_graph.url, capsys)
    policies, requests = document["access_policies"], document["approval_requests"]
    assert (policies["exclusion_property"], policies["undocumented"]) == (None, [])
    assert verdict(document, "policy.exclusion-property") == (
        "confirmed",
        f"no property name contains 'exclu' on {len(POLICIES)} policies",
    )
    assert requests["null_requestor"] == {
        "count": len(REQUESTS),
        "total": len(REQUESTS),
        "share": 1.0,
    }
    assert verdict(document, "request.requestor-populated") == (
        "contradicted",
        f"requestor null on {len(REQUESTS)} of {len(REQUESTS)} requests (100%)",
    )
    assert verdict(document, "audit.maa-category") == (
        "confirmed",
        f"exclusion events in MultiAdminApproval ({EXCLUSION_EVENTS} events), chosen by its "
        "activity types",
    )
    assert "MultiAdminApproval" in document["audit"]["categories"]["values"]
    assert verdict(document, "audit.functions")[0] == "confirmed"


def test_the_probe_sends_only_gets_and_asks_for_unknown_enum_members(
    published_graph: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    json_report(published_graph.url, capsys)
    sent = published_graph.requests
    assert {r.method for r in sent} == {"GET"}
    assert {r.headers.get("prefer") for r in sent} == {"include-unknown-enum-members"}
    by_path = {r.path.split("?")[0] for r in sent}
    assert "/beta/deviceManagement/auditEvents/getAuditCategories" in by_path
    assert (
        "/beta/deviceManagement/auditEvents/getAuditActivityTypes(category='MultiAdminApproval')"
        in by_path
    )
    policy_reads = [
        r for r in sent if r.path.startswith("/beta/deviceManagement/operationApprovalPolicies")
    ]
    assert all("$select" not in r.query for r in policy_reads)
    assert len(policy_reads) == len(POLICIES) + 1


# ---- nothing of the tenant leaks ------------------------------------------------------------

# Values the probe shows by design, because they are Microsoft's vocabulary, not tenant text:
# enum members it counts, audit strings it groups, and resource types (``type``).
REPORTED_KEYS = frozenset(
    {
        "policyType",
        "policyPlatform",
        "status",
        "requiredOperationApprovalPolicyTypes",
        "category",
        "activityType",
        "activity",
        "componentName",
        "type",
    }
)
# Other Graph enums in the fixture: one-word values such as "Application", "User", "All" or
# "OR" that the report's own words (permission names, column titles) contain by chance.
ENUM_KEYS = frozenset(
    {
        "activityOperationType",
        "activityResult",
        "allowedMemberTypes",
        "appliesTo",
        "auditActorType",
        "builtInControls",
        "capabilityStatus",
        "includeLocations",
        "kind",
        "operatingSystem",
        "operator",
        "origin",
        "principalType",
        "servicePrincipalRiskLevels",
        "servicePrincipalType",
        "signInEventTypes",
        "userType",
    }
)
SHORT = 6
# Microsoft Graph's own appId, named in the path of the Graph service principal's read.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


def fixture_strings(value: object, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, string) for every string value of the fixture, at any depth."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from fixture_strings(item, str(name))
    elif isinstance(value, list):
        for item in value:
            yield from fixture_strings(item, key)
    elif isinstance(value, str):
        yield key, value


def permission_names() -> set[str]:
    """The Microsoft Graph application permissions (its service principal's app roles): the
    report names the permission each endpoint needs."""
    (graph_sp,) = [
        sp for sp in FIXTURE["collections"]["servicePrincipals"] if sp["appId"] == GRAPH_APP_ID
    ]
    return {role["value"] for role in graph_sp["appRoles"]}


def tenant_strings() -> set[str]:
    """Every fixture string but the vocabulary above and the empty string."""
    excluded = permission_names() | {GRAPH_APP_ID, ""}
    return {
        text
        for key, text in fixture_strings(FIXTURE)
        if key not in REPORTED_KEYS | ENUM_KEYS and text not in excluded
    }


def test_the_leak_check_covers_names_ids_justifications_and_the_tenant() -> None:
    strings = tenant_strings()
    assert len(strings) > 300
    assert {
        DEMO.tenant.id,
        DEMO.tenant.display_name,
        DEMO.policies[0].id,
        DEMO.policies[0].display_name,
        DEMO.approval_requests[0].request_justification,
        DEMO.users[0].user_principal_name,
        DEMO.groups[0].id,
    } <= strings


@pytest.mark.parametrize("profile", ["default", "published"])
def test_no_tenant_string_appears_in_any_output(
    profile: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = [tmp_path / "probe.txt", tmp_path / "probe.json", tmp_path / "probe.md"]
    texts = []
    with Emulator(FIXTURE, now=demo_now, profile=profile, fixed_tokens=True) as emulator:
        for output_format in FORMATS:
            assert main(probe_args(emulator.url, "--format", output_format)) == 0
            captured = capsys.readouterr()
            texts += [captured.out, captured.err]
        assert main(probe_args(emulator.url, *(f"-o{path}" for path in outputs))) == 0
    texts += [path.read_text(encoding="utf-8") for path in outputs]
    everything = "\n".join(texts)
    assert "excludedApplicationIds" in everything or profile == "published"
    assert sorted(s for s in tenant_strings() if appears(s, everything)) == []


def appears(text: str, output: str) -> bool:
    """A substring; a short string (a justification "test") only as a whole word, which
    the report's own words ("latest") would otherwise contain by chance."""
    if len(text) >= SHORT:
        return text in output
    return re.search(rf"(?<!\w){re.escape(text)}(?!\w)", output) is not None


def test_the_bearer_token_never_appears(
    default_graph: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    report = tmp_path / "probe.json"
    assert (
        main(probe_args(default_graph.url, "--debug", "--format", "table", "-o", str(report))) == 0
    )
    captured = capsys.readouterr()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # the client logged its requests, and the check saw them
    for text in (captured.out, captured.err, logged, report.read_text(encoding="utf-8")):
        assert SECRET_TOKEN not in text


# ---- files, exit codes ---------------------------------------------------------------------


def test_files_are_written_and_standard_output_stays_empty(
    default_graph: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = {"json": tmp_path / "p.json", "markdown": tmp_path / "p.md", "table": tmp_path / "t"}
    specs = [str(paths["json"]), str(paths["markdown"]), f"table={paths['table']}"]
    code = main(probe_args(default_graph.url, *(item for s in specs for item in ("-o", s))))
    captured = capsys.readouterr()
    written = "".join(f"wrote {paths[name]}\n" for name in ("json", "markdown", "table"))
    assert (code, captured.out, captured.err) == (0, "", written)
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["schema_version"] == 1
    assert paths["markdown"].read_text(encoding="utf-8").startswith("## maa-guard ")
    table = paths["table"].read_text(encoding="utf-8")
    assert table.startswith("maa-guard ") and "\x1b" not in table
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json", "p.md", "t"]


def test_a_denied_permission_is_a_row_not_a_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    faults = {"deny": {"identity/conditionalAccess/policies": "Policy.Read.All"}}
    with Emulator(FIXTURE, now=demo_now, faults=faults, fixed_tokens=True) as emulator:
        document = json_report(emulator.url, capsys)
    (row,) = [r for r in document["endpoints"] if r["key"] == "tenant.conditionalAccess"]
    assert (row["status"], row["error_codes"], row["permission"]) == (
        403,
        ["Authorization_RequestDenied"],
        "Policy.Read.All",
    )


def closed_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port: int = probe_socket.getsockname()[1]
    return port


def test_graph_out_of_reach_is_exit_3_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    code = main(probe_args(url, "-o", str(tmp_path / "p.md")))
    assert (code, capsys.readouterr().err) == (
        3,
        "error: Graph could not be reached (ConnectError)\n"
        "hint: check --graph-endpoint, --cloud and the network (proxy settings: HTTPS_PROXY)\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_a_rejected_token_is_exit_3_after_one_request(
    default_graph: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "a-token-the-tenant-does-not-know")
    code = main(probe_args(default_graph.url))
    assert (code, capsys.readouterr().err) == (
        3,
        "error: signing in failed: Graph rejected the token (HTTP 401)\n"
        "hint: check --auth and the tenant the credential belongs to\n",
    )
    assert [(r.path, r.status) for r in default_graph.requests] == [
        ("/beta/deviceManagement/operationApprovalPolicies", 401)
    ]


def test_no_credential_is_exit_2_as_for_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MAA_GUARD_ACCESS_TOKEN")
    code = main(probe_args(f"http://127.0.0.1:{closed_port()}"))
    assert (code, capsys.readouterr().err) == (
        2,
        "error: signing in failed: --auth token: MAA_GUARD_ACCESS_TOKEN is not set\n"
        "hint: export MAA_GUARD_ACCESS_TOKEN with a Graph access token\n",
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "probe.pdf"], "error: -o 'probe.pdf': cannot tell the format from the file name"),
        (
            ["--days", "0"],
            "maa-guard probe: error: argument --days: "
            "expected a whole number from 1 to 3650, got '0'",
        ),
        (
            ["--days", "10" * 20],
            "maa-guard probe: error: argument --days: "
            f"expected a whole number from 1 to 3650, got '{'10' * 20}'",
        ),
        (
            ["--timeout", "nan"],
            "maa-guard probe: error: argument --timeout: "
            "expected seconds from 0 to 2592000, got 'nan'",
        ),
    ],
)
def test_bad_input_is_exit_2_before_any_request(
    default_graph: Emulator,
    extra: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    try:
        code = main([*probe_args(default_graph.url), *extra])
    except SystemExit as stopped:  # the parser refuses the value itself
        code = int(stopped.code or 0)
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert (code, errors) == (2, [message])
    assert default_graph.requests == []
