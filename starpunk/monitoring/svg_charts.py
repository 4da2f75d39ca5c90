"""Line charts as inline SVG, drawn on the server: no script needed to read them.

A bucket without a value breaks the line, so a gap in traffic shows as a
gap. Each line also carries its raw values in a ``data-values`` attribute
for the optional hover read-out in ``metrics.js``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape

from starpunk.monitoring.formatting import format_axis, format_value

WIDTH = 640
HEIGHT = 200
MARGIN_LEFT = 64
MARGIN_RIGHT = 12
MARGIN_TOP = 12
MARGIN_BOTTOM = 24
MAX_X_TICKS = 6
TICK_STEPS = (
    60,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
    14 * 86400,
    30 * 86400,
)


@dataclass
class Line:
    """One line of a chart: a label, a colour class and a value per bucket."""

    label: str
    values: dict[int, float]
    tone: str = "s0"


@dataclass(frozen=True)
class Frame:
    """The time axis: buckets from ``start`` (inclusive) to ``end``, ``step`` apart."""

    start: int
    end: int
    step: int
    width: int = WIDTH

    @property
    def count(self) -> int:
        """Number of buckets."""
        return max(1, (self.end - self.start) // self.step)

    def x(self, bucket: int) -> float:
        """Horizontal position of a bucket."""
        plot = self.width - MARGIN_LEFT - MARGIN_RIGHT
        if self.count == 1:
            return MARGIN_LEFT + plot / 2
        return MARGIN_LEFT + (bucket - self.start) / self.step * plot / (self.count - 1)


def line_chart(lines: list[Line], frame: Frame, unit: str, title: str) -> Markup:
    """Return an accessible SVG line chart (an empty-state frame if no data)."""
    present = [line for line in lines if line.values]
    attributes = (
        f'class="chart" viewBox="0 0 {frame.width} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" data-start="{frame.start}" '
        f'data-step="{frame.step}" data-count="{frame.count}" '
        f'data-unit="{escape(unit)}"'
    )
    if not present:
        return Markup(
            f'<svg {attributes} data-empty="1"><title>{escape(title)}</title>'
            f"{_x_axis(frame)}"
            f'<text class="empty" x="{frame.width / 2}" y="{HEIGHT / 2}" '
            'text-anchor="middle">No data in this range</text></svg>'
        )
    top = nice_ceiling(max(max(line.values.values()) for line in present))
    parts = [f"<svg {attributes}><title>{escape(title)}</title>"]
    parts.append(_y_axis(top, unit, frame.width))
    parts.append(_x_axis(frame))
    for line in present:
        parts.append(_path(line, frame, top))
    parts.append(
        f'<line class="rule" x1="0" x2="0" y1="{MARGIN_TOP}" '
        f'y2="{HEIGHT - MARGIN_BOTTOM}" visibility="hidden"/></svg>'
    )
    return Markup("".join(parts))


def legend(lines: list[Line], unit: str) -> Markup:
    """Legend entries with each line's latest value."""
    items = []
    for line in lines:
        latest = line.values[max(line.values)] if line.values else None
        items.append(
            f'<li><span class="swatch {escape(line.tone)}"></span>'
            f"{escape(line.label)} <b>{escape(format_value(latest, unit))}</b></li>"
        )
    return Markup(f'<ul class="legend">{"".join(items)}</ul>')


def nice_ceiling(value: float) -> float:
    """Round up to 1, 2, 2.5 or 5 times a power of ten (1 for zero)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * power * (1 + 1e-9):
            return factor * power
    return 10 * power


def tick_count(top: float) -> int:
    """Intervals for a ``nice_ceiling`` top so that every tick is round.

    A top of 2, 4 or 8 times a power of ten splits in four; 1, 2.5 and 5
    split in five (0.2, 0.5 and 1 apart).
    """
    if top <= 0 or not math.isfinite(top):
        return 4
    factor = round(top / 10 ** math.floor(math.log10(top)), 6)
    return 4 if factor in (2, 4, 8) else 5


def _y(value: float, top: float) -> float:
    plot = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    return MARGIN_TOP + plot - value / top * plot


def _path(line: Line, frame: Frame, top: float) -> str:
    commands = []
    dots = []
    values = []
    previous_present = False
    for index in range(frame.count):
        bucket = frame.start + index * frame.step
        value = line.values.get(bucket)
        if value is None:
            values.append("")
            previous_present = False
            continue
        values.append(f"{value:.6g}")
        x, y = frame.x(bucket), _y(value, top)
        commands.append(f"{'L' if previous_present else 'M'}{x:.1f},{y:.1f}")
        next_value = line.values.get(bucket + frame.step)
        if not previous_present and next_value is None:
            # A point with no neighbours would be invisible as a path.
            dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2"/>')
        previous_present = True
    return (
        f'<g class="line {escape(line.tone)}" data-label="{escape(line.label)}" '
        f'data-values="{",".join(values)}" data-points="{len(line.values)}">'
        f'<path d="{" ".join(commands)}"/>{"".join(dots)}</g>'
    )


def _y_axis(top: float, unit: str, width: int) -> str:
    parts = ['<g class="axis y">']
    ticks = tick_count(top)
    for tick in range(ticks + 1):
        value = top * tick / ticks
        y = _y(value, top)
        parts.append(
            f'<line class="gridline" x1="{MARGIN_LEFT}" x2="{width - MARGIN_RIGHT}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(format_axis(value, unit))}</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def _x_axis(frame: Frame) -> str:
    span = frame.end - frame.start
    step = next((s for s in TICK_STEPS if span / s <= MAX_X_TICKS), TICK_STEPS[-1])
    label = "%H:%M" if step < 86400 and span <= 2 * 86400 else "%b %d"
    if step < 86400 and span > 2 * 86400:
        label = "%b %d %H:%M"
    first = -(-frame.start // step) * step
    last_bucket = frame.start + (frame.count - 1) * frame.step
    parts = ['<g class="axis x">']
    y = HEIGHT - MARGIN_BOTTOM
    for tick in range(first, last_bucket + 1, step):
        x = frame.x(tick)
        text = datetime.fromtimestamp(tick, UTC).strftime(label)
        parts.append(
            f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 4}"/>'
            f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{text}</text>'
        )
    parts.append("</g>")
    return "".join(parts)
