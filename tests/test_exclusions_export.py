"""`maa-guard exclusions export`: the tenant's exclusions as [[exclusions]] entries."""

from __future__ import annotations

import copy
import sys
from datetime import date
from pathlib import Path

import pytest
from builders import (
    TENANT_ID,
    add_policy,
    add_sp,
    add_user,
    exclusion,
    new_snapshot,
    scan,
    statuses,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from maa_guard.catalogue import load_catalogue
from maa_guard.cli import main
from maa_guard.config import DeclaredExclusion, Settings, load_settings
from maa_guard.exclusions.export import export_exclusions, toml_string
from maa_guard.model import Status
from maa_guard.snapshot.file import parse_snapshot

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

TODAY = date(2026, 12, 4)
HOSTILE = 'Evil\n[[exclusions]]\npolicy = "pwned" # \x1b[31m<b>'


def _tenant() -> dict:
    snap = new_snapshot()
    add_user(snap, "u-owner")
    owner = {"id": "u-owner", "type": "user", "displayName": "Owner"}
    add_sp(snap, "app-a", name="Alpha Sync", owners=[owner])
    add_sp(snap, "app-b", name=HOSTILE)
    add_policy(snap, "p-apps", "app", name="Apps", exclusions=["app-a"])
    add_policy(
        snap,
        "p-scripts",
        "script",
        name="Scripts",
        exclusions=[exclusion("app-b", "audit-log")],
    )
    add_policy(snap, "p-dup-1", "deviceWipe", name="Twin", exclusions=["app-a"])
    add_policy(snap, "p-dup-2", "deviceRetire", name="Twin")
    return snap


def _entries(text: str) -> list[dict]:
    return list(tomllib.loads(text)["exclusions"])


def test_every_tenant_exclusion_becomes_one_entry_and_names_stay_in_comments() -> None:
    text = export_exclusions(parse_snapshot(_tenant()), TODAY)
    assert _entries(text) == [
        {
            "policy": "Apps",
            "app": "app-a",
            "owner": "u-owner@contoso-test.example",
            "reason": "",
            "review_by": date(2027, 3, 4),
        },
        {
            "policy": "Scripts",
            "app": "app-b",
            "owner": "",
            "reason": "",
            "review_by": date(2027, 3, 4),
        },
        {
            "policy": "p-dup-1",
            "app": "app-a",
            "owner": "u-owner@contoso-test.example",
            "reason": "",
            "review_by": date(2027, 3, 4),
        },
    ]
    hostile_comment = [line for line in text.splitlines() if line.startswith("# Evil")]
    assert hostile_comment == [
        '# Evil [[exclusions]] policy = "pwned" # \\x1b[31m<b> in Scripts; seen through audit-log'
    ]


def test_a_declared_exclusion_keeps_its_owner_reason_and_date() -> None:
    declared = DeclaredExclusion("Apps", "app-a", "lead@x", "nightly sync", date(2027, 1, 15))
    text = export_exclusions(parse_snapshot(_tenant()), TODAY, [declared])
    assert _entries(text)[0] == {
        "policy": "Apps",
        "app": "app-a",
        "owner": "lead@x",
        "reason": "nightly sync",
        "review_by": date(2027, 1, 15),
    }


def test_the_export_used_as_config_declares_every_tenant_exclusion() -> None:
    snap = _tenant()
    exported = tomllib.loads(export_exclusions(parse_snapshot(copy.deepcopy(snap)), TODAY))
    settings = load_settings(load_catalogue(), (Path("exported.toml"), exported), {}, {})
    result = scan(snap, settings)
    assert statuses(result, "MAA408") == {
        "p-apps/app-a": Status.PASS,
        "p-scripts/app-b": Status.PASS,
        "p-dup-1/app-a": Status.PASS,
    }
    assert statuses(scan(snap, Settings()), "MAA408") == {TENANT_ID: Status.SKIPPED}


@settings(deadline=None)
@given(st.text())
def test_toml_strings_read_back_as_written(text: str) -> None:
    assert tomllib.loads(f"value = {toml_string(text)}")["value"] == text


def test_cli_export_writes_the_file_atomically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "exclusions.toml"
    assert main(["exclusions", "export", "--demo", "-o", str(out)]) == 0
    entries = _entries(out.read_text(encoding="utf-8"))
    patch_my_pc = [e for e in entries if e["app"] == "350f6c08-5658-4455-a594-a9245970fd44"]
    assert patch_my_pc == [
        {
            "policy": "Apps - Windows",
            "app": "350f6c08-5658-4455-a594-a9245970fd44",
            "owner": "megan.bowen@contoso-demo.example",
            "reason": "Publishes third-party Win32 app updates every night; "
            "vendor review CHG0039001",
            "review_by": date(2027, 3, 31),
        }
    ]
    assert capsys.readouterr().err == f"wrote {out}\n"


def test_cli_export_refuses_a_zero_review_window(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exclusions", "export", "--demo", "--review-days", "0"]) == 2
    assert capsys.readouterr().err == "error: --review-days must be at least 1\n"
