"""A fake Microsoft Entra authority over TLS on loopback, so real azure-identity credentials
(``ClientSecretCredential``, ``CertificateCredential``, ``WorkloadIdentityCredential``,
``DeviceCodeCredential``) get the emulator's bearer tokens. MSAL insists on https; the
certificate is self-signed for 127.0.0.1 and written to ``ca_file`` for ``connection_verify=``
(an ``http`` authority is refused as not TLS protected).

The device-code flow (``POST /{tenant}/oauth2/v2.0/devicecode``, then polls of ``/token``) is
served when a :class:`SignedInUser` is given: the first ``pending_polls`` polls answer
``authorization_pending``, as while the person is still signing in; the next one issues that
user's delegated token.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from secrets import choice, token_urlsafe
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from maa_guard.emulator.loopback import (
    JsonHandler,
    check_loopback_bind,
    serve_in_background,
    shut_down,
)
from maa_guard.emulator.server import Emulator

Issuer = Callable[[Mapping[str, str]], "str | None"]
Answer = tuple[int, dict[str, Any]]
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_LOGGED_FORM = ("grant_type", "client_id", "scope")
_USER_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True, slots=True)
class SignedInUser:
    """Who completes a device-code sign-in: a fixture user and their delegated bearer token."""

    user_id: str
    username: str
    tenant_id: str
    token: str


@dataclass(slots=True)
class _DeviceFlow:
    client_id: str
    scope: str
    pending: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    authority: FakeAuthority


class _Handler(JsonHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.misdirected("https", 443):
            return
        parts = urlsplit(self.path).path.strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            self.send_json(200, self.server.authority.openid_configuration(parts[0]))
        else:
            self.send_json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        if self.misdirected("https", 443):
            return
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        parts = urlsplit(self.path).path.strip("/").split("/")
        endpoint = parts[1:] if len(parts) == 4 else []
        if endpoint == ["oauth2", "v2.0", "token"]:
            self.send_json(*self.server.authority.token(form))
        elif endpoint == ["oauth2", "v2.0", "devicecode"]:
            self.send_json(*self.server.authority.device_code(form))
        else:
            self.send_json(404, {"error": "not_found"})


class FakeAuthority:
    """``with FakeAuthority(issue) as authority:``; ``issue(form)`` returns a token or None.

    ``device_user`` enables the device-code flow; ``device_interval`` is the polling interval
    announced to the client (Entra says 5 seconds; 0 keeps tests quick). ``token_requests`` and
    ``device_code_requests`` log grant type, client id and scope only; ``user_codes`` holds the
    codes a person would have been shown.
    """

    def __init__(
        self,
        issue: Issuer,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        device_user: SignedInUser | None = None,
        pending_polls: int = 1,
        device_interval: int = 0,
    ) -> None:
        check_loopback_bind(host)
        self.issue, self.host, self.port = issue, host, port
        self.device_user, self.pending_polls = device_user, pending_polls
        self.device_interval = device_interval
        self.token_requests: list[dict[str, str]] = []
        self.device_code_requests: list[dict[str, str]] = []
        self.user_codes: list[str] = []
        self._flows: dict[str, _DeviceFlow] = {}
        self._lock = threading.Lock()
        self._directory = tempfile.TemporaryDirectory(prefix="maa-authority-")
        self.ca_file = Path(self._directory.name) / "ca.pem"
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def openid_configuration(self, tenant: str) -> dict[str, Any]:
        base = f"{self.url}/{tenant}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "issuer": f"{base}/v2.0",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "tenant_region_scope": None,
        }

    def token(self, form: Mapping[str, str]) -> Answer:
        self.token_requests.append({k: form[k] for k in _LOGGED_FORM if k in form})
        if form.get("grant_type") == DEVICE_CODE_GRANT:
            return self._poll(form)
        issued = self.issue(form)
        if issued is None:
            description = "AADSTS7000215: Invalid client secret provided."
            return 401, {"error": "invalid_client", "error_description": description}
        return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": issued}

    def device_code(self, form: Mapping[str, str]) -> Answer:
        """Starts a sign-in: a device code for the client to poll with, a user code to show."""
        self.device_code_requests.append({k: form[k] for k in _LOGGED_FORM if k in form})
        if self.device_user is None:
            description = "AADSTS7000218: the device code flow is not enabled for this client."
            return 400, {"error": "invalid_client", "error_description": description}
        device_code = token_urlsafe(32)
        user_code = "".join(choice(_USER_CODE_LETTERS) for _ in range(9))
        self.user_codes.append(user_code)
        with self._lock:
            flow = _DeviceFlow(form.get("client_id", ""), form.get("scope", ""), self.pending_polls)
            self._flows[device_code] = flow
        page = f"{self.url}/devicelogin"
        return 200, {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": page,
            "expires_in": 900,
            "interval": self.device_interval,
            "message": f"To sign in, use a web browser to open the page {page} "
            f"and enter the code {user_code} to authenticate.",
        }

    def _poll(self, form: Mapping[str, str]) -> Answer:
        user = self.device_user
        with self._lock:
            flow = self._flows.get(form.get("device_code", ""))
            if user is None or flow is None or flow.client_id != form.get("client_id"):
                description = "AADSTS70000: The provided value for 'device_code' is not valid."
                return 400, {"error": "invalid_grant", "error_description": description}
            if flow.pending > 0:
                flow.pending -= 1
                description = "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending."
                return 400, {"error": "authorization_pending", "error_description": description}
            del self._flows[form["device_code"]]
        return 200, self._user_tokens(user, flow.client_id, flow.scope)

    def _user_tokens(self, user: SignedInUser, client_id: str, scope: str) -> dict[str, Any]:
        now = int(dt.datetime.now(dt.timezone.utc).timestamp())
        claims = {
            "aud": client_id,
            "iss": f"{self.url}/{user.tenant_id}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": user.user_id,
            "oid": user.user_id,
            "tid": user.tenant_id,
            "preferred_username": user.username,
        }
        client_info = {"uid": user.user_id, "utid": user.tenant_id}
        return {
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": 3599,
            "access_token": user.token,
            "id_token": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
            "client_info": _b64(client_info),
        }

    def start(self) -> FakeAuthority:
        server = _Server((self.host, self.port), _Handler)
        server.authority = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        key_file = _write_certificate(self.host, self.ca_file)
        context.load_cert_chain(self.ca_file, key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server, self.port = server, server.server_address[1]
        serve_in_background(server)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        shut_down(server)
        self._directory.cleanup()

    def __enter__(self) -> FakeAuthority:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _b64(data: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _write_certificate(host: str, cert_file: Path) -> Path:
    """A self-signed EC certificate for ``host`` (and localhost); returns the key file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "maa-guard fake authority")])
    now = dt.datetime.now(dt.timezone.utc)
    alt = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(alt, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file = cert_file.with_name("key.pem")
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key_file


def authority_for(
    emulator: Emulator, secrets: Mapping[str, str], *, device_user_id: str | None = None
) -> FakeAuthority:
    """An authority issuing the emulator's app-only token for a client: by client secret
    (``secrets`` maps appId -> secret) or by any client assertion (not verified); and, with
    ``device_user_id``, that user's delegated token at the end of a device-code sign-in."""

    def issue(form: Mapping[str, str]) -> str | None:
        client = form.get("client_id", "")
        secret_ok = "client_secret" in form and secrets.get(client) == form["client_secret"]
        if not (secret_ok or "client_assertion" in form):
            return None
        return app_only_token(emulator, client)

    device_user = None if device_user_id is None else signed_in_user(emulator, device_user_id)
    return FakeAuthority(issue, device_user=device_user)


def app_only_token(emulator: Emulator, app_id: str) -> str | None:
    """The emulator's bearer token for ``app_id``'s app-only calls, if the fixture has one."""
    try:
        return emulator.app_token(app_id)
    except LookupError:
        return None


def signed_in_user(emulator: Emulator, user_id: str) -> SignedInUser:
    """``user_id`` as a device-code sign-in completes it: the emulator's delegated token for
    them (ValueError when the fixture has none)."""
    tenant = emulator.tenant
    try:
        token = emulator.user_token(user_id)
    except LookupError as missing:
        raise ValueError(str(missing)) from None
    user = tenant.find("users", user_id) or {}
    username = str(user.get("userPrincipalName") or f"{user_id}@{tenant.id or 'tenant'}")
    return SignedInUser(user_id, username, tenant.id, token)
