"""Collection progress: a rich display per data source on a terminal, plain lines elsewhere.

``progress_display(stream, environ, quiet)`` is a context manager yielding the collector's
``progress(source, status, count)`` callback (or ``None`` with ``quiet``):

- a terminal (``stream.isatty()``) outside CI (``CI`` unset or empty): a rich progress
  display, one row per data source, pending until it reports, then its state and item count;
- otherwise (a pipe, a file, CI logs): one plain line per source as it finishes (none for
  the demo: ``plain=False``).

A status reason can carry tenant or server text (Graph error messages, object ids): it is
made inert (control characters shown, one line) and never read as rich markup. rich is
imported only when the display is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

from maa_guard.model import SourceState
from maa_guard.reporters.text import one_line
from maa_guard.snapshot import SOURCES, SourceStatus

if TYPE_CHECKING:
    from rich.console import Console

Progress = Callable[[str, SourceStatus, int], None]
PENDING = "collecting"
_STYLES = {
    SourceState.COMPLETE: "green",
    SourceState.PARTIAL: "yellow",
    SourceState.FAILED: "red",
    SourceState.DECLARED: "cyan",
}


def wants_rich(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """A live display only on a terminal, and never in CI (its logs are not terminals)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not environ.get("CI")


@contextmanager
def progress_display(
    stream: TextIO, environ: Mapping[str, str], quiet: bool = False, plain: bool = True
) -> Iterator[Progress | None]:
    """The progress callback for one collection: rich, plain or none (``quiet``; and where
    the display would be plain when ``plain`` is False)."""
    if quiet:
        yield None
    elif wants_rich(stream, environ):
        from rich.console import Console

        with rich_progress(Console(file=stream)) as report:
            yield report
    else:
        yield plain_progress(stream) if plain else None


def summary(status: SourceStatus, count: int) -> str:
    """``complete, 7 item(s)``; a reason follows in parentheses, on one inert line."""
    detail = f" ({one_line(status.reason)})" if status.reason else ""
    return f"{status.state.value}, {count} item(s){detail}"


def plain_progress(stream: TextIO) -> Progress:
    """One line per source as it finishes: ``collected groups: complete, 6 item(s)``."""

    def report(source: str, status: SourceStatus, count: int) -> None:
        stream.write(f"collected {one_line(source)}: {summary(status, count)}\n")
        stream.flush()

    return report


@contextmanager
def rich_progress(console: Console, sources: tuple[str, ...] = SOURCES) -> Iterator[Progress]:
    """A rich display with a row per source; the rows stay on screen when it stops."""
    from rich.markup import escape
    from rich.progress import Progress as RichProgress
    from rich.progress import SpinnerColumn, TextColumn
    from rich.table import Column

    # Names whole; a long reason (where the exclusions came from, an error) folds onto more lines.
    names = Column(no_wrap=True, min_width=max(map(len, sources), default=0))
    display = RichProgress(
        SpinnerColumn(finished_text=" "),
        TextColumn("{task.description}", table_column=names),
        TextColumn("{task.fields[detail]}", table_column=Column(overflow="fold")),
        console=console,
    )
    tasks = {name: display.add_task(escape(name), total=1, detail=PENDING) for name in sources}

    def report(source: str, status: SourceStatus, count: int) -> None:
        task = tasks.get(source)
        if task is None:
            task = tasks[source] = display.add_task(escape(source), total=1, detail=PENDING)
        style = _STYLES[status.state]
        detail = f"[{style}]{escape(summary(status, count))}[/{style}]"
        display.update(task, completed=1, detail=detail)

    with display:
        yield report
