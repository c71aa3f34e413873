"""A loopback managed-identity token endpoint, so azure-identity's real
``ManagedIdentityCredential`` gets the emulator's app-only tokens.

Two hosting protocols are served; ``environment(protocol)`` gives the variables that point the
credential (and MSAL under it) at this server instead of Azure:

- ``imds``, the VM Instance Metadata Service: ``GET /metadata/identity/oauth2/token``
  (api-version 2018-02-01) with ``Metadata: true``; redirected by
  ``AZURE_POD_IDENTITY_AUTHORITY_HOST``.
- ``app-service``, App Service, Functions and Automation: ``GET /msi/token`` (api-version
  2019-08-01) with ``X-IDENTITY-HEADER: <secret>``; redirected by ``IDENTITY_ENDPOINT`` and
  ``IDENTITY_HEADER``.

Plain http on 127.0.0.1, as Azure serves IMDS (http://169.254.169.254). The emulated resource
has a system-assigned identity and any number of user-assigned ones, each an appId holding an
app-only token in the tenant fixture; ``client_id`` selects a user-assigned identity.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from secrets import compare_digest, token_urlsafe
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from maa_guard.emulator.authority import app_only_token
from maa_guard.emulator.loopback import JsonHandler, serve_in_background, shut_down
from maa_guard.emulator.server import Emulator

IMDS_PATH = "/metadata/identity/oauth2/token"
APP_SERVICE_PATH = "/msi/token"
PROTOCOLS = {IMDS_PATH: "imds", APP_SERVICE_PATH: "app-service"}
# Every variable ManagedIdentityCredential or MSAL reads to pick a host: clear them in tests.
MANAGED_IDENTITY_VARIABLES = (
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
)
_LIFETIME = 3599
_SELECTORS = ("object_id", "msi_res_id", "mi_res_id")
Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """What the log keeps of a token request: never the secret header."""

    protocol: str
    resource: str
    client_id: str
    status: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    endpoint: ManagedIdentityEndpoint


class _Handler(JsonHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.misdirected("http", 80):
            return
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.send_json(*self.server.endpoint.answer(parts.path, query, headers))


class ManagedIdentityEndpoint:
    """``with ManagedIdentityEndpoint(emulator, system_app_id) as endpoint:`` then set
    ``endpoint.environment("imds")`` (or ``"app-service"``) in the environment."""

    def __init__(
        self,
        emulator: Emulator,
        system_assigned: str | None,
        user_assigned: Iterable[str] = (),
        port: int = 0,
    ) -> None:
        self.emulator, self.port = emulator, port
        self.system_assigned = system_assigned
        self.user_assigned = frozenset(app_id.lower() for app_id in user_assigned)
        self.identity_header = token_urlsafe(24)
        self.requests: list[TokenRequest] = []
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self, protocol: str) -> dict[str, str]:
        """The variables that make ManagedIdentityCredential use ``protocol`` on this server."""
        if protocol == "imds":
            return {"AZURE_POD_IDENTITY_AUTHORITY_HOST": self.url}
        if protocol == "app-service":
            return {
                "IDENTITY_ENDPOINT": f"{self.url}{APP_SERVICE_PATH}",
                "IDENTITY_HEADER": self.identity_header,
            }
        raise ValueError(f"unknown managed identity protocol {protocol!r}")

    def answer(self, path: str, query: Mapping[str, str], headers: Mapping[str, str]) -> Answer:
        protocol = PROTOCOLS.get(path.rstrip("/"))
        if protocol is None:
            return 404, {"error": "not_found", "error_description": f"No route for {path}."}
        status, body = self._token(protocol, query, headers)
        record = TokenRequest(
            protocol, query.get("resource", ""), query.get("client_id", ""), status
        )
        self.requests.append(record)
        return status, body

    def _token(self, protocol: str, query: Mapping[str, str], headers: Mapping[str, str]) -> Answer:
        refusal = self._refusal(protocol, query, headers)
        if refusal is not None:
            return _failure(protocol, *refusal)
        app_id = self._identity(query)
        token = None if app_id is None else app_only_token(self.emulator, app_id)
        if app_id is None or token is None:
            return _failure(protocol, 400, "Identity not found")
        return 200, _token_body(protocol, token, app_id, query["resource"])

    def _refusal(
        self, protocol: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, str] | None:
        if protocol == "imds" and headers.get("metadata", "").lower() != "true":
            return 400, "Required metadata header not specified"
        secret = headers.get("x-identity-header", "")
        if protocol == "app-service" and not compare_digest(secret, self.identity_header):
            return 401, "The X-IDENTITY-HEADER header is missing or wrong."
        if not query.get("api-version"):
            return 400, "Required query variable 'api-version' is missing"
        if not query.get("resource"):
            return 400, "Required audience variable missing"
        return None

    def _identity(self, query: Mapping[str, str]) -> str | None:
        """The appId of the identity asked for; object and resource ids are not emulated."""
        if any(selector in query for selector in _SELECTORS):
            return None
        client_id = query.get("client_id", "")
        if not client_id:
            return self.system_assigned
        return client_id if client_id.lower() in self.user_assigned else None

    def start(self) -> ManagedIdentityEndpoint:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.endpoint = self
        self._server, self.port = server, server.server_address[1]
        serve_in_background(server)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        shut_down(server)

    def __enter__(self) -> ManagedIdentityEndpoint:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _failure(protocol: str, status: int, message: str) -> Answer:
    """IMDS answers OAuth-style errors; App Service its own ``statusCode``/``message`` shape."""
    if protocol == "imds":
        return status, {"error": "invalid_request", "error_description": message}
    return status, {"statusCode": status, "message": message}


def _token_body(protocol: str, token: str, app_id: str, resource: str) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {
        "access_token": token,
        "client_id": app_id,
        "expires_on": str(now + _LIFETIME),
        "resource": resource,
        "token_type": "Bearer",
    }
    if protocol == "imds":
        body |= {"expires_in": str(_LIFETIME), "ext_expires_in": str(_LIFETIME)}
        body["not_before"] = str(now)
    return body
