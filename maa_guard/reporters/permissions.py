"""`maa-guard permissions`: the application permissions each data source needs, and with
``--check`` those the token in use lacks, as a terminal table or JSON.

Only maa-guard's own permission names appear here (the missing ones are a subset of them),
never text from the token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from maa_guard.reporters.console import render_text

if TYPE_CHECKING:
    from rich.table import Table


def render_needed(by_source: Mapping[str, Sequence[str]], as_json: bool, color: bool) -> str:
    """Every permission once, sorted, then the permissions of each data source."""
    needed = sorted({permission for names in by_source.values() for permission in names})
    if as_json:
        rows = {source: list(names) for source, names in by_source.items()}
        return json.dumps({"permissions": needed, "by_source": rows}, indent=2) + "\n"
    title = f"maa-guard needs {len(needed)} Microsoft Graph application permissions (read-only):"
    return render_text([title, *(f"  {name}" for name in needed), _table(by_source)], color, 120)


def render_missing(missing: Mapping[str, Sequence[str]], as_json: bool, color: bool) -> str:
    """The permissions the token lacks, by the data source that needs them."""
    if as_json:
        rows = {source: list(names) for source, names in missing.items()}
        return json.dumps({"missing_by_source": rows}, indent=2) + "\n"
    if not missing:
        return render_text(["the token holds every permission maa-guard needs"], color, 120)
    lacking = sorted({permission for names in missing.values() for permission in names})
    title = f"the token lacks {len(lacking)} permission(s): {', '.join(lacking)}"
    return render_text([title, _table(missing)], color, 120)


def _table(by_source: Mapping[str, Sequence[str]]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("Data source", no_wrap=True)
    table.add_column("Permissions", overflow="fold")
    for source, names in by_source.items():
        table.add_row(source, ", ".join(names))
    return table
