"""What every channel shares: the send result, secrets from named environment variables, and
one HTTP POST that never follows redirects and never puts a URL in a message or a log.

Webhook URLs of Teams and Slack are secrets (whoever has one can post), so a failure is
described by its status or exception type only, never by the URL or the response body.
"""

from __future__ import annotations

import enum
import http.client
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message as MimeHeaders
from typing import Any, Protocol
from urllib.parse import urlsplit

from maa_guard.errors import ConfigError
from maa_guard.watch.message import Message
from maa_guard.watch.model import Event

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Statuses worth retrying; any other 4xx means the receiver's configuration is wrong.
RETRY_STATUSES = frozenset({408, 425, 429})
DEFAULT_TIMEOUT = 30.0


class Outcome(str, enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    detail: str = ""
    retry_after: float | None = None


class Notifier(Protocol):
    def send(self, message: Message) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """``keys``: the channel's own config keys; ``parse`` checks them (no environment access);
    ``build`` resolves the named secrets and returns a ready notifier; ``accepts`` says whether
    an event has anyone to send to on this receiver."""

    keys: frozenset[str]
    parse: Callable[[Mapping[str, Any], str], Any]
    build: Callable[[Any, Mapping[str, str]], Notifier]
    accepts: Callable[[Any, Event], bool] = lambda settings, event: True


def env_name(body: Mapping[str, Any], key: str, where: str) -> str:
    """The NAME of an environment variable; the value given is never repeated (it may be the
    secret itself, pasted in the wrong place)."""
    value = body.get(key)
    if value is None:
        raise ConfigError(
            f"{where}: {key} is required", f'name the environment variable: {key} = "MY_VARIABLE"'
        )
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ConfigError(
            f"{where}: {key} must name an environment variable (letters, digits and _)",
            "the value itself goes into that variable, not into the config file",
        )
    return value


def secret(environ: Mapping[str, str], variable: str, where: str) -> str:
    value = environ.get(variable, "")
    if not value.strip():
        raise ConfigError(
            f"{where}: environment variable {variable} is not set",
            f"export {variable} before starting the watch",
        )
    return value.strip()


def checked_url(url: str, variable: str, where: str) -> str:
    """https, or plain http to a loopback address (a local relay or a test receiver)."""
    parts = urlsplit(url)
    loopback_http = parts.scheme == "http" and parts.hostname in _LOOPBACK
    if not parts.netloc or not (parts.scheme == "https" or loopback_http):
        raise ConfigError(
            f"{where}: the value of {variable} is not an https URL",
            "plain http is allowed only to 127.0.0.1, localhost or ::1",
        )
    return url


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"cannot load the CA file {ca_file}: {type(error).__name__}") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as an error: the payload is not re-sent elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float = DEFAULT_TIMEOUT,
    context: ssl.SSLContext | None = None,
) -> SendResult:
    handlers: list[urllib.request.BaseHandler] = [
        _NoRedirect(),
        urllib.request.HTTPSHandler(context=context or tls_context(None)),
    ]
    if urlsplit(url).hostname in _LOOPBACK:  # a local receiver is never reached via HTTP_PROXY
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    # The scheme was checked when the receiver was built (checked_url): https or loopback http.
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(65536)
            return classify(response.status, response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return classify(error.code, error.headers)
    except urllib.error.URLError as error:
        return _transport_failure(error.reason)
    except (OSError, ValueError, http.client.HTTPException) as error:
        return _transport_failure(error)


def classify(status: int, headers: MimeHeaders | None) -> SendResult:
    if 200 <= status < 300:
        return SendResult(Outcome.DELIVERED, f"HTTP {status}")
    if status >= 500 or status in RETRY_STATUSES:
        return SendResult(Outcome.RETRY, f"HTTP {status}", _retry_after(headers))
    if 300 <= status < 400:
        return SendResult(Outcome.REJECTED, f"HTTP {status} (a redirect: check the URL)")
    return SendResult(Outcome.REJECTED, f"HTTP {status}")


def _retry_after(headers: MimeHeaders | None) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _transport_failure(reason: object) -> SendResult:
    name = type(reason).__name__ if not isinstance(reason, str) else "URLError"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return SendResult(Outcome.REJECTED, f"TLS certificate not trusted ({name})")
    return SendResult(Outcome.RETRY, f"cannot connect ({name})")
