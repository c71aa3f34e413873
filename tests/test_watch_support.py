"""Shared parts of the watch tests: the emulated tenant and its MAA round trips, a settable
clock, and a Watch wired exactly as the CLI wires it, the clock apart (receivers:
test_watch_receivers.py)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from test_watch_receivers import SMTP_PASSWORD, Receiver, Smtp

from maa_guard.config import Settings
from maa_guard.emulator import Emulator, graphroles
from maa_guard.scan.live import LiveOptions
from maa_guard.watch.config import WatchConfig, load_watch_config
from maa_guard.watch.delivery import Deliverer
from maa_guard.watch.events import DetectOptions
from maa_guard.watch.notifiers import CHANNELS
from maa_guard.watch.runner import Watch
from maa_guard.watch.sources import live_reader
from maa_guard.watch.state import WatchStore

START = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.timezone.utc)
APPS = "/beta/deviceAppManagement/mobileApps"
REQUESTS = "/beta/deviceManagement/operationApprovalRequests"
POLICIES = "/beta/deviceManagement/operationApprovalPolicies"
WRITE_ROLES = [
    "DeviceManagementApps.ReadWrite.All",
    "DeviceManagementRBAC.ReadWrite.All",
    "DeviceManagementConfiguration.ReadWrite.All",
]
HOSTILE = (
    "<b>bold</b> **md** _it_ [click](http://evil.example) <!channel> <@U123> "
    "<http://evil.example|click here> &amp; \x1b[31mred\x1b[0m\r\nBcc: victim@evil.example\r\n"
    "- item\n1. first # h1 `code` \u202egnp.exe"
)
HOSTILE_APP_NAME = "Deploy <i>bot</i> *ops* <!here> \x1b[2J"
SECRETS = {
    "TEAMS_URL_VAR": "",  # filled with each receiver's URL: the URL is the Teams secret
    "SLACK_URL_VAR": "",
    "HOOK_URL_VAR": "",
    "HOOK_KEY_VAR": "hmac-key-Vx8!never-printed",
    "SMTP_PASSWORD_VAR": SMTP_PASSWORD,
}


# ---- clock -----------------------------------------------------------------------------------


class Clock:
    def __init__(self, moment: dt.datetime = START) -> None:
        self.moment = moment

    def __call__(self) -> dt.datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += dt.timedelta(**delta)


# ---- tenant ----------------------------------------------------------------------------------


def fixture() -> dict[str, Any]:
    user = {"@odata.type": "#microsoft.graph.user"}
    return {
        "tenant": {"id": "t-watch"},
        "tokens": {
            graphroles.READER_TOKEN: {
                "kind": "application",
                "appId": graphroles.READER_APP_ID,
                "roles": list(graphroles.READER_ROLES),
            },
            "automation": {"kind": "application", "appId": "auto-app", "roles": WRITE_ROLES},
            "excluded": {"kind": "application", "appId": "excluded-app", "roles": WRITE_ROLES},
            "requester": _user("requester"),
            "approver": _user("approver"),
        },
        "collections": {
            "deviceManagement/operationApprovalPolicies": [
                {
                    "id": "p-app",
                    "displayName": "Apps need approval",
                    "policyType": "app",
                    "approverGroupIds": ["g-approvers"],
                    "excludedApplicationIds": ["excluded-app"],
                },
            ],
            "deviceManagement/operationApprovalRequests": [],
            "deviceManagement/auditEvents": [],
            "deviceAppManagement/mobileApps": [
                {"id": "m1", "displayName": "Company Portal"},
                {"id": "m2", "displayName": "Edge"},
            ],
            "groups": [
                {
                    "id": "g-approvers",
                    "displayName": "MAA approvers",
                    "securityEnabled": True,
                    "mailEnabled": False,
                },
            ],
            "users": [
                {
                    "id": "requester",
                    "displayName": "Rita",
                    "userPrincipalName": "rita@contoso.example",
                    "mail": "rita@contoso.example",
                },
                {
                    "id": "approver",
                    "displayName": "Abe",
                    "userPrincipalName": "abe@contoso.example",
                    "mail": "abe.mail@contoso.example",
                },
                {
                    "id": "approver2",
                    "displayName": "Ada",
                    "userPrincipalName": "ada@contoso.example",
                },
                {
                    "id": "newcomer",
                    "displayName": "Nia",
                    "userPrincipalName": "nia@contoso.example",
                },
            ],
            "servicePrincipals": [
                {"id": "sp-auto", "appId": "auto-app", "displayName": HOSTILE_APP_NAME},
                {"id": "sp-excluded", "appId": "excluded-app", "displayName": "Excluded"},
            ],
        },
        "relationships": {
            "groups/{id}/members": {
                "g-approvers": [{**user, "id": "approver"}, {**user, "id": "approver2"}]
            },
            "groups/{id}/transitiveMembers": {
                "g-approvers": [{**user, "id": "approver"}, {**user, "id": "approver2"}]
            },
            "groups/{id}/owners": {"g-approvers": []},
        },
    }


def _user(user_id: str) -> dict[str, Any]:
    return {"kind": "user", "userId": user_id, "appId": "portal", "scp": " ".join(WRITE_ROLES)}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def send(
    emulator: Emulator, method: str, path: str, token: str, body: Any = None, **headers: str
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **headers}
    content = None if body is None else json.dumps(body).encode()
    if content is not None:
        headers["Content-Type"] = "application/json"
    return httpx.request(method, f"{emulator.url}{path}", headers=headers, content=content)


def file_request(
    emulator: Emulator, justification: str = "CHG-1 roll out", app: str = "m1",
    token: str = "automation",
) -> str:  # fmt: skip
    """A write by the automation app that MAA intercepts; returns the request id."""
    response = send(
        emulator, "PATCH", f"{APPS}/{app}", token, {"displayName": "new name"},
        **{"x-msft-approval-justification": b64(justification)},
    )  # fmt: skip
    assert response.status_code == 412, response.text
    return response.headers["x-msft-approval-code"]


def act(emulator: Emulator, request_id: str, verb: str, token: str = "approver") -> None:
    body = {"justification": "looks fine"}
    response = send(emulator, "POST", f"{REQUESTS}/{request_id}/{verb}", token, body)
    assert response.status_code in (200, 204), response.text


def change_exclusions(emulator: Emulator, app_ids: list[str]) -> None:
    """The whole MAA round trip of an exclusion change: file, approve, resubmit."""
    body = {"excludedApplicationIds": app_ids}
    first = send(
        emulator, "PATCH", f"{POLICIES}/p-app", "requester", body,
        **{"x-msft-approval-justification": b64("exclusion change")},
    )  # fmt: skip
    code = first.headers["x-msft-approval-code"]
    act(emulator, code, "approve")
    done = send(
        emulator, "PATCH", f"{POLICIES}/p-app", "requester", body,
        **{"x-msft-approval-code": code},
    )  # fmt: skip
    assert done.status_code == 204, done.text


def set_members(emulator: Emulator, member_ids: list[str]) -> None:
    """An Entra-side membership change (not an MAA-protected write)."""
    members = [{"@odata.type": "#microsoft.graph.user", "id": m} for m in member_ids]
    with emulator.tenant.lock:
        emulator.tenant.relationships["groups/{id}/members"]["g-approvers"] = members
        emulator.tenant.touch()


# ---- the watch as the CLI wires it -----------------------------------------------------------


@dataclass
class Rig:
    emulator: Emulator
    clock: Clock
    receivers: dict[str, Receiver]
    environ: dict[str, str]
    state: Path
    config_file: Path
    smtp: Smtp | None = None


def config_text(rig: Rig, extra: str = "") -> str:
    text = """
