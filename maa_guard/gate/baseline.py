"""Baseline files: the fingerprints of known failures, so only new ones fail a CI gate."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from maa_guard.errors import InputError
from maa_guard.model import Finding, Status

BASELINE_VERSION = 1
_HINT = "regenerate it with 'maa-guard scan --write-baseline FILE'"


def baseline_document(findings: Iterable[Finding], tenant_id: str) -> str:
    fingerprints = sorted({f.fingerprint for f in findings if f.status is Status.FAIL})
    document = {
        "schema_version": BASELINE_VERSION,
        "tool": "maa-guard",
        "tenant_id": tenant_id,
        "fingerprints": fingerprints,
    }
    return json.dumps(document, indent=2) + "\n"


def load_baseline(path: Path) -> frozenset[str]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"baseline file {path} not found", _HINT) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not a valid baseline: {error}", _HINT) from None
    except OSError as error:
        raise InputError(f"cannot read baseline {path}: {error.strerror}") from None
    if not isinstance(document, dict) or document.get("schema_version") != BASELINE_VERSION:
        raise InputError(f"{path}: schema_version: expected {BASELINE_VERSION}", _HINT)
    fingerprints = document.get("fingerprints")
    if not isinstance(fingerprints, list) or not all(isinstance(f, str) for f in fingerprints):
        raise InputError(f"{path}: fingerprints: expected a list of strings", _HINT)
    return frozenset(fingerprints)
