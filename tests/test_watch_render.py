"""Hostile tenant strings (justification, display names, mail attributes) are inert in every
message format: Adaptive Card Markdown, Slack, the signed webhook JSON and e-mail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_watch_receivers import (
    smtp_server,
    verify_signature,
)
from test_watch_support import (
    HOSTILE,
    HOSTILE_APP_NAME,
    SECRETS,
    Rig,
    file_request,
    make_rig,
    once,
)

from maa_guard.watch.notifiers.escape import card_text, fit, slack_text

CARD_JUSTIFICATION = (
    r"\<b\>bold\</b\> \*\*md\*\* \_it\_ \[click\]\(http://evil.example\) \<\!channel\> "
    r"\<@U123\> \<http://evil.example\|click here\> \&amp; \\x1b\[31mred\\x1b\[0m\\x0d "
    r"Bcc: victim@evil.example\\x0d - item 1. first \# h1 \`code\` \\u202egnp.exe"
)
SLACK_JUSTIFICATION = (
    "&lt;b&gt;bold&lt;/b&gt; **md** _it_ [click](http://evil.example) &lt;!channel&gt; "
    "&lt;@U123&gt; &lt;http://evil.example|click here&gt; &amp;amp; "
    r"\x1b[31mred\x1b[0m\x0d Bcc: victim@evil.example\x0d - item 1. first # h1 `code` "
    r"\u202egnp.exe"
)
MAIL_JUSTIFICATION = (
    "<b>bold</b> **md** _it_ [click](http://evil.example) <!channel> <@U123> "
    r"<http://evil.example|click here> &amp; \x1b[31mred\x1b[0m\x0d Bcc: victim@evil.example"
    r"\x0d - item 1. first # h1 `code` \u202egnp.exe"
)
HOSTILE_MAIL = "ada@contoso.example>\r\nBcc: victim@evil.example"


@pytest.fixture
def told(tmp_path: Path) -> Iterator[Rig]:
    """A request filed with a hostile justification by an app with a hostile name, told to
    every receiver; one approver's mail attribute tries to add a Bcc."""
    with smtp_server(tmp_path) as smtp, make_rig(tmp_path, smtp) as rig:
        with rig.emulator.tenant.lock:
            rig.emulator.tenant.find("users", "approver2")["mail"] = HOSTILE_MAIL  # type: ignore[index]
        once(rig)
        file_request(rig.emulator, HOSTILE)
        assert once(rig)[0] == 0
        yield rig


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_teams_card_escapes_markdown_and_controls(told: Rig) -> None:
    [post] = told.receivers["teams"].posts
    facts = post.json()["attachments"][0]["content"]["body"][1]["facts"]
    values = {fact["title"]: fact["value"] for fact in facts}
    assert values["Justification"] == CARD_JUSTIFICATION
    assert values["Requested by"] == (
        r"Deploy \<i\>bot\</i\> \*ops\* \<\!here\> \\x1b\[2J \(application auto-app\)"
    )
    for text in _strings(post.json()):
        assert not any(c in text for c in "\r\n\x1b\u202e"), text


def test_slack_values_are_plain_text_with_entities(told: Rig) -> None:
    [post] = told.receivers["slack"].posts
    payload = post.json()
    assert payload["text"] == "MAA approval needed"  # the notification shows only our words
    justification = payload["blocks"][2]["text"]
    assert justification == {
        "type": "plain_text",
        "text": f"Justification: {SLACK_JUSTIFICATION}",
        "emoji": False,
    }
    mrkdwn = [b["text"] for b in payload["blocks"] if b.get("text", {}).get("type") == "mrkdwn"]
    assert [m["text"] for m in mrkdwn] == [
        "<https://intune.microsoft.com/#view/Microsoft_Intune_DeviceSettings/TenantAdminMenu/~/"
        "multiAdminApproval|Open in the Intune admin center>"
    ]
    tenant_texts = [
        field["text"] for block in payload["blocks"] for field in block.get("fields", [])
    ] + [justification["text"]]
    for text in tenant_texts:
        assert "<" not in text and ">" not in text, text
    assert f"Requested by: {slack_text(HOSTILE_APP_NAME)} (application auto-app)" in tenant_texts


def test_webhook_json_keeps_the_exact_string_escaped_by_json(told: Rig) -> None:
    [post] = told.receivers["hook"].posts
    assert verify_signature(post, SECRETS["HOOK_KEY_VAR"])
    assert all(32 <= byte < 127 for byte in post.body)  # no raw control byte on the wire
    request = json.loads(post.body)["event"]["request"]
    assert (request["justification"], request["requestor_name"]) == (HOSTILE, HOSTILE_APP_NAME)


def test_email_has_no_injected_header_or_recipient(told: Rig) -> None:
    assert told.smtp is not None
    [mail] = told.smtp.inbox.messages
    assert mail.recipients == ["secops@contoso.example", "abe.mail@contoso.example"]
    message = mail.message
    assert sorted(message.keys()) == sorted(
        [
            "Subject",
            "From",
            "To",
            "Date",
            "Message-ID",
            "X-MAA-Guard-Idempotency-Key",
            "X-MAA-Guard-Event",
            "Content-Type",
            "Content-Transfer-Encoding",
            "MIME-Version",
        ]
    )
    assert b"\nBcc:" not in mail.raw and b"\x1b" not in mail.raw
    assert message["To"] == "secops@contoso.example, abe.mail@contoso.example"
    assert message.get_content_type() == "text/plain"
    [line] = [x for x in message.get_content().splitlines() if x.startswith("Justification:")]
    assert line == f"Justification:  {MAIL_JUSTIFICATION}"
    [by] = [x for x in message.get_content().splitlines() if x.startswith("Requested by:")]
    assert by == r"Requested by:   Deploy <i>bot</i> *ops* <!here> \x1b[2J (application auto-app)"


# ---- the escape functions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[click](http://evil)", r"\[click\]\(http://evil\)"),
        ("1. first", r"1\. first"),
        ("- item", r"\- item"),
        ("+ item", r"\+ item"),
        ("# heading", r"\# heading"),
        ("a\r\nb\tc", r"a\\x0d b c"),
        ("&lt;", r"\&lt;"),
        ("back\\slash", r"back\\slash"),
    ],
)
def test_card_text(text: str, expected: str) -> None:
    assert card_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<http://evil|click>", "&lt;http://evil|click&gt;"),
        ("a & b", "a &amp; b"),
        ("&amp;", "&amp;amp;"),
        ("x\ny", "x y"),
    ],
)
def test_slack_text(text: str, expected: str) -> None:
    assert slack_text(text) == expected


def test_fit_never_cuts_an_escape() -> None:
    assert fit("<<<<<", 12, slack_text) == "&lt;&lt;\u2026"
    assert fit("abc", 3, slack_text) == "abc"
