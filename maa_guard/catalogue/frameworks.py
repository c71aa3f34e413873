"""The control frameworks a rule can cite, and the ``[[frameworks]]`` entries of a rule file.

A rule lists a control only where a public source makes the link; the entry cites that page.
Each framework accepts its name, its slug or its tag wherever a user names it (``--framework``),
in any case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from maa_guard.errors import UsageError

ENTRY_KEYS = ("name", "control", "title", "source")


@dataclass(frozen=True, slots=True)
class Framework:
    name: str
    slug: str
    tag: str  # prefix of the SARIF tag: ``NIST-800-53:AC-5``
    control_id: re.Pattern[str]
    control_examples: str
    source_prefix: str

    def answers_to(self, text: str) -> bool:
        wanted = text.strip().casefold()
        return wanted in (self.name.casefold(), self.slug, self.tag.casefold())


FRAMEWORKS = (
    Framework(
        name="NIST SP 800-53 Rev. 5",
        slug="nist-800-53",
        tag="NIST-800-53",
        control_id=re.compile(r"^[A-Z]{2}-[1-9]\d?(\([1-9]\d?\))?$"),
        control_examples="AC-5 or CM-5(4)",
        source_prefix="https://csrc.nist.gov/",
    ),
    Framework(
        name="Microsoft Zero Trust Assessment",
        slug="zero-trust-assessment",
        tag="MS-ZTA",
        control_id=re.compile(r"^[1-9]\d{4}$"),
        control_examples="a five-digit test id such as 21772",
        source_prefix="https://github.com/microsoft/zerotrustassessment/",
    ),
)
_BY_NAME = {framework.name: framework for framework in FRAMEWORKS}


@dataclass(frozen=True, slots=True)
class ControlMapping:
    """One control of one framework that a rule supports, with the page that makes the link."""

    framework: str
    control: str
    title: str
    source: str

    @property
    def tag(self) -> str:
        """``NIST-800-53:AC-5``: a SARIF tag, searchable in a code-scanning view."""
        return f"{_BY_NAME[self.framework].tag}:{self.control}"

    @property
    def label(self) -> str:
        return f"{self.framework} {self.control} {self.title}"


def framework_named(text: str) -> Framework:
    """The framework a user named by name, slug or tag; exit 2 with the choices otherwise."""
    for framework in FRAMEWORKS:
        if framework.answers_to(text):
            return framework
    raise UsageError(f"unknown framework {text!r}", f"choose from {framework_choices()}")


def framework_choices() -> str:
    return ", ".join(f"{f.slug} ({f.name})" for f in FRAMEWORKS)


def mapping_problems(entries: Any) -> list[str]:
    """Every problem with a rule file's ``[[frameworks]]`` entries."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return ["frameworks must be an array of tables ([[frameworks]] entries)"]
    problems = []
    seen: set[tuple[str, str]] = set()
    for number, entry in enumerate(entries, start=1):
        entry_problems = _entry_problems(entry)
        problems += [f"[[frameworks]] entry {number}: {text}" for text in entry_problems]
        key = (entry.get("name"), entry.get("control"))
        if not entry_problems and key in seen:
            problems.append(f"[[frameworks]] entry {number}: {key[0]} {key[1]} is listed twice")
        seen.add(key)
    return problems


def _entry_problems(entry: dict[str, Any]) -> list[str]:
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        return [f"unknown key(s) {unknown} (allowed: {', '.join(ENTRY_KEYS)})"]
    missing = [key for key in ENTRY_KEYS if key not in entry]
    if missing:
        return [f"missing key(s) {missing}"]
    empty = [key for key in ENTRY_KEYS if not isinstance(entry[key], str) or not entry[key].strip()]
    if empty:
        return [f"{key} must be a non-empty string" for key in empty]
    framework = _BY_NAME.get(entry["name"])
    if framework is None:
        return [f"unknown framework {entry['name']!r} (choose from {', '.join(_BY_NAME)})"]
    problems = []
    if not framework.control_id.match(entry["control"]):
        problems.append(
            f"control {entry['control']!r} is not a {framework.name} control "
            f"({framework.control_examples})"
        )
    if not entry["source"].startswith(framework.source_prefix) or re.search(r"\s", entry["source"]):
        problems.append(
            f"source must be the URL of the page that makes the link, under "
            f"{framework.source_prefix}"
        )
    return problems


def parse_mappings(entries: list[dict[str, str]]) -> tuple[ControlMapping, ...]:
    """The entries of a rule file that ``mapping_problems`` accepted."""
    return tuple(
        ControlMapping(e["name"], e["control"], e["title"].strip(), e["source"]) for e in entries
    )


def controls_text(mappings: tuple[ControlMapping, ...]) -> str:
    """``NIST SP 800-53 Rev. 5: AC-5 (Separation of Duties), AU-6 (...); Microsoft Zero Trust
    Assessment: 51015 (...)``, or an empty string for a rule with no mapping."""
    by_framework: dict[str, list[str]] = {}
    for mapping in mappings:
        item = f"{mapping.control} ({mapping.title})"
        by_framework.setdefault(mapping.framework, []).append(item)
    return "; ".join(f"{name}: {', '.join(items)}" for name, items in by_framework.items())
