"""The HTML page's chart, laid out here: a stacked bar per app, a segment per policy type.

Every coordinate is computed server-side; the template only writes ``rect`` and ``text``
elements, so the page needs no script.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from maa_guard.impact.evidence import OTHER
from maa_guard.impact.model import ImpactRow

LIMIT = 30
LABEL_WIDTH, BAR_MAX_WIDTH, BAR_HEIGHT, BAR_GAP, COUNT_WIDTH = 220, 480, 18, 6, 60
LABEL_CHARACTERS = 30
COLOURS = {
    "app": "#2563eb",
    "script": "#7c3aed",
    "role": "#db2777",
    "deviceWipe": "#dc2626",
    "deviceRetire": "#ea580c",
    "deviceDelete": "#b45309",
    "compliancePolicy": "#059669",
    "configurationPolicy": "#0891b2",
    "tenantConfiguration": "#4f46e5",
    OTHER: "#9ca3af",
}
FALLBACK_COLOUR = "#6b7280"


@dataclass(frozen=True, slots=True)
class Segment:
    x: int
    width: int
    colour: str
    policy_type: str
    writes: int


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    title: str
    y: int
    total: int
    segments: tuple[Segment, ...]

    @property
    def end(self) -> int:
        return LABEL_WIDTH + sum(segment.width for segment in self.segments)


@dataclass(frozen=True, slots=True)
class LegendItem:
    policy_type: str
    colour: str


@dataclass(frozen=True, slots=True)
class Chart:
    bars: tuple[Bar, ...]
    legend: tuple[LegendItem, ...]
    writers: int
    width: int = LABEL_WIDTH + BAR_MAX_WIDTH + COUNT_WIDTH
    bar_height: int = BAR_HEIGHT

    @property
    def height(self) -> int:
        return len(self.bars) * (BAR_HEIGHT + BAR_GAP)


def writes_chart(rows: Iterable[ImpactRow], limit: int = LIMIT) -> Chart:
    """The ``limit`` apps with the most writes, most first; ``writers`` counts them all."""
    writers = sorted((r for r in rows if r.writes), key=lambda r: -r.writes)
    shown = writers[:limit]
    scale = BAR_MAX_WIDTH / max((r.writes for r in shown), default=1)
    bars = tuple(_bar(row, index, scale) for index, row in enumerate(shown))
    types = sorted({s.policy_type for bar in bars for s in bar.segments})
    legend = tuple(LegendItem(t, COLOURS.get(t, FALLBACK_COLOUR)) for t in types)
    return Chart(bars=bars, legend=legend, writers=len(writers))


def _bar(row: ImpactRow, index: int, scale: float) -> Bar:
    segments, x = [], LABEL_WIDTH
    for workload in row.workloads:
        width = max(1, round(workload.writes * scale))
        colour = COLOURS.get(workload.policy_type, FALLBACK_COLOUR)
        segments.append(Segment(x, width, colour, workload.policy_type, workload.writes))
        x += width
    parts = ", ".join(f"{w.policy_type} {w.writes}" for w in row.workloads)
    return Bar(
        label=_shorten(row.label),
        title=f"{row.label}: {parts}",
        y=index * (BAR_HEIGHT + BAR_GAP),
        total=row.writes,
        segments=tuple(segments),
    )


def _shorten(text: str) -> str:
    return text if len(text) <= LABEL_CHARACTERS else text[: LABEL_CHARACTERS - 1] + "…"
