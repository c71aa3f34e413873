"""The gate: the exit-code matrix and its properties over real scans of the demo tenant."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maa_guard.catalogue import load_catalogue
from maa_guard.checks import all_checks
from maa_guard.config import Settings
from maa_guard.evaluate.engine import ScanResult, evaluate, fingerprint
from maa_guard.gate.decision import exit_code, gating_failures
from maa_guard.model import Finding, Resource, Severity, Status, Suppression
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
RULE_IDS = list(load_catalogue())
TODAY = date(2026, 11, 1)


def finding(status: Status, severity: Severity = Severity.HIGH, **changes: object) -> Finding:
    base = Finding(
        "MAA401",
        "excluded-app-client-secret",
        "t",
        severity,
        status,
        Resource("application", "app-1"),
        "m",
        {},
        "fix",
        "fp",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def result_of(*findings: Finding, **options: object) -> ScanResult:
    return ScanResult(DEMO, {}, findings, replace(Settings(), **options), "0.1.0")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("has_failure", "has_error", "exit_zero", "allow_incomplete", "expected"),
    [
        (False, False, False, False, 0),
        (True, False, False, False, 1),
        (False, True, False, False, 3),
        (True, True, False, False, 1),
        (True, False, True, False, 0),
        (True, True, True, False, 3),
        (False, True, False, True, 0),
        (True, True, False, True, 1),
        (True, True, True, True, 0),
    ],
)
def test_exit_code_matrix(
    has_failure: bool, has_error: bool, exit_zero: bool, allow_incomplete: bool, expected: int
) -> None:
    findings = [finding(Status.PASS)]
    if has_failure:
        findings.append(finding(Status.FAIL))
    if has_error:
        findings.append(finding(Status.ERROR))
    result = result_of(*findings, exit_zero=exit_zero, allow_incomplete=allow_incomplete)
    assert exit_code(result) == expected


@pytest.mark.parametrize(
    ("severity", "fail_on", "expected"),
    [(s, t, 1 if s >= t else 0) for s, t in itertools.product(Severity, Severity)],
)
def test_threshold_compares_with_greater_or_equal(
    severity: Severity, fail_on: Severity, expected: int
) -> None:
    assert exit_code(result_of(finding(Status.FAIL, severity), fail_on=fail_on)) == expected


def test_suppressed_and_baselined_failures_do_not_count() -> None:
    active = Suppression("MAA401", "app-1", "accepted", "2999-01-01")
    expired = replace(active, expires="2020-01-01", expired=True)
    assert exit_code(result_of(finding(Status.FAIL, suppression=active))) == 0
    assert exit_code(result_of(finding(Status.FAIL, baselined=True))) == 0
    assert exit_code(result_of(finding(Status.FAIL, suppression=expired))) == 1
    assert exit_code(result_of(finding(Status.SKIPPED))) == 0


def test_fingerprint_ignores_case_and_message() -> None:
    assert fingerprint("MAA401", "TENANT", "App-1") == fingerprint("MAA401", "tenant", "app-1")
    assert fingerprint("MAA401", "t", "a") != fingerprint("MAA402", "t", "a")
    assert fingerprint("MAA401", "t", "a") != fingerprint("MAA401", "u", "a")
    assert len(fingerprint("MAA401", "t", "a")) == 32


def scan(rules: list[str], fail_on: Severity, baseline: frozenset[str] = frozenset()) -> ScanResult:
    chosen = Settings(only_rules=tuple(rules), fail_on=fail_on)
    return evaluate(DEMO, load_catalogue(), all_checks(), chosen, TODAY, baseline)


def counted(result: ScanResult) -> set[str]:
    return {f.fingerprint for f in gating_failures(result)}


RULE_SUBSETS = st.lists(st.sampled_from(RULE_IDS), min_size=1, unique=True)


@settings(max_examples=40, deadline=None)
@given(
    rules=RULE_SUBSETS, low=st.sampled_from(list(Severity)), high=st.sampled_from(list(Severity))
)
def test_raising_fail_on_never_adds_failures(
    rules: list[str], low: Severity, high: Severity
) -> None:
    low, high = min(low, high), max(low, high)
    at_low, at_high = scan(rules, low), scan(rules, high)
    assert counted(at_high) <= counted(at_low)
    if exit_code(at_low) == 0:
        assert exit_code(at_high) == 0


@settings(max_examples=40, deadline=None)
@given(rules=RULE_SUBSETS, fail_on=st.sampled_from(list(Severity)))
def test_baseline_of_a_scan_makes_the_same_scan_pass(rules: list[str], fail_on: Severity) -> None:
    first = scan(rules, fail_on)
    baseline = frozenset(f.fingerprint for f in first.findings if f.status is Status.FAIL)
    second = scan(rules, fail_on, baseline)
    assert counted(second) == set()
    assert exit_code(second) == 0
    assert [f.status for f in second.findings] == [f.status for f in first.findings]
