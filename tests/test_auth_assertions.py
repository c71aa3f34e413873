"""`--auth certificate`, `--auth workload-identity` and `--auth azure-cli` end to end: the real
azure-identity credential gets its token (from the fake TLS authority, or from an `az` on the
PATH, since the Azure CLI is not installed here) and `maa-guard snapshot` collects with it."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.emulator.authority import authority_for
from maa_guard.model import SourceState
from maa_guard.scan.served import demo_path
from maa_guard.snapshot import SOURCES
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
APP = graphroles.READER_APP_ID


def _now() -> dt.datetime:
    return min(r.request_date_time for r in DEMO.approval_requests)


def _certificate(folder: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "maa-guard test")])
    start = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path = folder / "app.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return path


def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("AZURE_", "MAA_GUARD_", "IDENTITY_", "MSI_")):
            monkeypatch.delenv(name)


def _snapshot(url: str, method: str, out: Path) -> int:
    args = ["snapshot", "-o", str(out), "--auth", method, "--graph-endpoint", url, "--quiet"]
    return main(args)


def _complete(out: Path) -> bool:
    sources = json.loads(out.read_text(encoding="utf-8"))["sources"]
    return {name: sources[name]["state"] for name in SOURCES} == dict.fromkeys(
        SOURCES, SourceState.COMPLETE.value
    )


@pytest.mark.parametrize("method", ["certificate", "workload-identity"])
def test_client_assertion_credentials_collect_through_the_fake_authority(
    method: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch)
    emulator = Emulator(fixture_from_snapshot(DEMO), now=_now, fixed_tokens=True)
    with emulator, authority_for(emulator, {}) as authority:
        monkeypatch.setenv("AZURE_TENANT_ID", DEMO.tenant.id)
        monkeypatch.setenv("AZURE_CLIENT_ID", APP)
        monkeypatch.setenv("AZURE_AUTHORITY_HOST", authority.url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.ca_file))
        if method == "certificate":
            monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PATH", str(_certificate(tmp_path)))
        else:
            token_file = tmp_path / "oidc.jwt"
            token_file.write_text("eyJhbGciOiJub25lIn0.eyJzdWIiOiJyZXBvOm1haW4ifQ.", "ascii")
            monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
        out = tmp_path / "snapshot.json"
        assert _snapshot(emulator.url, method, out) == 0
        grants = [(r["grant_type"], r["client_id"]) for r in authority.token_requests]
    assert grants == [("client_credentials", APP)]
    assert _complete(out)


def test_azure_cli_credential_collects_with_the_token_az_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch)
    expires = int(dt.datetime.now(dt.timezone.utc).timestamp()) + 3600
    answer = {"accessToken": graphroles.READER_TOKEN, "expires_on": expires, "tokenType": "Bearer"}
    az = tmp_path / "bin" / "az"
    az.parent.mkdir()
    log = tmp_path / "az.log"
    az.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\necho '{json.dumps(answer)}'\n", "utf-8")
    az.chmod(az.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{az.parent}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "snapshot.json"
    with Emulator(fixture_from_snapshot(DEMO), now=_now, fixed_tokens=True) as emulator:
        assert _snapshot(emulator.url, "azure-cli", out) == 0
    assert _complete(out)
    calls = log.read_text(encoding="utf-8").splitlines()
    assert calls == [
        "account get-access-token --output json --resource https://graph.microsoft.com"
    ]