[watch]
warn_before = "12h"

[[notify]]
name = "teams"
type = "teams"
url_env = "TEAMS_URL_VAR"

[[notify]]
name = "slack"
type = "slack"
url_env = "SLACK_URL_VAR"

[[notify]]
name = "hook"
type = "webhook"
url_env = "HOOK_URL_VAR"
secret_env = "HOOK_KEY_VAR"
"""
    if rig.smtp is not None:
        text += f"""
[[notify]]
name = "mail"
type = "email"
host = "127.0.0.1"
port = {rig.smtp.port}
username = "maa-guard"
password_env = "SMTP_PASSWORD_VAR"
from = "maa-guard@contoso.example"
to = ["secops@contoso.example"]
to_audience = true
ca_file = "{rig.smtp.ca_file.as_posix()}"
"""
    return text + extra


def environ_for(receivers: dict[str, Receiver]) -> dict[str, str]:
    return {
        **SECRETS,
        "TEAMS_URL_VAR": receivers["teams"].url,
        "SLACK_URL_VAR": receivers["slack"].url,
        "HOOK_URL_VAR": receivers["hook"].url,
        "MAA_GUARD_ACCESS_TOKEN": graphroles.READER_TOKEN,
    }


def watch_config(rig: Rig) -> WatchConfig:
    from maa_guard.storage.tomlfile import read_toml

    return load_watch_config(read_toml(rig.config_file), str(rig.config_file))


@contextmanager
def open_watch(
    rig: Rig, notify_existing: bool = False, warn_before: dt.timedelta | None = None
) -> Iterator[Watch]:
    """A Watch with the CLI's parts (live reader over the emulator, real notifiers, SQLite
    state) and the test clock; a new one per "process"."""
    config = watch_config(rig)
    live = LiveOptions(auth="token", graph_endpoint=rig.emulator.url, quiet=True)
    reader = live_reader(live, Settings(), rig.environ, None)
    notifiers = {
        r.name: CHANNELS[r.channel].build(r.settings, rig.environ) for r in config.receivers
    }
    with WatchStore.open(rig.state) as store:
        deliverer = Deliverer(store, notifiers, config.portal_link, clock=rig.clock)
        options = DetectOptions(
            warn_before=warn_before or config.warn_before, notify_existing=notify_existing
        )
        yield Watch(store, reader, config.receivers, deliverer, options, clock=rig.clock)


@contextmanager
def make_rig(tmp_path: Path, smtp: Smtp | None = None, profile: str = "default") -> Iterator[Rig]:
    clock = Clock()
    receivers = {name: Receiver().start() for name in ("teams", "slack", "hook")}
    with Emulator(
        fixture(), throttle=False, now=clock, fixed_tokens=True, profile=profile
    ) as emulator:
        rig = Rig(
            emulator=emulator,
            clock=clock,
            receivers=receivers,
            environ=environ_for(receivers),
            state=tmp_path / "state" / "state.db",
            config_file=tmp_path / "maa-guard.toml",
            smtp=smtp,
        )
        rig.config_file.write_text(config_text(rig), encoding="utf-8")
        try:
            yield rig
        finally:
            for receiver in receivers.values():
                receiver.stop()


def once(rig: Rig, notify_existing: bool = False) -> tuple[int, list[str]]:
    """One `watch --once` run: a fresh Watch (as a new process would have), the rig's clock."""
    from maa_guard.watch.runner import run_once

    lines: list[str] = []
    with open_watch(rig, notify_existing=notify_existing) as watch:
        code = run_once(watch, lines.append, lines.append)
    return code, lines


def kinds(receiver: Receiver) -> list[str]:
    """The event type of each webhook post, in order (webhook receivers only)."""
    return [post.json()["type"] for post in receiver.posts]
