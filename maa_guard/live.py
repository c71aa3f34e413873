"""Live collection as the commands use it: endpoint, credential, collector, progress, tokens."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

from maa_guard.config import Settings
from maa_guard.errors import UsageError
from maa_guard.progress import progress_display
from maa_guard.snapshot import Snapshot

DEFAULT_DAYS = 30


@dataclass(frozen=True, slots=True)
class LiveOptions:
    auth: str | None = None
    cloud: str = "global"
    graph_endpoint: str | None = None
    timeout: float = 3600.0
    days: int = DEFAULT_DAYS
    quiet: bool = False


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
