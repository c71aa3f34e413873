"""The emulator is reachable by loopback names only, and its tokens are secrets of one start.

A DNS-rebinding web page reaches a loopback server under a foreign name (its Host header names
the attacker's domain), and any local user can reach the port: neither may read the tenant or
approve in it. Real HTTP against the real server; the CLI runs as a subprocess.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import os
import queue
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from maa_guard.cli import main
from maa_guard.emulator import READER_TOKEN, Emulator, app_token, fixture_from_snapshot, user_token
from maa_guard.emulator.authority import authority_for
from maa_guard.emulator.imds import ManagedIdentityEndpoint
from maa_guard.snapshot.file import load_snapshot

DEMO = Path(__file__).resolve().parent.parent / "maa_guard" / "data" / "demo" / "snapshot.json"
NOW = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
POLICIES = "deviceManagement/operationApprovalPolicies"
REQUESTS = "deviceManagement/operationApprovalRequests"
APPS = "deviceAppManagement/mobileApps"
COMPANY_PORTAL = "1fe65449-87d2-53d5-a461-0124d7ec729d"
TAG_SYNC = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"  # apps ReadWrite, not excluded
MEGAN = "d3ba6514-92d0-4ae4-bf0b-503c75a0026f"  # approver of the app policy
ALEX = "5a7b46b1-de4f-481f-bce2-7f4ee40714eb"  # likewise
RANDOM_TOKEN_LENGTH = 43  # secrets.token_urlsafe(32)
TIMEOUT = 20


@functools.cache
def _demo_fixture() -> dict[str, Any]:
    return fixture_from_snapshot(load_snapshot(DEMO))


def _fixture() -> dict[str, Any]:
    return copy.deepcopy(_demo_fixture())


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(_fixture(), throttle=False, now=lambda: NOW) as running:
        yield running


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _send(
    emulator: Emulator,
    method: str,
    path: str,
    token: str,
    body: dict[str, Any] | None = None,
    host: str | None = None,
    **headers: str,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **headers}
    if host is not None:
        headers["Host"] = host
    content = None if body is None else json.dumps(body).encode()
    if content is not None:
        headers["Content-Type"] = "application/json"
    url = f"{emulator.url}/beta/{path}"
    return httpx.request(method, url, headers=headers, content=content, timeout=TIMEOUT)


def _justified() -> dict[str, str]:
    return {"x-msft-approval-justification": base64.b64encode(b"CHG1").decode()}


def _misdirected(response: httpx.Response, host: str, port: int) -> None:
    assert response.status_code == 421
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (
        "MisdirectedRequest",
        f"This emulator answers only http://127.0.0.1:{port}, http://localhost:{port} and "
        f"http://[::1]:{port}; the request named the host '{host}'.",
    )
    assert set(error["innerError"]) == {"request-id", "client-request-id"}


# ---- 1. the Host header -------------------------------------------------------------------------

FOREIGN_HOSTS = ["evil.example", "evil.example:{port}", "127.0.0.1:{other}", "localhost:{other}"]


@pytest.mark.parametrize("template", FOREIGN_HOSTS)
def test_a_foreign_host_reads_nothing(emulator: Emulator, template: str) -> None:
    host = template.format(port=emulator.port, other=_free_port())
    response = _send(emulator, "GET", POLICIES, emulator.reader_token, host=host)
    _misdirected(response, host, emulator.port)
    assert emulator.requests == []


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LocalHost", "[::1]"])
def test_loopback_names_with_the_own_port_are_served(emulator: Emulator, name: str) -> None:
    response = _send(
        emulator, "GET", POLICIES, emulator.reader_token, host=f"{name}:{emulator.port}"
    )
    assert response.status_code == 200
    assert len(response.json()["value"]) == 7


def test_a_request_without_a_host_is_misdirected(emulator: Emulator) -> None:
    request = (
        f"GET /beta/{POLICIES} HTTP/1.1\r\n"
        f"Authorization: Bearer {emulator.reader_token}\r\nConnection: close\r\n\r\n"
    )
    status_line = _raw(emulator.port, request).split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 421 Misdirected Request"
    assert emulator.requests == []


def test_an_absolute_target_naming_a_foreign_host_is_misdirected(emulator: Emulator) -> None:
    request = (
        f"GET http://evil.example/beta/{POLICIES} HTTP/1.1\r\nHost: 127.0.0.1:{emulator.port}\r\n"
        f"Authorization: Bearer {emulator.reader_token}\r\nConnection: close\r\n\r\n"
    )
    status_line = _raw(emulator.port, request).split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 421 Misdirected Request"
    assert emulator.requests == []


def _raw(port: int, request: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as connection:
        connection.sendall(request.encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:{other}"])
def test_a_foreign_host_files_nothing(emulator: Emulator, host: str) -> None:
    host = host.format(other=_free_port())
    filed_before = copy.deepcopy(emulator.tenant.collections[REQUESTS])
    response = _send(
        emulator,
        "PATCH",
        f"{APPS}/{COMPANY_PORTAL}",
        emulator.app_token(TAG_SYNC),
        {"displayName": "CP"},
        host=host,
        **_justified(),
    )
    _misdirected(response, host, emulator.port)
    assert emulator.tenant.collections[REQUESTS] == filed_before
    assert emulator.audit_events == []
    assert emulator.requests == []


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:{other}"])
def test_a_foreign_host_approves_nothing(emulator: Emulator, host: str) -> None:
    host = host.format(other=_free_port())
    filed = _send(
        emulator,
        "PATCH",
        f"{APPS}/{COMPANY_PORTAL}",
        emulator.app_token(TAG_SYNC),
        {"displayName": "CP"},
        **_justified(),
    )
    code = filed.headers["x-msft-approval-code"]
    events, logged = emulator.audit_events, emulator.requests
    approve = f"{REQUESTS}/{code}/approve"
    refused = _send(
        emulator, "POST", approve, emulator.user_token(ALEX), {"justification": "ok"}, host=host
    )
    _misdirected(refused, host, emulator.port)
    request = emulator.tenant.find(REQUESTS, code)
    assert request is not None and request["status"] == "needsApproval"
    assert (emulator.audit_events, emulator.requests) == (events, logged)
    approved = _send(emulator, "POST", approve, emulator.user_token(ALEX), {"justification": "ok"})
    assert approved.status_code == 200
    assert request["status"] == "approved"


def test_the_authority_answers_loopback_names_only() -> None:
    with Emulator(_fixture(), throttle=False) as running:
        reader_app = next(
            principal.app_id
            for token, principal in running.tenant.tokens.items()
            if token == running.reader_token
        )
        with authority_for(running, {reader_app: "s3cret"}) as authority:
            form = {"grant_type": "client_credentials", "client_id": reader_app}
            form |= {"client_secret": "s3cret", "scope": "https://graph.microsoft.com/.default"}
            token_url = f"{authority.url}/organizations/oauth2/v2.0/token"
            trusted = ssl.create_default_context(cafile=str(authority.ca_file))
            with httpx.Client(verify=trusted, timeout=TIMEOUT) as client:
                refused = client.post(token_url, data=form, headers={"Host": "evil.example"})
                assert refused.status_code == 421
                assert refused.json()["error"] == "misdirected_request"
                assert authority.token_requests == []
                issued = client.post(token_url, data=form)
                assert issued.status_code == 200
                assert issued.json()["access_token"] == running.reader_token


def test_the_managed_identity_endpoint_answers_loopback_names_only() -> None:
    with Emulator(_fixture(), throttle=False) as running:
        reader_app = running.tenant.tokens[running.reader_token].app_id
        with ManagedIdentityEndpoint(running, reader_app) as endpoint:
            url = f"{endpoint.url}/metadata/identity/oauth2/token"
            params = {"api-version": "2018-02-01", "resource": "https://graph.microsoft.com"}
            headers = {"Metadata": "true"}
            refused = httpx.get(
                url, params=params, headers={**headers, "Host": "evil.example"}, timeout=TIMEOUT
            )
            assert refused.status_code == 421
            assert refused.json()["error"] == "misdirected_request"
            assert endpoint.requests == []
            issued = httpx.get(url, params=params, headers=headers, timeout=TIMEOUT)
            assert issued.json()["access_token"] == running.reader_token


# ---- 2. tokens: random per start, fixed only when asked -----------------------------------------


def test_two_starts_have_different_tokens() -> None:
    with Emulator(_fixture()) as first, Emulator(_fixture()) as second:
        pairs = [
            (first.reader_token, second.reader_token),
            (first.app_token(TAG_SYNC), second.app_token(TAG_SYNC)),
            (first.user_token(MEGAN), second.user_token(MEGAN)),
        ]
    for one, other in pairs:
        assert one != other
        assert len(one) == len(other) == RANDOM_TOKEN_LENGTH
    fixed_names = {READER_TOKEN, app_token(TAG_SYNC), user_token(MEGAN)}
    assert fixed_names.isdisjoint(first.tokens.values())
    assert set(first.tokens) == set(_fixture()["tokens"])
    assert len(set(first.tokens.values())) == len(first.tokens)


def test_the_fixed_token_is_refused_without_fixed_tokens(emulator: Emulator) -> None:
    refused = _send(emulator, "GET", POLICIES, READER_TOKEN)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert _send(emulator, "GET", POLICIES, emulator.reader_token).status_code == 200


def test_fixed_tokens_are_the_fixture_names() -> None:
    with Emulator(_fixture(), fixed_tokens=True) as fixed:
        assert fixed.reader_token == READER_TOKEN
        assert fixed.app_token(TAG_SYNC) == app_token(TAG_SYNC)
        assert fixed.user_token(MEGAN) == user_token(MEGAN)
        assert fixed.tokens == {name: name for name in _fixture()["tokens"]}
        assert _send(fixed, "GET", POLICIES, READER_TOKEN).status_code == 200


def test_tokens_are_looked_up_by_name_and_principal(emulator: Emulator) -> None:
    assert emulator.token(READER_TOKEN) == emulator.reader_token
    assert emulator.token(app_token(TAG_SYNC)) == emulator.app_token(TAG_SYNC)
    assert emulator.token(user_token(MEGAN)) == emulator.user_token(MEGAN)
    assert emulator.tenant.tokens[emulator.user_token(MEGAN)].id == MEGAN
    with pytest.raises(LookupError, match="the fixture has no token named 'nobody'"):
        emulator.token("nobody")
    with pytest.raises(LookupError, match="the fixture has no app-only token for app x"):
        emulator.app_token("x")
    with pytest.raises(LookupError, match="the fixture has no delegated token for user x"):
        emulator.user_token("x")


def test_a_fixture_without_the_reader_has_no_reader_token() -> None:
    fixture = {"tokens": {"t": {"kind": "user", "userId": "u1", "scp": "User.Read.All"}}}
    with pytest.raises(LookupError, match="the fixture has no token named 'maa-guard-reader'"):
        _ = Emulator(fixture).reader_token


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com", ""])
def test_a_non_loopback_bind_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match=r"host must be 127\.0\.0\.1, ::1 or localhost"):
        Emulator(_fixture(), host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_binds_are_served(host: str) -> None:
    with Emulator(_fixture(), host=host) as running:
        assert running.url == f"http://{host}:{running.port}"
        assert _send(running, "GET", POLICIES, running.reader_token).status_code == 200


def test_an_ipv6_loopback_bind_is_served() -> None:
    try:
        running = Emulator(_fixture(), host="::1").start()
    except OSError as problem:
        pytest.skip(f"no IPv6 loopback here: {problem}")
    try:
        assert running.url == f"http://[::1]:{running.port}"
        assert _send(running, "GET", POLICIES, running.reader_token).status_code == 200
    finally:
        running.stop()


# ---- 3. maa-guard emulate: stderr lines and --token-file ----------------------------------------


def _emulate(*options: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "maa_guard", "emulate", "--tenant", str(DEMO), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _stderr_lines(process: subprocess.Popen[str], count: int) -> list[str]:
    """The first ``count`` lines of stderr, read on a thread so a silent process fails the test
    after the timeout instead of hanging it."""
    stream, lines = process.stderr, queue.Queue[str]()
    assert stream is not None
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    try:
        return [lines.get(timeout=TIMEOUT).rstrip("\n") for _ in range(count)]
    except queue.Empty:
        pytest.fail(f"emulate printed fewer than {count} lines on stderr")


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    out, _ = process.communicate(timeout=TIMEOUT)
    return out


def _graph_get(url: str, token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{url}/{POLICIES}", headers=headers, timeout=TIMEOUT)


def test_emulate_prints_the_url_and_the_reader_token_on_stderr(tmp_path: Path) -> None:
    process = _emulate(cwd=tmp_path)
    try:
        first, second, third = _stderr_lines(process, 3)
        url = first.removeprefix("Graph emulator: ").removesuffix("; Ctrl-C stops it")
        port = int(url.removeprefix("http://127.0.0.1:").removesuffix("/beta"))
        assert first == f"Graph emulator: http://127.0.0.1:{port}/beta; Ctrl-C stops it"
        token = second.removeprefix("Reader token (app-only, read-only): ")
        assert len(token) == RANDOM_TOKEN_LENGTH and token != READER_TOKEN
        assert third == (
            "The application and user tokens: restart with --token-file FILE "
            "(JSON, readable by you only)"
        )
        assert _graph_get(url, token).status_code == 200
        assert _graph_get(url, READER_TOKEN).status_code == 401
    finally:
        assert _stop(process) == ""


def test_emulate_writes_every_token_to_the_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "tokens.json"
    token_file.write_text("old", encoding="utf-8")
    token_file.chmod(0o644)
    process = _emulate("--token-file", str(token_file), cwd=tmp_path)
    try:
        first, second = _stderr_lines(process, 2)
        url = first.removeprefix("Graph emulator: ").removesuffix("; Ctrl-C stops it")
        assert second == f"Tokens: written to {token_file}"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        written = json.loads(token_file.read_text(encoding="utf-8"))
        assert set(written) == {"graph_endpoint", "reader", "applications", "users"}
        assert f"{written['graph_endpoint']}/beta" == url
        fixture = _fixture()["tokens"]
        app_ids = {p["appId"] for p in fixture.values() if p["kind"] == "application"}
        user_ids = {p["userId"] for p in fixture.values() if p["kind"] == "user"}
        assert set(written["applications"]) == app_ids
        assert set(written["users"]) == user_ids
        assert written["reader"] == written["applications"][_reader_app_id(fixture)]
        assert _graph_get(url, written["reader"]).status_code == 200
        tag_sync = written["applications"][TAG_SYNC]
        assert len(tag_sync) == RANDOM_TOKEN_LENGTH
        assert _graph_get(url, tag_sync).status_code == 403  # apps only: no RBAC read
    finally:
        assert _stop(process) == ""
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tokens.json"]


def _reader_app_id(tokens: dict[str, Any]) -> str:
    return str(tokens[READER_TOKEN]["appId"])


def test_emulate_with_fixed_tokens_says_what_they_are_for(tmp_path: Path) -> None:
    process = _emulate("--fixed-tokens", cwd=tmp_path)
    try:
        first, second, third = _stderr_lines(process, 3)
        url = first.removeprefix("Graph emulator: ").removesuffix("; Ctrl-C stops it")
        assert second == "Reader token (app-only, read-only): maa-guard-reader"
        assert third == (
            "Fixed tokens (for tests and documentation only): the fixture's token names "
            "(from a snapshot: app-<appId>, user-<userId>)"
        )
        assert _graph_get(url, READER_TOKEN).status_code == 200
    finally:
        _stop(process)


def test_fixed_tokens_help_says_tests_and_documentation_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["emulate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--fixed-tokens" in help_text
    assert "for tests and documentation only" in help_text
    assert "--token-file FILE" in help_text


@pytest.mark.parametrize("kind", ["folder", "fifo", "link"])
def test_emulate_refuses_a_token_file_that_is_not_a_regular_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    target = tmp_path / "tokens.json"
    if kind == "folder":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        (tmp_path / "elsewhere.json").write_text("{}", encoding="utf-8")
        target.symlink_to(tmp_path / "elsewhere.json")
    described = {"folder": "a folder", "fifo": "a named pipe", "link": "a symbolic link"}[kind]
    assert main(["emulate", "--tenant", str(DEMO), "--token-file", str(target)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: cannot write {target}: it is {described}, not a regular file",
        "hint: name a regular file, or a new one",
    ]
    if kind == "link":
        assert (tmp_path / "elsewhere.json").read_text(encoding="utf-8") == "{}"
