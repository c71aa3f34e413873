"""Settings: defaults < config file < ``MAA_GUARD_*`` environment variables < flags.

The config file is maa-guard.toml, or [tool.maa-guard] in pyproject.toml.

Every key is documented in docs/configuration.md. Unknown keys and bad values are errors that
name the key.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from maa_guard.catalogue import Rule
from maa_guard.errors import ConfigError
from maa_guard.model import Severity
from maa_guard.storage.tomlfile import TOMLDecodeError, read_toml
from maa_guard.workloads import WORKLOADS

DEFAULT_CONFIG = "maa-guard.toml"
# ``auto``: the access-policy property that looks like an exclusion list (see
# ``maa_guard.exclusions.provenance``); Microsoft Graph publishes none.
AUTO_EXCLUSIONS_PROPERTY = "auto"
DEFAULT_EXCLUSIONS_PROPERTY = AUTO_EXCLUSIONS_PROPERTY
# The property an exclusion change draft writes while the setting is ``auto``.
WRITTEN_EXCLUSIONS_PROPERTY = "excludedApplicationIds"
ENVIRONMENT = {
    "MAA_GUARD_FAIL_ON": "fail_on",
    "MAA_GUARD_ALLOW_INCOMPLETE": "allow_incomplete",
    "MAA_GUARD_BASELINE": "baseline",
    "MAA_GUARD_EXCLUSIONS_PROPERTY": "exclusions_property",
    "MAA_GUARD_TRUST_DECLARED_EXCLUSIONS": "trust_declared_exclusions",
}
# The [connection] table's keys: how the live commands reach Graph (see Connection).
CONNECTION_ENVIRONMENT = {
    "MAA_GUARD_AUTH": "auth",
    "MAA_GUARD_GRAPH_ENDPOINT": "graph_endpoint",
    "MAA_GUARD_CLOUD": "cloud",
    "MAA_GUARD_TENANT_ID": "tenant_id",
}
_CONNECTION_KEYS = set(CONNECTION_ENVIRONMENT.values())
_BOOLEAN_KEYS = {"allow_incomplete", "exit_zero", "trust_declared_exclusions"}
_GRAPH_KEYS = {"exclusions_property", "trust_declared_exclusions"}
_SCAN_KEYS = {"fail_on", "allow_incomplete", "rules", "skip_rules", "baseline"}
# [watch] and [[notify]] belong to `maa-guard watch` (maa_guard/watch/config.py).
_TOP_KEYS = {
    "scan",
    "graph",
    "connection",
    "rules",
    "suppressions",
    "exclusions",
    "watch",
    "notify",
}
_RULE_KEYS = {"enabled", "severity"}
_SUPPRESSION_KEYS = {"rule", "resource", "reason", "expires"}
_EXCLUSION_KEYS = {"policy", "app", "owner", "reason", "review_by"}
# List parameters whose entries come from a closed set.
_ALLOWED_VALUES = {"high_severity_workloads": {workload.name for workload in WORKLOADS}}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


@dataclass(frozen=True, slots=True)
class RuleSettings:
    enabled: bool = True
    severity: Severity | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SuppressionEntry:
    rule: str
    resource: str
    reason: str
    expires: date


@dataclass(frozen=True, slots=True)
class DeclaredExclusion:
    """An ``[[exclusions]]`` entry: the exclusions a team has agreed to, as code."""

    policy: str
    app: str
    owner: str = ""
    reason: str = ""
    review_by: date | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    fail_on: Severity = Severity.HIGH
    allow_incomplete: bool = False
    exit_zero: bool = False
    only_rules: tuple[str, ...] = ()
    skip_rules: tuple[str, ...] = ()
    baseline: Path | None = None
    exclusions_property: str = DEFAULT_EXCLUSIONS_PROPERTY
    trust_declared_exclusions: bool = False
    rules: dict[str, RuleSettings] = field(default_factory=dict)
    suppressions: tuple[SuppressionEntry, ...] = ()
    declared_exclusions: tuple[DeclaredExclusion, ...] = ()
    source: str = "defaults"

    def rule_settings(self, rule_id: str) -> RuleSettings:
        return self.rules.get(rule_id, RuleSettings())

    def parameters(self, rule: Rule) -> dict[str, Any]:
        return {**rule.parameters, **self.rule_settings(rule.id).parameters}

    def selects(self, rule_id: str) -> bool:
        if self.only_rules and rule_id not in self.only_rules:
            return False
        return rule_id not in self.skip_rules and self.rule_settings(rule_id).enabled

    @property
    def written_exclusions_property(self) -> str:
        """The property an exclusion change writes: the configured name, never ``auto``."""
        if self.exclusions_property == AUTO_EXCLUSIONS_PROPERTY:
            return WRITTEN_EXCLUSIONS_PROPERTY
        return self.exclusions_property


def find_config_file(explicit: Path | None, cwd: Path) -> tuple[Path, dict[str, Any]] | None:
    """The config table to use: --config, else maa-guard.toml, else [tool.maa-guard]."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} not found", "check the --config path")
        if explicit.name == "pyproject.toml":
            table = _tool_table(explicit)
            if table is None:
                raise ConfigError(f"{explicit}: no [tool.maa-guard] table")
            return explicit, table
        return explicit, _read(explicit)
    candidate = cwd / DEFAULT_CONFIG
    if candidate.is_file():
        return candidate, _read(candidate)
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        table = _tool_table(pyproject)
        if table is not None:
            return pyproject, table
    return None


