"""A read-only async Microsoft Graph client over msgraph-core's httpx transport, raw JSON.

Only :meth:`GraphClient.get`, :meth:`GraphClient.get_link`, :meth:`GraphClient.get_all` and
:meth:`GraphClient.batch_get` exist; the one POST it can send is ``$batch``, whose items it
builds itself as GETs. The SDK's retry middleware is switched off (``max_retries=0``) and
replaced here by a retry that knows the request budgets and the global time budget.

The token goes only to the endpoint's origin (scheme, host, port): an ``@odata.nextLink``
elsewhere is refused, never followed, and a redirect is an error (the SDK's redirect handler is
off), so a hostile or misconfigured server cannot collect the token or serve empty pages that
would pass for a complete read.

Tokens are fetched from an azure-identity style credential (sync or async ``get_token``),
cached until shortly before expiry, and never logged.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from kiota_http.middleware.options import RedirectHandlerOption, RetryHandlerOption
from msgraph_core import APIVersion, GraphClientFactory  # type: ignore[import-untyped]

from maa_guard.collect.budget import Budgets, Clock, Request
from maa_guard.collect.endpoints import Endpoint, origin_of
from maa_guard.collect.errors import (
    AuthenticationError,
    GraphError,
    TimeBudgetExceeded,
)
from maa_guard.collect.paging import JsonObject, PageGuard
from maa_guard.collect.wire import (
    BatchItem,
    batch_answers,
    expired_page_token,
    graph_error,
    parse_json,
    query_of,
    retry_after_seconds,
)
from maa_guard.errors import MaaGuardError

log = logging.getLogger("maa_guard.collect")

PREFER = "include-unknown-enum-members"
BATCH_LIMIT = 20
# 598: a body that is not JSON (truncated); 599: the connection failed. Both are ours.
RETRYABLE = frozenset({429, 500, 502, 503, 504, 598, 599})
_TOKEN_MARGIN = 300.0
MAX_RESTARTS = 2
# Requests in flight at once; the budgets set the rate, this bounds sockets and server load.
MAX_CONNECTIONS = 16
FOREIGN_LINK_HINT = (
    "a Graph answer pointed outside the configured endpoint (--cloud, --graph-endpoint); "
    "the token is sent only to its origin"
)
REDIRECT_HINT = "check --graph-endpoint: Graph must answer there, without a redirect"


class TokenCredential(Protocol):
    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


class PageSink(Protocol):
    """Takes each page's new items as the page arrives (a list does)."""

    def extend(self, items: list[JsonObject], /) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 60.0


def _sdk_options() -> dict[str, Any]:
    return {
        RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=0),
        RedirectHandlerOption.get_key(): RedirectHandlerOption(should_redirect=False),
    }


def default_http_client(
    timeout: float = 100.0, trust_env: bool = True, tls: bool = True
) -> httpx.AsyncClient:
    """msgraph-core's middleware pipeline around an httpx client; its retry and redirects off.

    ``trust_env=False`` ignores proxy settings from the environment (``HTTP_PROXY``...).
    ``tls=False`` for a plain-http endpoint (a loopback emulator): the client sends only to
    the endpoint's origin, so it never opens TLS, and loading the CA bundle (20-35 ms) is
    skipped.
    """
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=30.0),
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS),
        trust_env=trust_env,
        follow_redirects=False,
        verify=tls,
    )
    wrapped: httpx.AsyncClient = GraphClientFactory.create_with_default_middleware(
        api_version=APIVersion.beta, client=client, options=_sdk_options()
    )
    return wrapped


