"""A fake Microsoft Entra authority over TLS on loopback, so real azure-identity credentials
(``ClientSecretCredential``, ``CertificateCredential``, ``WorkloadIdentityCredential``) get the
emulator's bearer tokens. MSAL insists on https; the certificate is self-signed for 127.0.0.1
and written to ``ca_file`` for ``connection_verify=`` (see the feasibility note, section 4).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import tempfile
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from maa_guard.emulator.server import Emulator

Issuer = Callable[[Mapping[str, str]], "str | None"]
_LOGGED_FORM = ("grant_type", "client_id", "scope")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    authority: FakeAuthority


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path).path.strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            self._send(200, self.server.authority.openid_configuration(parts[0]))
        else:
            self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        status, body = self.server.authority.token(form)
        self._send(status, body)

    def _send(self, status: int, body: Mapping[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class FakeAuthority:
    """``with FakeAuthority(issue) as authority:``; ``issue(form)`` returns a token or None."""

    def __init__(self, issue: Issuer, host: str = "127.0.0.1", port: int = 0) -> None:
        self.issue, self.host, self.port = issue, host, port
        self.token_requests: list[dict[str, str]] = []
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

    def token(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests.append({k: form[k] for k in _LOGGED_FORM if k in form})
        issued = self.issue(form)
        if issued is None:
            description = "AADSTS7000215: Invalid client secret provided."
            return 401, {"error": "invalid_client", "error_description": description}
        return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": issued}

    def start(self) -> FakeAuthority:
        server = _Server((self.host, self.port), _Handler)
        server.authority = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        key_file = _write_certificate(self.host, self.ca_file)
        context.load_cert_chain(self.ca_file, key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server, self.port = server, server.server_address[1]
        kwargs = {"poll_interval": 0.05}
        threading.Thread(target=server.serve_forever, kwargs=kwargs, daemon=True).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
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


def authority_for(emulator: Emulator, secrets: Mapping[str, str]) -> FakeAuthority:
    """An authority issuing the emulator's app-only token for a client: by client secret
    (``secrets`` maps appId -> secret) or by any client assertion (not verified)."""

    def issue(form: Mapping[str, str]) -> str | None:
        client = form.get("client_id", "")
        secret_ok = "client_secret" in form and secrets.get(client) == form["client_secret"]
        if not (secret_ok or "client_assertion" in form):
            return None
        return next(
            (
                token
                for token, principal in emulator.tenant.tokens.items()
                if principal.app_only and principal.app_id == client
            ),
            None,
        )

    return FakeAuthority(issue)
