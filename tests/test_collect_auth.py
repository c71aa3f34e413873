"""A real azure-identity credential (EnvironmentCredential with a client secret) gets its
token from the emulator's fake TLS authority, and the collector reads Graph with it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from maa_guard.collect import GraphClient, build_credential, collect, resolve_endpoint
from maa_guard.collect.auth import show_device_code
from maa_guard.config import Settings
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.emulator.authority import authority_for
from maa_guard.model import SourceState
from maa_guard.scan.served import demo_path
from maa_guard.snapshot import SOURCES, Snapshot
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
SECRET = "client-secret-9b2f"


def demo_now() -> datetime:
    return min(r.request_date_time for r in DEMO.approval_requests)


def test_env_auth_with_a_client_secret_collects_through_the_real_credential(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator = Emulator(fixture_from_snapshot(DEMO), now=demo_now)
    with emulator, authority_for(emulator, {graphroles.READER_APP_ID: SECRET}) as authority:
        environ = {
            "AZURE_TENANT_ID": DEMO.tenant.id,
            "AZURE_CLIENT_ID": graphroles.READER_APP_ID,
            "AZURE_CLIENT_SECRET": SECRET,
            "AZURE_AUTHORITY_HOST": authority.url,
            "REQUESTS_CA_BUNDLE": str(authority.ca_file),
        }
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        endpoint = resolve_endpoint("global", emulator.url)
        credential = build_credential("env", endpoint, environ)

        async def go() -> Snapshot:
            async with GraphClient(credential, endpoint, timeout=30) as client:
                return await collect(client, Settings(), 3, now=DEMO.collected_at)

        snapshot = asyncio.run(go())
        token_requests = authority.token_requests
    assert token_requests == [
        {
            "grant_type": "client_credentials",
            "client_id": graphroles.READER_APP_ID,
            "scope": "https://graph.microsoft.com/.default",
        }
    ]
    assert {name: s.state for name, s in snapshot.sources.items()} == dict.fromkeys(
        SOURCES, SourceState.COMPLETE
    )
    assert sorted(p.id for p in snapshot.policies) == sorted(p.id for p in DEMO.policies)


def test_device_code_instructions_go_to_stderr_with_only_printable_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    expires = datetime(2026, 3, 1, 9, 5, tzinfo=timezone.utc)
    show_device_code("https://microsoft.com/devicelogin\x1b[2J", "F7K2\n9QXB\x07", expires)
    assert capsys.readouterr() == (
        "",
        "To sign in, open https://microsoft.com/devicelogin[2J in a browser and enter the code "
        "F7K29QXB (valid until 2026-03-01 09:05 UTC).\n",
    )
