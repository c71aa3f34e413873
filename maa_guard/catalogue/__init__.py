"""The rule catalogue: one TOML file per rule under ``rules/<area>/``, data only (``loader``), the
controls of other frameworks each rule supports (``frameworks``), and its human-readable pages
(``pages``). Imports ``snapshot`` (the data source names), ``model``,
``storage`` and ``errors``.
"""

from __future__ import annotations

from maa_guard.catalogue.frameworks import (
    FRAMEWORKS,
    ControlMapping,
    Framework,
    controls_text,
    framework_choices,
    framework_named,
)
from maa_guard.catalogue.loader import (
    AREAS,
    REQUIRED_FIELDS,
    RULE_ID,
    SLUG,
    Rule,
    load_catalogue,
    load_rule,
    rules_directory,
    rules_mapped_to,
    validate_rule_data,
)

__all__ = [
    "AREAS",
    "FRAMEWORKS",
    "REQUIRED_FIELDS",
    "RULE_ID",
    "SLUG",
    "ControlMapping",
    "Framework",
    "Rule",
    "controls_text",
    "framework_choices",
    "framework_named",
    "load_catalogue",
    "load_rule",
    "rules_directory",
    "rules_mapped_to",
    "validate_rule_data",
]
