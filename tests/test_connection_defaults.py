"""Connection defaults: ``MAA_GUARD_AUTH``, ``MAA_GUARD_GRAPH_ENDPOINT``, ``MAA_GUARD_CLOUD``,
``MAA_GUARD_TENANT_ID`` and the config file's ``[connection]`` table, for every live command and
for ``maa_guard.approval.connect()``; the "next" hints that carry the connection in use; and
``requests list`` saying what it did not refresh.

The real CLI and client stack over loopback HTTP against the emulator; which emulator was
contacted shows which connection won.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from test_approval_support import APP_URL, Clock, running

from maa_guard import approval
from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.errors import ConfigError
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
DEMO_CONFIG = demo_path("maa-guard.toml")
CONNECTION_VARIABLES = (
    "MAA_GUARD_AUTH",
    "MAA_GUARD_GRAPH_ENDPOINT",
    "MAA_GUARD_CLOUD",
    "MAA_GUARD_TENANT_ID",
    "MAA_GUARD_STATE",
    "AZURE_TENANT_ID",
)
TENANT = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
OTHER_TENANT = "contoso.onmicrosoft.com"
AUTH_CHOICES = (
    "env, certificate, managed-identity, workload-identity, azure-cli, device-code, token"
)


def demo_now() -> datetime:
    return min(r.request_date_time for r in DEMO.approval_requests)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in CONNECTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.READER_TOKEN)


def demo_tenant(**changes: Any) -> Emulator:
    fixture = fixture_from_snapshot(DEMO)
    fixture["collections"].update(changes)
    return Emulator(fixture, now=demo_now, fixed_tokens=True)


@pytest.fixture
def tenant() -> Iterator[Emulator]:
    with demo_tenant() as running_tenant:
        yield running_tenant


def write_config(body: str, name: str = "maa-guard.toml") -> Path:
    path = Path.cwd() / name
    path.write_text(body, encoding="utf-8")
    return path


def connection_table(**keys: str) -> str:
    return "[connection]\n" + "".join(f'{key} = "{value}"\n' for key, value in keys.items())


def set_environment(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def contacted(*emulators: Emulator) -> list[bool]:
    return [bool(emulator.requests) for emulator in emulators]


# ---- a configured connection makes a command live -------------------------------------------


def scan_report(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["scan", "--format", "json", "--days", "365", "--quiet", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_the_environment_makes_scan_collect_live(
    tenant: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_environment(monkeypatch, MAA_GUARD_AUTH="token", MAA_GUARD_GRAPH_ENDPOINT=tenant.url)
    code, report = scan_report(capsys, "--config", str(DEMO_CONFIG))
    assert code == 1  # the demo tenant has failing findings
    assert report["tenant"]["id"] == DEMO.tenant.id
    assert {name: s["state"] for name, s in report["sources"].items()} == dict.fromkeys(
        DEMO.sources, "complete"
    )
    assert contacted(tenant) == [True]


def test_the_connection_table_makes_scan_collect_live(
    tenant: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    demo_settings = DEMO_CONFIG.read_text(encoding="utf-8")
    write_config(demo_settings + connection_table(auth="token", graph_endpoint=tenant.url))
    code, report = scan_report(capsys)
    assert code == 1
    assert report["tenant"]["id"] == DEMO.tenant.id
    assert contacted(tenant) == [True]


def test_without_a_connection_scan_still_asks_for_an_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["scan", "--format", "json"]) == 2
    assert capsys.readouterr().err == (
        "error: no input: give --snapshot FILE, --demo, or --auth / --graph-endpoint to collect\n"
        "hint: try 'maa-guard scan --demo'\n"
    )


@pytest.mark.parametrize("source", ["environment", "file"])
def test_snapshot_and_demo_win_over_a_configured_connection(
    source: str,
    tenant: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if source == "environment":
        set_environment(monkeypatch, MAA_GUARD_AUTH="token", MAA_GUARD_GRAPH_ENDPOINT=tenant.url)
    else:
        write_config(connection_table(auth="token", graph_endpoint=tenant.url))
    code, report = scan_report(capsys, "--demo")
    assert (code, report["tenant"]["id"]) == (1, DEMO.tenant.id)
    code, report = scan_report(capsys, "--snapshot", str(demo_path("snapshot.json")))
    assert (code, report["tenant"]["id"]) == (1, DEMO.tenant.id)
    assert contacted(tenant) == [False]


# ---- precedence: flags > environment > [connection] > defaults -------------------------------


@pytest.fixture
def three_tenants() -> Iterator[tuple[Emulator, Emulator, Emulator]]:
    with demo_tenant() as first, demo_tenant() as second, demo_tenant() as third:
        yield first, second, third


@pytest.mark.parametrize(
    ("layers", "winner"),
    [
        (("file",), 0),
        (("file", "environment"), 1),
        (("file", "environment", "flag"), 2),
        (("environment", "flag"), 2),
    ],
)
def test_flags_win_over_the_environment_over_the_file(
    layers: tuple[str, ...],
    winner: int,
    three_tenants: tuple[Emulator, Emulator, Emulator],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    file_tenant, environment_tenant, flag_tenant = three_tenants
    flags: list[str] = []
    if "file" in layers:
        # device-code would need a person: only a later layer's "token" lets the snapshot run
        write_config(connection_table(auth="device-code", graph_endpoint=file_tenant.url))
    if "environment" in layers:
        set_environment(
            monkeypatch,
            MAA_GUARD_AUTH="token" if "flag" not in layers else "env",
            MAA_GUARD_GRAPH_ENDPOINT=environment_tenant.url,
        )
    if "flag" in layers:
        flags = ["--auth", "token", "--graph-endpoint", flag_tenant.url]
    if layers == ("file",):
        monkeypatch.setenv("MAA_GUARD_AUTH", "token")  # the endpoint alone comes from the file
    out = Path.cwd() / "tenant.json"
    assert main(["snapshot", "-o", str(out), "--quiet", *flags]) == 0
    assert capsys.readouterr().err == f"wrote {out}\n"
    assert contacted(*three_tenants) == [index == winner for index in range(3)]


@pytest.mark.parametrize(
    ("flag", "expected"), [((), "usgov"), (("--cloud", "usgov-dod"), "usgov-dod")]
)
def test_the_cloud_follows_the_same_order(
    flag: tuple[str, ...],
    expected: str,
    approvals: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The hint shows the cloud in use: the flag, else MAA_GUARD_CLOUD, else the file's."""
    write_config(connection_table(cloud="china"))
    monkeypatch.setenv("MAA_GUARD_CLOUD", "usgov")
    state = tmp_path / "state.db"
    connection = ["--auth", "token", "--graph-endpoint", approvals.url, *flag]
    assert main([*submit_command(state), *connection]) == 0
    filed = json.loads(capsys.readouterr().out)
    assert filed["next"][0] == (
        f"maa-guard requests wait {filed['code']} --auth token --graph-endpoint "
        f"{approvals.url} --cloud {expected} --state {state}"
    )


