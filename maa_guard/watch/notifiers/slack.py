"""Slack: an incoming webhook taking Block Kit blocks. Tenant strings go in ``plain_text``
objects (never formatted) with ``&``, ``<``, ``>`` escaped, so no mention, link or command can
be formed; the notification text (``text``) holds only our own words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maa_guard.watch.message import ADMIN_CENTER, Fact, Message
from maa_guard.watch.notifiers.base import ChannelSpec, Notifier, checked_url, secret
from maa_guard.watch.notifiers.escape import fit, slack_text
from maa_guard.watch.notifiers.http import HTTP_KEYS, HttpSettings, JsonNotifier, parse_http

_FIELD_LIMIT = 1900  # Block Kit allows 2000 per field; the label takes the rest
_FIELDS_PER_SECTION = 10
_LONG = frozenset({"Justification", "Approver notes", "Finding"})


def render_blocks(message: Message) -> dict[str, Any]:
    short = [fact for fact in message.facts if fact.label not in _LONG]
    long = [fact for fact in message.facts if fact.label in _LONG]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(message.title)},
        *(
            {"type": "section", "fields": [_field(f) for f in short[i : i + _FIELDS_PER_SECTION]]}
            for i in range(0, len(short), _FIELDS_PER_SECTION)
        ),
        *({"type": "section", "text": _field(fact)} for fact in long),
        {"type": "section", "text": _plain(message.next_step)},
        {"type": "section", "text": _mrkdwn(f"<{message.link}|{ADMIN_CENTER}>")},
        {
            "type": "context",
            "elements": [_plain(f"Idempotency key: {message.idempotency_key}")],
        },
    ]
    return {
        "text": slack_text(message.title),
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


def _field(fact: Fact) -> dict[str, Any]:
    return {
        "type": "plain_text",
        "text": f"{slack_text(fact.label)}: {fit(fact.value, _FIELD_LIMIT, slack_text)}",
        "emoji": False,
    }


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": slack_text(text), "emoji": False}


def _mrkdwn(text: str) -> dict[str, Any]:
    """Our own link only; the URL is built by us with the request id URL-quoted."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _build(settings: HttpSettings, environ: Mapping[str, str]) -> Notifier:
    where = f"Slack receiver ({settings.url_env})"
    url = checked_url(secret(environ, settings.url_env, where), settings.url_env, where)
    return JsonNotifier(url, render_blocks, settings.timeout)


SPEC = ChannelSpec(keys=HTTP_KEYS, parse=parse_http, build=_build)
