"""JSON from a file or a pipe that a person or another program wrote: a baseline, a draft, a
request body, an emulator tenant.

``load_json_text`` is ``json.loads`` that fails only with ``json.JSONDecodeError`` (so the
callers' "not valid JSON" messages cover everything): a document nested deeper than
``MAX_DEPTH`` levels, deep enough to exhaust the parser's recursion or any code that walks the
result, and a number with more digits than Python converts, are both reported as such.
"""

from __future__ import annotations

import json
from typing import Any

# Graph objects, drafts and baselines are a few levels deep; a settings catalog body some 20.
MAX_DEPTH = 100


class JsonInputError(json.JSONDecodeError):
    """Valid JSON that maa-guard will not take; ``msg`` says why (no position is known)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem, "", 0)

    def __str__(self) -> str:
        return self.msg


def load_json_text(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    too_deep = JsonInputError(f"nested more than {max_depth} levels deep")
    try:
        value = json.loads(text)
    except RecursionError:
        raise too_deep from None
    except json.JSONDecodeError:
        raise
    except ValueError as error:  # e.g. an integer longer than Python converts
        raise JsonInputError(str(error)) from None
    if nesting_depth(value, max_depth) > max_depth:
        raise too_deep
    return value


def nesting_depth(value: Any, stop_after: int) -> int:
    """How many lists and objects deep ``value`` goes, counted without recursion; the count
    stops once it passes ``stop_after``."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if not isinstance(item, (list, dict)):
            continue
        deepest = max(deepest, depth)
        if deepest > stop_after:
            return deepest
        children = item.values() if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children)
    return deepest
