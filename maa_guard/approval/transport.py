"""Sending one write, once: msgraph-core's middleware pipeline over httpx, retry and redirects off.

A write is never repeated here: not by the SDK's retry handler (``max_retries=0`` and
``should_retry=False``, on the client and on each request), not after a redirect, not by this
module. A timeout or a broken connection comes back as an :class:`Answer` without a status, for
the caller to settle by reading the request list.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from kiota_http.middleware.options import RedirectHandlerOption, RetryHandlerOption
from msgraph_core import APIVersion, GraphClientFactory  # type: ignore[import-untyped]

from maa_guard.collect import Endpoint
from maa_guard.collect.graph import fetch_token

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


def write_http_client(timeout: float = DEFAULT_REQUEST_TIMEOUT) -> httpx.AsyncClient:
    """The Graph SDK's middleware around an httpx client, with nothing that could resend."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0)))
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
        self._http = http or write_http_client(timeout)
        self._token: tuple[str, float] | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(
        self, method: str, url: str, content: bytes, headers: Mapping[str, str]
    ) -> Answer:
        """One attempt. ``url`` is relative to the Graph root: ``/beta/deviceManagement/...``."""
        sent = {"Authorization": f"Bearer {await self.token()}", "Accept": "application/json"}
        if content:
            sent["Content-Type"] = "application/json"
        request = self._http.build_request(
            method,
            f"{self.endpoint.root}{url}",
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

    async def token(self) -> str:
        now = time.time()
        if self._token is None or self._token[1] - _TOKEN_MARGIN < now:
            self._token = await fetch_token(self._credential, self.endpoint.scope)
        return self._token[0]


def _broken_off(status: int, headers: Mapping[str, str], failure: str) -> Answer:
    """The status came and the body broke off. A 2xx was applied whatever its body said;
    anything else is settled like no answer, keeping the headers (they may hold the code)."""
    if 200 <= status < 300:
        return Answer(status, headers)
    return Answer(None, headers, b"", failure)


def _failure(error: httpx.TransportError) -> str:
    return "timeout" if isinstance(error, httpx.TimeoutException) else "connection"
