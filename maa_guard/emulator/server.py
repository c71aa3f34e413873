"""The loopback HTTP server: stdlib ``ThreadingHTTPServer`` in a background thread."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from maa_guard.emulator.changes import TenantChanges
from maa_guard.emulator.faults import Faults
from maa_guard.emulator.graphroles import READER_TOKEN
from maa_guard.emulator.loopback import (
    check_loopback_bind,
    foreign_host,
    misdirected_message,
    named_authority,
    url_host,
)
from maa_guard.emulator.maa import Maa, fixture_clock
from maa_guard.emulator.profiles import profile_named
from maa_guard.emulator.service import Service
from maa_guard.emulator.tenant import Tenant, load_fixture
from maa_guard.emulator.throttle import Clock, Limit, Throttle
from maa_guard.emulator.tokens import IssuedTokens
from maa_guard.emulator.wire import Call, Json, LoggedRequest, Reply, error

_VERSIONS = ("beta", "v1.0")
_CONTENT_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"
Fixture = Mapping[str, Any] | Path | str


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    address_family = socket.AF_INET
    request_queue_size = 128  # a collector opens many connections at once; 5 stalls them
    service: Service
    latency: float
    connections: set[socket.socket]
    lock: threading.Lock


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the record."""

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def _handle(self) -> None:
        origin = self._origin()
        if origin is None:
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.server.latency:
            time.sleep(self.server.latency)
        call = _call(self.command, self.path, dict(self.headers.items()), body, origin)
        reply = self.server.service.handle(call) if isinstance(call, Call) else call
        self._send(reply)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    def _origin(self) -> str | None:
        """``http://`` and the loopback name and port the request named, so the links in its
        answer lead back the way it came (``localhost``, ``127.0.0.1`` or ``[::1]``). None when
        it named another host (a DNS-rebinding web page names its own domain): answered 421
        and closed, having read nothing."""
        port = int(self.server.server_address[1])
        hosts = self.headers.get_all("Host") or []
        foreign = foreign_host(hosts, self.path, port, 80)
        if foreign is None:
            return f"http://{(named_authority(hosts, self.path) or '').lower()}"
        reply = error(421, "MisdirectedRequest", misdirected_message("http", port, foreign))
        reply.headers["request-id"] = reply.body["error"]["innerError"]["request-id"]
        reply.headers["Connection"] = "close"
        self._send(reply)
        return None

    def _send(self, reply: Reply) -> None:
        if reply.fault == "reset":
            self._reset()
            return
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", _CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if reply.fault == "truncate":
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self._reset()
            return
        self.wfile.write(payload)

    def _reset(self) -> None:
        """Close with RST: SO_LINGER on with a zero timeout."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


def _call(
    method: str, raw_path: str, headers: Mapping[str, str], body: bytes, origin: str
) -> Call | Reply:
    parts = urlsplit(raw_path)
    path = unquote(parts.path).lstrip("/")
    version, _, rest = path.partition("/")
    if version not in _VERSIONS:
        return error(400, "BadRequest", f"Invalid version: {version}")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    lowered = {name.lower(): value for name, value in headers.items()}
    return Call(method.upper(), version, rest, query, parts.query, lowered, body, origin=origin)


class Emulator:
    """``with Emulator(fixture) as emulator:`` serves Graph on ``emulator.url`` until exit.

    ``profile="published"`` serves what Microsoft's Graph publishes (no exclusion property on
    access policies, null request identities, MAA audit events in their own category);
    ``"default"`` serves the provisional exclusion property, so tests can write exclusions
    through Graph. See ``docs/emulator.md``.

    Each token the fixture names gets a fresh random bearer token (``reader_token``,
    ``app_token(app_id)``, ``user_token(user_id)``, ``token(name)``, ``tokens``);
    ``fixed_tokens=True`` makes the names themselves the tokens, for tests and documentation
    only. It listens on loopback only and answers requests that name it by a loopback name.

    ``emulator.change`` changes the tenant between two reads (tests); ``delta=False`` (or
    ``emulator.delta = False``) makes ``/{collection}/delta`` answer 400 as for a resource
    without delta query; ``expire_delta_tokens()`` expires every delta query token issued.
    """

    def __init__(
        self,
        fixture: Fixture,
        *,
        profile: str = "default",
        approval_mode: str = "412",
        latency_ms: int = 0,
        faults: Mapping[str, Any] | None = None,
        throttle: bool | Mapping[str, Limit] = True,
        clock: Clock = time.monotonic,
        now: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        fixed_tokens: bool = False,
        delta: bool = True,
    ) -> None:
        check_loopback_bind(host)
        if approval_mode not in ("403", "412"):
            raise ValueError("approval_mode must be '403' or '412'")
        self.profile = profile_named(profile)
        if self.profile.published and approval_mode != "412":
            raise ValueError("the published profile answers a filed request with 412 only")
        self.approval_mode = approval_mode
        self.tenant = Tenant(load_fixture(fixture))
        self._tokens = IssuedTokens(self.tenant.tokens, fixed=fixed_tokens)
        self.tenant.tokens = self._tokens.by_token()
        self.profile.prepare(self.tenant)
        self.tenant.changes.delta_enabled = delta
        self.change = TenantChanges(self.tenant)
        self.latency = latency_ms / 1000
        self.host, self.port = host, port
        self.service = Service(
            self.tenant,
            lambda: self.url,
            throttle=_throttle(throttle, clock),
            faults=Faults(faults),
            writes=_write_handler(self, now),
            profile=self.profile,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}"

    @property
    def fixed_tokens(self) -> bool:
        return self._tokens.fixed

    @property
    def tokens(self) -> dict[str, str]:
        """Each token name of the fixture -> its bearer token (a copy)."""
        return self._tokens.by_name()

    def token(self, name: str) -> str:
        """The bearer token of the fixture's token ``name``; LookupError when it has none."""
        return self._tokens.token(name)

    @property
    def reader_token(self) -> str:
        """The app-only token with the least-privilege read set of an MAA auditor (the one
        ``fixture_from_snapshot`` names ``maa-guard-reader``)."""
        return self._tokens.token(READER_TOKEN)

    def app_token(self, app_id: str) -> str:
        """The bearer token of ``app_id``'s app-only calls; LookupError when it has none."""
        return self._tokens.app_token(app_id)

    def user_token(self, user_id: str) -> str:
        """The bearer token of ``user_id``'s delegated calls; LookupError when it has none."""
        return self._tokens.user_token(user_id)

    def token_document(self) -> dict[str, Any]:
        """Every token, as ``maa-guard emulate --token-file`` writes them (JSON-ready)."""
        return self._tokens.document(self.url)

    @property
    def requests(self) -> list[LoggedRequest]:
        """A copy of the request log, taken under its lock."""
        return self.service.requests

    @property
    def delta(self) -> bool:
        """Whether ``/{collection}/delta`` is served (else 400 ``Request_UnsupportedQuery``)."""
        return self.tenant.changes.delta_enabled

    @delta.setter
    def delta(self, enabled: bool) -> None:
        with self.tenant.lock:
            self.tenant.changes.delta_enabled = enabled

    def expire_delta_tokens(self) -> None:
        """Every delta token and delta skip token issued so far answers 410 from now on."""
        with self.tenant.lock:
            self.tenant.changes.expire()

    @property
    def audit_events(self) -> list[Json]:
        with self.tenant.lock:
            return list(self.tenant.emitted_audit)

    def start(self) -> Emulator:
        server = _server_for(self.host, self.port)
        server.service, server.latency = self.service, self.latency
        server.connections, server.lock = set(), threading.Lock()
        self._server, self.port = server, server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            # stop() waits for the loop to see the shutdown: up to one poll interval
            kwargs={"poll_interval": 0.01},
            name="maa-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with server.lock:
            for connection in list(server.connections):
                _close_quietly(connection)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _server_for(host: str, port: int) -> _Server:
    server_class = _Server6 if ":" in host else _Server
    return server_class((host, port), _Handler)


