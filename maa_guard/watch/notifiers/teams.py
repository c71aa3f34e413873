"""Microsoft Teams: a Workflows (Power Automate) webhook or a legacy incoming webhook, which
both take a message with one Adaptive Card attachment. Tenant strings are escaped for the
card's Markdown (see :mod:`escape`); our idempotency key is shown on the card."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maa_guard.watch.message import ADMIN_CENTER, Message
from maa_guard.watch.notifiers.base import ChannelSpec, Notifier, checked_url, secret
from maa_guard.watch.notifiers.escape import card_text, fit
from maa_guard.watch.notifiers.http import HTTP_KEYS, HttpSettings, JsonNotifier, parse_http

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
_VALUE_LIMIT = 2000


def render_card(message: Message) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": _card(message),
            }
        ],
    }


def _card(message: Message) -> dict[str, Any]:
    facts = [
        {"title": card_text(fact.label), "value": fit(fact.value, _VALUE_LIMIT, card_text)}
        for fact in message.facts
    ]
    return {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            _text(card_text(message.title), weight="Bolder", size="Medium"),
            {"type": "FactSet", "facts": facts},
            _text(card_text(message.next_step)),
            _text(
                card_text(f"Idempotency key: {message.idempotency_key}"),
                isSubtle=True,
                size="Small",
            ),
        ],
        "actions": [{"type": "Action.OpenUrl", "title": ADMIN_CENTER, "url": message.link}],
    }


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _build(settings: HttpSettings, environ: Mapping[str, str]) -> Notifier:
    where = f"Teams receiver ({settings.url_env})"
    url = checked_url(secret(environ, settings.url_env, where), settings.url_env, where)
    return JsonNotifier(url, render_card, settings.timeout)


SPEC = ChannelSpec(keys=HTTP_KEYS, parse=parse_http, build=_build)
