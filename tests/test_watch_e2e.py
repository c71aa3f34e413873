"""`watch` end to end: the emulator (real HTTP, real Graph client), local Teams, Slack and
webhook receivers, a local SMTP server with STARTTLS, and the SQLite state.

Every test runs against both emulator profiles (``tests/profiles.py``). In ``published`` Graph
serves no exclusion property (an exclusion changes on the admin center's Exclusions tab, and
the watch learns it from the audit log) and names nobody on a request.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from profiles import PROFILES, exclude_in_admin_center
from test_watch_receivers import (
    Inbox,
    Mail,
    Post,
    free_port,
    smtp_server,
    verify_signature,
)
from test_watch_support import (
    HOSTILE_APP_NAME,
    REQUESTS,
    SECRETS,
    Rig,
    act,
    change_exclusions,
    config_text,
    file_request,
    kinds,
    make_rig,
    once,
    open_watch,
    send,
    set_members,
)

from maa_guard.watch.config import DEFAULT_LINK
from maa_guard.watch.notifiers.escape import card_text
from maa_guard.watch.state import WatchStore

APPROVERS = ["abe.mail@contoso.example", "ada@contoso.example"]


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def rig(tmp_path: Path, profile: str) -> Iterator[Rig]:
    with smtp_server(tmp_path) as smtp, make_rig(tmp_path, smtp, profile) as running:
        yield running


def exclude(rig: Rig, app_ids: list[str]) -> None:
    """The policy p-app now excludes ``app_ids``: through Graph (MAA asks Abe to approve Rita's
    change) where the tenant serves the property, else on the admin center's Exclusions tab."""
    if rig.emulator.profile.published:
        exclude_in_admin_center(rig.emulator, "p-app", app_ids, "requester", rig.clock())
    else:
        change_exclusions(rig.emulator, app_ids)


def card(post: Post) -> dict[str, Any]:
    content: dict[str, Any] = post.json()["attachments"][0]["content"]
    return content


def card_title(post: Post) -> str:
    return str(card(post)["body"][0]["text"])


def card_facts(post: Post) -> dict[str, str]:
    return {f["title"]: f["value"] for f in card(post)["body"][1]["facts"]}


def slack_title(post: Post) -> str:
    return str(post.json()["blocks"][0]["text"]["text"])


def mails(rig: Rig) -> list[Mail]:
    assert rig.smtp is not None
    return rig.smtp.inbox.messages


def body_line(mail: EmailMessage, label: str) -> str:
    content = mail.get_content()
    [line] = [line for line in content.splitlines() if line.startswith(f"{label}:")]
    return line[len(label) + 1 :].strip()


# ---- a new request ---------------------------------------------------------------------------


def test_first_run_is_a_quiet_baseline(rig: Rig) -> None:
    file_request(rig.emulator)
    code, lines = once(rig)
    assert (code, lines) == (
        0,
        [
            "watch: poll 1: baseline recorded; what exists now is not announced "
            "(--notify-existing announces open requests)"
        ],
    )
    assert once(rig) == (0, ["watch: poll 2: 0 new event(s)"])
    assert [len(r.posts) for r in rig.receivers.values()] == [0, 0, 0]
    assert mails(rig) == []


def test_notify_existing_announces_open_requests_on_the_first_run_only(rig: Rig) -> None:
    request_id = file_request(rig.emulator)
    code, lines = once(rig, notify_existing=True)
    assert (code, lines[-1]) == (0, "watch: delivered 4 message(s)")
    assert kinds(rig.receivers["hook"]) == ["request.needs_approval"]
    assert rig.receivers["hook"].posts[0].json()["event"]["request"]["id"] == request_id
    assert once(rig, notify_existing=True) == (0, ["watch: poll 2: 0 new event(s)"])
    assert len(rig.receivers["teams"].posts) == 1


