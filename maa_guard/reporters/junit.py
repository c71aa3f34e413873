"""JUnit XML: one ``testsuite`` per rule, one ``testcase`` per rule and evaluated resource.

A counted failure is ``<failure>``, a check that could not verify is ``<error>``, a skipped check
and a suppressed or baselined failure are ``<skipped>``; a pass has no child element. Every
string passes through ``text.inert``, so the document holds only characters XML 1.0 allows.
Data sources that are not complete, or that carry a reason, are properties of a ``data sources``
suite without test cases (it changes no count).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from maa_guard.catalogue import Rule
from maa_guard.evaluate.engine import ScanResult
from maa_guard.model import Finding, Resource, Status
from maa_guard.reporters import RenderOptions
from maa_guard.reporters.summary import (
    describe_source,
    incomplete_sources,
    noted_sources,
    resource_label,
    suppression_note,
)
from maa_guard.reporters.text import inert
from maa_guard.snapshot import SourceStatus

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def render(result: ScanResult, options: RenderOptions) -> str:
    by_rule: dict[str, list[Finding]] = {rule_id: [] for rule_id in result.rules}
    for finding in result.findings:
        by_rule[finding.rule_id].append(finding)
    root = ET.Element("testsuites", name="maa-guard")
    for rule in result.rules.values():
        root.append(_suite(rule, by_rule[rule.id]))
    sources = {**incomplete_sources(result), **noted_sources(result)}
    if sources:
        root.append(_sources_suite(sources))
    _count(root, root.findall("testsuite/testcase"))
    ET.indent(root)
    return DECLARATION + ET.tostring(root, encoding="unicode") + "\n"


def _suite(rule: Rule, findings: list[Finding]) -> ET.Element:
    suite = ET.Element("testsuite", name=f"{rule.id} {rule.slug}")
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("title", rule.title),
        ("severity", rule.severity.label),
        ("area", rule.area),
    ):
        ET.SubElement(properties, "property", name=name, value=inert(value))
    for finding in findings:
        suite.append(_case(finding))
    _count(suite, suite.findall("testcase"))
    return suite


def _sources_suite(sources: dict[str, SourceStatus]) -> ET.Element:
    suite = ET.Element("testsuite", name="data sources")
    properties = ET.SubElement(suite, "properties")
    for name, status in sources.items():
        text = inert(describe_source(name, status))
        ET.SubElement(properties, "property", name=f"source.{name}", value=text)
    _count(suite, [])
    return suite


def _count(element: ET.Element, cases: Iterable[ET.Element]) -> None:
    cases = list(cases)
    element.set("tests", str(len(cases)))
    for tag, attribute in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        element.set(attribute, str(sum(case.find(tag) is not None for case in cases)))
    element.set("time", "0")


def _case(finding: Finding) -> ET.Element:
    case = ET.Element(
        "testcase",
        classname=f"{finding.rule_id}.{finding.slug}",
        name=inert(case_name(finding.resource)),
        time="0",
    )
    if finding.counts_as_failure:
        _child(case, "failure", finding.message, finding.severity.label, _details(finding))
    elif finding.status is Status.FAIL:
        _child(case, "skipped", suppression_note(finding))
    elif finding.status is Status.ERROR:
        _child(case, "error", finding.message, "could-not-verify", _details(finding))
    elif finding.status is Status.SKIPPED:
        _child(case, "skipped", finding.message)
    return case


def case_name(resource: Resource) -> str:
    """``group/grp-helpdesk/Helpdesk Approvers``; without a display name, ``group/grp-deleted``."""
    name = f"{resource.type}/{resource.id}"
    return f"{name}/{resource.display_name}" if resource.display_name else name


def _child(case: ET.Element, tag: str, message: str, kind: str = "", body: str = "") -> None:
    child = ET.SubElement(case, tag, message=inert(message))
    if kind:
        child.set("type", kind)
    if body:
        child.text = inert(body)


def _details(finding: Finding) -> str:
    lines = [
        f"rule: {finding.rule_id} {finding.slug} ({finding.title})",
        f"severity: {finding.severity.label}",
        f"resource: {resource_label(finding.resource)}",
        f"fingerprint: {finding.fingerprint}",
    ]
    note = suppression_note(finding)
    if note:
        lines.append(note)
    return "\n".join([*lines, "", finding.message, "", "How to fix:", finding.remediation])
