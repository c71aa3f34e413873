"""The rule catalogue: one TOML file per rule under ``rules/<area>/``, data only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from maa_guard.catalogue.frameworks import (
    ControlMapping,
    Framework,
    mapping_problems,
    parse_mappings,
)
from maa_guard.errors import CatalogueError
from maa_guard.model import Severity
from maa_guard.snapshot import SOURCES
from maa_guard.storage.tomlfile import TOMLDecodeError, read_toml

AREAS = {
    "1": "coverage",
    "2": "approvers",
    "3": "requests",
    "4": "exclusions",
    "5": "automation",
}
RULE_ID = re.compile(r"^MAA[1-9]\d{2}$")
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_TEXT_FIELDS = ("id", "slug", "title", "severity", "area", "summary", "rationale", "remediation")
_LIST_FIELDS = ("references", "data_sources", "graph_permissions")
REQUIRED_FIELDS = (*_TEXT_FIELDS, *_LIST_FIELDS, "parameters")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    slug: str
    title: str
    severity: Severity
    area: str
    summary: str
    rationale: str
    remediation: str
    references: tuple[str, ...]
    data_sources: tuple[str, ...]
    graph_permissions: tuple[str, ...]
    parameters: dict[str, Any]
    frameworks: tuple[ControlMapping, ...] = ()

    def controls_in(self, framework: Framework) -> tuple[ControlMapping, ...]:
        return tuple(m for m in self.frameworks if m.framework == framework.name)


def rules_directory() -> Path:
    """``maa_guard/rules`` inside a wheel; the top-level ``rules/`` in a source checkout."""
    packaged = Path(str(resources.files("maa_guard"))) / "rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "rules"


@cache
def load_catalogue(directory: Path | None = None) -> dict[str, Rule]:
    """All rules by ID, ordered by ID; any broken file is a CatalogueError naming it."""
    root = directory or rules_directory()
    rules: dict[str, Rule] = {}
    for path in sorted(root.glob("*/*.toml")):
        rule = load_rule(path)
        if rule.id in rules:
            raise CatalogueError(f"{path.name}: duplicate rule id {rule.id}")
        rules[rule.id] = rule
    if not rules:
        raise CatalogueError(f"no rules found under {root}", "reinstall maa-guard")
    return dict(sorted(rules.items()))


def rules_mapped_to(framework: Framework) -> frozenset[str]:
    """The IDs of the rules that list at least one control of ``framework``."""
    return frozenset(rule.id for rule in load_catalogue().values() if rule.controls_in(framework))


def load_rule(path: Path) -> Rule:
    try:
        data = read_toml(path)
    except (OSError, TOMLDecodeError) as error:
        raise CatalogueError(f"{path.name}: {error}") from error
    problems = validate_rule_data(data, path)
    if problems:
        raise CatalogueError(f"{path.name}: {'; '.join(problems)}")
    return Rule(
        id=data["id"],
        slug=data["slug"],
        title=data["title"],
        severity=Severity.parse(data["severity"]),
        area=data["area"],
        summary=data["summary"].strip(),
        rationale=data["rationale"].strip(),
        remediation=data["remediation"].strip(),
        references=tuple(data["references"]),
        data_sources=tuple(data["data_sources"]),
        graph_permissions=tuple(data["graph_permissions"]),
        parameters=dict(data["parameters"]),
        frameworks=parse_mappings(data.get("frameworks", [])),
    )


def validate_rule_data(data: dict[str, Any], path: Path) -> list[str]:
    """Every problem with one rule file, so a catalogue test can list them all at once."""
    problems = [f"missing field {name!r}" for name in REQUIRED_FIELDS if name not in data]
    if problems:
        return problems
    problems += [
        f"{name} must be a non-empty string"
        for name in _TEXT_FIELDS
        if not isinstance(data[name], str) or not data[name].strip()
    ]
    problems += [
        f"{name} must be a list of strings"
        for name in _LIST_FIELDS
        if not isinstance(data[name], list) or not all(isinstance(item, str) for item in data[name])
    ]
    if not isinstance(data["parameters"], dict):
        problems.append("parameters must be a table")
    if problems:
        return problems
    return _semantic_problems(data, path)


def _semantic_problems(data: dict[str, Any], path: Path) -> list[str]:
    problems = []
    rule_id, slug = data["id"], data["slug"]
    if not RULE_ID.match(rule_id):
        problems.append(f"id {rule_id!r} is not MAA + area digit + two digits")
    elif AREAS.get(rule_id[3]) != data["area"]:
        problems.append(f"area {data['area']!r} does not match id {rule_id}")
    if not SLUG.match(slug):
        problems.append(f"slug {slug!r} is not kebab-case")
    if path.stem != f"{rule_id}-{slug}":
        problems.append(f"file name should be {rule_id}-{slug}.toml")
    if path.parent.name != data["area"]:
        problems.append(f"file should live in rules/{data['area']}/")
    try:
        Severity.parse(data["severity"])
    except ValueError as error:
        problems.append(str(error))
    unknown = sorted(set(data["data_sources"]) - set(SOURCES))
    if unknown:
        problems.append(f"unknown data sources {unknown}")
    if not data["references"] or not data["data_sources"] or not data["graph_permissions"]:
        problems.append("references, data_sources and graph_permissions must not be empty")
    return problems + mapping_problems(data.get("frameworks", []))