def test_a_request_filed_by_automation_reaches_each_receiver_exactly_once(rig: Rig) -> None:
    once(rig)
    request_id = file_request(rig.emulator, "CHG-1 roll out Company Portal")
    code, lines = once(rig)
    assert (code, lines) == (0, ["watch: poll 2: 1 new event(s)", "watch: delivered 4 message(s)"])
    [teams], [slack], [hook] = (rig.receivers[n].posts for n in ("teams", "slack", "hook"))
    assert card_title(teams) == "MAA approval needed"
    facts = card_facts(teams)
    facts.pop("Requested by")  # test_a_request_filed_by_an_app_names_the_app
    assert facts == {
        "Request": request_id,
        "Protected area": "app",
        "Justification": "CHG-1 roll out Company Portal",
        "Requested": "2026-11-01T08:00:00Z",
        "Expires": "2026-11-04T08:00:00Z",
        "Status": "needsApproval",
    }
    assert card(teams)["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open in the Intune admin center", "url": DEFAULT_LINK}
    ]
    assert slack_title(slack) == "MAA approval needed"
    assert slack.json()["blocks"][1]["fields"][0]["text"] == f"Request: {request_id}"
    body = hook.json()
    assert verify_signature(hook, SECRETS["HOOK_KEY_VAR"])
    assert hook.headers["Idempotency-Key"] == body["idempotency_key"]
    assert body["event_key"] == f"request:{request_id}:status:needsApproval"
    assert (body["type"], body["severity"], body["delivery_attempt"]) == (
        "request.needs_approval",
        "medium",
        1,
    )
    assert body["event"]["audience"] == APPROVERS
    [delivered] = mails(rig)
    mail = delivered.message
    assert (delivered.sender, delivered.recipients) == (
        "maa-guard@contoso.example",
        ["secops@contoso.example", *APPROVERS],
    )
    assert (delivered.encrypted, delivered.authenticated) == (True, True)
    assert mail["Subject"] == f"[maa-guard] MAA approval needed: {request_id}"
    assert mail["To"] == ", ".join(["secops@contoso.example", *APPROVERS])
    assert mail["Message-ID"] == f"<{mail['X-MAA-Guard-Idempotency-Key']}@maa-guard>"
    assert body_line(mail, "Justification") == "CHG-1 roll out Company Portal"
    assert body_line(mail, "Open in the Intune admin center") == DEFAULT_LINK
    assert once(rig) == (0, ["watch: poll 3: 0 new event(s)"])
    assert [len(r.posts) for r in rig.receivers.values()] == [1, 1, 1]
    assert len(mails(rig)) == 1


# Graph names nobody on a request in ``published``; the MAA audit events the emulator writes
# name who filed it and who approved it, as the scan reads them. A poll reads the audit log up
# to (not including) its own moment, so the clock moves on before it.
def test_a_request_filed_by_an_app_names_the_app(rig: Rig) -> None:
    once(rig)
    file_request(rig.emulator, "CHG-1 roll out Company Portal")
    rig.clock.advance(minutes=1)
    once(rig)
    [teams] = rig.receivers["teams"].posts
    assert card_facts(teams)["Requested by"] == card_text(
        f"{HOSTILE_APP_NAME} (application auto-app)"
    )


# ---- decisions and expiry --------------------------------------------------------------------


def test_an_approval_tells_the_requestor_to_complete(rig: Rig) -> None:
    once(rig)
    request_id = file_request(rig.emulator, token="requester")
    rig.clock.advance(minutes=1)
    once(rig)
    assert card_facts(rig.receivers["teams"].posts[0])["Requested by"] == card_text(
        "Rita (user requester)"
    )
    act(rig.emulator, request_id, "approve")
    rig.clock.advance(minutes=1)
    code, lines = once(rig)
    assert (code, lines) == (0, ["watch: poll 3: 1 new event(s)", "watch: delivered 4 message(s)"])
    hook = rig.receivers["hook"]
    assert kinds(hook) == ["request.needs_approval", "request.approved"]
    assert hook.posts[1].json()["event"]["audience"] == ["rita@contoso.example"]
    assert card_title(rig.receivers["teams"].posts[1]) == "MAA request approved: complete it"
    assert card_facts(rig.receivers["teams"].posts[1])["Approver"] == "Abe"
    approved = mails(rig)[1]
    assert approved.recipients == ["secops@contoso.example", "rita@contoso.example"]
    assert (
        f"The requestor completes it: run `maa-guard requests complete {request_id}`"
        in approved.message.get_content()
    )


