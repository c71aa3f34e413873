"""The impact report's output formats, one renderer module each, imported on first use."""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from maa_guard.impact.model import ImpactReport


class ImpactFormat(str, enum.Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    HTML = "html"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class ImpactRenderOptions:
    """Presentation only; never changes what the report says."""

    color: bool = False
    width: int = 120
    # The terminal table's row limit (a terminal shows the first rows and says how many more);
    # None: every row, as in a file or a pipe.
    max_rows: int | None = None


Renderer = Callable[[ImpactReport, ImpactRenderOptions], Iterator[str]]

RENDERER_MODULES: dict[ImpactFormat, str] = {
    ImpactFormat.TABLE: "maa_guard.impact.render_table",
    ImpactFormat.JSON: "maa_guard.impact.render_json",
    ImpactFormat.CSV: "maa_guard.impact.render_csv",
    ImpactFormat.HTML: "maa_guard.impact.render_html",
}


def renderer_for(output_format: ImpactFormat) -> Renderer:
    module = importlib.import_module(RENDERER_MODULES[output_format])
    chunks: Renderer = module.render_chunks
    return chunks


def render_chunks(
    report: ImpactReport, output_format: ImpactFormat, options: ImpactRenderOptions | None = None
) -> Iterator[str]:
    return renderer_for(output_format)(report, options or ImpactRenderOptions())


def render(
    report: ImpactReport, output_format: ImpactFormat, options: ImpactRenderOptions | None = None
) -> str:
    return "".join(render_chunks(report, output_format, options))
