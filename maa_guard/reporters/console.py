"""The one way reports are drawn with rich: into a string, never straight to a terminal.

A report is text first (it may be written to a file, piped or compared with a golden file), so
the console writes to a buffer, with colour only when asked, no emoji or highlighting that
would change tenant text, and trailing spaces trimmed from every line.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console, RenderableType


def text_console(color: bool, width: int) -> Console:
    from rich.console import Console

    return Console(
        file=io.StringIO(),
        force_terminal=color,
        force_interactive=False,
        color_system="standard" if color else None,
        width=width,
        height=25,
        no_color=not color,
        legacy_windows=False,
        emoji=False,
        highlight=False,
    )


def console_text(console: Console) -> str:
    """What was printed, each line without trailing spaces, ending with one newline."""
    buffer = console.file
    assert isinstance(buffer, io.StringIO)
    lines = buffer.getvalue().rstrip("\n").split("\n")
    return "".join(line.rstrip() + "\n" for line in lines)


def render_text(renderables: Iterable[RenderableType | str], color: bool, width: int) -> str:
    """Print each renderable in turn (a string is rich markup) and return the text.

    Nothing is cropped: a line longer than ``width`` (an identifier a block keeps whole) stays
    whole for the terminal to wrap."""
    console = text_console(color, width)
    for renderable in renderables:
        console.print(renderable, crop=False)
    return console_text(console)