# ---- bad values: exit 2, one line and a hint -------------------------------------------------


def config_origin() -> str:
    return str(Path.cwd() / "maa-guard.toml")


@pytest.mark.parametrize(
    ("file_keys", "variables", "message"),
    [
        (
            {},
            {"MAA_GUARD_AUTH": "password"},
            "error: MAA_GUARD_AUTH: unknown sign-in method 'password'\n"
            f"hint: choose one of: {AUTH_CHOICES}\n",
        ),
        (
            {"cloud": "mars"},
            {},
            "error: {origin}: connection.cloud: unknown cloud 'mars'\n"
            "hint: choose one of: global, usgov, usgov-dod, china\n",
        ),
        (
            {},
            {"MAA_GUARD_GRAPH_ENDPOINT": "ftp://127.0.0.1:8080"},
            "error: MAA_GUARD_GRAPH_ENDPOINT: 'ftp://127.0.0.1:8080' is not an http(s) URL\n"
            "hint: give the Graph root, e.g. http://127.0.0.1:8080 (without /beta)\n",
        ),
        (
            {"graph_endpoint": "http://127.0.0.1:99999"},
            {},
            "error: {origin}: connection.graph_endpoint: 'http://127.0.0.1:99999' is not an "
            "http(s) URL\nhint: give the Graph root, e.g. http://127.0.0.1:8080 (without /beta)\n",
        ),
        (
            {"tenant_id": "not a tenant"},
            {},
            "error: {origin}: connection.tenant_id: 'not a tenant' is neither a tenant ID (a "
            "GUID) nor a domain\n"
            "hint: e.g. 00000000-0000-0000-0000-000000000000 or contoso.onmicrosoft.com\n",
        ),
        (
            {},
            {"MAA_GUARD_TENANT_ID": "4c8e2f1a-7b3d"},
            "error: MAA_GUARD_TENANT_ID: '4c8e2f1a-7b3d' is neither a tenant ID (a GUID) nor a "
            "domain\nhint: e.g. 00000000-0000-0000-0000-000000000000 or contoso.onmicrosoft.com\n",
        ),
        (
            {"endpoint": "http://127.0.0.1:8080"},
            {},
            "error: {origin}: unknown key connection.endpoint\n"
            "hint: allowed here: auth, cloud, graph_endpoint, tenant_id\n",
        ),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["scan", "--format", "json"],
        ["requests", "list", "--format", "json"],
        ["snapshot", "-o", "x"],
    ],
    ids=["scan", "requests-list", "snapshot"],
)
def test_bad_connection_values_exit_2(
    file_keys: dict[str, str],
    variables: dict[str, str],
    message: str,
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if file_keys:
        write_config(connection_table(**file_keys))
    set_environment(monkeypatch, **variables)
    assert main(command) == 2
    assert capsys.readouterr() == ("", message.format(origin=config_origin()))
    assert not (Path.cwd() / "x").exists()


def test_a_value_of_the_wrong_type_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    write_config("[connection]\nauth = 5\n")
    assert main(["requests", "list"]) == 2
    assert capsys.readouterr().err == (
        f"error: {config_origin()}: connection.auth: expected a non-empty string, got 5\n"
    )


def test_an_unknown_key_is_refused_even_when_no_connection_is_used(
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config(connection_table(endpoint="http://127.0.0.1:8080"))
    assert main(["scan", "--demo", "--format", "json", "--config", "maa-guard.toml"]) == 2
    assert capsys.readouterr().err == (
        "error: maa-guard.toml: unknown key connection.endpoint\n"
        "hint: allowed here: auth, cloud, graph_endpoint, tenant_id\n"
    )


# ---- tenant_id: AZURE_TENANT_ID when that is unset -------------------------------------------


@pytest.mark.parametrize(
    ("file_tenant", "variables", "expected"),
    [
        (TENANT, {}, TENANT),
        (TENANT, {"MAA_GUARD_TENANT_ID": OTHER_TENANT}, OTHER_TENANT),
        (TENANT, {"MAA_GUARD_TENANT_ID": OTHER_TENANT, "AZURE_TENANT_ID": "explicit"}, "explicit"),
        (None, {}, ""),
    ],
    ids=["file", "environment", "azure-tenant-id-wins", "none"],
)
def test_the_tenant_id_stands_in_for_azure_tenant_id(
    file_tenant: str | None,
    variables: dict[str, str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With the organization unreadable, the collection names the tenant it signed in to."""
    keys = {"auth": "token"} | ({"tenant_id": file_tenant} if file_tenant else {})
    set_environment(monkeypatch, **variables)
    with demo_tenant(organization=[]) as tenant:
        write_config(connection_table(graph_endpoint=tenant.url, **keys))
        out = Path.cwd() / "tenant.json"
        assert main(["snapshot", "-o", str(out), "--quiet"]) == 0
    assert load_snapshot(out).tenant.id == expected
    assert os.environ.get("AZURE_TENANT_ID") == variables.get("AZURE_TENANT_ID")


# ---- the "next" hints carry the connection in use --------------------------------------------


def submit_command(state: Path, justification: str = "CHG-1 rename") -> list[str]:
    return [
        "request", "submit", "--method", "PATCH", "--url", APP_URL, "--body", "body.json",
        "--justification", justification, "--state", str(state), "--format", "json",
    ]  # fmt: skip


@pytest.fixture
def approvals(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "automation")
    Path("body.json").write_text('{"displayName": "CP 2"}', encoding="utf-8")
    with running("412", Clock()) as emulator:
        yield emulator


def test_the_next_steps_of_a_filed_request_carry_the_connection(
    approvals: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "my state" / "state.db"
    state.parent.mkdir()
    set_environment(monkeypatch, MAA_GUARD_AUTH="token", MAA_GUARD_GRAPH_ENDPOINT=approvals.url)
    assert main(submit_command(state)) == 0
    filed = json.loads(capsys.readouterr().out)
    code = filed["code"]
    connection = f"--auth token --graph-endpoint {approvals.url} --state '{state}'"
    assert filed["next"] == [
        f"maa-guard requests wait {code} {connection}",
        f"maa-guard requests complete {code} {connection}",
    ]
    monkeypatch.delenv("MAA_GUARD_AUTH")
    monkeypatch.delenv("MAA_GUARD_GRAPH_ENDPOINT")
    words = shlex.split(filed["next"][0])
    assert words[:4] == ["maa-guard", "requests", "wait", code]
    assert main([*words[1:], "--timeout", "0", "--format", "json"]) == 3  # pasted: it works
    assert json.loads(capsys.readouterr().out)["outcome"] == "needsApproval"


def test_the_draft_hint_names_the_connection_it_was_reviewed_with(
    tenant: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_environment(monkeypatch, MAA_GUARD_AUTH="token", MAA_GUARD_GRAPH_ENDPOINT=tenant.url)
    out = Path.cwd() / "my change.json"
    code = main(
        [
            "exclusions", "draft", "--config", str(DEMO_CONFIG), "--days", "200", "--quiet",
            "--policy", "Apps - Windows", "--remove", "Patch My PC Cloud",
            "--justification", "vendor contract ended", "--ticket", "CHG-42", "-o", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    assert capsys.readouterr().err == (
        f"wrote {out}: review it with the first command, then send it with the second\n"
        f"next: maa-guard exclusions show '{out}'\n"
        f"next: maa-guard exclusions submit '{out}' --auth token --graph-endpoint {tenant.url}\n"
    )


# ---- requests list: refreshed, or said not to be -----------------------------------------------


def filed_request(emulator: Emulator, state: Path, capsys: pytest.CaptureFixture[str]) -> str:
    connection = ["--auth", "token", "--graph-endpoint", emulator.url]
    assert main([*submit_command(state), *connection]) == 0
    code: str = json.loads(capsys.readouterr().out)["code"]
    return code


def listed(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["requests", "list", "--format", "json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_requests_list_without_a_connection_says_it_is_local_state(
    approvals: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.db"
    filed_request(approvals, state, capsys)
    before = len(approvals.requests)
    exit_code, listing = listed(capsys, "--state", str(state))
    assert exit_code == 0
    assert [(c["phase"], c["status"]) for c in listing["changes"]] == [("pending", "needsApproval")]
    assert listing["warnings"] == [
        f"1 open change recorded against {approvals.url}: from local state, not refreshed; to "
        f"refresh them: maa-guard requests list --graph-endpoint {approvals.url} --state {state}"
    ]
    assert len(approvals.requests) == before


def test_requests_list_with_the_connection_from_the_environment_refreshes(
    approvals: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from test_approval_support import decide

    state = tmp_path / "state.db"
    code = filed_request(approvals, state, capsys)
    assert decide(approvals, code) == 200
    set_environment(monkeypatch, MAA_GUARD_AUTH="token", MAA_GUARD_GRAPH_ENDPOINT=approvals.url)
    monkeypatch.setenv("MAA_GUARD_STATE", str(state))
    exit_code, listing = listed(capsys)
    assert exit_code == 0
    assert [(c["phase"], c["status"]) for c in listing["changes"]] == [("pending", "approved")]
    change = listing["changes"][0]["change"]
    assert listing["warnings"] == [
        f"change {change}: the service reports the request approved (code {code})"
    ]


def test_requests_list_offline_says_it_is_local_state(
    approvals: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.db"
    filed_request(approvals, state, capsys)
    exit_code, listing = listed(capsys, "--offline", "--state", str(state))
    assert (exit_code, listing["warnings"]) == (
        0,
        ["the list is from local state, not refreshed: --offline reads the state file only"],
    )


def test_requests_list_with_nothing_open_says_it_did_not_ask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code, listing = listed(capsys, "--state", str(tmp_path / "state.db"))
    assert (exit_code, listing) == (
        0,
        {
            "changes": [],
            "warnings": [
                "the list is from local state, not refreshed: no open change was recorded "
                "against https://graph.microsoft.com"
            ],
        },
    )


def test_requests_list_exits_3_when_the_configured_endpoint_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The row was filed through an emulator that has since gone: the list cannot be read."""
    state = tmp_path / "state.db"
    with running("412", Clock()) as emulator:
        monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "automation")
        Path("body.json").write_text('{"displayName": "CP 2"}', encoding="utf-8")
        code = filed_request(emulator, state, capsys)
        gone = emulator.url
    write_config(connection_table(auth="token", graph_endpoint=gone))
    exit_code, listing = listed(capsys, "--state", str(state))
    assert exit_code == 3
    assert [(c["code"], c["status"]) for c in listing["changes"]] == [(code, "needsApproval")]
    assert listing["warnings"] == [
        "the service's request list could not be read: GET "
        "/deviceManagement/operationApprovalRequests: HTTP 599 ConnectError",
        "the list is from local state, not refreshed",
    ]


def test_requests_list_exits_3_when_sign_in_fails(
    approvals: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "state.db"
    filed_request(approvals, state, capsys)
    set_environment(monkeypatch, MAA_GUARD_AUTH="token", MAA_GUARD_GRAPH_ENDPOINT=approvals.url)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "a-token-the-tenant-never-issued")
    exit_code, listing = listed(capsys, "--state", str(state))
    assert exit_code == 3
    assert listing["warnings"][0].startswith("the service's request list could not be read: ")
    assert listing["warnings"][1:] == ["the list is from local state, not refreshed"]


# ---- the Python API reads the same connection ----------------------------------------------------


def test_the_python_api_and_the_cli_share_the_connection_table(
    approvals: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.db"
    write_config(connection_table(auth="token", graph_endpoint=approvals.url))
    write = approval.WriteRequest("PATCH", APP_URL, {"displayName": "CP 2"})
    with approval.connect(state=state) as client:
        pending = client.submit(write, "CHG-1 rename")
        assert client.endpoint.root == approvals.url
    assert isinstance(pending, approval.Pending)
    exit_code, listing = listed(capsys, "--state", str(state))
    assert exit_code == 0
    assert [c["code"] for c in listing["changes"]] == [pending.code]
    assert listing["warnings"] == []  # refreshed from the same endpoint


def test_the_python_api_follows_the_same_order(
    approvals: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with demo_tenant() as elsewhere:
        write_config(connection_table(auth="device-code", graph_endpoint=elsewhere.url))
        other = write_config(connection_table(graph_endpoint=approvals.url), "other.toml")
        environ = {**os.environ, "MAA_GUARD_AUTH": "token"}
        with approval.connect(state=tmp_path / "a.db", environ=environ) as client:
            assert client.endpoint.root == elsewhere.url  # maa-guard.toml, auth from environ
        with approval.connect(state=tmp_path / "b.db", environ=environ, config=other) as client:
            assert client.endpoint.root == approvals.url  # config= names the file
        environ["MAA_GUARD_GRAPH_ENDPOINT"] = approvals.url
        with approval.connect(state=tmp_path / "c.db", environ=environ) as client:
            assert client.endpoint.root == approvals.url  # the environment over the file
            assert client.status(pending_code(client)).status.value == "needsApproval"
        with approval.connect(
            state=tmp_path / "d.db", environ=environ, graph_endpoint=elsewhere.url
        ) as client:
            assert client.endpoint.root == elsewhere.url  # an argument over the environment
    with pytest.raises(ConfigError) as refused:
        approval.connect(environ={**environ, "MAA_GUARD_CLOUD": "mars"})
    assert (refused.value.message, refused.value.hint) == (
        "MAA_GUARD_CLOUD: unknown cloud 'mars'",
        "choose one of: global, usgov, usgov-dod, china",
    )


def pending_code(client: approval.ApprovalClient) -> str:
    write = approval.WriteRequest("PATCH", APP_URL, {"displayName": "CP 3"})
    pending = client.submit(write, "CHG-3 rename")
    assert isinstance(pending, approval.Pending)
    return pending.code
