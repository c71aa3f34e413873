"""`exclusions submit` reviews every app a draft adds again, live, before anything is sent, and
`exclusions show` flags a draft whose reviews do not match its change.

A draft's digest catches an edited file, not a forged one: anyone can change a draft and compute
its digest again, as these tests do. Against the emulated demo tenant (real HTTP, the real client
stack): drafts are written offline from the demo snapshot (the emulator serves the same tenant),
forged where a test says so, and submitted as an Intune administrator whose delegated token also
holds the read scopes the review needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from builders import exclusion, set_source
from test_drafts import CLEAN, OLD, tenant

from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.exclusions.draft import content_digest, load_draft
from maa_guard.exclusions.provenance import TRUSTED
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.codec import format_datetime
from maa_guard.snapshot.file import load_snapshot

DEMO_FILE = demo_path("snapshot.json")
DEMO = load_snapshot(DEMO_FILE)
POLICY = "Apps - Windows"
PATCH_MY_PC = "350f6c08-5658-4455-a594-a9245970fd44"  # excluded through the policy property
PUBLISHER = "655cf484-0a06-4291-b237-96c21b609bde"  # Remediation Script Publisher: review ok
HELPDESK = "18d49f3a-717b-42ea-9c63-b45765caa752"  # Contoso Helpdesk Portal: do-not-exclude
HELPDESK_SP = "36368a61-316f-4ecb-9d66-fe1ea2ad374d"
MEGAN = "d3ba6514-92d0-4ae4-bf0b-503c75a0026f"  # Intune administrator who submits
# What the review reads beyond the Intune scopes of the emulator's delegated tokens (User.Read,
# which every delegated sign-in holds, reads the tenant's own id).
REVIEW_SCOPES = ("Application.Read.All", "Policy.Read.All", "AuditLog.Read.All", "User.Read")
REQUESTS = "deviceManagement/operationApprovalRequests"

REFUSED = (
    "error: nothing was sent: the review at submit says do-not-exclude: Contoso Helpdesk Portal "
    "(MAA404 excluded-app-privileged-permissions)\n"
    "hint: harden the app (see 'maa-guard review APP'), or record why the risk is accepted with "
    "'exclusions submit --accept-risk REASON' (a risk accepted in the draft does not count: "
    "anyone can edit a draft and compute its digest again)\n"
)
MISMATCH_HEAD = "> **WARNING: the reviews in this draft do not match its change.**\n"


def demo_now() -> datetime:
    """Before every demo request expires, so the emulator expires none while a test runs."""
    return min(r.request_date_time for r in DEMO.approval_requests)


def demo_fixture() -> dict[str, Any]:
    """The demo tenant; the Publisher signed in yesterday (the review at submit judges staleness
    against today); Megan's token holds the review's read scopes too."""
    fixture = fixture_from_snapshot(DEMO)
    yesterday = format_datetime(datetime.now(timezone.utc) - timedelta(days=1))
    for row in fixture["collections"]["reports/servicePrincipalSignInActivities"]:
        if row["appId"] == PUBLISHER:
            row["applicationAuthenticationClientSignInActivity"]["lastSignInDateTime"] = yesterday
    token = fixture["tokens"][graphroles.user_token(MEGAN)]
    token["scp"] = " ".join([token["scp"], *REVIEW_SCOPES])
    return fixture


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(demo_fixture(), now=demo_now, fixed_tokens=True) as running:
        yield running


class Session:
    """Runs `maa-guard` as a user does; captures exit code, stdout and stderr."""

    def __init__(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.tmp_path, self.monkeypatch, self.capsys = tmp_path, monkeypatch, capsys
        self.state = tmp_path / "state.db"
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("MAA_GUARD_STATE", raising=False)

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err

    def draft(self, app: str, *extra: str) -> Path:
        """Offline, from the demo snapshot: the tenant the emulator serves."""
        out = self.tmp_path / "change.json"
        code, _, err = self.run(
            "exclusions", "draft", "--snapshot", str(DEMO_FILE), "--policy", POLICY,
            "--add", app, "--justification", "nightly sync", "-o", str(out), *extra,
        )  # fmt: skip
        assert code == 0, err
        return out

    def show(self, draft: Path) -> tuple[int, str, str]:
        return self.run("exclusions", "show", str(draft))

    def submit(self, emulator: Emulator, draft: Path, *extra: str) -> tuple[int, str, str]:
        self.monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.user_token(MEGAN))
        return self.run(
            "exclusions", "submit", str(draft), "--auth", "token", "--graph-endpoint",
            emulator.url, "--state", str(self.state), "--format", "json", "--quiet", *extra,
        )  # fmt: skip

    def tracked(self) -> list[dict[str, Any]]:
        code, out, err = self.run(
            "requests", "list", "--offline", "--state", str(self.state), "--format", "json"
        )
        assert code == 0, err
        changes: list[dict[str, Any]] = json.loads(out)["changes"]
        return changes


@pytest.fixture
def session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Session:
    return Session(tmp_path, monkeypatch, capsys)


def resealed(path: Path, change: Any) -> Path:
    """The draft changed by ``change(document)``, its digest computed again as the code does."""
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    document["digest"] = content_digest(
        {"draft": document["draft"], "reviews": document["reviews"]}
    )
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def adds_helpdesk_without_review(document: dict[str, Any]) -> None:
    """The Publisher's draft made to add the Helpdesk Portal instead, its review dropped."""
    draft = document["draft"]
    [change] = draft["changes"]
    change["app"].update(
        app_id=HELPDESK, display_name="Contoso Helpdesk Portal", service_principal_id=HELPDESK_SP
    )
    draft["request"]["body"]["excludedApplicationIds"] = [PATCH_MY_PC, HELPDESK]
    document["reviews"] = []