def test_the_people_named_earlier_are_kept_once_their_events_leave_the_audit_window(
    rig: Rig,
) -> None:
    """Poll 4 reads the audit log from 10:01: the filing event (08:00) is no longer in it, so
    the requestor is the one poll 2 learned. The webhook's request says where each came from."""
    once(rig)
    request_id = file_request(rig.emulator, token="requester")
    rig.clock.advance(minutes=1)
    once(rig)
    rig.clock.advance(hours=3)
    assert once(rig) == (0, ["watch: poll 3: 0 new event(s)"])
    act(rig.emulator, request_id, "approve")
    rig.clock.advance(minutes=1)
    assert once(rig)[0] == 0
    hook = rig.receivers["hook"]
    assert kinds(hook) == ["request.needs_approval", "request.approved"]
    assert hook.posts[1].json()["event"]["audience"] == ["rita@contoso.example"]
    source = "audit-log" if rig.emulator.profile.published else "graph"
    told = hook.posts[1].json()["event"]["request"]
    named = {key: value for key, value in told.items() if key.startswith(("requestor", "approver"))}
    assert {key: value for key, value in named.items() if not key.endswith("_event")} == {
        "requestor_id": "requester",
        "requestor_name": "Rita",
        "requestor_kind": "user",
        "requestor_source": source,
        "approver_id": "approver",
        "approver_name": "Abe",
        "approver_kind": "user",
        "approver_source": source,
        "approver_notes": "looks fine",
    }
    assert bool(named["requestor_event"] and named["approver_event"]) is (source == "audit-log")
    facts = card_facts(rig.receivers["teams"].posts[1])
    assert (facts["Requested by"], facts["Approver"]) == (card_text("Rita (user requester)"), "Abe")


def test_rejected_and_cancelled_requests_are_told(rig: Rig) -> None:
    once(rig)
    rejected = file_request(rig.emulator, app="m1", token="requester")
    cancelled = file_request(rig.emulator, app="m2", token="requester")
    once(rig)
    act(rig.emulator, rejected, "reject")
    response = send(
        rig.emulator, "POST", f"{REQUESTS}/cancelMyRequest", "requester", {"id": cancelled}
    )
    assert response.status_code == 204
    assert once(rig)[0] == 0
    hook = rig.receivers["hook"]
    told = {p.json()["event"]["request"]["id"]: p.json()["type"] for p in hook.posts[2:]}
    assert told == {rejected: "request.rejected", cancelled: "request.cancelled"}
    assert sorted(card_title(p) for p in rig.receivers["teams"].posts[2:]) == [
        "MAA request cancelled",
        "MAA request rejected",
    ]
    assert len(hook.posts) == 4


def test_expiry_is_warned_once_then_told(rig: Rig) -> None:
    once(rig)
    request_id = file_request(rig.emulator)
    once(rig)
    rig.clock.advance(hours=59)  # 13 h left: outside the 12 h window
    assert once(rig) == (0, ["watch: poll 3: 0 new event(s)"])
    rig.clock.advance(hours=2)  # 11 h left
    assert once(rig) == (0, ["watch: poll 4: 1 new event(s)", "watch: delivered 4 message(s)"])
    rig.clock.advance(hours=1)
    assert once(rig) == (0, ["watch: poll 5: 0 new event(s)"])
    rig.clock.advance(hours=10)  # past the expiry
    assert once(rig)[0] == 0
    hook = rig.receivers["hook"]
    assert kinds(hook) == ["request.needs_approval", "request.expiring", "request.expired"]
    assert hook.posts[1].json()["event_key"] == f"request:{request_id}:expiring"
    assert hook.posts[1].json()["event"]["audience"] == APPROVERS
    assert card_title(rig.receivers["teams"].posts[1]) == "MAA request expires soon"
    assert [m.recipients for m in mails(rig)] == [
        ["secops@contoso.example", *APPROVERS],
        ["secops@contoso.example", *APPROVERS],
        ["secops@contoso.example"],  # an app filed it: no requestor address
    ]


# ---- changes ---------------------------------------------------------------------------------


