"""The Kubernetes Indexed Job in docs/examples runs the fleet as documented: parsed, not applied."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from maa_guard.cli import build_parser
from maa_guard.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_USAGE

yaml = pytest.importorskip("yaml")

MANIFEST = Path(__file__).resolve().parent.parent / "docs" / "examples" / "fleet-indexed-job.yaml"


def _job() -> dict[str, Any]:
    job: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return job


def _container() -> dict[str, Any]:
    containers: list[dict[str, Any]] = _job()["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _command_for(index: int) -> list[str]:
    """The pod's command line as its shell expands it for JOB_COMPLETION_INDEX=index."""
    (script,) = _container()["args"]
    expanded = script.replace("$((JOB_COMPLETION_INDEX + 1))", str(index + 1))
    expanded = expanded.replace('"$MAA_GUARD_HISTORY_URL"', "postgresql://history.example/maa")
    words = shlex.split(expanded)
    assert words[:2] == ["exec", "maa-guard"]
    return words[2:]


def test_the_job_is_indexed_with_one_completion_per_shard() -> None:
    job = _job()
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    shards = {
        _command_for(i)[_command_for(i).index("--shard") + 1] for i in range(spec["completions"])
    }
    assert shards == {f"{k}/{spec['completions']}" for k in range(1, spec["completions"] + 1)}


def test_every_pod_runs_a_fleet_scan_the_parser_accepts() -> None:
    for index in range(_job()["spec"]["completions"]):
        args = build_parser().parse_args(_command_for(index))
        assert (args.command, args.record, args.shard) == ("fleet", True, f"{index + 1}/8")
        assert args.history == "postgresql://history.example/maa"


def test_verdict_exit_codes_are_not_retried() -> None:
    (rule,) = _job()["spec"]["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailIndex"
    codes = rule["onExitCodes"]
    assert codes["containerName"] == _container()["name"]
    assert (codes["operator"], codes["values"]) == (
        "In",
        [EXIT_FINDINGS, EXIT_USAGE, EXIT_INCOMPLETE],
    )


def test_the_history_url_comes_from_a_secret() -> None:
    (variable,) = [e for e in _container()["env"] if e["name"] == "MAA_GUARD_HISTORY_URL"]
    assert variable["valueFrom"]["secretKeyRef"] == {"name": "maa-guard-history", "key": "url"}