def writes(emulator: Emulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emulator.requests if r.method not in ("GET", "POST")]


def filed(emulator: Emulator) -> list[dict[str, Any]]:
    """The approval requests maa-guard filed (the demo's own carry no maa-guard reference)."""
    return [
        r
        for r in emulator.tenant.collections[REQUESTS]
        if "[maa-guard ref " in str(r.get("requestJustification"))
    ]


def excluded(emulator: Emulator) -> list[str]:
    found = emulator.tenant.find(
        "deviceManagement/operationApprovalPolicies", "a44b31e5-8ba9-4337-9698-57b8e463df88"
    )
    assert found is not None
    return list(found["excludedApplicationIds"])


# ---- (a) a forged draft: flagged by show, refused by submit -------------------------------------


def test_a_forged_draft_adding_a_do_not_exclude_app_is_flagged_and_refused(
    emulator: Emulator, session: Session
) -> None:
    forged = resealed(session.draft("Remediation Script Publisher"), adds_helpdesk_without_review)
    problem = f"Contoso Helpdesk Portal ({HELPDESK}) is added, but the draft holds no review of it"

    code, page, err = session.show(forged)
    assert code == 1
    assert page.startswith(MISMATCH_HEAD + ">\n> - " + problem + "\n")
    assert "\n\n# Exclusion change request: Apps - Windows\n" in page
    assert err == (
        f"warning: {forged}: the reviews do not match the change: {problem}\n"
        "hint: the draft was edited and its digest computed again; write a new draft with "
        "'maa-guard exclusions draft' ('exclusions submit' reviews every added app again)\n"
    )

    code, out, err = session.submit(emulator, forged)
    assert (code, out) == (1, "")
    assert err == f"warning: {forged}: the reviews do not match the change: {problem}\n" + REFUSED
    assert writes(emulator) == []
    assert filed(emulator) == []
    assert session.tracked() == []
    assert excluded(emulator) == [PATCH_MY_PC]


# ---- (b) the same, the risk accepted at submit ------------------------------------------------


def test_the_forged_draft_is_sent_when_the_risk_is_accepted_at_submit(
    emulator: Emulator, session: Session
) -> None:
    forged = resealed(session.draft("Remediation Script Publisher"), adds_helpdesk_without_review)
    code, out, err = session.submit(emulator, forged, "--accept-risk", "vendor fix due in Q1")
    assert code == 0, err
    assert err.endswith(
        "warning: the review at submit says do-not-exclude: Contoso Helpdesk Portal (MAA404 "
        "excluded-app-privileged-permissions); sending with the risk accepted at submit: "
        "vendor fix due in Q1\n"
    )
    pending = json.loads(out)
    assert pending["outcome"] == "pending"
    [request] = filed(emulator)
    assert request["id"] == pending["code"]
    assert request["requestJustification"].startswith(
        "nightly sync (accepted risk: vendor fix due in Q1) [maa-guard ref "
    )
    [change] = session.tracked()
    assert change["label"] == "exclusions: Apps - Windows; accepted risk: vendor fix due in Q1"
    assert change["origin"] == json.loads(forged.read_text(encoding="utf-8"))["digest"]


# ---- (c) a risk the draft records does not count at submit -------------------------------------


def test_a_risk_accepted_in_the_draft_does_not_count_at_submit(
    emulator: Emulator, session: Session
) -> None:
    draft = session.draft("Contoso Helpdesk Portal", "--accept-risk", "vendor fix due in Q1")
    assert load_draft(draft).draft.accepted_risk == "vendor fix due in Q1"
    code, page, err = session.show(draft)  # an honest draft: the risk was accepted when drafted
    assert (code, err) == (0, "")
    assert page.startswith("# Exclusion change request: Apps - Windows\n")
    assert "| Accepted risk | vendor fix due in Q1 |" in page

    assert session.submit(emulator, draft) == (1, "", REFUSED)
    assert (writes(emulator), filed(emulator), session.tracked()) == ([], [], [])


