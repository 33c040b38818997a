"""The geometry of the reports' charts, drawn as SVG by the templates (ADR 0057).

A chart is computed here as numbers (coordinates, widths, the text beside each mark)
and drawn by the template with presentation attributes and classes: no script, no
library, nothing that the page's policy would refuse, and the same picture on paper.
Every rate is a percent from 0 to 100, or None when nothing was counted (drawn as a gap,
never as a zero, which would read as a failure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

#: The chart's inner box, in the SVG's own units (it scales to its container).
LINE_WIDTH, LINE_HEIGHT = 720, 220
LINE_LEFT, LINE_RIGHT, LINE_BOTTOM, LINE_TOP = 56, 48, 36, 24
#: A bar chart's row: the group's name and figures on a line of their own (long unit
#: names stay whole), then a bar per rate; 100 % fills BAR_WIDTH.
BAR_HEAD, BAR_WIDTH, BAR_ROW, BAR_GAP, BAR_VALUE = 26, 560, 22, 14, 80


@dataclass(frozen=True)
class Mark:
    """One point of a line: where it is drawn and the value written beside it."""

    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Line:
    """One rate over the periods: its class (its colour) and its marks; the polyline
    joins the marks of consecutive periods that have a value."""

    name: str
    marks: list[Mark | None]

    @property
    def segments(self) -> list[str]:
        out: list[str] = []
        run: list[str] = []
        for mark in [*self.marks, None]:
            if mark is None:
                if len(run) > 1:
                    out.append(" ".join(run))
                run = []
            else:
                run.append(f"{mark.x:.1f},{mark.y:.1f}")
        return out


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    top: int
    bottom: float
    #: (y, label) of the horizontal grid lines at 0, 25, 50, 75 and 100 %.
    grid: list[tuple[float, str]]
    #: (x, label) of each period under the axis.
    ticks: list[tuple[float, str]]
    lines: list[Line]


def percent_text(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def line_chart(labels: Sequence[str], series: Mapping[str, Sequence[Decimal | None]]) -> LineChart:
    """Rates over consecutive periods: one line per series, a tick per period."""
    inner_w = LINE_WIDTH - LINE_LEFT - LINE_RIGHT
    inner_h = LINE_HEIGHT - LINE_TOP - LINE_BOTTOM
    bottom = LINE_TOP + inner_h
    step = inner_w / max(len(labels) - 1, 1)

    def x(i: int) -> float:
        return LINE_LEFT + (i * step if len(labels) > 1 else inner_w / 2)

    def y(value: Decimal) -> float:
        return bottom - float(value) / 100 * inner_h

    lines = [
        Line(
            name,
            [
                None if v is None else Mark(x(i), y(v), percent_text(v))
                for i, v in enumerate(values)
            ],
        )
        for name, values in series.items()
    ]
    grid = [(y(Decimal(p)), f"{p}%") for p in (0, 25, 50, 75, 100)]
    ticks = [(x(i), label) for i, label in enumerate(labels)]
    return LineChart(LINE_WIDTH, LINE_HEIGHT, LINE_LEFT, LINE_TOP, bottom, grid, ticks, lines)


@dataclass(frozen=True)
class Bar:
    name: str
    y: float
    width: float
    text: str


@dataclass(frozen=True)
class BarRow:
    """One group (a theme, a level, a child unit): its label, link and bars."""

    key: str
    label: str
    href: str | None
    y: float
    bars: list[Bar]
    note: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: float
    bar_width: int
    rows: list[BarRow]


@dataclass(frozen=True)
class Group:
    """What a bar chart is given for one group."""

    key: str
    label: str
    rates: dict[str, Decimal | None]
    note: str
    href: str | None = None


def bar_chart(groups: Sequence[Group]) -> BarChart:
    """Each group's rates as horizontal bars side by side, 100 % at full width."""
    rows: list[BarRow] = []
    y = 0.0
    for group in groups:
        bars = []
        for i, (name, value) in enumerate(group.rates.items()):
            width = 0.0 if value is None else float(value) / 100 * BAR_WIDTH
            bars.append(Bar(name, y + BAR_HEAD + i * BAR_ROW, width, percent_text(value)))
        rows.append(BarRow(group.key, group.label, group.href, y, bars, group.note))
        y += BAR_HEAD + len(group.rates) * BAR_ROW + BAR_GAP
    return BarChart(BAR_WIDTH + BAR_VALUE, max(y, BAR_ROW), BAR_WIDTH, rows)
