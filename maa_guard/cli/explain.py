"""`explain`: one finding in full, from a report file, a snapshot or the recorded history.

Heavy modules are imported inside the handler.
"""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from maa_guard.cli.options import (
    OUTPUT_FORMATS,
    SubParsers,
    add_input,
    add_output_options,
    check_outputs,
    output_files,
    stdout_format,
    terminal_color,
    terminal_width,
)
from maa_guard.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from maa_guard.catalogue import Rule
    from maa_guard.history.records import StoredFinding
    from maa_guard.model import Finding
    from maa_guard.reporters.explain import FindingSet, SourceReads
    from maa_guard.snapshot import Snapshot

DESCRIPTION = (
    "Show one finding in full: rule, severity, status, resource and message; its evidence; why "
    "the rule matters and how to fix it; the objects it names (policy, approver group, app, "
    "request), looked up in the snapshot; and the Graph reads its data came from."
)
EPILOG = (
    "KEY is a fingerprint (the 'fingerprint' of a JSON or CSV report; a unique prefix of 8 or "
    "more characters will do) or RULE:RESOURCE, such as MAA401:<appId>. The finding comes from "
    "--report FILE, from --snapshot FILE or --demo (evaluated now, with --config), or else from "
    "the last recorded scan in the history (scan --record). Exit 0, or 2 when no finding "
    "matches (with a close match, if any)."
)
_HISTORY_HELP = (
    "history database: sqlite:///PATH, a file path, or postgresql://... "
    "(default: $MAA_GUARD_HISTORY, else history.db in the user data folder)"
)


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register `explain`."""
    explain = commands.add_parser(
        "explain",
        parents=[common],
        help="one finding in full: evidence, why, how to fix, related objects, Graph reads",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    explain.add_argument("key", metavar="KEY", help="a fingerprint, or RULE:RESOURCE")
    explain.add_argument(
        "--report", type=Path, metavar="FILE", help="a JSON report (scan --output json=FILE)"
    )
    add_input(explain)
    explain.add_argument("--history", metavar="URL", help=_HISTORY_HELP)
    explain.add_argument(
        "--tenant", metavar="ID", help="from the history: this tenant's last recorded scan"
    )
    add_output_options(explain, OUTPUT_FORMATS["explain"])
    explain.set_defaults(handler=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    from maa_guard.catalogue import load_catalogue
    from maa_guard.cli.output import deliver
    from maa_guard.reporters.explain import explain, find_finding
    from maa_guard.reporters.explain_render import render_explanation

    formats = OUTPUT_FORMATS["explain"]
    outputs = output_files(args, formats)
    check_outputs(args, [output.path for output in outputs], _report_input(args))
    _check_inputs(args)
    found = _finding_set(args)
    finding = find_finding(found.findings, args.key, found.origin)
    note = ""
    if args.report is None and not args.demo and args.snapshot is None:
        finding, note = _with_evidence(finding, found.snapshot, args.config)
    rule = load_catalogue().get(finding.rule_id)
    explanation = explain(finding, found, rule, _source_reads(), note)
    color, width = terminal_color(args), terminal_width()

    def render(output_format: str, terminal: bool) -> str:
        if terminal:
            return render_explanation(explanation, output_format, color, width)
        return render_explanation(explanation, output_format)

    deliver(render, stdout_format(args, formats), outputs)
    return EXIT_OK


def _report_input(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """--report is an input too: an output file must not replace it."""
    return [] if args.report is None else [("--report", args.report)]


def _check_inputs(args: argparse.Namespace) -> None:
    named = [
        option
        for option, given in (
            ("--report", args.report is not None),
            ("--snapshot", args.snapshot is not None),
            ("--demo", args.demo),
        )
        if given
    ]
    if len(named) > 1:
        raise UsageError(f"{' and '.join(named)} exclude each other", "choose one input")
    if named and (args.history is not None or args.tenant is not None):
        raise UsageError(
            "--history and --tenant choose a recorded scan; they do not go with " + named[0],
            "leave them out, or leave out " + named[0],
        )
    if args.report is not None and args.config is not None:
        raise UsageError(
            "--config is for evaluating a snapshot; a report is already evaluated",
            "leave out --config",
        )


def _finding_set(args: argparse.Namespace) -> FindingSet:
    if args.report is not None:
        return _from_report(args.report)
    if args.demo or args.snapshot is not None:
        return _from_scan(args)
    return _from_history(args.history, args.tenant)


def _from_report(path: Path) -> FindingSet:
    from maa_guard.reporters.explain import FindingSet
    from maa_guard.reporters.report_file import load_report

    report = load_report(path)
    return FindingSet(f"report {path}", report.tenant, report.findings, report.sources)


def _from_scan(args: argparse.Namespace) -> FindingSet:
    """Evaluate the snapshot as `scan` would, today, with the configuration."""
    from maa_guard.reporters.explain import FindingSet
    from maa_guard.scan.pipeline import ScanRequest, run_scan

    request = ScanRequest(args.snapshot, args.demo, args.config, {}, None, quiet=True)
    result = run_scan(request, os.environ, Path.cwd(), date.today())
    snapshot = result.snapshot
    origin = "the demo tenant" if args.demo else f"snapshot {args.snapshot}"
    return FindingSet(
        f"{origin}, evaluated now",
        snapshot.tenant,
        result.findings,
        {name: snapshot.source_state(name) for name in snapshot.sources},
        snapshot,
    )


def _from_history(url: str | None, tenant: str | None) -> FindingSet:
    from maa_guard.catalogue import load_catalogue
    from maa_guard.history.store import open_history
    from maa_guard.reporters.explain import FindingSet
    from maa_guard.snapshot.codec import format_datetime

    with open_history(url, create=False) as history:
        scans = history.list(tenant, limit=1)
        where = history.location.display
        if not scans:
            whose = f" of tenant {tenant}" if tenant else ""
            raise UsageError(
                f"no recorded scan{whose} in {where}",
                "record one with 'maa-guard scan --record', or give --report FILE, "
                "--snapshot FILE or --demo",
            )
        scan = scans[-1]
        snapshot, stored = history.load(scan.id)
    catalogue = load_catalogue()
    findings = tuple(_stored_finding(stored_one, catalogue) for stored_one in stored)
    origin = f"recorded scan {scan.id} (collected {format_datetime(scan.collected_at)}) in {where}"
    sources = {name: snapshot.source_state(name) for name in snapshot.sources}
    return FindingSet(origin, snapshot.tenant, findings, sources, snapshot)


def _stored_finding(stored: StoredFinding, catalogue: Mapping[str, Rule]) -> Finding:
    """A recorded finding; the catalogue gives what the history does not keep."""
    from maa_guard.model import Finding, Resource

    known = catalogue.get(stored.rule_id)
    return Finding(
        rule_id=stored.rule_id,
        slug=known.slug if known else "",
        title=known.title if known else "",
        severity=stored.severity,
        status=stored.status,
        resource=Resource(stored.resource_type, stored.resource_id, stored.resource_name),
        message=stored.message,
        evidence={},
        remediation=known.remediation if known else "",
        fingerprint=stored.fingerprint,
    )


def _with_evidence(
    finding: Finding, snapshot: Snapshot | None, config: Path | None
) -> tuple[Finding, str]:
    """The history keeps no evidence: evaluate the finding's rule over the recorded snapshot
    again, and take the evidence when it still gives the same finding."""
    from dataclasses import replace

    from maa_guard.catalogue import load_catalogue
    from maa_guard.checks import all_checks
    from maa_guard.evaluate.engine import evaluate
    from maa_guard.scan.pipeline import ScanRequest, settings_for

    catalogue = load_catalogue()
    rule = catalogue.get(finding.rule_id)
    if rule is None or snapshot is None:
        return finding, "the history keeps no evidence, and this rule is not in the catalogue"
    flags = {"rules": [rule.id], "skip_rules": []}
    settings = settings_for(ScanRequest(None, False, config, flags), os.environ, Path.cwd())
    today = snapshot.collected_at.date()
    result = evaluate(snapshot, {rule.id: rule}, all_checks(), settings, today)
    again = next((f for f in result.findings if f.fingerprint == finding.fingerprint), None)
    if again is None or again.status is not finding.status or again.message != finding.message:
        return finding, (
            "the history keeps no evidence, and the current rules no longer give this finding "
            "for the recorded snapshot"
        )
    note = "the history keeps no evidence: this is the recorded snapshot evaluated again"
    return replace(finding, evidence=again.evidence), note


def _source_reads() -> SourceReads:
    from maa_guard.collect.permissions import SOURCE_PERMISSIONS, SOURCE_READS
    from maa_guard.reporters.explain import SourceReads

    return SourceReads(SOURCE_READS, SOURCE_PERMISSIONS)
