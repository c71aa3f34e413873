"""`fleet scan` files a tenant's data only under its own entry.

An entry whose credentials reach another tenant (here: its Graph endpoint and token are the
other tenant's) collects that other tenant. Its row is an `error` (exit 2), and nothing of it
is written to --out-dir or recorded in the history. Two emulator tenants, real HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.history import open_history
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

CONTOSO = "4c8e2f1a-7b3d-4e59-a1c6-9d0f2b7e3a58"
FABRIKAM = "7d1c0b9e-2a44-4c1b-9d7e-1f2e3d4c5b6a"
NAMES = {CONTOSO: "Contoso", FABRIKAM: "Fabrikam"}


def _fixture(tenant_id: str) -> dict[str, Any]:
    fixture = fixture_from_snapshot(load_snapshot(demo_path("snapshot.json")))
    name = NAMES[tenant_id]
    fixture["tenant"] = {**fixture["tenant"], "id": tenant_id, "displayName": name}
    fixture["collections"]["organization"] = [{"id": tenant_id, "displayName": name}]
    fixture["tokens"][f"token-for-{tenant_id}"] = fixture["tokens"][graphroles.READER_TOKEN]
    return fixture


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {
            tenant_id: stack.enter_context(Emulator(_fixture(tenant_id), fixed_tokens=True)).url
            for tenant_id in NAMES
        }


def _entry(name: str, tenant_id: str, reaches: str, urls: dict[str, str]) -> str:
    """An entry named ``name`` for ``tenant_id`` whose endpoint and token reach ``reaches``."""
    variable = f"TOKEN_{name.upper()}"
    return (
        f'[[tenants]]\nname = "{name}"\ntenant_id = "{tenant_id}"\nauth = "token"\n'
        f'graph_endpoint = "{urls[reaches]}"\ntoken_env = "{variable}"\ndays = 200\n'
    )


def _run(
    tmp_path: Path,
    entries: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, dict[str, dict[str, Any]]]:
    tenants = tmp_path / "tenants.toml"
    tenants.write_text("\n".join(entries), encoding="utf-8")
    history = tmp_path / "history.db"
    argv = ["fleet", "scan", "--tenants", str(tenants), "--out-dir", str(tmp_path / "out")]
    argv += ["--format", "json", "--quiet", "--record", "--history", str(history)]
    code = main(argv)
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["tenants"]}
    return code, rows


def test_a_tenant_reached_through_another_entrys_credentials_is_an_error(
    urls: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TOKEN_CONTOSO", f"token-for-{CONTOSO}")
    monkeypatch.setenv("TOKEN_FABRIKAM", f"token-for-{CONTOSO}")  # the wrong tenant's token
    entries = [
        _entry("Contoso", CONTOSO, CONTOSO, urls),
        _entry("Fabrikam", FABRIKAM, CONTOSO, urls),  # points at Contoso's Graph
    ]
    code, rows = _run(tmp_path, entries, monkeypatch, capsys)
    assert code == 2
    assert {name: (row["status"], row["exit_code"]) for name, row in rows.items()} == {
        "Contoso": ("fail", 1),
        "Fabrikam": ("error", 2),
    }
    assert rows["Fabrikam"]["tenant_id"] == FABRIKAM
    assert rows["Fabrikam"]["message"] == (
        f"the credentials of this entry reached tenant {CONTOSO} (Contoso), not its tenant_id "
        f"{FABRIKAM}: nothing of it was written or recorded"
    )
    assert rows["Fabrikam"]["hint"] == (
        "check the entry's client_id, certificate or token and its graph_endpoint, or correct "
        "its tenant_id"
    )
    assert rows["Fabrikam"]["reports"] == {}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "Contoso-4c8e2f1a.html",
        "Contoso-4c8e2f1a.json",
    ]
    with open_history(str(tmp_path / "history.db"), create=False) as history:
        assert [(scan.tenant_id, scan.tenant_name) for scan in history.list()] == [
            (CONTOSO, "Contoso")
        ]


def test_the_tenant_id_is_compared_without_regard_to_case(
    urls: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TOKEN_FABRIKAM", f"token-for-{FABRIKAM}")
    code, rows = _run(
        tmp_path, [_entry("Fabrikam", FABRIKAM.upper(), FABRIKAM, urls)], monkeypatch, capsys
    )
    assert code == 1
    assert (rows["Fabrikam"]["status"], rows["Fabrikam"]["reports"]) == (
        "fail",
        {"json": "Fabrikam-7d1c0b9e.json", "html": "Fabrikam-7d1c0b9e.html"},
    )
