"""One-call functions for runbooks: a client built from the environment, used once, closed.

``connect()`` finds its connection as the command line does (``maa_guard.config.Connection``):
its arguments, else ``MAA_GUARD_AUTH`` (an ``--auth`` method; default: the chain env, workload
identity, managed identity, Azure CLI), ``MAA_GUARD_GRAPH_ENDPOINT`` (an emulator or a proxy),
``MAA_GUARD_CLOUD`` (default ``global``) and ``MAA_GUARD_TENANT_ID`` (used when
``AZURE_TENANT_ID`` is unset), else the ``[connection]`` table of the config file (``config=``,
else ``maa-guard.toml`` or ``[tool.maa-guard]`` of ``pyproject.toml`` in the working folder).
The state file: ``state=``, else ``MAA_GUARD_STATE``, else ``state.db`` in the user data folder.
Each function also takes ``client=`` to reuse an open :class:`ApprovalClient` instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from maa_guard.approval.client import ApprovalClient
from maa_guard.approval.model import Completed, Pending, RequestState
from maa_guard.approval.state import StateStore, default_state_path
from maa_guard.approval.transport import DEFAULT_REQUEST_TIMEOUT
from maa_guard.approval.write import WriteRequest
from maa_guard.config import Connection, find_config_file, load_connection

DEFAULT_WAIT = 3600.0


def connect(
    *,
    auth: str | None = None,
    cloud: str | None = None,
    graph_endpoint: str | None = None,
    state: Path | str | None = None,
    config: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> ApprovalClient:
    """A client that also closes its state file when closed: ``with connect() as client:``."""
    from maa_guard.collect import build_credential, resolve_endpoint

    env = os.environ if environ is None else environ
    flags = {"auth": auth or None, "graph_endpoint": graph_endpoint or None, "cloud": cloud or None}
    connection = _connection_for(flags, config, env)
    endpoint = resolve_endpoint(connection.cloud, connection.graph_endpoint)
    credential = build_credential(connection.auth, endpoint, connection.credential_environ(env))
    store = StateStore(Path(state).expanduser() if state else default_state_path(env))
    return ApprovalClient(
        credential, endpoint, store, request_timeout=request_timeout, close_state=True
    )


def _connection_for(
    arguments: Mapping[str, str | None], config: Path | str | None, environ: Mapping[str, str]
) -> Connection:
    """The connection: ``arguments`` > ``MAA_GUARD_*`` > the config file's ``[connection]``."""
    from maa_guard.collect import AUTH_METHODS, CLOUDS

    found = find_config_file(Path(config) if config else None, Path.cwd())
    return load_connection(found, environ, arguments, auth_methods=AUTH_METHODS, clouds=CLOUDS)


@contextmanager
def _using(client: ApprovalClient | None) -> Iterator[ApprovalClient]:
    if client is not None:
        yield client
        return
    with connect() as built:
        yield built


def submit(
    write: WriteRequest,
    justification: str,
    *,
    label: str = "",
    origin: str | None = None,
    client: ApprovalClient | None = None,
) -> Completed | Pending:
    """:meth:`ApprovalClient.submit`: :class:`Pending` with the approval code, or
    :class:`Completed` when no approval was needed."""
    with _using(client) as active:
        return active.submit(write, justification, label=label, origin=origin)


def status(code: str, *, client: ApprovalClient | None = None) -> RequestState:
    """:meth:`ApprovalClient.status`."""
    with _using(client) as active:
        return active.status(code)


def wait(
    code: str, *, timeout: float = DEFAULT_WAIT, client: ApprovalClient | None = None
) -> RequestState:
    """:meth:`ApprovalClient.wait`: approved or final, or still pending after ``timeout``."""
    with _using(client) as active:
        return active.wait(code, timeout=timeout)


def complete(code: str, *, client: ApprovalClient | None = None) -> Completed:
    """:meth:`ApprovalClient.complete`."""
    with _using(client) as active:
        return active.complete(code)


def cancel(code: str, *, client: ApprovalClient | None = None) -> RequestState:
    """:meth:`ApprovalClient.cancel`."""
    with _using(client) as active:
        return active.cancel(code)
