"""A generic webhook: the event as JSON, signed with HMAC-SHA256.

Headers: ``X-MAA-Guard-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the
secret>``, ``X-MAA-Guard-Timestamp`` (Unix seconds, also in the body as ``sent_at``, so the
signature covers it), ``X-MAA-Guard-Event`` and ``Idempotency-Key``. docs/watch.md shows how a
receiver verifies them. Strings keep their exact tenant value: JSON escaping is the
receiver's contract, as in the JSON and SARIF reports.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from maa_guard.snapshot.codec import encode
from maa_guard.watch.message import Message
from maa_guard.watch.notifiers.base import ChannelSpec, Notifier, checked_url, env_name, secret
from maa_guard.watch.notifiers.http import HTTP_KEYS, JsonNotifier, timeout

PAYLOAD_SCHEMA = "maa-guard.watch.event/1"
SIGNATURE_HEADER = "X-MAA-Guard-Signature"
TIMESTAMP_HEADER = "X-MAA-Guard-Timestamp"


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    url_env: str
    secret_env: str
    timeout: float


def signature(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def payload(message: Message, sent_at: int) -> dict[str, Any]:
    event = message.event
    return {
        "schema": PAYLOAD_SCHEMA,
        "idempotency_key": message.idempotency_key,
        "event_key": event.key,
        "type": event.type.value,
        "severity": event.severity.label,
        "detected_at": encode(event.detected_at),
        "sent_at": sent_at,
        "delivery_attempt": message.attempt,
        "title": message.title,
        "facts": [{"label": f.label, "value": f.value} for f in message.facts],
        "next_step": message.next_step,
        "link": message.link,
        "event": {**encode(event), "severity": event.severity.label},
    }


class _Signed:
    """Stamps the time into the body and signs those exact bytes."""

    def __init__(self, key: bytes, clock: Callable[[], float]) -> None:
        self._key = key
        self._clock = clock
        self._stamp = 0

    def __repr__(self) -> str:
        return "_Signed(key=<hidden>)"

    def render(self, message: Message) -> dict[str, Any]:
        self._stamp = int(self._clock())
        return payload(message, self._stamp)

    def headers(self, message: Message, body: bytes) -> dict[str, str]:
        return {
            SIGNATURE_HEADER: signature(self._key, body),
            TIMESTAMP_HEADER: str(self._stamp),
            "X-MAA-Guard-Event": message.event.type.value,
        }


def _parse(body: Mapping[str, Any], where: str) -> WebhookSettings:
    return WebhookSettings(
        url_env=env_name(body, "url_env", where),
        secret_env=env_name(body, "secret_env", where),
        timeout=timeout(body, where),
    )


def build_webhook(
    settings: WebhookSettings, environ: Mapping[str, str], clock: Callable[[], float] = time.time
) -> Notifier:
    where = f"webhook receiver ({settings.url_env})"
    url = checked_url(secret(environ, settings.url_env, where), settings.url_env, where)
    signer = _Signed(secret(environ, settings.secret_env, where).encode(), clock)
    return JsonNotifier(url, signer.render, settings.timeout, signer.headers)


SPEC = ChannelSpec(
    keys=HTTP_KEYS | {"secret_env"},
    parse=_parse,
    build=lambda settings, environ: build_webhook(settings, environ),
)
