"""Scanning many tenants: each in its own worker with its own credential and throttle budgets.

A tenant's scan is the ordinary live scan (``maa_guard.scan.run_scan``) given an environment
built for that tenant, so every tenant gets exactly what a single ``maa-guard scan`` would. The
worker writes the tenant's own reports and returns only a summary, so memory does not grow with
the size of the fleet. A tenant that fails (sign-in, configuration, an unexpected error) becomes
an ``error`` row; the others go on.

A tenant's data is filed only under its own entry: when the tenant collected is not the entry's
``tenant_id`` (the entry's credentials or endpoint reach another tenant), the row is an
``error`` and nothing of it is written or recorded.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from maa_guard.errors import (
    EXIT_FINDINGS,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    MaaGuardError,
)
from maa_guard.evaluate.engine import ScanResult
from maa_guard.fleet.tenants import FleetTenant
from maa_guard.gate.decision import exit_code
from maa_guard.reporters import OutputFormat, RenderOptions
from maa_guard.reporters.summary import SEVERITIES, incomplete_sources, summarise, unverified
from maa_guard.scan.live import LiveOptions
from maa_guard.scan.pipeline import ScanRequest, run_scan, write_outputs
from maa_guard.scan.since import recorded_snapshot_path

log = logging.getLogger("maa_guard.fleet")

# Worst first: a tenant that could not be configured, then findings, then could-not-verify.
_RANK = {EXIT_OK: 0, EXIT_INCOMPLETE: 1, EXIT_FINDINGS: 2, EXIT_USAGE: 3}
_TENANT_VARIABLES = (
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "MAA_GUARD_ACCESS_TOKEN",
)
_EXTENSIONS = {
    OutputFormat.JSON: "json",
    OutputFormat.HTML: "html",
    OutputFormat.SARIF: "sarif",
    OutputFormat.JUNIT: "xml",
    OutputFormat.MARKDOWN: "md",
    OutputFormat.CSV: "csv",
}
Recorder = Callable[[ScanResult], None]


@dataclass(frozen=True, slots=True)
class FleetOptions:
    environ: Mapping[str, str]
    cwd: Path
    today: date
    parallel: int = 4
    out_dir: Path | None = None
    formats: tuple[OutputFormat, ...] = (OutputFormat.JSON, OutputFormat.HTML)
    recorder: Recorder | None = None


@dataclass(frozen=True, slots=True)
class TenantOutcome:
    name: str
    tenant_id: str
    status: str
    exit_code: int
    seconds: float
    failing: dict[str, int] = field(default_factory=dict)
    unverified: int = 0
    incomplete_sources: tuple[str, ...] = ()
    message: str = ""
    hint: str = ""
    reports: dict[str, str] = field(default_factory=dict)


def fleet_exit_code(outcomes: Sequence[TenantOutcome]) -> int:
    """The worst tenant's exit code."""
    return max((o.exit_code for o in outcomes), key=lambda code: _RANK.get(code, 3), default=0)


def scan_fleet(
    tenants: Sequence[FleetTenant],
    options: FleetOptions,
    on_done: Callable[[TenantOutcome], None] = lambda outcome: None,
) -> list[TenantOutcome]:
    """Every tenant, ``options.parallel`` worker processes at a time; outcomes in file order.

    Processes, not threads: a scan spends most of its CPU in the HTTP stack and JSON, which
    threads would serialise on one core; a process also keeps one tenant's crash to itself.
    """
    outcomes: dict[str, TenantOutcome] = {}
    portable = replace(options, environ=dict(options.environ))
    workers = max(1, min(options.parallel, len(tenants)))
    context = multiprocessing.get_context(_start_method())
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(scan_tenant, tenant, portable): tenant for tenant in tenants}
        for future in as_completed(futures):
            tenant = futures[future]
            outcome = _outcome_of(future, tenant)
            outcomes[tenant.name] = outcome
            on_done(outcome)
    return [outcomes[tenant.name] for tenant in tenants]


def _start_method() -> str:
    """Fork where the platform has it: workers inherit the imported Graph stack, which costs a
    spawned worker a second of CPU before its first request."""
    if "fork" in multiprocessing.get_all_start_methods():
        import maa_guard.collect  # noqa: F401  (imported once, before the fork)

        return "fork"
    return "spawn"


def _outcome_of(future: Future[TenantOutcome], tenant: FleetTenant) -> TenantOutcome:
    try:
        return future.result()
    except Exception as error:  # the worker process died (out of memory, killed)
        return _failed(tenant, time.monotonic(), EXIT_INCOMPLETE, f"worker failed: {error!r}", "")


def scan_tenant(tenant: FleetTenant, options: FleetOptions) -> TenantOutcome:
    started = time.monotonic()
    try:
        request = _request(tenant, options)
        result = run_scan(
            request, tenant_environ(tenant, options.environ), options.cwd, options.today
        )
        check_identity(tenant, result)
        reports = _write_reports(tenant, result, options)
        if options.recorder is not None:
            options.recorder(result)
    except MaaGuardError as error:
        return _failed(tenant, started, error.exit_code, error.message, error.hint)
    except Exception as error:  # one tenant's surprise must not stop the fleet
        log.debug("tenant %s failed", tenant.name, exc_info=True)
        return _failed(tenant, started, EXIT_INCOMPLETE, f"internal error: {error!r}", "")
    return _summary(tenant, result, reports, time.monotonic() - started)


