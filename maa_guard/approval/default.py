"""One-call functions for runbooks: a client built from the environment, used once, closed.

``connect()`` reads, when not given as arguments: ``MAA_GUARD_AUTH`` (an ``--auth`` method;
default: the chain env, workload identity, managed identity, Azure CLI), ``MAA_GUARD_CLOUD``
(default ``global``), ``MAA_GUARD_GRAPH_ENDPOINT`` (an emulator or a proxy), and
``MAA_GUARD_STATE`` (the state file; default ``state.db`` in the user data folder). Each
function also takes ``client=`` to reuse an open :class:`ApprovalClient` instead.
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

DEFAULT_WAIT = 3600.0


def connect(
    *,
    auth: str | None = None,
    cloud: str | None = None,
    graph_endpoint: str | None = None,
    state: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> ApprovalClient:
    """A client that also closes its state file when closed: ``with connect() as client:``."""
    from maa_guard.collect import build_credential, resolve_endpoint

    env = os.environ if environ is None else environ
    endpoint = resolve_endpoint(
        cloud or env.get("MAA_GUARD_CLOUD") or "global",
        graph_endpoint or env.get("MAA_GUARD_GRAPH_ENDPOINT") or None,
    )
    credential = build_credential(auth or env.get("MAA_GUARD_AUTH") or None, endpoint, env)
    store = StateStore(Path(state).expanduser() if state else default_state_path(env))
    return ApprovalClient(
        credential, endpoint, store, request_timeout=request_timeout, close_state=True
    )


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