# ---- (d) a review that could not verify at submit ----------------------------------------------


@pytest.mark.parametrize(
    ("deny", "message"),
    [
        (
            {"servicePrincipals": "Application.Read.All"},
            "error: nothing was sent: the review at submit could not look up Remediation Script "
            f"Publisher ({PUBLISHER}): could not look up the app: ",
        ),
        (
            {"identity/conditionalAccess": "Policy.Read.All"},
            "error: nothing was sent: the review at submit of Remediation Script Publisher could "
            "not verify everything it needs: conditional_access is failed (",
        ),
    ],
    ids=["service-principal-unreadable", "conditional-access-unreadable"],
)
def test_a_review_that_cannot_verify_at_submit_is_refused_with_exit_3(
    session: Session, deny: dict[str, str], message: str
) -> None:
    draft = session.draft("Remediation Script Publisher")
    with Emulator(
        demo_fixture(), now=demo_now, fixed_tokens=True, faults={"deny": deny}
    ) as emulator:
        code, out, err = session.submit(emulator, draft)
        assert (code, out) == (3, ""), err
        assert err.startswith(message)
        assert err.splitlines()[-1].startswith("hint: ")
        assert "'exclusions submit --accept-risk REASON'" in err
        assert (writes(emulator), filed(emulator), session.tracked()) == ([], [], [])

        code, out, err = session.submit(emulator, draft, "--accept-risk", "read access pending")
        assert code == 0, err
        assert json.loads(out)["outcome"] == "pending"
        assert len(filed(emulator)) == 1


# ---- (e) a valid draft is sent as before, after its review at submit -------------------------


def test_a_valid_draft_is_reviewed_again_and_sent(emulator: Emulator, session: Session) -> None:
    draft = session.draft("Remediation Script Publisher", "--ticket", "CHG-7")
    code, page, err = session.show(draft)
    assert (code, err) == (0, "")
    assert page.startswith("# Exclusion change request: Apps - Windows\n")

    before = len(emulator.requests)
    code, out, err = session.submit(emulator, draft)
    assert (code, err) == (0, "")
    assert json.loads(out)["outcome"] == "pending"
    during = emulator.requests[before:]
    # the review at submit looked the app up, live
    assert f"/beta/servicePrincipals(appId='{PUBLISHER}')" in {r.path for r in during}
    [request] = filed(emulator)
    assert request["requestJustification"].startswith("nightly sync (ticket CHG-7) [maa-guard ref ")
    [change] = session.tracked()
    assert change["label"] == "exclusions: Apps - Windows"
    assert excluded(emulator) == [PATCH_MY_PC]  # pending: nothing changes before approval


def test_a_draft_naming_an_app_by_anything_but_its_appid_is_refused_at_submit(
    emulator: Emulator, session: Session
) -> None:
    """The write lists the draft's value as is: the review at submit must be of that appId."""

    def by_object_id(document: dict[str, Any]) -> None:
        adds_helpdesk_without_review(document)
        document["draft"]["changes"][0]["app"]["app_id"] = HELPDESK_SP
        document["draft"]["request"]["body"]["excludedApplicationIds"] = [PATCH_MY_PC, HELPDESK_SP]

    forged = resealed(session.draft("Remediation Script Publisher"), by_object_id)
    code, out, err = session.submit(emulator, forged, "--accept-risk", "anything")
    assert (code, out) == (2, "")
    assert err.endswith(
        f"error: the draft adds '{HELPDESK_SP}', which is not the appId of the app it names "
        f"(Contoso Helpdesk Portal, appId {HELPDESK})\n"
        "hint: write a new draft with 'maa-guard exclusions draft'; do not edit the file\n"
    )
    assert (writes(emulator), filed(emulator), session.tracked()) == ([], [], [])


# ---- show: every way the reviews can fail to match the change ---------------------------------


def _with_helpdesk_review(helpdesk_draft: Path) -> Any:
    review = json.loads(helpdesk_draft.read_text(encoding="utf-8"))["reviews"][0]

    def change(document: dict[str, Any]) -> None:
        document["reviews"].append(review)

    return change


def _incomplete(document: dict[str, Any]) -> None:
    document["reviews"][0]["complete"] = False


def _risk_forgotten(document: dict[str, Any]) -> None:
    document["draft"]["accepted_risk"] = ""


