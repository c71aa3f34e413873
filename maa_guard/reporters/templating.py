"""The one Jinja2 setup for HTML pages: autoescape on, every string made inert, strict names.

Tenant data is hostile: autoescape stops markup, ``inert`` shows control and bidi characters
as escapes, and StrictUndefined makes a misspelt name in a template an error, not a blank.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from maa_guard.reporters.text import inert

if TYPE_CHECKING:
    import jinja2


@cache
def html_environment(package: str, folder: str = "templates") -> jinja2.Environment:
    """The environment for the templates in ``package``'s ``folder`` (loaded on first use)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, folder),
        autoescape=True,
        finalize=_inert_strings,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _inert_strings(value: Any) -> Any:
    return inert(value) if isinstance(value, str) else value
