"""Real azure-identity credentials against the fake TLS authority, then the emulator."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential, DeviceCodeCredential

from maa_guard.emulator import Emulator
from maa_guard.emulator.authority import (
    DEVICE_CODE_GRANT,
    FakeAuthority,
    SignedInUser,
    authority_for,
    signed_in_user,
)

TENANT = "4c8e2f1a-7b3d-4e59-a1c6-9d0f2b7e3a58"
CLIENT = "11111111-2222-3333-4444-555555555555"
USER = "6e2d9c4b-1a3f-4b8e-9d7c-5f0a1b2c3d4e"
UPN = "ann.lee@contoso.example"
USER_TOKEN = "opaque-user-token-1"
SCOPE = "https://graph.microsoft.com/.default"


def _fixture() -> dict[str, Any]:
    roles = ["GroupMember.Read.All"]
    return {
        "tenant": {"id": TENANT},
        "tokens": {
            "opaque-token-1": {"kind": "application", "appId": CLIENT, "roles": roles},
            USER_TOKEN: {"kind": "user", "userId": USER, "scp": "GroupMember.Read.All"},
        },
        "collections": {
            "groups": [{"id": "g1"}],
            "users": [{"id": USER, "userPrincipalName": UPN}],
        },
    }


@pytest.fixture
def running() -> Iterator[tuple[Emulator, FakeAuthority]]:
    emulator = Emulator(_fixture(), throttle=False, fixed_tokens=True)
    with emulator, authority_for(emulator, {CLIENT: "s3cret"}) as authority:
        yield emulator, authority


def _credential(authority: FakeAuthority, secret: str) -> ClientSecretCredential:
    return ClientSecretCredential(
        TENANT,
        CLIENT,
        secret,
        authority=authority.url,
        disable_instance_discovery=True,
        connection_verify=str(authority.ca_file),
    )


def test_client_secret_credential_gets_the_emulator_token(
    running: tuple[Emulator, FakeAuthority],
) -> None:
    emulator, authority = running
    token = _credential(authority, "s3cret").get_token(SCOPE).token
    assert token == "opaque-token-1"
    response = httpx.get(
        f"{emulator.url}/v1.0/groups", headers={"Authorization": f"Bearer {token}"}
    )
    assert [g["id"] for g in response.json()["value"]] == ["g1"]
    assert authority.token_requests == [
        {"grant_type": "client_credentials", "client_id": CLIENT, "scope": SCOPE}
    ]


def test_wrong_secret_is_refused(running: tuple[Emulator, FakeAuthority]) -> None:
    _, authority = running
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        _credential(authority, "wrong").get_token(SCOPE)


# ---- device-code flow -----------------------------------------------------------------------

AZURE_CLI_APP = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"  # azure-identity's default public client
PENDING = {
    "error": "authorization_pending",
    "error_description": "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.",
}
INVALID_CODE = {
    "error": "invalid_grant",
    "error_description": "AADSTS70000: The provided value for 'device_code' is not valid.",
}


def _device_authority(emulator: Emulator, pending_polls: int) -> FakeAuthority:
    user = signed_in_user(emulator, USER)
    return FakeAuthority(lambda form: None, device_user=user, pending_polls=pending_polls)


@pytest.mark.parametrize("pending_polls", [0, 2])
def test_device_code_credential_polls_until_the_user_has_signed_in(pending_polls: int) -> None:
    prompts: list[tuple[str, str]] = []
    emulator = Emulator(_fixture(), throttle=False, fixed_tokens=True)
    with emulator, _device_authority(emulator, pending_polls) as authority:
        credential = DeviceCodeCredential(
            tenant_id=TENANT,
            authority=authority.url,
            disable_instance_discovery=True,
            connection_verify=str(authority.ca_file),
            prompt_callback=lambda uri, code, expires_on: prompts.append((uri, code)),
        )
        record = credential.authenticate(scopes=[SCOPE])
        token = credential.get_token(SCOPE).token  # from MSAL's cache: no second sign-in
        response = httpx.get(
            f"{emulator.url}/v1.0/groups", headers={"Authorization": f"Bearer {token}"}
        )
    assert token == USER_TOKEN
    assert [g["id"] for g in response.json()["value"]] == ["g1"]
    assert prompts == [(f"{authority.url}/devicelogin", authority.user_codes[0])]
    assert re.fullmatch(r"[A-Z2-9]{9}", authority.user_codes[0])
    assert authority.device_code_requests == [
        {"client_id": AZURE_CLI_APP, "scope": f"{SCOPE} offline_access openid profile"}
    ]
    poll = {"grant_type": DEVICE_CODE_GRANT, "client_id": AZURE_CLI_APP}
    assert authority.token_requests == [poll] * (pending_polls + 1)
    assert (record.username, record.tenant_id, record.client_id) == (
        UPN,
        TENANT,
        AZURE_CLI_APP,
    )
    assert record.home_account_id == f"{USER}.{TENANT}"


def test_device_code_is_refused_when_no_user_signs_in(
    running: tuple[Emulator, FakeAuthority],
) -> None:
    _, authority = running
    credential = DeviceCodeCredential(
        authority=authority.url,
        disable_instance_discovery=True,
        connection_verify=str(authority.ca_file),
        prompt_callback=lambda uri, code, expires_on: None,
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000218"):
        credential.get_token(SCOPE)
    assert authority.token_requests == []


def test_a_device_code_is_redeemed_once_by_its_own_client() -> None:
    emulator = Emulator(_fixture(), throttle=False, fixed_tokens=True)
    with emulator, _device_authority(emulator, 1) as authority:
        tls = ssl.create_default_context(cafile=str(authority.ca_file))
        base = f"{authority.url}/{TENANT}/oauth2/v2.0"
        started = httpx.post(
            f"{base}/devicecode", data={"client_id": CLIENT, "scope": SCOPE}, verify=tls
        ).json()

        def poll(client: str, code: str) -> tuple[int, dict[str, Any]]:
            form = {"grant_type": DEVICE_CODE_GRANT, "client_id": client, "device_code": code}
            answer = httpx.post(f"{base}/token", data=form, verify=tls)
            return answer.status_code, answer.json()

        answers = [
            poll(CLIENT, "forged"),
            poll("another-client", started["device_code"]),
            poll(CLIENT, started["device_code"]),
            poll(CLIENT, started["device_code"]),
            poll(CLIENT, started["device_code"]),
        ]
    assert started["verification_uri"] == f"{authority.url}/devicelogin"
    assert (started["expires_in"], started["interval"]) == (900, 0)
    assert started["message"] == (
        f"To sign in, use a web browser to open the page {authority.url}/devicelogin "
        f"and enter the code {started['user_code']} to authenticate."
    )
    assert answers[:3] == [(400, INVALID_CODE), (400, INVALID_CODE), (400, PENDING)]
    status, issued = answers[3]
    assert (status, issued["access_token"], issued["scope"]) == (200, USER_TOKEN, SCOPE)
    assert answers[4] == (400, INVALID_CODE)  # spent


def test_signed_in_user_needs_a_delegated_token_in_the_fixture(
    running: tuple[Emulator, FakeAuthority],
) -> None:
    emulator, _ = running
    assert signed_in_user(emulator, USER) == SignedInUser(USER, UPN, TENANT, USER_TOKEN)
    with pytest.raises(ValueError, match="no delegated token for user nobody"):
        signed_in_user(emulator, "nobody")