class GraphClient:
    """Use as ``async with GraphClient(credential, endpoint) as client:``."""

    def __init__(
        self,
        credential: TokenCredential,
        endpoint: Endpoint,
        *,
        budgets: Budgets | None = None,
        timeout: float = 3600.0,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy = RetryPolicy(),
        clock: Clock = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.endpoint = endpoint
        self._credential = credential
        self._budgets = budgets or Budgets(clock=clock)
        # A loopback Graph (an emulator) is never reached through a proxy from HTTP_PROXY.
        self._http = http or default_http_client(
            trust_env=not endpoint.loopback, tls=not endpoint.root.startswith("http://")
        )
        self._retry = retry
        self._clock = clock
        self._deadline = clock() + timeout
        self._jitter = jitter
        self._token: tuple[str, float] | None = None
        self._token_lock = asyncio.Lock()
        self._token_failure: AuthenticationError | None = None
        self.request_count = 0
        self.throttled_count = 0

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- public read API ------------------------------------------------------------

    async def get(
        self, path: str, params: Mapping[str, str] | None = None, version: str = "beta"
    ) -> JsonObject:
        """One GET of a path relative to the version root; raises GraphError when final."""
        query = dict(params or {})
        url = self.endpoint.url(version, path)
        return await self._send_get(url, path, query)

    async def get_link(self, path: str, link: str) -> JsonObject:
        """One GET of a link Graph gave (a nextLink or deltaLink), verbatim, at the endpoint's
        origin only; ``path`` names the collection in errors and budgets."""
        self._check_link(path, link)
        return await self._send_get(link, path, query_of(link), verbatim=True)

    async def get_all(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        version: str = "beta",
        *,
        first: JsonObject | None = None,
        into: PageSink | None = None,
    ) -> list[JsonObject]:
        """Every item of a collection, following ``@odata.nextLink`` verbatim when it stays at
        the endpoint's origin (see :meth:`_whole_chain` for an expired skip token).

        ``first``: its first page, already read by :meth:`get` with the same ``params``.
        ``into``: takes each page's items as the page arrives (nothing is returned then), so
        a long chain is never held as raw JSON all at once; each page is emptied once taken
        (``first`` too)."""
        return await self._whole_chain(path, first, lambda: self.get(path, params, version), into)

    async def follow(
        self,
        path: str,
        page: JsonObject,
        seen: set[str] | None = None,
        sink: PageSink | None = None,
        *,
        release: bool = False,
    ) -> list[JsonObject]:
        """The items of ``page`` and of every page after it.

        ``seen`` carries item ids over a restart; ``sink`` receives items as they arrive, so
        a caller keeps what was read before a failure. ``release``: each page's item list is
        emptied once the sink has them, so no raw page stays alive (through ``page``, or a
        caller's reference to it) while the next one is awaited.
        """
        guard = PageGuard(path, ids=seen if seen is not None else set())
        collected: list[JsonObject] = []
        into = sink if sink is not None else collected
        link = _hand_over(guard, page, into, release)
        while link is not None:
            self._check_link(path, link)
            page = await self._send_get(link, path, query_of(link), verbatim=True)
            link = _hand_over(guard, page, into, release)
        return collected

    async def batch_get(self, paths: Sequence[str], version: str = "beta") -> list[BatchItem]:
        """GET many paths through ``$batch`` (20 per batch); results in the order given.

        Inner 429 and 5xx answers are retried (only those items, after the largest inner
        ``Retry-After``); other statuses are returned for the caller to judge with
        :meth:`BatchItem.error`. Each inner request is charged to its own budget.
        """
        chunks = [paths[i : i + BATCH_LIMIT] for i in range(0, len(paths), BATCH_LIMIT)]
        results = await asyncio.gather(*(self._batch_chunk(c, version) for c in chunks))
        return [item for chunk in results for item in chunk]

    async def batch_get_all(
        self, paths: Sequence[str], version: str = "beta"
    ) -> list[list[JsonObject] | GraphError]:
        """Per path, every item of that collection (nextLinks followed), or its error.

        A chain whose skip token expires restarts with a plain GET of its first page.
        """
        items = await self.batch_get(paths, version)
        return list(await asyncio.gather(*(self._rest_of(item, version) for item in items)))

    async def _rest_of(self, item: BatchItem, version: str) -> list[JsonObject] | GraphError:
        if item.status >= 300:
            return item.error()
        url = self.endpoint.url(version, item.path)

        async def first_page() -> JsonObject:
            return await self._send_get(url, item.path, query_of(item.path), verbatim=True)

        try:
            return await self._whole_chain(item.path, item.body, first_page)
        except GraphError as error:
            return error

    async def _whole_chain(
        self,
        path: str,
        first: JsonObject | None,
        first_page: Callable[[], Awaitable[JsonObject]],
        into: PageSink | None = None,
    ) -> list[JsonObject]:
        """``first`` (or ``first_page()`` when None) and every page after it: their items,
        or nothing when ``into`` takes them page by page.

        A skip token that expired cannot be asked again, so an expired one restarts the chain
        from its first request (at most ``MAX_RESTARTS`` times); items already read are kept
        and not repeated.
        """
        seen: set[str] = set()
        items: list[JsonObject] = []
        sink = items if into is None else into
        for restart in range(MAX_RESTARTS + 1):
            page = first if first is not None and restart == 0 else await first_page()
            try:
                await self.follow(path, page, seen, sink, release=into is not None)
                return items
            except GraphError as error:
                if not expired_page_token(error) or restart == MAX_RESTARTS:
                    raise
                log.debug("GET %s: page token expired, restarting the chain", path)
        raise AssertionError("unreachable")

    def _check_link(self, path: str, link: str) -> None:
        if not self.endpoint.same_origin(link):
            raise GraphError(
                f"GET {path}: @odata.nextLink points to {_named(origin_of(link))}, not to the "
                f"Graph endpoint {self.endpoint.origin}; not followed",
                path=path,
                hint=FOREIGN_LINK_HINT,
            )

    # ---- transport ------------------------------------------------------------------

    async def _batch_chunk(self, paths: Sequence[str], version: str) -> list[BatchItem]:
        done: dict[int, BatchItem] = {}
        pending = list(range(len(paths)))
        for attempt in range(1, self._retry.max_attempts + 1):
            answers = await self._post_batch({i: paths[i] for i in pending}, version)
            retry = [i for i in pending if answers[i].status in RETRYABLE]
            done.update({i: answers[i] for i in pending if i not in retry})
            if not retry or attempt == self._retry.max_attempts:
                done.update({i: answers[i] for i in retry})
                break
            throttled = [(paths[i], query_of(paths[i])) for i in retry if answers[i].status == 429]
            self.throttled_count += len(throttled)
            waits = [answers[i].retry_after for i in retry]
            await self._pause(
                "$batch", max((w for w in waits if w is not None), default=None), attempt, throttled
            )
            pending = retry
        return [done[i] for i in range(len(paths))]

    async def _post_batch(self, items: Mapping[int, str], version: str) -> dict[int, BatchItem]:
        """One ``$batch``: its items are booked together (see :meth:`Budgets.slot`)."""
        requests = [
            {
                "id": str(index),
                "method": "GET",
                "url": "/" + path.lstrip("/"),
                "headers": {"Prefer": PREFER},
            }
            for index, path in items.items()
        ]
        charges = [(path, query_of(path)) for path in items.values()]
        url = self.endpoint.url(version, "$batch")
        body = await self._send(url, "$batch", {"requests": requests}, charges=charges)
        return batch_answers(body, items)

    async def _send_get(
        self, url: str, path: str, query: dict[str, str], verbatim: bool = False
    ) -> JsonObject:
        return await self._send(url, path, None, query=query, verbatim=verbatim)

    async def _send(
        self,
        url: str,
        path: str,
        batch: JsonObject | None,
        *,
        query: Mapping[str, str] | None = None,
        verbatim: bool = False,
        charges: Sequence[Request] | None = None,
    ) -> JsonObject:
        """The only place a request leaves: GET, or POST of a $batch body built above.

        Each attempt books its budget (the GET, or every item of the batch: ``charges``) in
        one step and holds it until the reply arrives; a 429 holds the classes it names for
        its ``Retry-After``.
        """
        booked = charges if charges is not None else [(path, dict(query or {}))]
        for attempt in range(1, self._retry.max_attempts + 1):
            async with self._budgets.slot(booked):
                self._check_deadline(path)
                outcome = await self._attempt(url, path, batch, query, verbatim)
            if isinstance(outcome, dict):
                return outcome
            status, body, retry_after = outcome
            if status not in RETRYABLE or attempt == self._retry.max_attempts:
                raise graph_error(path, status, body)
            self.throttled_count += status == 429
            await self._pause(path, retry_after, attempt, booked if status == 429 else ())
        raise AssertionError("unreachable")

    async def _attempt(
        self,
        url: str,
        path: str,
        batch: JsonObject | None,
        query: Mapping[str, str] | None,
        verbatim: bool,
    ) -> JsonObject | tuple[int, JsonObject, float | None]:
        method = "GET" if batch is None else "POST"
        if not self.endpoint.same_origin(url):
            raise GraphError(
                f"{method} {path}: {_named(origin_of(url))} is not the Graph endpoint "
                f"{self.endpoint.origin}; not sent",
                path=path,
                hint=FOREIGN_LINK_HINT,
            )
        headers = {
            "Authorization": f"Bearer {await self._bearer()}",
            "Prefer": PREFER,
            "Accept": "application/json",
        }
        self.request_count += 1
        try:
            response = await self._http.request(
                method,
                url,
                params=None if verbatim else dict(query or {}),
                headers=headers,
                json=batch,
                extensions={"kiota_request_options": _sdk_options()},
            )
            content = await response.aread()
        except httpx.TransportError as error:
            log.debug("%s %s: transport error %s", method, path, type(error).__name__)
            return 599, {"error": {"code": type(error).__name__}}, None
        log.debug("%s %s -> %s", method, path, response.status_code)
        if 300 <= response.status_code < 400:
            raise _redirect_error(method, path, response)
        parsed = parse_json(content)
        if response.status_code < 300 and parsed is not None:
            return parsed
        status = response.status_code if parsed is not None else 598
        return status, parsed or {}, retry_after_seconds(response.headers.get("Retry-After"))

    async def _pause(
        self,
        path: str,
        retry_after: float | None,
        attempt: int,
        throttled: Sequence[Request] = (),
    ) -> None:
        """Waits ``Retry-After`` (or a back-off); the classes of ``throttled`` (answered 429)
        send nothing else meanwhile."""
        delay = retry_after
        if delay is None:
            backoff = self._retry.base_delay * 2 ** (attempt - 1) * (0.5 + self._jitter())
            delay = min(backoff, self._retry.max_delay)
        if self._clock() + delay > self._deadline:
            raise TimeBudgetExceeded(
                f"GET {path}: the time budget ran out while waiting to retry",
                path=path,
                hint="raise --timeout, or collect fewer days of audit events",
            )
        self._budgets.hold(throttled, delay)
        await asyncio.sleep(delay)

    def _check_deadline(self, path: str) -> None:
        if self._clock() > self._deadline:
            raise TimeBudgetExceeded(
                f"GET {path}: the time budget ran out",
                path=path,
                hint="raise --timeout, or collect fewer days of audit events",
            )

    async def _bearer(self) -> str:
        """One token for every call. A sign-in that failed is not retried by each call waiting
        on it: that would prompt a device-code user, or run the Azure CLI, dozens of times."""
        async with self._token_lock:
            if self._token_failure is not None:
                raise AuthenticationError(self._token_failure.message, self._token_failure.hint)
            now = time.time()
            if self._token is None or self._token[1] - _TOKEN_MARGIN < now:
                try:
                    self._token = await fetch_token(self._credential, self.endpoint.scope)
                except AuthenticationError as failure:
                    self._token_failure = failure
                    raise
            return self._token[0]


def _hand_over(guard: PageGuard, page: JsonObject, into: PageSink, release: bool) -> str | None:
    """The page's new items to ``into`` (the page emptied after, on ``release``); its
    nextLink."""
    fresh, link = guard.accept(page)
    into.extend(fresh)
    if release:
        page["value"] = []
    return link


def _named(origin: str) -> str:
    return origin or "a URL without scheme and host"


def _redirect_error(method: str, path: str, response: httpx.Response) -> GraphError:
    """A 3xx is final: its Location (named by origin only) is never requested."""
    location = response.headers.get("Location")
    try:
        target = origin_of(str(response.url.join(location))) if location else ""
    except (httpx.InvalidURL, TypeError, ValueError):
        target = ""
    where = _named(target) if location else "no Location"
    status = response.status_code
    return GraphError(
        f"{method} {path}: HTTP {status} redirect to {where}; Graph calls do not follow redirects",
        status=status,
        path=path,
        hint=REDIRECT_HINT,
    )


async def fetch_token(credential: TokenCredential, scope: str) -> tuple[str, float]:
    """The token and its expiry (epoch seconds); a failure is an AuthenticationError that
    names the first line of the cause and never the credential."""
    try:
        result = credential.get_token(scope)
        if inspect.isawaitable(result):
            result = await result
    except MaaGuardError:
        raise
    except Exception as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise AuthenticationError(
            f"could not get a Graph token: {first}", "check the credential given by --auth"
        ) from None
    return str(result.token), float(result.expires_on)
