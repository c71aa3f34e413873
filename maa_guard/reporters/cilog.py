"""CI log commands in tenant strings, made inert in what a command writes to standard output.

Azure Pipelines acts on a logging command anywhere in a line of a step's output
(``##vso[task.setvariable ...]``, in any case), GitHub Actions on a workflow command in a line
whose first non-space characters are ``::`` (``::error file=x::``, ``::add-mask::``) and on
its older ``##[command]`` form anywhere in a line; Azure Pipelines also formats lines by
``##[group]`` and the like. The runners split output at CR and LF and compare as .NET does by
default, culture-sensitively, so characters it ignores (a soft hyphen, a zero-width space, a
control character) between the characters of a command do not stop it.

The functions work on the final text (a table after rich wrapped it, so wrapping cannot put a
``::`` at a line start unseen) and change only what a runner would read as a command, in the
format's own escaping, so the text reads back as the same data:

- ``neutral_lines`` (terminal, Markdown, CSV): a backslash before the second ``#`` of
  ``##vso[`` or ``##[`` and before the ``::`` that starts a line. Markdown reads ``\\#`` and
  ``\\:`` as escapes, so a rendered page still shows the original characters.
- ``neutral_json`` (JSON, SARIF): inside string literals only, that ``#`` as ``\\u0023`` and the
  first ``:`` of every ``::`` as ``\\u003a``; ``json.loads`` gives back exactly the same data.
- ``neutral_xml`` (JUnit XML, HTML): character references, ``&#35;`` and ``&#58;``.
- ``neutral_toml``: strings as in JSON (TOML has the same ``\\u`` escapes), comments as lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

# Ignored by .NET's culture-sensitive comparison: control characters and the default-ignorable
# code points (soft hyphen, joiners, bidirectional marks, variation selectors, tags). CR and LF
# end a line instead. Tab and the other spaces are here too: matching more is harmless.
_IGNORED_CHARS = (
    "\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\xad\u034f\u061c\u115f\u1160\u17b4\u17b5"
    "\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
_IGNORED = f"[{_IGNORED_CHARS}]*"
# ``##vso[`` and ``##[``: group 1 is the first ``#`` and what lies between it and the second.
_HASHES = re.compile(
    f"(#{_IGNORED})#(?={_IGNORED}(?:v{_IGNORED}s{_IGNORED}o{_IGNORED})?\\[)", re.IGNORECASE
)
# A line's leading ``::`` (after spaces, ignored characters and colour codes): group 1 is what
# precedes the first colon. Python's line ends (a superset of .NET's) count as line starts.
_LINE_START = "(?:^|(?<=[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]))"
_LEADING_COLONS = re.compile(
    f"{_LINE_START}((?:[\\s{_IGNORED_CHARS}]|\x1b\\[[0-9;]*m)*):(?={_IGNORED}:)"
)
_JSON_STRING = re.compile(r'"(?:[^"\\\n\r]|\\.)*"')
_DOUBLE_COLON = re.compile(":(?=:)")

Syntax = Literal["text", "json", "xml", "toml"]
FORMAT_SYNTAX: dict[str, Syntax] = {
    "table": "text",
    "text": "text",
    "markdown": "text",
    "csv": "text",
    "json": "json",
    "sarif": "json",
    "junit": "xml",
    "html": "xml",
    "toml": "toml",
}


def neutral_lines(text: str) -> str:
    """Plain text with a backslash where a runner would otherwise see a command."""
    if "#" not in text and ":" not in text:
        return text
    text = _HASHES.sub(r"\1\\#", text)
    return _LEADING_COLONS.sub(r"\1\\:", text)


def neutral_json(text: str) -> str:
    """Serialised JSON with the command characters of its strings as ``\\u`` escapes."""
    if "#" not in text and "::" not in text:
        return text
    return _JSON_STRING.sub(_json_literal, text)


def _json_literal(match: re.Match[str]) -> str:
    literal = _HASHES.sub(r"\1\\u0023", match.group())
    return _DOUBLE_COLON.sub(r"\\u003a", literal)


def neutral_xml(text: str) -> str:
    """XML or HTML with the command characters as character references."""
    if "#" not in text and ":" not in text:
        return text
    text = _HASHES.sub(r"\1&#35;", text)
    return _LEADING_COLONS.sub(r"\1&#58;", text)


def neutral_toml(text: str) -> str:
    """TOML: basic strings escaped as JSON strings are, then comments as plain lines."""
    return neutral_lines(neutral_json(text))


NEUTRALISERS: dict[Syntax, Callable[[str], str]] = {
    "text": neutral_lines,
    "json": neutral_json,
    "xml": neutral_xml,
    "toml": neutral_toml,
}


def neutraliser(output_format: str) -> Callable[[str], str]:
    """The function for an output format's name (``table``, ``json``, ``sarif``, ...)."""
    return NEUTRALISERS[FORMAT_SYNTAX[output_format]]
