"""Live, read-only collection of just what one app's review needs, into a Snapshot.

APP is resolved first (a mistyped APP costs a request or two, not an audit log). Then, at once:
the access policies, the audit log of the window (read whole, in the collector's parallel time
slices, and filtered here: the Intune audit API documents no filter on the actor, and the same
events give the audit-log exclusions of the policies) and its exclusion history, and one
``$batch`` of every other first read, none depending on another: the app's service principal,
owners and Graph grants, the Microsoft Graph service principal (to name the grants), its
application with owners and federated credentials (``collect.apps.one_app_reads``),
Conditional Access, the tenant's facts and the app's sign-in report row. The snapshot holds
that one app; each source's completeness is recorded as the collector records it, and
reported as it finishes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from maa_guard import __version__
from maa_guard.collect.apps import collect_one_app, one_app_reads
from maa_guard.collect.batched import read_together
from maa_guard.collect.collector import DEFAULT_WINDOW_DAYS, Progress, collection_window
from maa_guard.collect.common import Outcome, run_sync
from maa_guard.collect.graph import GraphClient
from maa_guard.collect.intune import (
    PolicyOutcome,
    collect_audit_events,
    collect_exclusion_history,
    collect_policies,
    merge_audit_events,
)
from maa_guard.collect.tenant import (
    CONDITIONAL_ACCESS,
    TENANT_FACTS,
    collect_conditional_access,
    tenant_from,
)
from maa_guard.config import Settings
from maa_guard.errors import UsageError
from maa_guard.exclusions import exclusions_from_audit_events
from maa_guard.exclusions.provenance import no_property_status, no_property_unread_status
from maa_guard.model import SourceState
from maa_guard.review.lookup import app_sign_in, resolve_live, sign_in_reads
from maa_guard.review.model import REVIEW_SOURCES
from maa_guard.review.resolve import Candidate
from maa_guard.review.verdict import find_app
from maa_guard.scan.live import DEFAULT_DAYS, LiveOptions, recorded_graph
from maa_guard.snapshot import (
    SCHEMA_VERSION,
    AccessPolicy,
    AuditEvent,
    ConditionalAccessPolicy,
    ServicePrincipal,
    SignInActivity,
    Snapshot,
    SourceStatus,
    TenantInfo,
    Window,
)

if TYPE_CHECKING:
    from maa_guard.scan.served import ServedRecording

T = TypeVar("T")


async def collect_for_review(
    client: GraphClient,
    app_ref: str,
    settings: Settings,
    window_days: int = DEFAULT_WINDOW_DAYS,
    *,
    now: datetime | None = None,
    tenant_id: str = "",
    progress: Progress | None = None,
) -> Snapshot:
    """A snapshot holding the app ``app_ref`` names and what its review needs."""
    moment = now or datetime.now(timezone.utc)
    window = collection_window(moment, window_days)
    tell = progress or _silent
    chosen = await resolve_live(client, app_ref)
    found, (audit_log, history), (ca, tenant, sps, sign_ins) = await asyncio.gather(
        _policies(client, settings, tell),
        _audit_and_history(client, window, tell),
        _batched_sources(client, chosen, window, tenant_id, tell),
    )
    app_ids = {chosen.app_id.lower(), chosen.service_principal_id.lower()}
    events = _own_events(audit_log.items, app_ids)
    parts: dict[str, Outcome[Any]] = {
        "access_policies": found.policies,
        "service_principals": sps,
        "conditional_access": ca,
        "audit_events": Outcome(events, audit_log.status),
        "sign_in_activity": sign_ins,
    }
    sources = {name: outcome.status for name, outcome in parts.items()}
    # An exclusion added before the window is known only from the exclusion history.
    exclusion_events = merge_audit_events(audit_log.items, history.items)
    read = (
        audit_log.status if audit_log.status.state is not SourceState.COMPLETE else history.status
    )
    sources["exclusions"] = _exclusions_status(found, read, settings)
    return Snapshot(
        schema_version=SCHEMA_VERSION,
        tool_version=__version__,
        collected_at=moment,
        tenant=tenant,
        window=window,
        sources=sources,
        policies=_with_own_exclusions(found.policies.items, exclusion_events, app_ids),
        service_principals=sps.items,
        conditional_access_policies=ca.items,
        audit_events=events,
        sign_in_activity=sign_ins.items,
    )


async def _audit_and_history(
    client: GraphClient, window: Window, tell: Progress
) -> tuple[Outcome[AuditEvent], Outcome[AuditEvent]]:
    """The window's events, and the access-policy events from before it."""
    return await asyncio.gather(
        _told(tell, "audit_events", collect_audit_events(client, window)),
        collect_exclusion_history(client, window),
    )


async def _batched_sources(
    client: GraphClient, chosen: Candidate, window: Window, tenant_id: str, tell: Progress
) -> tuple[
    Outcome[ConditionalAccessPolicy],
    TenantInfo,
    Outcome[ServicePrincipal],
    Outcome[SignInActivity],
]:
    """The sources whose first reads depend on nothing but the app: those reads in one
    ``$batch``, then each source's further pages and fallbacks, side by side."""
    app_id = chosen.app_id
    reads = (
        *one_app_reads(app_id, chosen.service_principal_id),
        CONDITIONAL_ACCESS,
        *TENANT_FACTS,
        *sign_in_reads(app_id),
    )
    answers = await read_together(client, reads)
    one_app = collect_one_app(client, app_id, chosen.service_principal_id, answers)
    return await asyncio.gather(
        _told(tell, "conditional_access", collect_conditional_access(client, answers)),
        tenant_from(client, answers, tenant_id),
        _told(tell, "service_principals", one_app),
        _told(tell, "sign_in_activity", app_sign_in(client, app_id, window, answers)),
    )


