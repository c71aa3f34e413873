"""Real azure-identity credentials against the fake TLS authority, then the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential

from maa_guard.emulator import Emulator
from maa_guard.emulator.authority import FakeAuthority, authority_for

TENANT = "4c8e2f1a-7b3d-4e59-a1c6-9d0f2b7e3a58"
CLIENT = "11111111-2222-3333-4444-555555555555"
SCOPE = "https://graph.microsoft.com/.default"


def _fixture() -> dict[str, Any]:
    roles = ["GroupMember.Read.All"]
    return {
        "tokens": {"opaque-token-1": {"kind": "application", "appId": CLIENT, "roles": roles}},
        "collections": {"groups": [{"id": "g1"}]},
    }


@pytest.fixture
def running() -> Iterator[tuple[Emulator, FakeAuthority]]:
    emulator = Emulator(_fixture(), throttle=False)
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