def check_identity(tenant: FleetTenant, result: ScanResult) -> None:
    """The tenant collected must be the entry's: otherwise its data would be filed, reported
    and recorded under another tenant's name."""
    collected = result.snapshot.tenant
    if collected.id.strip().lower() == tenant.tenant_id.strip().lower():
        return
    named = f" ({collected.display_name})" if collected.display_name else ""
    raise ConfigError(
        f"the credentials of this entry reached tenant {collected.id}{named}, not its "
        f"tenant_id {tenant.tenant_id}: nothing of it was written or recorded",
        "check the entry's client_id, certificate or token and its graph_endpoint, or correct "
        "its tenant_id",
    )


def _request(tenant: FleetTenant, options: FleetOptions) -> ScanRequest:
    """A recorded fleet builds each tenant's collection on the last one it kept of it (the
    user data folder): only what changed since is read."""
    flags = {"fail_on": tenant.fail_on, "skip_rules": list(tenant.skip_rules) or None}
    endpoint = tenant.graph_endpoint or tenant.cloud
    kept = (
        recorded_snapshot_path(options.environ, endpoint, tenant.tenant_id)
        if options.recorder is not None
        else None
    )
    live = LiveOptions(
        tenant.auth,
        tenant.cloud,
        tenant.graph_endpoint,
        tenant.timeout,
        tenant.days,
        quiet=True,
        since=kept,
        own_copy=True,
    )
    return ScanRequest(None, False, tenant.config, flags, live)


def tenant_environ(tenant: FleetTenant, environ: Mapping[str, str]) -> dict[str, str]:
    """The process environment without another tenant's sign-in variables, plus this tenant's."""
    env = {k: v for k, v in environ.items() if k not in _TENANT_VARIABLES}
    env["AZURE_TENANT_ID"] = tenant.tenant_id
    optional = {
        "AZURE_CLIENT_ID": tenant.client_id,
        "AZURE_CLIENT_CERTIFICATE_PATH": tenant.certificate_path,
        "AZURE_FEDERATED_TOKEN_FILE": tenant.federated_token_file,
        "AZURE_AUTHORITY_HOST": tenant.authority_host,
        "AZURE_CLIENT_SECRET": _secret(tenant.client_secret_env, environ),
        "AZURE_CLIENT_CERTIFICATE_PASSWORD": _secret(tenant.certificate_password_env, environ),
        "MAA_GUARD_ACCESS_TOKEN": _secret(tenant.token_env, environ),
    }
    env.update({name: value for name, value in optional.items() if value})
    return env


def _secret(variable: str | None, environ: Mapping[str, str]) -> str | None:
    return environ.get(variable) if variable else None


def _write_reports(
    tenant: FleetTenant, result: ScanResult, options: FleetOptions
) -> dict[str, str]:
    outputs = report_paths(tenant, options.out_dir, options.formats)
    write_outputs(result, outputs, RenderOptions(color=False, width=120))
    return {fmt.value: path.name for fmt, path in outputs}


def report_paths(
    tenant: FleetTenant, out_dir: Path | None, formats: Sequence[OutputFormat]
) -> list[tuple[OutputFormat, Path]]:
    """The tenant's report files in ``out_dir``, one per format (none without a folder)."""
    if out_dir is None:
        return []
    stem = report_stem(tenant)
    return [(fmt, out_dir / f"{stem}.{_EXTENSIONS[fmt]}") for fmt in formats]


def tenant_inputs(tenants: Sequence[FleetTenant]) -> list[tuple[str, Path]]:
    """The files each tenant's scan reads, which no report may overwrite."""
    found = []
    for tenant in tenants:
        named = {
            "configuration": tenant.config,
            "certificate": tenant.certificate_path,
            "federated token file": tenant.federated_token_file,
        }
        found += [
            (f"the {what} of tenant {tenant.name}", Path(path))
            for what, path in named.items()
            if path
        ]
    return found


def report_stem(tenant: FleetTenant) -> str:
    """A file-name-safe stem; the tenant id's digits keep two similar names apart."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", tenant.name).strip("-.")[:60] or "tenant"
    return f"{readable}-{re.sub(r'[^A-Za-z0-9]', '', tenant.tenant_id)[:8].lower()}"


def _summary(
    tenant: FleetTenant, result: ScanResult, reports: dict[str, str], seconds: float
) -> TenantOutcome:
    summary = summarise(result)
    return TenantOutcome(
        name=tenant.name,
        tenant_id=tenant.tenant_id,
        status=summary.verdict.value,
        exit_code=exit_code(result),
        seconds=seconds,
        failing={severity.label: summary.failing[severity] for severity in SEVERITIES},
        unverified=len(unverified(result)),
        incomplete_sources=tuple(incomplete_sources(result)),
        reports=reports,
    )


def _failed(
    tenant: FleetTenant, started: float, code: int, message: str, hint: str
) -> TenantOutcome:
    return TenantOutcome(
        name=tenant.name,
        tenant_id=tenant.tenant_id,
        status="error",
        exit_code=code,
        seconds=time.monotonic() - started,
        message=message,
        hint=hint,
    )
