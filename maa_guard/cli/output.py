"""The one way a command writes its report to standard output.

A step's output is a CI log, and Azure Pipelines and GitHub Actions act on commands in it, so
the report's lines pass through ``reporters.cilog`` first: whole lines, after any wrapping,
in the format's own escaping. Files named with ``-o`` / ``--output`` are written elsewhere and
keep the exact report; when only files are asked, standard output stays empty and standard
error names each file written. A closed pipe (``maa-guard ... | head``) ends the writing
quietly: the command's result, not the reader, decides the exit code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maa_guard.cli.options import OutputFile


def write_stdout(report: str | Iterable[str], output_format: str) -> None:
    """Write ``report`` (text or chunks of it) in ``output_format`` (``table``, ``json``, ...),
    line by line as the chunks complete lines, ending with a newline."""
    from maa_guard.reporters.cilog import neutraliser

    neutral = neutraliser(output_format)
    chunks = (report,) if isinstance(report, str) else report
    pending = ""
    try:
        for chunk in chunks:
            pending += chunk
            cut = pending.rfind("\n") + 1
            if cut:
                sys.stdout.write(neutral(pending[:cut]))
                pending = pending[cut:]
        if pending:
            sys.stdout.write(neutral(pending) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()


# (format, for the terminal) -> the report; for the terminal: colour and width of the terminal.
Render = Callable[[str, bool], str]


def deliver(render: Render, stdout_format: str | None, files: Sequence[OutputFile]) -> None:
    """Every ``-o`` file first (all or none, plain), then standard output in
    ``stdout_format``, or, without one, the names of the files written."""
    from maa_guard.storage.files import write_all_atomically

    write_all_atomically([(file.path, (render(file.format, False),)) for file in files])
    if stdout_format is None:
        say_written(file.path for file in files)
    else:
        write_stdout(render(stdout_format, True), stdout_format)


def say_written(paths: Iterable[Path]) -> None:
    """``wrote PATH`` on standard error for each file: what a command says when only files
    were asked and standard output stays empty."""
    for path in paths:
        print(f"wrote {path}", file=sys.stderr)


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
