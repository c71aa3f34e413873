"""Live, read-only collection from Microsoft Graph into a Snapshot.

Stage 1: imports ``snapshot``, ``config``, ``exclusions`` and ``model``; never ``evaluate``,
``reporters``, ``scan``, ``cli`` or the emulator.

Entry points for the CLI::

    endpoint = resolve_endpoint(cloud, graph_endpoint)
    credential = build_credential(auth, endpoint, os.environ)
    snapshot = collect_sync(
        lambda: GraphClient(credential, endpoint, timeout=t), settings, days, progress=callback
    )

``callback(source, status, item_count)`` is called as each data source finishes.

Importing this package has no side effects.
"""

from __future__ import annotations

from maa_guard.collect.auth import AUTH_METHODS, StaticTokenCredential, build_credential
from maa_guard.collect.collector import DEFAULT_WINDOW_DAYS, collect, collect_sync
from maa_guard.collect.endpoints import CLOUDS, Endpoint, resolve_endpoint
from maa_guard.collect.errors import (
    AuthenticationError,
    GraphError,
    PagingError,
    PermissionDeniedError,
    TimeBudgetExceeded,
)
from maa_guard.collect.graph import GraphClient
from maa_guard.collect.permissions import SOURCE_PERMISSIONS, missing_permissions

__all__ = [
    "AUTH_METHODS",
    "CLOUDS",
    "DEFAULT_WINDOW_DAYS",
    "SOURCE_PERMISSIONS",
    "AuthenticationError",
    "Endpoint",
    "GraphClient",
    "GraphError",
    "PagingError",
    "PermissionDeniedError",
    "StaticTokenCredential",
    "TimeBudgetExceeded",
    "build_credential",
    "collect",
    "collect_sync",
    "missing_permissions",
    "resolve_endpoint",
]