def test_exclusion_added_then_removed_is_told_once_each(rig: Rig) -> None:
    once(rig)
    exclude(rig, ["excluded-app", "auto-app"])
    rig.clock.advance(minutes=1)
    assert once(rig) == (0, ["watch: poll 2: 1 new event(s)", "watch: delivered 4 message(s)"])
    exclude(rig, ["excluded-app"])
    rig.clock.advance(minutes=1)
    assert once(rig)[0] == 0
    hook = rig.receivers["hook"]
    assert kinds(hook) == ["exclusion.added", "exclusion.removed"]
    added = hook.posts[0].json()
    audit_id = added["event"]["exclusion"]["audit_id"]
    assert added["event_key"] == f"exclusion:p-app:auto-app:added:audit-{audit_id}"
    assert {
        k: added["event"]["exclusion"][k] for k in ("policy_id", "app_id", "source", "actor")
    } == {
        "policy_id": "p-app",
        "app_id": "auto-app",
        "source": "audit-log",
        "actor": "rita@contoso.example",
    }
    assert added["severity"] == "high"
    assert card_title(rig.receivers["teams"].posts[0]) == "MAA exclusion added"
    assert card_facts(rig.receivers["teams"].posts[0])["Policy"] == card_text(
        "Apps need approval (p-app)"
    )
    assert [m.message["Subject"] for m in mails(rig)] == [
        "[maa-guard] MAA exclusion added: Apps need approval (p-app)",
        "[maa-guard] MAA exclusion removed: Apps need approval (p-app)",
    ]
    assert [m.recipients for m in mails(rig)] == [["secops@contoso.example"]] * 2


@pytest.mark.parametrize("profile", ["default"])
def test_an_exclusion_seen_in_the_policy_before_the_audit_log_is_told_once(rig: Rig) -> None:
    """The audit event carries the same moment as the poll (the log "lags" past the window's
    end): the policy property shows the change first, the audit event later is matched."""
    # default only: published serves no property to see the change in first
    once(rig)
    change_exclusions(rig.emulator, ["excluded-app", "auto-app"])
    assert once(rig)[1][0] == "watch: poll 2: 1 new event(s)"
    rig.clock.advance(minutes=5)
    assert once(rig) == (0, ["watch: poll 3: 0 new event(s)"])
    [post] = rig.receivers["hook"].posts
    assert post.json()["event_key"] == "exclusion:p-app:auto-app:added:poll-2"
    assert post.json()["event"]["exclusion"]["source"] == "policy-property"
    with WatchStore.open(rig.state) as store:
        observation = store.latest()
    assert observation is not None
    assert [(r.source.value, r.matched) for r in observation.reports] == [("policy-property", True)]


def test_approver_group_membership_change_is_told(rig: Rig) -> None:
    once(rig)
    set_members(rig.emulator, ["approver", "newcomer"])
    assert once(rig)[0] == 0
    [teams] = rig.receivers["teams"].posts
    assert card_title(teams) == "MAA approver group changed"
    assert card_facts(teams) == {
        "Approver group": card_text("MAA approvers (g-approvers)"),
        "Policies": "Apps need approval",
        "Added": card_text("Nia (newcomer)"),
        "Removed": card_text("Ada (approver2)"),
    }
    assert kinds(rig.receivers["hook"]) == ["approvers.changed"]
    assert once(rig) == (0, ["watch: poll 3: 0 new event(s)"])


# ---- delivery guarantees ---------------------------------------------------------------------


def test_a_receiver_down_for_three_attempts_gets_the_message_once_later(rig: Rig) -> None:
    hook = rig.receivers["hook"]
    hook.script = [503, 503, 502]
    once(rig)
    file_request(rig.emulator)
    code, lines = once(rig)
    assert code == 3
    assert lines[2] == (
        "watch: receiver 'hook' is unavailable (HTTP 503); attempt 1, next after "
        "2026-11-01 08:00:30 UTC"
    )
    assert lines[3].startswith("watch: receiver 'hook' has 1 queued and 0 refused message(s)")
    assert once(rig)[0] == 3 and len(hook.posts) == 1  # backing off: not due yet
    for seconds in (30, 60, 120):
        rig.clock.advance(seconds=seconds)
        code, _ = once(rig)
    assert code == 0
    assert hook.answered == [503, 503, 502, 200]
    bodies = [post.json() for post in hook.posts]
    assert [b["delivery_attempt"] for b in bodies] == [1, 2, 3, 4]
    assert len({b["idempotency_key"] for b in bodies}) == 1
    assert len({p.headers["Idempotency-Key"] for p in hook.posts}) == 1
    assert [len(rig.receivers[n].posts) for n in ("teams", "slack")] == [1, 1]
    rig.clock.advance(hours=1)
    assert once(rig) == (0, ["watch: poll 7: 0 new event(s)"])
    assert len(hook.posts) == 4