def _silent(source: str, status: SourceStatus, count: int) -> None:
    return None


async def _told(tell: Progress, name: str, work: Awaitable[Outcome[T]]) -> Outcome[T]:
    outcome = await work
    tell(name, outcome.status, len(outcome.items))
    return outcome


async def _policies(client: GraphClient, settings: Settings, tell: Progress) -> PolicyOutcome:
    found = await collect_policies(client, settings.exclusions_property)
    tell("access_policies", found.policies.status, len(found.policies.items))
    return found


def _own_events(events: tuple[AuditEvent, ...], app_ids: set[str]) -> tuple[AuditEvent, ...]:
    return tuple(e for e in events if (e.actor.application_id or "").lower() in app_ids)


def _with_own_exclusions(
    policies: tuple[AccessPolicy, ...], events: tuple[AuditEvent, ...], app_ids: set[str]
) -> tuple[AccessPolicy, ...]:
    """Each policy with this app's exclusions only: its policy property, then the audit log."""
    from_audit = exclusions_from_audit_events(events, [p.id for p in policies])
    return tuple(
        dataclasses.replace(
            policy,
            exclusions=tuple(
                e
                for e in (*policy.exclusions, *from_audit.get(policy.id, ()))
                if e.app_id.lower() in app_ids
            ),
        )
        for policy in policies
    )


def _exclusions_status(
    found: PolicyOutcome, audit: SourceStatus, settings: Settings
) -> SourceStatus:
    """As the collector judges it: the policies, then the audit log, then the property (with
    ``graph.trust_declared_exclusions``, ``declared`` when no policy carries one)."""
    policies = found.policies.status
    if policies.state is not SourceState.COMPLETE:
        return policies
    no_property = bool(found.policies.items) and not found.property_seen
    trust, configured = settings.trust_declared_exclusions, settings.exclusions_property
    if audit.state is not SourceState.COMPLETE:
        unread = dataclasses.replace(
            audit, state=SourceState.PARTIAL, reason=f"audit-log exclusions: {audit.reason}"
        )
        return no_property_unread_status(unread, trust, configured) if no_property else unread
    if no_property:
        return no_property_status(trust, configured, "")
    return policies


def collect_for_review_sync(
    client_factory: Callable[[], GraphClient],
    app_ref: str,
    settings: Settings,
    window_days: int = DEFAULT_WINDOW_DAYS,
    *,
    now: datetime | None = None,
    tenant_id: str = "",
    progress: Progress | None = None,
) -> Snapshot:
    """For callers without an event loop; the client is built and closed inside the loop."""

    async def run() -> Snapshot:
        async with client_factory() as client:
            return await collect_for_review(
                client,
                app_ref,
                settings,
                window_days,
                now=now,
                tenant_id=tenant_id,
                progress=progress,
            )

    return run_sync(run)


@contextmanager
def review_progress(
    stream: TextIO, environ: Mapping[str, str], quiet: bool, plain: bool = True
) -> Iterator[Progress | None]:
    """The collection progress display, with a row per source a review reads (as
    ``scan.progress.progress_display``: none where it would be plain, when ``plain`` is False)."""
    from maa_guard.scan.progress import plain_progress, rich_progress, wants_rich

    if quiet:
        yield None
    elif wants_rich(stream, environ):
        from rich.console import Console

        with rich_progress(Console(file=stream), REVIEW_SOURCES) as report:
            yield report
    else:
        yield plain_progress(stream) if plain else None


def collect_live_for_review(
    options: LiveOptions, app_ref: str, settings: Settings, environ: Mapping[str, str]
) -> Snapshot:
    """As ``live.collect_live``, for one app; progress goes to stderr."""
    from maa_guard.collect import build_credential, resolve_endpoint

    if options.days < 1:
        raise UsageError("--days must be at least 1", "the audit window, in days (default 30)")
    endpoint = resolve_endpoint(options.cloud, options.graph_endpoint)
    credential = build_credential(options.auth, endpoint, environ)
    with review_progress(sys.stderr, environ, options.quiet) as progress:
        return collect_for_review_sync(
            lambda: GraphClient(credential, endpoint, timeout=options.timeout),
            app_ref,
            settings,
            options.days,
            tenant_id=environ.get("AZURE_TENANT_ID", ""),
            progress=progress,
        )


def collect_demo_for_review(
    recorded: Snapshot,
    served: ServedRecording,
    app_ref: str,
    settings: Settings,
    environ: Mapping[str, str],
    quiet: bool,
) -> Snapshot:
    """As ``live.collect_demo``, for one app: ``recorded`` as ``served`` by the emulator, read
    live and dated as the recording; the progress display shows on a terminal only.

    APP is looked up in the recording first, as offline (a name it does not hold gets the
    offline hint, or a close name suggested), then read by its appId from the tenant served."""
    app_id = find_app(recorded, app_ref).app_id
    with review_progress(sys.stderr, environ, quiet, plain=False) as progress:
        return collect_for_review_sync(
            recorded_graph(served),
            app_id,
            settings,
            DEFAULT_DAYS,
            now=served.tenant().collected_at,
            progress=progress,
        )
