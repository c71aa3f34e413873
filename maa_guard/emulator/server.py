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

from maa_guard.emulator.faults import Faults
from maa_guard.emulator.maa import Maa, fixture_clock
from maa_guard.emulator.service import Service
from maa_guard.emulator.tenant import Tenant, load_fixture
from maa_guard.emulator.throttle import Clock, Limit, Throttle
from maa_guard.emulator.wire import Call, Json, LoggedRequest, Reply, error

_VERSIONS = ("beta", "v1.0")
_CONTENT_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"
Fixture = Mapping[str, Any] | Path | str


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a collector opens many connections at once; 5 stalls them
    service: Service
    latency: float
    connections: set[socket.socket]
    lock: threading.Lock


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
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.server.latency:
            time.sleep(self.server.latency)
        call = _call(self.command, self.path, dict(self.headers.items()), body)
        reply = self.server.service.handle(call) if isinstance(call, Call) else call
        self._send(reply)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

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


def _call(method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Call | Reply:
    parts = urlsplit(raw_path)
    path = unquote(parts.path).lstrip("/")
    version, _, rest = path.partition("/")
    if version not in _VERSIONS:
        return error(400, "BadRequest", f"Invalid version: {version}")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    lowered = {name.lower(): value for name, value in headers.items()}
    return Call(method.upper(), version, rest, query, parts.query, lowered, body)


class Emulator:
    """``with Emulator(fixture) as emulator:`` serves Graph on ``emulator.url`` until exit."""

    def __init__(
        self,
        fixture: Fixture,
        *,
        approval_mode: str = "412",
        latency_ms: int = 0,
        faults: Mapping[str, Any] | None = None,
        throttle: bool | Mapping[str, Limit] = True,
        clock: Clock = time.monotonic,
        now: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if approval_mode not in ("403", "412"):
            raise ValueError("approval_mode must be '403' or '412'")
        self.approval_mode = approval_mode
        self.tenant = Tenant(load_fixture(fixture))
        self.latency = latency_ms / 1000
        self.host, self.port = host, port
        self.service = Service(
            self.tenant,
            lambda: self.url,
            throttle=_throttle(throttle, clock),
            faults=Faults(faults),
            writes=_write_handler(self, now),
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[LoggedRequest]:
        """A copy of the request log, taken under its lock."""
        return self.service.requests

    @property
    def audit_events(self) -> list[Json]:
        with self.tenant.lock:
            return list(self.tenant.emitted_audit)

    def start(self) -> Emulator:
        server = _Server((self.host, self.port), _Handler)
        server.service, server.latency = self.service, self.latency
        server.connections, server.lock = set(), threading.Lock()
        self._server, self.port = server, server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
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


def _close_quietly(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


def _throttle(setting: bool | Mapping[str, Limit], clock: Clock) -> Throttle | None:
    if setting is False:
        return None
    return Throttle(None if setting is True else setting, clock)


def _write_handler(emulator: Emulator, now: Callable[[], datetime] | None) -> Maa:
    return Maa(emulator.tenant, emulator.approval_mode, now or fixture_clock(emulator.tenant))


def serve_forever(
    fixture: Fixture,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    approval_mode: str = "412",
    latency_ms: int = 0,
    faults: Mapping[str, Any] | None = None,
    throttle: bool = True,
    now: Callable[[], datetime] | None = None,
    ready: Callable[[Emulator], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve until Ctrl-C (or ``stop`` is set); ``ready`` gets the emulator once it listens.

    This is what ``maa-guard emulate`` runs: ``ready`` prints ``emulator.url`` and the tokens.
    """
    emulator = Emulator(
        fixture,
        approval_mode=approval_mode,
        latency_ms=latency_ms,
        faults=faults,
        throttle=throttle,
        now=now,
        host=host,
        port=port,
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
