"""Baseline files: the fingerprints of known failures, so only new ones fail a CI gate.

Version 2 keeps each failure's rule, resource and message beside its fingerprint, one failure
a line, sorted by rule and resource, so a baseline's diff can be reviewed in a pull request.
Version 1 (fingerprints only) is still read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from maa_guard.errors import InputError
from maa_guard.model import Finding, Status

BASELINE_VERSION = 2
_FINGERPRINTS_ONLY = 1
_HINT = "regenerate it with 'maa-guard scan --write-baseline FILE'"


# Characters that would hide or reorder text in a diff view, and lone surrogates (no UTF-8 for
# them): written as JSON escapes, which read back as the same string.
_HIDDEN = re.compile(
    "[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufffe\uffff\ud800-\udfff]"
)


def baseline_document(findings: Iterable[Finding], tenant_id: str) -> str:
    """The failures, one per line (the first of each fingerprint), by rule and resource."""
    failures: dict[str, Finding] = {}
    for finding in sorted((f for f in findings if f.status is Status.FAIL), key=_order):
        failures.setdefault(finding.fingerprint, finding)
    head = {"schema_version": BASELINE_VERSION, "tool": "maa-guard", "tenant_id": tenant_id}
    rows = ",\n".join(f"    {_entry(finding)}" for finding in failures.values())
    body = f"[\n{rows}\n  ]" if rows else "[]"
    text = f'{json.dumps(head, indent=2, ensure_ascii=False)[:-2]},\n  "findings": {body}\n}}\n'
    return _HIDDEN.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _order(finding: Finding) -> tuple[str, ...]:
    resource = finding.resource
    return (
        finding.rule_id,
        resource.type,
        resource.id.casefold(),
        resource.id,
        finding.fingerprint,
    )


def _entry(finding: Finding) -> str:
    resource = finding.resource
    entry = {
        "rule_id": finding.rule_id,
        "resource": {
            "type": resource.type,
            "id": resource.id,
            "display_name": resource.display_name,
        },
        "message": finding.message,
        "fingerprint": finding.fingerprint,
    }
    return json.dumps(entry, ensure_ascii=False)


def load_baseline(path: Path) -> frozenset[str]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"baseline file {path} not found", _HINT) from None
    except RecursionError:
        raise InputError(f"{path}: not a valid baseline: nested too deeply", _HINT) from None
    except ValueError as error:  # not JSON, not UTF-8, or an integer too long to convert
        raise InputError(f"{path}: not a valid baseline: {error}", _HINT) from None
    except OSError as error:
        raise InputError(f"cannot read baseline {path}: {error.strerror}") from None
    version = document.get("schema_version") if isinstance(document, dict) else None
    if version == _FINGERPRINTS_ONLY:
        return _bare_fingerprints(document, path)
    if version != BASELINE_VERSION:
        raise InputError(
            f"{path}: schema_version: expected {_FINGERPRINTS_ONLY} or {BASELINE_VERSION}", _HINT
        )
    entries = document.get("findings")
    if not isinstance(entries, list):
        raise InputError(f"{path}: findings: expected a list", _HINT)
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("fingerprint"), str):
            raise InputError(
                f"{path}: findings[{index}]: expected an object with a fingerprint", _HINT
            )
    return frozenset(entry["fingerprint"] for entry in entries)


def _bare_fingerprints(document: dict[str, object], path: Path) -> frozenset[str]:
    """Version 1: ``fingerprints``, a list of strings."""
    fingerprints = document.get("fingerprints")
    if not isinstance(fingerprints, list) or not all(isinstance(f, str) for f in fingerprints):
        raise InputError(f"{path}: fingerprints: expected a list of strings", _HINT)
    return frozenset(fingerprints)
