"""Reporters: pure functions from a ScanResult to text, one module per output format.

Stage 5: imports ``evaluate``, ``gate``, ``snapshot``, ``catalogue``, ``config``, ``exclusions``
and ``workloads``; never ``collect``, ``scan`` or ``cli``.

Modules are imported on first use so that ``maa-guard --help`` stays fast (jinja2 and rich
load only when a format needs them).
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from maa_guard.evaluate.engine import ScanResult


class OutputFormat(str, enum.Enum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    HTML = "html"
    MARKDOWN = "markdown"
    CSV = "csv"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Presentation only; never changes what a report says."""

    color: bool = False
    width: int = 120
    show_suppressed: bool = False
    # The terminal table's row limit (a terminal shows the first rows and says how many more);
    # None: every row, as in a file or a pipe.
    max_rows: int | None = None


Renderer = Callable[[ScanResult, RenderOptions], str]

REPORTER_MODULES: dict[OutputFormat, str] = {
    OutputFormat.TABLE: "maa_guard.reporters.table",
    OutputFormat.JSON: "maa_guard.reporters.json_report",
    OutputFormat.SARIF: "maa_guard.reporters.sarif",
    OutputFormat.JUNIT: "maa_guard.reporters.junit",
    OutputFormat.HTML: "maa_guard.reporters.html",
    OutputFormat.MARKDOWN: "maa_guard.reporters.markdown",
    OutputFormat.CSV: "maa_guard.reporters.csv_report",
}


def reporter_for(output_format: OutputFormat) -> Renderer:
    module = importlib.import_module(REPORTER_MODULES[output_format])
    render: Renderer = module.render
    return render


def render(
    result: ScanResult, output_format: OutputFormat, options: RenderOptions | None = None
) -> str:
    return reporter_for(output_format)(result, options or RenderOptions())


def render_chunks(
    result: ScanResult, output_format: OutputFormat, options: RenderOptions | None = None
) -> Iterator[str]:
    """The report in pieces, for formats that can be written without holding it whole."""
    module = importlib.import_module(REPORTER_MODULES[output_format])
    chunked: Callable[[ScanResult, RenderOptions], Iterator[str]] | None = getattr(
        module, "render_chunks", None
    )
    if chunked is not None:
        return chunked(result, options or RenderOptions())
    return iter((reporter_for(output_format)(result, options or RenderOptions()),))
