"""Local receivers for the watch tests: a webhook endpoint (Teams, Slack, generic webhook)
on 127.0.0.1, and an SMTP server requiring STARTTLS and AUTH with a throwaway certificate."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SMTP_LOGIN = b"maa-guard"
SMTP_PASSWORD = "smtp-pass-Qz3!never-printed"


# ---- HTTP receivers --------------------------------------------------------------------------


@dataclass
class Post:
    """``headers`` is case-insensitive, as HTTP headers are."""

    path: str
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local webhook endpoint. ``script``: statuses to answer first (then 200);
    ``hold``: when set, a request is recorded and then waits for ``release``."""

    script: list[int] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    hold: bool = False
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook/s3cr3t-path"

    def start(self) -> Receiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.posts.append(Post(self.path, self.headers, body))
                owner.arrived.set()
                if owner.hold:
                    owner.release.wait(30)
                status = owner.script.pop(0) if owner.script else 200
                owner.answered.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.release.set()
            self.server.shutdown()
            self.server.server_close()


def verify_signature(post: Post, key: str) -> bool:
    """What docs/watch.md tells a webhook receiver to do."""
    expected = "sha256=" + hmac.new(key.encode(), post.body, hashlib.sha256).hexdigest()
    header = post.headers["X-MAA-Guard-Signature"]
    stamp = post.headers["X-MAA-Guard-Timestamp"]
    return hmac.compare_digest(header, expected) and post.json()["sent_at"] == int(stamp)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- SMTP receiver ---------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 that is its own trust anchor."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "maa-guard test smtp")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.pem", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes
    encrypted: bool
    authenticated: bool


class Inbox:
    """aiosmtpd handler: every accepted message, with its envelope and whether the session
    was encrypted and authenticated."""

    def __init__(self) -> None:
        self.messages: list[Mail] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(
            Mail(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                parsed,
                bytes(envelope.original_content or envelope.content),
                session.ssl is not None,
                bool(session.authenticated),
            )
        )
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login, data.password))
            if data.login == SMTP_LOGIN and data.password == SMTP_PASSWORD.encode():
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@dataclass
class Smtp:
    inbox: Inbox
    port: int
    ca_file: Path


@contextmanager
def smtp_server(folder: Path) -> Iterator[Smtp]:
    cert, key = self_signed(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=inbox.authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield Smtp(inbox, port, cert)
    finally:
        controller.stop()
