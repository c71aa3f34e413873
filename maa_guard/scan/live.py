"""Live collection as the commands use it: endpoint, credential, collector, progress, tokens,
and the demo tenant collected live from the emulator serving it."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from maa_guard.config import Settings
from maa_guard.errors import InputError, UsageError
from maa_guard.scan.progress import progress_display
from maa_guard.snapshot import Snapshot

if TYPE_CHECKING:
    from maa_guard.collect import GraphClient
    from maa_guard.collect.collector import Collected
    from maa_guard.collect.incremental import Baseline
    from maa_guard.scan.served import ServedRecording

DEFAULT_DAYS = 30
DEMO_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class LiveOptions:
    auth: str | None = None
    cloud: str = "global"
    graph_endpoint: str | None = None
    timeout: float = 3600.0
    days: int = DEFAULT_DAYS
    quiet: bool = False
    # The earlier snapshot to build on and to replace (``--since``, or ``--record``'s own).
    since: Path | None = None
    # ``since`` is maa-guard's own copy (scan and fleet --record, watch --scan): written 0600,
    # and replaced by a full collection when it is damaged or of another tenant.
    own_copy: bool = False


def collect_live(
    options: LiveOptions,
    settings: Settings,
    environ: Mapping[str, str],
    stream: TextIO | None = None,
) -> Snapshot:
    """Collect a snapshot from Graph (read-only), reporting each source as it completes."""
    from maa_guard.collect import GraphClient, build_credential, collect_sync, resolve_endpoint

    if options.days < 1:
        raise UsageError("--days must be at least 1", "the audit window, in days (default 30)")
    endpoint = resolve_endpoint(options.cloud, options.graph_endpoint)
    credential = build_credential(options.auth, endpoint, environ)
    with progress_display(stream or sys.stderr, environ, options.quiet) as progress:
        return collect_sync(
            lambda: GraphClient(credential, endpoint, timeout=options.timeout),
            settings,
            options.days,
            tenant_id=environ.get("AZURE_TENANT_ID", ""),
            progress=progress,
        )


def collect_live_tracked(
    options: LiveOptions,
    settings: Settings,
    environ: Mapping[str, str],
    stream: TextIO | None = None,
) -> Collected:
    """As :func:`collect_live`, building on the earlier snapshot ``options.since`` (when it
    exists and has its delta state), and taking Graph's delta links for the next time."""
    from maa_guard.collect import GraphClient, build_credential, resolve_endpoint
    from maa_guard.collect.collector import collect_tracked_sync
    from maa_guard.collect.incremental import OtherTenant

    if options.days < 1:
        raise UsageError("--days must be at least 1", "the audit window, in days (default 30)")
    endpoint = resolve_endpoint(options.cloud, options.graph_endpoint)
    credential = build_credential(options.auth, endpoint, environ)
    baseline, why = _baseline(options)
    out = stream or sys.stderr

    def run(earlier: Baseline | None) -> Collected:
        with progress_display(out, environ, options.quiet) as progress:
            return collect_tracked_sync(
                lambda: GraphClient(credential, endpoint, timeout=options.timeout),
                settings,
                options.days,
                baseline=earlier,
                tenant_id=environ.get("AZURE_TENANT_ID", ""),
                progress=progress,
            )

    try:
        collected = run(baseline)
    except OtherTenant:
        if not options.own_copy:
            raise
        # maa-guard's own copy of another tenant (its credentials now reach another): replaced
        collected, why = run(None), "the kept snapshot was of another tenant"
    if not options.quiet and options.since is not None:
        print(_how_collected(collected, options.since, why), file=out)
        for note in collected.notes:
            print(f"  {note}", file=out)
    return collected


def _baseline(options: LiveOptions) -> tuple[Baseline | None, str]:
    from maa_guard.scan.since import load_baseline

    if options.since is None:
        return None, ""
    try:
        return load_baseline(options.since)
    except InputError as error:
        if not options.own_copy:
            raise
        return None, f"the kept copy could not be read ({error.message})"


def _how_collected(collected: Collected, since: Path, why: str) -> str:
    if collected.incremental:
        return f"incremental collection: only what changed since {since} was read"
    return f"full collection: {why or collected.full_reason}"


def collect_demo(
    served: ServedRecording,
    settings: Settings,
    environ: Mapping[str, str],
    stream: TextIO | None = None,
    quiet: bool = False,
) -> Snapshot:
    """The live path against a recorded tenant (the bundled demo): the emulator serves it on
    127.0.0.1 from a process of its own (:class:`ServedRecording`) and the collector reads it
    over HTTP with the emulator's app-only reader token (random for this run). The progress
    display shows on a terminal only.

    A recording keeps its time: the collection is dated as the recording (so ages, expiries and
    review dates give the recorded results), and the emulator's clock is held where no request
    the recording shows active has expired yet.
    """
    from maa_guard.collect import collect_sync

    with progress_display(stream or sys.stderr, environ, quiet, plain=False) as progress:
        return collect_sync(
            recorded_graph(served),
            settings,
            DEFAULT_DAYS,
            now=served.tenant().collected_at,
            progress=progress,
        )


def recorded_graph(served: ServedRecording) -> Callable[[], GraphClient]:
    """A factory of Graph clients reading the served recording with the emulator's app-only
    reader token; waits until the emulator listens."""
    from maa_guard.collect import GraphClient, StaticTokenCredential, resolve_endpoint

    tenant = served.tenant()
    endpoint = resolve_endpoint("global", tenant.url)
    credential = StaticTokenCredential(tenant.reader_token)
    return lambda: GraphClient(credential, endpoint, timeout=DEMO_TIMEOUT)


def token_roles(access_token: str) -> list[str]:
    """The ``roles`` claim of a JWT access token (read, never verified: it only informs)."""
    parts = access_token.split(".")
    if len(parts) != 3:
        raise UsageError(
            "the access token is not a JWT, so its roles cannot be read",
            "use an application token from Entra ID",
        )
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, UnicodeDecodeError):
        raise UsageError("the access token's claims cannot be decoded") from None
    roles = claims.get("roles", []) if isinstance(claims, dict) else []
    return [str(role) for role in roles] if isinstance(roles, list) else []


def current_token(options: LiveOptions, environ: Mapping[str, str]) -> str:
    from maa_guard.collect import build_credential, resolve_endpoint

    endpoint = resolve_endpoint(options.cloud, options.graph_endpoint)
    credential = build_credential(options.auth, endpoint, environ)
    token: str = credential.get_token(endpoint.scope).token
    return token
