"""`maa-guard exclusions draft | show`: the change request file, offline."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from builders import (
    Json,
    add_ca_policy,
    add_event,
    add_policy,
    add_sign_in,
    add_sp,
    exclusion,
    new_snapshot,
    registration,
    secret,
    set_source,
)

from maa_guard.cli import main
from maa_guard.config import Settings
from maa_guard.errors import InputError
from maa_guard.exclusions.draft import (
    DRAFT_KIND,
    ChangeAction,
    content_digest,
    draft_document,
    load_draft,
    parse_draft,
)
from maa_guard.exclusions.draft_build import DraftRequest, build_draft
from maa_guard.exclusions.draft_render import draft_to_markdown
from maa_guard.review import review_app
from maa_guard.snapshot.file import parse_snapshot

CLEAN = "11111111-1111-4111-8111-111111111111"
RISKY = "22222222-2222-4222-8222-222222222222"
KEPT = "33333333-3333-4333-8333-333333333333"
OLD = "44444444-4444-4444-8444-444444444444"
HOSTILE = "Evil | `x` <b>\n[link](http://e)"


def tenant() -> Json:
    snap = new_snapshot()
    add_policy(snap, "pol-app", "app", name="Apps", exclusions=[KEPT, exclusion(OLD, "audit-log")])
    add_policy(snap, "pol-script", "script", name="Scripts")
    add_ca_policy(snap, "ca-block")
    add_sp(snap, CLEAN, name=HOSTILE, application=registration(CLEAN, federated=True))
    add_sign_in(snap, CLEAN)
    add_event(snap, CLEAN, "Create MobileApp")
    add_sp(snap, RISKY, name="Risky Sync", application=registration(RISKY, secrets=[secret("s1")]))
    add_sign_in(snap, RISKY)
    add_sp(snap, KEPT, name="Kept Tool", application=registration(KEPT, federated=True))
    add_sp(snap, OLD, name="Old Tool", application=registration(OLD, federated=True))
    return snap


def draft(snap: Json | None = None, adds: tuple[str, ...] = (CLEAN,), **fields: Any) -> Any:
    snapshot = parse_snapshot(copy.deepcopy(snap or tenant()))
    request = DraftRequest(**{"policy": "Apps", "removes": (), "justification": "why", **fields})
    reviews = [review_app(snapshot, app, Settings(), policy_ids=("pol-app",)) for app in adds]
    return build_draft(snapshot, request, reviews, "excludedApplicationIds", snapshot.collected_at)


def test_a_draft_holds_the_policy_the_change_the_reviews_and_the_exact_write() -> None:
    made = draft(ticket="CHG-7")
    assert made.draft.policy.id == "pol-app"
    assert [(a.app_id, a.sources) for a in made.draft.current] == [
        (KEPT, ("policy-property",)),
        (OLD, ("audit-log",)),
    ]
    assert [(c.action, c.app.app_id) for c in made.draft.changes] == [(ChangeAction.ADD, CLEAN)]
    assert made.draft.request is not None
    assert (made.draft.request.method, made.draft.request.path) == (
        "PATCH",
        "/deviceManagement/operationApprovalPolicies/pol-app",
    )
    # OLD is known from the audit log only: it is not in the property, and is not written.
    assert made.draft.request.body == {"excludedApplicationIds": (KEPT, CLEAN)}
    assert made.draft.resulting_app_ids == (KEPT, OLD, CLEAN)
    assert [r["verdict"] for r in made.reviews] == ["ok"]
    assert made.draft.ticket == "CHG-7"


def test_the_file_round_trips_and_its_digest_covers_everything(tmp_path: Path) -> None:
    made = draft()
    document = draft_document(made)
    assert document["kind"] == DRAFT_KIND
    assert document["digest"] == content_digest(
        {"draft": document["draft"], "reviews": document["reviews"]}
    )
    path = tmp_path / "change.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert load_draft(path) == made


def _tampered(change: Any) -> bytes:
    document = draft_document(draft())
    change(document)
    return json.dumps(document).encode()


def _resealed(change: Any) -> Any:
    def edit(document: Json) -> None:
        change(document)
        content = {"draft": document["draft"], "reviews": document["reviews"]}
        document["digest"] = content_digest(content)

    return edit


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["draft"]["request"]["body"]["excludedApplicationIds"].append("x"),
            "changed after it was written",
        ),
        (lambda d: d["reviews"][0].update(verdict="ok-ish"), "changed after it was written"),
        (
            _resealed(lambda d: d["draft"]["request"]["body"]["excludedApplicationIds"].pop()),
            "does not match its policy and changes",
        ),
        (
            _resealed(
                lambda d: d["draft"]["request"].update(path="/deviceManagement/roleDefinitions/x")
            ),
            "does not match its policy and changes",
        ),
        (_resealed(lambda d: d["draft"].pop("policy")), "draft.policy"),
        (lambda d: d.update(kind="something-else"), "not a maa-guard exclusion draft"),
        (lambda d: d.update(version=99), "draft version 99 is not supported"),
    ],
)
def test_a_tampered_or_foreign_draft_is_refused(change: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_draft(_tampered(change), "change.json")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON (line 1, column 2"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "a draft is a JSON object"),
    ],
)
def test_a_malformed_draft_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_draft(raw, "change.json")


def test_markdown_escapes_every_tenant_string_and_the_fence_cannot_be_closed() -> None:
    snap = tenant()
    snap["policies"][0]["exclusions"].append(exclusion("```\n# injected"))
    page = draft_to_markdown(draft(snap))
    assert "| add | Evil \\| \\`x\\` &lt;b&gt; \\[link\\](http://e) | " + CLEAN in page
    assert "\n# injected" not in page.split("````http")[0]
    assert "````http\nPATCH /beta/deviceManagement/operationApprovalPolicies/pol-app\n" in page
    assert page.count("\n````\n") == 1


# ---- the command --------------------------------------------------------------------------------


def _run(tmp_path: Path, *extra: str, snap: Json | None = None) -> tuple[int, Path]:
    snapshot = tmp_path / "tenant.json"
    snapshot.write_text(json.dumps(snap or tenant()), encoding="utf-8")
    out = tmp_path / "change.json"
    args = ["exclusions", "draft", "--snapshot", str(snapshot), "--policy", "Apps"]
    code = main([*args, "--justification", "nightly app sync", "-o", str(out), *extra])
    return code, out


def test_the_command_writes_the_draft_and_show_renders_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(tmp_path, "--add", CLEAN)
    assert code == 0
    assert load_draft(out).draft.justification == "nightly app sync"
    capsys.readouterr()
    assert main(["exclusions", "show", str(out)]) == 0
    page = capsys.readouterr().out
    assert page.startswith("# Exclusion change request: Apps\n")
    assert "| Justification | nightly app sync |" in page


def test_do_not_exclude_is_refused_unless_the_risk_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(tmp_path, "--add", "Risky Sync")
    assert code == 1 and not out.exists()
    err = capsys.readouterr().err
    assert err.startswith(
        "error: the review says do-not-exclude: Risky Sync (MAA401 excluded-app-client-secret"
    )
    assert "--accept-risk REASON" in err
    code, out = _run(tmp_path, "--add", "Risky Sync", "--accept-risk", "vendor fix due in Q1")
    assert code == 0
    assert load_draft(out).draft.accepted_risk == "vendor fix due in Q1"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--remove", CLEAN), f"error: '{CLEAN}' is not excluded from policy 'Apps'"),
        (("--add", KEPT), "Kept Tool (" + KEPT + ") is already excluded from this policy"),
        (("--add", CLEAN, "--remove", "Nobody"), "'Nobody' is not excluded from policy 'Apps'"),
        ((), "no change given"),
        (("--add", CLEAN, "--policy", "Nope"), "no access policy is named 'Nope'"),
        (("--add", CLEAN, "--justification", "   "), "the justification is empty"),
        (("--add", CLEAN, "--justification", "x" * 1000), "MAA accepts at most 1024"),
    ],
)
def test_bad_input_is_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], message: str
) -> None:
    code, out = _run(tmp_path, *extra)
    assert (code, out.exists()) == (2, False)
    assert message in capsys.readouterr().err


def test_removing_and_adding_together_and_by_name(tmp_path: Path) -> None:
    code, out = _run(tmp_path, "--add", CLEAN, "--remove", "Kept Tool")
    assert code == 0
    request = load_draft(out).draft.request
    assert request is not None
    assert request.body == {"excludedApplicationIds": (CLEAN,)}


def test_an_exclusion_the_audit_log_alone_shows_cannot_be_removed_through_graph(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(tmp_path, "--remove", "Old Tool")
    assert (code, out.exists()) == (2, False)
    assert capsys.readouterr().err == (
        f"error: Old Tool ({OLD}) is excluded according to the audit log only: the policy's "
        "property 'excludedApplicationIds' does not list it, so a Graph write cannot remove it\n"
        "hint: remove it on the access policy's Exclusions tab in the Intune admin center\n"
    )


def test_without_an_exclusion_property_the_draft_is_the_review_and_ticket_without_a_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from maa_guard.exclusions.provenance import UNTRUSTED

    snap = tenant()
    snap["policies"][0]["exclusions"] = [exclusion(OLD, "audit-log")]
    set_source(snap, "exclusions", "partial", reason=UNTRUSTED)
    code, out = _run(tmp_path, "--add", CLEAN, snap=snap)
    assert code == 0
    made = load_draft(out)
    assert (made.draft.request, made.draft.exclusions_property) == (None, "")
    assert [r["verdict"] for r in made.reviews] == ["ok"]
    assert capsys.readouterr().err == (
        f"wrote {out}, a draft without a Graph write: the tenant's access policies carry no "
        "exclusion property (Microsoft Graph publishes no writable one), so maa-guard cannot "
        "send this change through Graph; make the change on the access policy's Exclusions tab "
        "in the Intune admin center (Tenant administration > Multi Admin Approval > Access "
        "policies), where MAA asks a second administrator to approve it too; "
        f"'maa-guard exclusions show {out}' is its change ticket\n"
    )
    assert main(["exclusions", "show", str(out)]) == 0
    page = capsys.readouterr().out
    assert "## No Graph request\n\nThe tenant's access policies carry no exclusion property" in page
    assert "```http" not in page
    assert "## Reviews of the apps added" in page
    state = tmp_path / "state.db"
    args = ["exclusions", "submit", str(out), "--state", str(state), "--auth", "token"]
    assert main([*args, "--graph-endpoint", "http://127.0.0.1:9"]) == 2
    assert capsys.readouterr().err.startswith(
        "error: the tenant's access policies carry no exclusion property (Microsoft Graph "
        "publishes no writable one), so maa-guard cannot send this change through Graph\n"
        "hint: make the change on the access policy's Exclusions tab"
    )
    assert not state.exists()


def test_unreadable_exclusions_refuse_the_draft_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snap = tenant()
    set_source(snap, "exclusions", "partial", reason="audit log incomplete")
    code, out = _run(tmp_path, "--add", CLEAN, snap=snap)
    assert (code, out.exists()) == (3, False)
    assert "exclusions is partial (audit log incomplete)" in capsys.readouterr().err


def test_the_fifty_exclusion_cap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = tenant()
    snap["policies"][0]["exclusions"] = [exclusion(f"app-{n}") for n in range(50)]
    code, out = _run(tmp_path, "--add", CLEAN, snap=snap)
    assert (code, out.exists()) == (2, False)
    assert "would exclude 51 applications; an access policy takes at most 50" in (
        capsys.readouterr().err
    )


def test_show_refuses_a_tampered_file_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = _run(tmp_path, "--add", CLEAN)
    out.write_text(out.read_text(encoding="utf-8").replace(KEPT, OLD), encoding="utf-8")
    capsys.readouterr()
    assert main(["exclusions", "show", str(out)]) == 2
    assert "digest mismatch" in capsys.readouterr().err


def test_submit_refuses_a_tampered_draft_before_touching_state_or_graph(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out = _run(tmp_path, "--add", CLEAN)
    document = json.loads(out.read_text(encoding="utf-8"))
    document["draft"]["justification"] = "something else entirely"
    out.write_text(json.dumps(document), encoding="utf-8")
    state = tmp_path / "state.db"
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "unused")
    capsys.readouterr()
    args = ["exclusions", "submit", str(out), "--state", str(state), "--auth", "token"]
    assert main([*args, "--graph-endpoint", "http://127.0.0.1:9"]) == 2
    assert "digest mismatch" in capsys.readouterr().err
    assert not state.exists()