@pytest.mark.parametrize(
    ("app", "extra", "edit", "problem"),
    [
        (
            "Remediation Script Publisher",
            (),
            "helpdesk-review",
            f"the draft holds a review of Contoso Helpdesk Portal ({HELPDESK}), which it does "
            "not add",
        ),
        (
            "Contoso Helpdesk Portal",
            ("--accept-risk", "vendor fix due in Q1"),
            _risk_forgotten,
            f"the review of Contoso Helpdesk Portal ({HELPDESK}) says do-not-exclude, and the "
            "draft records no accepted risk",
        ),
        (
            "Remediation Script Publisher",
            (),
            _incomplete,
            f"the review of Remediation Script Publisher ({PUBLISHER}) could not verify "
            "everything, and the draft records no accepted risk",
        ),
    ],
    ids=["review-of-an-app-not-added", "do-not-exclude-without-risk", "unverified-without-risk"],
)
def test_show_flags_reviews_that_do_not_match_the_change(
    session: Session, app: str, extra: tuple[str, ...], edit: Any, problem: str
) -> None:
    if edit == "helpdesk-review":
        helpdesk = session.draft("Contoso Helpdesk Portal", "--accept-risk", "r")
        edit = _with_helpdesk_review(helpdesk.rename(session.tmp_path / "helpdesk.json"))
    forged = resealed(session.draft(app, *extra), edit)
    code, page, err = session.show(forged)
    assert code == 1
    assert page.startswith(MISMATCH_HEAD + ">\n> - " + problem + "\n")
    assert err.startswith(f"warning: {forged}: the reviews do not match the change: {problem}\n")


def test_show_escapes_the_names_in_its_warning(session: Session) -> None:
    def hostile(document: dict[str, Any]) -> None:
        adds_helpdesk_without_review(document)
        document["draft"]["changes"][0]["app"]["display_name"] = "Evil | `x`\n# injected"

    forged = resealed(session.draft("Remediation Script Publisher"), hostile)
    code, page, err = session.show(forged)
    assert code == 1
    assert "> - Evil \\| \\`x\\` # injected (" + HELPDESK + ") is added" in page
    assert "\n# injected" not in page
    assert "Evil | `x` # injected (" in err.splitlines()[0]


# ---- a tenant whose exclusions source is `declared` ---------------------------------------------


@pytest.mark.parametrize(
    "reason", [TRUSTED, "", "the [[exclusions]] declaration plus the audit log"]
)
def test_a_declared_exclusions_source_gets_the_review_and_ticket_without_a_write(
    session: Session, reason: str
) -> None:
    snap = tenant()
    snap["policies"][0]["exclusions"] = [exclusion(OLD, "audit-log")]
    set_source(snap, "exclusions", "declared", reason=reason)
    snapshot = session.tmp_path / "tenant.json"
    snapshot.write_text(json.dumps(snap), encoding="utf-8")
    out = session.tmp_path / "declared.json"
    code, _, err = session.run(
        "exclusions", "draft", "--snapshot", str(snapshot), "--policy", "Apps", "--add", CLEAN,
        "--justification", "nightly sync", "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert err.startswith(f"wrote {out}, a draft without a Graph write: ")
    made = load_draft(out)
    assert (made.draft.request, made.draft.exclusions_property) == (None, "")
    assert [r["verdict"] for r in made.reviews] == ["ok"]
    code, page, err = session.show(out)
    assert (code, err) == (0, "")
    assert "## No Graph request\n\n" in page
    code, _, err = session.run(
        "exclusions", "submit", str(out), "--state", str(session.state), "--auth", "token",
        "--graph-endpoint", "http://127.0.0.1:9",
    )  # fmt: skip
    assert code == 2
    assert err.startswith("error: the tenant's access policies carry no exclusion property")
    assert not session.state.exists()


def test_a_live_declared_tenant_gets_the_review_and_ticket_without_a_write(
    session: Session,
) -> None:
    """The published profile serves no exclusion property; the configuration trusts the
    declaration, so the collector marks the exclusions source `declared`."""
    session.monkeypatch.setenv("MAA_GUARD_TRUST_DECLARED_EXCLUSIONS", "true")
    session.monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.READER_TOKEN)
    out = session.tmp_path / "declared.json"
    with Emulator(demo_fixture(), profile="published", now=demo_now, fixed_tokens=True) as served:
        code, _, err = session.run(
            "exclusions", "draft", "--auth", "token", "--graph-endpoint", served.url,
            "--days", "3650", "--quiet", "--policy", POLICY,
            "--add", "Remediation Script Publisher", "--justification", "nightly sync",
            "-o", str(out),
        )  # fmt: skip
    assert code == 0, err
    made = load_draft(out)
    assert (made.draft.request, made.draft.exclusions_property) == (None, "")
    assert [r["verdict"] for r in made.reviews] == ["ok"]
