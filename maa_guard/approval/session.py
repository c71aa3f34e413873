"""What submission and recovery need of the approval client, as a protocol.

``ApprovalClient`` satisfies it; typing ``Submission`` and the recovery functions against this
instead of the client keeps the client above them, with no import circle.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, Protocol, TypeVar

from maa_guard.approval.model import Phase, RequestState
from maa_guard.approval.state import StateStore
from maa_guard.collect import Endpoint, GraphClient

T = TypeVar("T")


class ClientSession(Protocol):
    """The approval client's state, Graph reader and bookkeeping, as its helpers use them."""

    endpoint: Endpoint
    state: StateStore
    request_timeout: float
    warnings: list[str]
    now: Callable[[], datetime]

    @property
    def graph(self) -> GraphClient: ...

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T: ...

    def status(self, code: str) -> RequestState: ...

    def record(
        self,
        change_id: str,
        *,
        only: tuple[Phase, ...] = (),
        without_code: bool = False,
        **fields: Any,
    ) -> bool: ...
