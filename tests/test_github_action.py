"""The GitHub Action (`action.yml`): its structure, and its steps run in order against the emulator.

The `uses:` steps (setup-python, the SARIF upload) belong to GitHub and cannot run here; the
install step is not run because the test runs in the environment where this checkout is
installed already. Every other step runs as the runner would run it (`bash -eo pipefail`), with
the runner's files (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY), a fake GitHub OIDC endpoint, the fake
Entra authority and the Graph emulator: the scan signs in with workload identity federation.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.emulator.authority import authority_for
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
OIDC_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJyZXBvOm93bmVyL3JlcG86cmVmOnJlZnMvaGVhZHMvbWFpbiJ9."
REQUEST_TOKEN = "runner-request-token"
DEMO = load_snapshot(demo_path("snapshot.json"))


def _steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = ACTION["runs"]["steps"]
    return steps


def _expressions(value: object) -> list[str]:
    return EXPRESSION.findall(json.dumps(value))


def test_the_action_is_a_composite_action_with_described_inputs() -> None:
    assert {"name", "description", "inputs", "outputs", "runs", "branding"} <= set(ACTION)
    assert ACTION["runs"]["using"] == "composite"
    for name, spec in ACTION["inputs"].items():
        assert spec["description"], name
        assert spec.get("required", False) == ("default" not in spec), name
    assert {"tenant-id", "client-id", "fail-on", "config", "args"} <= set(ACTION["inputs"])


def test_every_expression_names_a_known_input_step_or_context() -> None:
    inputs, step_ids = set(ACTION["inputs"]), {s["id"] for s in _steps() if "id" in s}
    for expression in _expressions(ACTION):
        for name in re.findall(r"inputs\.([\w-]+)", expression):
            assert name in inputs, expression
        for name in re.findall(r"steps\.([\w-]+)\.", expression):
            assert name in step_ids, expression


def test_run_steps_take_inputs_only_through_the_environment() -> None:
    """An input interpolated into a script would be script injection; env keeps it data."""
    for step in _steps():
        if "run" in step:
            assert step["shell"] == "bash", step["name"]
            assert _expressions(step["run"]) == [], step["name"]
        else:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w.-]+)*@v\d+", step["uses"]), step


class _OidcHandler(BaseHTTPRequestHandler):
    """GitHub's token endpoint: the request token in, an OIDC token for the audience out."""

    audiences: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {REQUEST_TOKEN}":
            self.send_error(401)
            return
        self.audiences.append(self.path.split("audience=", 1)[-1])
        body = json.dumps({"value": OIDC_TOKEN}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def oidc() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OidcHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0"
    finally:
        server.shutdown()
        server.server_close()


def _outputs(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _evaluate(text: str, inputs: Mapping[str, str], outputs: Mapping[str, str]) -> str:
    def value(found: re.Match[str]) -> str:
        expression = found.group(1)
        if expression.startswith("inputs."):
            return inputs[expression.removeprefix("inputs.")]
        if expression.startswith("steps.scan.outputs."):
            return outputs[expression.removeprefix("steps.scan.outputs.")]
        raise AssertionError(f"the test cannot evaluate {expression!r}")

    return EXPRESSION.sub(value, text)


def _run_steps(inputs: Mapping[str, str], environment: dict[str, str], runner: Path) -> list[int]:
    codes = []
    for step in _steps():
        if "uses" in step or step["name"].startswith("Install"):  # see the module docstring
            continue
        outputs = _outputs(runner / "output")
        env = {**environment}
        for name, value in step.get("env", {}).items():
            env[name] = _evaluate(str(value), inputs, outputs)
        command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]]
        codes.append(subprocess.run(command, env=env, timeout=300, check=False).returncode)
    return codes


def _defaults(**given: str) -> dict[str, str]:
    values = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    return {**values, **given}


def test_the_steps_scan_with_workload_identity_and_gate_on_the_exit_code(
    tmp_path: Path, oidc: str
) -> None:
    runner, workspace = tmp_path / "runner", tmp_path / "workspace"
    runner.mkdir()
    workspace.mkdir()
    now = min(r.request_date_time for r in DEMO.approval_requests)
    emulator = Emulator(fixture_from_snapshot(DEMO), now=lambda: now)
    with emulator, authority_for(emulator, {}) as authority:
        inputs = _defaults(
            **{
                "tenant-id": DEMO.tenant.id,
                "client-id": graphroles.READER_APP_ID,
                "graph-endpoint": emulator.url,
                "args": "--days 365 --quiet",
            }
        )
        environment = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "GITHUB_ACTION_PATH": str(REPO),
            "GITHUB_WORKSPACE": str(workspace),
            "RUNNER_TEMP": str(runner),
            "GITHUB_OUTPUT": str(runner / "output"),
            "GITHUB_STEP_SUMMARY": str(runner / "summary.md"),
            "ACTIONS_ID_TOKEN_REQUEST_URL": oidc,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
            "AZURE_AUTHORITY_HOST": authority.url,
            "REQUESTS_CA_BUNDLE": str(authority.ca_file),
        }
        codes = _run_steps(inputs, environment, runner)
        grants = [(r["grant_type"], r["client_id"]) for r in authority.token_requests]
    results = workspace / "maa-guard-results"
    outputs = _outputs(runner / "output")
    assert _OidcHandler.audiences == ["api://AzureADTokenExchange"]
    assert (runner / "maa-guard-oidc.jwt").read_text(encoding="ascii").strip() == OIDC_TOKEN
    assert grants == [("client_credentials", graphroles.READER_APP_ID)]
    report = json.loads((results / "maa-guard.json").read_text(encoding="utf-8"))
    assert report["summary"]["failing_by_severity"]["high"] > 0  # so the gate must say 1
    assert outputs == {"exit-code": "1", "sarif": str(results / "maa-guard.sarif")}
    assert codes == [0, 0, 1]
    sarif = json.loads((results / "maa-guard.sarif").read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0"
    summary = (runner / "summary.md").read_text(encoding="utf-8")
    assert summary == (results / "maa-guard.md").read_text(encoding="utf-8")
    assert summary.startswith("## ❌ maa-guard: FAIL, ")


def test_without_id_token_permission_the_token_step_fails_with_a_hint(tmp_path: Path) -> None:
    step = next(s for s in _steps() if s.get("name") == "Get the workload identity token")
    env = {"PATH": os.environ["PATH"], "RUNNER_TEMP": str(tmp_path)}
    command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert (
        done.stdout.strip() == "::error::no OIDC token: give the job 'permissions: id-token: write'"
    )
