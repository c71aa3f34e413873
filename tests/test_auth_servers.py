"""``--auth managed-identity`` and ``--auth device-code`` end to end: the real CLI, the real
azure-identity credentials and MSAL, over real HTTP to the loopback managed-identity endpoint
(``maa_guard.emulator.imds``) and the fake TLS Entra authority, then the Graph emulator.

Each fixture holds only the token of the identity under test, so a complete collection proves
that every Graph call carried that identity's token.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.emulator.authority import DEVICE_CODE_GRANT, FakeAuthority, authority_for
from maa_guard.emulator.imds import (
    MANAGED_IDENTITY_VARIABLES,
    ManagedIdentityEndpoint,
    TokenRequest,
)
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
GRAPH = "https://graph.microsoft.com"
SYSTEM_APP = "5d1f7a0e-6b2c-4f8a-9e3d-1c2b3a4d5e6f"
USER_ASSIGNED_APP = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
SYSTEM_TOKEN = "mi-system-token-3f9c-never-printed"
USER_ASSIGNED_TOKEN = "mi-user-assigned-token-8e21-never-printed"
DELEGATED_TOKEN = "delegated-token-5b7d-never-printed"
SIGNED_IN = DEMO.users[0]
AZURE_CLI_APP = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"  # azure-identity's default public client
_CLEARED = (
    *MANAGED_IDENTITY_VARIABLES,
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "MAA_GUARD_ACCESS_TOKEN",
)


def demo_now() -> datetime:
    return min(r.request_date_time for r in DEMO.approval_requests)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)


def tenant_accepting(tokens: dict[str, Any]) -> dict[str, Any]:
    fixture = fixture_from_snapshot(DEMO)
    fixture["tokens"] = tokens
    return fixture


def application(app_id: str) -> dict[str, Any]:
    return {"kind": "application", "appId": app_id, "roles": list(graphroles.READER_ROLES)}


def delegated_user() -> dict[str, Any]:
    scopes = " ".join(graphroles.READER_ROLES)
    return {"kind": "user", "userId": SIGNED_IN.id, "scp": scopes}


def live(method: str, url: str, *extra: str) -> list[str]:
    return ["--auth", method, "--graph-endpoint", url, "--days", "365", "--quiet", *extra]


def set_environment(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


# ---- managed identity -----------------------------------------------------------------------


@contextmanager
def managed_identity_host(
    tokens: dict[str, Any],
) -> Iterator[tuple[Emulator, ManagedIdentityEndpoint]]:
    """An Azure resource with a system-assigned and a user-assigned identity."""
    emulator = Emulator(tenant_accepting(tokens), now=demo_now, fixed_tokens=True)
    with emulator, ManagedIdentityEndpoint(emulator, SYSTEM_APP, [USER_ASSIGNED_APP]) as endpoint:
        yield emulator, endpoint


BOTH_IDENTITIES = {
    SYSTEM_TOKEN: application(SYSTEM_APP),
    USER_ASSIGNED_TOKEN: application(USER_ASSIGNED_APP),
}


@pytest.fixture
def managed() -> Iterator[tuple[Emulator, ManagedIdentityEndpoint]]:
    with managed_identity_host(BOTH_IDENTITIES) as host:
        yield host


@pytest.mark.parametrize("protocol", ["imds", "app-service"])
@pytest.mark.parametrize(
    ("client_id", "app_id", "token"),
    [("", SYSTEM_APP, SYSTEM_TOKEN), (USER_ASSIGNED_APP, USER_ASSIGNED_APP, USER_ASSIGNED_TOKEN)],
    ids=["system-assigned", "user-assigned"],
)
def test_snapshot_collects_as_the_managed_identity(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    protocol: str,
    client_id: str,
    app_id: str,
    token: str,
) -> None:
    out_file = tmp_path / "tenant.json"
    with managed_identity_host({token: application(app_id)}) as (emulator, endpoint):
        set_environment(monkeypatch, endpoint.environment(protocol))
        if client_id:
            monkeypatch.setenv("AZURE_CLIENT_ID", client_id)
        code = main(["snapshot", "-o", str(out_file), *live("managed-identity", emulator.url)])
    out, err = capfd.readouterr()
    collected = load_snapshot(out_file)
    assert (code, out, err) == (0, "", f"wrote {out_file}\n")
    assert endpoint.requests == [TokenRequest(protocol, GRAPH, client_id, 200)]
    assert {name: s.state.value for name, s in collected.sources.items()} == dict.fromkeys(
        DEMO.sources, "complete"
    )
    assert sorted(p.id for p in collected.policies) == sorted(p.id for p in DEMO.policies)
    assert token not in out_file.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("protocol", "setup", "logged", "problem"),
    [
        (
            "app-service",
            {"IDENTITY_HEADER": "wrong-header-value"},
            TokenRequest("app-service", GRAPH, "", 401),
            "App Service managed identity configuration not found in environment. "
            "Token request error: (invalid_scope) 401, "
            "The X-IDENTITY-HEADER header is missing or wrong.",
        ),
        (
            "imds",
            {"AZURE_CLIENT_ID": "00000000-0000-0000-0000-00000000beef"},
            TokenRequest("imds", GRAPH, "00000000-0000-0000-0000-00000000beef", 400),
            "ManagedIdentityCredential authentication unavailable, no response from the IMDS "
            "endpoint. Token request error: (invalid_request) Identity not found",
        ),
    ],
    ids=["wrong-identity-header", "unassigned-client-id"],
)
def test_a_refused_managed_identity_fails_with_the_reason(
    managed: tuple[Emulator, ManagedIdentityEndpoint],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    protocol: str,
    setup: dict[str, str],
    logged: TokenRequest,
    problem: str,
) -> None:
    emulator, endpoint = managed
    set_environment(monkeypatch, {**endpoint.environment(protocol), **setup})
    code = main(["scan", "--format", "json", *live("managed-identity", emulator.url)])
    out, err = capfd.readouterr()
    assert (code, out) == (2, "")
    assert err.splitlines()[-2:] == [
        f"error: could not get a Graph token: {problem}",
        "hint: check the credential given by --auth",
    ]
    assert endpoint.requests == [logged]  # one refused sign-in, not one per pending call
    assert emulator.requests == []
    assert "wrong-header-value" not in err and endpoint.identity_header not in err


@pytest.mark.parametrize(
    ("path", "headers", "status", "body"),
    [
        (
            "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://graph.microsoft.com",
            {},
            400,
            {
                "error": "invalid_request",
                "error_description": "Required metadata header not specified",
            },
        ),
        (
            "/metadata/identity/oauth2/token?resource=https://graph.microsoft.com",
            {"Metadata": "true"},
            400,
            {
                "error": "invalid_request",
                "error_description": "Required query variable 'api-version' is missing",
            },
        ),
        (
            "/metadata/identity/oauth2/token?api-version=2018-02-01",
            {"Metadata": "true"},
            400,
            {"error": "invalid_request", "error_description": "Required audience variable missing"},
        ),
        (
            "/msi/token?api-version=2019-08-01&resource=https://graph.microsoft.com&object_id=o1",
            {"X-IDENTITY-HEADER": "<secret>"},
            400,
            {"statusCode": 400, "message": "Identity not found"},
        ),
        (
            "/msi/token?api-version=2019-08-01&resource=https://graph.microsoft.com",
            {"Metadata": "true"},
            401,
            {"statusCode": 401, "message": "The X-IDENTITY-HEADER header is missing or wrong."},
        ),
        (
            "/oauth2/token",
            {"Metadata": "true"},
            404,
            {"error": "not_found", "error_description": "No route for /oauth2/token."},
        ),
    ],
    ids=[
        "imds-without-metadata-header",
        "imds-without-api-version",
        "imds-without-resource",
        "app-service-object-id",
        "app-service-without-secret",
        "unknown-path",
    ],
)
def test_managed_identity_endpoint_refusals(
    managed: tuple[Emulator, ManagedIdentityEndpoint],
    path: str,
    headers: dict[str, str],
    status: int,
    body: dict[str, Any],
) -> None:
    _, endpoint = managed
    sent = {k: endpoint.identity_header if v == "<secret>" else v for k, v in headers.items()}
    answer = httpx.get(f"{endpoint.url}{path}", headers=sent)
    assert (answer.status_code, answer.json()) == (status, body)


def test_managed_identity_endpoint_token_shapes(
    managed: tuple[Emulator, ManagedIdentityEndpoint],
) -> None:
    _, endpoint = managed
    imds = httpx.get(
        f"{endpoint.url}/metadata/identity/oauth2/token",
        params={"api-version": "2018-02-01", "resource": GRAPH, "client_id": USER_ASSIGNED_APP},
        headers={"Metadata": "true"},
    ).json()
    app_service = httpx.get(
        f"{endpoint.url}/msi/token",
        params={"api-version": "2019-08-01", "resource": GRAPH},
        headers={"X-IDENTITY-HEADER": endpoint.identity_header},
    ).json()
    assert int(imds.pop("expires_on")) - int(imds.pop("not_before")) == 3599
    assert imds == {
        "access_token": USER_ASSIGNED_TOKEN,
        "client_id": USER_ASSIGNED_APP,
        "expires_in": "3599",
        "ext_expires_in": "3599",
        "resource": GRAPH,
        "token_type": "Bearer",
    }
    assert app_service.pop("expires_on").isdigit()
    assert app_service == {
        "access_token": SYSTEM_TOKEN,
        "client_id": SYSTEM_APP,
        "resource": GRAPH,
        "token_type": "Bearer",
    }


# ---- device code ----------------------------------------------------------------------------


@contextmanager
def device_sign_in() -> Iterator[tuple[Emulator, FakeAuthority]]:
    """A person at a terminal signs in as ``SIGNED_IN``: Graph accepts only their token."""
    emulator = Emulator(
        tenant_accepting({DELEGATED_TOKEN: delegated_user()}), now=demo_now, fixed_tokens=True
    )
    with emulator, authority_for(emulator, {}, device_user_id=SIGNED_IN.id) as authority:
        yield emulator, authority


@pytest.fixture
def device() -> Iterator[tuple[Emulator, FakeAuthority]]:
    with device_sign_in() as pair:
        yield pair


def point_at(monkeypatch: pytest.MonkeyPatch, authority: FakeAuthority) -> None:
    set_environment(
        monkeypatch,
        {
            "AZURE_AUTHORITY_HOST": authority.url,
            "REQUESTS_CA_BUNDLE": str(authority.ca_file),
            "AZURE_TENANT_ID": DEMO.tenant.id,
        },
    )


def prompt_line(authority: FakeAuthority) -> re.Pattern[str]:
    (user_code,) = authority.user_codes
    return re.compile(
        re.escape(f"To sign in, open {authority.url}/devicelogin in a browser and enter the code ")
        + re.escape(user_code)
        + r" \(valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC\)\."
    )


def test_device_code_prompts_on_stderr_and_collects_as_the_signed_in_user(
    device: tuple[Emulator, FakeAuthority],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    emulator, authority = device
    point_at(monkeypatch, authority)
    config = str(demo_path("maa-guard.toml"))
    code = main(
        ["scan", "--format", "json", "--config", config, *live("device-code", emulator.url)]
    )
    out, err = capfd.readouterr()
    report = json.loads(out)  # stdout is the report alone: the prompt did not go there
    prompt, *rest = err.splitlines()
    assert code == 1  # the demo tenant has failing findings
    assert prompt_line(authority).fullmatch(prompt)
    assert rest == []
    assert report["tenant"]["id"] == DEMO.tenant.id
    assert {name: s["state"] for name, s in report["sources"].items()} == dict.fromkeys(
        DEMO.sources, "complete"
    )
    scope = f"{GRAPH}/.default offline_access openid profile"
    assert authority.device_code_requests == [{"client_id": AZURE_CLI_APP, "scope": scope}]
    poll = {"grant_type": DEVICE_CODE_GRANT, "client_id": AZURE_CLI_APP}
    assert authority.token_requests == [poll, poll]  # authorization_pending, then the token
    assert DELEGATED_TOKEN not in out and DELEGATED_TOKEN not in err


def test_device_code_uses_the_configured_client(
    device: tuple[Emulator, FakeAuthority],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    emulator, authority = device
    point_at(monkeypatch, authority)
    monkeypatch.setenv("AZURE_CLIENT_ID", graphroles.READER_APP_ID)
    out_file = tmp_path / "tenant.json"
    code = main(["snapshot", "-o", str(out_file), *live("device-code", emulator.url)])
    out, err = capfd.readouterr()
    prompt, wrote = err.splitlines()
    assert (code, out, wrote) == (0, "", f"wrote {out_file}")
    assert prompt_line(authority).fullmatch(prompt)
    assert [r["client_id"] for r in authority.device_code_requests] == [graphroles.READER_APP_ID]
    assert DELEGATED_TOKEN not in out_file.read_text(encoding="utf-8")


# ---- --debug never shows the token ----------------------------------------------------------


def debug_scan(method: str, url: str) -> int:
    return main(["scan", "--debug", "--format", "json", *live(method, url)])


@pytest.mark.parametrize("method", ["managed-identity", "device-code"])
def test_debug_output_never_shows_the_token(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    method: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    if method == "managed-identity":
        token = USER_ASSIGNED_TOKEN
        with managed_identity_host(BOTH_IDENTITIES) as (emulator, endpoint):
            set_environment(monkeypatch, endpoint.environment("imds"))
            monkeypatch.setenv("AZURE_CLIENT_ID", USER_ASSIGNED_APP)
            code = debug_scan(method, emulator.url)
    else:
        token = DELEGATED_TOKEN
        with device_sign_in() as (emulator, authority):
            point_at(monkeypatch, authority)
            code = debug_scan(method, emulator.url)
    out, err = capfd.readouterr()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    names = {record.name for record in caplog.records}
    assert code == 1
    assert {  # it did log: the collector, the credential's HTTP calls, MSAL's token cache
        "maa_guard.collect",
        "azure.core.pipeline.policies.http_logging_policy",
        "msal.token_cache",
    } <= names
    assert token not in out and token not in err and token not in logged
