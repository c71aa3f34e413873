"""Sending one write, once: msgraph-core's middleware pipeline over httpx, retry and redirects off.

A write is never repeated here: not by the SDK's retry handler (``max_retries=0`` and
``should_retry=False``, on the client and on each request), not after a redirect, not by this
module. A timeout or a broken connection comes back as an :class:`Answer` without a status, for
the caller to settle by reading the request list.

The token goes only to the endpoint's origin, never through ``HTTP(S)_PROXY`` to a loopback
endpoint, and never with a write that acts on MAA approvals (:func:`refuse_approval_writes`):
the one such write sent is ``cancelMyRequest``, by :meth:`ApprovalClient.cancel`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from kiota_http.middleware.options import RedirectHandlerOption, RetryHandlerOption
from msgraph_core import APIVersion, GraphClientFactory  # type: ignore[import-untyped]

from maa_guard.approval.write import CANCEL_MY_REQUEST, refuse_approval_writes
from maa_guard.collect import Endpoint, GraphError
from maa_guard.collect.endpoints import origin_of
from maa_guard.collect.graph import FOREIGN_LINK_HINT, fetch_token

log = logging.getLogger("maa_guard.approval")

DEFAULT_REQUEST_TIMEOUT = 100.0
_TOKEN_MARGIN = 300.0


class TokenCredential(Protocol):
    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back: ``status`` None with ``failure`` ``timeout`` or ``connection`` when
    nothing usable did. Header names are lower case."""

    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""
    failure: str = ""


def _sdk_options() -> dict[str, Any]:
    return {
        RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=0, should_retry=False),
        RedirectHandlerOption.get_key(): RedirectHandlerOption(should_redirect=False),
    }


def write_http_client(
    timeout: float = DEFAULT_REQUEST_TIMEOUT, trust_env: bool = True
) -> httpx.AsyncClient:
    """The Graph SDK's middleware around an httpx client, with nothing that could resend.

    ``trust_env=False`` ignores proxy settings from the environment (``HTTP_PROXY``...).
    """
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0)),
        trust_env=trust_env,
        follow_redirects=False,
    )
    wrapped: httpx.AsyncClient = GraphClientFactory.create_with_default_middleware(
        api_version=APIVersion.beta, client=client, options=_sdk_options()
    )
    return wrapped


class WriteSender:
    """Bearer token from the credential (cached until shortly before expiry, never logged)."""

    def __init__(
        self,
        credential: TokenCredential,
        endpoint: Endpoint,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        self.endpoint = endpoint
        self._credential = credential
        # A loopback Graph (an emulator) is never reached through a proxy from HTTP_PROXY.
        self._http = http or write_http_client(timeout, trust_env=not endpoint.loopback)
        self._token: tuple[str, float] | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(
        self, method: str, url: str, content: bytes, headers: Mapping[str, str]
    ) -> Answer:
        """One attempt. ``url`` is relative to the Graph root: ``/beta/deviceManagement/...``."""
        target = self._checked_target(method, url, content)
        sent = {"Authorization": f"Bearer {await self.token()}", "Accept": "application/json"}
        if content:
            sent["Content-Type"] = "application/json"
        request = self._http.build_request(
            method,
            target,
            content=content or None,
            headers={**sent, **headers},
            extensions={"kiota_request_options": _sdk_options()},
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as error:
            log.debug("%s %s: %s", method, url, type(error).__name__)
            return Answer(None, failure=_failure(error))
        lowered = {name.lower(): value for name, value in response.headers.items()}
        try:
            body = await response.aread()
        except httpx.TransportError as error:
            log.debug("%s %s -> %s, body lost", method, url, response.status_code)
            return _broken_off(response.status_code, lowered, _failure(error))
        finally:
            await response.aclose()
        log.debug("%s %s -> %s", method, url, response.status_code)
        return Answer(response.status_code, lowered, body)

    def _checked_target(self, method: str, url: str, content: bytes) -> str:
        """The full URL; raises before the token is fetched when it acts on approvals or leaves
        the endpoint's origin (a state file edited by hand could hold either)."""
        if (method, url) != ("POST", CANCEL_MY_REQUEST):
            refuse_approval_writes(method, url, _json_or_none(content))
        target = f"{self.endpoint.root}{url}"
        if not url.startswith("/") or not self.endpoint.same_origin(target):
            raise GraphError(
                f"{method} {url!r}: {origin_of(target) or 'this URL'} is not the Graph endpoint "
                f"{self.endpoint.origin}; not sent",
                path=url,
                hint=FOREIGN_LINK_HINT,
            )
        return target

    async def token(self) -> str:
        now = time.time()
        if self._token is None or self._token[1] - _TOKEN_MARGIN < now:
            self._token = await fetch_token(self._credential, self.endpoint.scope)
        return self._token[0]


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except ValueError:
        return None


def _broken_off(status: int, headers: Mapping[str, str], failure: str) -> Answer:
    """The status came and the body broke off. A 2xx was applied whatever its body said;
    anything else is settled like no answer, keeping the headers (they may hold the code)."""
    if 200 <= status < 300:
        return Answer(status, headers)
    return Answer(None, headers, b"", failure)


def _failure(error: httpx.TransportError) -> str:
    return "timeout" if isinstance(error, httpx.TimeoutException) else "connection"
