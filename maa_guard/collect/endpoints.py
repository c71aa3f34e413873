"""National clouds: the Graph host and the Entra authority host for ``--cloud``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from maa_guard.errors import UsageError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Cloud:
    name: str
    graph: str
    authority: str


CLOUDS: dict[str, Cloud] = {
    "global": Cloud("global", "https://graph.microsoft.com", "login.microsoftonline.com"),
    "usgov": Cloud("usgov", "https://graph.microsoft.us", "login.microsoftonline.us"),
    "usgov-dod": Cloud("usgov-dod", "https://dod-graph.microsoft.us", "login.microsoftonline.us"),
    "china": Cloud("china", "https://microsoftgraph.chinacloudapi.cn", "login.chinacloudapi.cn"),
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """``root`` has no trailing slash and no version: ``https://graph.microsoft.com``.

    ``scope`` always names the cloud's real Graph resource, also when ``root`` points at an
    emulator or a proxy, so the token requested is the one Graph would accept.
    """

    root: str
    scope: str
    authority: str
    cloud: str

    def url(self, version: str, path: str) -> str:
        return f"{self.root}/{version}/{path.lstrip('/')}"

    @property
    def loopback(self) -> bool:
        return urlsplit(self.root).hostname in LOOPBACK_HOSTS

    @property
    def origin(self) -> str:
        return origin_of(self.root)

    def same_origin(self, url: str) -> bool:
        """Whether ``url`` goes to this endpoint's scheme, host and port: the only place a
        request carrying the token may go."""
        origin = origin_of(url)
        return bool(origin) and origin == self.origin


def origin_of(url: str) -> str:
    """``scheme://host:port`` (the port always written) as httpx would connect for ``url``;
    ``""`` for a URL without a scheme and host, or one httpx cannot parse."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return ""
    scheme, host = parsed.scheme.lower(), parsed.host.lower()
    if not scheme or not host:
        return ""
    port = parsed.port or _DEFAULT_PORTS.get(scheme)
    name = f"[{host}]" if ":" in host else host
    return f"{scheme}://{name}" + (f":{port}" if port else "")


def resolve_endpoint(cloud: str = "global", graph_endpoint: str | None = None) -> Endpoint:
    if cloud not in CLOUDS:
        raise UsageError(f"unknown cloud {cloud!r}", f"choose one of: {', '.join(CLOUDS)}")
    chosen = CLOUDS[cloud]
    root = chosen.graph if graph_endpoint is None else _checked_root(graph_endpoint)
    return Endpoint(root, f"{chosen.graph}/.default", chosen.authority, chosen.name)


def _checked_root(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"--graph-endpoint {url!r} is not an http(s) URL",
            "give the root, e.g. http://127.0.0.1:8080 (without /beta)",
        )
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise UsageError(
            f"--graph-endpoint {url!r} uses plain http to a remote host",
            "plain http is allowed only on loopback; use https",
        )
    path = parts.path.rstrip("/")
    for version in ("/beta", "/v1.0"):
        if path.endswith(version):
            path = path[: -len(version)]
    return f"{parts.scheme}://{parts.netloc}{path}"
