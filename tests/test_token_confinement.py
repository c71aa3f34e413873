"""The access token goes only to the configured Graph endpoint's origin (scheme, host, port).

A hostile server on loopback plays Graph: it answers with an ``@odata.nextLink`` (at the top
level, or in a ``$batch`` item's body) or a redirect to a second loopback server, which records
every request it gets. Whatever reads the pages (the collector, the approval client's request
listing, the watch) refuses the link: the second server gets nothing, and the source is
``failed`` with the foreign origin (scheme://host:port, no path) in the reason. Loopback writes
and loopback webhooks never go through ``HTTP(S)_PROXY``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_approval_support import APP_URL, Clock, running

from maa_guard.approval import (
    ApprovalClient,
    Pending,
    Phase,
    RequestStatus,
    StateStore,
    TrackedChange,
    WriteRequest,
)
from maa_guard.approval.justification import new_reference
from maa_guard.approval.state import StoredChange
from maa_guard.approval.write import body_digest
from maa_guard.cli import main
from maa_guard.collect import GraphClient, GraphError, StaticTokenCredential, resolve_endpoint
from maa_guard.collect.budget import unlimited
from maa_guard.collect.endpoints import origin_of
from maa_guard.config import Settings
from maa_guard.model import Severity
from maa_guard.scan.live import LiveOptions
from maa_guard.snapshot.file import load_snapshot
from maa_guard.watch.message import build_message
from maa_guard.watch.model import Event, EventType, FindingState
from maa_guard.watch.notifiers.base import Outcome
from maa_guard.watch.notifiers.webhook import WebhookSettings, build_webhook
from maa_guard.watch.sources import live_reader

TOKEN = "eyJ0eXAi.confined-bearer-7c1d.sig"
CODE = "aabb1234-5678-9012-abcd-ef0123456789"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")
NOT_FOLLOWED_HINT = (
    "a Graph answer pointed outside the configured endpoint (--cloud, --graph-endpoint); "
    "the token is sent only to its origin"
)

Answer = tuple[int, dict[str, str], bytes]
Respond = Callable[[str, str, bytes], Answer]


@dataclass(frozen=True)
class Seen:
    method: str
    target: str
    authorization: str | None


@dataclass
class Server:
    """A loopback HTTP server that records every request and answers with ``respond``."""

    respond: Respond
    seen: list[Seen] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Server:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.seen.append(Seen(self.command, self.path, self.headers.get("Authorization")))
                status, headers, content = owner.respond(self.command, self.path, body)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(content))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@contextmanager
def serving(respond: Respond) -> Iterator[Server]:
    server = Server(respond).start()
    try:
        yield server
    finally:
        server.stop()


def json_answer(value: Any, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


def empty_pages(method: str, path: str, body: bytes) -> Answer:
    """What the other origin serves: an empty last page, which must never be read."""
    return json_answer({"value": []})


def linking_to(target: str) -> Respond:
    """Graph that sends every collection (and every ``$batch`` item) on to ``target``."""

    def respond(method: str, path: str, body: bytes) -> Answer:
        page = {"value": [], "@odata.nextLink": target}
        if method == "POST" and path.endswith("/$batch"):
            requests = json.loads(body)["requests"]
            responses = [{"id": r["id"], "status": 200, "body": page} for r in requests]
            return json_answer({"responses": responses})
        return json_answer(page)

    return respond


def redirecting_to(target: str) -> Respond:
    def respond(method: str, path: str, body: bytes) -> Answer:
        return 307, {"Location": target}, b""

    return respond


@pytest.fixture
def other() -> Iterator[Server]:
    with serving(empty_pages) as server:
        yield server


def stolen(other: Server) -> str:
    return f"{other.url}/beta/deviceManagement/operationApprovalRequests?$skiptoken=steal"


def refused(path: str, other: Server, graph: Server) -> str:
    return (
        f"GET {path}: @odata.nextLink points to {other.url}, not to the Graph endpoint "
        f"{graph.url}; not followed"
    )


def client_for(url: str) -> GraphClient:
    endpoint = resolve_endpoint("global", url)
    return GraphClient(StaticTokenCredential(TOKEN), endpoint, budgets=unlimited(), timeout=30)


async def read_all(url: str, path: str) -> list[dict[str, Any]]:
    async with client_for(url) as client:
        return await client.get_all(path)


async def read_batch(url: str, paths: list[str]) -> list[Any]:
    async with client_for(url) as client:
        return await client.batch_get_all(paths)


def live_args(url: str, *extra: str) -> list[str]:
    return ["--auth", "token", "--graph-endpoint", url, "--days", "30", "--quiet", *extra]


# ---- origins ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://graph.microsoft.com", "https://graph.microsoft.com:443"),
        (
            "https://GRAPH.microsoft.com:443/beta/x?$skiptoken=secret",
            "https://graph.microsoft.com:443",
        ),
        ("HTTP://127.0.0.1/beta", "http://127.0.0.1:80"),
        ("http://127.0.0.1:8080@127.0.0.1:9003/beta", "http://127.0.0.1:9003"),
        ("http://[::1]:9003/beta", "http://[::1]:9003"),
        ("/beta/groups", ""),
    ],
)
def test_origin_is_scheme_host_and_port_only(url: str, origin: str) -> None:
    assert origin_of(url) == origin


def test_the_endpoint_accepts_only_its_own_origin() -> None:
    endpoint = resolve_endpoint("global")
    assert endpoint.same_origin("https://graph.microsoft.com:443/beta/groups?$skiptoken=x")
    assert endpoint.same_origin("https://Graph.Microsoft.com/v1.0/groups")
    assert not endpoint.same_origin("http://graph.microsoft.com/beta/groups")
    assert not endpoint.same_origin("https://graph.microsoft.com:8443/beta/groups")
    assert not endpoint.same_origin("https://graph.microsoft.com.evil.example/beta/groups")
    assert not endpoint.same_origin("https://graph.microsoft.com@evil.example/beta/groups")
    assert not endpoint.same_origin("/beta/groups")


# ---- the collector ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["plain", "userinfo"])
def test_get_all_refuses_a_next_link_to_another_origin(other: Server, form: str) -> None:
    path = "deviceManagement/operationApprovalPolicies"
    link = stolen(other)
    with serving(linking_to(link)) as graph:
        if form == "userinfo":  # looks like the endpoint, connects to the other server
            link = link.replace("http://", f"http://{graph.url.removeprefix('http://')}@")
            graph.respond = linking_to(link)
        with pytest.raises(GraphError) as caught:
            asyncio.run(read_all(graph.url, path))
    assert (caught.value.message, caught.value.hint) == (
        refused(path, other, graph),
        NOT_FOLLOWED_HINT,
    )
    assert "steal" not in caught.value.message
    assert [s.method for s in graph.seen] == ["GET"]
    assert other.seen == []


def test_batch_paging_refuses_a_next_link_to_another_origin(other: Server) -> None:
    paths = ["groups/g1/members", "groups/g2/members"]
    with serving(linking_to(stolen(other))) as graph:
        results = asyncio.run(read_batch(graph.url, paths))
    assert [type(r) for r in results] == [GraphError, GraphError]
    assert [r.message for r in results] == [refused(p, other, graph) for p in paths]
    assert [(s.method, s.target) for s in graph.seen] == [("POST", "/beta/$batch")]
    assert other.seen == []


def test_a_redirect_is_an_error_naming_the_location_origin(other: Server) -> None:
    path = "deviceManagement/operationApprovalPolicies"
    with serving(redirecting_to(stolen(other))) as graph, pytest.raises(GraphError) as caught:
        asyncio.run(read_all(graph.url, path))
    assert (caught.value.message, caught.value.status) == (
        f"GET {path}: HTTP 307 redirect to {other.url}; Graph calls do not follow redirects",
        307,
    )
    assert len(graph.seen) == 1
    assert other.seen == []


def test_a_redirect_within_the_endpoint_is_not_followed_either() -> None:
    path = "deviceManagement/operationApprovalPolicies"
    with serving(empty_pages) as graph:
        graph.respond = redirecting_to(f"{graph.url}/beta/elsewhere")
        with pytest.raises(GraphError) as caught:
            asyncio.run(read_all(graph.url, path))
    assert caught.value.message == (
        f"GET {path}: HTTP 307 redirect to {graph.url}; Graph calls do not follow redirects"
    )
    assert len(graph.seen) == 1


@pytest.mark.parametrize("hostile", ["next-link", "redirect"])
def test_snapshot_from_a_hostile_endpoint_fails_and_exits_3(
    other: Server,
    hostile: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", TOKEN)
    out = tmp_path / "tenant.json"
    respond = linking_to(stolen(other)) if hostile == "next-link" else redirecting_to(stolen(other))
    with serving(respond) as graph:
        code = main(["snapshot", "-o", str(out), *live_args(graph.url)])
    assert code == 3
    assert other.seen == []
    assert graph.seen and all(s.authorization == f"Bearer {TOKEN}" for s in graph.seen)
    sources = load_snapshot(out).sources
    reasons = {name: sources[name].reason for name in ("access_policies", "approval_requests")}
    path = "deviceManagement/operationApprovalRequests"
    if hostile == "next-link":
        assert reasons["approval_requests"] == refused(path, other, graph)
    else:
        assert reasons["approval_requests"] == (
            f"GET {path}: HTTP 307 redirect to {other.url}; Graph calls do not follow redirects"
        )
    assert {name: sources[name].state.value for name in reasons} == dict.fromkeys(reasons, "failed")
    assert all(other.url in reason for reason in reasons.values())
    assert "steal" not in capsys.readouterr().err


# ---- the approval client and the watch ---------------------------------------------------------


def test_requests_list_refuses_a_next_link_and_exits_3(
    other: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", TOKEN)
    state = tmp_path / "state.db"
    with serving(linking_to(stolen(other))) as graph:
        track_pending_change(state, graph.url)
        connection = ["--auth", "token", "--graph-endpoint", graph.url]
        code = main(["requests", "list", "--state", str(state), "--format", "json", *connection])
    report = json.loads(capsys.readouterr().out)
    path = "/deviceManagement/operationApprovalRequests"
    assert code == 3
    assert report["warnings"] == [
        f"the service's request list could not be read: {refused(path, other, graph)}",
        "the list is from local state, not refreshed",
    ]
    assert other.seen == []


def track_pending_change(path: Path, endpoint: str) -> None:
    """A change waiting for approval: 'requests list' reads the request list to settle it."""
    moment = datetime(2026, 11, 1, tzinfo=timezone.utc)
    tracked = TrackedChange(
        new_reference(), moment, moment, "PATCH", "/beta" + APP_URL, "", None, Phase.PENDING,
        CODE, RequestStatus.NEEDS_APPROVAL, endpoint,
    )  # fmt: skip
    with StateStore(path) as state:
        state.add(StoredChange(tracked, b"{}", body_digest(b"{}"), "CHG-1", "", ""))


def test_the_watch_reading_refuses_a_next_link(other: Server) -> None:
    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    with serving(linking_to(stolen(other))) as graph:
        live = LiveOptions("token", "global", graph.url, timeout=30)
        reader = live_reader(live, Settings(), {"MAA_GUARD_ACCESS_TOKEN": TOKEN}, None)
        reading = reader(None, now)
    path = "deviceManagement/operationApprovalRequests"
    assert reading.requests is None and reading.policies is None
    assert f"approval_requests is failed ({refused(path, other, graph)})" in reading.problems
    assert other.seen == []


# ---- proxies -----------------------------------------------------------------------------------


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """Every proxy variable points at a recording server that answers 502."""
    with serving(lambda method, path, body: (502, {}, b"")) as server:
        for variable in PROXY_VARIABLES:
            monkeypatch.setenv(variable, server.url)
        for variable in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(variable, raising=False)
        yield server


def test_a_loopback_write_never_uses_the_proxy(proxy: Server, tmp_path: Path) -> None:
    write = WriteRequest("PATCH", APP_URL, {"displayName": "CP 2"})
    with running("403", Clock()) as emulator:
        endpoint = resolve_endpoint("global", emulator.url)
        with (
            StateStore(tmp_path / "state.db") as state,
            ApprovalClient(StaticTokenCredential("automation"), endpoint, state) as client,
        ):
            outcome = client.submit(write, "CHG-1 rename the portal")
        writes = [(r.method, r.path) for r in emulator.requests if r.method != "GET"]
    assert isinstance(outcome, Pending)
    assert writes == [("PATCH", "/beta" + APP_URL)]
    assert proxy.seen == []


def test_a_loopback_webhook_never_uses_the_proxy(proxy: Server) -> None:
    with serving(empty_pages) as hook:
        environ = {"HOOK_URL": f"{hook.url}/hook", "HOOK_SECRET": "s3cr3t"}
        notifier = build_webhook(WebhookSettings("HOOK_URL", "HOOK_SECRET", 5.0), environ)
        sent = notifier.send(build_message(finding_event(), "hook", ""))
    assert sent.outcome is Outcome.DELIVERED
    assert [(s.method, s.target) for s in hook.seen] == [("POST", "/hook")]
    assert proxy.seen == []


def finding_event() -> Event:
    finding = FindingState("fp1", "MAA-001", "No access policy", Severity.HIGH)
    return Event(
        "finding:fp1",
        EventType.FINDING_NEW,
        Severity.HIGH,
        datetime(2026, 11, 1, tzinfo=timezone.utc),
        finding=finding,
    )
