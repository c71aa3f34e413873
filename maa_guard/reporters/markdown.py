"""Markdown for a GitHub job summary: verdict, counts, failing findings, what could not verify.

Every cell goes through ``text.markdown``, so a tenant string cannot open a tag, a link, a code
span or a table column. Suppressed and baselined failures appear only with ``show_suppressed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from maa_guard.codec import format_datetime
from maa_guard.engine import ScanResult
from maa_guard.model import Finding
from maa_guard.reporters import RenderOptions
from maa_guard.reporters.summary import (
    Summary,
    Verdict,
    describe_source,
    failing,
    incomplete_sources,
    quieted,
    resource_label,
    summarise,
    suppression_note,
    unverified,
)
from maa_guard.reporters.text import markdown

ICONS = {Verdict.PASS: "✅", Verdict.FAIL: "❌", Verdict.INCOMPLETE: "⚠️"}


def render(result: ScanResult, options: RenderOptions) -> str:
    summary = summarise(result)
    blocks = [_headline(result, summary), _tenant(result), _counts(summary),
              _failing(result), _unverified(result), _warnings(result.warnings)]
    if options.show_suppressed:
        blocks.append(_quieted(result))
    return "\n\n".join(block for block in blocks if block) + "\n"


def _headline(result: ScanResult, summary: Summary) -> str:
    threshold = result.settings.fail_on
    gating = sum(n for severity, n in summary.failing.items() if severity >= threshold)
    detail = {
        Verdict.FAIL: f"{gating} failing finding(s) at or above {threshold.label}",
        Verdict.INCOMPLETE: f"{summary.by_status_error} check(s) could not verify",
        Verdict.PASS: f"no failing findings at or above {threshold.label}",
    }[summary.verdict]
    return f"## {ICONS[summary.verdict]} maa-guard: {summary.verdict.value.upper()}: {detail}"