def _tool_table(pyproject: Path) -> dict[str, Any] | None:
    tool = _read(pyproject).get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{pyproject}: tool: expected a table")
    table = tool.get("maa-guard")
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: tool.maa-guard: expected a table")
    return table


def _read(path: Path) -> dict[str, Any]:
    try:
        return read_toml(path)
    except TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}", "fix the TOML syntax") from error
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text", "save the file as UTF-8") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from error


def load_settings(
    catalogue: Mapping[str, Rule],
    config: tuple[Path, dict[str, Any]] | None,
    environ: Mapping[str, str],
    flags: Mapping[str, Any],
) -> Settings:
    settings = Settings()
    if config is not None:
        path, table = config
        settings = _apply_file(settings, table, catalogue, str(path))
    settings = _apply_scalars(settings, _from_environment(environ), catalogue, "environment")
    return _apply_scalars(
        settings, {k: v for k, v in flags.items() if v is not None}, catalogue, "command line"
    )


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for variable, key in ENVIRONMENT.items():
        if variable not in environ:
            continue
        text = environ[variable].strip()
        if key in _BOOLEAN_KEYS:
            values[key] = _parse_bool(text, variable)
        else:
            values[key] = text
    return values


def _parse_bool(text: str, name: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ConfigError(
        f"{name}: expected true or false, got {text!r}", "use true, false, 1, 0, yes or no"
    )


def _apply_file(
    settings: Settings, table: dict[str, Any], catalogue: Mapping[str, Rule], origin: str
) -> Settings:
    _reject_unknown(table, _TOP_KEYS, "", origin)
    scan = _table(table, "scan", origin)
    _reject_unknown(scan, _SCAN_KEYS, "scan.", origin)
    graph = _table(table, "graph", origin)
    _reject_unknown(graph, _GRAPH_KEYS, "graph.", origin)
    _reject_unknown(_table(table, "connection", origin), _CONNECTION_KEYS, "connection.", origin)
    settings = _apply_scalars(settings, {**scan, **graph}, catalogue, origin)
    return replace(
        settings,
        rules=_rule_tables(_table(table, "rules", origin), catalogue, origin),
        suppressions=tuple(
            _suppression(item, f"suppressions[{i}]", catalogue, origin)
            for i, item in enumerate(_array(table, "suppressions", origin))
        ),
        declared_exclusions=tuple(
            _declared(item, f"exclusions[{i}]", origin)
            for i, item in enumerate(_array(table, "exclusions", origin))
        ),
        source=origin,
    )


def _apply_scalars(
    settings: Settings, values: Mapping[str, Any], catalogue: Mapping[str, Rule], origin: str
) -> Settings:
    changes: dict[str, Any] = {}
    for key, value in values.items():
        where = f"{origin}: {key}"
        if key == "fail_on":
            changes["fail_on"] = _severity(value, where)
        elif key in _BOOLEAN_KEYS:
            changes[key] = _typed(value, bool, where, "true or false")
        elif key in ("rules", "skip_rules"):
            ids = _rule_ids(value, catalogue, where)
            changes["only_rules" if key == "rules" else "skip_rules"] = ids
        elif key == "baseline":
            changes["baseline"] = Path(_typed(value, str, where, "a file path")) if value else None
        elif key == "exclusions_property":
            name = _nonempty(value, where)
            auto = name.lower() == AUTO_EXCLUSIONS_PROPERTY
            changes[key] = AUTO_EXCLUSIONS_PROPERTY if auto else name
    return replace(settings, **changes)


def _rule_tables(
    rules: dict[str, Any], catalogue: Mapping[str, Rule], origin: str
) -> dict[str, RuleSettings]:
    result = {}
    for rule_id, body in rules.items():
        where = f"{origin}: rules.{rule_id}"
        if rule_id not in catalogue:
            raise ConfigError(f"{where}: unknown rule", "run 'maa-guard rules list' for the IDs")
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: expected a table")
        result[rule_id] = _rule_settings(body, catalogue[rule_id], where)
    return result


def _rule_settings(body: dict[str, Any], rule: Rule, where: str) -> RuleSettings:
    _reject_unknown(
        body, _RULE_KEYS | set(rule.parameters), f"rules.{rule.id}.", where.split(":")[0]
    )
    parameters = {}
    for name, default in rule.parameters.items():
        if name in body:
            parameters[name] = _parameter(body[name], default, f"{where}.{name}")
    severity = body.get("severity")
    return RuleSettings(
        enabled=_typed(body.get("enabled", True), bool, f"{where}.enabled", "true or false"),
        severity=None if severity is None else _severity(severity, f"{where}.severity"),
        parameters=parameters,
    )


# Rule numbers are days, hours, characters or people: far below this, and date arithmetic with
# anything above it can overflow.
MAX_RULE_NUMBER = 1_000_000


def _parameter(value: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool) or not isinstance(default, (int, list)):
        return _typed(value, type(default), where, type(default).__name__)
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{where}: expected a list of strings")
        if not value:
            raise ConfigError(
                f"{where}: expected at least one entry", "to turn the rule off, set enabled = false"
            )
        unknown = sorted(set(value) - _ALLOWED_VALUES.get(where.rsplit(".", 1)[-1], set(value)))
        if unknown:
            raise ConfigError(f"{where}: unknown value {unknown[0]!r}")
        return value
    if type(value) is not int or not 0 <= value <= MAX_RULE_NUMBER:
        raise ConfigError(
            f"{where}: expected a whole number from 0 to {MAX_RULE_NUMBER:,}, got {value!r}"
        )
    return value


def _suppression(
    item: Any, where: str, catalogue: Mapping[str, Rule], origin: str
) -> SuppressionEntry:
    body = _entry(item, where, _SUPPRESSION_KEYS, {"rule", "resource", "reason", "expires"}, origin)
    rule = _nonempty(body["rule"], f"{origin}: {where}.rule").upper()
    if rule not in catalogue:
        raise ConfigError(f"{origin}: {where}.rule: unknown rule {rule!r}")
    return SuppressionEntry(
        rule=rule,
        resource=_nonempty(body["resource"], f"{origin}: {where}.resource"),
        reason=_nonempty(body["reason"], f"{origin}: {where}.reason"),
        expires=_date(body["expires"], f"{origin}: {where}.expires"),
    )


def _declared(item: Any, where: str, origin: str) -> DeclaredExclusion:
    body = _entry(item, where, _EXCLUSION_KEYS, {"policy", "app"}, origin)
    review_by = body.get("review_by")
    return DeclaredExclusion(
        policy=_nonempty(body["policy"], f"{origin}: {where}.policy"),
        app=_nonempty(body["app"], f"{origin}: {where}.app"),
        owner=_typed(body.get("owner", ""), str, f"{origin}: {where}.owner", "a string"),
        reason=_typed(body.get("reason", ""), str, f"{origin}: {where}.reason", "a string"),
        review_by=None if review_by is None else _date(review_by, f"{origin}: {where}.review_by"),
    )


def _entry(
    item: Any, where: str, allowed: set[str], required: set[str], origin: str
) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ConfigError(f"{origin}: {where}: expected a table")
    _reject_unknown(item, allowed, f"{where}.", origin)
    missing = sorted(required - set(item))
    if missing:
        raise ConfigError(
            f"{origin}: {where}: missing required key {missing[0]!r}", "see docs/configuration.md"
        )
    return item


def _reject_unknown(table: Mapping[str, Any], allowed: set[str], prefix: str, origin: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{origin}: unknown key {prefix}{key}",
                f"allowed here: {', '.join(sorted(allowed))}",
            )


def _table(table: Mapping[str, Any], key: str, origin: str) -> dict[str, Any]:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{origin}: {key}: expected a table")
    return value


def _array(table: Mapping[str, Any], key: str, origin: str) -> list[Any]:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{origin}: {key}: expected an array of tables ([[{key}]])")
    return value


def _typed(value: Any, kind: type, where: str, expected: str) -> Any:
    if type(value) is not kind:
        raise ConfigError(f"{where}: expected {expected}, got {value!r}")
    return value


def _nonempty(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def _severity(value: Any, where: str) -> Severity:
    if isinstance(value, Severity):
        return value
    try:
        return Severity.parse(_typed(value, str, where, "a severity"))
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None


def _date(value: Any, where: str) -> date:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected a date (YYYY-MM-DD), got {value!r}")


def _rule_ids(value: Any, catalogue: Mapping[str, Rule], where: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{where}: expected a list of rule IDs")
    ids = tuple(item.strip().upper() for item in items if item.strip())
    unknown = [rule_id for rule_id in ids if rule_id not in catalogue]
    if unknown:
        raise ConfigError(
            f"{where}: unknown rule {unknown[0]}", "run 'maa-guard rules list' for the IDs"
        )
    return ids


# ---- [connection]: how the live commands and maa_guard.approval.connect() reach Graph ---------

TENANT_VARIABLE = "AZURE_TENANT_ID"
_TENANT_GUID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)
_TENANT_DOMAIN = re.compile(
    r"(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Connection:
    """Where and how to reach Graph: defaults < [connection] < ``MAA_GUARD_*`` < flags.

    ``auth`` None is the default credential chain; ``graph_endpoint`` None is the cloud's Graph.
    ``tenant_id`` stands in for ``AZURE_TENANT_ID`` when that variable is unset or empty.
    """

    auth: str | None = None
    graph_endpoint: str | None = None
    cloud: str = "global"
    tenant_id: str | None = None

    @property
    def live(self) -> bool:
        """Naming a sign-in method or an endpoint is what makes a command collect live."""
        return self.auth is not None or self.graph_endpoint is not None

    def credential_environ(self, environ: Mapping[str, str]) -> Mapping[str, str]:
        """``environ`` as the credentials read it: ``AZURE_TENANT_ID`` from ``tenant_id`` when
        the environment has none of its own (an explicit ``AZURE_TENANT_ID`` always wins)."""
        if self.tenant_id is None or environ.get(TENANT_VARIABLE):
            return environ
        return {**environ, TENANT_VARIABLE: self.tenant_id}


def load_connection(
    config: tuple[Path, dict[str, Any]] | None,
    environ: Mapping[str, str],
    flags: Mapping[str, str | None],
    *,
    auth_methods: Collection[str],
    clouds: Collection[str],
) -> Connection:
    """The connection in use. Values from the file and the environment are checked here (exit
    2, naming the key or the variable); ``flags`` are checked by their parser. An empty
    environment variable counts as unset."""
    choices = {"auth": auth_methods, "cloud": clouds}
    values: dict[str, str] = {}
    if config is not None:
        path, table = config
        section = _table(table, "connection", str(path))
        _reject_unknown(section, _CONNECTION_KEYS, "connection.", str(path))
        for key, value in section.items():
            where = f"{path}: connection.{key}"
            values[key] = _connection_value(key, _nonempty(value, where), where, choices)
    for variable, key in CONNECTION_ENVIRONMENT.items():
        text = environ.get(variable, "").strip()
        if text:
            values[key] = _connection_value(key, text, variable, choices)
    values.update({key: value for key, value in flags.items() if value is not None})
    return Connection(**values)


def _connection_value(
    key: str, value: str, where: str, choices: Mapping[str, Collection[str]]
) -> str:
    if key in choices and value not in choices[key]:
        kind = "sign-in method" if key == "auth" else "cloud"
        raise ConfigError(
            f"{where}: unknown {kind} {value!r}", f"choose one of: {', '.join(choices[key])}"
        )
    if key == "graph_endpoint" and not _http_url(value):
        raise ConfigError(
            f"{where}: {value!r} is not an http(s) URL",
            "give the Graph root, e.g. http://127.0.0.1:8080 (without /beta)",
        )
    if key == "tenant_id" and not (
        _TENANT_GUID.fullmatch(value) or _TENANT_DOMAIN.fullmatch(value)
    ):
        raise ConfigError(
            f"{where}: {value!r} is neither a tenant ID (a GUID) nor a domain",
            "e.g. 00000000-0000-0000-0000-000000000000 or contoso.onmicrosoft.com",
        )
    return value


def _http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
