"""What the emulator's servers share: loopback binds only, a request answered only when it
names this server by a loopback name and its own port (a DNS-rebinding web page names its own
domain: it gets 421), and, for the small side servers (the fake authority, the managed identity
endpoint), a quiet JSON request handler and a server thread started and stopped the same way."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_BINDS = ("127.0.0.1", "::1", "localhost")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_SHOWN_HOST = 200  # characters of a foreign Host header repeated in the answer


def check_loopback_bind(host: str) -> None:
    """Refuse to listen anywhere but loopback: the emulator's tokens guard a whole tenant."""
    if host.lower() not in LOOPBACK_BINDS:
        raise ValueError(f"host must be 127.0.0.1, ::1 or localhost (loopback only), not {host!r}")


def url_host(host: str) -> str:
    """``host`` as it stands in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def foreign_host(
    host_headers: Sequence[str], target: str, port: int, default_port: int
) -> str | None:
    """The host a request names when that is not this server (a loopback name with ``port``),
    else None. An absolute request target (``GET http://host/...``) names its own host; no Host
    header, or two, name no one host."""
    named = named_authority(host_headers, target)
    if named is None:
        return ", ".join(host_headers)
    name, port_text = _split_host(named)
    own_port = port_text == str(port) if port_text else port == default_port
    return None if own_port and name.lower() in LOOPBACK_NAMES else named


def named_authority(host_headers: Sequence[str], target: str) -> str | None:
    """The ``host[:port]`` a request names: an absolute request target's, else its one Host
    header's; None for no Host header or two."""
    authority = urlsplit(target).netloc
    if authority:
        return authority
    return host_headers[0].strip() if len(host_headers) == 1 else None


def misdirected_message(scheme: str, port: int, named: str) -> str:
    """Why a request naming ``named`` is refused (a Graph or an OAuth error message)."""
    names = [f"{scheme}://{name}:{port}" for name in LOOPBACK_NAMES]
    what = f"the host '{named[:_SHOWN_HOST]}'" if named else "no host"
    return (
        f"This emulator answers only {', '.join(names[:-1])} and {names[-1]}; "
        f"the request named {what}."
    )


def _split_host(named: str) -> tuple[str, str]:
    if named.endswith("]") or ":" not in named:
        return named, ""
    name, _, port = named.rpartition(":")
    return name, port


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the server's own request log instead."""

    def misdirected(self, scheme: str, default_port: int) -> bool:
        """Answer 421 and close when the request names another host; True when it did."""
        port = int(self.connection.getsockname()[1])  # the port this server listens on
        hosts = self.headers.get_all("Host") or []
        named = foreign_host(hosts, self.path, port, default_port)
        if named is None:
            return False
        description = misdirected_message(scheme, port, named)
        body = {"error": "misdirected_request", "error_description": description}
        self.send_json(421, body, close=True)
        return True

    def send_json(self, status: int, body: Mapping[str, Any], *, close: bool = False) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        if close:
            self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def serve_in_background(server: ThreadingHTTPServer) -> None:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()


def shut_down(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
