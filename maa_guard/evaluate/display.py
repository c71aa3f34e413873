"""Display filters (``scan --severity / --status / --resource / --framework``): which findings a
report shows.

They narrow what is shown and written, never what is decided: the gate and the summary counts
always see every finding of the scan (``ScanResult.scanned``).
"""

from __future__ import annotations

from dataclasses import dataclass

from maa_guard.catalogue import Framework
from maa_guard.model import Finding, Severity, Status


@dataclass(frozen=True, slots=True)
class DisplayFilter:
    """``severity``: that severity and above. ``statuses``: any of them (empty: every status).
    ``resource``: a case-insensitive substring of the resource's id or display name.
    ``framework``: only the rules in ``framework_rules``, those mapped to one of its controls."""

    severity: Severity | None = None
    statuses: tuple[Status, ...] = ()
    resource: str | None = None
    framework: Framework | None = None
    framework_rules: frozenset[str] = frozenset()

    @property
    def active(self) -> bool:
        return (
            self.severity is not None
            or bool(self.statuses)
            or bool(self.resource)
            or self.framework is not None
        )

    def matches(self, finding: Finding) -> bool:
        if self.severity is not None and finding.severity < self.severity:
            return False
        if self.statuses and finding.status not in self.statuses:
            return False
        if self.framework is not None and finding.rule_id not in self.framework_rules:
            return False
        if self.resource:
            needle = self.resource.casefold()
            names = (finding.resource.id, finding.resource.display_name)
            return any(needle in name.casefold() for name in names)
        return True

    def describe(self) -> str:
        """``severity high and above, status fail or error, resource contains 'tag'``."""
        parts = []
        if self.severity is not None:
            parts.append(f"severity {self.severity.label} and above")
        if self.statuses:
            parts.append("status " + " or ".join(status.value for status in self.statuses))
        if self.resource:
            parts.append(f"resource contains {self.resource!r}")
        if self.framework is not None:
            parts.append(f"rules mapped to {self.framework.name}")
        return ", ".join(parts)
