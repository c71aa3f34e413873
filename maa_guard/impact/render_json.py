"""The impact report as JSON (shape in docs/impact.md); ``schema_version`` is its version.

The envelope is indented; each row is one line, so a large tenant's report is written at the
C encoder's speed and reads well in a diff. Strings are kept exactly: JSON escapes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from maa_guard.impact.model import (
    IMPACT_SCHEMA_VERSION,
    ImpactReport,
    ImpactRow,
    PolicyRef,
    WorkloadWrites,
)
from maa_guard.impact.render import ImpactRenderOptions
from maa_guard.snapshot.codec import format_datetime

REPORT_KIND = "maa-guard-impact"


def render_chunks(report: ImpactReport, options: ImpactRenderOptions) -> Iterator[str]:
    head = json.dumps(envelope(report), indent=2, ensure_ascii=False)
    yield f'{head[:-2]},\n  "rows": ['
    encoder = json.JSONEncoder(ensure_ascii=False)
    separator = "\n    "
    for row in report.rows:
        yield separator + encoder.encode(row_json(row))
        separator = ",\n    "
    yield "\n  ]\n}\n" if report.rows else "]\n}\n"


def document(report: ImpactReport) -> dict[str, Any]:
    return {**envelope(report), "rows": [row_json(row) for row in report.rows]}


def envelope(report: ImpactReport) -> dict[str, Any]:
    return {
        "schema_version": IMPACT_SCHEMA_VERSION,
        "kind": REPORT_KIND,
        "tool": {"name": "maa-guard", "version": report.tool_version},
        "tenant": {"id": report.tenant.id, "display_name": report.tenant.display_name},
        "collected_at": format_datetime(report.collected_at),
        "window": {
            "start": format_datetime(report.window.start),
            "end": format_datetime(report.window.end),
        },
        "complete": report.whole.complete,
        "exit_code": report.whole.exit_code,
        "sources": {
            name: {
                "state": status.state.value,
                "reason": status.reason,
                "missing_permission": status.missing_permission,
                "missing_licence": status.missing_licence,
            }
            for name, status in report.sources.items()
        },
        "summary": {
            "apps": len(report.rows),
            "by_verdict": {verdict.value: count for verdict, count in report.by_verdict.items()},
        },
    }


def row_json(row: ImpactRow) -> dict[str, Any]:
    return {
        "app_id": row.app_id,
        "display_name": row.display_name,
        "verdict": row.verdict.value,
        "action": row.verdict.action,
        "writes": row.writes,
        "last_write": _when(row.last_write),
        "last_app_only_sign_in": _when(row.last_sign_in),
        "workloads": [_workload(w) for w in row.workloads],
        "write_permissions": list(row.write_permissions),
        "protected": row.protection.value,
        "excluded_from": [_policy(p) for p in row.excluded_from],
        "declared_only": [_policy(p) for p in row.declared_only],
        "maa_aware": row.maa.aware,
        "maa_evidence": {
            "completed_requests": row.maa.completed_requests,
            "resubmissions": row.maa.resubmissions,
            "other_requests": row.maa.other_requests,
        },
        "approval_failures": row.approval_failures,
        "ways_out": [
            {"kind": way.kind.value, "summary": way.summary, "commands": list(way.commands)}
            for way in row.ways_out
        ],
        "unverified": sorted(column.value for column in row.unverified),
    }


def _workload(workload: WorkloadWrites) -> dict[str, Any]:
    return {
        "policy_type": workload.policy_type,
        "label": workload.label,
        "writes": workload.writes,
        "last_write": format_datetime(workload.last_write),
        "approval_failures": workload.approval_failures,
        "coverage": workload.coverage.value,
        "gating_policies": [_policy(p) for p in workload.gating_policies],
    }


def _policy(policy: PolicyRef) -> dict[str, str]:
    return {"id": policy.id, "name": policy.name}


def _when(moment: datetime | None) -> str | None:
    return format_datetime(moment) if moment is not None else None