def _close_quietly(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


def _throttle(setting: bool | Mapping[str, Limit], clock: Clock) -> Throttle | None:
    if setting is False:
        return None
    return Throttle(None if setting is True else setting, clock)


def _write_handler(emulator: Emulator, now: Callable[[], datetime] | None) -> Maa:
    clock = now or fixture_clock(emulator.tenant)
    return Maa(emulator.tenant, emulator.approval_mode, clock, emulator.profile)


def serve_forever(
    fixture: Fixture,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    profile: str = "default",
    approval_mode: str = "412",
    latency_ms: int = 0,
    faults: Mapping[str, Any] | None = None,
    throttle: bool = True,
    now: Callable[[], datetime] | None = None,
    ready: Callable[[Emulator], None] | None = None,
    stop: threading.Event | None = None,
    fixed_tokens: bool = False,
) -> None:
    """Serve until Ctrl-C (or ``stop`` is set); ``ready`` gets the emulator once it listens.

    This is what ``maa-guard emulate`` runs: ``ready`` prints ``emulator.url`` and the reader
    token, or writes every token to a file.
    """
    emulator = Emulator(
        fixture,
        profile=profile,
        approval_mode=approval_mode,
        latency_ms=latency_ms,
        faults=faults,
        throttle=throttle,
        now=now,
        host=host,
        port=port,
        fixed_tokens=fixed_tokens,
    )
    stop = stop or threading.Event()
    with emulator:
        if ready is not None:
            ready(emulator)
        try:
            while not stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            return