def test_a_refusing_receiver_is_a_configuration_error_and_keeps_the_message(rig: Rig) -> None:
    hook = rig.receivers["hook"]
    hook.script = [404]
    once(rig)
    file_request(rig.emulator)
    code, lines = once(rig)
    assert code == 2
    assert "watch: receiver 'hook' refused a message: HTTP 404" in lines
    with WatchStore.open(rig.state) as store:
        assert [(row[1], row[2], row[3], row[4]) for row in store.outbox()] == [
            ("hook", "blocked", 1, "HTTP 404"),
            ("mail", "delivered", 1, "3 of 3 recipients accepted"),
            ("slack", "delivered", 1, "HTTP 200"),
            ("teams", "delivered", 1, "HTTP 200"),
        ]
    code, lines = once(rig)  # the next start tries it again (the config may have been fixed)
    assert (code, hook.answered) == (0, [404, 200])


def test_a_restart_between_polls_gives_no_duplicates_and_no_gaps(rig: Rig) -> None:
    once(rig)
    first = file_request(rig.emulator, app="m1")
    with open_watch(rig) as watch:
        watch.poll()  # stored, then the process dies before delivering
    assert [len(r.posts) for r in rig.receivers.values()] == [0, 0, 0]
    assert once(rig) == (0, ["watch: poll 3: 0 new event(s)", "watch: delivered 4 message(s)"])
    second = file_request(rig.emulator, app="m2")
    with open_watch(rig) as watch, WatchStore.open(rig.state) as store:
        watch.read(store.latest(), rig.clock())  # read, then died before storing anything
    assert once(rig) == (0, ["watch: poll 4: 1 new event(s)", "watch: delivered 4 message(s)"])
    assert once(rig) == (0, ["watch: poll 5: 0 new event(s)"])
    with WatchStore.open(rig.state) as store:
        assert store.event_keys() == [
            f"request:{first}:status:needsApproval",
            f"request:{second}:status:needsApproval",
        ]
    assert [p.json()["event_key"] for p in rig.receivers["hook"].posts] == [
        f"request:{first}:status:needsApproval",
        f"request:{second}:status:needsApproval",
    ]
    assert [card_facts(p)["Request"] for p in rig.receivers["teams"].posts] == [first, second]
    assert len(rig.receivers["slack"].posts) == 2
    assert len(mails(rig)) == 2


# ---- e-mail refusals -------------------------------------------------------------------------


def test_a_wrong_smtp_password_is_a_configuration_error(rig: Rig) -> None:
    rig.environ["SMTP_PASSWORD_VAR"] = "wrong-password"
    once(rig)
    file_request(rig.emulator)
    code, lines = once(rig)
    assert code == 2
    assert "watch: receiver 'mail' refused a message: SMTP 535" in lines
    assert mails(rig) == []
    rig.environ["SMTP_PASSWORD_VAR"] = SECRETS["SMTP_PASSWORD_VAR"]  # fixed: the next run sends
    assert once(rig)[0] == 0
    assert len(mails(rig)) == 1


def test_an_smtp_server_without_starttls_gets_nothing(profile: str, tmp_path: Path) -> None:
    """No STARTTLS, no mail: the password is never sent in the clear."""
    with make_rig(tmp_path, profile=profile) as rig:
        inbox = Inbox()
        port = free_port()
        plain = Controller(inbox, hostname="127.0.0.1", port=port)
        plain.start()
        try:
            rig.config_file.write_text(
                config_text(rig)
                + f'\n[[notify]]\nname = "plain"\ntype = "email"\nhost = "127.0.0.1"\n'
                f'port = {port}\nfrom = "a@contoso.example"\nto = ["b@contoso.example"]\n',
                encoding="utf-8",
            )
            once(rig)
            file_request(rig.emulator)
            code, lines = once(rig)
        finally:
            plain.stop()
    assert code == 2
    assert (
        "watch: receiver 'plain' refused a message: the SMTP server does not offer STARTTLS or AUTH"
    ) in lines
    assert inbox.messages == []
