"""What may leave the probe: schema names as they are, tenant values only as salted hashes.

A property name is schema, not tenant data, so it is shown; but one longer than 64 characters or
with a character outside ``@ A-Z a-z 0-9 _ . # -`` is hashed all the same, so a name can carry
no data. Ids are hashed with HMAC-SHA256 under a salt drawn for each run and never shown: two
reports cannot be linked, and a hash cannot be reversed by trying every id.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from maa_guard.reporters.text import one_line

NAME_PATTERN = re.compile(r"^[@A-Za-z0-9_.#-]+$")
MAX_NAME = 64
# Microsoft's audit strings (activity, category...) are kept, cut to this length.
MAX_TEXT = 120
HASH_PREFIX = "h:"
_INDEX = re.compile(r"\[\d+\]")


class Redactor:
    """Hashes with one random salt; ``salt`` is given only by tests."""

    def __init__(self, salt: bytes | None = None) -> None:
        self._salt = salt if salt is not None else secrets.token_bytes(32)

    def __repr__(self) -> str:
        return "Redactor(<salt hidden>)"

    def hash(self, value: str) -> str:
        digest = hmac.new(self._salt, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return HASH_PREFIX + digest.hexdigest()[:12]

    def name(self, value: str) -> str:
        """A schema name (property, enum member, error code, resource type) or its hash."""
        if len(value) <= MAX_NAME and NAME_PATTERN.match(value):
            return value
        return self.hash(value)

    def path(self, segments: tuple[str, ...]) -> str:
        """A nested property's dotted path, each segment a :meth:`name` (``[]``: an array)."""
        return ".".join(self._segment(s) for s in segments)

    def _segment(self, segment: str) -> str:
        if segment.endswith("[]"):
            return self.name(segment[:-2]) + "[]"
        return self.name(segment)

    def property_name(self, value: str) -> str:
        """An audit ``modifiedProperties`` name: array indices fold to ``[]`` first."""
        folded = _INDEX.sub("[]", value)
        plain = folded.replace("[]", "")
        if plain and len(folded) <= MAX_NAME and NAME_PATTERN.match(plain):
            return folded
        return self.hash(value)


def microsoft_text(value: object) -> str:
    """One of Microsoft's strings (an audit activity...): one line, inert, at most MAX_TEXT."""
    if value is None:
        return ""
    text = one_line(str(value))
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
