"""An exclusion change where the tenant shows no exclusion property, as Microsoft Graph publishes.

Against the emulator's `published` profile (access policies carry no exclusion property; a
write naming one answers 400), live: `exclusions draft` still reviews the app and writes the
change ticket, without a Graph write; `exclusions submit` refuses it (exit 2) and sends nothing.
The admin center's Exclusions tab, which MAA gates too, is the way. A draft made while the
tenant showed the property (the `default` profile serves it on every policy) is refused the same
way once no policy carries it (the same tenant served by the `published` profile).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.exclusions.draft import load_draft
from maa_guard.review import review_from_json
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
CONFIG = demo_path("maa-guard.toml")
MEGAN = "d3ba6514-92d0-4ae4-bf0b-503c75a0026f"  # Intune administrator
REQUESTS = "deviceManagement/operationApprovalRequests"
NO_PROPERTY = (
    "error: the tenant's access policies carry no exclusion property (Microsoft Graph publishes "
    "no writable one), so maa-guard cannot send this change through Graph\n"
    "hint: make the change on the access policy's Exclusions tab in the Intune admin center "
    "(Tenant administration > Multi Admin Approval > Access policies), where MAA asks a second "
    "administrator to approve it too; 'maa-guard exclusions show {draft}' is its change ticket\n"
)


def demo_now() -> datetime:
    return min(r.request_date_time for r in DEMO.approval_requests)


@contextmanager
def serving(profile: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAA_GUARD_STATE", raising=False)
    fixture = fixture_from_snapshot(DEMO)
    with Emulator(fixture, profile=profile, now=demo_now, fixed_tokens=True) as running:
        yield running


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    """As Graph publishes: no access policy carries an exclusion property."""
    with serving("published", monkeypatch, tmp_path) as running:
        yield running


def live(emulator: Emulator, token: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", token)
    return ["--auth", "token", "--graph-endpoint", emulator.url]


def draft(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, Path]:
    out = tmp_path / "change.json"
    args = ["exclusions", "draft", *live(emulator, graphroles.READER_TOKEN, monkeypatch)]
    args += ["--config", str(CONFIG), "--days", "3650", "--quiet", "--policy", "Apps - Windows"]
    args += ["--add", "Remediation Script Publisher", "--justification", "nightly remediation"]
    return main([*args, "--ticket", "CHG-7", "-o", str(out)]), out


def test_no_exclusion_property_gives_the_review_and_ticket_and_submit_refuses_the_write(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = draft(emulator, tmp_path, monkeypatch)
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.startswith(f"wrote {out}, a draft without a Graph write: ")
    made = load_draft(out)
    assert (made.draft.request, made.draft.exclusions_property) == (None, "")
    reviews = [review_from_json(r) for r in made.reviews]
    assert [(r.app.display_name, r.verdict.value) for r in reviews] == [
        ("Remediation Script Publisher", "ok")
    ]
    assert main(["exclusions", "show", str(out)]) == 0
    page = capsys.readouterr().out
    assert "## No Graph request\n\nThe tenant's access policies carry no exclusion property" in page
    assert "## Reviews of the apps added" in page

    filed_before = len(emulator.tenant.collections[REQUESTS])
    megan = live(emulator, graphroles.user_token(MEGAN), monkeypatch)
    state = tmp_path / "state.db"
    assert main(["exclusions", "submit", str(out), *megan, "--state", str(state)]) == 2
    assert capsys.readouterr().err == NO_PROPERTY.format(draft=out)
    assert len(emulator.tenant.collections[REQUESTS]) == filed_before


def test_a_draft_is_refused_once_no_policy_carries_the_property_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving("default", monkeypatch, tmp_path) as showing:
        code, out = draft(showing, tmp_path, monkeypatch)
    assert code == 0
    with serving("published", monkeypatch, tmp_path) as emulator:
        refused_after_the_property_went(emulator, out, tmp_path, monkeypatch, capsys)


def refused_after_the_property_went(
    emulator: Emulator,
    out: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    request = load_draft(out).draft.request
    assert request is not None
    assert request.body == {
        "excludedApplicationIds": (
            "350f6c08-5658-4455-a594-a9245970fd44",
            "655cf484-0a06-4291-b237-96c21b609bde",
        )
    }
    capsys.readouterr()
    filed_before = len(emulator.tenant.collections[REQUESTS])
    megan = live(emulator, graphroles.user_token(MEGAN), monkeypatch)
    state = tmp_path / "state.db"
    assert main(["exclusions", "submit", str(out), *megan, "--state", str(state)]) == 2
    assert capsys.readouterr().err == NO_PROPERTY.format(draft=out)
    assert len(emulator.tenant.collections[REQUESTS]) == filed_before
