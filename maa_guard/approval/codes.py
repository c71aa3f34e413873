"""Approval codes: MAA names each approval request by a GUID."""

from __future__ import annotations

import re

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def is_code(text: str) -> bool:
    return isinstance(text, str) and bool(_GUID.match(text))
