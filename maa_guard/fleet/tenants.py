"""The tenants file of `maa-guard fleet scan`: one entry per tenant, defaults, and shards.

```toml
[defaults]                      # optional; any tenant key except name and tenant_id
auth = "certificate"
client_id = "11111111-2222-3333-4444-555555555555"   # the partner's multi-tenant app
certificate_path = "/secrets/maa-guard.pem"

[[tenants]]
name = "Contoso"
tenant_id = "4c8e2f1a-7b3d-4e59-a1c6-9d0f2b7e3a58"
config = "contoso.toml"          # this tenant's maa-guard.toml (relative to this file)
fail_on = "medium"
```

Secrets are never written in the file: ``client_secret_env``, ``token_env`` and
``certificate_password_env`` name environment variables that hold them.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from maa_guard.errors import ConfigError, UsageError
from maa_guard.storage.tomlfile import TOMLDecodeError, parse_toml

AUTH_METHODS = ("certificate", "env", "workload-identity", "managed-identity", "azure-cli", "token")
_SECRET_KEYS = {"client_secret", "token", "access_token", "certificate_password", "password"}
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
# As on the command line (--days, --timeout): ten years of audit log, thirty days of waiting.
_MOST = {"days": 3650, "timeout": 30 * 86400}


@dataclass(frozen=True, slots=True)
class FleetTenant:
    name: str
    tenant_id: str
    auth: str = "certificate"
    cloud: str = "global"
    graph_endpoint: str | None = None
    authority_host: str | None = None
    client_id: str | None = None
    certificate_path: str | None = None
    certificate_password_env: str | None = None
    client_secret_env: str | None = None
    token_env: str | None = None
    federated_token_file: str | None = None
    config: Path | None = None
    fail_on: str | None = None
    skip_rules: tuple[str, ...] = ()
    days: int = 30
    timeout: float = 1800.0


_STRING_KEYS = {
    f.name for f in fields(FleetTenant) if f.name not in {"config", "skip_rules", "days", "timeout"}
}
_KEYS = {f.name for f in fields(FleetTenant)}


def load_tenants(path: Path) -> tuple[FleetTenant, ...]:
    """Parse and check the whole file before any tenant is scanned (exit 2 on any problem)."""
    try:
        table = parse_toml(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(
            f"cannot read tenants file {path}: {error.strerror}",
            "give a TOML file of [[tenants]] (docs/fleet.md)",
        ) from None
    except (TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML: {error}", "see docs/fleet.md") from None
    return parse_tenants(table, path)


def parse_tenants(table: Mapping[str, Any], path: Path) -> tuple[FleetTenant, ...]:
    origin = str(path)
    unknown = sorted(set(table) - {"defaults", "tenants"})
    if unknown:
        raise ConfigError(f"{origin}: unknown key {unknown[0]!r}", "use [defaults] and [[tenants]]")
    defaults = _table(table.get("defaults", {}), f"{origin}: defaults")
    entries = table.get("tenants")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{origin}: no [[tenants]] entries", "list each tenant as [[tenants]]")
    tenants = tuple(
        _tenant(
            {**defaults, **_table(entry, f"{origin}: tenants[{i}]")},
            f"{origin}: tenants[{i}]",
            path.parent,
        )
        for i, entry in enumerate(entries)
    )
    _check_unique(tenants, origin)
    return tenants


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table")
    return dict(value)


def _tenant(body: dict[str, Any], where: str, base: Path) -> FleetTenant:
    _check_keys(body, where)
    for key in ("name", "tenant_id"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            raise ConfigError(f"{where}: {key} is required (a non-empty string)")
    for key in _STRING_KEYS & set(body):
        if not isinstance(body[key], str):
            raise ConfigError(f"{where}.{key}: expected a string")
    tenant = FleetTenant(name=body["name"].strip(), tenant_id=body["tenant_id"].strip())
    values = {k: v for k, v in body.items() if k in _STRING_KEYS - {"name", "tenant_id"}}
    tenant = replace(tenant, **values, **_typed(body, where, base))
    if tenant.auth not in AUTH_METHODS:
        raise ConfigError(
            f"{where}.auth: {tenant.auth!r} is not a fleet sign-in method",
            f"choose from {', '.join(AUTH_METHODS)}",
        )
    return tenant


def _check_keys(body: Mapping[str, Any], where: str) -> None:
    for key in body:
        if key in _SECRET_KEYS:
            raise ConfigError(
                f"{where}.{key}: secrets are not read from the tenants file",
                f"put it in an environment variable and name it with {key.split('_')[0]}_..._env "
                "(client_secret_env, token_env, certificate_password_env)",
            )
        if key not in _KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}", "see docs/fleet.md")


def _typed(body: Mapping[str, Any], where: str, base: Path) -> dict[str, Any]:
    typed: dict[str, Any] = {}
    if "config" in body:
        if not isinstance(body["config"], str):
            raise ConfigError(f"{where}.config: expected a path string")
        typed["config"] = base / body["config"]
    if "skip_rules" in body:
        rules = body["skip_rules"]
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise ConfigError(f"{where}.skip_rules: expected a list of rule ids")
        typed["skip_rules"] = tuple(rules)
    for key, kind in (("days", int), ("timeout", (int, float))):
        if key in body:
            value = body[key]
            if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
                raise ConfigError(f"{where}.{key}: expected a positive number")
            if not math.isfinite(value) or value > _MOST[key]:
                raise ConfigError(f"{where}.{key}: at most {_MOST[key]}")
            typed[key] = value
    return typed


def _check_unique(tenants: Sequence[FleetTenant], origin: str) -> None:
    seen: set[str] = set()
    for tenant in tenants:
        key = tenant.name.lower()
        if key in seen:
            raise ConfigError(
                f"{origin}: two tenants are named {tenant.name!r}", "names are unique"
            )
        seen.add(key)


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` with 1 <= K <= N."""
    match = _SHARD.match(text)
    if match is None or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise UsageError(f"--shard {text!r}: expected K/N with 1 <= K <= N", "e.g. --shard 2/8")
    return int(match.group(1)), int(match.group(2))


def shard_of(tenants: Sequence[FleetTenant], shard: int, shards: int) -> tuple[FleetTenant, ...]:
    """A stable share: by a hash of the tenant id, so adding a tenant moves no other tenant."""
    return tuple(t for t in tenants if _bucket(t.tenant_id, shards) == shard - 1)


def _bucket(tenant_id: str, shards: int) -> int:
    digest = hashlib.sha256(tenant_id.strip().lower().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards
