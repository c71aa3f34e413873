"""The rule catalogue: one TOML file per rule under ``rules/<area>/``, data only (``loader``), and
its human-readable pages (``pages``). Imports ``snapshot`` (the data source names), ``model``,
``storage`` and ``errors``.
"""

from __future__ import annotations

from maa_guard.catalogue.loader import (
    AREAS,
    REQUIRED_FIELDS,
    RULE_ID,
    SLUG,
    Rule,
    load_catalogue,
    load_rule,
    rules_directory,
    validate_rule_data,
)

__all__ = [
    "AREAS",
    "REQUIRED_FIELDS",
    "RULE_ID",
    "SLUG",
    "Rule",
    "load_catalogue",
    "load_rule",
    "rules_directory",
    "validate_rule_data",
]
