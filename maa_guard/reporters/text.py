"""Tenant strings are hostile: the one place that makes them inert for text formats.

Display names, justifications and group names come from the tenant and may hold ANSI escapes,
bidirectional overrides, rich markup, HTML, Markdown or spreadsheet formulas. Every reporter that
writes text (terminal, Markdown, CSV, JUnit XML, HTML) passes them through these helpers. JSON
keeps the exact string, because ``json.dumps`` escapes what needs escaping; SARIF too, except
that the text a code-scanning view shows goes through ``unhidden``. CI log commands are made
inert on standard output, for every format, by ``cilog``.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls, the invisible characters that reorder or
# hide text (bidirectional marks, embeddings, overrides and isolates, zero-width space, word
# joiner, line and paragraph separators, byte order mark), the two non-characters and lone
# surrogates. Zero-width (non-)joiners stay: scripts and emoji sequences need them. After ``inert``
# a string holds only characters that XML 1.0 allows.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060"
    "\u2066-\u2069\ufeff\ufffe\uffff\ud800-\udfff]"
)
# The characters that reorder or hide text and nothing else: SARIF viewers show message text as
# it is, so these would let a tenant string disguise a finding there. Here the joiners count too.
_HIDING = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_WHITESPACE = re.compile(r"[\t\n]+")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Markdown: punctuation gets a backslash (the backslash too); HTML-significant characters become
# entities, ``&`` first so the entities added for ``<`` and ``>`` stay as they are.
_MARKDOWN_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: str) -> str:
    """Control and format characters shown as ``\\x1b`` / ``\\u202e``; tab and newline kept."""
    return _CONTROL.sub(_visible, text)


def unhidden(text: str) -> str:
    """Bidirectional controls and zero-width characters shown as ``\\u202e``; the rest kept."""
    return _HIDING.sub(_visible, text)


def one_line(text: str) -> str:
    """``inert`` text with runs of tabs and newlines folded to one space, for table cells."""
    return _WHITESPACE.sub(" ", inert(text)).strip()


def csv_cell(text: str) -> str:
    """A spreadsheet cannot run it: a leading ``= + - @``, tab or CR gets a ``'`` prefix."""
    if text.startswith(_FORMULA_STARTS):
        text = "'" + text
    return inert(text)


def markdown(text: str) -> str:
    """One line of GitHub-flavoured Markdown that renders as the literal text."""
    escaped = _MARKDOWN_PUNCTUATION.sub(r"\\\1", one_line(text))
    for raw, entity in _MARKDOWN_ENTITIES:
        escaped = escaped.replace(raw, entity)
    return escaped
