"""`maa-guard review` output: JSON shape and round trip, Markdown golden, hostile strings, CLI."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from builders import Json, add_ca_policy, add_sp, certificate, set_source, user_ref
from test_review import APP, NAME, SP_ID, clean_tenant, review

from maa_guard.cli import main
from maa_guard.config import Settings
from maa_guard.errors import EXIT_USAGE, InputError
from maa_guard.reporters.text import markdown
from maa_guard.review import (
    REVIEW_SCHEMA,
    Review,
    review_app,
    review_from_json,
    review_to_json,
    review_to_markdown,
    review_to_terminal,
)
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

GOLDEN = Path(__file__).resolve().parent / "golden"
DEMO = load_snapshot(demo_path("snapshot.json"))
TAG_SYNC = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"
HOSTILE = "<img src=x onerror=alert(1)>[bold red]pwn[/] \x1b[2J\x1b[31mred | `tick` *b* _i_\nforged"
ESCAPE = re.compile(r"\x1b")


def demo_review() -> Review:
    return review_app(DEMO, "Intune Tag Sync", Settings(), tool_version="0.1.0")


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(text.encode("utf-8"))
    assert path.read_bytes() == text.encode("utf-8"), (
        f"{path.name} differs; if the change is intended, rerun with UPDATE_GOLDEN=1"
    )


# ---- JSON ----------------------------------------------------------------------------------


def test_markdown_matches_its_golden_file() -> None:
    _golden("review-tag-sync.md", review_to_markdown(demo_review()))


def test_json_matches_its_golden_file() -> None:
    text = json.dumps(review_to_json(demo_review()), indent=2, ensure_ascii=False) + "\n"
    _golden("review-tag-sync.json", text)


def test_json_shape() -> None:
    document = review_to_json(demo_review())
    assert list(document)[:2] == ["schema", "tool_version"]
    assert document["schema"] == REVIEW_SCHEMA
    assert (document["verdict"], document["complete"], document["exit_code"]) == (
        "do-not-exclude",
        True,
        1,
    )
    assert document["fail_on"] == "high"
    assert [(r["rule_id"], r["severity"]) for r in document["reasons"]] == [
        ("MAA401", "high"),
        ("MAA403", "medium"),
        ("MAA404", "critical"),
        ("MAA405", "high"),
        ("MAA407", "medium"),
    ]
    assert document["app"]["credentials"] == [
        {
            "kind": "clientSecret",
            "holder": "servicePrincipal",
            "key_id": "bb86e96e-39df-4c4a-a65f-b876f569a6d1",
            "display_name": "tag-sync",
            "start": "2026-04-01T00:00:00Z",
            "end": "2026-12-31T00:00:00Z",
            "issuer": "",
            "subject": "",
        }
    ]
    assert document["scope"] == "every-policy"
    assert json.loads(json.dumps(document)) == document


def _incomplete_hostile() -> Review:
    snap = hostile_tenant()
    set_source(snap, "conditional_access", "failed", "HTTP 403", "Policy.Read.All")
    return review(snap)


@pytest.mark.parametrize("make", [demo_review, _incomplete_hostile], ids=["demo", "hostile"])
def test_json_round_trip(make: Any) -> None:
    original = make()
    document = review_to_json(original)
    assert review_from_json(json.loads(json.dumps(document))) == original
    assert review_to_json(review_from_json(document)) == document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d.update(schema="maa-guard.review/9"),
            "review: schema: expected 'maa-guard.review/1', got 'maa-guard.review/9'",
        ),
        (
            lambda d: d["checks"][0].update(severity="severe"),
            "review: checks[0].severity: "
            "unknown severity 'severe' (choose from low, medium, high, critical)",
        ),
        (lambda d: d.pop("verdict"), "review: verdict: required field is missing"),
        (
            lambda d: d.update(verdict="fine"),
            "review: verdict: expected one of ok, "
            "needs-hardening, do-not-exclude, got the string 'fine'",
        ),
        (
            lambda d: d["app"].update(credentials={}),
            "review: app.credentials: expected a list, got an object",
        ),
    ],
    ids=["schema", "severity", "missing", "verdict", "type"],
)
def test_a_malformed_review_document_is_bad_input(change: Any, message: str) -> None:
    document = copy.deepcopy(review_to_json(demo_review()))
    change(document)
    with pytest.raises(InputError) as raised:
        review_from_json(document)
    assert (raised.value.exit_code, raised.value.message) == (EXIT_USAGE, message)


def test_a_review_document_must_be_an_object() -> None:
    with pytest.raises(InputError, match="review: a review is a JSON object"):
        review_from_json([])


# ---- hostile tenant strings ----------------------------------------------------------------


def hostile_tenant() -> Json:
    snap = clean_tenant(name=HOSTILE, owners=[{**user_ref("u-1"), "displayName": HOSTILE}])
    snap["service_principals"][0]["application"]["keyCredentials"] = [
        {**certificate("c-1"), "displayName": HOSTILE}
    ]
    snap["policies"][0]["displayName"] = HOSTILE
    snap["conditional_access_policies"][0]["displayName"] = HOSTILE
    snap["tenant"]["display_name"] = HOSTILE
    return snap


def test_hostile_strings_are_inert_in_markdown() -> None:
    text = review_to_markdown(review(hostile_tenant()))
    escaped = markdown(HOSTILE)
    assert escaped == (
        "&lt;img src=x onerror=alert(1)&gt;\\[bold red\\]pwn\\[/\\] \\\\x1b\\[2J\\\\x1b\\[31mred "
        "\\| \\`tick\\` \\*b\\* \\_i\\_ forged"
    )
    assert text.count(escaped) == 6  # title, policy, owner, credential, CA policy, rule table
    for raw in ("<img", "\x1b", "[bold red]pwn[/]", "`tick`", "\nforged", " | `"):
        assert raw not in text


def test_hostile_strings_are_inert_in_the_terminal() -> None:
    plain = review_to_terminal(review(hostile_tenant()), color=False, width=400)
    assert not ESCAPE.search(plain)
    assert "[bold red]pwn[/]" in plain  # shown literally, never read as markup
    assert "\\x1b[2J" in plain
    assert "\nforged" not in plain
    coloured = review_to_terminal(review(hostile_tenant()), color=True, width=400)
    assert "\x1b[2J" not in coloured and "\x1b[31mred" not in coloured
    assert "[bold red]pwn[/]" in coloured


def test_hostile_strings_are_exact_in_json() -> None:
    document = json.loads(json.dumps(review_to_json(review(hostile_tenant()))))
    assert document["app"]["display_name"] == HOSTILE
    assert document["app"]["owners"][0]["display_name"] == HOSTILE
    assert document["excluded_from"][0]["display_name"] == HOSTILE


def test_a_hostile_ambiguous_name_is_inert_in_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snap = hostile_tenant()
    add_sp(snap, "33333333-3333-4333-8333-333333333333", name=HOSTILE)
    add_ca_policy(snap, "ca-2")
    path = tmp_path / "tenant.json"
    path.write_text(json.dumps(snap), encoding="utf-8")
    assert main(["review", HOSTILE, "--snapshot", str(path), "--format", "json"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert not ESCAPE.search(err)
    assert err.count("\n") == 2  # error and hint: a newline in the name forged no line
    assert err.startswith("error: '<img src=x onerror=alert(1)>[bold red]pwn[/] \\x1b[2J")
    assert "matches 2 service principals" in err


# ---- the command, offline ------------------------------------------------------------------


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_demo_review_as_json(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["review", "--demo", "Intune Tag Sync", "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert (code, document["verdict"]) == (1, "do-not-exclude")
    assert [r["rule_id"] for r in document["reasons"]] == [
        "MAA401",
        "MAA403",
        "MAA404",
        "MAA405",
        "MAA407",
    ]


def test_snapshot_review_ok_exits_0(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = in_tmp / "tenant.json"
    path.write_text(json.dumps(clean_tenant()), encoding="utf-8")
    code = main(["review", SP_ID, "--snapshot", str(path), "--format", "table", "--no-color"])
    out = capsys.readouterr().out
    assert code == 0
    assert "\nOK: every exclusion rule passes\n" in out
    assert f"maa-guard review of {NAME} (appId {APP}," in out


def test_output_file_format_from_its_suffix(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = in_tmp / "reports" / "review.md"
    code = main(["review", "--demo", "Intune Tag Sync", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert captured.err == f"review of Intune Tag Sync: do-not-exclude; wrote {out}\n"
    settings_review = out.read_text(encoding="utf-8")
    assert settings_review.startswith("## ❌ maa-guard review: DO-NOT-EXCLUDE\n")
    assert [p.name for p in out.parent.iterdir()] == ["review.md"]


def test_an_unwritable_output_writes_nothing(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = in_tmp / "file"
    blocker.write_text("x", encoding="utf-8")
    code = main(["review", "--demo", "Intune Tag Sync", "-o", str(blocker / "r.json")])
    assert code == EXIT_USAGE
    assert capsys.readouterr().err.startswith(f"error: cannot write {blocker / 'r.json'}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["review", "X"],
            "error: give one input: --snapshot FILE, --demo, or --auth / "
            "--graph-endpoint to collect",
        ),
        (
            ["review", "X", "--demo", "--snapshot", "s.json"],
            "error: give one input: "
            "--snapshot FILE, --demo, or --auth / --graph-endpoint to collect",
        ),
        (["review", "Nobody", "--demo"], "error: no service principal matches 'Nobody'"),
        (
            ["review", "Intune Tag Sync", "--demo", "--policy", "nope"],
            "error: unknown access policy 'nope'",
        ),
    ],
    ids=["no-input", "two-inputs", "unknown-app", "unknown-policy"],
)
def test_bad_input_exits_2(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[0] == message
