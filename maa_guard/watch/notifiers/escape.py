"""Tenant strings made inert for each message format.

Every value is first folded to one line with control and invisible characters shown as
``\\x1b`` / ``\\u202e`` (:func:`maa_guard.reporters.text.one_line`): a justification cannot add
a line that looks like one of our fields, inject an e-mail header or move a terminal cursor.

- Adaptive Card (Teams): TextBlock and FactSet text is Markdown; its punctuation gets a
  backslash (CommonMark escapes any ASCII punctuation), and a leading list or heading marker too.
- Slack: ``&``, ``<`` and ``>`` become entities, which is all Slack parses links, mentions
  (``<!channel>``) and commands from; values go in ``plain_text`` objects, which Slack never
  formats, so ``*bold*`` stays as typed.
- E-mail: text/plain only, so HTML stays literal; the subject is one line.
- Generic webhook: JSON keeps the exact string (``json.dumps`` escapes what JSON needs).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from maa_guard.reporters.text import one_line

_CARD_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()<>!~|&#])")
_CARD_BULLET = re.compile(r"^([-+=])")
_CARD_NUMBERED = re.compile(r"^(\d+)\.")
_SLACK_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
ELLIPSIS = "\u2026"


def card_text(text: str) -> str:
    escaped = _CARD_PUNCTUATION.sub(r"\\\1", one_line(text))
    escaped = _CARD_BULLET.sub(r"\\\1", escaped)
    return _CARD_NUMBERED.sub(r"\1\\.", escaped)


def slack_text(text: str) -> str:
    escaped = one_line(text)
    for raw, entity in _SLACK_ENTITIES:
        escaped = escaped.replace(raw, entity)
    return escaped


def plain_text(text: str) -> str:
    return one_line(text)


def fit(text: str, limit: int, escape: Callable[[str], str]) -> str:
    """``escape(text)`` cut to at most ``limit`` characters without splitting an escape."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(escape(text[:middle])) + len(ELLIPSIS) <= limit:
            low = middle
        else:
            high = middle - 1
    return escape(text[:low]) + ELLIPSIS
