"""The HTTP side shared by Teams, Slack and the generic webhook: settings, JSON POST."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from maa_guard.errors import ConfigError
from maa_guard.watch.message import Message
from maa_guard.watch.notifiers.base import DEFAULT_TIMEOUT, SendResult, env_name, post

HTTP_KEYS = frozenset({"url_env", "timeout"})
USER_AGENT = "maa-guard-watch"

Render = Callable[[Message], dict[str, Any]]
ExtraHeaders = Callable[[Message, bytes], dict[str, str]]


@dataclass(frozen=True, slots=True)
class HttpSettings:
    url_env: str
    timeout: float = DEFAULT_TIMEOUT


def parse_http(body: Mapping[str, Any], where: str) -> HttpSettings:
    return HttpSettings(url_env=env_name(body, "url_env", where), timeout=timeout(body, where))


def timeout(body: Mapping[str, Any], where: str) -> float:
    value = body.get("timeout", DEFAULT_TIMEOUT)
    if type(value) not in (int, float) or not 1 <= value <= 300:
        raise ConfigError(f"{where}: timeout: expected seconds between 1 and 300")
    return float(value)


def encode_json(payload: dict[str, Any]) -> bytes:
    """ASCII-only JSON: the bytes signed are the bytes sent, whatever the receiver's charset."""
    return json.dumps(payload, ensure_ascii=True, sort_keys=True, separators=(",", ":")).encode()


class JsonNotifier:
    """POSTs ``render(message)`` as JSON with an ``Idempotency-Key`` header. The URL is a
    secret: it is kept private and never shown by ``repr``."""

    def __init__(
        self, url: str, render: Render, timeout: float, extra: ExtraHeaders | None = None
    ) -> None:
        self._url = url
        self._render = render
        self._timeout = timeout
        self._extra = extra

    def __repr__(self) -> str:
        return f"JsonNotifier(url=<hidden>, render={self._render.__name__})"

    def payload(self, message: Message) -> bytes:
        return encode_json(self._render(message))

    def send(self, message: Message) -> SendResult:
        body = self.payload(message)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": message.idempotency_key,
        }
        if self._extra is not None:
            headers.update(self._extra(message, body))
        return post(self._url, body, headers, self._timeout)
